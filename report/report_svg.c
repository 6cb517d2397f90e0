/* report_svg.c: SVG charts, HTML tables and escaping of the report (see report_svg.h). */
#include "report_svg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Chart geometry (SVG user units; the SVG scales to its box). Charts in a grid are drawn
 * narrower so their text stays legible when two share a row; CHART_W reads the report `r`
 * every drawing function has in scope. */
#define CHART_W            (r->in_grid ? 500.0 : 760.0)
#define CHART_H            300.0
#define MARGIN_L           64.0
#define MARGIN_R           16.0
#define MARGIN_T           14.0
#define MARGIN_B           44.0
#define PLOT_W             (CHART_W - MARGIN_L - MARGIN_R)
#define N_COLOURS          12
#define MAX_SCATTER_POINTS 20000
#define MAX_TABLE_ROWS     500

/* Colour-blind-friendly categorical palette (Okabe-Ito, then Tableau extras). */
static const char *const palette[N_COLOURS] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                               "#56B4E9", "#D55E00", "#BFA200", "#000000",
                                               "#8C564B", "#7F7F7F", "#17BECF", "#9467BD"};

void report_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
                fprintf(f, "\\x%02x", c); /* visible, and no control byte in the page */
            else
                fputc(c, f);
        }
    }
}

/* Text of a token or context, escaped for HTML. Newline is shown as a return mark (followed by
 * a line break when markup is true), tab as an arrow; other control characters as \xNN
 * (C0, DEL) or \uNNNN (C1); invalid UTF-8 as U+FFFD. The two-character escapes \n \t \r that
 * gsae maxact writes for those characters are shown as the characters. markup false: for an
 * attribute value. */
void report_token_text(FILE *f, const char *s, bool markup)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        if (c == '\\' && (p[1] == 'n' || p[1] == 't' || p[1] == 'r')) {
            c = p[1] == 'n' ? '\n' : p[1] == 't' ? '\t' : '\r'; /* as gsae maxact escapes them */
            p++;
        }
        if (c < 0x80) {
            if (c == '\n' || c == '\t') {
                const char *mark = c == '\n' ? "\xe2\x86\xb5" : "\xe2\x87\xa5";
                fprintf(f, markup ? "<i>%s</i>%s" : "%s%s", mark, markup && c == '\n' ? "\n" : "");
            } else if (c < 0x20 || c == 0x7f) {
                fprintf(f, markup ? "<i>\\x%02x</i>" : "\\x%02x", c);
            } else {
                char one[2] = {(char)c, 0};
                report_escape(f, one);
            }
            p++;
            continue;
        }
        /* A well-formed UTF-8 sequence (no overlongs, surrogates or code points > U+10FFFF). */
        int len = c >= 0xc2 && c <= 0xdf   ? 2
                  : c >= 0xe0 && c <= 0xef ? 3
                  : c >= 0xf0 && c <= 0xf4 ? 4
                                           : 0;
        unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
        unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
        bool ok = len > 0 && p[1] >= lo && p[1] <= hi;
        for (int k = 2; ok && k < len; k++)
            ok = p[k] >= 0x80 && p[k] <= 0xbf;
        if (!ok) {
            fputs("\xef\xbf\xbd", f);
            p++;
        } else if (len == 2 && c == 0xc2 && p[1] < 0xa0) { /* C1 control U+0080..U+009F */
            fprintf(f, markup ? "<i>\\u%04x</i>" : "\\u%04x", p[1]);
            p += 2;
        } else {
            fwrite(p, 1, (size_t)len, f);
            p += len;
        }
    }
}

void report_grid_begin(struct report *r)
{
    fputs("<div class=\"grid2\">\n", r->f);
    r->in_grid = true;
}

void report_grid_end(struct report *r)
{
    fputs("</div>\n", r->f);
    r->in_grid = false;
}

/* Axis range with round ends and a tick step of 1, 2 or 5 times a power of ten. */
struct axis {
    double lo, hi, step;
};

