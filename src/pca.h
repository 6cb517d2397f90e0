/* pca.h: the single-process pieces of gsae's PCA: centering, projection, the sign convention,
 * and the notebook's co-occurrence rows (tokens where a feature list fires, each reconstructed
 * from those features only). The distributed driver is mpi/dpca.h.
 *
 * Layout: row-major; components are (k, d), one unit vector per row.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "gsae.h"
#include "rng.h"

/* Subtract mean (d) from each of the n rows of x (n, d). Local. */
void pca_center_rows(double *x, int64_t n, int64_t d, const double *mean);

/* out (n, k) = x (n, d) @ components^T (components (k, d)). Local. */
void pca_project(const double *x, int64_t n, int64_t d, const double *components, int64_t k,
                 double *out);

/* Flip each component (row of components (k, d)) so that its entry of largest absolute value
 * is positive; ties go to the lowest index. Local. */
void pca_sign_flip(double *components, int64_t k, int64_t d);

/* One sparse activation row against a feature list: coef[j] = sum of the row's values at
 * feature features[j] (0 when absent; duplicate indices add, as a CSR-to-dense conversion does).
 * Returns whether the row fires for the list: sum_j coef[j] > 0 (the notebook's rule; with
 * JumpReLU activations, which are >= 0, that is "any feature of the list is active"). Local. */
bool pca_recon_coef(const int32_t *indices, const float *values, int64_t nnz,
                    const int64_t *features, int64_t n_features, double *coef);

/* out (d) = sum_j coef[j] * w_rows[j, :], w_rows (n_features, d): the rows of W_dec of the
 * listed features, in list order. Local. */
void pca_recon_row(const double *coef, const double *w_rows, int64_t n_features, int64_t d,
                   double *out);

/* Draw n distinct feature ids from [0, n_total), uniformly (partial Fisher-Yates on r), and
 * return them ascending in out (n). Errors: GSAE_EINVAL when n > n_total or n < 1,
 * GSAE_ENOMEM. The same seed gives the same list on every machine. */
enum gsae_status pca_draw_features(struct rng *r, int64_t n_total, int64_t n, int64_t *out,
                                   struct gsae_error *err);
