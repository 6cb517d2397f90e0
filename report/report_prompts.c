/* report_prompts.c: the report views of the prompt experiments and the run: summary.csv and
 * timings.csv, contrast (acts_last_token.csv, feature_diff.csv), steer.csv, ablate_topk.csv,
 * and any other table_<name>.csv (see report_views.h). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/results_schema.h"
#include "report_views.h"

#define TOP_FEATURES     20 /* bars in "top features by difference" */
#define MAX_SMALL_CHARTS 24 /* line charts per view */

/* summary.csv (key,value) and timings.csv (written by gsae run). */
enum gsae_status report_view_summary(struct report *r, const char *dir, struct gsae_error *err)
{
    struct csv_table sum = {0}, tim = {0};
    bool has_sum = false, has_tim = false;
    enum gsae_status st = report_load(dir, "summary.csv", &sum, &has_sum, err);
    if (st == GSAE_OK) st = report_load(dir, "timings.csv", &tim, &has_tim, err);
    char *job = report_read_text(dir, "job.ini");
    if (st == GSAE_OK && (has_sum || has_tim || job)) {
        report_section(r, "summary", "Run", NULL);
        if (has_sum) report_show_table(r, &sum, NULL);
        if (has_tim) report_show_table(r, &tim, "Steps (wall seconds, exit status)");
        if (job) report_pre(r, "Job file (resolved)", job, false);
    }
    free(job);
    csv_table_free(&sum);
    csv_table_free(&tim);
    return st;
}

