/* test_stats.c: group contrast statistics (src/stats.c) on hand-computed cases.
 * With --dump DIR it also writes a seeded matrix and every statistic of it as .npy files, which
 * tests/pca/t_stats_numpy.sh checks against an independent numpy computation. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/npy.h"
#include "../../src/stats.h"

static void test_contrast_hand(void **state)
{
    (void)state;
    /* 4 rows x 3 features; A = rows 0, 1. Feature 0: A {1, 3}, B {0, 2}: diff 1, both
     * variances 2, pooled sd sqrt(2). Feature 1 constant: d = 0. Feature 2 constant per group
     * with different means: d = +inf. */
    const float x[12] = {1, 5, 7, 3, 5, 7, 0, 5, 4, 2, 5, 4};
    const uint8_t in_a[4] = {1, 1, 0, 0};
    double ma[3], mb[3], diff[3], d[3], g[3];
    struct stats_contrast out = {ma, mb, diff, d, g};
    struct gsae_error err = {0};
    assert_int_equal(stats_contrast(x, 4, 3, in_a, &out, &err), GSAE_OK);
    assert_true(ma[0] == 2.0 && mb[0] == 1.0 && diff[0] == 1.0);
    assert_true(fabs(d[0] - 1.0 / sqrt(2.0)) < 1e-15);
    assert_true(fabs(g[0] - d[0] * (1.0 - 3.0 / 7.0)) < 1e-15);
    assert_true(diff[1] == 0.0 && d[1] == 0.0 && g[1] == 0.0);
    assert_true(diff[2] == 3.0 && isinf(d[2]) && d[2] > 0);
    const uint8_t one_a[4] = {1, 0, 0, 0};
    assert_int_equal(stats_contrast(x, 4, 3, one_a, &out, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "groups of 1 and 3 rows"));
}

static void test_permutation(void **state)
{
    (void)state;
    /* 20 rows, 10 per group. Feature 0 separates the groups by far: no shuffle (bar the
     * identity or its mirror, probability 2 / C(20, 10)) reaches it, so p = 1 / (n_perm + 1).
     * Feature 1 is constant: p = 1. */
    enum { N = 20, F = 2, PERMS = 99 };
    float x[N * F];
    uint8_t in_a[N];
    for (int i = 0; i < N; i++) {
        in_a[i] = i % 2 == 0;
        x[i * F] = in_a[i] ? 100.0f + (float)i : (float)i;
        x[i * F + 1] = 1.5f;
    }
    double p1[F], p2[F];
    struct rng r1, r2;
    rng_seed(&r1, 5);
    rng_seed(&r2, 5);
    struct gsae_error err = {0};
    assert_int_equal(stats_permutation_p(x, N, F, in_a, PERMS, &r1, p1, &err), GSAE_OK);
    assert_int_equal(stats_permutation_p(x, N, F, in_a, PERMS, &r2, p2, &err), GSAE_OK);
    assert_memory_equal(p1, p2, sizeof p1);
    assert_true(p1[0] == 1.0 / (PERMS + 1));
    assert_true(p1[1] == 1.0);
    assert_int_equal(stats_permutation_p(x, N, F, in_a, 0, &r1, p1, &err), GSAE_EINVAL);
}

static void test_bh(void **state)
{
    (void)state;
    /* Sorted: 0.005 0.01 0.03 0.04 0.5 -> p m / rank: 0.025 0.025 0.05 0.05 0.5, already
     * monotone; back in input order: */
    const double p[5] = {0.01, 0.04, 0.03, 0.005, 0.5};
    const double want[5] = {0.025, 0.05, 0.05, 0.025, 0.5};
    double q[5];
    struct gsae_error err = {0};
    assert_int_equal(stats_bh_fdr(p, 5, q, &err), GSAE_OK);
    for (int i = 0; i < 5; i++)
        assert_true(fabs(q[i] - want[i]) < 1e-15);
    /* The running minimum from the top: 0.04 * 3 / 2 = 0.06 > 0.05 = 0.05 * 3 / 3. */
    const double p2[3] = {0.01, 0.04, 0.05};
    assert_int_equal(stats_bh_fdr(p2, 3, q, &err), GSAE_OK);
    assert_true(fabs(q[0] - 0.03) < 1e-15 && fabs(q[1] - 0.05) < 1e-15);
    assert_true(q[1] == q[2]); /* the running minimum carried down */
    const double bad[2] = {0.5, 1.5};
    assert_int_equal(stats_bh_fdr(bad, 2, q, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "p[1] = 1.5"));
}

