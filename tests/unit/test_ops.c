/* test_ops.c: kernels of the forward pass against scalar double references: RMSNorm, soft-cap,
 * gelu_tanh, RoPE, softmax, and y = x W^T on both paths and all weight dtypes, including the
 * bit-identity of a row's result across batch splits. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/matmul.h"
#include "../../src/ops.h"
#include "../../src/rng.h"
#include "../../src/tensor.h"
#include "../common/check.h"

static void test_rmsnorm(void **state)
{
    (void)state;
    enum { R = 5, D = 300 };
    float x[R * D], w1[D], y[R * D];
    double e[R * D];
    check_fill_normal(x, R * D, 1, 3.0);
    check_fill_normal(w1, D, 2, 0.2);
    for (int i = 0; i < D; i++)
        w1[i] += 1.0f;
    for (int r = 0; r < R; r++) {
        double ss = 0;
        for (int i = 0; i < D; i++)
            ss += (double)x[r * D + i] * x[r * D + i];
        double inv = 1.0 / sqrt(ss / D + 1e-6);
        for (int i = 0; i < D; i++)
            e[r * D + i] = x[r * D + i] * inv * w1[i];
    }
    ops_rmsnorm(y, x, w1, R, D, 1e-6f, 2);
    assert_all_close(y, e, R * D, 1e-6, 1e-7);
    ops_rmsnorm(x, x, w1, R, D, 1e-6f, 1); /* in place gives the same bits */
    assert_memory_equal(x, y, sizeof y);
}

static void test_softcap_gelu(void **state)
{
    (void)state;
    enum { N = 1000 };
    float x[N], g[N], up[N];
    double e[N];
    check_fill_normal(x, N, 3, 60.0);
    memcpy(g, x, sizeof x);
    for (int i = 0; i < N; i++)
        e[i] = 50.0 * tanh(x[i] / 50.0);
    ops_softcap(g, N, 50.0f);
    assert_all_close(g, e, N, 2e-6, 1e-6);
    float bad[3] = {1.0f, NAN, -2.0f}; /* NaN propagates, as in the reference */
    ops_softcap(bad, 3, 30.0f);
    assert_true(isnan(bad[1]) && !isnan(bad[0]) && !isnan(bad[2]));
    float bad2[20] = {0};
    bad2[17] = NAN;
    ops_softmax(bad2, 20);
    assert_true(isnan(bad2[0]) && isnan(bad2[17]));
    memcpy(g, x, sizeof x);
    ops_softcap(g, N, 0.0f); /* disabled */
    assert_memory_equal(g, x, sizeof x);

    check_fill_normal(x, N, 4, 3.0);
    check_fill_normal(up, N, 5, 1.0);
    memcpy(g, x, sizeof x);
    for (int i = 0; i < N; i++) {
        double v = x[i];
        e[i] = 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v))) * up[i];
    }
    ops_gelu_mul(g, up, 4, N / 4, 2);
    assert_all_close(g, e, N, 1e-5, 1e-6);
}

static void test_rope(void **state)
{
    (void)state;
    enum { R = 7, H = 3, DH = 16, LD = H * DH + 5 };
    float x[R * LD], orig[R * LD];
    double e[R * LD];
    check_fill_normal(x, R * LD, 6, 1.0);
    memcpy(orig, x, sizeof x);
    int64_t pos0 = 1000;
    for (int r = 0; r < R; r++)
        for (int i = 0; i < LD; i++)
            e[r * LD + i] = orig[r * LD + i]; /* the 5 padding columns stay untouched */
    for (int r = 0; r < R; r++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < DH / 2; i++) {
                double ang = (double)(pos0 + r) * pow(10000.0, -2.0 * i / DH);
                double a = orig[r * LD + h * DH + i], b = orig[r * LD + h * DH + i + DH / 2];
                e[r * LD + h * DH + i] = a * cos(ang) - b * sin(ang);
                e[r * LD + h * DH + i + DH / 2] = b * cos(ang) + a * sin(ang);
            }
    ops_rope(x, R, LD, H, DH, pos0, 10000.0f);
    /* The angle is formed in f32 as the reference does: at position ~1000 that is ~1e-4 rad
     * off the exact angle, hence the tolerance. */
    assert_all_close(x, e, R * LD, 1e-3, 5e-4);
    /* Position 0 is the identity. */
    memcpy(x, orig, sizeof x);
    ops_rope(x, 1, LD, H, DH, 0, 10000.0f);
    assert_memory_equal(x, orig, LD * sizeof(float));
}

