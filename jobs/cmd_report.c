/* cmd_report.c: `gsae report RESULTS_DIR`: build RESULTS_DIR/report.html from the result files
 * found there. Each view reads one documented file (jobs/README.md, "Result files"); a view
 * whose file is absent is left out, a malformed file is an error naming file and line.
 */
#include <dirent.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/tokenizer_load.h"
#include "../report/report.h"
#include "../report/report_views.h"
#include "../src/tokenizer.h"
#include "cli.h"
#include "commands.h"
#include "job.h"
#include "opt.h"

#define TOP_FEATURES     20 /* bars in "top features by difference" */
#define MAX_SMALL_CHARTS 24 /* line charts per view */
#define FREQ_BINS        40

/* Read dir/name into t; *present is false (and GSAE_OK returned) when the file is absent. */
static enum gsae_status load(const char *dir, const char *name, struct report_csv *t, bool *present,
                             struct gsae_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    enum gsae_status st = report_csv_read(t, path, err);
    *present = st == GSAE_OK;
    if (st == GSAE_ENOTFOUND) {
        gsae_error_clear(err);
        return GSAE_OK;
    }
    return st;
}

/* The columns named in names (NULL-terminated) must exist; their indices go to cols. */
static enum gsae_status need_cols(const struct report_csv *t, const char *file,
                                  const char *const *names, int64_t *cols, struct gsae_error *err)
{
    for (int i = 0; names[i]; i++)
        if ((cols[i] = report_csv_col(t, names[i])) < 0)
            return gsae_fail(err, GSAE_EFORMAT, "%s: no column '%s'", file, names[i]);
    return GSAE_OK;
}

/* Column col as numbers (non-numeric cells become NaN); newly allocated. */
static double *numbers(const struct report_csv *t, int64_t col)
{
    double *v = malloc((size_t)(t->n_rows ? t->n_rows : 1) * sizeof *v);
    for (int64_t i = 0; v && i < t->n_rows; i++) {
        char *end = NULL;
        const char *s = report_csv_cell(t, i, col);
        v[i] = strtod(s, &end);
        if (end == s || *end != '\0') v[i] = NAN;
    }
    return v;
}

static char *read_text(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *g = realloc(buf, cap);
            if (!g) break;
            buf = g;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    fclose(f);
    if (buf) buf[len] = '\0';
    return buf;
}

/* A token as text you can see: newline, tab and carriage return as \n \t \r, spaces as
 * U+2423 (open box), other control bytes as \xNN. Newly allocated. */
static char *visible_token(const char *tok)
{
    size_t n = strlen(tok);
    char *out = malloc(4 * n + 1), *p = out;
    if (!out) return NULL;
    for (const unsigned char *c = (const unsigned char *)tok; *c; c++) {
        if (*c == ' ')
            p += sprintf(p, "\xe2\x90\xa3");
        else if (*c == '\n')
            p += sprintf(p, "\\n");
        else if (*c == '\t')
            p += sprintf(p, "\\t");
        else if (*c == '\r')
            p += sprintf(p, "\\r");
        else if (*c < 0x20 || *c == 0x7f)
            p += sprintf(p, "\\x%02x", *c);
        else
            *p++ = (char)*c;
    }
    *p = '\0';
    return out;
}

/* Replace column col's cells by their visible_token form. */
static enum gsae_status make_tokens_visible(struct report_csv *t, int64_t col,
                                            struct gsae_error *err)
{
    for (int64_t i = 0; i < t->n_rows; i++) {
        char **cell = &t->cells[i * t->n_cols + col];
        char *v = visible_token(*cell);
        if (!v) return gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
        free(*cell);
        *cell = v;
    }
    return GSAE_OK;
}

/* Whole-table view: every column as given. */
static void show_table(struct report *r, const struct report_csv *t, const char *caption)
{
    report_table(r, caption, (const char *const *)t->header, t->n_cols,
                 (const char *const *)t->cells, t->n_rows);
}

