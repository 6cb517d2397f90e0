/* cmd_ablate.c: `gsae ablate`: how ablating SAE features changes the logits of an answer.
 *
 * TransformerLens test_prompt semantics: the prompt is tokenized with <bos>, the answer
 * separately without (with a space prepended unless it starts with one or --no-prepend-space
 * is given), the two are concatenated and run once; for each answer token at index i, the
 * logits at row i-1 are read: the top K next tokens (logit, probability) and the answer
 * token's rank (0 = top), logit and probability. This is done without and with the ablation
 *   resid_post.L := decode(acts with the features zeroed)                       ("without")
 *   resid_post.L := decode(acts with the features zeroed) + (x - decode(encode(x)))  ("with")
 * at every position or the --positions given, and printed side by side. --error-term alone
 * means "with"; --error-term without,with runs both. --json FILE writes
 *   {"command": "ablate", "model": DIR, "sae": PATH, "layer": L, "features": [f...],
 *    "positions": "all" | [p...], "prompt": name, "n_prompt": T,
 *    "conditions": [{"condition": "ablate F" | "ablate F + error", "error_term": bool,
 *       "answer": [{"index": i, "token": id, "text": "...",
 *                   "clean":   {"rank": r, "logit": x, "prob": p, "top": [{"token", "text",
 *                               "logit", "prob"}...]},
 *                   "ablated": {...same...}}, ...]}, ...]}
 * --out DIR writes the files the report reads (jobs/README.md): ablate_topk.csv
 * (condition,rank,token,prob: the top K next tokens after the prompt, rank from 1, for
 * "baseline" and each condition) and table_answer_logprob.csv (condition,answer_tokens,
 * logprob,first_token_rank,first_token_prob: the answer's total log-probability).
 */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/results_schema.h"
#include "../src/ops.h"
#include "cli.h"
#include "commands.h"
#include "sae_cli.h"
#include "sae_session.h"

struct ablate_opts {
    int64_t *features, n_features, *positions, n_positions, top;
    const char *answer, *answer_ids, *json_path, *out_dir;
    bool without, with, no_space; /* conditions: without / with the error term */
};

struct ablate_args {
    struct sae_session_opts s;
    struct ablate_opts ao;
    const char *features, *positions;
    int error_term; /* 1: with, 2: without, 3: both; 0: not given (without) */
};

static const struct opt_choice error_terms[] = {
    {"with", 1}, {"without", 2}, {"without,with", 3}, {"with,without", 3}, {0}};

#define O(f) offsetof(struct ablate_args, f)
static const struct opt ablate_table[] = {
    {"feature", OPT_STR, O(features), .flags = OPT_REQUIRED, .meta = "LIST",
     .help = "features to zero"},
    {"error-term", OPT_ENUM, O(error_term), .choices = error_terms, .flags = OPT_OPTVAL,
     .meta = "[X]",
     .help = "add back x - decode(encode(x)): X = with (alone), without, or without,with"},
    {"answer", OPT_STR, O(ao.answer), .meta = "TEXT",
     .help = "the answer, tokenized without <bos>"},
    {"answer-ids", OPT_STR, O(ao.answer_ids), .meta = "LIST", .help = "the answer as token ids"},
    {"positions", OPT_STR, O(positions), .meta = "LIST",
     .help = "ablate only at these positions (0 = <bos>; default all)"},
    {"no-prepend-space", OPT_FLAG, O(ao.no_space), .help = "no space before the answer"},
    {"top", OPT_I64, O(ao.top), "10", 1, 1000, .meta = "K",
     .help = "next tokens listed per answer token (alias --top-k)"},
    {"top-k", OPT_I64, O(ao.top), .min = 1, .max = 1000, .flags = OPT_HIDDEN, .meta = "K"},
    {"json", OPT_STR, O(ao.json_path), .meta = "FILE",
     .help = "the table as JSON (format in the source's header comment)"},
    {"out", OPT_STR, O(ao.out_dir), .meta = "DIR",
     .help = "write DIR/ablate_topk.csv and DIR/table_answer_logprob.csv"},
    {0},
};
#undef O

