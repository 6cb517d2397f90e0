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

/* The feature dashboard (jobs/report_dashboard.c): cards for the features of maxact.csv chosen
 * by interest, with "N of M shown": the examples' tokens shaded by activation
 * (maxact_tokens.csv), the activation histogram (STORE/feature_stats.nc), the logit effects
 * (logit_effects.csv) and Neuronpedia links. */
struct report_dashboard_opts {
    const char *features;    /* the user's features, "3,17" (NULL: none) */
    const char *neuronpedia; /* Neuronpedia source MODEL/SAE_SET (NULL: no links) */
    const char *store;       /* the store whose feature_stats.nc has the histograms (NULL) */
    bool store_required;     /* a missing feature_stats.nc is an error, not a note */
};

enum gsae_status report_view_dashboard(struct report *r, const char *dir,
                                       const struct report_dashboard_opts *o,
                                       struct gsae_error *err);