/* summary.csv (key,value) and timings.csv (written by gsae run). */
static enum gsae_status view_summary(struct report *r, const char *dir, struct gsae_error *err)
{
    struct report_csv sum = {0}, tim = {0};
    bool has_sum = false, has_tim = false;
    enum gsae_status st = load(dir, "summary.csv", &sum, &has_sum, err);
    if (st == GSAE_OK) st = load(dir, "timings.csv", &tim, &has_tim, err);
    char *job = read_text(dir, "job.ini");
    if (st == GSAE_OK && (has_sum || has_tim || job)) {
        report_section(r, "summary", "Run", NULL);
        if (has_sum) show_table(r, &sum, NULL);
        if (has_tim) show_table(r, &tim, "Steps (wall seconds, exit status)");
        if (job) report_pre(r, "Job file (resolved)", job, false);
    }
    free(job);
    report_csv_free(&sum);
    report_csv_free(&tim);
    return st;
}

/* One line chart per value column of a `feature,<col>...` file. */
static void per_column_charts(struct report *r, const struct report_csv *t, const char *y_label)
{
    double *x = numbers(t, 0);
    report_grid_begin(r);
    for (int64_t c = 1; x && c < t->n_cols && c <= MAX_SMALL_CHARTS; c++) {
        double *y = numbers(t, c);
        if (!y) break;
        struct report_series s = {t->header[c], x, y, t->n_rows};
        struct report_axes ax = {t->header[c], t->header[0], y_label, false};
        report_line_chart(r, &ax, &s, 1);
        free(y);
    }
    report_grid_end(r);
    free(x);
}

/* acts_last_token.csv: feature,<prompt>,...  (one column per prompt). */
static enum gsae_status view_acts(struct report *r, const char *dir, struct gsae_error *err)
{
    struct report_csv t = {0};
    bool has = false;
    enum gsae_status st = load(dir, "acts_last_token.csv", &t, &has, err);
    if (st == GSAE_OK && has) {
        report_section(r, "acts", "Feature activations at the last token",
                       "SAE feature activation of each prompt's last token, by feature index.");
        per_column_charts(r, &t, "activation");
    }
    report_csv_free(&t);
    return st;
}

/* Indices of the k largest |v| (ties: lower index first), largest first. */
static int64_t top_abs(const double *v, int64_t n, int64_t *idx, int64_t k)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(v[i]) || v[i] == 0) continue;
        int64_t pos = m < k ? m : k;
        while (pos > 0 && fabs(v[idx[pos - 1]]) < fabs(v[i]))
            pos--;
        if (pos >= k) continue;
        for (int64_t j = (m < k ? m : k - 1); j > pos; j--)
            idx[j] = idx[j - 1];
        idx[pos] = i;
        if (m < k) m++;
    }
    return m;
}

/* feature_diff.csv: feature,<pair>,...  (activation of a minus b per pair "a-b"). */
static enum gsae_status view_diff(struct report *r, const char *dir, struct gsae_error *err)
{
    struct report_csv t = {0};
    bool has = false;
    enum gsae_status st = load(dir, "feature_diff.csv", &t, &has, err);
    if (st != GSAE_OK || !has) goto done;
    report_section(r, "diff", "Differences between prompts",
                   "Last-token activation of the first prompt of each pair minus the second.");
    per_column_charts(r, &t, "difference");
    report_grid_begin(r);
    for (int64_t c = 1; c < t.n_cols && c <= MAX_SMALL_CHARTS; c++) {
        double *v = numbers(&t, c), vals[TOP_FEATURES];
        int64_t idx[TOP_FEATURES];
        const char *labels[TOP_FEATURES];
        if (!v) break;
        int64_t m = top_abs(v, t.n_rows, idx, TOP_FEATURES);
        for (int64_t i = 0; i < m; i++) {
            labels[i] = report_csv_cell(&t, idx[i], 0);
            vals[i] = v[idx[i]];
        }
        char title[300];
        snprintf(title, sizeof title, "Top features by |difference|: %s", t.header[c]);
        struct report_axes ax = {title, "difference", NULL, false};
        report_bars(r, &ax, labels, vals, m);
        free(v);
    }
    report_grid_end(r);
done:
    report_csv_free(&t);
    return st;
}

