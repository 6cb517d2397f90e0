/* contrast_nc.h: a cross-prompt contrast as NetCDF-4 (OUT/contrast.nc): the SAE features at
 * each prompt's last token, the prompts' metadata, pair differences and the group contrast.
 *
 * Schema, schema_version 1 (`ncdump -h contrast.nc`):
 *
 *   dimensions:
 *     prompt = P ;  feature = d_sae ;  pair = K (omitted when K = 0) ;
 *     pair_top = k_pair ;  group_top = k_group (omitted without a group contrast) ;
 *   variables:                          (each with CF long_name and units)
 *     int64  prompt(prompt), feature(feature) ;  // coordinates: 0 .. P - 1, 0 .. d_sae - 1
 *     float  acts(prompt, feature) ;       // SAE activation (JumpReLU output) at the prompt's
 *                                          // last token, resid_post.<layer>; dense
 *     string name(prompt) ;                // task file name or the prompt's name
 *     int    label(prompt) ;               // 1 success, 0 failure, -1 unknown
 *     double confidence(prompt) ;          // the model's stated confidence; NaN when not given
 *     int64  len_prompt(prompt) ;          // recorded prompt length (characters); -1: not given
 *     int64  n_chars(prompt) ;             // the prompt's length in characters (code points)
 *     int64  n_tokens(prompt) ;            // tokens the model saw, <bos> included
 *     int    last_token(prompt) ;          // id of the last token (the encoded position)
 *     int64  pair_a(pair), pair_b(pair) ;  // prompt indices; difference = acts[a] - acts[b]
 *     int64  pair_top_feature(pair, pair_top) ;  // features by |difference|, largest first,
 *                                                // ties by lower index
 *     With a group contrast (success = group A, failure = group B; see src/stats.h):
 *     double mean_success(feature), mean_failure(feature), diff(feature) ;  // diff = A - B
 *     double cohens_d(feature), hedges_g(feature) ;   // +-inf for a separated constant feature
 *     double p_perm(feature) ;             // two-sided permutation p-value
 *     double q_bh(feature) ;               // Benjamini-Hochberg adjusted p-value
 *     int64  group_top_feature(group_top) ;  // features by |diff|, largest first, ties by lower
 *                                            // index
 *   global attributes:
 *     schema_version (int) = 1; title; gsae_version; model; sae; layer (int64); hook
 *     ("resid_post.<layer>"); position ("last token"); prompts (where they came from);
 *     group_contrast (int 0/1); n_success, n_failure (int64); n_permutations (int64),
 *     permutation_seed (uint64) and group_a / group_b when group_contrast is 1.
 *
 * Variables are stored contiguously (the file is small: P x d_sae floats); no compression.
 * The file is written to path.tmp and renamed into place.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "../src/gsae.h"
#include "../src/stats.h"
#include "promptset.h"

#define CONTRAST_NC_SCHEMA_VERSION 1

struct contrast_nc_meta {
    const char *model, *sae, *prompts; /* descriptions (paths) for the attributes */
    int64_t layer;
};

/* Pair differences: n pairs (a[i], b[i]), each with its k top features. */
struct contrast_nc_pairs {
    int64_t n, k;
    const int64_t *a, *b; /* (n) */
    const int64_t *top;   /* (n, k) */
};

/* The group contrast, when present (n_top > 0). */
struct contrast_nc_group {
    bool present;
    const struct stats_contrast *stats; /* (d_sae) arrays */
    const double *p, *q;                /* (d_sae) */
    int64_t n_success, n_failure, n_perm;
    uint64_t seed;
    int64_t n_top;
    const int64_t *top; /* (n_top) */
};

/* Write the contrast to path (atomically). acts is (ps->n, d_sae) row-major. Local.
 * Errors: GSAE_EIO (naming the file and the variable), GSAE_ENOMEM. */
enum gsae_status contrast_nc_write(const char *path, const struct contrast_nc_meta *meta,
                                   const struct promptset *ps, const float *acts, int64_t d_sae,
                                   const struct contrast_nc_pairs *pairs,
                                   const struct contrast_nc_group *group, struct gsae_error *err);
