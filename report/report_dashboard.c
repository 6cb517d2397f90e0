/* report_dashboard.c: the feature dashboard of the report: one card per feature chosen by
 * interest (the user's list, the experiment's rankings, then the largest activations), each with
 * its max-activating examples as text with every token shaded by its activation, the activation
 * histogram of STORE/feature_stats.nc, the logit effects and, with a Neuronpedia source, a link
 * to the feature's Neuronpedia page.
 *
 * Inputs (jobs/README.md, "Result files"): maxact.csv (required for the view), maxact_tokens.csv
 * (per-token activations; without it the peak token alone is highlighted), logit_effects.csv,
 * feature_freq.csv, table_group_contrast.csv, attribution_top.csv, table_pair_top.csv. The large
 * per-token files are read keeping only the rows of the features shown.
 *
 * All token text is escaped; newline and tab are shown as marks, other control characters as
 * \xNN or \uNNNN, invalid UTF-8 as U+FFFD, so the page holds no control bytes whatever the
 * tokens are.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/featstats_nc.h"
#include "report_views.h"

#define DASH_MAX_RANKED  24  /* cards besides the user's own choice */
#define DASH_MAX_PER_SRC 8   /* features taken from each ranking file */
#define DASH_MAX_USER    256 /* features the user may name */
#define DASH_MAX_LOGITS  10  /* logit effects shown per sign */
#define HIST_W           320.0
#define HIST_H           96.0
#define HIST_MIN_BINS    16

struct dash_feature {
    int64_t id;
    double max_act; /* largest activation in maxact.csv */
    char why[200];  /* why it is shown, "; "-joined */
    int64_t order;  /* position among the cards, -1 when not shown */
};

/* One row of maxact_tokens.csv or logit_effects.csv, parsed. */
struct dash_token {
    int64_t feature, rank, offset; /* logit effects: offset = 0 for pos, 1 for neg */
    double value;
    const char *text; /* borrowed from the table */
};

struct dash {
    struct dash_feature *feat; /* sorted by id */
    int64_t n_feat;
    int64_t *shown; /* indices into feat, in card order */
    int64_t n_shown;
    int64_t *sorted_ids; /* ids of the shown features, ascending (row filter) */
};

static bool parse_int(const char *s, int64_t *v)
{
    char *end = NULL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno) return false;
    *v = x;
    return true;
}

