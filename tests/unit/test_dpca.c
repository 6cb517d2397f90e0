/* test_dpca.c: the distributed PCA (mpi/dpca.h) on rows with known principal components.
 *
 * Runs alone (one rank) in the unit suite and under mpirun from tests/mpi/t_dpca.sh on the rank
 * counts of GSAE_NP. N = 8 rows of length 5: mean + 3 h1 q1 + 2 h2 q2 + h3 q3 with orthonormal
 * q1..q3 and orthogonal zero-mean +-1 columns h1..h3, so the centered Gram matrix has
 * eigenvalues 72, 32, 8 (then 0) along q1, q2, q3. Checked on every rank, with rows split in
 * rank order and streamed in chunks of 3:
 *  - the mean, components (signed by the largest-entry rule),
 *    explained variance eigenvalue / (N - 1), its ratio, the total variance and each rank's
 *    projected rows (3 h1, -2 h2, h3 of its rows), to rounding;
 *  - the near-square BLACS grid shape;
 *  - bad options and a read failure on one rank are returned on every rank, the failing rank
 *    naming the cause and the others saying another rank failed.
 * Exit status 0 on success; failures print the check and the rank.
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK_RANKS
#include "../../mpi/dpca.h"
#include "../common/check.h"

enum { N = 8, D = 5, K = 3 };

static int rank, size;
static const double q[K][D] = {{2.0 / 7, 0, 3.0 / 7, 6.0 / 7, 0},
                               {3.0 / 7, 0, -6.0 / 7, 2.0 / 7, 0},
                               {6.0 / 7, 0, 2.0 / 7, -3.0 / 7, 0}};
/* the sign rule: the largest |entry| positive (no ties here) flips q2 */
static const double sign[K] = {1, -1, 1};
static const double scale[K] = {3, 2, 1}, mean[D] = {10, -5, 1, 7, 0.5};

/* h_j(i): columns of a Hadamard matrix, zero mean and orthogonal */
static double h(int j, int64_t i)
{
    return ((i >> j) & 1) ? -1.0 : 1.0;
}

struct share {
    int64_t first;
    int fail_on_pass; /* 0: never; else fail when read is called for the nth time */
    int calls;
};

static enum gsae_status read_rows(void *ctx, int64_t begin, int64_t count, double *out,
                                  struct gsae_error *err)
{
    struct share *s = ctx;
    if (++s->calls == s->fail_on_pass)
        return gsae_fail(err, GSAE_EIO, "rows of rank %d: disk gone", rank);
    for (int64_t r = 0; r < count; r++) {
        int64_t i = s->first + begin + r;
        for (int c = 0; c < D; c++) {
            double x = mean[c];
            for (int j = 0; j < K; j++)
                x += scale[j] * h(j, i) * q[j][c];
            out[r * D + c] = x;
        }
    }
    return GSAE_OK;
}

static void make_rows(struct share *s, struct dpca_rows *rows)
{
    int64_t b = (int64_t)N * rank / size, e = (int64_t)N * (rank + 1) / size;
    *s = (struct share){.first = b};
    *rows = (struct dpca_rows){.d = D, .n_local = e - b, .read = read_rows, .ctx = s};
}

static bool near(double a, double b)
{
    return check_close(a, b, 1e-12, 1e-12);
}

static void check_result(void)
{
    struct share s;
    struct dpca_rows rows;
    make_rows(&s, &rows);
    struct dpca_options o = {.n_components = K, .chunk_rows = 3};
    struct dpca_result r;
    struct gsae_error err = {0};
    enum gsae_status st = dpca_run(MPI_COMM_WORLD, &rows, &o, &r, &err);
    CHECK(st == GSAE_OK);
    if (st != GSAE_OK) {
        fprintf(stderr, "rank %d: %s\n", rank, err.msg);
        return;
    }
    CHECK(r.d == D && r.k == K && r.n_rows == N);
    CHECK(r.n_local == rows.n_local && r.row_offset == s.first);
    for (int c = 0; c < D; c++)
        CHECK(near(r.mean[c], mean[c]));
    const double eig[K] = {72, 32, 8};
    for (int j = 0; j < K; j++) {
        CHECK(near(r.explained_variance[j], eig[j] / (N - 1)));
        CHECK(near(r.explained_variance_ratio[j], eig[j] / 112));
        for (int c = 0; c < D; c++)
            CHECK(near(r.components[j * D + c], sign[j] * q[j][c]));
    }
    CHECK(near(r.total_variance, 112.0 / (N - 1)));
    for (int64_t i = 0; i < r.n_local; i++)
        for (int j = 0; j < K; j++)
            CHECK(near(r.transformed[i * K + j], sign[j] * scale[j] * h(j, s.first + i)));
    dpca_result_free(&r);
}

static void check_grid(void)
{
    const int want[][3] = {{1, 1, 1}, {2, 1, 2}, {3, 1, 3}, {4, 2, 2}, {6, 2, 3},
                           {7, 1, 7}, {8, 2, 4}, {9, 3, 3}, {12, 3, 4}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int pr = 0, pc = 0;
        dpca_grid_shape(want[i][0], &pr, &pc);
        CHECK(pr == want[i][1] && pc == want[i][2]);
    }
}

static void check_failures(void)
{
    struct share s;
    struct dpca_rows rows;
    struct dpca_result r;
    struct gsae_error err = {0};
    /* more components than the row length: refused everywhere */
    make_rows(&s, &rows);
    struct dpca_options o = {.n_components = D + 1};
    CHECK(dpca_run(MPI_COMM_WORLD, &rows, &o, &r, &err) == GSAE_EINVAL);
    CHECK(strstr(err.msg, "6 components") != NULL);
    /* the last rank's second read fails: every rank returns its status */
    make_rows(&s, &rows);
    if (rank == size - 1) s.fail_on_pass = 2;
    o = (struct dpca_options){.n_components = 2, .chunk_rows = 100};
    enum gsae_status st = dpca_run(MPI_COMM_WORLD, &rows, &o, &r, &err);
    CHECK(st == GSAE_EIO);
    if (rank == size - 1)
        CHECK(strstr(err.msg, "disk gone") != NULL);
    else
        CHECK(strstr(err.msg, "another rank failed") != NULL);
}

int main(int argc, char **argv)
{
    /* Under ASan (GSAE_SAN), MPI's leak suppressions need full malloc stacks: restart once with
     * fast_unwind_on_malloc=0 when the unit runner did not set it. */
    const char *asan = getenv("ASAN_OPTIONS");
    if (getenv("GSAE_SAN") && !(asan && strstr(asan, "fast_unwind_on_malloc=0"))) {
        char opts[4096];
        snprintf(opts, sizeof opts, "%s%sfast_unwind_on_malloc=0", asan ? asan : "",
                 asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        execv("/proc/self/exe", argv);
    }
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check_result();
    check_grid();
    check_failures();
    int status = check_ranks_finish();
    MPI_Finalize();
    return status;
}
