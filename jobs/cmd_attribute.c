/* cmd_attribute.c: `gsae attribute`: which SAE features drive a metric of the model's logits,
 * by gradient, through the pipeline (src/attrib.h, mpi/pipe_attrib.h).
 *
 * The SAE is spliced in at resid_post.L with its error term, so the forward pass is the clean
 * one; g[p] = dM/dresid_post.L[p] comes back through the stages in reverse and the stage owning
 * L forms features[p, f] = acts[p, f] * (W_dec[f] . g[p]) and error[p] = err[p] . g[p]. The map
 * is collected on rank 0, which ranks the features by total |attribution| over positions and
 * prints the metric, the top K with their largest per-position values, and the error term's
 * share: sum |error| / (sum |features| + sum |error|). Metrics:
 *   logit-diff      logits[P, target] - logits[P, baseline] (P: --position, default the last)
 *   answer-logprob  the answer teacher-forced after the prompt: sum over its tokens of
 *                   log_softmax(logits[p - 1])[answer token at p]
 * --out DIR writes attribution.nc (io/attrib_nc.h), attribution_top.csv
 * (rank,feature,total_abs,sum,peak_position,peak_token,peak_value), attribution_strip.csv
 * (position,token,error,f<id>... : each top feature's attribution per position) and
 * attribution_meta.csv (key,value: model, sae, prompt, metric, metric_rule, layer,
 * metric_value, error_share, gsae_version), which the report reads. Every output is the same for
 * any rank count.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/attrib_nc.h"
#include "../io/results_schema.h"
#include "../mpi/pipe_attrib.h"
#include "../src/attrib.h"
#include "cli.h"
#include "commands.h"
#include "sae_cli.h"
#include "sae_session.h"

/* Per-position peaks printed for each top feature. */
#define N_PEAKS 3

struct attr_opts {
    const char *metric, *target, *baseline, *answer, *answer_ids, *out_dir;
    int64_t position, top;
    bool has_position;
};

struct attr_args {
    struct sae_session_opts s;
    struct attr_opts ao;
    int metric;
    uint64_t given;
};

static const struct opt_choice metrics[] = {{"logit-diff", 0}, {"answer-logprob", 1}, {0}};

#define O(f) offsetof(struct attr_args, f)
static const struct opt attribute_table[] = {
    {"metric", OPT_ENUM, O(metric), .choices = metrics, .flags = OPT_REQUIRED, .meta = "M",
     .help = "logit-diff or answer-logprob"},
    {"target", OPT_STR, O(ao.target), .meta = "TOK",
     .help = "logit-diff: the target token, an id or a text that is one token"},
    {"baseline", OPT_STR, O(ao.baseline), .meta = "TOK", .help = "logit-diff: the baseline token"},
    {"position", OPT_I64, O(ao.position), .min = -1099511627776.0, .max = 1099511627776.0,
     .meta = "P", .help = "logit-diff: the row read (default the last; negative from the end)"},
    {"answer", OPT_STR, O(ao.answer), .meta = "TEXT",
     .help = "answer-logprob: the answer, teacher-forced after the prompt"},
    {"answer-ids", OPT_STR, O(ao.answer_ids), .meta = "LIST",
     .help = "answer-logprob: the answer as token ids"},
    {"top", OPT_I64, O(ao.top), "10", 1, 1 << 20, .meta = "K", .help = "features listed"},
    {"top-k", OPT_I64, O(ao.top), .min = 1, .max = 1 << 20, .flags = OPT_HIDDEN, .meta = "K"},
    {"out", OPT_STR, O(ao.out_dir), .meta = "DIR",
     .help = "write attribution.nc, attribution_top.csv, _strip.csv and _meta.csv there"},
    {0},
};
#undef O

const struct opt_cmd attribute_cmd = {
    "attribute",
    .synopsis = "--model MODEL --sae SAE [--layer L]   (under [mpirun -np N])\n"
                "           (--prompt TEXT | --arc TASK.json | --prompt-ids LIST)\n"
                "           (--metric logit-diff --target TOK --baseline TOK [--position P] |\n"
                "            --metric answer-logprob (--answer TEXT | --answer-ids LIST))\n"
                "           [--top 10] [--out DIR]",
    .about =
        "Back-propagate a metric of the final logits to resid_post.L (SAE spliced in with its\n"
        "error term) and attribute it to SAE features: acts[p,f] * (W_dec[f] . dM/dresid[p]).\n"
        "Print the metric, the top features by total |attribution| over positions with their\n"
        "largest per-position values, and the error term's share of the total.\n",
    .size = sizeof(struct attr_args),
    .groups = {{sae_session_model_opts, offsetof(struct attr_args, s)},
               {sae_session_prompt_opts, offsetof(struct attr_args, s)},
               {attribute_table, 0}},
    .given = OPT_GIVEN(struct attr_args, given),
};

