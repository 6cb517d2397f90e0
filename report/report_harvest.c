/* report_harvest.c: the report views of a store: PCA (pca_scores.csv or pca.csv, and
 * pca_explained.csv) and the harvest (harvest_progress.csv, feature_freq.csv); see
 * report_views.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/results_schema.h"
#include "../src/tokenizer.h"
#include "report_views.h"

#define FREQ_BINS 40

/* pca_scores.csv: token,pc1,pc2,pc3  (one row per token position); pca_explained.csv:
 * component,explained_variance_ratio. */
/* Replace the token ids in column col by their text (tk may be NULL: ids stay). */
static enum gsae_status decode_token_ids(struct csv_table *t, int64_t col,
                                         const struct tokenizer *tk, struct gsae_error *err)
{
    for (int64_t i = 0; tk && i < t->n_rows; i++) {
        char **cell = &t->cells[i * t->n_cols + col], *end = NULL;
        long id = strtol(*cell, &end, 10);
        if (end == *cell || *end != '\0' || id < 0 || id > INT32_MAX) continue;
        int32_t id32 = (int32_t)id;
        struct tokenizer_text text = {0};
        enum gsae_status st = tokenizer_decode(tk, &id32, 1, false, &text, err);
        if (st == GSAE_ENOMEM) return st;
        if (st == GSAE_OK && text.data) {
            free(*cell);
            *cell = strndup(text.data, text.len);
            tokenizer_text_free(&text);
            if (!*cell) return gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
        }
        tokenizer_text_free(&text);
        gsae_error_clear(err);
    }
    return GSAE_OK;
}

/* The columns of the token and of the first three components: pca_scores.csv's token and
 * pc1..pc3, or pca.csv's token_id and PC1..PC3. */
static enum gsae_status pca_columns(const struct csv_table *t, bool store, int64_t *c,
                                    struct gsae_error *err)
{
    const struct csv_schema *schema = store ? &results_pca : &results_pca_scores;
    int64_t idx[8];
    enum gsae_status st = csv_columns(t, schema, idx, err);
    if (st != GSAE_OK) return st;
    c[0] = idx[store ? PCA_TOKEN_ID : PCA_SCORES_TOKEN];
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "%s%d", store ? "PC" : "pc", i + 1);
        if ((c[i + 1] = csv_col(t, name)) < 0)
            return gsae_fail(err, GSAE_EFORMAT, "%s: no column '%s'", schema->file, name);
    }
    return GSAE_OK;
}

/* Two scatter plots of the token positions (PC2/PC3, PC1/PC2), coloured by token. */
static enum gsae_status pca_scatter(struct report *r, struct csv_table *t, bool store,
                                    const struct tokenizer *tk, struct gsae_error *err)
{
    const char **tokens = NULL, **labels = NULL;
    int64_t *group = NULL, c[4];
    double *pc[3] = {NULL, NULL, NULL};
    enum gsae_status st = pca_columns(t, store, c, err);
    if (st == GSAE_OK) st = decode_token_ids(t, c[0], tk, err);
    if (st == GSAE_OK) st = report_tokens_visible(t, c[0], err);
    if (st != GSAE_OK) return st;
    int64_t n_tok = report_distinct(t, c[0], &tokens, &group);
    for (int i = 0; i < 3; i++)
        pc[i] = report_numbers(t, c[i + 1]);
    labels = malloc((size_t)(t->n_rows + 1) * sizeof *labels);
    if (n_tok < 0 || !pc[0] || !pc[1] || !pc[2] || !labels) {
        st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
    } else {
        for (int64_t i = 0; i < t->n_rows; i++)
            labels[i] = csv_cell(t, i, c[0]);
        struct report_points p23 = {pc[1], pc[2], group, labels, t->n_rows, tokens, n_tok};
        struct report_points p12 = {pc[0], pc[1], group, labels, t->n_rows, tokens, n_tok};
        struct report_axes a23 = {"PC2 vs PC3, coloured by token", "PC2", "PC3", false};
        struct report_axes a12 = {"PC1 vs PC2, coloured by token", "PC1", "PC2", false};
        report_scatter(r, &a23, &p23);
        report_scatter(r, &a12, &p12);
    }
    for (int i = 0; i < 3; i++)
        free(pc[i]);
    free(labels);
    free(tokens);
    free(group);
    return st;
}

/* pca_explained.csv: bars of the explained variance ratio per component. */
static enum gsae_status pca_explained(struct report *r, const struct csv_table *ev,
                                      struct gsae_error *err)
{
    int64_t c[4];
    enum gsae_status st = csv_columns(ev, &results_pca_explained, c, err);
    if (st != GSAE_OK) return st;
    double *v = report_numbers(ev, c[PCA_EXPLAINED_RATIO]);
    const char **labels = malloc((size_t)(ev->n_rows + 1) * sizeof *labels);
    for (int64_t i = 0; labels && i < ev->n_rows; i++)
        labels[i] = csv_cell(ev, i, c[PCA_EXPLAINED_COMPONENT]);
    struct report_axes ax = {"Explained variance ratio", "fraction of variance", NULL, false};
    if (v && labels) report_bars(r, &ax, labels, v, ev->n_rows < 50 ? ev->n_rows : 50);
    free(v);
    free(labels);
    return GSAE_OK;
}

