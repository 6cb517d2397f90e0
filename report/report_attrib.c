/* report_attrib.c: the feature attribution view of the report (gsae attribute's CSVs): the top
 * features as bars, a token x feature heat strip, and the prompt shaded by each top feature's
 * attribution. Inline SVG and styled spans only; token texts are escaped and control bytes are
 * shown as '?', so the page holds no control bytes whatever the tokens are. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/results_schema.h"
#include "report_views.h"

/* Prompts shown shaded: one per top feature, at most this many. */
#define N_SHADED 5
/* Width of the heat strip's plot in SVG units and its row height. */
#define STRIP_W     1000.0
#define STRIP_ROW   16.0
#define STRIP_LABEL 90.0

/* Token text as written by gsae attribute ("\n" and "\xNN" escapes): escaped for HTML, control
 * bytes as '?', and "\n" as a return mark followed by a line break when breaks is true. */
static void put_token(FILE *f, const char *s, bool breaks)
{
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] == 'n') {
            fputs(breaks ? "\xe2\x86\xb5\n" : "\xe2\x86\xb5", f);
            s++;
            continue;
        }
        unsigned char c = (unsigned char)*s;
        char one[2] = {(char)(c < 0x20 || c == 0x7f ? '?' : c), 0};
        report_escape(f, one);
    }
}

/* Background of a value v against the scale m (> 0): red for positive, blue for negative. */
static void shade(char *buf, size_t n, double v, double m)
{
    double a = m > 0 && isfinite(v) ? fabs(v) / m : 0;
    if (a > 1) a = 1;
    if (v >= 0)
        snprintf(buf, n, "rgba(214,39,40,%.3f)", a);
    else
        snprintf(buf, n, "rgba(31,119,180,%.3f)", a);
}

static void heat_strip(struct report *r, const struct csv_table *s, int64_t c_tok, int64_t c_err,
                       int64_t c_f0, int64_t n_feat)
{
    int64_t T = s->n_rows, n_rows = n_feat + 1;
    double m = 0, m_err = 0; /* the features' scale, and the error row's own */
    for (int64_t p = 0; p < T; p++)
        for (int64_t k = 0; k <= n_feat; k++) {
            double v = fabs(report_parse_num(csv_cell(s, p, k < n_feat ? c_f0 + k : c_err)));
            double *mk = k < n_feat ? &m : &m_err;
            if (isfinite(v) && v > *mk) *mk = v;
        }
    double w = STRIP_LABEL + STRIP_W + 10, h = STRIP_ROW * (double)n_rows + 30;
    double cw = STRIP_W / (double)(T > 0 ? T : 1);
    fprintf(
        r->f,
        "<figure><figcaption>Attribution per position (columns) and feature (rows); red "
        "raises the metric, blue lowers it; scale &#177;%.4g (error row &#177;%.4g)</figcaption>"
        "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"attribution heat strip\">\n",
        m, m_err, w, h);
    for (int64_t k = 0; k < n_rows; k++) {
        const char *name = k < n_feat ? s->header[c_f0 + k] : "error";
        double y = STRIP_ROW * (double)k;
        fprintf(r->f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", STRIP_LABEL - 6,
                y + STRIP_ROW - 4);
        report_escape(r->f, name);
        fprintf(r->f,
                "</text><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                "fill=\"none\" class=\"axis\" stroke=\"#e3e6ef\"/>\n",
                STRIP_LABEL, y, STRIP_W, STRIP_ROW - 1);
        for (int64_t p = 0; p < T; p++) {
            double v = report_parse_num(csv_cell(s, p, k < n_feat ? c_f0 + k : c_err));
            if (!isfinite(v) || v == 0) continue;
            char bg[64];
            shade(bg, sizeof bg, v, k < n_feat ? m : m_err);
            fprintf(r->f,
                    "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>",
                    STRIP_LABEL + cw * (double)p, y, cw, STRIP_ROW - 1, bg);
            fprintf(r->f, "%lld &#39;", (long long)p);
            put_token(r->f, csv_cell(s, p, c_tok), false);
            fputs("&#39; ", r->f);
            report_escape(r->f, name);
            fprintf(r->f, ": %.6g</title></rect>\n", v);
        }
    }
    fprintf(r->f,
            "<text x=\"%.1f\" y=\"%.1f\">position 0</text>"
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">position %lld</text>\n",
            STRIP_LABEL, h - 8, STRIP_LABEL + STRIP_W, h - 8, (long long)(T - 1));
    fputs("</svg></figure>\n", r->f);
}