const struct opt_cmd ablate_cmd = {
    "ablate",
    .synopsis = "--model MODEL --sae SAE [--layer L]   (under [mpirun -np N])\n"
                "           (--prompt TEXT | --arc TASK.json | --prompt-ids LIST)\n"
                "           --feature F[,F2...] [--error-term [without,with]]\n"
                "           (--answer TEXT | --answer-ids LIST) [--positions P1,P2...]\n"
                "           [--no-prepend-space] [--top K] [--json FILE] [--out DIR]",
    .about =
        "For each answer token, the top K next tokens and the answer token's rank, logit and\n"
        "probability (TransformerLens test_prompt), without and with the features ablated.\n"
        "--out writes ablate_topk.csv (condition,rank,token,prob) and table_answer_logprob.csv\n"
        "(condition,answer_tokens,logprob,first_token_rank,first_token_prob).\n",
    .size = sizeof(struct ablate_args),
    .groups = {{sae_session_model_opts, offsetof(struct ablate_args, s)},
               {sae_session_prompt_opts, offsetof(struct ablate_args, s)},
               {ablate_table, 0}},
};

static int parse(int argc, char **argv, struct sae_session_opts *o, struct ablate_opts *ao)
{
    struct ablate_args a;
    int rc = opt_parse(&ablate_cmd, argc, argv, &a);
    if (rc != OPT_RUN) return rc == 0 ? -1 : rc;
    if (sae_session_opts_saes(&a.s, "ablate", false) != 0) return 2;
    *o = a.s;
    *ao = a.ao;
    ao->with = a.error_term & 1;
    ao->without = a.error_term == 0 || (a.error_term & 2);
    const char *bad =
        !sae_cli_i64_list(a.features, 0, INT32_MAX, &ao->features, &ao->n_features) ? "--feature"
        : a.positions &&
                !sae_cli_i64_list(a.positions, 0, INT64_MAX, &ao->positions, &ao->n_positions)
            ? "--positions"
            : NULL;
    if (bad) {
        fprintf(stderr, "gsae ablate: %s '%s': expected comma-separated integers\n", bad,
                bad[2] == 'f' ? a.features : a.positions);
        return 2;
    }
    if ((ao->answer != NULL) == (ao->answer_ids != NULL)) {
        fprintf(stderr, "gsae ablate: --feature and one of --answer, --answer-ids are required\n");
        return 2;
    }
    return 0;
}

/* Rank of token (0 = largest; ties broken by lower id), its probability, the softmax sum. */
struct token_stats {
    int64_t rank;
    double logit, prob;
};

static struct token_stats stats_of(const float *l, int64_t V, int32_t token, double *log_z)
{
    *log_z = ops_log_sum_exp(l, V);
    struct token_stats t = {0, l[token], exp((double)l[token] - *log_z)};
    for (int64_t i = 0; i < V; i++)
        t.rank += l[i] > l[token] || (l[i] == l[token] && i < token);
    return t;
}

