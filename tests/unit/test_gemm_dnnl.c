/* test_gemm_dnnl.c: the bf16 matmuls through oneDNN against a double-precision reference on
 * the bf16-rounded inputs: packed projections from F32, BF16 and F16 weights (several row
 * counts through one packing, row strides), and the strided attention products with and
 * without a transposed right operand and a scale, also run concurrently from an OpenMP team on
 * per-thread streams. Also: repeat calls give identical bits, and products of several row and
 * column tiles give the same bits on 1 and 2 threads. */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/gemm_dnnl.h"
#include "../../src/rng.h"
#include "../common/check.h"

/* With f32 accumulation over k <= 1024 terms of exact bf16 x bf16 products, the result is
 * within a few k * 2^-24 of the exact sum relative to sum |a_i b_i|. */
#define TOL 1e-5

static float bf(float v)
{
    return gsae_bf16_to_f32(gsae_f32_to_bf16(v));
}

/* Max over outputs of |y - ref| / sum |terms|. */
static double check_xwt(const float *y, int64_t ldy, const float *x, const float *wf, int64_t m,
                        int64_t n, int64_t k)
{
    double worst = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int64_t l = 0; l < k; l++) {
                double t = (double)bf(x[i * k + l]) * (double)bf(wf[j * k + l]);
                s += t;
                mag += fabs(t);
            }
            double e = fabs(y[i * ldy + j] - s) / (mag > 0 ? mag : 1);
            worst = e > worst ? e : worst;
        }
    return worst;
}

static void run_dtype(enum gsae_dtype dt)
{
    const int64_t n = 96, k = 80, ldy = 100;
    float *wf = malloc((size_t)(n * k) * sizeof *wf), *x = malloc(64 * k * sizeof *x);
    float *y = malloc(64 * ldy * sizeof *y), *y2 = malloc(64 * ldy * sizeof *y2);
    void *wd = malloc((size_t)(n * k) * 4);
    check_fill_normal(wf, n * k, 1, 1.0);
    check_fill_normal(x, 64 * k, 2, 1.0);
    for (int64_t i = 0; i < n * k; i++) {
        if (dt == GSAE_DTYPE_BF16) ((uint16_t *)wd)[i] = gsae_f32_to_bf16(wf[i]);
        if (dt == GSAE_DTYPE_F16) ((uint16_t *)wd)[i] = gsae_f32_to_f16(wf[i]);
        if (dt == GSAE_DTYPE_F32) ((float *)wd)[i] = wf[i];
    }
    if (dt == GSAE_DTYPE_F16) /* the reference sees the f16 values the packing converts */
        for (int64_t i = 0; i < n * k; i++)
            wf[i] = gsae_f16_to_f32(((uint16_t *)wd)[i]);
    struct gsae_tensor w = {.data = wd, .dtype = dt, .n_dims = 2, .shape = {n, k}};
    struct gemm_dnnl *g = NULL;
    struct gsae_error err;
    assert_int_equal(gemm_dnnl_init(&g, 64, k, &err), GSAE_OK);
    assert_int_equal(gemm_dnnl_pack(g, &w, 64, &err), GSAE_OK);
    assert_int_equal(gemm_dnnl_pack(g, &w, 64, &err), GSAE_OK); /* packed once */
    assert_true(gemm_dnnl_packed_bytes(g) >= (size_t)(n * k * 2));
    const int64_t rows[] = {1, 5, 9, 33, 64};
    for (size_t t = 0; t < sizeof rows / sizeof rows[0]; t++) {
        int64_t m = rows[t];
        assert_int_equal(gemm_dnnl_xwt(g, y, ldy, x, m, k, &w, &err), GSAE_OK);
        double e = check_xwt(y, ldy, x, wf, m, n, k);
        print_message("dtype %s, %lld rows: max error %.2e of sum |terms|\n", gsae_dtype_name(dt),
                      (long long)m, e);
        assert_true(e < TOL);
        assert_int_equal(gemm_dnnl_xwt(g, y2, ldy, x, m, k, &w, &err), GSAE_OK);
        for (int64_t i = 0; i < m; i++)
            assert_memory_equal(y + i * ldy, y2 + i * ldy, (size_t)n * sizeof *y);
    }
    /* More rows than the scratch holds: a clear error, not an overrun. */
    assert_int_equal(gemm_dnnl_xwt(g, y, ldy, x, 65, k, &w, &err), GSAE_ERANGE);
    gemm_dnnl_free(&g);
    assert_null(g);
    gemm_dnnl_free(&g);
    free(wf), free(x), free(y), free(y2), free(wd);
}

static void test_xwt_bf16(void **state)
{
    (void)state;
    run_dtype(GSAE_DTYPE_BF16);
}

static void test_xwt_f32(void **state)
{
    (void)state;
    run_dtype(GSAE_DTYPE_F32);
}

static void test_xwt_f16(void **state)
{
    (void)state;
    run_dtype(GSAE_DTYPE_F16);
}