static int parse(int argc, char **argv, struct sae_session_opts *o, struct attr_opts *ao)
{
    struct attr_args a;
    int rc = opt_parse(&attribute_cmd, argc, argv, &a);
    if (rc != OPT_RUN) return rc == 0 ? -1 : rc;
    if (sae_session_opts_saes(&a.s, "attribute", false) != 0) return 2;
    *o = a.s;
    *ao = a.ao;
    ao->metric = metrics[a.metric].name;
    ao->has_position = opt_given(&attribute_cmd, &a, "position");
    const char *bad = NULL;
    if (!ao->metric)
        bad = "--metric logit-diff or --metric answer-logprob is required";
    else if (strcmp(ao->metric, "logit-diff") == 0) {
        if (!ao->target || !ao->baseline)
            bad = "--metric logit-diff needs --target and --baseline";
        else if (ao->answer || ao->answer_ids)
            bad = "--answer and --answer-ids go with --metric answer-logprob";
    } else if ((ao->answer != NULL) == (ao->answer_ids != NULL))
        bad = "--metric answer-logprob needs one of --answer, --answer-ids";
    else if (ao->target || ao->baseline || ao->has_position)
        bad = "--target, --baseline and --position go with --metric logit-diff";
    if (bad) {
        fprintf(stderr, "gsae attribute: %s\n", bad);
        return 2;
    }
    return 0;
}

/* A token given as an id or as a text that is exactly one token. */
static enum gsae_status token_of(struct sae_session *s, const char *what, const char *v,
                                 int32_t *out, struct gsae_error *err)
{
    int64_t id;
    if (v[0] >= '0' && v[0] <= '9' && sae_cli_i64(v, 0, s->cfg.n_vocab - 1, &id)) {
        *out = (int32_t)id;
        return GSAE_OK;
    }
    if (!s->has_tokenizer)
        return gsae_fail(err, GSAE_EINVAL, "%s '%s': not an id in [0, %lld) and no tokenizer", what,
                         v, (long long)s->cfg.n_vocab);
    int32_t *ids = NULL;
    int64_t n = 0;
    enum gsae_status st = sae_session_tokenize(s, v, false, &ids, &n, err);
    if (st == GSAE_OK && n != 1)
        st = gsae_fail(err, GSAE_EINVAL, "%s '%s' is %lld tokens, not one", what, v, (long long)n);
    if (st == GSAE_OK) *out = ids[0];
    free(ids);
    return st;
}

/* The collected map on rank 0. */
struct amap {
    int64_t n, d_sae, nnz;
    int64_t *row_ptr;
    int32_t *feature;
    float *act, *attr, *error;
    double metric;
};

static void amap_free(struct amap *m)
{
    free(m->row_ptr), free(m->feature), free(m->act), free(m->attr), free(m->error);
}