static struct axis nice_axis(double lo, double hi, int n_ticks)
{
    if (!(hi > lo)) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.5 : 1.0;
        lo -= pad;
        hi += pad;
    }
    double raw = (hi - lo) / n_ticks;
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    double step = (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * mag;
    return (struct axis){floor(lo / step) * step, ceil(hi / step) * step, step};
}

static void fmt_tick(char *buf, size_t n, double v, double step)
{
    if (fabs(v) < step * 1e-9) v = 0.0;
    if (fabs(v) >= 1e5 || (fabs(v) < 1e-3 && v != 0.0))
        snprintf(buf, n, "%.2g", v);
    else
        snprintf(buf, n, "%.10g", v);
}

/* Open a figure with an SVG of height h, draw grid, ticks and labels; returns the y-axis. */
static void frame_begin(struct report *r, const struct report_axes *ax, double h)
{
    fputs("<figure>", r->f);
    if (ax->title) {
        fputs("<figcaption>", r->f);
        report_escape(r->f, ax->title);
        fputs("</figcaption>", r->f);
    }
    fprintf(r->f, "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", CHART_W, h);
    report_escape(r->f, ax->title ? ax->title : "chart");
    fputs("\">\n", r->f);
}

static void frame_grid(struct report *r, const struct report_axes *ax, struct axis xa,
                       struct axis ya, double h, bool x_ticks)
{
    double plot_h = h - MARGIN_T - MARGIN_B;
    char buf[64];
    for (double v = ya.lo; v <= ya.hi + ya.step * 0.5; v += ya.step) {
        double y = MARGIN_T + plot_h * (1.0 - (v - ya.lo) / (ya.hi - ya.lo));
        fprintf(r->f, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>",
                MARGIN_L, CHART_W - MARGIN_R, y, y);
        fmt_tick(buf, sizeof buf, ax->log_y ? pow(10.0, v) : v, ax->log_y ? 1.0 : ya.step);
        fprintf(r->f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", MARGIN_L - 6,
                y + 4, buf);
    }
    if (x_ticks) {
        for (double v = xa.lo; v <= xa.hi + xa.step * 0.5; v += xa.step) {
            double x = MARGIN_L + PLOT_W * (v - xa.lo) / (xa.hi - xa.lo);
            fmt_tick(buf, sizeof buf, v, xa.step);
            fprintf(r->f,
                    "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                    x, x, MARGIN_T, MARGIN_T + plot_h, x, MARGIN_T + plot_h + 16, buf);
        }
    }
    fprintf(r->f, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
            MARGIN_L, CHART_W - MARGIN_R, MARGIN_T + plot_h, MARGIN_T + plot_h);
    if (ax->x_label) {
        fprintf(r->f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", MARGIN_L + PLOT_W / 2,
                h - 8);
        report_escape(r->f, ax->x_label);
        fputs("</text>\n", r->f);
    }
    if (ax->y_label) {
        fprintf(r->f, "<text transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"middle\">",
                MARGIN_T + plot_h / 2);
        report_escape(r->f, ax->y_label);
        fputs("</text>\n", r->f);
    }
}

static void legend(struct report *r, const char *const *names, const int *colours, int64_t n)
{
    if (n <= 1) /* one series: the caption names it */
        return;
    fputs("<div class=\"legend\">", r->f);
    for (int64_t i = 0; i < n; i++) {
        fprintf(r->f, "<span><i style=\"background:%s\"></i>",
                colours[i] < 0 ? "#c4c8d2" : palette[colours[i] % N_COLOURS]);
        report_escape(r->f, names[i]);
        fputs("</span>", r->f);
    }
    fputs("</div>", r->f);
}

static void range_of(const double *v, int64_t n, double *lo, double *hi)
{
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) continue;
        if (v[i] < *lo) *lo = v[i];
        if (v[i] > *hi) *hi = v[i];
    }
}

