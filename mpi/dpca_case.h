/* dpca_case.h: PCA rows from a reference case folder (tests/data/pca/ format), as struct
 * dpca_rows sources.
 *
 *   dense:           X.npy (N, d), float32 or float64: each row is a PCA row.
 *   reconstruction:  the CSR activations acts_indptr.npy (int64, N + 1), acts_indices.npy
 *                    (int32), acts_values.npy (float32) and W_dec.npy (d_sae, d_model): the
 *                    notebook's co-occurrence rows, i.e. the tokens where a feature list F fires
 *                    (sum of its activations > 0), each reconstructed from those features only,
 *                    acts[t, F] @ W_dec[F] (src/pca.h).
 * Files are memory-mapped; rank r of size takes tokens [N r / size, N (r + 1) / size), reads
 * only those, and drops X's pages once read, so no rank holds all rows. Global row order is
 * rank order.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../io/npy.h"
#include "dpca.h"

#define DPCA_MAX_FEATURES 4096

/* npy_map_open (io/npy.h) on dir/name. */
enum gsae_status dpca_npy_open(const char *dir, const char *name, struct npy_map *m,
                               struct gsae_error *err);

/* GSAE_EFORMAT naming name unless m has n_dims dimensions of type t1 or t2. */
enum gsae_status dpca_npy_expect(const struct npy_map *m, const char *name, int n_dims,
                                 enum gsae_dtype t1, enum gsae_dtype t2, struct gsae_error *err);

/* Row i (length shape[1]) of a 2-D float32/float64 array, as double, into out. */
void dpca_npy_row(const struct npy_array *a, int64_t i, double *out);

/* This rank's contiguous share [begin, end) of n items. */
void dpca_share(int64_t n, int rank, int size, int64_t *begin, int64_t *end);

/* Dense rows of dir/X.npy. */
struct dpca_dense_rows {
    struct npy_map x;
    int64_t first; /* global index of this rank's first row */
};

/* Open dir/X.npy as this rank's rows; rows->ctx points to dr. Local. Errors as dpca_npy_open,
 * and GSAE_EFORMAT for a shape or type other than 2-D float32/float64. Release with
 * npy_map_close(&dr->x). */
enum gsae_status dpca_dense_rows_open(const char *dir, int rank, int size,
                                      struct dpca_dense_rows *dr, struct dpca_rows *rows,
                                      struct gsae_error *err);

/* Reconstruction rows of a case. */
struct dpca_recon_rows {
    struct npy_map indptr, indices, values, w_dec;
    int64_t features[DPCA_MAX_FEATURES];
    int64_t n_features, d;
    double *w_rows; /* (n_features, d): W_dec rows of the list */
    int64_t *fired; /* (n_local) global token index of each local row */
    double *coef;   /* (n_local, n_features) the list's activations per fired token */
    int64_t n_local;
};

/* Map the CSR activations and W_dec.npy of dir into rr (zeroed by the caller) and check their
 * types; W_dec's shape is then rr->w_dec.a.shape. Local. */
enum gsae_status dpca_recon_rows_map(const char *dir, struct dpca_recon_rows *rr,
                                     struct gsae_error *err);

/* Scan this rank's tokens for the feature list (n_features ids < d_sae, copied) and describe
 * the firing ones as rows; rows->ctx points to rr. Local. Errors: GSAE_EINVAL (a feature out of
 * range, too many), GSAE_EFORMAT (acts_indptr not non-decreasing within [0, nnz]),
 * GSAE_ENOMEM. */
enum gsae_status dpca_recon_rows_select(struct dpca_recon_rows *rr, const int64_t *features,
                                        int64_t n_features, int rank, int size,
                                        struct dpca_rows *rows, struct gsae_error *err);

/* Release everything (harmless on a zeroed struct and twice). */
void dpca_recon_rows_free(struct dpca_recon_rows *rr);