/* c = alpha * a b (or a b^T) with row strides, against double. */
static void test_strided(void **state)
{
    (void)state;
    const int64_t m = 20, n = 24, k = 16, lda = 40, ldb = 50, ldc = 30;
    uint16_t *a = calloc((size_t)(m * lda), 2), *b = calloc((size_t)(n * ldb + k * ldb), 2);
    float *c = calloc((size_t)(m * ldc), sizeof *c), *tmp = malloc(4096 * sizeof *tmp);
    check_fill_normal(tmp, 4096, 3, 1.0);
    for (int64_t i = 0; i < m * lda; i++)
        a[i] = gsae_f32_to_bf16(tmp[i % 4096]);
    for (int64_t i = 0; i < n * ldb + k * ldb; i++)
        b[i] = gsae_f32_to_bf16(tmp[(i * 7 + 11) % 4096]);
    struct gemm_dnnl *g = NULL;
    struct gsae_error err;
    assert_int_equal(gemm_dnnl_init(&g, 1, 1, &err), GSAE_OK);
    for (int trans = 0; trans < 2; trans++) {
        float alpha = trans ? 0.25f : 1.0f;
        assert_int_equal(gemm_dnnl_bf16(g, c, ldc, a, lda, b, ldb, trans, m, n, k, alpha, &err),
                         GSAE_OK);
        double worst = 0;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0, mag = 0;
                for (int64_t l = 0; l < k; l++) {
                    uint16_t bv = trans ? b[j * ldb + l] : b[l * ldb + j];
                    double t = (double)gsae_bf16_to_f32(a[i * lda + l]) * gsae_bf16_to_f32(bv);
                    s += t;
                    mag += fabs(t);
                }
                double e = fabs(c[i * ldc + j] - alpha * s) / (mag > 0 ? mag : 1);
                worst = e > worst ? e : worst;
            }
        print_message("strided, b_trans %d: max error %.2e\n", trans, worst);
        assert_true(worst < TOL);
    }
    gemm_dnnl_free(&g);
    free(a), free(b), free(c), free(tmp);
}

/* Products of several tiles in rows and columns (partial last tiles, strided outputs): within
 * the reference's tolerance, and bit-identical on 1 and 2 OpenMP threads. */
static void test_tiles_threads(void **state)
{
    (void)state;
    const int64_t m = 150, n = 600, k = 80, ldy = 610;
    float *wf = malloc((size_t)(n * k) * sizeof *wf), *x = malloc((size_t)(m * k) * sizeof *x);
    float *y1 = calloc((size_t)(m * ldy), sizeof *y1), *y2 = calloc((size_t)(m * ldy), sizeof *y2);
    uint16_t *wb = malloc((size_t)(n * k) * 2), *xb = malloc((size_t)(m * k) * 2);
    check_fill_normal(wf, n * k, 5, 1.0);
    check_fill_normal(x, m * k, 6, 1.0);
    for (int64_t i = 0; i < n * k; i++)
        wb[i] = gsae_f32_to_bf16(wf[i]);
    for (int64_t i = 0; i < m * k; i++)
        xb[i] = gsae_f32_to_bf16(x[i]);
    struct gsae_tensor w = {.data = wb, .dtype = GSAE_DTYPE_BF16, .n_dims = 2, .shape = {n, k}};
    struct gemm_dnnl *g = NULL;
    struct gsae_error err;
    int saved = omp_get_max_threads();
    omp_set_num_threads(2);
    assert_int_equal(gemm_dnnl_init(&g, m, k, &err), GSAE_OK);
    assert_int_equal(gemm_dnnl_pack(g, &w, m, &err), GSAE_OK);
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        float *y = threads == 1 ? y1 : y2;
        assert_int_equal(gemm_dnnl_xwt(g, y, ldy, x, m, k, &w, &err), GSAE_OK);
    }
    double e = check_xwt(y1, ldy, x, wf, m, n, k);
    print_message("tiles: max error %.2e of sum |terms|\n", e);
    assert_true(e < TOL);
    assert_memory_equal(y1, y2, (size_t)(m * ldy) * sizeof *y1);
    /* the strided product, b = W^T stored as (n, k): the same values */
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        float *y = threads == 1 ? y1 : y2;
        assert_int_equal(gemm_dnnl_bf16(g, y, ldy, xb, k, wb, k, 1, m, n, k, 1.0f, &err), GSAE_OK);
    }
    assert_true(check_xwt(y1, ldy, x, wf, m, n, k) < TOL);
    assert_memory_equal(y1, y2, (size_t)(m * ldy) * sizeof *y1);
    gemm_dnnl_free(&g);
    free(wf), free(x), free(y1), free(y2), free(wb), free(xb);

    /* a 2B-model shape whose bits depended on the thread count under oneDNN's own threading */
    const int64_t M = 96, N = 2048, K = 2304;
    wb = malloc((size_t)(N * K) * 2);
    x = malloc((size_t)(M * K) * sizeof *x);
    y1 = malloc((size_t)(M * N) * sizeof *y1);
    y2 = malloc((size_t)(M * N) * sizeof *y2);
    wf = malloc((size_t)K * sizeof *wf);
    for (int64_t r = 0; r < N; r++) {
        check_fill_normal(wf, K, 100 + (uint64_t)r, 1.0);
        for (int64_t i = 0; i < K; i++)
            wb[r * K + i] = gsae_f32_to_bf16(wf[i]);
    }
    check_fill_normal(x, M * K, 7, 1.0);
    struct gsae_tensor w2 = {.data = wb, .dtype = GSAE_DTYPE_BF16, .n_dims = 2, .shape = {N, K}};
    for (int threads = 1; threads <= 2; threads++) { /* a context made on that many threads */
        omp_set_num_threads(threads);
        assert_int_equal(gemm_dnnl_init(&g, M, K, &err), GSAE_OK);
        assert_int_equal(gemm_dnnl_pack(g, &w2, M, &err), GSAE_OK);
        assert_int_equal(gemm_dnnl_xwt(g, threads == 1 ? y1 : y2, N, x, M, K, &w2, &err), GSAE_OK);
        gemm_dnnl_free(&g);
    }
    assert_memory_equal(y1, y2, (size_t)(M * N) * sizeof *y1);
    omp_set_num_threads(saved);
    free(wf), free(x), free(y1), free(y2), free(wb);
}