void report_line_chart(struct report *r, const struct report_axes *ax,
                       const struct report_series *series, int64_t n_series)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int64_t s = 0; s < n_series; s++) {
        range_of(series[s].x, series[s].n, &xlo, &xhi);
        range_of(series[s].y, series[s].n, &ylo, &yhi);
    }
    if (!isfinite(xlo)) {
        xlo = 0;
        xhi = 1;
        ylo = 0;
        yhi = 1;
    }
    struct axis xa = nice_axis(xlo, xhi, 8), ya = nice_axis(ylo, yhi, 5);
    double h = CHART_H, plot_h = h - MARGIN_T - MARGIN_B;
    frame_begin(r, ax, h);
    frame_grid(r, ax, xa, ya, h, true);
    for (int64_t s = 0; s < n_series; s++) {
        const struct report_series *sr = &series[s];
        fprintf(r->f,
                "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.3\" "
                "stroke-linejoin=\"round\" points=\"",
                palette[s % N_COLOURS]);
        /* Min/max per pixel column: a 16k-feature series becomes ~1.4k points. */
        int64_t col = -1;
        double cmin = 0, cmax = 0;
        int64_t imin = 0, imax = 0;
        for (int64_t i = 0; i <= sr->n; i++) {
            bool last = i == sr->n;
            int64_t c = -2;
            if (!last) {
                if (!isfinite(sr->x[i]) || !isfinite(sr->y[i])) continue;
                c = (int64_t)floor(PLOT_W * (sr->x[i] - xa.lo) / (xa.hi - xa.lo));
            }
            if (c != col && col != -1) {
                int64_t a = imin < imax ? imin : imax, b = imin < imax ? imax : imin;
                double va = a == imin ? cmin : cmax, vb = b == imin ? cmin : cmax;
                double xpa = MARGIN_L + PLOT_W * (sr->x[a] - xa.lo) / (xa.hi - xa.lo);
                double xpb = MARGIN_L + PLOT_W * (sr->x[b] - xa.lo) / (xa.hi - xa.lo);
                fprintf(r->f, "%.1f,%.1f ", xpa,
                        MARGIN_T + plot_h * (1 - (va - ya.lo) / (ya.hi - ya.lo)));
                if (b != a)
                    fprintf(r->f, "%.1f,%.1f ", xpb,
                            MARGIN_T + plot_h * (1 - (vb - ya.lo) / (ya.hi - ya.lo)));
            }
            if (last) break;
            if (c != col) {
                col = c;
                cmin = cmax = sr->y[i];
                imin = imax = i;
            } else if (sr->y[i] < cmin) {
                cmin = sr->y[i];
                imin = i;
            } else if (sr->y[i] > cmax) {
                cmax = sr->y[i];
                imax = i;
            }
        }
        fputs("\"><title>", r->f);
        report_escape(r->f, sr->name ? sr->name : "series");
        fputs("</title></polyline>\n", r->f);
    }
    fputs("</svg>", r->f);
    const char *names[N_COLOURS];
    int colours[N_COLOURS];
    int64_t n_leg = n_series < N_COLOURS ? n_series : N_COLOURS;
    for (int64_t s = 0; s < n_leg; s++) {
        names[s] = series[s].name ? series[s].name : "";
        colours[s] = (int)s;
    }
    legend(r, names, colours, n_leg);
    fputs("</figure>\n", r->f);
}