/* Forward, backward and combine through the pipeline; the map lands on rank 0. Collective. */
static enum gsae_status run_attrib(struct sae_session *s, const struct gemma_metric *m,
                                   const int32_t *tokens, int64_t n, struct amap *out,
                                   struct gsae_error *err)
{
    int64_t mb_first[2] = {0, 1};
    const int32_t *seqs[1] = {tokens};
    struct pipe_work work = {1, seqs, &n, 1, mb_first};
    struct pipe_attrib a;
    struct dist_blob mine[6] = {0};
    int64_t n_mine = 0;
    double metric = 0.0;
    bool have_metric = false;
    enum gsae_status st = pipe_attrib_open(&a, &s->e.p, s->layer, n, err);
    st = dist_agree(s->e.d.world, st, err);
    if (st == GSAE_OK) st = pipe_attrib_forward(&a, &s->e.p, &work, err);
    if (st == GSAE_OK) st = pipe_attrib_backward(&a, &s->e.p, m, &metric, &have_metric, err);
    if (st == GSAE_OK && a.owner) {
        st = pipe_attrib_blobs(&a, s->sae, mine, err);
        n_mine = 5;
    }
    if (st == GSAE_OK && have_metric) {
        /* the metric in double as two floats: hi + lo */
        struct dist_blob *b = &mine[n_mine++];
        snprintf(b->name, sizeof b->name, "metric");
        b->n = 2;
        if (!(b->data = malloc(2 * sizeof(float))))
            st = gsae_fail(err, GSAE_ENOMEM, "out of memory");
        else {
            b->data[0] = (float)metric;
            b->data[1] = (float)(metric - (double)b->data[0]);
        }
    }
    pipe_attrib_close(&a);
    st = dist_agree(s->e.d.world, st, err);
    struct dist_blob *all = NULL;
    int64_t n_all = 0;
    if (st == GSAE_OK) st = dist_collect(&s->e.d, mine, n_mine, &all, &n_all, err);
    for (int64_t k = 0; k < n_mine; k++)
        free(mine[k].data);
    if (st != GSAE_OK || s->e.d.rank != 0) {
        dist_blobs_free(all, n_all);
        return st;
    }
    const struct dist_blob *b[6] = {0};
    const char *names[6] = {"count", "feature", "act", "attr", "error", "metric"};
    for (int64_t i = 0; i < n_all; i++)
        for (int k = 0; k < 6; k++)
            if (!b[k] && strcmp(all[i].name, names[k]) == 0) b[k] = &all[i];
    for (int k = 0; k < 6; k++)
        if (!b[k])
            st = gsae_fail(err, GSAE_EINVAL, "attribute: no '%s' from the pipeline", names[k]);
    int64_t nnz = b[1] ? b[1]->n : 0;
    *out = (struct amap){.n = n, .d_sae = s->d_sae, .nnz = nnz};
    if (st == GSAE_OK) {
        out->metric = (double)b[5]->data[0] + (double)b[5]->data[1];
        out->row_ptr = malloc((size_t)(n + 1) * sizeof *out->row_ptr);
        out->feature = malloc((size_t)(nnz + 1) * sizeof *out->feature);
        out->act = malloc((size_t)(nnz + 1) * sizeof(float));
        out->attr = malloc((size_t)(nnz + 1) * sizeof(float));
        out->error = malloc((size_t)n * sizeof(float));
        if (!out->row_ptr || !out->feature || !out->act || !out->attr || !out->error)
            st = gsae_fail(err, GSAE_ENOMEM, "out of memory");
    }
    if (st == GSAE_OK) {
        out->row_ptr[0] = 0;
        for (int64_t r = 0; r < n; r++)
            out->row_ptr[r + 1] = out->row_ptr[r] + (int64_t)b[0]->data[r];
        for (int64_t e = 0; e < nnz; e++)
            out->feature[e] = (int32_t)b[1]->data[e];
        memcpy(out->act, b[2]->data, (size_t)nnz * sizeof(float));
        memcpy(out->attr, b[3]->data, (size_t)nnz * sizeof(float));
        memcpy(out->error, b[4]->data, (size_t)n * sizeof(float));
    }
    dist_blobs_free(all, n_all);
    return st;
}

/* Ranking: total |attribution| per feature, the top features and the sums. */
struct ranking {
    double *total_abs, *sum; /* (d_sae) */
    int64_t *top, n_top;
    double feat_abs, err_abs, feat_sum, err_sum, error_share;
};