/* One line chart per value column of a `feature,<col>...` file. */
static void per_column_charts(struct report *r, const struct csv_table *t, const char *y_label)
{
    double *x = report_numbers(t, 0);
    report_grid_begin(r);
    for (int64_t c = 1; x && c < t->n_cols && c <= MAX_SMALL_CHARTS; c++) {
        double *y = report_numbers(t, c);
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
enum gsae_status report_view_acts(struct report *r, const char *dir, struct gsae_error *err)
{
    struct csv_table t = {0};
    bool has = false;
    enum gsae_status st = report_load(dir, "acts_last_token.csv", &t, &has, err);
    if (st == GSAE_OK && has) {
        report_section(r, "acts", "Feature activations at the last token",
                       "SAE feature activation of each prompt's last token, by feature index.");
        per_column_charts(r, &t, "activation");
    }
    csv_table_free(&t);
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
enum gsae_status report_view_diff(struct report *r, const char *dir, struct gsae_error *err)
{
    struct csv_table t = {0};
    bool has = false;
    enum gsae_status st = report_load(dir, "feature_diff.csv", &t, &has, err);
    if (st != GSAE_OK || !has) goto done;
    report_section(r, "diff", "Differences between prompts",
                   "Last-token activation of the first prompt of each pair minus the second.");
    per_column_charts(r, &t, "difference");
    report_grid_begin(r);
    for (int64_t c = 1; c < t.n_cols && c <= MAX_SMALL_CHARTS; c++) {
        double *v = report_numbers(&t, c), vals[TOP_FEATURES];
        int64_t idx[TOP_FEATURES];
        const char *labels[TOP_FEATURES];
        if (!v) break;
        int64_t m = top_abs(v, t.n_rows, idx, TOP_FEATURES);
        for (int64_t i = 0; i < m; i++) {
            labels[i] = csv_cell(&t, idx[i], 0);
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
    csv_table_free(&t);
    return st;
}

/* Rows of t whose column key_col equals value, as a table of the given columns shown as kind
 * (TEXT cells that hold a number are right-aligned). */
static enum gsae_status subtable(struct report *r, const struct csv_table *t, int64_t key_col,
                                 const char *value, const int64_t *cols,
                                 const enum report_cell_kind *kind, int64_t n_cols,
                                 const char *caption, struct gsae_error *err)
{
    const char **header = malloc((size_t)n_cols * sizeof *header);
    struct report_cell *cells = calloc((size_t)(t->n_rows * n_cols + 1), sizeof *cells);
    if (!header || !cells) {
        free(header);
        free(cells);
        return gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
    }
    for (int64_t c = 0; c < n_cols; c++)
        header[c] = t->header[cols[c]];
    int64_t n = 0;
    for (int64_t i = 0; i < t->n_rows; i++) {
        if (key_col >= 0 && strcmp(csv_cell(t, i, key_col), value) != 0) continue;
        for (int64_t c = 0; c < n_cols; c++) {
            const char *v = csv_cell(t, i, cols[c]);
            cells[n * n_cols + c] = kind[c] == REPORT_CELL_TEXT
                                        ? report_cell_text(v)
                                        : (struct report_cell){.kind = kind[c], .text = v};
        }
        n++;
    }
    report_table_cells(r, caption, header, n_cols, cells, n);
    free(cells);
    free(header);
    return GSAE_OK;
}

/* steer.csv: feature,prompt,strength,text  (one greedy continuation per row). */
enum gsae_status report_view_steer(struct report *r, const char *dir, struct gsae_error *err)
{
    struct csv_table t = {0};
    bool has = false;
    const char **features = NULL;
    int64_t *group = NULL, c[8];
    enum gsae_status st = report_load(dir, "steer.csv", &t, &has, err);
    if (st != GSAE_OK || !has) goto done;
    if ((st = csv_columns(&t, &results_steer, c, err)) != GSAE_OK) goto done;
    int64_t n = report_distinct(&t, c[STEER_FEATURE], &features, &group);
    if (n < 0) {
        st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
        goto done;
    }
    report_section(r, "steer", "Steering",
                   "Continuations with max_act x strength x W_dec[feature] added to the "
                   "residual stream at every position.");
    const int64_t cols[3] = {c[STEER_PROMPT], c[STEER_STRENGTH], c[STEER_TEXT]};
    const enum report_cell_kind kind[3] = {REPORT_CELL_TEXT, REPORT_CELL_TEXT, REPORT_CELL_PRE};
    for (int64_t k = 0; k < n && st == GSAE_OK; k++) {
        char caption[300];
        snprintf(caption, sizeof caption, "Feature %s", features[k]);
        st = subtable(r, &t, c[STEER_FEATURE], features[k], cols, kind, 3, caption, err);
    }
done:
    free(features);
    free(group);
    csv_table_free(&t);
    return st;
}

/* ablate_topk.csv: condition,rank,token,prob  (next-token top-k under each condition). */
enum gsae_status report_view_ablate(struct report *r, const char *dir, struct gsae_error *err)
{
    struct csv_table t = {0};
    bool has = false;
    const char **conds = NULL;
    int64_t *group = NULL, c[8];
    enum gsae_status st = report_load(dir, "ablate_topk.csv", &t, &has, err);
    if (st != GSAE_OK || !has) goto done;
    if ((st = csv_columns(&t, &results_ablate_topk, c, err)) != GSAE_OK ||
        (st = report_tokens_visible(&t, c[ABLATE_TOPK_TOKEN], err)) != GSAE_OK)
        goto done;
    int64_t n = report_distinct(&t, c[ABLATE_TOPK_CONDITION], &conds, &group);
    if (n < 0) {
        st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
        goto done;
    }
    report_section(r, "ablate", "Ablation",
                   "Top next tokens and probabilities under each condition.");
    report_grid_begin(r);
    const int64_t cols[3] = {c[ABLATE_TOPK_RANK], c[ABLATE_TOPK_TOKEN], c[ABLATE_TOPK_PROB]};
    const enum report_cell_kind kind[3] = {REPORT_CELL_TEXT, REPORT_CELL_TOKEN, REPORT_CELL_TEXT};
    for (int64_t k = 0; k < n && st == GSAE_OK; k++) {
        fputs("<div>", r->f);
        st = subtable(r, &t, c[ABLATE_TOPK_CONDITION], conds[k], cols, kind, 3, conds[k], err);
        fputs("</div>", r->f);
    }
    report_grid_end(r);
done:
    free(conds);
    free(group);
    csv_table_free(&t);
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
enum gsae_status report_view_tables(struct report *r, const char *dir, struct gsae_error *err)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, is_extra_table, by_name);
    enum gsae_status st = GSAE_OK;
    if (n > 0) report_section(r, "tables", "Tables", NULL);
    for (int i = 0; i < n; i++) {
        struct csv_table t = {0};
        bool has = false;
        if (st == GSAE_OK) st = report_load(dir, list[i]->d_name, &t, &has, err);
        if (st == GSAE_OK && has) {
            char caption[300];
            snprintf(caption, sizeof caption, "%.*s", (int)strlen(list[i]->d_name) - 10,
                     list[i]->d_name + 6);
            report_show_table(r, &t, caption);
        }
        csv_table_free(&t);
        free(list[i]);
    }
    free(list);
    return st;
}