void report_bars(struct report *r, const struct report_axes *ax, const char *const *labels,
                 const double *values, int64_t n)
{
    double lo = 0, hi = 0;
    range_of(values, n, &lo, &hi);
    struct axis xa = nice_axis(lo, hi, 6);
    double row = 20, h = MARGIN_T + MARGIN_B + row * (double)(n > 0 ? n : 1);
    frame_begin(r, ax, h);
    double plot_h = h - MARGIN_T - MARGIN_B;
    char buf[64];
    for (double v = xa.lo; v <= xa.hi + xa.step * 0.5; v += xa.step) {
        double x = MARGIN_L + PLOT_W * (v - xa.lo) / (xa.hi - xa.lo);
        fmt_tick(buf, sizeof buf, v, xa.step);
        fprintf(r->f,
                "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                x, x, MARGIN_T, MARGIN_T + plot_h, x, MARGIN_T + plot_h + 16, buf);
    }
    double x0 = MARGIN_L + PLOT_W * (0 - xa.lo) / (xa.hi - xa.lo);
    for (int64_t i = 0; i < n; i++) {
        double v = isfinite(values[i]) ? values[i] : 0;
        double x1 = MARGIN_L + PLOT_W * (v - xa.lo) / (xa.hi - xa.lo);
        double y = MARGIN_T + row * (double)i + 3;
        fprintf(r->f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"2\" "
                "fill=\"%s\"><title>",
                x1 < x0 ? x1 : x0, y, fabs(x1 - x0), row - 6, v < 0 ? palette[1] : palette[0]);
        report_escape(r->f, labels[i]);
        fprintf(r->f, ": %.6g</title></rect><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", v,
                MARGIN_L - 6, y + row / 2);
        report_escape(r->f, labels[i]);
        fputs("</text>\n", r->f);
    }
    fprintf(r->f, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n", x0,
            x0, MARGIN_T, MARGIN_T + plot_h);
    if (ax->x_label) {
        fprintf(r->f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", MARGIN_L + PLOT_W / 2,
                h - 8);
        report_escape(r->f, ax->x_label);
        fputs("</text>\n", r->f);
    }
    fputs("</svg></figure>\n", r->f);
}

void report_histogram(struct report *r, const struct report_axes *ax, const double *edges,
                      const double *counts, int64_t n_bins)
{
    double ylo = 0, yhi = 0;
    double *shown = malloc((size_t)(n_bins > 0 ? n_bins : 1) * sizeof *shown);
    if (!shown) return;
    for (int64_t i = 0; i < n_bins; i++)
        shown[i] = ax->log_y ? (counts[i] > 0 ? log10(counts[i]) + 1e-9 : 0) : counts[i];
    range_of(shown, n_bins, &ylo, &yhi);
    struct axis xa = nice_axis(edges[0], edges[n_bins], 8);
    struct axis ya =
        ax->log_y ? (struct axis){0, ceil(yhi > 0 ? yhi : 1), 1} : nice_axis(0, yhi, 5);
    double h = CHART_H, plot_h = h - MARGIN_T - MARGIN_B;
    frame_begin(r, ax, h);
    frame_grid(r, ax, xa, ya, h, true);
    for (int64_t i = 0; i < n_bins; i++) {
        double xa0 = MARGIN_L + PLOT_W * (edges[i] - xa.lo) / (xa.hi - xa.lo);
        double xa1 = MARGIN_L + PLOT_W * (edges[i + 1] - xa.lo) / (xa.hi - xa.lo);
        double y = MARGIN_T + plot_h * (1 - (shown[i] - ya.lo) / (ya.hi - ya.lo));
        fprintf(r->f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                "<title>[%.4g, %.4g): %.0f</title></rect>\n",
                xa0 + 0.5, y, xa1 - xa0 - 1 > 0.5 ? xa1 - xa0 - 1 : 0.5, MARGIN_T + plot_h - y,
                palette[0], edges[i], edges[i + 1], counts[i]);
    }
    fputs("</svg></figure>\n", r->f);
    free(shown);
}

/* Groups ordered by size, largest first (ties by index): the first N_COLOURS get colours. */
static int64_t *groups_by_size(const struct report_points *pts)
{
    int64_t ng = pts->n_groups;
    int64_t *count = calloc((size_t)ng + 1, sizeof *count);
    int64_t *order = malloc(((size_t)ng + 1) * sizeof *order);
    if (!count || !order) {
        free(count);
        free(order);
        return NULL;
    }
    for (int64_t i = 0; i < pts->n; i++)
        if (pts->group[i] >= 0 && pts->group[i] < ng) count[pts->group[i]]++;
    for (int64_t g = 0; g < ng; g++)
        order[g] = g;
    for (int64_t a = 1; a < ng; a++) { /* insertion sort: stable, groups are few */
        int64_t g = order[a], b = a;
        for (; b > 0 && count[order[b - 1]] < count[g]; b--)
            order[b] = order[b - 1];
        order[b] = g;
    }
    free(count);
    return order;
}

void report_scatter(struct report *r, const struct report_axes *ax, const struct report_points *pts)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    range_of(pts->x, pts->n, &xlo, &xhi);
    range_of(pts->y, pts->n, &ylo, &yhi);
    if (!isfinite(xlo)) xlo = ylo = 0, xhi = yhi = 1;
    int64_t *order = groups_by_size(pts);
    int *colour_of = calloc((size_t)pts->n_groups + 1, sizeof *colour_of);
    if (!order || !colour_of) {
        free(order);
        free(colour_of);
        return;
    }
    for (int64_t g = 0; g < pts->n_groups; g++)
        colour_of[order[g]] = g < N_COLOURS - 1 ? (int)g : -1;
    struct axis xa = nice_axis(xlo, xhi, 8), ya = nice_axis(ylo, yhi, 6);
    double h = 420, plot_h = h - MARGIN_T - MARGIN_B;
    frame_begin(r, ax, h);
    frame_grid(r, ax, xa, ya, h, true);
    int64_t stride =
        pts->n > MAX_SCATTER_POINTS ? (pts->n + MAX_SCATTER_POINTS - 1) / MAX_SCATTER_POINTS : 1;
    /* Grey (other) points first so coloured groups draw on top. */
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t i = 0; i < pts->n; i += stride) {
            if (!isfinite(pts->x[i]) || !isfinite(pts->y[i])) continue;
            int64_t g = pts->group ? pts->group[i] : 0;
            int c = g >= 0 && g < pts->n_groups ? colour_of[g] : -1;
            if ((pass == 0) != (c < 0)) continue;
            fprintf(r->f,
                    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\" fill-opacity=\"0.75\">",
                    MARGIN_L + PLOT_W * (pts->x[i] - xa.lo) / (xa.hi - xa.lo),
                    MARGIN_T + plot_h * (1 - (pts->y[i] - ya.lo) / (ya.hi - ya.lo)),
                    c < 0 ? "#c4c8d2" : palette[c]);
            if (pts->labels && pts->labels[i]) {
                fputs("<title>", r->f);
                report_escape(r->f, pts->labels[i]);
                fputs("</title>", r->f);
            }
            fputs("</circle>\n", r->f);
        }
    }
    fputs("</svg>", r->f);
    const char *names[N_COLOURS];
    int colours[N_COLOURS];
    int64_t n_leg = 0;
    for (int64_t k = 0; k < pts->n_groups && n_leg < N_COLOURS - 1; k++) {
        names[n_leg] = pts->group_names[order[k]];
        colours[n_leg++] = (int)k;
    }
    if (pts->n_groups > N_COLOURS - 1) {
        names[n_leg] = "other";
        colours[n_leg++] = -1;
    }
    legend(r, names, colours, n_leg);
    if (stride > 1)
        fprintf(r->f, "<p class=\"note\">Every %lldth of %lld points shown.</p>", (long long)stride,
                (long long)pts->n);
    fputs("</figure>\n", r->f);
    free(order);
    free(colour_of);
}