/* Distinct values of column col in order of first appearance; *group gets each row's index
 * into the returned (borrowed) names. Returns the count, or -1 out of memory. */
static int64_t distinct(const struct report_csv *t, int64_t col, const char ***names,
                        int64_t **group)
{
    const char **nm = malloc((size_t)(t->n_rows + 1) * sizeof *nm);
    int64_t *g = malloc((size_t)(t->n_rows + 1) * sizeof *g);
    if (!nm || !g) {
        free(nm);
        free(g);
        return -1;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < t->n_rows; i++) {
        const char *v = report_csv_cell(t, i, col);
        int64_t k = 0;
        while (k < n && strcmp(nm[k], v) != 0)
            k++;
        if (k == n) nm[n++] = v;
        g[i] = k;
    }
    *names = nm;
    *group = g;
    return n;
}

/* How subtable shows a column: as is, preformatted text, or a token (monospace, as text). */
enum cell_kind { CELL_PLAIN, CELL_PRE, CELL_TOKEN };

/* Rows of t whose column key_col equals value, as a table of the given columns. */
static enum gsae_status subtable(struct report *r, const struct report_csv *t, int64_t key_col,
                                 const char *value, const int64_t *cols, const enum cell_kind *kind,
                                 int64_t n_cols, const char *caption, struct gsae_error *err)
{
    const char **header = malloc((size_t)n_cols * sizeof *header);
    char **cells = calloc((size_t)(t->n_rows * n_cols + 1), sizeof *cells);
    int64_t n = 0;
    enum gsae_status st = GSAE_OK;
    if (!header || !cells) {
        st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
        goto done;
    }
    for (int64_t c = 0; c < n_cols; c++)
        header[c] = t->header[cols[c]];
    for (int64_t i = 0; i < t->n_rows && st == GSAE_OK; i++) {
        if (key_col >= 0 && strcmp(report_csv_cell(t, i, key_col), value) != 0) continue;
        for (int64_t c = 0; c < n_cols; c++) {
            const char *v = report_csv_cell(t, i, cols[c]);
            size_t len = strlen(v);
            char *cell = malloc(len + 2);
            if (!cell) {
                st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
                break;
            }
            static const char marks[] = {'\0', '\x01', '\x03'};
            cell[0] = marks[kind[c]];
            memcpy(cell + (kind[c] != CELL_PLAIN), v, len + 1);
            cells[n * n_cols + c] = cell;
        }
        n++;
    }
    if (st == GSAE_OK) report_table(r, caption, header, n_cols, (const char *const *)cells, n);
done:
    for (int64_t i = 0; cells && i < t->n_rows * n_cols; i++)
        free(cells[i]);
    free(cells);
    free(header);
    return st;
}

/* steer.csv: feature,prompt,strength,text  (one greedy continuation per row). */
static enum gsae_status view_steer(struct report *r, const char *dir, struct gsae_error *err)
{
    struct report_csv t = {0};
    bool has = false;
    const char **features = NULL;
    int64_t *group = NULL, c[4];
    enum gsae_status st = load(dir, "steer.csv", &t, &has, err);
    if (st != GSAE_OK || !has) goto done;
    static const char *const names[] = {"feature", "prompt", "strength", "text", NULL};
    if ((st = need_cols(&t, "steer.csv", names, c, err)) != GSAE_OK) goto done;
    int64_t n = distinct(&t, c[0], &features, &group);
    if (n < 0) {
        st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
        goto done;
    }
    report_section(r, "steer", "Steering",
                   "Continuations with max_act x strength x W_dec[feature] added to the "
                   "residual stream at every position.");
    const int64_t cols[3] = {c[1], c[2], c[3]};
    const enum cell_kind kind[3] = {CELL_PLAIN, CELL_PLAIN, CELL_PRE};
    for (int64_t k = 0; k < n && st == GSAE_OK; k++) {
        char caption[300];
        snprintf(caption, sizeof caption, "Feature %s", features[k]);
        st = subtable(r, &t, c[0], features[k], cols, kind, 3, caption, err);
    }
done:
    free(features);
    free(group);
    report_csv_free(&t);
    return st;
}