/* pca_scores.csv or pca.csv, and pca_explained.csv; tk (may be NULL) decodes token ids. */
enum gsae_status report_view_pca(struct report *r, const char *dir, const struct tokenizer *tk,
                                 struct gsae_error *err)
{
    struct csv_table t = {0}, ev = {0};
    bool has = false, has_ev = false, store = false;
    /* pca_scores.csv (token,pc1,pc2,pc3), else gsae pca STORE's pca.csv (token_id,PC1,..). */
    enum gsae_status st = report_load(dir, "pca_scores.csv", &t, &has, err);
    if (st == GSAE_OK && !has) {
        store = true;
        st = report_load(dir, "pca.csv", &t, &has, err);
    }
    if (st == GSAE_OK) st = report_load(dir, "pca_explained.csv", &ev, &has_ev, err);
    if (st == GSAE_OK && (has || has_ev)) {
        report_section(r, "pca", "PCA", "Token positions projected on the principal components.");
        if (has) st = pca_scatter(r, &t, store, tk, err);
        if (st == GSAE_OK && has_ev) st = pca_explained(r, &ev, err);
    }
    csv_table_free(&t);
    csv_table_free(&ev);
    return st;
}

/* harvest_progress.csv: seconds,tokens (cumulative tokens harvested at each time). */
static enum gsae_status view_progress(struct report *r, const struct csv_table *t,
                                      struct gsae_error *err)
{
    int64_t c[4];
    enum gsae_status st = csv_columns(t, &results_harvest_progress, c, err);
    if (st != GSAE_OK) return st;
    double *s = report_numbers(t, c[PROGRESS_SECONDS]),
           *tok = report_numbers(t, c[PROGRESS_TOKENS]);
    double *mid = malloc((size_t)(t->n_rows + 1) * sizeof *mid);
    double *rate = malloc((size_t)(t->n_rows + 1) * sizeof *rate);
    if (s && tok && mid && rate && t->n_rows > 0) {
        int64_t n = 0;
        for (int64_t i = 1; i < t->n_rows; i++) {
            if (!(s[i] > s[i - 1])) continue;
            mid[n] = 0.5 * (s[i] + s[i - 1]);
            rate[n++] = (tok[i] - tok[i - 1]) / (s[i] - s[i - 1]);
        }
        double last_s = s[t->n_rows - 1], last_t = tok[t->n_rows - 1];
        char note[256];
        snprintf(note, sizeof note, "%.0f tokens in %.1f s: %.1f tokens/s overall.", last_t, last_s,
                 last_s > 0 ? last_t / last_s : 0.0);
        report_paragraph(r, note);
        report_grid_begin(r);
        struct report_series cum = {"tokens", s, tok, t->n_rows};
        struct report_axes a1 = {"Tokens harvested", "seconds", "tokens", false};
        report_line_chart(r, &a1, &cum, 1);
        struct report_series thr = {"tokens/s", mid, rate, n};
        struct report_axes a2 = {"Throughput", "seconds", "tokens/s", false};
        report_line_chart(r, &a2, &thr, 1);
        report_grid_end(r);
    } else if (!(s && tok && mid && rate)) {
        st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
    }
    free(s);
    free(tok);
    free(mid);
    free(rate);
    return st;
}

/* feature_freq.csv: feature,frequency (fraction of harvested tokens where the feature fires). */
static enum gsae_status view_freq(struct report *r, const struct csv_table *t,
                                  struct gsae_error *err)
{
    int64_t c[4];
    enum gsae_status st = csv_columns(t, &results_feature_freq, c, err);
    if (st != GSAE_OK) return st;
    double *f = report_numbers(t, c[FREQ_FREQUENCY]);
    if (!f) return gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
    double lo = INFINITY, hi = -INFINITY;
    int64_t dead = 0;
    for (int64_t i = 0; i < t->n_rows; i++) {
        if (!(f[i] > 0)) {
            dead++;
            continue;
        }
        double l = log10(f[i]);
        lo = l < lo ? l : lo;
        hi = l > hi ? l : hi;
    }
    char note[256];
    snprintf(note, sizeof note, "%lld features, %lld never active (not in the histogram).",
             (long long)t->n_rows, (long long)dead);
    report_paragraph(r, note);
    if (isfinite(lo)) {
        lo = floor(lo);
        hi = ceil(hi) > lo ? ceil(hi) : lo + 1;
        double edges[FREQ_BINS + 1], counts[FREQ_BINS] = {0};
        for (int b = 0; b <= FREQ_BINS; b++)
            edges[b] = lo + (hi - lo) * b / FREQ_BINS;
        for (int64_t i = 0; i < t->n_rows; i++) {
            if (!(f[i] > 0)) continue;
            int b = (int)floor((log10(f[i]) - lo) / (hi - lo) * FREQ_BINS);
            counts[b < 0 ? 0 : b >= FREQ_BINS ? FREQ_BINS - 1 : b] += 1;
        }
        struct report_axes ax = {"Feature frequency", "log10(fraction of tokens active)",
                                 "features", false};
        report_histogram(r, &ax, edges, counts, FREQ_BINS);
    }
    free(f);
    return GSAE_OK;
}

enum gsae_status report_view_harvest(struct report *r, const char *dir, struct gsae_error *err)
{
    struct csv_table prog = {0}, freq = {0};
    bool has_prog = false, has_freq = false;
    enum gsae_status st = report_load(dir, "harvest_progress.csv", &prog, &has_prog, err);
    if (st == GSAE_OK) st = report_load(dir, "feature_freq.csv", &freq, &has_freq, err);
    if (st == GSAE_OK && (has_prog || has_freq)) report_section(r, "harvest", "Harvest", NULL);
    if (st == GSAE_OK && has_prog) st = view_progress(r, &prog, err);
    if (st == GSAE_OK && has_freq) st = view_freq(r, &freq, err);
    csv_table_free(&prog);
    csv_table_free(&freq);
    return st;
}