static bool is_number(const char *s)
{
    if (!s || !*s) return false;
    char *end = NULL;
    strtod(s, &end);
    return end && *end == '\0';
}

struct report_cell report_cell_text(const char *text)
{
    return (struct report_cell){.kind = is_number(text) ? REPORT_CELL_NUMBER : REPORT_CELL_TEXT,
                                .text = text};
}

struct report_cell report_cell_number(double value, const char *format)
{
    return (struct report_cell){.kind = REPORT_CELL_NUMBER, .value = value, .format = format};
}

struct report_cell report_cell_marked(const char *s)
{
    if (!s || s[0] == '\0') return report_cell_text(s);
    switch (s[0]) {
    case '\x01':
        return (struct report_cell){.kind = REPORT_CELL_PRE, .text = s + 1};
    case '\x03':
        return (struct report_cell){.kind = REPORT_CELL_TOKEN, .text = s + 1};
    case '\x02':
        return (struct report_cell){.kind = REPORT_CELL_MARKED, .text = s + 1};
    default:
        return report_cell_text(s);
    }
}

/* s up to the next \x02 (or its end), escaped. Returns what follows the \x02, or NULL. */
static const char *escape_part(FILE *f, const char *s)
{
    const char *end = strchr(s, '\x02');
    size_t n = end ? (size_t)(end - s) : strlen(s);
    char *part = strndup(s, n);
    report_escape(f, part ? part : "");
    free(part);
    return end ? end + 1 : NULL;
}