/* The prompt with each token's background set by feature column col's attribution. */
static void shaded_prompt(struct report *r, const struct csv_table *s, int64_t c_tok, int64_t col,
                          bool open)
{
    double m = 0;
    for (int64_t p = 0; p < s->n_rows; p++) {
        double v = fabs(report_parse_num(csv_cell(s, p, col)));
        if (isfinite(v) && v > m) m = v;
    }
    fprintf(r->f, "<details%s><summary>", open ? " open" : "");
    report_escape(r->f, s->header[col]);
    fprintf(r->f,
            ": prompt shaded by attribution (max |value| %.4g)</summary>"
            "<div style=\"font:13px/1.7 ui-monospace,monospace;white-space:pre-wrap;"
            "word-break:break-all;border:1px solid #e3e6ef;padding:8px;margin:6px 0 12px\">",
            m);
    for (int64_t p = 0; p < s->n_rows; p++) {
        double v = report_parse_num(csv_cell(s, p, col));
        char bg[64];
        shade(bg, sizeof bg, v, m);
        fprintf(r->f, "<span style=\"background:%s\" title=\"%lld: %.6g\">", bg, (long long)p,
                isfinite(v) ? v : 0.0);
        put_token(r->f, csv_cell(s, p, c_tok), true);
        fputs("</span>", r->f);
    }
    fputs("</div></details>\n", r->f);
}

/* attribution_top.csv and attribution_strip.csv (position,token,error,f<id>...): the top
 * file's columns go to c, the strip's layout is checked. */
static enum gsae_status load_attribution(const char *dir, struct csv_table *top,
                                         struct csv_table *strip, int64_t *c, bool *present,
                                         struct gsae_error *err)
{
    enum gsae_status st = report_load(dir, "attribution_top.csv", top, present, err);
    if (st != GSAE_OK || !*present) return st;
    if ((st = csv_columns(top, &results_attribution_top, c, err)) != GSAE_OK) return st;
    char path[4200];
    snprintf(path, sizeof path, "%s/attribution_strip.csv", dir);
    if ((st = csv_read(strip, path, err)) != GSAE_OK) return st;
    if (csv_col(strip, "token") != ATTR_STRIP_TOKEN || csv_col(strip, "error") != ATTR_STRIP_ERROR)
        return gsae_fail(err, GSAE_EFORMAT,
                         "attribution_strip.csv: expected position,token,error,f<id>...");
    return GSAE_OK;
}

/* attribution_meta.csv (key,value), when there is one. */
static enum gsae_status meta_table(struct report *r, const char *dir, struct gsae_error *err)
{
    struct csv_table meta = {0};
    bool has = false;
    enum gsae_status st = report_load(dir, "attribution_meta.csv", &meta, &has, err);
    if (st == GSAE_OK && has) report_show_table(r, &meta, "What was attributed");
    csv_table_free(&meta);
    return st;
}