/* Prepared products run from two threads at once, each on its own operands: every result
 * matches the double reference. */
static void test_concurrent(void **state)
{
    (void)state;
    enum { M = 16, N = 32, K = 24, JOBS = 6 };
    uint16_t *a = malloc(JOBS * M * K * 2), *b = malloc(JOBS * N * K * 2);
    float *c = calloc(JOBS * M * N, sizeof *c), *tmp = malloc(JOBS * (M + N) * K * sizeof *tmp);
    check_fill_normal(tmp, JOBS * (M + N) * K, 6, 1.0);
    for (int i = 0; i < JOBS * M * K; i++)
        a[i] = gsae_f32_to_bf16(tmp[i]);
    for (int i = 0; i < JOBS * N * K; i++)
        b[i] = gsae_f32_to_bf16(tmp[JOBS * M * K + i]);
    struct gemm_dnnl *g = NULL;
    struct gsae_error err;
    assert_int_equal(gemm_dnnl_init(&g, 1, 1, &err), GSAE_OK);
    assert_int_equal(gemm_dnnl_bf16_prepare(g, K, K, 1, N, M, N, K, 0.5f, &err), GSAE_OK);
    int n_threads = gemm_dnnl_max_threads(g) < 2 ? gemm_dnnl_max_threads(g) : 2, bad = 0;
#pragma omp parallel for schedule(static) num_threads(n_threads) reduction(+ : bad)
    for (int j = 0; j < JOBS; j++) {
        struct gsae_error e2;
        bad += gemm_dnnl_bf16_on(g, omp_get_thread_num(), c + j * M * N, N, a + j * M * K, K,
                                 b + j * N * K, K, 1, M, N, K, 0.5f, &e2) != GSAE_OK;
    }
    assert_int_equal(bad, 0);
    double worst = 0;
    for (int j = 0; j < JOBS; j++)
        for (int i = 0; i < M; i++)
            for (int n = 0; n < N; n++) {
                double s = 0, mag = 0;
                for (int l = 0; l < K; l++) {
                    double t = (double)gsae_bf16_to_f32(a[(j * M + i) * K + l]) *
                               gsae_bf16_to_f32(b[(j * N + n) * K + l]);
                    s += t, mag += fabs(t);
                }
                double e = fabs(c[(j * M + i) * N + n] - 0.5 * s) / mag;
                worst = e > worst ? e : worst;
            }
    print_message("concurrent on %d threads: max error %.2e\n", n_threads, worst);
    assert_true(worst < TOL);
    gemm_dnnl_free(&g);
    free(a), free(b), free(c), free(tmp);
}

/* gemm_dnnl_round matches gsae_f32_to_bf16 (nearest even) on every lane and the tail. */
static void test_round(void **state)
{
    (void)state;
    float x[37];
    uint16_t got[37];
    check_fill_normal(x, 37, 4, 1.0);
    x[3] = 1.0f + 1.0f / 256.0f; /* a tie: rounds to even (1.0) */
    x[20] = -0.0f;
    gemm_dnnl_round(got, x, 37);
    for (int i = 0; i < 37; i++)
        assert_int_equal(got[i], gsae_f32_to_bf16(x[i]));
    assert_int_equal(got[3], 0x3f80);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xwt_bf16),      cmocka_unit_test(test_xwt_f32),
        cmocka_unit_test(test_xwt_f16),       cmocka_unit_test(test_strided),
        cmocka_unit_test(test_concurrent),    cmocka_unit_test(test_round),
        cmocka_unit_test(test_tiles_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
