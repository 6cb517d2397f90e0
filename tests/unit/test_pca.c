/* test_pca.c: serial PCA pieces (src/pca.c) and the distributed eigen-solve (mpi/dpca.c)
 * against serial LAPACK dsyevr. Runs alone or under mpirun -np N: the serial cmocka tests run
 * on rank 0, the eigen-solve comparison on every rank; every case prints its HPL-style scaled
 * residual ||A V - V L||_F / (eps ||A||_F n) with PASS/FAIL against 16. */
#include <float.h>
#include <math.h>
#include <mpi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../mpi/dpca.h"
#include "../../src/pca.h"
#include "../../src/rng.h"

#define RESIDUAL_MAX 16.0

/* Serial LAPACK (OpenBLAS ships it without the LAPACKE header): column-major, all by pointer,
 * hidden CHARACTER lengths last. */
void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
             const int *lda, const double *vl, const double *vu, const int *il, const int *iu,
             const double *abstol, int *m, double *w, double *z, const int *ldz, int *isuppz,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t range_len, size_t uplo_len);

/* Top k eigenvalues (ascending in wl) of the symmetric n x n a (destroyed) by dsyevr. */
static int lapack_top(int n, int k, double *a, double *wl, double *zl, int *m)
{
    int il = n - k + 1, iu = n, info = 0, lwork = -1, liwork = -1, iq = 0;
    double vl = 0, vu = 0, abstol = 0, wq = 0;
    int *isuppz = malloc((size_t)(2 * n) * sizeof *isuppz);
    dsyevr_("V", "I", "L", &n, a, &n, &vl, &vu, &il, &iu, &abstol, m, wl, zl, &n, isuppz, &wq,
            &lwork, &iq, &liwork, &info, 1, 1, 1);
    lwork = (int)wq;
    liwork = iq;
    double *work = malloc((size_t)lwork * sizeof *work);
    int *iwork = malloc((size_t)liwork * sizeof *iwork);
    dsyevr_("V", "I", "L", &n, a, &n, &vl, &vu, &il, &iu, &abstol, m, wl, zl, &n, isuppz, work,
            &lwork, iwork, &liwork, &info, 1, 1, 1);
    free(work), free(iwork), free(isuppz);
    return info;
}

static void test_sign_flip(void **state)
{
    (void)state;
    double v[6] = {0.1, -0.9, 0.3,  /* largest |.| negative: flipped */
                   0.5, -0.5, 0.2}; /* tie: the first (positive) wins: kept */
    pca_sign_flip(v, 2, 3);
    assert_true(v[0] == -0.1 && v[1] == 0.9 && v[2] == -0.3);
    assert_true(v[3] == 0.5 && v[4] == -0.5 && v[5] == 0.2);
}

static void test_project_center(void **state)
{
    (void)state;
    double x[6] = {1, 2, 3, 4, 5, 6}, mean[3] = {1, 1, 1}, comp[6] = {1, 0, 0, 0, 0.6, 0.8};
    double out[4];
    pca_center_rows(x, 2, 3, mean);
    pca_project(x, 2, 3, comp, 2, out);
    assert_true(out[0] == 0.0 && fabs(out[1] - (0.6 * 1 + 0.8 * 2)) < 1e-15);
    assert_true(out[2] == 3.0 && fabs(out[3] - (0.6 * 4 + 0.8 * 5)) < 1e-15);
}

static void test_recon_coef(void **state)
{
    (void)state;
    int64_t feats[3] = {7, 2, 40};
    int32_t idx[5] = {1, 2, 7, 2, 99};
    float val[5] = {5.0f, 0.5f, 1.0f, 0.25f, 3.0f};
    double coef[3];
    assert_true(pca_recon_coef(idx, val, 5, feats, 3, coef));
    assert_true(coef[0] == 1.0 && coef[1] == 0.75 && coef[2] == 0.0); /* duplicates add */
    int32_t other[2] = {1, 99};
    assert_false(pca_recon_coef(other, val, 2, feats, 3, coef));
    assert_false(pca_recon_coef(idx, val, 0, feats, 3, coef)); /* empty row */
    double w[6] = {1, 2, 3, 4, 5, 6}, c2[2] = {2.0, -1.0}, out[3];
    pca_recon_row(c2, w, 2, 3, out);
    assert_true(out[0] == -2.0 && out[1] == -1.0 && out[2] == 0.0);
}

static void test_draw_features(void **state)
{
    (void)state;
    struct rng r1, r2;
    rng_seed(&r1, 42);
    rng_seed(&r2, 42);
    int64_t a[8], b[8];
    struct gsae_error err = {0};
    assert_int_equal(pca_draw_features(&r1, 16384, 8, a, &err), GSAE_OK);
    assert_int_equal(pca_draw_features(&r2, 16384, 8, b, &err), GSAE_OK);
    assert_memory_equal(a, b, sizeof a);
    for (int i = 0; i < 8; i++)
        assert_true(a[i] >= 0 && a[i] < 16384 && (i == 0 || a[i] > a[i - 1]));
    int64_t all[5];
    assert_int_equal(pca_draw_features(&r1, 5, 5, all, &err), GSAE_OK);
    for (int i = 0; i < 5; i++)
        assert_true(all[i] == i);
    assert_int_equal(pca_draw_features(&r1, 5, 6, all, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "6 distinct ids from 5"));
}