/* ablate_topk.csv: condition,rank,token,prob  (next-token top-k under each condition). */
static enum gsae_status view_ablate(struct report *r, const char *dir, struct gsae_error *err)
{
    struct report_csv t = {0};
    bool has = false;
    const char **conds = NULL;
    int64_t *group = NULL, c[4];
    enum gsae_status st = load(dir, "ablate_topk.csv", &t, &has, err);
    if (st != GSAE_OK || !has) goto done;
    static const char *const names[] = {"condition", "rank", "token", "prob", NULL};
    if ((st = need_cols(&t, "ablate_topk.csv", names, c, err)) != GSAE_OK ||
        (st = make_tokens_visible(&t, c[2], err)) != GSAE_OK)
        goto done;
    int64_t n = distinct(&t, c[0], &conds, &group);
    if (n < 0) {
        st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
        goto done;
    }
    report_section(r, "ablate", "Ablation",
                   "Top next tokens and probabilities under each condition.");
    report_grid_begin(r);
    const int64_t cols[3] = {c[1], c[2], c[3]};
    const enum cell_kind kind[3] = {CELL_PLAIN, CELL_TOKEN, CELL_PLAIN};
    for (int64_t k = 0; k < n && st == GSAE_OK; k++) {
        fputs("<div>", r->f);
        st = subtable(r, &t, c[0], conds[k], cols, kind, 3, conds[k], err);
        fputs("</div>", r->f);
    }
    report_grid_end(r);
done:
    free(conds);
    free(group);
    report_csv_free(&t);
    return st;
}

/* pca_scores.csv: token,pc1,pc2,pc3  (one row per token position); pca_explained.csv:
 * component,explained_variance_ratio. */