void report_cell_write(FILE *f, const struct report_cell *c)
{
    switch (c->kind) {
    case REPORT_CELL_NUMBER:
        fputs("<td class=\"num\">", f);
        if (c->text) {
            report_escape(f, c->text);
        } else {
            char buf[64];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            snprintf(buf, sizeof buf, c->format ? c->format : "%.6g", c->value);
#pragma GCC diagnostic pop
            report_escape(f, buf);
        }
        break;
    case REPORT_CELL_PRE:
        fputs("<td><pre>", f);
        report_escape(f, c->text);
        fputs("</pre>", f);
        break;
    case REPORT_CELL_TOKEN:
        fputs("<td><code>", f);
        report_escape(f, c->text);
        fputs("</code>", f);
        break;
    case REPORT_CELL_MARKED: { /* left \x02 token \x02 right */
        fputs("<td><pre>", f);
        const char *rest = escape_part(f, c->text ? c->text : "");
        if (rest) {
            fputs("<mark>", f);
            rest = escape_part(f, rest);
            fputs("</mark>", f);
            report_escape(f, rest ? rest : "");
        }
        fputs("</pre>", f);
        break;
    }
    case REPORT_CELL_TEXT:
    default:
        fputs("<td>", f);
        report_escape(f, c->text);
        break;
    }
    fputs("</td>", f);
}

void report_table_cells(struct report *r, const char *caption, const char *const *header,
                        int64_t n_cols, const struct report_cell *cells, int64_t n_rows)
{
    fputs("<table>", r->f);
    if (caption) {
        fputs("<caption>", r->f);
        report_escape(r->f, caption);
        fputs("</caption>", r->f);
    }
    fputs("<thead><tr>", r->f);
    for (int64_t c = 0; c < n_cols; c++) {
        /* A column whose first cell is a number is right-aligned, header included. */
        bool num = n_rows > 0 && cells[c].kind == REPORT_CELL_NUMBER;
        fputs(num ? "<th class=\"num\">" : "<th>", r->f);
        report_escape(r->f, header[c]);
        fputs("</th>", r->f);
    }
    fputs("</tr></thead><tbody>\n", r->f);
    int64_t shown = n_rows < MAX_TABLE_ROWS ? n_rows : MAX_TABLE_ROWS;
    for (int64_t i = 0; i < shown; i++) {
        fputs("<tr>", r->f);
        for (int64_t c = 0; c < n_cols; c++)
            report_cell_write(r->f, &cells[i * n_cols + c]);
        fputs("</tr>\n", r->f);
    }
    fputs("</tbody></table>\n", r->f);
    if (shown < n_rows)
        fprintf(r->f, "<p class=\"note\">First %lld of %lld rows.</p>\n", (long long)shown,
                (long long)n_rows);
}

void report_table(struct report *r, const char *caption, const char *const *header, int64_t n_cols,
                  const char *const *cells, int64_t n_rows)
{
    int64_t shown = n_rows < MAX_TABLE_ROWS ? n_rows : MAX_TABLE_ROWS;
    struct report_cell *typed = malloc((size_t)(shown * n_cols + 1) * sizeof *typed);
    if (!typed) {
        fputs("<p class=\"note\">(table left out: out of memory)</p>\n", r->f);
        return;
    }
    for (int64_t i = 0; i < shown * n_cols; i++)
        typed[i] = report_cell_marked(cells[i]);
    report_table_cells(r, caption, header, n_cols, typed, shown);
    free(typed);
    if (shown < n_rows)
        fprintf(r->f, "<p class=\"note\">First %lld of %lld rows.</p>\n", (long long)shown,
                (long long)n_rows);
}
