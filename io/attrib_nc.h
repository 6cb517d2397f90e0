/* attrib_nc.h: a feature attribution as NetCDF-4 (OUT/attribution.nc): the sparse [T, d_sae]
 * map features[p, f] = acts[p, f] * (W_dec[f] . g[p]) at the SAE's layer, the error term's
 * share per position, the metric and the tokens (src/attrib.h says what they are).
 *
 * Schema, schema_version 1 (`ncdump -h attribution.nc`):
 *
 *   dimensions:
 *     position = T ;  feature = d_sae ;  entry = nnz ;  row = T + 1 ;  top = K ;
 *   variables:                          (each with CF long_name and units)
 *     int64  position(position), feature(feature) ;  // coordinates: 0 .. T - 1, 0 .. d_sae - 1
 *     int    tokens(position) ;          // the token ids the model saw (<bos> first)
 *     string token_text(position) ;      // each token's text (ids in brackets without a
 *                                        // tokenizer)
 *     int64  row_ptr(row) ;              // CSR: entries of position p are [row_ptr[p],
 *                                        // row_ptr[p+1])
 *     int    entry_count(position) ;     // row_ptr[p+1] - row_ptr[p]: CF contiguous ragged
 *                                        // array count, sample_dimension = "entry"
 *     int    entry_feature(entry) ;      // the feature of each entry, ascending per position
 *     float  entry_activation(entry) ;   // its (nonzero) JumpReLU activation
 *     float  entry_attribution(entry) ;  // acts * (W_dec[f] . g[p])
 *     float  error(position) ;           // (x - decode(encode(x)))[p] . g[p]
 *     double total_abs(feature) ;        // sum over positions of |attribution|
 *     int64  top_feature(top) ;          // features by total_abs, largest first, ties by lower
 *                                        // index
 *   global attributes:
 *     schema_version (int) = 1; title; gsae_version; model; sae; layer (int64); hook
 *     ("resid_post.<layer>"); prompt (its name); metric ("logit_diff" | "answer_logprob");
 *     metric_value (double); metric_rule (text); for logit_diff target, baseline, position
 *     (int64); for answer_logprob answer_first, answer_last (int64, inclusive positions);
 *     error_share (double: sum |error| / (sum |attribution| + sum |error|)).
 *
 * Nothing in the file depends on the rank count. Written to path.tmp and renamed into place.
 */
#pragma once

#include <stdint.h>

#include "../src/gsae.h"

#define ATTRIB_NC_SCHEMA_VERSION 1

struct attrib_nc_meta {
    const char *model, *sae, *prompt, *metric, *metric_rule;
    int64_t layer;
    double metric_value, error_share;
    int64_t target, baseline, position; /* logit_diff; -1 otherwise */
    int64_t answer_first, answer_last;  /* answer_logprob; -1 otherwise */
};

/* The map: n_pos positions, CSR over d_sae features. */
struct attrib_nc_map {
    int64_t n_pos, d_sae, nnz;
    const int32_t *tokens;   /* (n_pos) */
    const char *const *text; /* (n_pos) */
    const int64_t *row_ptr;  /* (n_pos + 1) */
    const int32_t *feature;  /* (nnz) */
    const float *act, *attr; /* (nnz) */
    const float *error;      /* (n_pos) */
    const double *total_abs; /* (d_sae) */
    const int64_t *top;      /* (n_top) */
    int64_t n_top;
};

enum gsae_status attrib_nc_write(const char *path, const struct attrib_nc_meta *meta,
                                 const struct attrib_nc_map *map, struct gsae_error *err);
