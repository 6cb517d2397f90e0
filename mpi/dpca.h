/* dpca.h: distributed PCA over rows streamed by each rank (BLACS/ScaLAPACK eigen-solve).
 *
 * The rows (N x d, N = sum over ranks of each rank's share) are never gathered: each rank
 * streams its own rows through a struct dpca_rows callback, in chunks, three times:
 *   1. column sums, allreduced into the global mean (in double);
 *   2. the centered Gram matrix G = sum (x - mean)(x - mean)^T, accumulated in double by
 *      dsyrk per chunk (two-pass centering: no cancellation from a large mean, which matters
 *      for residual streams with a few huge dimensions), then summed across ranks straight
 *      into a block-cyclic layout over a near-square BLACS grid (MPI_Reduce_scatter);
 *   3. projection of each centered row onto the k components (dgemm per chunk).
 * The top k eigenpairs of G come from ScaLAPACK pdsyevr (RANGE='I'). As in scikit-learn,
 * explained variance is eigenvalue / (N - 1) and its ratio is over the total variance
 * trace(G) / (N - 1).
 *
 * Sign convention: each component is flipped so that its entry of largest absolute value is
 * positive (ties: the lowest index). This depends only on the components, not on how rows are
 * distributed; it is scikit-learn >= 1.5's PCA rule (svd_flip with u_based_decision=False).
 * scikit-learn 1.2 used the rows' side (U), so its signs may differ per component.
 *
 * Results are deterministic for a fixed number of ranks and BLAS threads; across rank counts
 * they agree to rounding (the summation order differs).
 */
#pragma once

#include <mpi.h>
#include <stdint.h>

#include "../src/gsae.h"

/* A rank's share of the rows. read() fills out (count x d, row-major) with the local rows
 * [begin, begin + count), 0 <= begin, begin + count <= n_local. It is called in increasing
 * order of begin, once per pass (three passes), and must return the same values each time. */
struct dpca_rows {
    int64_t d;       /* row length; equal on all ranks */
    int64_t n_local; /* rows on this rank (may be 0) */
    enum gsae_status (*read)(void *ctx, int64_t begin, int64_t count, double *out,
                             struct gsae_error *err);
    void *ctx;
};

struct dpca_options {
    int64_t n_components; /* k, 1 <= k <= min(N, d) */
    int64_t chunk_rows;   /* rows per streamed chunk; 0: 512 */
    int block;            /* ScaLAPACK block size; 0: 64 (smaller when d is small) */
};

/* Everything below is owned by the struct; release with dpca_result_free. */
struct dpca_result {
    int64_t d, k;
    int64_t n_rows;                   /* global N */
    int64_t n_local;                  /* this rank's rows */
    int64_t row_offset;               /* global index of this rank's first row (rank order) */
    double *mean;                     /* (d) */
    double *components;               /* (k, d) unit rows, descending variance, signed as above */
    double *explained_variance;       /* (k) eigenvalue / (N - 1) */
    double *explained_variance_ratio; /* (k) over trace(G) / (N - 1) */
    double total_variance;            /* trace(G) / (N - 1) */
    double *transformed;              /* (n_local, k) this rank's rows, centered and projected */
    /* Wall seconds on this rank: pass 1 (mean), pass 2 (Gram), Gram assembly + eigen-solve,
     * pass 3 (projection). */
    double seconds_mean, seconds_gram, seconds_eig, seconds_project;
};

/* Run the PCA. Collective on comm (duplicated internally; comm is not touched otherwise).
 * A failure on any rank (bad option, read error, allocation, ScaLAPACK info) is returned on
 * every rank; the failing rank's err names the cause, the others say another rank failed. */
enum gsae_status dpca_run(MPI_Comm comm, const struct dpca_rows *rows,
                          const struct dpca_options *opt, struct dpca_result *out,
                          struct gsae_error *err);

void dpca_result_free(struct dpca_result *r);

/* Top k eigenpairs of the symmetric d x d matrix A = sum over ranks of a_part (each rank's
 * full d x d partial, row-major; only the sum needs to be symmetric). On return, on every rank:
 * w (k) descending eigenvalues, v (k, d) row-major unit eigenvectors (no sign convention).
 * block as in dpca_options. Collective on comm. */
enum gsae_status dpca_eig_top(MPI_Comm comm, const double *a_part, int64_t d, int64_t k, int block,
                              double *w, double *v, struct gsae_error *err);

/* The near-square process grid used for size ranks: nprow <= npcol, nprow * npcol == size. */
void dpca_grid_shape(int size, int *nprow, int *npcol);
