/* report_attrib.c: the feature attribution view of the report (gsae attribute's CSVs): the top
 * features as bars, a token x feature heat strip, and the prompt shaded by each top feature's
 * attribution. Inline SVG and styled spans only; token texts are escaped and control bytes are
 * shown as '?', so the page holds no control bytes whatever the tokens are. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_views.h"

/* Prompts shown shaded: one per top feature, at most this many. */
#define N_SHADED 5
/* Width of the heat strip's plot in SVG units and its row height. */
#define STRIP_W     1000.0
#define STRIP_ROW   16.0
#define STRIP_LABEL 90.0

static double num(const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    return end == s || *end != '\0' ? NAN : v;
}

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
            double v = fabs(num(csv_cell(s, p, k < n_feat ? c_f0 + k : c_err)));
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
            double v = num(csv_cell(s, p, k < n_feat ? c_f0 + k : c_err));
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
        double v = fabs(num(csv_cell(s, p, col)));
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
        double v = num(csv_cell(s, p, col));
        char bg[64];
        shade(bg, sizeof bg, v, m);
        fprintf(r->f, "<span style=\"background:%s\" title=\"%lld: %.6g\">", bg, (long long)p,
                isfinite(v) ? v : 0.0);
        put_token(r->f, csv_cell(s, p, c_tok), true);
        fputs("</span>", r->f);
    }
    fputs("</div></details>\n", r->f);
}

enum gsae_status report_view_attribution(struct report *r, const char *dir, struct gsae_error *err)
{
    char path[4200];
    struct csv_table top = {0}, strip = {0};
    char **labels = NULL;
    double *values = NULL;
    snprintf(path, sizeof path, "%s/attribution_top.csv", dir);
    enum gsae_status st = csv_read(&top, path, err);
    if (st == GSAE_ENOTFOUND) {
        gsae_error_clear(err);
        return GSAE_OK;
    }
    if (st != GSAE_OK) return st;
    static const char *const names[] = {"feature",       "total_abs",  "sum",
                                        "peak_position", "peak_token", "peak_value"};
    int64_t c[6];
    for (int i = 0; i < 6 && st == GSAE_OK; i++)
        if ((c[i] = csv_col(&top, names[i])) < 0)
            st = gsae_fail(err, GSAE_EFORMAT, "attribution_top.csv: no column '%s'", names[i]);
    snprintf(path, sizeof path, "%s/attribution_strip.csv", dir);
    if (st == GSAE_OK) st = csv_read(&strip, path, err);
    int64_t c_tok = -1, c_err = -1, c_f0 = 3, n_feat = 0;
    if (st == GSAE_OK) {
        c_tok = csv_col(&strip, "token");
        c_err = csv_col(&strip, "error");
        n_feat = strip.n_cols - c_f0;
        if (c_tok != 1 || c_err != 2 || n_feat < 0)
            st = gsae_fail(err, GSAE_EFORMAT,
                           "attribution_strip.csv: expected position,token,error,f<id>...");
    }
    int64_t n = top.n_rows;
    if (st == GSAE_OK && (!(labels = calloc((size_t)n + 1, sizeof *labels)) ||
                          !(values = malloc(((size_t)n + 1) * sizeof *values))))
        st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
    for (int64_t i = 0; st == GSAE_OK && i < n; i++) {
        char buf[400];
        snprintf(buf, sizeof buf, "f%s", csv_cell(&top, i, c[0]));
        if (!(labels[i] = strdup(buf))) st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
        values[i] = num(csv_cell(&top, i, c[2]));
    }
    if (st != GSAE_OK) goto done;
    report_section(r, "attribution", "Feature attribution",
                   "Which SAE features drive the metric (gsae attribute): activation times "
                   "the gradient of the metric through the feature's decoder direction, summed "
                   "over positions. Features are ranked by total |attribution|; bars show the "
                   "signed sum.");
    struct csv_table meta = {0};
    snprintf(path, sizeof path, "%s/attribution_meta.csv", dir);
    st = csv_read(&meta, path, err);
    if (st == GSAE_ENOTFOUND) {
        gsae_error_clear(err);
        st = GSAE_OK;
    } else if (st == GSAE_OK) {
        report_table(r, "What was attributed", (const char *const *)meta.header, meta.n_cols,
                     (const char *const *)meta.cells, meta.n_rows);
    }
    csv_table_free(&meta);
    if (st != GSAE_OK) goto done;
    struct report_axes ax = {.title = "Top features: attribution summed over positions",
                             .x_label = "attribution (metric units)"};
    report_bars(r, &ax, (const char *const *)labels, values, n);
    heat_strip(r, &strip, c_tok, c_err, c_f0, n_feat);
    for (int64_t k = 0; k < n_feat && k < N_SHADED; k++)
        shaded_prompt(r, &strip, c_tok, c_f0 + k, k == 0);
    /* the top table: feature, totals, peak */
    const char *header[6] = {"feature",       "total |attribution|", "sum",
                             "peak position", "peak token",          "peak value"};
    const char **cells = malloc((size_t)(n * 6 + 1) * sizeof *cells);
    char **tok = calloc((size_t)n + 1, sizeof *tok);
    if (!cells || !tok) st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
    for (int64_t i = 0; st == GSAE_OK && i < n; i++) {
        const char *t = csv_cell(&top, i, c[4]);
        size_t len = strlen(t);
        if (!(tok[i] = malloc(len + 2))) {
            st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
            break;
        }
        tok[i][0] = '\x03';
        for (size_t j = 0; j <= len; j++) /* control bytes shown as '?' */
            tok[i][j + 1] = (unsigned char)t[j] < 0x20 && t[j] ? '?' : t[j];
        for (int k = 0; k < 6; k++)
            cells[i * 6 + k] = k == 4 ? tok[i] : csv_cell(&top, i, c[k]);
    }
    if (st == GSAE_OK)
        report_table(r, "Top features with their largest per-position attribution", header, 6,
                     cells, n);
    for (int64_t i = 0; tok && i < n; i++)
        free(tok[i]);
    free(tok);
    free(cells);
done:
    for (int64_t i = 0; labels && i < n; i++)
        free(labels[i]);
    free(labels);
    free(values);
    csv_table_free(&top);
    csv_table_free(&strip);
    return st;
}
