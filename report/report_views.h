/* report_views.h: the views of gsae report, one per kind of result file (jobs/README.md,
 * "Result files"; CSV columns in io/results_schema.h), and what they share. Each view adds its
 * section when its files exist in dir and returns GSAE_EFORMAT naming the file when one is
 * malformed.
 */
#pragma once

#include "report.h"

struct tokenizer;

/* ---- shared by the views (report_util.c) ---- */

/* Read dir/name into t; *present is false (and GSAE_OK returned) when the file is absent. */
enum gsae_status report_load(const char *dir, const char *name, struct csv_table *t, bool *present,
                             struct gsae_error *err);

/* Column col as numbers (non-numeric cells become NaN); newly allocated, NULL out of memory. */
double *report_numbers(const struct csv_table *t, int64_t col);

/* The text of dir/name, or NULL when it cannot be read; newly allocated. */
char *report_read_text(const char *dir, const char *name);

/* Replace column col's cells by a visible form: newline, tab, CR as \n \t \r, spaces as
 * U+2423, other control bytes as \xNN. */
enum gsae_status report_tokens_visible(struct csv_table *t, int64_t col, struct gsae_error *err);

/* Whole-table view: every column of t as text cells. */
void report_show_table(struct report *r, const struct csv_table *t, const char *caption);

/* Distinct values of column col in order of first appearance; *group gets each row's index
 * into the returned (borrowed) names. Returns the count, or -1 out of memory. */
int64_t report_distinct(const struct csv_table *t, int64_t col, const char ***names,
                        int64_t **group);

/* s as a whole decimal integer (false otherwise), or as a number (NaN otherwise). */
bool report_parse_int(const char *s, int64_t *v);
double report_parse_num(const char *s);

/* ---- views of the prompt experiments (report_prompts.c) ---- */

/* summary.csv (key,value), timings.csv (gsae run) and job.ini. */
enum gsae_status report_view_summary(struct report *r, const char *dir, struct gsae_error *err);
/* acts_last_token.csv: one line chart per prompt. */
enum gsae_status report_view_acts(struct report *r, const char *dir, struct gsae_error *err);
/* feature_diff.csv: one line chart and top-feature bars per pair. */
enum gsae_status report_view_diff(struct report *r, const char *dir, struct gsae_error *err);
/* steer.csv: one table of continuations per feature. */
enum gsae_status report_view_steer(struct report *r, const char *dir, struct gsae_error *err);
/* ablate_topk.csv: one table of top next tokens per condition. */
enum gsae_status report_view_ablate(struct report *r, const char *dir, struct gsae_error *err);
/* table_<name>.csv: any other table, shown as is under its name. */
enum gsae_status report_view_tables(struct report *r, const char *dir, struct gsae_error *err);

/* ---- views of a store (report_harvest.c) ---- */

/* pca_scores.csv or pca.csv, and pca_explained.csv; tk (may be NULL) decodes token ids. */
enum gsae_status report_view_pca(struct report *r, const char *dir, const struct tokenizer *tk,
                                 struct gsae_error *err);
/* harvest_progress.csv and feature_freq.csv. */
enum gsae_status report_view_harvest(struct report *r, const char *dir, struct gsae_error *err);

/* ---- views of other files ---- */

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
