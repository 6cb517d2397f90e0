/* stats.h: group contrast statistics over SAE feature activations.
 *
 * The notebook compares feature activations between two groups of samples (prompts the model
 * solved vs failed, one row per prompt, one column per feature) and between two single samples
 * (pair diffs). For a matrix x (n_rows, n_features), row-major float (as stored), and a group
 * label per row (in_a[i] != 0: group A, else group B), everything is computed in double:
 *
 *   diff     = mean_A - mean_B
 *   cohens_d = diff / s_pooled,  s_pooled^2 = ((n_A - 1) s_A^2 + (n_B - 1) s_B^2) / (n_A + n_B - 2)
 *              (s^2: unbiased sample variances, two-pass)
 *   hedges_g = J cohens_d,  J = 1 - 3 / (4 (n_A + n_B) - 9)  (Hedges' small-sample correction)
 * When s_pooled is 0 (constant feature within both groups) the effect size is 0 if diff is 0,
 * else +-infinity with diff's sign. n_A, n_B >= 2 so the variances exist.
 *
 * Permutation p-values are two-sided on |diff|: labels are shuffled n_perm times (Fisher-Yates
 * with a seeded struct rng, the same shuffles for every feature), and
 *   p = (1 + #{permutations with |diff_perm| >= |diff_obs|}) / (1 + n_perm),
 * so p >= 1 / (n_perm + 1). "At least as large" allows a relative 1e-12 slack so that a
 * permutation reproducing the observed split counts despite rounding.
 *
 * Benjamini-Hochberg: q_(i) = min over j >= i of p_(j) m / j (p sorted ascending), capped at 1,
 * returned in the input order; rejecting q <= alpha controls the FDR at alpha.
 */
#pragma once

#include <stdint.h>

#include "gsae.h"
#include "rng.h"

/* Per-feature results, each array (n_features), allocated by the caller. */
struct stats_contrast {
    double *mean_a, *mean_b;
    double *diff;     /* mean_a - mean_b */
    double *cohens_d; /* diff / pooled standard deviation */
    double *hedges_g; /* cohens_d with the small-sample correction J */
};

/* Group means, differences and effect sizes for every feature. Local.
 * Errors: GSAE_EINVAL when a group has fewer than 2 rows. */
enum gsae_status stats_contrast(const float *x, int64_t n_rows, int64_t n_features,
                                const uint8_t *in_a, struct stats_contrast *out,
                                struct gsae_error *err);

/* Two-sided permutation p-values of diff for every feature into p (n_features). Draws from r
 * (n_perm shuffles of n_rows labels); same r state, same p. Local.
 * Errors: GSAE_EINVAL (group sizes, n_perm < 1), GSAE_ENOMEM. */
enum gsae_status stats_permutation_p(const float *x, int64_t n_rows, int64_t n_features,
                                     const uint8_t *in_a, int64_t n_perm, struct rng *r, double *p,
                                     struct gsae_error *err);

/* Benjamini-Hochberg adjusted p-values q (m) of p (m, each in [0, 1]). q may alias p. Local.
 * Errors: GSAE_EINVAL for a p outside [0, 1] or NaN, GSAE_ENOMEM. */
enum gsae_status stats_bh_fdr(const double *p, int64_t m, double *q, struct gsae_error *err);

/* The k indices of largest |a[i] - b[i]| (n each), in decreasing order of |difference|, ties by
 * lower index, into idx (k); k <= n. Local. Errors: GSAE_EINVAL, GSAE_ENOMEM. */
enum gsae_status stats_top_abs_diff(const float *a, const float *b, int64_t n, int64_t k,
                                    int64_t *idx, struct gsae_error *err);
