/* results_schema.c: the columns of gsae's CSV result files (see results_schema.h). */
#include "results_schema.h"

#define SCHEMA(var, file_name, ...)                                                                \
    static const struct csv_column var##_cols[] = {__VA_ARGS__};                                   \
    const struct csv_schema var = {file_name, var##_cols,                                          \
                                   (int64_t)(sizeof var##_cols / sizeof var##_cols[0])}

#define STR(n)                                                                                     \
    {                                                                                              \
        n, CSV_STRING, NULL, false, false                                                          \
    }
#define INT(n)                                                                                     \
    {                                                                                              \
        n, CSV_INT, NULL, false, false                                                             \
    }
#define DBL(n, fmt)                                                                                \
    {                                                                                              \
        n, CSV_DOUBLE, fmt, false, false                                                           \
    }
#define OPT_STR(n)                                                                                 \
    {                                                                                              \
        n, CSV_STRING, NULL, false, true                                                           \
    }
#define OPT_INT(n)                                                                                 \
    {                                                                                              \
        n, CSV_INT, NULL, false, true                                                              \
    }
#define OPT_DBL(n, fmt)                                                                            \
    {                                                                                              \
        n, CSV_DOUBLE, fmt, false, true                                                            \
    }
#define REPEAT_DBL(n, fmt)                                                                         \
    {                                                                                              \
        n, CSV_DOUBLE, fmt, true, false                                                            \
    }

SCHEMA(results_positions, "all-positions CSV", STR("prompt"), INT("position"), INT("token"),
       INT("feature"), DBL("activation", "%.9g"));

SCHEMA(results_steer, "steer.csv", INT("feature"), STR("prompt"), DBL("strength", "%g"),
       STR("text"));

SCHEMA(results_ablate_topk, "ablate_topk.csv", STR("condition"), INT("rank"), STR("token"),
       DBL("prob", "%.9g"));
SCHEMA(results_answer_logprob, "table_answer_logprob.csv", STR("condition"), INT("answer_tokens"),
       DBL("logprob", "%.9g"), INT("first_token_rank"), DBL("first_token_prob", "%.9g"));

SCHEMA(results_attribution_top, "attribution_top.csv", OPT_INT("rank"), INT("feature"),
       DBL("total_abs", "%.9g"), DBL("sum", "%.9g"), INT("peak_position"), STR("peak_token"),
       DBL("peak_value", "%.9g"));
SCHEMA(results_attribution_strip, "attribution_strip.csv", INT("position"), STR("token"),
       DBL("error", "%.9g"), REPEAT_DBL("f<feature>", "%.9g"));
SCHEMA(results_attribution_meta, "attribution_meta.csv", STR("key"), STR("value"));
SCHEMA(results_summary, "summary.csv", STR("key"), STR("value"));

SCHEMA(results_maxact, "maxact.csv", INT("feature"), INT("rank"), DBL("activation", "%.9g"),
       OPT_INT("doc"), OPT_INT("pos"), OPT_STR("left"), OPT_STR("token"), OPT_STR("right"));
SCHEMA(results_maxact_tokens, "maxact_tokens.csv", INT("feature"), INT("rank"), INT("offset"),
       INT("token_id"), STR("text"), DBL("activation", "%.9g"));
SCHEMA(results_logit_effects, "logit_effects.csv", INT("feature"), STR("sign"), INT("rank"),
       INT("token_id"), STR("text"), DBL("value", "%.9g"));

SCHEMA(results_feature_freq, "feature_freq.csv", INT("feature"), DBL("frequency", "%.9g"));
SCHEMA(results_harvest_progress, "harvest_progress.csv", DBL("seconds", "%.3f"), INT("tokens"),
       OPT_INT("rounds"));

SCHEMA(results_timings, "timings.csv", STR("step"), STR("command"), STR("ranks"),
       DBL("seconds", "%.3f"), INT("exit"));

SCHEMA(results_contrast_acts, "acts_last_token.csv", INT("feature"),
       REPEAT_DBL("<prompt>", "%.9g"));
SCHEMA(results_contrast_diff, "feature_diff.csv", INT("feature"), REPEAT_DBL("<a>-<b>", "%.17g"));
SCHEMA(results_contrast_pair_top, "table_pair_top.csv", STR("pair"), INT("a"), INT("b"),
       STR("name_a"), STR("name_b"), INT("rank"), INT("feature"), DBL("act_a", "%.9g"),
       DBL("act_b", "%.9g"), DBL("diff", "%.17g"));
SCHEMA(results_contrast_group_top, "table_group_contrast.csv", INT("rank"), INT("feature"),
       DBL("mean_success", "%.17g"), DBL("mean_failure", "%.17g"), DBL("diff", "%.17g"),
       OPT_DBL("cohens_d", "%.17g"), OPT_DBL("hedges_g", "%.17g"), OPT_DBL("p_perm", "%.17g"),
       OPT_DBL("q_bh", "%.17g"));

SCHEMA(results_pca, "pca.csv", INT("row"), INT("token"), INT("doc"), INT("pos"), INT("token_id"),
       REPEAT_DBL("PC<k>", "%.17g"), STR("context"));
SCHEMA(results_pca_scores, "pca_scores.csv", STR("token"), REPEAT_DBL("pc<k>", "%.17g"),
       OPT_INT("token_id"), OPT_INT("token_index"), OPT_STR("context"));
SCHEMA(results_pca_explained, "pca_explained.csv", STR("component"),
       OPT_DBL("explained_variance", "%.17g"), DBL("explained_variance_ratio", "%.17g"));