/* Top k ids of l by decreasing logit (lower id first on ties). */
static void top_ids(const float *l, int64_t V, int64_t k, int32_t *idx)
{
    int64_t m = 0;
    for (int64_t i = 0; i < V; i++) {
        int64_t j;
        if (m < k)
            j = m++;
        else if (l[i] > l[idx[k - 1]])
            j = k - 1;
        else
            continue;
        while (j > 0 && l[i] > l[idx[j - 1]]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = (int32_t)i;
    }
}

static json_t *side_json(const struct sae_session *s, const float *l, int32_t token, int64_t k,
                         const int32_t *idx)
{
    double log_z;
    struct token_stats t = stats_of(l, s->cfg.n_vocab, token, &log_z);
    json_t *top = json_array();
    for (int64_t j = 0; j < k; j++) {
        char *txt = sae_session_decode(s, &idx[j], 1);
        json_array_append_new(top, json_pack("{s:i, s:s, s:f, s:f}", "token", idx[j], "text",
                                             txt ? txt : "", "logit", (double)l[idx[j]], "prob",
                                             exp((double)l[idx[j]] - log_z)));
        free(txt);
    }
    return json_pack("{s:I, s:f, s:f, s:o}", "rank", (json_int_t)t.rank, "logit", t.logit, "prob",
                     t.prob, "top", top);
}

/* Rank 0: the side-by-side table, and the JSON document. */
static json_t *report(const struct sae_session *s, const struct ablate_opts *ao, const char *label,
                      const int32_t *answer, int64_t n_ans, const float *clean,
                      const float *ablated)
{
    const int64_t V = s->cfg.n_vocab, k = ao->top < V ? ao->top : V;
    int32_t *ic = malloc((size_t)k * sizeof *ic), *ia = malloc((size_t)k * sizeof *ia);
    json_t *rows = json_array();
    for (int64_t i = 0; ic && ia && i < n_ans; i++) {
        const float *lc = clean + i * V, *la = ablated + i * V;
        double zc, za;
        struct token_stats c = stats_of(lc, V, answer[i], &zc), a = stats_of(la, V, answer[i], &za);
        char *txt = sae_session_decode(s, &answer[i], 1);
        printf("\nanswer token %lld: %d |%s|\n", (long long)i, answer[i], txt ? txt : "?");
        printf("  %-38s %-38s\n", "clean", label);
        printf("  rank %-5lld logit %8.3f prob %6.2f%%     rank %-5lld logit %8.3f prob %6.2f%%\n",
               (long long)c.rank, c.logit, 100 * c.prob, (long long)a.rank, a.logit, 100 * a.prob);
        top_ids(lc, V, k, ic);
        top_ids(la, V, k, ia);
        for (int64_t j = 0; j < k; j++) {
            char *tc = sae_session_decode(s, &ic[j], 1), *ta = sae_session_decode(s, &ia[j], 1);
            printf("  %2lld. %8.3f %6.2f%% %-16.16s     %8.3f %6.2f%% %-16.16s\n", (long long)j,
                   (double)lc[ic[j]], 100 * exp((double)lc[ic[j]] - zc), tc ? tc : "?",
                   (double)la[ia[j]], 100 * exp((double)la[ia[j]] - za), ta ? ta : "?");
            free(tc);
            free(ta);
        }
        json_array_append_new(rows,
                              json_pack("{s:I, s:i, s:s, s:o, s:o}", "index",
                                        (json_int_t)(s->n_prompt + i), "token", answer[i], "text",
                                        txt ? txt : "", "clean", side_json(s, lc, answer[i], k, ic),
                                        "ablated", side_json(s, la, answer[i], k, ia)));
        free(txt);
    }
    free(ic);
    free(ia);
    return rows;
}

/* ablate_topk.csv rows of one condition: the top k next tokens after the prompt. */
static void topk_csv(struct csv_writer *f, const struct sae_session *s, const char *cond,
                     const float *l, int64_t k)
{
    const int64_t V = s->cfg.n_vocab;
    int32_t *idx = malloc((size_t)k * sizeof *idx);
    double log_z;
    if (!idx) return;
    stats_of(l, V, 0, &log_z);
    top_ids(l, V, k, idx);
    for (int64_t j = 0; j < k; j++) {
        char *txt = sae_session_decode(s, &idx[j], 1);
        csv_put_str(f, cond);
        csv_put_int(f, j + 1);
        csv_put_str(f, txt ? txt : "");
        csv_put_double(f, exp((double)l[idx[j]] - log_z));
        csv_end_row(f, false);
        free(txt);
    }
    free(idx);
}

/* table_answer_logprob.csv row: the answer's total log-probability under logits l. */
static void logprob_csv(struct csv_writer *f, const struct sae_session *s, const char *cond,
                        const float *l, const int32_t *answer, int64_t n_ans)
{
    const int64_t V = s->cfg.n_vocab;
    double total = 0, log_z;
    struct token_stats first = {0};
    for (int64_t i = 0; i < n_ans; i++) {
        struct token_stats t = stats_of(l + i * V, V, answer[i], &log_z);
        total += t.logit - log_z;
        if (i == 0) first = t;
    }
    csv_put_str(f, cond);
    csv_put_int(f, n_ans);
    csv_put_double(f, total);
    csv_put_int(f, first.rank);
    csv_put_double(f, first.prob);
    csv_end_row(f, false);
}

/* Rank 0: print, and write the JSON and CSV files. logits: clean then one block per condition,
 * each (n_ans, n_vocab). */
static enum gsae_status write_results(const struct sae_session *s, const struct ablate_opts *ao,
                                      const struct sae_session_opts *o, const int32_t *answer,
                                      int64_t n_ans, float *const *logits, char (*names)[128],
                                      const bool *with_err, int n_cond, struct gsae_error *err)
{
    const int64_t k = ao->top < s->cfg.n_vocab ? ao->top : s->cfg.n_vocab;
    printf("%s: %lld tokens; answer: %lld tokens; SAE at resid_post.%lld\n", s->prompt_name,
           (long long)s->n_prompt, (long long)n_ans, (long long)s->layer);
    json_t *conds = json_array();
    for (int c = 0; c < n_cond; c++) {
        printf("\n== %s\n", names[c]);
        json_t *rows = report(s, ao, names[c], answer, n_ans, logits[0], logits[c + 1]);
        json_array_append_new(conds, json_pack("{s:s, s:b, s:o}", "condition", names[c],
                                               "error_term", with_err[c], "answer", rows));
    }
    enum gsae_status st = GSAE_OK;
    if (ao->json_path) {
        json_t *fl = json_array(), *pl = ao->positions ? json_array() : json_string("all");
        for (int64_t i = 0; i < ao->n_features; i++)
            json_array_append_new(fl, json_integer(ao->features[i]));
        for (int64_t i = 0; ao->positions && i < ao->n_positions; i++)
            json_array_append_new(pl, json_integer(ao->positions[i]));
        json_t *doc =
            json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:s, s:I, s:O}", "command", "ablate", "model",
                      o->model_dir, "sae", o->sae_path, "layer", (json_int_t)s->layer, "features",
                      fl, "positions", pl, "prompt", s->prompt_name, "n_prompt",
                      (json_int_t)s->n_prompt, "conditions", conds);
        if (!doc || json_dump_file(doc, ao->json_path, JSON_INDENT(1)) != 0)
            st = gsae_fail(err, GSAE_EIO, "%s: cannot write", ao->json_path);
        json_decref(doc);
    }
    json_decref(conds);
    if (st != GSAE_OK || !ao->out_dir) return st;
    char p1[4096], p2[4096];
    snprintf(p1, sizeof p1, "%s/ablate_topk.csv", ao->out_dir);
    snprintf(p2, sizeof p2, "%s/table_answer_logprob.csv", ao->out_dir);
    struct csv_writer f1 = {0}, f2 = {0};
    st = csv_writer_open(&f1, p1, &results_ablate_topk, NULL, 0, false, err);
    if (st == GSAE_OK) st = csv_writer_open(&f2, p2, &results_answer_logprob, NULL, 0, false, err);
    for (int c = 0; st == GSAE_OK && c <= n_cond; c++) {
        const char *name = c == 0 ? "baseline" : names[c - 1];
        topk_csv(&f1, s, name, logits[c], k);
        logprob_csv(&f2, s, name, logits[c], answer, n_ans);
    }
    if (st == GSAE_OK) st = csv_writer_close(&f1, err);
    if (st == GSAE_OK) st = csv_writer_close(&f2, err);
    csv_writer_close(&f1, NULL);
    csv_writer_close(&f2, NULL);
    return st;
}