static double parse_num(const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    return end == s || *end != '\0' ? NAN : v;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_feature(const void *a, const void *b)
{
    return cmp_id(&((const struct dash_feature *)a)->id, &((const struct dash_feature *)b)->id);
}

static struct dash_feature *find(const struct dash *d, int64_t id)
{
    struct dash_feature key = {.id = id};
    return bsearch(&key, d->feat, (size_t)d->n_feat, sizeof key, cmp_feature);
}

/* Row filter: the feature is one of the shown ones. */
static bool keep_shown(void *ctx, const char *value)
{
    const struct dash *d = ctx;
    int64_t id;
    return parse_int(value, &id) &&
           bsearch(&id, d->sorted_ids, (size_t)d->n_shown, sizeof id, cmp_id) != NULL;
}

/* Text of a token or context, escaped for HTML. Newline is shown as a return mark (followed by
 * a line break when markup is true), tab as an arrow; other control characters as \xNN
 * (C0, DEL) or \uNNNN (C1); invalid UTF-8 as U+FFFD. The two-character escapes \n \t \r that
 * gsae maxact writes for those characters are shown as the characters. markup false: for an
 * attribute value. */
static void put_text(FILE *f, const char *s, bool markup)
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

/* Add feature id to the cards with reason why (appended when it is already there). Returns false
 * when maxact.csv has no examples for it. */
static bool choose(struct dash *d, int64_t id, const char *why)
{
    struct dash_feature *ft = find(d, id);
    if (!ft) return false;
    size_t n = strlen(ft->why);
    if (n + 3 < sizeof ft->why)
        snprintf(ft->why + n, sizeof ft->why - n, "%s%s", n ? "; " : "", why);
    if (ft->order < 0) {
        ft->order = d->n_shown;
        d->shown[d->n_shown++] = ft - d->feat;
    }
    return true;
}

/* Features of a ranking file, best first: its `feature` column in file order (rows whose `rank`
 * column, when there is one, exceeds max_rank are skipped). Up to DASH_MAX_PER_SRC new cards. */
static enum gsae_status choose_ranked(struct dash *d, const char *dir, const char *file,
                                      const char *label, int64_t max_rank, int64_t cap,
                                      struct gsae_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    struct csv_table t = {0};
    enum gsae_status st = csv_read(&t, path, err);
    if (st == GSAE_ENOTFOUND) {
        gsae_error_clear(err);
        return GSAE_OK;
    }
    if (st != GSAE_OK) return st;
    int64_t c_feat = csv_col(&t, "feature"), c_rank = csv_col(&t, "rank");
    if (c_feat < 0) {
        csv_table_free(&t);
        return gsae_fail(err, GSAE_EFORMAT, "%s: no column 'feature'", file);
    }
    int64_t added = 0, k = 0;
    for (int64_t i = 0; i < t.n_rows && added < DASH_MAX_PER_SRC && d->n_shown < cap; i++) {
        int64_t id, rank = 0;
        if (c_rank >= 0 && parse_int(csv_cell(&t, i, c_rank), &rank) && rank > max_rank) continue;
        if (!parse_int(csv_cell(&t, i, c_feat), &id)) continue;
        char why[96];
        snprintf(why, sizeof why, "%s #%lld", label, (long long)(c_rank >= 0 ? rank : ++k));
        int64_t before = d->n_shown;
        choose(d, id, why);
        added += d->n_shown > before;
    }
    csv_table_free(&t);
    return GSAE_OK;
}

/* Features by max activation, largest first (ties: lower id first); elements are pointers. */
static int cmp_by_act(const void *a, const void *b)
{
    const struct dash_feature *x = *(const struct dash_feature *const *)a;
    const struct dash_feature *y = *(const struct dash_feature *const *)b;
    if (x->max_act != y->max_act) return x->max_act < y->max_act ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

static int cmp_token(const void *a, const void *b)
{
    const struct dash_token *x = a, *y = b;
    if (x->feature != y->feature) return (x->feature > y->feature) - (x->feature < y->feature);
    if (x->rank != y->rank) return (x->rank > y->rank) - (x->rank < y->rank);
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* The rows of t (columns c[0..5): feature, rank, offset, text, value) parsed and sorted by
 * feature, rank, offset. logits: c[2] is the sign column, parsed as offset 0 ("pos") or 1
 * ("neg"). */
static enum gsae_status parse_tokens(const struct csv_table *t, const char *file, const int64_t *c,
                                     bool logits, struct dash_token **out, struct gsae_error *err)
{
    struct dash_token *v = malloc((size_t)(t->n_rows + 1) * sizeof *v);
    if (!v) return gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
    for (int64_t i = 0; i < t->n_rows; i++) {
        struct dash_token *k = &v[i];
        const char *off = csv_cell(t, i, c[2]);
        bool ok = parse_int(csv_cell(t, i, c[0]), &k->feature) &&
                  parse_int(csv_cell(t, i, c[1]), &k->rank);
        if (logits) {
            k->offset = strcmp(off, "pos") == 0 ? 0 : strcmp(off, "neg") == 0 ? 1 : -1;
            ok = ok && k->offset >= 0;
        } else {
            ok = ok && parse_int(off, &k->offset);
        }
        k->text = csv_cell(t, i, c[3]);
        k->value = parse_num(csv_cell(t, i, c[4]));
        if (!ok || !isfinite(k->value)) {
            free(v);
            return gsae_fail(err, GSAE_EFORMAT,
                             "%s: row %lld: expected numbers in feature, rank, %s and %s", file,
                             (long long)i + 1, logits ? "a sign pos or neg" : "offset",
                             logits ? "value" : "activation");
        }
    }
    qsort(v, (size_t)t->n_rows, sizeof *v, cmp_token);
    *out = v;
    return GSAE_OK;
}

/* First index in v[0..n) with (feature, rank) >= the given (offset ignored). */
static int64_t lower_bound(const struct dash_token *v, int64_t n, int64_t feature, int64_t rank)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        bool less = v[mid].feature < feature || (v[mid].feature == feature && v[mid].rank < rank);
        if (less)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Shading of an activation against the feature's scale: an orange whose alpha grows with the
 * activation, in steps of 0.05 (so a screenshot or the DOM shows a few distinct shades). */
static void put_shade(FILE *f, double v, double scale)
{
    double a = scale > 0 && isfinite(v) && v > 0 ? v / scale : 0;
    a = round((a > 1 ? 1 : a) * 20) / 20;
    if (a > 0) fprintf(f, " style=\"background:rgba(255,128,0,%.2f)\"", a);
}

static void put_histogram(struct report *r, const struct featstats *fs, int64_t f)
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
static void put_logits(struct report *r, const struct dash_token *v, int64_t i0, int64_t i1)
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
            put_text(r->f, v[i].text, false);
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
static void put_example(struct report *r, const char *act, const struct dash_token *v, int64_t i0,
                        int64_t i1, double scale, const char *left, const char *tok,
                        const char *right)
{
    double a = parse_num(act);
    fputs("<div class=\"ex\"><span class=\"exv\">", r->f);
    if (isfinite(a))
        fprintf(r->f, "%.4g", a);
    else
        report_escape(r->f, act);
    fputs("</span><span class=\"ctx\">", r->f);
    if (i1 > i0) {
        for (int64_t i = i0; i < i1; i++) {
            fprintf(r->f, "<span%s", v[i].offset == 0 ? " class=\"pk\"" : "");
            put_shade(r->f, v[i].value, scale);
            fputs(" title=\"&#39;", r->f);
            put_text(r->f, v[i].text, false);
            fprintf(r->f, "&#39; %.4g\">", v[i].value);
            put_text(r->f, v[i].text, true);
            fputs("</span>", r->f);
        }
    } else {
        put_text(r->f, left, true);
        fputs("<mark>", r->f);
        put_text(r->f, tok, true);
        fputs("</mark>", r->f);
        put_text(r->f, right, true);
    }
    fputs("</span></div>\n", r->f);
}

static void put_link(FILE *f, const char *source, int64_t id)
{
    fputs("<a href=\"https://www.neuronpedia.org/", f);
    report_escape(f, source);
    fprintf(f, "/%lld\">", (long long)id);
}

/* A Neuronpedia source is MODEL/SAE_SET, e.g. gemma-2-9b-it/20-gemmascope-res-16k. */
static bool valid_source(const char *s)
{
    if (!s || !*s || !strchr(s, '/') || s[0] == '/') return false;
    for (const char *p = s; *p; p++)
        if (!(((*p | 32) >= 'a' && (*p | 32) <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.' || *p == '/'))
            return false;
    return s[strlen(s) - 1] != '/';
}

/* Read an optional per-feature file keeping the shown features' rows; *has is false when absent.
 * Columns names (NULL-terminated) must exist; their indices go to c. */
static enum gsae_status load_shown(const char *dir, const char *file, struct dash *d,
                                   const char *const *names, int64_t *c, struct csv_table *t,
                                   bool *has, struct gsae_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    enum gsae_status st = csv_read_where(t, path, "feature", keep_shown, d, err);
    *has = st == GSAE_OK;
    if (st == GSAE_ENOTFOUND) {
        gsae_error_clear(err);
        return GSAE_OK;
    }
    for (int i = 0; st == GSAE_OK && names[i]; i++)
        if ((c[i] = csv_col(t, names[i])) < 0)
            st = gsae_fail(err, GSAE_EFORMAT, "%s: no column '%s'", file, names[i]);
    return st;
}

enum gsae_status report_view_dashboard(struct report *r, const char *dir,
                                       const struct report_dashboard_opts *o,
                                       struct gsae_error *err)
{
    struct csv_table ma = {0}, toks = {0}, logits = {0}, freq = {0};
    struct dash d = {0};
    struct featstats fs = {0};
    struct dash_token *tv = NULL, *lv = NULL;
    const struct dash_feature **by_act = NULL;
    int64_t missing_user[DASH_MAX_USER], n_missing = 0;
    bool has_toks = false, has_logits = false, has_freq = false, has_fs = false;
    char path[4200], note[4400] = "";
    snprintf(path, sizeof path, "%s/maxact.csv", dir);
    enum gsae_status st = csv_read(&ma, path, err);
    if (st == GSAE_ENOTFOUND) {
        gsae_error_clear(err);
        return GSAE_OK;
    }
    if (st != GSAE_OK) return st;
    if (o->neuronpedia && !valid_source(o->neuronpedia)) {
        st = gsae_fail(err, GSAE_EINVAL,
                       "neuronpedia source '%s': expected MODEL/SAE_SET of letters, digits and "
                       "- _ . such as gemma-2-9b-it/20-gemmascope-res-16k",
                       o->neuronpedia);
        goto done;
    }
    int64_t c[6];
    static const char *const names[] = {"feature", "rank", "activation", "left", "token", "right"};
    for (int i = 0; i < 3 && st == GSAE_OK; i++)
        if ((c[i] = csv_col(&ma, names[i])) < 0)
            st = gsae_fail(err, GSAE_EFORMAT, "maxact.csv: no column '%s'", names[i]);
    for (int i = 3; i < 6; i++)
        c[i] = csv_col(&ma, names[i]);
    if (st != GSAE_OK) goto done;
    /* The features with examples, their largest activation. */
    d.feat = calloc((size_t)ma.n_rows + 1, sizeof *d.feat);
    d.shown = malloc(((size_t)ma.n_rows + 1) * sizeof *d.shown);
    d.sorted_ids = malloc(((size_t)ma.n_rows + 1) * sizeof *d.sorted_ids);
    by_act = malloc(((size_t)ma.n_rows + 1) * sizeof *by_act);
    if (!d.feat || !d.shown || !d.sorted_ids || !by_act) {
        st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < ma.n_rows; i++) {
        int64_t id;
        if (!parse_int(csv_cell(&ma, i, c[0]), &id)) {
            st = gsae_fail(err, GSAE_EFORMAT, "maxact.csv: row %lld: feature '%s' is not a number",
                           (long long)i + 1, csv_cell(&ma, i, c[0]));
            goto done;
        }
        d.feat[i] = (struct dash_feature){.id = id, .max_act = -INFINITY, .order = -1};
    }
    qsort(d.feat, (size_t)ma.n_rows, sizeof *d.feat, cmp_feature);
    for (int64_t i = 0; i < ma.n_rows; i++)
        if (d.n_feat == 0 || d.feat[d.n_feat - 1].id != d.feat[i].id)
            d.feat[d.n_feat++] = d.feat[i];
    for (int64_t i = 0; i < ma.n_rows; i++) {
        int64_t id;
        parse_int(csv_cell(&ma, i, c[0]), &id);
        double a = parse_num(csv_cell(&ma, i, c[2]));
        struct dash_feature *ft = find(&d, id);
        if (isfinite(a) && a > ft->max_act) ft->max_act = a;
    }
    /* The cards: the user's features, the rankings' top features, the largest activations. */
    int64_t n_user = 0;
    if (o->features) {
        char *list = strdup(o->features), *save = NULL;
        if (!list) {
            st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
            goto done;
        }
        for (char *tok = strtok_r(list, ", \t\n", &save); tok && st == GSAE_OK;
             tok = strtok_r(NULL, ", \t\n", &save)) {
            int64_t id;
            if (!parse_int(tok, &id) || id < 0)
                st = gsae_fail(err, GSAE_EINVAL, "report features: '%s' is not a feature number",
                               tok);
            else if (++n_user > DASH_MAX_USER)
                st = gsae_fail(err, GSAE_EINVAL, "report features: more than %d features",
                               DASH_MAX_USER);
            else if (!choose(&d, id, "your choice") && n_missing < DASH_MAX_USER)
                missing_user[n_missing++] = id;
        }
        free(list);
        if (st != GSAE_OK) goto done;
    }
    int64_t cap = d.n_shown + DASH_MAX_RANKED;
    if ((st = choose_ranked(&d, dir, "table_group_contrast.csv", "success-failure contrast",
                            INT64_MAX, cap, err)) != GSAE_OK ||
        (st = choose_ranked(&d, dir, "attribution_top.csv", "attribution", INT64_MAX, cap, err)) !=
            GSAE_OK ||
        (st = choose_ranked(&d, dir, "table_pair_top.csv", "pair contrast", 2, cap, err)) !=
            GSAE_OK)
        goto done;
    for (int64_t i = 0; i < d.n_feat; i++)
        by_act[i] = &d.feat[i];
    qsort(by_act, (size_t)d.n_feat, sizeof *by_act, cmp_by_act);
    for (int64_t k = 0; k < d.n_feat && d.n_shown < cap; k++) {
        char why[64];
        snprintf(why, sizeof why, "activation #%lld", (long long)k + 1);
        if (by_act[k]->order < 0) choose(&d, by_act[k]->id, why);
    }
    for (int64_t k = 0; k < d.n_shown; k++)
        d.sorted_ids[k] = d.feat[d.shown[k]].id;
    qsort(d.sorted_ids, (size_t)d.n_shown, sizeof *d.sorted_ids, cmp_id);
    /* Per-feature files, the shown features' rows only. */
    int64_t ct[5], cl[5], cf[2];
    static const char *const tok_names[] = {"feature", "rank",       "offset",
                                            "text",    "activation", NULL};
    static const char *const logit_names[] = {"feature", "sign", "rank", "text", "value", NULL};
    static const char *const freq_names[] = {"feature", "frequency", NULL};
    if ((st = load_shown(dir, "maxact_tokens.csv", &d, tok_names, ct, &toks, &has_toks, err)) !=
            GSAE_OK ||
        (st = load_shown(dir, "logit_effects.csv", &d, logit_names, cl, &logits, &has_logits,
                         err)) != GSAE_OK ||
        (st = load_shown(dir, "feature_freq.csv", &d, freq_names, cf, &freq, &has_freq, err)) !=
            GSAE_OK)
        goto done;
    if (has_toks && (st = parse_tokens(&toks, "maxact_tokens.csv", ct, false, &tv, err)) != GSAE_OK)
        goto done;
    /* logit_effects.csv: feature,sign,rank: parsed with sign in the offset slot, then sorted
     * by (feature, rank, sign); re-sort by (feature, sign, rank) below. */
    const int64_t cl_order[5] = {cl[0], cl[2], cl[1], cl[3], cl[4]};
    if (has_logits &&
        (st = parse_tokens(&logits, "logit_effects.csv", cl_order, true, &lv, err)) != GSAE_OK)
        goto done;
    if (o->store) {
        snprintf(path, sizeof path, "%s/feature_stats.nc", o->store);
        struct stat sb;
        if (stat(path, &sb) != 0) {
            if (o->store_required) {
                st = gsae_fail(err, GSAE_ENOTFOUND, "%s: no such file (--store)", path);
                goto done;
            }
            snprintf(note, sizeof note,
                     "No activation histograms: %s not found (gsae report --store STORE).", path);
        } else if ((st = featstats_nc_read(path, &fs, err)) != GSAE_OK) {
            goto done;
        } else {
            has_fs = true;
        }
    } else {
        snprintf(note, sizeof note,
                 "No activation histograms: the store is not known (gsae report --store STORE, "
                 "or a maxact step in job.ini).");
    }
    /* The view. */
    report_section(r, "features", "Feature dashboard",
                   "Features chosen by interest: your list (report_features), the experiment's "
                   "rankings (success-failure contrast, attribution, pair contrasts), then the "
                   "largest activations. Each example's tokens are shaded by the feature's "
                   "activation (hover a token for its value); \xe2\x86\xb5 is a newline, "
                   "\xe2\x87\xa5 a tab.");
    fprintf(r->f, "<p class=\"shown\">%lld of %lld features with max-activating examples shown.",
            (long long)d.n_shown, (long long)d.n_feat);
    if (n_missing > 0) {
        fputs(" Not shown, no examples in maxact.csv:", r->f);
        for (int64_t k = 0; k < n_missing; k++)
            fprintf(r->f, "%s %lld", k ? "," : "", (long long)missing_user[k]);
        fputc('.', r->f);
    }
    fputs("</p>\n", r->f);
    if (!has_toks)
        report_paragraph(r, "maxact_tokens.csv not found: the peak token alone is highlighted.");
    if (note[0]) report_paragraph(r, note);
    for (int64_t k = 0; k < d.n_shown; k++) {
        const struct dash_feature *ft = &d.feat[d.shown[k]];
        fprintf(r->f, "<div class=\"feat\" id=\"feature-%lld\"><h3>", (long long)ft->id);
        if (o->neuronpedia) put_link(r->f, o->neuronpedia, ft->id);
        fprintf(r->f, "Feature %lld", (long long)ft->id);
        if (o->neuronpedia) fputs(" <small>on Neuronpedia &#8599;</small></a>", r->f);
        fputs("</h3><p class=\"why\">", r->f);
        report_escape(r->f, ft->why);
        fprintf(r->f, " &#183; max activation %.4g", ft->max_act);
        for (int64_t i = 0; has_freq && i < freq.n_rows; i++) {
            int64_t id;
            if (parse_int(csv_cell(&freq, i, cf[0]), &id) && id == ft->id) {
                double fr = parse_num(csv_cell(&freq, i, cf[1]));
                if (isfinite(fr)) fprintf(r->f, " &#183; fires on %.3g%% of tokens", 100 * fr);
                break;
            }
        }
        fputs("</p>\n<div class=\"fcols\">", r->f);
        if (has_fs && ft->id < fs.cfg.d_sae) put_histogram(r, &fs, ft->id);
        if (has_logits) {
            int64_t i0 = lower_bound(lv, logits.n_rows, ft->id, INT64_MIN);
            int64_t i1 = lower_bound(lv, logits.n_rows, ft->id + 1, INT64_MIN);
            /* lv is sorted by (feature, rank, sign): regroup as (sign, rank). */
            struct dash_token tmp[2 * DASH_MAX_LOGITS];
            int64_t n = 0;
            for (int64_t sign = 0; sign < 2; sign++)
                for (int64_t i = i0, taken = 0; i < i1 && taken < DASH_MAX_LOGITS; i++)
                    if (lv[i].offset == sign) tmp[n++] = lv[i], taken++;
            if (n > 0) put_logits(r, tmp, 0, n);
        }
        fputs("</div>\n<div class=\"exs\">", r->f);
        double scale = ft->max_act > 0 ? ft->max_act : 0;
        if (has_toks) {
            int64_t i0 = lower_bound(tv, toks.n_rows, ft->id, INT64_MIN);
            int64_t i1 = lower_bound(tv, toks.n_rows, ft->id + 1, INT64_MIN);
            for (int64_t i = i0; i < i1; i++)
                if (tv[i].value > scale) scale = tv[i].value;
        }
        for (int64_t i = 0; i < ma.n_rows; i++) {
            int64_t id, rank = -1;
            parse_int(csv_cell(&ma, i, c[0]), &id);
            if (id != ft->id) continue;
            int64_t t0 = 0, t1 = 0;
            if (has_toks && parse_int(csv_cell(&ma, i, c[1]), &rank)) {
                t0 = lower_bound(tv, toks.n_rows, id, rank);
                t1 = lower_bound(tv, toks.n_rows, id, rank + 1);
            }
            put_example(r, csv_cell(&ma, i, c[2]), tv, t0, t1, scale,
                        c[3] >= 0 ? csv_cell(&ma, i, c[3]) : "",
                        c[4] >= 0 ? csv_cell(&ma, i, c[4]) : "",
                        c[5] >= 0 ? csv_cell(&ma, i, c[5]) : "");
        }
        fputs("</div></div>\n", r->f);
    }
done:
    free(tv);
    free(lv);
    free(by_act);
    free(d.feat);
    free(d.shown);
    free(d.sorted_ids);
    featstats_free(&fs);
    csv_table_free(&ma);
    csv_table_free(&toks);
    csv_table_free(&logits);
    csv_table_free(&freq);
    return st;
}
