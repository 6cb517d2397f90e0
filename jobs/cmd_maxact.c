/* cmd_maxact.c: `gsae maxact STORE --feature F`: a feature's statistics and its max-activating
 * examples from the store's feature_stats.nc (written by gsae harvest in one pass over the
 * corpus), with the context rendered as text by the tokenizer; --out writes them as CSV. */
#include <mpi.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/featstats_nc.h"
#include "../io/results_schema.h"
#include "../io/store.h"
#include "../io/tokenizer_load.h"
#include "../src/tokenizer.h"
#include "cli.h"
#include "commands.h"
#include "featdash.h"
#include "opt.h"
#include "sae_cli.h"

struct maxact_opts {
    const char *store, *feature, *tokenizer, *out, *tokens_out, *logits_out, *model, *sae;
    int64_t top, context, logits;
};

#define O(f) offsetof(struct maxact_opts, f)
static const struct opt maxact_opts[] = {
    {"store", OPT_STR, O(store), .flags = OPT_POS | OPT_REQUIRED, .meta = "STORE",
     .help = "the harvested store (or as the first word)"},
    {"feature", OPT_STR, O(feature), .meta = "F[,F...]", .help = "features to show"},
    {"top", OPT_I64, O(top), "20", 1, 1024, .meta = "N", .help = "examples per feature"},
    {"context", OPT_I64, O(context), "12", 0, 1024, .meta = "C",
     .help = "context tokens on each side"},
    {"tokenizer", OPT_STR, O(tokenizer), .meta = "PATH",
     .help = "tokenizer.json(.zst) (default: the store's model's)"},
    {"out", OPT_STR, O(out), .meta = "CSV", .help = "write the examples as CSV"},
    {"tokens-out", OPT_STR, O(tokens_out), .meta = "CSV",
     .help = "write every context token of the examples as CSV"},
    {"logits-out", OPT_STR, O(logits_out), .meta = "CSV",
     .help = "write the features' logit effects as CSV (needs --model, --sae)"},
    {"model", OPT_STR, O(model), .meta = "MODEL", .help = "the model (for --logits-out)"},
    {"sae", OPT_STR, O(sae), .meta = "SAE", .help = "the SAE (for --logits-out)"},
    {"logits", OPT_I64, O(logits), .min = 1, .max = 100000, .meta = "K",
     .help = "logit effects per sign (for --logits-out; default 10)"},
    {0},
};
#undef O

const struct opt_cmd maxact_cmd = {
    "maxact",
    .about =
        "Max-activating examples of features from STORE/feature_stats.nc: fire count, frequency,\n"
        "mean and max activation, the activation histogram, and the top N examples with C tokens\n"
        "of context on each side (at most what the harvest kept). Text needs the tokenizer\n"
        "(default: the tokenizer.json of the store's model, when present); without one, ids are\n"
        "shown. --out writes feature,rank,activation,doc,pos,left,token,right for the chosen\n"
        "features (all that fired when --feature is not given). --tokens-out writes one row per\n"
        "context token of each of those examples, feature,rank,offset,token_id,text,activation\n"
        "(offset from the max-activating token, 0 = that token; activation = the feature's value\n"
        "on the token, read from the store's parts). --logits-out writes the features' top K\n"
        "(default 10) positive and negative logit effects, W_dec[f] . W_U with the final norm\n"
        "folded in, from MODEL's tied embedding: feature,sign,rank,token_id,text,value (sign pos\n"
        "or neg, rank from 0). Under mpirun only rank 0 works.\n",
    .size = sizeof(struct maxact_opts),
    .groups = {{maxact_opts, 0}},
};

struct maxact {
    struct featstats fs;
    struct tokenizer tk;
    bool has_tk;
    int64_t top, context, logits;
};