static const double *cmp_key;
static int by_total(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    if (cmp_key[a] != cmp_key[b]) return cmp_key[a] > cmp_key[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

static enum gsae_status rank_features(const struct amap *m, int64_t k, struct ranking *r,
                                      struct gsae_error *err)
{
    memset(r, 0, sizeof *r);
    r->total_abs = calloc((size_t)m->d_sae, sizeof(double));
    r->sum = calloc((size_t)m->d_sae, sizeof(double));
    int64_t *idx = malloc((size_t)m->d_sae * sizeof *idx);
    if (!r->total_abs || !r->sum || !idx) {
        free(idx);
        return gsae_fail(err, GSAE_ENOMEM, "out of memory");
    }
    for (int64_t e = 0; e < m->nnz; e++) { /* position order: deterministic sums */
        r->total_abs[m->feature[e]] += fabs((double)m->attr[e]);
        r->sum[m->feature[e]] += m->attr[e];
        r->feat_abs += fabs((double)m->attr[e]);
        r->feat_sum += m->attr[e];
    }
    for (int64_t p = 0; p < m->n; p++) {
        r->err_abs += fabs((double)m->error[p]);
        r->err_sum += m->error[p];
    }
    double tot = r->feat_abs + r->err_abs;
    r->error_share = tot > 0 ? r->err_abs / tot : 0.0;
    int64_t n_act = 0;
    for (int64_t f = 0; f < m->d_sae; f++)
        if (r->total_abs[f] > 0) idx[n_act++] = f;
    cmp_key = r->total_abs;
    qsort(idx, (size_t)n_act, sizeof *idx, by_total);
    r->n_top = n_act < k ? n_act : k;
    r->top = idx;
    return GSAE_OK;
}

static void ranking_free(struct ranking *r)
{
    free(r->total_abs), free(r->sum), free(r->top);
}

/* Attribution of feature f at position p (0 when not active there). */
static float attr_at(const struct amap *m, int64_t p, int64_t f)
{
    for (int64_t e = m->row_ptr[p]; e < m->row_ptr[p + 1]; e++)
        if (m->feature[e] == f) return m->attr[e];
    return 0.0f;
}

/* The n_peak positions of f with the largest |attribution| (earlier first on ties). */
static int64_t peaks_of(const struct amap *m, int64_t f, int64_t *pos, int64_t n_peak)
{
    int64_t k = 0;
    for (int64_t p = 0; p < m->n; p++) {
        float v = fabsf(attr_at(m, p, f));
        if (v == 0.0f) continue;
        int64_t j = k < n_peak ? k++ : n_peak;
        while (j > 0 && fabsf(attr_at(m, pos[j - 1], f)) < v) {
            if (j < n_peak) pos[j] = pos[j - 1];
            j--;
        }
        if (j < n_peak) pos[j] = p;
    }
    return k;
}

/* Printable token text: control bytes and newlines escaped. */
static void put_token(FILE *f, const char *t)
{
    for (const unsigned char *c = (const unsigned char *)t; *c; c++) {
        if (*c == '\n')
            fputs("\\n", f);
        else if (*c < 0x20 || *c == 0x7f)
            fprintf(f, "\\x%02x", *c);
        else
            fputc(*c, f);
    }
}

static char *token_text_escaped(const char *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    put_token(f, t);
    fclose(f);
    return buf;
}

static void print_result(const struct amap *m, const struct ranking *r, char *const *text,
                         const char *metric_name, const char *rule)
{
    printf("metric %s = %.6f   (%s)\n", metric_name, m->metric, rule);
    printf("attribution: features %+.6f, error term %+.6f; error share %.1f%% of total "
           "|attribution|\n",
           r->feat_sum, r->err_sum, 100.0 * r->error_share);
    printf("top %lld features by total |attribution| over %lld positions:\n", (long long)r->n_top,
           (long long)m->n);
    printf("%4s %8s %12s %12s  peaks (position 'token' value)\n", "rank", "feature", "total_abs",
           "sum");
    for (int64_t i = 0; i < r->n_top; i++) {
        int64_t f = r->top[i], pos[N_PEAKS];
        int64_t k = peaks_of(m, f, pos, N_PEAKS);
        printf("%4lld %8lld %12.6f %+12.6f ", (long long)(i + 1), (long long)f, r->total_abs[f],
               r->sum[f]);
        for (int64_t j = 0; j < k; j++) {
            printf(" %lld '", (long long)pos[j]);
            put_token(stdout, text[pos[j]]);
            printf("' %+.6f", attr_at(m, pos[j], f));
        }
        printf("\n");
    }
    fflush(stdout);
}

static enum gsae_status write_csvs(const char *dir, const struct amap *m, const struct ranking *r,
                                   char *const *text, struct gsae_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/attribution_top.csv", dir);
    struct csv_writer w;
    enum gsae_status st = csv_writer_open(&w, path, &results_attribution_top, NULL, 0, false, err);
    if (st != GSAE_OK) return st;
    for (int64_t i = 0; i < r->n_top; i++) {
        int64_t fe = r->top[i], pos[1];
        peaks_of(m, fe, pos, 1);
        csv_put_int(&w, i + 1);
        csv_put_int(&w, fe);
        csv_put_double(&w, r->total_abs[fe]);
        csv_put_double(&w, r->sum[fe]);
        csv_put_int(&w, pos[0]);
        char *t = token_text_escaped(text[pos[0]]);
        csv_put_str(&w, t ? t : "");
        free(t);
        csv_put_double(&w, (double)attr_at(m, pos[0], fe));
        csv_end_row(&w, false);
    }
    if ((st = csv_writer_close(&w, err)) != GSAE_OK) return st;
    snprintf(path, sizeof path, "%s/attribution_strip.csv", dir);
    char **names = csv_names_numbered("f", r->top, r->n_top);
    st = names ? csv_writer_open(&w, path, &results_attribution_strip, (const char *const *)names,
                                 r->n_top, false, err)
               : gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
    free(names);
    if (st != GSAE_OK) return st;
    for (int64_t p = 0; p < m->n; p++) {
        csv_put_int(&w, p);
        char *t = token_text_escaped(text[p]);
        csv_put_str(&w, t ? t : "");
        free(t);
        csv_put_double(&w, (double)m->error[p]);
        for (int64_t i = 0; i < r->n_top; i++)
            csv_put_double(&w, (double)attr_at(m, p, r->top[i]));
        csv_end_row(&w, false);
    }
    return csv_writer_close(&w, err);
}

/* attribution_meta.csv: key,value lines saying what was computed and its totals. */
static enum gsae_status write_meta(const char *dir, const struct attrib_nc_meta *m,
                                   struct gsae_error *err)
{
    char path[4200], layer[32], value[64], share[64];
    snprintf(path, sizeof path, "%s/attribution_meta.csv", dir);
    struct csv_writer w;
    enum gsae_status st = csv_writer_open(&w, path, &results_attribution_meta, NULL, 0, false, err);
    if (st != GSAE_OK) return st;
    snprintf(layer, sizeof layer, "%lld", (long long)m->layer);
    snprintf(value, sizeof value, "%.9g", m->metric_value);
    snprintf(share, sizeof share, "%.6f", m->error_share);
    const char *keys[] = {"model", "sae",          "prompt",      "metric",      "metric_rule",
                          "layer", "metric_value", "error_share", "gsae_version"};
    const char *vals[] = {m->model, m->sae, m->prompt, m->metric,     m->metric_rule,
                          layer,    value,  share,     gsae_version()};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        csv_put_str(&w, keys[i]);
        csv_put_str(&w, vals[i] ? vals[i] : "");
        csv_end_row(&w, false);
    }
    return csv_writer_close(&w, err);
}

/* Rank 0: print, and write the files when asked. */
static enum gsae_status report(struct sae_session *s, const struct sae_session_opts *o,
                               const struct attr_opts *ao, const struct gemma_metric *gm,
                               const int32_t *tokens, const struct amap *m, struct gsae_error *err)
{
    struct ranking r;
    enum gsae_status st = rank_features(m, ao->top, &r, err);
    char **text = calloc((size_t)m->n, sizeof *text);
    if (st == GSAE_OK && !text) st = gsae_fail(err, GSAE_ENOMEM, "out of memory");
    for (int64_t p = 0; st == GSAE_OK && p < m->n; p++)
        if (!(text[p] = sae_session_decode(s, tokens + p, 1)))
            st = gsae_fail(err, GSAE_ENOMEM, "out of memory");
    bool ld = gm->kind == GEMMA_METRIC_LOGIT_DIFF;
    char rule[256];
    if (ld)
        snprintf(rule, sizeof rule, "logits[%lld, %d] - logits[%lld, %d]", (long long)gm->position,
                 gm->target, (long long)gm->position, gm->baseline);
    else
        snprintf(rule, sizeof rule,
                 "sum over p in [%lld, %lld] of log_softmax(logits[p - 1])[tokens[p]]",
                 (long long)gm->first, (long long)gm->last);
    const char *name = ld ? "logit_diff" : "answer_logprob";
    if (st == GSAE_OK) print_result(m, &r, text, name, rule);
    if (st == GSAE_OK && ao->out_dir) {
        if (mkdir(ao->out_dir, 0777) != 0 && errno != EEXIST)
            st = gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", ao->out_dir, strerror(errno));
        struct attrib_nc_meta meta = {.model = o->model_dir,
                                      .sae = o->sae_path,
                                      .prompt = s->prompt_name,
                                      .metric = name,
                                      .metric_rule = rule,
                                      .layer = s->layer,
                                      .metric_value = m->metric,
                                      .error_share = r.error_share,
                                      .target = ld ? gm->target : -1,
                                      .baseline = ld ? gm->baseline : -1,
                                      .position = ld ? gm->position : -1,
                                      .answer_first = ld ? -1 : gm->first,
                                      .answer_last = ld ? -1 : gm->last};
        struct attrib_nc_map map = {.n_pos = m->n,
                                    .d_sae = m->d_sae,
                                    .nnz = m->nnz,
                                    .tokens = tokens,
                                    .text = (const char *const *)text,
                                    .row_ptr = m->row_ptr,
                                    .feature = m->feature,
                                    .act = m->act,
                                    .attr = m->attr,
                                    .error = m->error,
                                    .total_abs = r.total_abs,
                                    .top = r.top,
                                    .n_top = r.n_top};
        char path[4200];
        snprintf(path, sizeof path, "%s/attribution.nc", ao->out_dir);
        if (st == GSAE_OK) st = attrib_nc_write(path, &meta, &map, err);
        if (st == GSAE_OK) st = write_csvs(ao->out_dir, m, &r, text, err);
        if (st == GSAE_OK) st = write_meta(ao->out_dir, &meta, err);
    }
    for (int64_t p = 0; text && p < m->n; p++)
        free(text[p]);
    free(text);
    ranking_free(&r);
    return st;
}

int cmd_attribute(int argc, char **argv)
{
    struct sae_session_opts o = {.layer = -1};
    struct attr_opts ao = {.top = 10};
    int rc = parse(argc, argv, &o, &ao);
    if (rc) return rc < 0 ? 0 : rc;
    /* every token covers at least one byte: the answer's bytes bound its token count */
    int64_t max_ans = 0;
    if (ao.answer) max_ans = 2 + (int64_t)strlen(ao.answer);
    if (ao.answer_ids) max_ans = 2;
    for (const char *c = ao.answer_ids; c && *c; c++)
        max_ans += *c == ',';
    struct gsae_error err = {0};
    struct sae_session s;
    int32_t *answer = NULL, *tokens = NULL;
    int64_t n_ans = 0, n = 0;
    struct gemma_metric gm = {0};
    struct amap m = {0};
    enum gsae_status st = sae_session_open(&s, "attribute", &o, max_ans, &err);
    bool opened = st == GSAE_OK;
    if (st == GSAE_OK && s.n_prompts != 1)
        st = gsae_fail(&err, GSAE_EINVAL, "attribute takes one prompt, %lld were given",
                       (long long)s.n_prompts);
    bool ld = strcmp(ao.metric, "logit-diff") == 0;
    if (st == GSAE_OK && !ld)
        st = sae_session_answer(&s, ao.answer, ao.answer_ids, false, &answer, &n_ans, &err);
    if (st == GSAE_OK) {
        n = s.n_prompt + n_ans;
        if (!(tokens = malloc((size_t)n * sizeof *tokens)))
            st = gsae_fail(&err, GSAE_ENOMEM, "out of memory");
    }
    if (st == GSAE_OK) {
        memcpy(tokens, s.prompt, (size_t)s.n_prompt * sizeof *tokens);
        if (n_ans) memcpy(tokens + s.n_prompt, answer, (size_t)n_ans * sizeof *tokens);
        if (ld) {
            gm.kind = GEMMA_METRIC_LOGIT_DIFF;
            gm.position = !ao.has_position  ? n - 1
                          : ao.position < 0 ? n + ao.position
                                            : ao.position;
            st = token_of(&s, "--target", ao.target, &gm.target, &err);
            if (st == GSAE_OK) st = token_of(&s, "--baseline", ao.baseline, &gm.baseline, &err);
        } else {
            gm = (struct gemma_metric){.kind = GEMMA_METRIC_ANSWER_LOGPROB,
                                       .first = s.n_prompt,
                                       .last = n - 1,
                                       .tokens = tokens};
        }
    }
    if (st == GSAE_OK) st = gemma_metric_check(&gm, n, s.cfg.n_vocab, &err);
    if (opened) st = dist_agree(s.e.d.world, st, &err);
    if (st == GSAE_OK) st = run_attrib(&s, &gm, tokens, n, &m, &err);
    if (st == GSAE_OK && s.e.d.rank == 0) st = report(&s, &o, &ao, &gm, tokens, &m, &err);
    if (opened) st = dist_agree(s.e.d.world, st, &err);
    if (st != GSAE_OK) cli_report("attribute", &err);
    amap_free(&m);
    free(answer);
    free(tokens);
    sae_session_close(&s);
    return st == GSAE_OK ? 0 : 1;
}
