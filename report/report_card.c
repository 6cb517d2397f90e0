/* report_card.c: the drawings of a feature card of the dashboard (see report_card.h). */
#include "report_card.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_views.h"

#define HIST_W        320.0
#define HIST_H        96.0
#define HIST_MIN_BINS 16

/* Shading of an activation against the feature's scale: an orange whose alpha grows with the
 * activation, in steps of 0.05 (so a screenshot or the DOM shows a few distinct shades). */
void report_card_shade(FILE *f, double v, double scale)
{
    double a = scale > 0 && isfinite(v) && v > 0 ? v / scale : 0;
    a = round((a > 1 ? 1 : a) * 20) / 20;
    if (a > 0) fprintf(f, " style=\"background:rgba(255,128,0,%.2f)\"", a);
}

void report_card_histogram(struct report *r, const struct featstats *fs, int64_t f)
{
    const int64_t *h = fs->hist + f * FEATSTATS_HIST_BINS;
    int64_t b0 = -1, b1 = -1, top = 0;
    for (int64_t b = 0; b < FEATSTATS_HIST_BINS; b++) {
        if (h[b] <= 0) continue;
        if (b0 < 0) b0 = b;
        b1 = b;
        if (h[b] > top) top = h[b];
    }
    fputs("<figure class=\"fh\"><figcaption>Activation histogram</figcaption>", r->f);
    if (b0 < 0) {
        fputs("<p class=\"note\">Never fired in the store.</p></figure>\n", r->f);
        return;
    }
    /* At least HIST_MIN_BINS bins wide, so one or two bins do not fill the chart. */
    while (b1 - b0 + 1 < HIST_MIN_BINS && (b0 > 0 || b1 + 1 < FEATSTATS_HIST_BINS)) {
        if (b1 + 1 < FEATSTATS_HIST_BINS) b1++;
        if (b1 - b0 + 1 < HIST_MIN_BINS && b0 > 0) b0--;
    }
    double bw = HIST_W / (double)(b1 - b0 + 1), plot_h = HIST_H - 18;
    fprintf(r->f,
            "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"activation histogram of "
            "feature %lld\">",
            HIST_W, HIST_H, (long long)f);
    for (int64_t b = b0; b <= b1; b++) {
        if (h[b] <= 0) continue;
        double hb = plot_h * (double)h[b] / (double)top, x = bw * (double)(b - b0);
        double lo = featstats_hist_lower(b);
        fprintf(r->f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#0072B2\">"
                "<title>[%.3g, ",
                x + 0.5, plot_h - hb, bw > 1.5 ? bw - 1 : bw, hb, lo);
        if (b + 1 < FEATSTATS_HIST_BINS)
            fprintf(r->f, "%.3g", featstats_hist_lower(b + 1));
        else
            fputs("&#8734;", r->f);
        fprintf(r->f, "): %lld</title></rect>", (long long)h[b]);
    }
    fprintf(r->f,
            "<line class=\"axis\" x1=\"0\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\"/>"
            "<text x=\"0\" y=\"%.0f\">%.3g</text>",
            HIST_W, plot_h, plot_h, HIST_H - 4, featstats_hist_lower(b0));
    if (b1 + 1 < FEATSTATS_HIST_BINS)
        fprintf(r->f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%.3g</text>", HIST_W,
                HIST_H - 4, featstats_hist_lower(b1 + 1));
    fprintf(r->f,
            "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">activation (log bins); "
            "tallest %lld</text></svg></figure>\n",
            HIST_W / 2, HIST_H - 4, (long long)top);
}

/* Top positive and negative logit effects of one feature: v[i0..i1) sorted by sign, rank. */
void report_card_logits(struct report *r, const struct dash_token *v, int64_t i0, int64_t i1)
{
    double m = 0;
    for (int64_t i = i0; i < i1; i++)
        if (fabs(v[i].value) > m) m = fabs(v[i].value);
    fputs("<div class=\"fl\"><figcaption>Logit effects (W_dec &#183; W_U)</figcaption>"
          "<div class=\"lcols\">",
          r->f);
    for (int64_t sign = 0; sign < 2; sign++) {
        fprintf(r->f, "<table class=\"lt\"><caption>%s</caption>",
                sign ? "suppresses" : "promotes");
        int64_t shown = 0;
        for (int64_t i = i0; i < i1 && shown < DASH_MAX_LOGITS; i++) {
            if (v[i].offset != sign) continue;
            double w = m > 0 ? 60 * fabs(v[i].value) / m : 0; /* px */
            fputs("<tr><td><code>", r->f);
            report_token_text(r->f, v[i].text, false);
            fprintf(r->f,
                    "</code></td><td class=\"num\">%+.3g</td><td class=\"lbw\"><span "
                    "class=\"lb\" style=\"width:%.0fpx;background:%s\"></span></td></tr>",
                    v[i].value, w, sign ? "#D55E00" : "#0072B2");
            shown++;
        }
        fputs("</table>", r->f);
    }
    fputs("</div></div>\n", r->f);
}

/* One example: the tokens of v[i0..i1) shaded, or (none) maxact.csv's left, token, right. */
void report_card_example(struct report *r, const char *act, const struct dash_token *v, int64_t i0,
                         int64_t i1, double scale, const char *left, const char *tok,
                         const char *right)
{
    double a = report_parse_num(act);
    fputs("<div class=\"ex\"><span class=\"exv\">", r->f);
    if (isfinite(a))
        fprintf(r->f, "%.4g", a);
    else
        report_escape(r->f, act);
    fputs("</span><span class=\"ctx\">", r->f);
    if (i1 > i0) {
        for (int64_t i = i0; i < i1; i++) {
            fprintf(r->f, "<span%s", v[i].offset == 0 ? " class=\"pk\"" : "");
            report_card_shade(r->f, v[i].value, scale);
            fputs(" title=\"&#39;", r->f);
            report_token_text(r->f, v[i].text, false);
            fprintf(r->f, "&#39; %.4g\">", v[i].value);
            report_token_text(r->f, v[i].text, true);
            fputs("</span>", r->f);
        }
    } else {
        report_token_text(r->f, left, true);
        fputs("<mark>", r->f);
        report_token_text(r->f, tok, true);
        fputs("</mark>", r->f);
        report_token_text(r->f, right, true);
    }
    fputs("</span></div>\n", r->f);
}