/* Text of ids (those >= 0), with control characters escaped; malloc'd. */
static char *render(const struct maxact *m, const int32_t *ids, int64_t n)
{
    struct tokenizer_text t = {0};
    struct gsae_error err;
    int32_t *kept = malloc((size_t)(n + 1) * sizeof *kept);
    int64_t k = 0;
    for (int64_t i = 0; kept && i < n; i++)
        if (ids[i] >= 0) kept[k++] = ids[i];
    char *out = NULL;
    if (kept && m->has_tk &&
        tokenizer_decode(&m->tk, kept, (size_t)k, false, &t, &err) == GSAE_OK) {
        out = malloc(4 * t.len + 1);
        size_t o = 0;
        for (size_t i = 0; out && i < t.len; i++) {
            char c = t.data[i];
            if (c == '\n' || c == '\t' || c == '\r') {
                out[o++] = '\\';
                out[o++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
            } else {
                out[o++] = c;
            }
        }
        if (out) out[o] = '\0';
    } else if (kept) {
        out = malloc((size_t)k * 12 + 3);
        size_t o = 0;
        for (int64_t i = 0; out && i < k; i++)
            o += (size_t)sprintf(out + o, "%s%d", i ? " " : "", kept[i]);
        if (out) out[o] = '\0';
    }
    tokenizer_text_free(&t);
    free(kept);
    return out ? out : calloc(1, 1);
}

/* The example's left context, token and right context. */
static void example_parts(const struct maxact *m, int64_t f, int64_t j, char **left, char **tok,
                          char **right)
{
    const struct featstats *fs = &m->fs;
    const int32_t *c = fs->top_ctx + (f * fs->cfg.top_k + j) * fs->ctx_len;
    int64_t b = fs->cfg.ctx_before, a = fs->cfg.ctx_after;
    int64_t nb = m->context < b ? m->context : b, na = m->context < a ? m->context : a;
    *left = render(m, c + b - nb, nb);
    *tok = render(m, c + b, 1);
    *right = render(m, c + b + 1, na);
}

static void print_feature(const struct maxact *m, int64_t f)
{
    const struct featstats *fs = &m->fs;
    double n = (double)fs->n_tokens, fired = (double)fs->fire_count[f];
    printf("feature %lld: fired on %lld of %lld tokens (frequency %.6g), mean activation %.6g\n",
           (long long)f, (long long)fs->fire_count[f], (long long)fs->n_tokens,
           n > 0 ? fired / n : 0.0, fired > 0 ? featstats_sum(fs, f) / fired : 0.0);
    if (fs->top_n[f] > 0) {
        const struct featstats_example *e = &fs->top[f * fs->cfg.top_k];
        printf("max activation %.6g at doc %lld pos %lld\nhistogram (lower edge: count):",
               (double)e->value, (long long)e->doc, (long long)e->pos);
        for (int64_t b = 0; b < FEATSTATS_HIST_BINS; b++)
            if (fs->hist[f * FEATSTATS_HIST_BINS + b])
                printf(" %.3g:%lld", featstats_hist_lower(b),
                       (long long)fs->hist[f * FEATSTATS_HIST_BINS + b]);
        putchar('\n');
    }
    for (int64_t j = 0; j < fs->top_n[f] && j < m->top; j++) {
        const struct featstats_example *e = &fs->top[f * fs->cfg.top_k + j];
        char *l, *t, *r;
        example_parts(m, f, j, &l, &t, &r);
        printf("%3lld. %-10.6g doc %-8lld pos %-6lld %s[[%s]]%s\n", (long long)j + 1,
               (double)e->value, (long long)e->doc, (long long)e->pos, l, t, r);
        free(l);
        free(t);
        free(r);
    }
}

/* A token's text for CSV: decoded, with \n \t \r escaped as in render(). */
static char *token_cell(const struct maxact *m, int32_t id)
{
    char *t = featdash_token_text(m->has_tk ? &m->tk : NULL, id);
    char *out = t ? malloc(2 * strlen(t) + 1) : NULL;
    size_t o = 0;
    for (const char *c = t; out && *c; c++) {
        if (*c == '\n' || *c == '\t' || *c == '\r') {
            out[o++] = '\\';
            out[o++] = *c == '\n' ? 'n' : *c == '\t' ? 't' : 'r';
        } else {
            out[o++] = *c;
        }
    }
    if (out) out[o] = '\0';
    free(t);
    return out ? out : calloc(1, 1);
}

/* Close w; on failure say so. Returns 0 or 1. */
static int close_csv(struct csv_writer *w)
{
    struct gsae_error err = {0};
    if (csv_writer_close(w, &err) == GSAE_OK) return 0;
    cli_report("maxact", &err);
    return 1;
}

static int open_csv(struct csv_writer *w, const char *path, const struct csv_schema *schema)
{
    struct gsae_error err = {0};
    if (csv_writer_open(w, path, schema, NULL, 0, false, &err) == GSAE_OK) return 0;
    cli_report("maxact", &err);
    return 1;
}

static int write_csv(const struct maxact *m, const char *path, const int64_t *features,
                     int64_t n_features)
{
    struct csv_writer w;
    if (open_csv(&w, path, &results_maxact)) return 1;
    const struct featstats *fs = &m->fs;
    int64_t n = n_features > 0 ? n_features : fs->cfg.d_sae;
    for (int64_t i = 0; i < n; i++) {
        int64_t feat = n_features > 0 ? features[i] : i;
        for (int64_t j = 0; j < fs->top_n[feat] && j < m->top; j++) {
            const struct featstats_example *e = &fs->top[feat * fs->cfg.top_k + j];
            char *l, *t, *r;
            example_parts(m, feat, j, &l, &t, &r);
            csv_put_int(&w, feat);
            csv_put_int(&w, j + 1);
            csv_put_double(&w, (double)e->value);
            csv_put_int(&w, e->doc);
            csv_put_int(&w, e->pos);
            csv_put_str(&w, l);
            csv_put_str(&w, t);
            csv_put_str(&w, r);
            csv_end_row(&w, false);
            free(l);
            free(t);
            free(r);
        }
    }
    return close_csv(&w);
}

/* The chosen features, or all that fired. */
static int64_t *chosen(const struct maxact *m, const int64_t *features, int64_t n_features,
                       int64_t *n)
{
    const struct featstats *fs = &m->fs;
    int64_t *out = malloc((size_t)(n_features > 0 ? n_features : fs->cfg.d_sae) * sizeof *out);
    *n = 0;
    for (int64_t i = 0; out && i < (n_features > 0 ? n_features : fs->cfg.d_sae); i++)
        if (n_features > 0 || fs->top_n[i] > 0) out[(*n)++] = n_features > 0 ? features[i] : i;
    return out;
}

static int write_tokens_csv(const struct maxact *m, const char *store, const char *path,
                            const int64_t *feats, int64_t n)
{
    const struct featstats *fs = &m->fs;
    int64_t before = m->context < fs->cfg.ctx_before ? m->context : fs->cfg.ctx_before;
    int64_t after = m->context < fs->cfg.ctx_after ? m->context : fs->cfg.ctx_after;
    int64_t len = before + 1 + after;
    int32_t *ids = NULL;
    float *acts = NULL;
    if (featdash_contexts("maxact", store, fs, feats, n, m->top, before, after, &ids, &acts))
        return 1;
    struct csv_writer w;
    if (open_csv(&w, path, &results_maxact_tokens)) {
        free(ids);
        free(acts);
        return 1;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < fs->top_n[feats[i]] && j < m->top; j++)
            for (int64_t s = 0; s < len; s++) {
                int64_t at = (i * m->top + j) * len + s;
                if (ids[at] < 0) continue;
                char *t = token_cell(m, ids[at]);
                csv_put_int(&w, feats[i]);
                csv_put_int(&w, j + 1);
                csv_put_int(&w, s - before);
                csv_put_int(&w, ids[at]);
                csv_put_str(&w, t);
                csv_put_double(&w, (double)acts[at]);
                csv_end_row(&w, false);
                free(t);
            }
    free(ids);
    free(acts);
    return close_csv(&w);
}

static int write_logits_csv(const struct maxact *m, const char *model, const char *sae,
                            const char *path, const int64_t *feats, int64_t n)
{
    struct csv_writer w;
    if (n == 0) return open_csv(&w, path, &results_logit_effects) || close_csv(&w);
    struct logit_effects le;
    if (featdash_logits("maxact", model, sae, feats, n, m->logits, &le, NULL)) return 1;
    if (open_csv(&w, path, &results_logit_effects)) {
        logit_effects_free(&le);
        return 1;
    }
    for (int64_t i = 0; i < n; i++)
        for (int sign = 0; sign < 2; sign++)
            for (int64_t r = 0; r < le.n_top; r++) {
                int32_t id = sign == 0 ? le.pos_id[i * le.k + r] : le.neg_id[i * le.k + r];
                double v = sign == 0 ? le.pos_value[i * le.k + r] : le.neg_value[i * le.k + r];
                char *t = token_cell(m, id);
                csv_put_int(&w, feats[i]);
                csv_put_str(&w, sign == 0 ? "pos" : "neg");
                csv_put_int(&w, r);
                csv_put_int(&w, id);
                csv_put_str(&w, t);
                csv_put_double(&w, v);
                csv_end_row(&w, false);
                free(t);
            }
    logit_effects_free(&le);
    return close_csv(&w);
}

/* The store's model directory (part attribute "model") may hold tokenizer.json. */
static const char *guess_tokenizer(const char *store, char *buf, size_t size)
{
    char manifest[4200];
    snprintf(manifest, sizeof manifest, "%s/part-00000.nc", store);
    FILE *probe = fopen(manifest, "rb");
    if (!probe) return NULL;
    fclose(probe);
    char *text = NULL;
    struct gsae_error err;
    if (store_part_describe(manifest, &text, &err) != GSAE_OK) return NULL;
    const char *at = strstr(text, "\nmodel = ");
    const char *found = NULL;
    if (at) {
        at += 9;
        size_t len = strcspn(at, "\n");
        snprintf(buf, size, "%.*s/tokenizer.json", (int)len, at);
        struct stat sb;
        if (stat(buf, &sb) == 0) found = buf;
    }
    free(text);
    return found;
}

static int parse_features(const char *spec, int64_t d_sae, int64_t **out, int64_t *n)
{
    *n = 0;
    *out = malloc((strlen(spec) / 2 + 2) * sizeof **out);
    char *copy = strdup(spec), *save = NULL;
    if (!*out || !copy) {
        free(copy);
        return 1;
    }
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int64_t v;
        if (!sae_cli_i64(t, 0, d_sae - 1, &v)) {
            fprintf(stderr, "gsae maxact: feature '%s' is not in 0..%lld\n", t,
                    (long long)d_sae - 1);
            free(copy);
            return 1;
        }
        (*out)[(*n)++] = v;
    }
    free(copy);
    return 0;
}