/* A deterministic symmetric test matrix with a spread spectrum (and a repeated eigenvalue
 * when n is large enough), plus the share of it handed to rank `rank` of `size`. */
static void make_matrix(int64_t n, uint64_t seed, double *a)
{
    struct rng r;
    rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++)
            a[i * n + j] = a[j * n + i] = rng_normal(&r) + (i == j ? (double)(i % 7) * 3.0 : 0.0);
}

static void make_share(int64_t n, uint64_t seed, int rank, int size, const double *a, double *part)
{
    memcpy(part, a, (size_t)(n * n) * sizeof *part);
    for (int q = 1; q < size; q++) {
        struct rng r;
        rng_seed(&r, seed * 1000 + (uint64_t)q);
        for (int64_t i = 0; i < n * n; i++) {
            double x = rng_normal(&r);
            if (q == rank)
                part[i] = x;
            else if (rank == 0)
                part[i] -= x;
        }
        if (q == rank) return;
    }
}

static double frob(const double *x, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return sqrt(s);
}

/* One distributed-vs-LAPACK case; returns 0 on PASS. Collective. */
static int eig_case(MPI_Comm comm, int64_t n, int64_t k, int block, uint64_t seed)
{
    int rank = 0, size = 1, bad = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    double *a = malloc((size_t)(n * n) * sizeof *a), *part = malloc((size_t)(n * n) * sizeof *a);
    double *w = malloc((size_t)k * sizeof *w), *v = malloc((size_t)(k * n) * sizeof *v);
    double *acopy = malloc((size_t)(n * n) * sizeof *a), *wl = malloc((size_t)n * sizeof *wl);
    double *zl = malloc((size_t)(n * n) * sizeof *zl), *res = malloc((size_t)n * sizeof *res);
    make_matrix(n, seed, a);
    make_share(n, seed, rank, size, a, part);
    struct gsae_error err = {0};
    enum gsae_status st = dpca_eig_top(comm, part, n, k, block, w, v, &err);
    if (st != GSAE_OK) {
        printf("rank %d: eig n=%lld k=%lld: %s\n", rank, (long long)n, (long long)k, err.msg);
        bad = 1;
        goto done;
    }
    memcpy(acopy, a, (size_t)(n * n) * sizeof *a);
    int m = 0, info = lapack_top((int)n, (int)k, acopy, wl, zl, &m);
    double eps = DBL_EPSILON, anorm = frob(a, n * n), r2 = 0, o2 = 0, dw = 0;
    for (int64_t c = 0; c < k; c++) {
        const double *vc = v + c * n;
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int64_t j = 0; j < n; j++)
                s += a[i * n + j] * vc[j];
            res[i] = s - w[c] * vc[i];
        }
        double rc = frob(res, n);
        r2 += rc * rc;
        for (int64_t c2 = 0; c2 < k; c2++) {
            double s = 0;
            for (int64_t i = 0; i < n; i++)
                s += vc[i] * v[c2 * n + i];
            s -= c == c2 ? 1.0 : 0.0;
            o2 += s * s;
        }
        double diff = fabs(w[c] - wl[k - 1 - c]);
        dw = diff > dw ? diff : dw;
    }
    double resid = sqrt(r2) / (eps * anorm * (double)n), orth = sqrt(o2) / (eps * (double)n);
    double wdiff = dw / (eps * anorm * (double)n);
    bad = info != 0 || m != k || !(resid < RESIDUAL_MAX) || !(orth < RESIDUAL_MAX) ||
          !(wdiff < RESIDUAL_MAX);
    if (rank == 0)
        printf("eig n=%-4lld k=%-4lld nb=%-3d ranks=%d  ||AV-VL||/(eps||A||n)=%.3f  "
               "||V'V-I||/(eps n)=%.3f  |w-w_lapack|/(eps||A||n)=%.3f  %s\n",
               (long long)n, (long long)k, block, size, resid, orth, wdiff, bad ? "FAIL" : "PASS");
done:
    free(a), free(part), free(w), free(v), free(acopy), free(wl), free(zl), free(res);
    int any = 0;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm);
    return any;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, failed = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sign_flip),
            cmocka_unit_test(test_project_center),
            cmocka_unit_test(test_recon_coef),
            cmocka_unit_test(test_draw_features),
        };
        failed = cmocka_run_group_tests(tests, NULL, NULL) != 0;
    }
    /* Sizes that exercise: n below the grid, n not a multiple of the block, k = n, k = 1,
     * k larger than the number of ranks, blocks of 1. */
    static const struct {
        int64_t n, k;
        int block;
    } cases[] = {{1, 1, 64},  {3, 2, 64},   {5, 5, 2},   {37, 5, 4},
                 {64, 9, 64}, {130, 7, 64}, {97, 97, 8}, {50, 3, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        failed |= eig_case(MPI_COMM_WORLD, cases[i].n, cases[i].k, cases[i].block, 11 + i);
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any;
}