static void test_top_abs_diff(void **state)
{
    (void)state;
    const float a[5] = {1, 5, 2, 2, -7}, b[5] = {0, 0, 4, 0, -7};
    int64_t idx[4];
    struct gsae_error err = {0};
    assert_int_equal(stats_top_abs_diff(a, b, 5, 4, idx, &err), GSAE_OK);
    assert_true(idx[0] == 1 && idx[1] == 2 && idx[2] == 3 && idx[3] == 0);
    assert_int_equal(stats_top_abs_diff(a, b, 5, 6, idx, &err), GSAE_EINVAL);
}

static int save(const char *dir, const char *name, const void *data, enum gsae_dtype t, int n_dims,
                int64_t n0, int64_t n1)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    struct gsae_tensor ten = {.data = data, .dtype = t, .n_dims = n_dims, .shape = {n0, n1}};
    struct gsae_error err = {0};
    if (npy_save(path, &ten, &err) != GSAE_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    return 0;
}

/* A seeded 30 x 12 matrix (feature 0 strongly separated, feature 1 constant, the rest noise
 * with small shifts), its labels and every statistic. */
static int dump(const char *dir)
{
    enum { N = 30, F = 12, PERMS = 999, K = 5 };
    static float x[N * F];
    uint8_t in_a[N];
    struct rng r;
    rng_seed(&r, 2024);
    for (int i = 0; i < N; i++) {
        in_a[i] = i < 13;
        for (int f = 0; f < F; f++) {
            double shift = f == 0 ? 10.0 : (in_a[i] ? 0.1 * f : 0.0);
            x[i * F + f] = f == 1 ? 2.0f : (float)(rng_normal(&r) + (in_a[i] ? shift : 0.0));
        }
    }
    double ma[F], mb[F], diff[F], d[F], g[F], p[F], q[F];
    int64_t top[K];
    struct stats_contrast out = {ma, mb, diff, d, g};
    struct gsae_error err = {0};
    rng_seed(&r, 7);
    if (stats_contrast(x, N, F, in_a, &out, &err) != GSAE_OK ||
        stats_permutation_p(x, N, F, in_a, PERMS, &r, p, &err) != GSAE_OK ||
        stats_bh_fdr(p, F, q, &err) != GSAE_OK ||
        stats_top_abs_diff(x, x + F, F, K, top, &err) != GSAE_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int64_t n_perm = PERMS;
    return save(dir, "x", x, GSAE_DTYPE_F32, 2, N, F) |
           save(dir, "in_a", in_a, GSAE_DTYPE_U8, 1, N, 0) |
           save(dir, "mean_a", ma, GSAE_DTYPE_F64, 1, F, 0) |
           save(dir, "mean_b", mb, GSAE_DTYPE_F64, 1, F, 0) |
           save(dir, "diff", diff, GSAE_DTYPE_F64, 1, F, 0) |
           save(dir, "cohens_d", d, GSAE_DTYPE_F64, 1, F, 0) |
           save(dir, "hedges_g", g, GSAE_DTYPE_F64, 1, F, 0) |
           save(dir, "p", p, GSAE_DTYPE_F64, 1, F, 0) | save(dir, "q", q, GSAE_DTYPE_F64, 1, F, 0) |
           save(dir, "top_rows01", top, GSAE_DTYPE_I64, 1, K, 0) |
           save(dir, "n_perm", &n_perm, GSAE_DTYPE_I64, 1, 1, 0);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) return dump(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contrast_hand),
        cmocka_unit_test(test_permutation),
        cmocka_unit_test(test_bh),
        cmocka_unit_test(test_top_abs_diff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