/* One prefill of prompt + answer with the ablation (iv on the owner; NULL: clean). */
static enum gsae_status run_condition(struct sae_session *s, const struct ablate_opts *ao,
                                      const int32_t *feats, bool error_term, const int32_t *tokens,
                                      int64_t n, const int64_t *rows, int64_t n_ans, float *logits,
                                      struct gsae_error *err)
{
    struct intervene iv = {0};
    struct intervene_spec spec = {.op = INTERVENE_ABLATE,
                                  .layer = s->layer,
                                  .ablate = feats,
                                  .n_ablate = ao->n_features,
                                  .error_term = error_term,
                                  .positions = ao->positions,
                                  .n_positions = ao->n_positions,
                                  .sae_bf16 = s->sae_bf16};
    enum gsae_status st = GSAE_OK;
    if (feats && s->owns_layer) st = intervene_init(&iv, &spec, s->sae, n, err);
    st = dist_agree(s->e.d.world, st, err);
    if (st == GSAE_OK)
        st = sae_session_logits(s, tokens, n, feats ? &iv : NULL, rows, n_ans, logits, err);
    intervene_free(&iv);
    return st;
}

/* The inputs of the runs: prompt + answer, the rows read, the conditions and their names. */
struct ablate_run {
    int32_t *tokens, *feats;
    int64_t n, *rows;
    float *logits[3]; /* clean, then one per condition: (n_ans, n_vocab) each */
    char names[2][128];
    bool with_err[2];
    int n_cond;
};

static void run_free(struct ablate_run *r)
{
    free(r->tokens);
    free(r->feats);
    free(r->rows);
    for (int c = 0; c < 3; c++)
        free(r->logits[c]);
    memset(r, 0, sizeof *r);
}

