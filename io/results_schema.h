/* results_schema.h: the columns of every CSV result file gsae writes, declared once. The
 * command that writes a file and the report view that reads it share its schema (io/csv.h):
 * the writer takes the header and the field types from it, the reader looks the columns up by
 * name (csv_columns) and indexes them with the enum beside each schema.
 *
 * Floating-point formats: "%.9g" (float values, exact) unless stated; "%.17g" (double values,
 * exact) where the value is computed in double; "%.3f" seconds; "%g" steering strengths as
 * given. Columns marked optional may be missing from files the report reads (older outputs
 * or hand-made ones); the writers always write them.
 */
#pragma once

#include "csv.h"

/* gsae features --all-positions FILE: every active (position, feature) of every prompt. */
enum {
    POSITIONS_PROMPT,
    POSITIONS_POSITION,
    POSITIONS_TOKEN,
    POSITIONS_FEATURE,
    POSITIONS_ACTIVATION
};
extern const struct csv_schema results_positions;

/* gsae steer --out FILE (steer.csv): one greedy continuation per row. */
enum { STEER_FEATURE, STEER_PROMPT, STEER_STRENGTH, STEER_TEXT };
extern const struct csv_schema results_steer;

/* gsae ablate --out DIR: ablate_topk.csv (next-token top k under each condition) and
 * table_answer_logprob.csv. */
enum { ABLATE_TOPK_CONDITION, ABLATE_TOPK_RANK, ABLATE_TOPK_TOKEN, ABLATE_TOPK_PROB };
extern const struct csv_schema results_ablate_topk;
extern const struct csv_schema results_answer_logprob;

/* gsae attribute --out DIR: attribution_top.csv, attribution_strip.csv (one column f<id> per
 * top feature) and attribution_meta.csv (key,value). */
enum {
    ATTR_TOP_RANK,
    ATTR_TOP_FEATURE,
    ATTR_TOP_TOTAL_ABS,
    ATTR_TOP_SUM,
    ATTR_TOP_PEAK_POSITION,
    ATTR_TOP_PEAK_TOKEN,
    ATTR_TOP_PEAK_VALUE
};
extern const struct csv_schema results_attribution_top;
enum { ATTR_STRIP_POSITION, ATTR_STRIP_TOKEN, ATTR_STRIP_ERROR, ATTR_STRIP_FEATURES };
extern const struct csv_schema results_attribution_strip;
enum { KEY_VALUE_KEY, KEY_VALUE_VALUE };
extern const struct csv_schema results_attribution_meta;

/* summary.csv (key,value), shown by the report as is. */
extern const struct csv_schema results_summary;

/* gsae maxact: --out (maxact.csv), --tokens-out (maxact_tokens.csv), --logits-out
 * (logit_effects.csv). */
enum {
    MAXACT_FEATURE,
    MAXACT_RANK,
    MAXACT_ACTIVATION,
    MAXACT_DOC,
    MAXACT_POS,
    MAXACT_LEFT,
    MAXACT_TOKEN,
    MAXACT_RIGHT
};
extern const struct csv_schema results_maxact;
enum {
    MAXACT_TOKENS_FEATURE,
    MAXACT_TOKENS_RANK,
    MAXACT_TOKENS_OFFSET,
    MAXACT_TOKENS_TOKEN_ID,
    MAXACT_TOKENS_TEXT,
    MAXACT_TOKENS_ACTIVATION
};
extern const struct csv_schema results_maxact_tokens;
enum { LOGITS_FEATURE, LOGITS_SIGN, LOGITS_RANK, LOGITS_TOKEN_ID, LOGITS_TEXT, LOGITS_VALUE };
extern const struct csv_schema results_logit_effects;

/* gsae harvest --freq (feature_freq.csv) and --progress (harvest_progress.csv). */
enum { FREQ_FEATURE, FREQ_FREQUENCY };
extern const struct csv_schema results_feature_freq;
enum { PROGRESS_SECONDS, PROGRESS_TOKENS, PROGRESS_ROUNDS };
extern const struct csv_schema results_harvest_progress;

/* gsae run: OUT/timings.csv, one row per step run (appended). */
extern const struct csv_schema results_timings;

/* gsae contrast: acts_last_token.csv (one column per prompt), feature_diff.csv (one column
 * "a-b" per pair, then success-failure with groups), table_pair_top.csv and
 * table_group_contrast.csv. */
extern const struct csv_schema results_contrast_acts;
extern const struct csv_schema results_contrast_diff;
extern const struct csv_schema results_contrast_pair_top;
enum {
    GROUP_RANK,
    GROUP_FEATURE,
    GROUP_MEAN_SUCCESS,
    GROUP_MEAN_FAILURE,
    GROUP_DIFF,
    GROUP_COHENS_D,
    GROUP_HEDGES_G,
    GROUP_P_PERM,
    GROUP_Q_BH
};
extern const struct csv_schema results_contrast_group_top;

/* gsae pca: pca.csv (PC1..PCk), pca_scores.csv (pc1..pck) and pca_explained.csv. */
enum { PCA_ROW, PCA_TOKEN, PCA_DOC, PCA_POS, PCA_TOKEN_ID, PCA_PCS, PCA_CONTEXT };
extern const struct csv_schema results_pca;
enum {
    PCA_SCORES_TOKEN,
    PCA_SCORES_PCS,
    PCA_SCORES_TOKEN_ID,
    PCA_SCORES_TOKEN_INDEX,
    PCA_SCORES_CONTEXT
};
extern const struct csv_schema results_pca_scores;
enum { PCA_EXPLAINED_COMPONENT, PCA_EXPLAINED_VARIANCE, PCA_EXPLAINED_RATIO };
extern const struct csv_schema results_pca_explained;