static void test_softmax(void **state)
{
    (void)state;
    float x[6] = {1.0f, -INFINITY, 3.0f, 1000.0f, 999.0f, -INFINITY};
    ops_softmax(x, 6);
    double z = exp(1 - 1000.0) + exp(3 - 1000.0) + 1 + exp(-1.0);
    double e[6] = {exp(1 - 1000.0) / z, 0, exp(3 - 1000.0) / z, 1 / z, exp(-1.0) / z, 0};
    assert_all_close(x, e, 6, 1e-6, 1e-30);

    /* A length with a vector tail, against double. */
    float y[37];
    double ey[37], z2 = 0;
    check_fill_normal(y, 37, 11, 8.0);
    for (int i = 0; i < 37; i++)
        z2 += exp((double)y[i]);
    for (int i = 0; i < 37; i++)
        ey[i] = exp((double)y[i]) / z2;
    ops_softmax(y, 37);
    assert_all_close(y, ey, 37, 1e-6, 1e-12);
}

/* y = x W^T against a double reference, for each dtype and both paths; tile_floats 0 takes
 * the default. */
static void check_matmul_tiled(enum gsae_dtype dt, int64_t m, int64_t n, int64_t k,
                               int64_t tile_floats)
{
    float *x = malloc((size_t)(m * k) * sizeof *x), *wf = malloc((size_t)(n * k) * sizeof *wf);
    uint16_t *wh = malloc((size_t)(n * k) * sizeof *wh);
    float *y = malloc((size_t)(m * (n + 3)) * sizeof *y);
    double *e = malloc((size_t)(m * n) * sizeof *e);
    check_fill_normal(x, m * k, 7, 1.0);
    check_fill_normal(wf, n * k, 8, 0.1);
    for (int64_t i = 0; i < n * k && dt != GSAE_DTYPE_F32; i++) {
        wh[i] = dt == GSAE_DTYPE_BF16 ? gsae_f32_to_bf16(wf[i]) : gsae_f32_to_f16(wf[i]);
        wf[i] = dt == GSAE_DTYPE_BF16 ? gsae_bf16_to_f32(wh[i]) : gsae_f16_to_f32(wh[i]);
    }
    struct gsae_tensor w = {.data = dt == GSAE_DTYPE_F32 ? (void *)wf : (void *)wh,
                            .dtype = dt,
                            .n_dims = 2,
                            .shape = {n, k}};
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t i = 0; i < k; i++)
                s += (double)x[r * k + i] * wf[j * k + i];
            e[r * n + j] = s;
        }
    if (tile_floats == 0) tile_floats = matmul_tile_floats(k, n * k);
    float *tile = malloc((size_t)tile_floats * sizeof *tile);
    matmul_xwt(y, n + 3, x, m, k, &w, tile, tile_floats, 2);
    for (int64_t r = 0; r < m; r++) {
        double *er = e + r * n;
        for (int64_t j = 0; j < n; j++)
            if (!(fabs(y[r * (n + 3) + j] - er[j]) <= 1e-4 + 1e-4 * fabs(er[j])))
                fail_msg("dtype %s m %lld: y[%lld][%lld] = %.9g, expected %.9g",
                         gsae_dtype_name(dt), (long long)m, (long long)r, (long long)j,
                         (double)y[r * (n + 3) + j], er[j]);
    }
    free(x), free(wf), free(wh), free(y), free(e), free(tile);
}

