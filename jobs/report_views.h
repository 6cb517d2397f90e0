/* report_views.h: report views that read what experiment commands write besides CSV (gsae
 * steer --json, gsae ablate --json, gsae pca's .npy files); the CSV views live in cmd_report.c.
 * Each view adds its section when its files exist and returns GSAE_EFORMAT naming the file when one
 * is malformed.
 */
#pragma once

#include "report.h"

/* steer_<label>.json files: {"feature", "max_act", "runs": [{"strength", "text"}]}. */
enum gsae_status report_view_steer_json(struct report *r, const char *dir, struct gsae_error *err);

/* ablate_<label>.json files: {"features", "conditions": [{"condition", "error_term",
 * "answer": [{"index", "text", "clean": {"rank", "prob", "top": [{"text", "prob"}]},
 * "ablated": {...}}]}]}, or a single condition's keys at the top level. */
enum gsae_status report_view_ablate_json(struct report *r, const char *dir, struct gsae_error *err);

/* gsae pca's transformed.npy (rows, k) float and explained_variance_ratio.npy (k,). */
enum gsae_status report_view_pca_npy(struct report *r, const char *dir, struct gsae_error *err);

/* attribution_top.csv (rank,feature,total_abs,sum,peak_position,peak_token,peak_value) and
 * attribution_strip.csv (position,token,error,f<id>...) of gsae attribute: bars, a token x
 * feature heat strip and the prompt shaded by each top feature. */
enum gsae_status report_view_attribution(struct report *r, const char *dir, struct gsae_error *err);
