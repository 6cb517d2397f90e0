/* contrast_csv.h: the CSV files of a cross-prompt contrast, in the formats `gsae report` reads
 * (io/csv.h; columns declared in io/results_schema.h).
 *
 *   acts_last_token.csv      feature,<prompt>,...      one row per feature, one column per
 *                                                       prompt (its name without ".json"):
 *                                                       the SAE activation at the last token
 *   feature_diff.csv         feature,<a-b>,...         one column per pair "a-b" (prompt
 *                            [,success-failure]        indices): acts[a] - acts[b]; with a
 *                                                       group contrast, a last column of
 *                                                       mean(success) - mean(failure)
 *   table_pair_top.csv       pair,a,b,name_a,name_b,rank,feature,act_a,act_b,diff
 *                                                       the top features of each pair by
 *                                                       |diff|, rank 1 first
 *   table_group_contrast.csv rank,feature,mean_success,mean_failure,diff,cohens_d,hedges_g,
 *                            p_perm,q_bh               the top features by |diff| of the group
 *                                                       contrast (success minus failure)
 *
 * Numbers: activations as %.9g (float round trip), differences and statistics as %.17g (double
 * round trip); infinities as inf/-inf, as Python prints them.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "../src/gsae.h"
#include "contrast_nc.h"
#include "promptset.h"

/* acts (ps->n, d_sae) row-major as acts_last_token.csv. Local. Errors: GSAE_EIO. */
enum gsae_status contrast_csv_acts(const char *path, const struct promptset *ps, const float *acts,
                                   int64_t d_sae, struct gsae_error *err);

/* Every feature's difference for each pair as feature_diff.csv, and the group contrast's mean
 * difference (group_diff, d_sae; NULL: no such column) as a last column "success-failure".
 * Local. Errors: GSAE_EIO. */
enum gsae_status contrast_csv_diff(const char *path, const float *acts, int64_t d_sae,
                                   const struct contrast_nc_pairs *pairs, const double *group_diff,
                                   struct gsae_error *err);

/* The top features of each pair as table_pair_top.csv. Local. Errors: GSAE_EIO. */
enum gsae_status contrast_csv_pair_top(const char *path, const struct promptset *ps,
                                       const float *acts, int64_t d_sae,
                                       const struct contrast_nc_pairs *pairs,
                                       struct gsae_error *err);

/* The group contrast's top features as table_group_contrast.csv. Local. Errors: GSAE_EIO. */
enum gsae_status contrast_csv_group_top(const char *path, const struct contrast_nc_group *group,
                                        struct gsae_error *err);