/* The bars: each top feature's attribution summed over positions. */
static enum gsae_status top_bars(struct report *r, const struct csv_table *top, const int64_t *c,
                                 struct gsae_error *err)
{
    int64_t n = top->n_rows;
    char(*labels)[32] = malloc(((size_t)n + 1) * sizeof *labels);
    const char **label_ptrs = malloc(((size_t)n + 1) * sizeof *label_ptrs);
    double *values = malloc(((size_t)n + 1) * sizeof *values);
    enum gsae_status st = GSAE_OK;
    if (!labels || !label_ptrs || !values) {
        st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
    } else {
        for (int64_t i = 0; i < n; i++) {
            snprintf(labels[i], sizeof labels[i], "f%s", csv_cell(top, i, c[ATTR_TOP_FEATURE]));
            label_ptrs[i] = labels[i];
            values[i] = report_parse_num(csv_cell(top, i, c[ATTR_TOP_SUM]));
        }
        struct report_axes ax = {.title = "Top features: attribution summed over positions",
                                 .x_label = "attribution (metric units)"};
        report_bars(r, &ax, label_ptrs, values, n);
    }
    free(labels);
    free(label_ptrs);
    free(values);
    return st;
}

/* The top table: feature, totals, peak; the peak token with control bytes shown as '?'. */
static enum gsae_status top_table(struct report *r, const struct csv_table *top, const int64_t *c,
                                  struct gsae_error *err)
{
    static const char *const header[6] = {"feature",       "total |attribution|", "sum",
                                          "peak position", "peak token",          "peak value"};
    static const int cols[6] = {ATTR_TOP_FEATURE,       ATTR_TOP_TOTAL_ABS,  ATTR_TOP_SUM,
                                ATTR_TOP_PEAK_POSITION, ATTR_TOP_PEAK_TOKEN, ATTR_TOP_PEAK_VALUE};
    int64_t n = top->n_rows;
    struct report_cell *cells = malloc((size_t)(n * 6 + 1) * sizeof *cells);
    char **tok = calloc((size_t)n + 1, sizeof *tok);
    enum gsae_status st = GSAE_OK;
    if (!cells || !tok) st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
    for (int64_t i = 0; st == GSAE_OK && i < n; i++) {
        const char *t = csv_cell(top, i, c[ATTR_TOP_PEAK_TOKEN]);
        if (!(tok[i] = strdup(t))) {
            st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
            break;
        }
        for (char *p = tok[i]; *p; p++)
            if ((unsigned char)*p < 0x20) *p = '?';
        for (int k = 0; k < 6; k++)
            cells[i * 6 + k] = k == 4
                                   ? (struct report_cell){.kind = REPORT_CELL_TOKEN, .text = tok[i]}
                                   : report_cell_text(csv_cell(top, i, c[cols[k]]));
    }
    if (st == GSAE_OK)
        report_table_cells(r, "Top features with their largest per-position attribution", header, 6,
                           cells, n);
    for (int64_t i = 0; tok && i < n; i++)
        free(tok[i]);
    free(tok);
    free(cells);
    return st;
}

enum gsae_status report_view_attribution(struct report *r, const char *dir, struct gsae_error *err)
{
    struct csv_table top = {0}, strip = {0};
    int64_t c[8];
    bool present = false;
    enum gsae_status st = load_attribution(dir, &top, &strip, c, &present, err);
    if (st == GSAE_OK && present) {
        const int64_t c_f0 = ATTR_STRIP_FEATURES, n_feat = strip.n_cols - c_f0;
        report_section(r, "attribution", "Feature attribution",
                       "Which SAE features drive the metric (gsae attribute): activation times "
                       "the gradient of the metric through the feature's decoder direction, "
                       "summed over positions. Features are ranked by total |attribution|; bars "
                       "show the signed sum.");
        st = meta_table(r, dir, err);
        if (st == GSAE_OK) st = top_bars(r, &top, c, err);
        if (st == GSAE_OK) {
            heat_strip(r, &strip, ATTR_STRIP_TOKEN, ATTR_STRIP_ERROR, c_f0, n_feat);
            for (int64_t k = 0; k < n_feat && k < N_SHADED; k++)
                shaded_prompt(r, &strip, ATTR_STRIP_TOKEN, c_f0 + k, k == 0);
            st = top_table(r, &top, c, err);
        }
    }
    csv_table_free(&top);
    csv_table_free(&strip);
    return st;
}