static void check_matmul(enum gsae_dtype dt, int64_t m, int64_t n, int64_t k)
{
    check_matmul_tiled(dt, m, n, k, 0);
}

static void test_matmul_dtypes(void **state)
{
    (void)state;
    const enum gsae_dtype dts[] = {GSAE_DTYPE_F32, GSAE_DTYPE_BF16, GSAE_DTYPE_F16};
    for (int i = 0; i < 3; i++) {
        check_matmul(dts[i], 1, 37, 100); /* decode path, odd n, k tail */
        check_matmul(dts[i], 8, 64, 64);  /* largest decode batch */
        check_matmul(dts[i], 9, 50, 33);  /* smallest GEMM batch */
        check_matmul(dts[i], 40, 300, 257);
        check_matmul_tiled(dts[i], 20, 1001, 300, 140000); /* three tiles of 333-334 rows */
    }
}

/* A row's bits must not depend on which other rows share the call, on either path. */
static void check_split(enum gsae_dtype dt, int64_t m, int64_t m1, int64_t n, int64_t k)
{
    float *x = malloc((size_t)(m * k) * sizeof *x), *wf = malloc((size_t)(n * k) * sizeof *wf);
    uint16_t *wh = malloc((size_t)(n * k) * sizeof *wh);
    float *y_all = malloc((size_t)(m * n) * sizeof *y_all);
    float *y_split = malloc((size_t)(m * n) * sizeof *y_split);
    check_fill_normal(x, m * k, 9, 1.0);
    check_fill_normal(wf, n * k, 10, 0.1);
    for (int64_t i = 0; i < n * k; i++)
        wh[i] = gsae_f32_to_bf16(wf[i]);
    struct gsae_tensor w = {.data = dt == GSAE_DTYPE_F32 ? (void *)wf : (void *)wh,
                            .dtype = dt,
                            .n_dims = 2,
                            .shape = {n, k}};
    int64_t tile_floats = matmul_tile_floats(k, n * k);
    float *tile = malloc((size_t)tile_floats * sizeof *tile);
    matmul_xwt(y_all, n, x, m, k, &w, tile, tile_floats, 2);
    matmul_xwt(y_split, n, x, m1, k, &w, tile, tile_floats, 1);
    matmul_xwt(y_split + m1 * n, n, x + m1 * k, m - m1, k, &w, tile, tile_floats, 2);
    assert_memory_equal(y_all, y_split, (size_t)(m * n) * sizeof *y_all);
    free(x), free(wf), free(wh), free(y_all), free(y_split), free(tile);
}

static void test_matmul_split_bits(void **state)
{
    (void)state;
    check_split(GSAE_DTYPE_BF16, 200, 77, 513, 384); /* GEMM path: 200 vs 77 + 123 */
    check_split(GSAE_DTYPE_F32, 200, 120, 300, 256);
    /* Small weights, where OpenBLAS would pick shape-dependent small-matrix kernels. */
    check_split(GSAE_DTYPE_F32, 40, 17, 32, 64);
    check_split(GSAE_DTYPE_BF16, 63, 20, 64, 128);
    check_split(GSAE_DTYPE_BF16, 8, 3, 101, 200); /* decode path: 8 vs 3 + 5 */
    check_split(GSAE_DTYPE_F32, 7, 1, 64, 100);
    /* blocks of 4 weight rows up to 6 rows of x, of 3 for 7-8, single rows at the end */
    check_split(GSAE_DTYPE_BF16, 8, 1, 37, 100);
    check_split(GSAE_DTYPE_BF16, 8, 6, 38, 2309);
    check_split(GSAE_DTYPE_BF16, 7, 2, 41, 77);
    check_split(GSAE_DTYPE_F32, 6, 5, 43, 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm),       cmocka_unit_test(test_softcap_gelu),
        cmocka_unit_test(test_rope),          cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_matmul_dtypes), cmocka_unit_test(test_matmul_split_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