int cmd_maxact(int argc, char **argv)
{
    struct maxact_opts o;
    int prc = opt_parse(&maxact_cmd, argc, argv, &o);
    if (prc != OPT_RUN) return prc;
    const char *store = o.store, *feature = o.feature, *tok_path = o.tokenizer, *out = o.out;
    const char *tokens_out = o.tokens_out, *logits_out = o.logits_out, *model = o.model;
    const char *sae = o.sae;
    struct maxact m = {.top = o.top, .context = o.context, .logits = o.logits ? o.logits : 10};
    if (!logits_out && (model || sae || o.logits)) {
        fprintf(stderr,
                "gsae maxact: --model, --sae and --logits are used only with --logits-out\n");
        return 2;
    }
    if (logits_out && (!model || !sae)) {
        fprintf(stderr, "gsae maxact: --logits-out needs --model and --sae\n");
        return 2;
    }
    if (cli_world_rank() != 0) return 0;
    char path[4200], guess[4200];
    snprintf(path, sizeof path, "%s/feature_stats.nc", store);
    struct gsae_error err;
    if (featstats_nc_read(path, &m.fs, &err) != GSAE_OK) {
        cli_report("maxact", &err);
        return 1;
    }
    if (!tok_path) tok_path = guess_tokenizer(store, guess, sizeof guess);
    int rc = 0;
    if (tok_path) {
        if (tokenizer_load(&m.tk, tok_path, &err) != GSAE_OK) {
            cli_report("maxact", &err);
            rc = 1;
        } else {
            m.has_tk = true;
        }
    }
    int64_t *features = NULL, n_features = 0;
    if (rc == 0 && feature) rc = parse_features(feature, m.fs.cfg.d_sae, &features, &n_features);
    for (int64_t i = 0; rc == 0 && i < n_features; i++) {
        if (i) putchar('\n');
        print_feature(&m, features[i]);
    }
    if (rc == 0 && out) rc = write_csv(&m, out, features, n_features);
    if (rc == 0 && (tokens_out || logits_out)) {
        int64_t n_chosen = 0, *feats = chosen(&m, features, n_features, &n_chosen);
        if (!feats) {
            fprintf(stderr, "gsae maxact: out of memory\n");
            rc = 1;
        }
        if (rc == 0 && tokens_out) rc = write_tokens_csv(&m, store, tokens_out, feats, n_chosen);
        if (rc == 0 && logits_out)
            rc = write_logits_csv(&m, model, sae, logits_out, feats, n_chosen);
        free(feats);
    }
    if (rc == 0 && !feature && !out && !tokens_out && !logits_out)
        printf("%s: %lld features over %lld tokens; give --feature F or --out CSV\n", path,
               (long long)m.fs.cfg.d_sae, (long long)m.fs.n_tokens);
    free(features);
    featstats_free(&m.fs);
    if (m.has_tk) tokenizer_free(&m.tk);
    return rc;
}
