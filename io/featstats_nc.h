/* featstats_nc.h: per-feature statistics as NetCDF-4 (STORE/feature_stats.nc).
 *
 * Schema, schema_version 1 (see src/featstats.h for what each statistic means):
 *
 *   dimensions:
 *     feature = d_sae ; example = top_k ; context = ctx_before + 1 + ctx_after ;
 *     hist_bin = 50 ;
 *   variables:                             (each with CF long_name and units)
 *     int64  feature(feature) ;               // coordinate: 0 .. d_sae - 1 (added later in
 *                                             // version 1; files without it read the same)
 *     int64  fire_count(feature) ;            // tokens with activation > 0
 *     double frequency(feature) ;             // fire_count / n_tokens
 *     double act_sum(feature) ;               // sum of activations (exact to 2^-32 per term)
 *     double act_mean(feature) ;              // act_sum / fire_count (0 when it never fired)
 *     float  max_value(feature) ;             // = top_value[:, 0]
 *     int64  max_doc(feature), max_pos(feature) ;
 *     int    n_examples(feature) ;            // examples held (< top_k when it fired less)
 *     float  top_value(feature, example) ;    // best first; 0 past n_examples
 *     int64  top_doc(feature, example), top_pos(feature, example) ;  // -1 past n_examples
 *     int64  top_token(feature, example) ;    // global token number: window * context_size + t
 *     int    top_context(feature, example, context) ;  // token ids; slot ctx_before is the
 *                                                      // token itself; -1 outside the window
 *     int64  hist(feature, hist_bin) ;        // counts per log-spaced bin
 *     double hist_lower(hist_bin) ;           // lower bin edges: 0, 1e-3, 10^(-3+1/8), ..., 1e3
 *   global attributes: schema_version = 1, title, gsae_version, n_tokens (int64), top_k,
 *     context_before, context_after (int64), include_bos (int), histogram (description).
 * Chunks: 4096 features (x example x context); shuffle + deflate level 4.
 * Written to feature_stats.nc.tmp and renamed into place.
 */
#pragma once

#include "../src/featstats.h"
#include "../src/gsae.h"

#define FEATSTATS_NC_SCHEMA_VERSION 1

/* Write fs to path (atomically). Local. Errors: GSAE_EIO. */
enum gsae_status featstats_nc_write(const char *path, const struct featstats *fs,
                                    struct gsae_error *err);

/* Read path into fs (initialized here; free with featstats_free). Sums come back from the
 * double act_sum (so exact only to double precision). Errors: GSAE_EIO, GSAE_EFORMAT. */
enum gsae_status featstats_nc_read(const char *path, struct featstats *fs, struct gsae_error *err);