static enum gsae_status run_prepare(struct ablate_run *r, const struct sae_session *s,
                                    const struct ablate_opts *ao, const int32_t *answer,
                                    int64_t n_ans, struct gsae_error *err)
{
    const int64_t V = s->cfg.n_vocab;
    r->n = s->n_prompt + n_ans;
    r->tokens = malloc((size_t)r->n * sizeof *r->tokens);
    r->rows = malloc((size_t)n_ans * sizeof *r->rows);
    r->feats = malloc((size_t)ao->n_features * sizeof *r->feats);
    for (int c = 0; c < 3; c++)
        r->logits[c] = malloc((size_t)(n_ans * V) * sizeof(float));
    if (!r->tokens || !r->rows || !r->feats || !r->logits[0] || !r->logits[1] || !r->logits[2])
        return gsae_fail(err, GSAE_ENOMEM, "out of memory");
    memcpy(r->tokens, s->prompt, (size_t)s->n_prompt * sizeof *r->tokens);
    memcpy(r->tokens + s->n_prompt, answer, (size_t)n_ans * sizeof *r->tokens);
    for (int64_t i = 0; i < n_ans; i++)
        r->rows[i] = s->n_prompt + i - 1; /* the logits that predict answer token i */
    int at = 0;
    for (int64_t i = 0; i < ao->n_features; i++) {
        r->feats[i] = (int32_t)ao->features[i];
        if (at < 90) /* the name lists the first features only */
            at += snprintf(r->names[0] + at, sizeof r->names[0] - (size_t)at, "%s%d",
                           i ? "," : "ablate ", r->feats[i]);
    }
    snprintf(r->names[1], sizeof r->names[1], "%.100s + error", r->names[0]);
    if (ao->without) r->with_err[r->n_cond++] = false;
    if (ao->with) {
        if (r->n_cond == 0) memcpy(r->names[0], r->names[1], sizeof r->names[0]);
        r->with_err[r->n_cond++] = true;
    }
    return GSAE_OK;
}

int cmd_ablate(int argc, char **argv)
{
    struct sae_session_opts o = {.layer = -1};
    struct ablate_opts ao = {.top = 10};
    int rc = parse(argc, argv, &o, &ao);
    if (rc) {
        free(ao.features);
        free(ao.positions);
        return rc < 0 ? 0 : rc;
    }
    struct gsae_error err = {0};
    struct sae_session s;
    struct ablate_run r = {0};
    int32_t *answer = NULL;
    int64_t n_ans = 0;
    /* Every token covers at least one byte: the answer's bytes (plus the prepended space)
     * bound its token count, and so the positions the KV caches need. */
    int64_t max_ans = 2;
    if (ao.answer) max_ans += (int64_t)strlen(ao.answer);
    for (const char *c = ao.answer_ids; c && *c; c++)
        max_ans += *c == ',';
    enum gsae_status st = sae_session_open(&s, "ablate", &o, max_ans, &err);
    bool opened = st == GSAE_OK;
    if (st == GSAE_OK && s.n_prompts != 1)
        st = gsae_fail(&err, GSAE_EINVAL, "ablate takes one prompt, %lld were given",
                       (long long)s.n_prompts);
    if (st == GSAE_OK)
        st = sae_session_answer(&s, ao.answer, ao.answer_ids, ao.no_space, &answer, &n_ans, &err);
    for (int64_t i = 0; st == GSAE_OK && i < ao.n_features; i++)
        if (ao.features[i] >= s.d_sae)
            st = gsae_fail(&err, GSAE_EINVAL, "--feature %lld is outside the SAE's [0, %lld)",
                           (long long)ao.features[i], (long long)s.d_sae);
    if (st == GSAE_OK) st = run_prepare(&r, &s, &ao, answer, n_ans, &err);
    if (opened) st = dist_agree(s.e.d.world, st, &err);
    for (int c = 0; st == GSAE_OK && c <= r.n_cond; c++)
        st = run_condition(&s, &ao, c ? r.feats : NULL, c ? r.with_err[c - 1] : false, r.tokens,
                           r.n, r.rows, n_ans, r.logits[c], &err);
    if (st == GSAE_OK && s.e.d.rank == 0)
        st = write_results(&s, &ao, &o, answer, n_ans, r.logits, r.names, r.with_err, r.n_cond,
                           &err);
    if (st != GSAE_OK) cli_report("ablate", &err);
    free(answer);
    run_free(&r);
    free(ao.features);
    free(ao.positions);
    sae_session_close(&s);
    return st == GSAE_OK ? 0 : 1;
}