/* Replace the token ids in column col by their text (tk may be NULL: ids stay). */
static enum gsae_status decode_token_ids(struct report_csv *t, int64_t col,
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

/* pca_scores.csv or pca.csv, and pca_explained.csv; tk (may be NULL) decodes token ids. */
static enum gsae_status view_pca(struct report *r, const char *dir, const struct tokenizer *tk,
                                 struct gsae_error *err)
{
    struct report_csv t = {0}, ev = {0};
    bool has = false, has_ev = false;
    const char **tokens = NULL;
    int64_t *group = NULL, c[4];
    double *pc[3] = {NULL, NULL, NULL};
    /* pca_scores.csv (token,pc1,pc2,pc3), else gsae pca STORE's pca.csv (token_id,PC1,..). */
    const char *file = "pca_scores.csv";
    static const char *const names[] = {"token", "pc1", "pc2", "pc3", NULL};
    static const char *const store_names[] = {"token_id", "PC1", "PC2", "PC3", NULL};
    enum gsae_status st = load(dir, file, &t, &has, err);
    if (st == GSAE_OK && !has) {
        file = "pca.csv";
        st = load(dir, file, &t, &has, err);
    }
    if (st == GSAE_OK) st = load(dir, "pca_explained.csv", &ev, &has_ev, err);
    if (st != GSAE_OK || (!has && !has_ev)) goto done;
    report_section(r, "pca", "PCA", "Token positions projected on the principal components.");
    if (has) {
        if ((st = need_cols(&t, file, strcmp(file, "pca.csv") ? names : store_names, c, err)) !=
                GSAE_OK ||
            (st = decode_token_ids(&t, c[0], tk, err)) != GSAE_OK ||
            (st = make_tokens_visible(&t, c[0], err)) != GSAE_OK)
            goto done;
        int64_t n_tok = distinct(&t, c[0], &tokens, &group);
        for (int i = 0; i < 3; i++)
            pc[i] = numbers(&t, c[i + 1]);
        if (n_tok < 0 || !pc[0] || !pc[1] || !pc[2]) {
            st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
            goto done;
        }
        const char **labels = malloc((size_t)(t.n_rows + 1) * sizeof *labels);
        for (int64_t i = 0; labels && i < t.n_rows; i++)
            labels[i] = report_csv_cell(&t, i, c[0]);
        struct report_points p23 = {pc[1], pc[2], group, labels, t.n_rows, tokens, n_tok};
        struct report_points p12 = {pc[0], pc[1], group, labels, t.n_rows, tokens, n_tok};
        struct report_axes a23 = {"PC2 vs PC3, coloured by token", "PC2", "PC3", false};
        struct report_axes a12 = {"PC1 vs PC2, coloured by token", "PC1", "PC2", false};
        report_scatter(r, &a23, &p23);
        report_scatter(r, &a12, &p12);
        free(labels);
    }
    if (has_ev) {
        static const char *const ev_names[] = {"component", "explained_variance_ratio", NULL};
        if ((st = need_cols(&ev, "pca_explained.csv", ev_names, c, err)) != GSAE_OK) goto done;
        double *v = numbers(&ev, c[1]);
        const char **labels = malloc((size_t)(ev.n_rows + 1) * sizeof *labels);
        for (int64_t i = 0; labels && i < ev.n_rows; i++)
            labels[i] = report_csv_cell(&ev, i, c[0]);
        struct report_axes ax = {"Explained variance ratio", "fraction of variance", NULL, false};
        if (v && labels) report_bars(r, &ax, labels, v, ev.n_rows < 50 ? ev.n_rows : 50);
        free(v);
        free(labels);
    }
done:
    for (int i = 0; i < 3; i++)
        free(pc[i]);
    free(tokens);
    free(group);
    report_csv_free(&t);
    report_csv_free(&ev);
    return st;
}

/* harvest_progress.csv: seconds,tokens (cumulative tokens harvested at each time). */
static enum gsae_status view_progress(struct report *r, const struct report_csv *t,
                                      struct gsae_error *err)
{
    int64_t c[2];
    static const char *const names[] = {"seconds", "tokens", NULL};
    enum gsae_status st = need_cols(t, "harvest_progress.csv", names, c, err);
    if (st != GSAE_OK) return st;
    double *s = numbers(t, c[0]), *tok = numbers(t, c[1]);
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
static enum gsae_status view_freq(struct report *r, const struct report_csv *t,
                                  struct gsae_error *err)
{
    int64_t c[2];
    static const char *const names[] = {"feature", "frequency", NULL};
    enum gsae_status st = need_cols(t, "feature_freq.csv", names, c, err);
    if (st != GSAE_OK) return st;
    double *f = numbers(t, c[1]);
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

static enum gsae_status view_harvest(struct report *r, const char *dir, struct gsae_error *err)
{
    struct report_csv prog = {0}, freq = {0};
    bool has_prog = false, has_freq = false;
    enum gsae_status st = load(dir, "harvest_progress.csv", &prog, &has_prog, err);
    if (st == GSAE_OK) st = load(dir, "feature_freq.csv", &freq, &has_freq, err);
    if (st == GSAE_OK && (has_prog || has_freq)) report_section(r, "harvest", "Harvest", NULL);
    if (st == GSAE_OK && has_prog) st = view_progress(r, &prog, err);
    if (st == GSAE_OK && has_freq) st = view_freq(r, &freq, err);
    report_csv_free(&prog);
    report_csv_free(&freq);
    return st;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_extra_table(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return strncmp(d->d_name, "table_", 6) == 0 && n > 10 && strcmp(d->d_name + n - 4, ".csv") == 0;
}

/* table_<name>.csv: any other table, shown as is under its name. */
static enum gsae_status view_tables(struct report *r, const char *dir, struct gsae_error *err)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, is_extra_table, by_name);
    enum gsae_status st = GSAE_OK;
    if (n > 0) report_section(r, "tables", "Tables", NULL);
    for (int i = 0; i < n; i++) {
        struct report_csv t = {0};
        bool has = false;
        if (st == GSAE_OK) st = load(dir, list[i]->d_name, &t, &has, err);
        if (st == GSAE_OK && has) {
            char caption[300];
            snprintf(caption, sizeof caption, "%.*s", (int)strlen(list[i]->d_name) - 10,
                     list[i]->d_name + 6);
            show_table(r, &t, caption);
        }
        report_csv_free(&t);
        free(list[i]);
    }
    free(list);
    return st;
}

struct report_opts {
    const char *dir, *out, *title, *tokenizer, *features, *neuronpedia, *store;
};

#define O(f) offsetof(struct report_opts, f)
static const struct opt report_opt_table[] = {
    {NULL, OPT_STR, O(dir), .flags = OPT_POS | OPT_REQUIRED, .meta = "RESULTS_DIR",
     .help = "the results directory"},
    {"out", OPT_STR, O(out), .meta = "FILE", .help = "default RESULTS_DIR/report.html"},
    {"title", OPT_STR, O(title), .meta = "TEXT", .help = "default gsae: <directory name>"},
    {"tokenizer", OPT_STR, O(tokenizer), .meta = "PATH", .help = "show token ids as text"},
    {"features", OPT_STR, O(features), .meta = "LIST", .help = "dashboard features first"},
    {"neuronpedia", OPT_STR, O(neuronpedia), .meta = "SOURCE",
     .help = "link features to Neuronpedia under SOURCE"},
    {"store", OPT_STR, O(store), .meta = "STORE", .help = "histograms from STORE/feature_stats.nc"},
    {0},
};
#undef O

const struct opt_cmd report_cmd = {
    "report",
    .synopsis = "RESULTS_DIR [--out FILE] [--title TEXT] [--tokenizer PATH]\n"
                "                   [--features LIST] [--neuronpedia SOURCE] [--store STORE]",
    .about = "Writes RESULTS_DIR/report.html (or FILE) from the result files in RESULTS_DIR\n"
             "(formats: jobs/README.md). Views whose files are absent are left out.\n"
             "The feature dashboard shows --features first (default: [job] report_features of\n"
             "RESULTS_DIR/job.ini), links each feature to Neuronpedia under SOURCE (default:\n"
             "[job] neuronpedia_source, e.g. gemma-2-9b-it/20-gemmascope-res-16k) and draws\n"
             "activation histograms from STORE/feature_stats.nc (default: [job] report_store,\n"
             "else the store of the job's maxact step).\n",
    .size = sizeof(struct report_opts),
    .groups = {{report_opt_table, 0}},
};

/* The store of the job's maxact step: `store`, else the first of `args`, of the section whose
 * command is maxact (a section without a command runs the command of its name). */
static const char *maxact_store(const struct job *job)
{
    for (int64_t i = 0; i < job->n_entries; i++) {
        const char *sec = job->entries[i].section, *cmd = job_get(job, sec, "command");
        if (strcmp(cmd ? cmd : sec, "maxact") != 0) continue;
        const char *store = job_get(job, sec, "store"), *args = job_get(job, sec, "args");
        if (store) return store;
        if (args && *args && !strpbrk(args, ", \t\n")) return args;
    }
    return NULL;
}

int cmd_report(int argc, char **argv)
{
    struct report_opts o;
    int prc = opt_parse(&report_cmd, argc, argv, &o);
    if (prc != OPT_RUN) return prc;
    const char *dir = o.dir,
               *opt[6] = {o.out, o.title, o.tokenizer, o.features, o.neuronpedia, o.store};
    const char *out = opt[0], *title = opt[1], *tok_path = opt[2];
    char path[4096], def_title[512];
    if (!out) {
        snprintf(path, sizeof path, "%s/report.html", dir);
        out = path;
    }
    if (!title) {
        const char *base = strrchr(dir, '/');
        while (base && base[1] == '\0' && base > dir) { /* trailing slash */
            const char *p = base - 1;
            while (p > dir && *p != '/')
                p--;
            base = p;
        }
        snprintf(def_title, sizeof def_title, "gsae: %s", base && base[1] ? base + 1 : dir);
        char *slash = strchr(def_title + 6, '/');
        if (slash) *slash = '\0';
        title = def_title;
    }
    struct report r = {0};
    struct gsae_error err = {0};
    struct tokenizer tk = {0};
    struct job job = {0};
    /* The dashboard's settings: options, else the [job] keys of the run's resolved job.ini. */
    char job_path[4200];
    snprintf(job_path, sizeof job_path, "%s/job.ini", dir);
    FILE *jf = fopen(job_path, "r");
    enum gsae_status st = GSAE_OK;
    if (jf) {
        fclose(jf);
        /* A job.ini that does not load again (a resolved line over the INI limit) costs only
         * the dashboard's defaults, not the report. */
        if (job_load(&job, job_path, &err) != GSAE_OK) {
            fprintf(stderr, "gsae report: %s; its dashboard settings are not used\n", err.msg);
            job_free(&job);
            gsae_error_clear(&err);
        }
    }
    struct report_dashboard_opts dash = {
        .features = opt[3] ? opt[3] : job_get(&job, "job", "report_features"),
        .neuronpedia = opt[4] ? opt[4] : job_get(&job, "job", "neuronpedia_source"),
        .store = opt[5] ? opt[5] : job_get(&job, "job", "report_store"),
        .store_required = opt[5] != NULL || job_get(&job, "job", "report_store") != NULL};
    if (!dash.store) dash.store = maxact_store(&job);
    typedef enum gsae_status (*view_fn)(struct report *, const char *, struct gsae_error *);
    static const view_fn before_pca[] = {view_summary,
                                         view_acts,
                                         view_diff,
                                         view_steer,
                                         report_view_steer_json,
                                         view_ablate,
                                         report_view_ablate_json,
                                         report_view_attribution};
    static const view_fn after_pca[] = {report_view_pca_npy, view_harvest};
    if (st == GSAE_OK && tok_path) st = tokenizer_load(&tk, tok_path, &err);
    if (st == GSAE_OK) st = report_open(&r, out, title, "Results of one gsae run", &err);
    for (size_t i = 0; i < sizeof before_pca / sizeof before_pca[0] && st == GSAE_OK; i++)
        st = before_pca[i](&r, dir, &err);
    if (st == GSAE_OK) st = view_pca(&r, dir, tok_path ? &tk : NULL, &err);
    for (size_t i = 0; i < sizeof after_pca / sizeof after_pca[0] && st == GSAE_OK; i++)
        st = after_pca[i](&r, dir, &err);
    if (st == GSAE_OK) st = report_view_dashboard(&r, dir, &dash, &err);
    if (st == GSAE_OK) st = view_tables(&r, dir, &err);
    tokenizer_free(&tk);
    if (st == GSAE_OK && r.n_figures == 0) {
        report_section(&r, "empty", "No results", NULL);
        report_paragraph(&r, "No result files found in this directory.");
    }
    if (r.n_figures > 0 && r.f) fputs("</section>\n", r.f);
    enum gsae_status st2 = report_close(&r, &err);
    if (st == GSAE_OK) st = st2;
    if (st != GSAE_OK) {
        cli_report("report", &err);
        job_free(&job);
        return 1;
    }
    printf("gsae report: wrote %s\n", out);
    job_free(&job);
    return 0;
}
