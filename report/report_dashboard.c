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
#include "../io/results_schema.h"
#include "report_card.h"
#include "report_views.h"

#define DASH_MAX_RANKED  24  /* cards besides the user's own choice */
#define DASH_MAX_PER_SRC 8   /* features taken from each ranking file */
#define DASH_MAX_USER    256 /* features the user may name */

struct dash_feature {
    int64_t id;
    double max_act; /* largest activation in maxact.csv */
    char why[200];  /* why it is shown, "; "-joined */
    int64_t order;  /* position among the cards, -1 when not shown */
};

struct dash {
    struct dash_feature *feat; /* sorted by id */
    int64_t n_feat;
    int64_t *shown; /* indices into feat, in card order */
    int64_t n_shown;
    int64_t *sorted_ids; /* ids of the shown features, ascending (row filter) */
};

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
    return report_parse_int(value, &id) &&
           bsearch(&id, d->sorted_ids, (size_t)d->n_shown, sizeof id, cmp_id) != NULL;
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
        if (c_rank >= 0 && report_parse_int(csv_cell(&t, i, c_rank), &rank) && rank > max_rank)
            continue;
        if (!report_parse_int(csv_cell(&t, i, c_feat), &id)) continue;
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
        bool ok = report_parse_int(csv_cell(t, i, c[0]), &k->feature) &&
                  report_parse_int(csv_cell(t, i, c[1]), &k->rank);
        if (logits) {
            k->offset = strcmp(off, "pos") == 0 ? 0 : strcmp(off, "neg") == 0 ? 1 : -1;
            ok = ok && k->offset >= 0;
        } else {
            ok = ok && report_parse_int(off, &k->offset);
        }
        k->text = csv_cell(t, i, c[3]);
        k->value = report_parse_num(csv_cell(t, i, c[4]));
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

/* Everything the dashboard reads, with the column indices of each file (by its schema). */
struct dash_view {
    struct csv_table ma, toks, logits, freq;
    int64_t c[8], ct[8], cl[8], cf[4];
    bool has_toks, has_logits, has_freq, has_fs;
    struct dash d;
    struct dash_token *tv, *lv; /* maxact_tokens.csv and logit_effects.csv rows, sorted */
    struct featstats fs;
    int64_t missing_user[DASH_MAX_USER], n_missing;
    char note[4400]; /* why there are no histograms, or "" */
};

static void dash_view_free(struct dash_view *v)
{
    free(v->tv);
    free(v->lv);
    free(v->d.feat);
    free(v->d.shown);
    free(v->d.sorted_ids);
    featstats_free(&v->fs);
    csv_table_free(&v->ma);
    csv_table_free(&v->toks);
    csv_table_free(&v->logits);
    csv_table_free(&v->freq);
}

/* Read an optional per-feature file keeping the shown features' rows; *has is false when absent.
 * The required columns of schema must exist; their indices go to c. */
static enum gsae_status load_shown(const char *dir, const struct csv_schema *schema, struct dash *d,
                                   int64_t *c, struct csv_table *t, bool *has,
                                   struct gsae_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, schema->file);
    enum gsae_status st = csv_read_where(t, path, "feature", keep_shown, d, err);
    *has = st == GSAE_OK;
    if (st == GSAE_ENOTFOUND) {
        gsae_error_clear(err);
        return GSAE_OK;
    }
    return st == GSAE_OK ? csv_columns(t, schema, c, err) : st;
}

/* The features of maxact.csv, each once, sorted by id, with their largest activation. */
static enum gsae_status dash_features(struct dash_view *v, struct gsae_error *err)
{
    struct dash *d = &v->d;
    const struct csv_table *ma = &v->ma;
    const int64_t c_feat = v->c[MAXACT_FEATURE], c_act = v->c[MAXACT_ACTIVATION];
    d->feat = calloc((size_t)ma->n_rows + 1, sizeof *d->feat);
    d->shown = malloc(((size_t)ma->n_rows + 1) * sizeof *d->shown);
    d->sorted_ids = malloc(((size_t)ma->n_rows + 1) * sizeof *d->sorted_ids);
    if (!d->feat || !d->shown || !d->sorted_ids)
        return gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
    for (int64_t i = 0; i < ma->n_rows; i++) {
        int64_t id;
        if (!report_parse_int(csv_cell(ma, i, c_feat), &id))
            return gsae_fail(err, GSAE_EFORMAT,
                             "maxact.csv: row %lld: feature '%s' is not a number", (long long)i + 1,
                             csv_cell(ma, i, c_feat));
        d->feat[i] = (struct dash_feature){.id = id, .max_act = -INFINITY, .order = -1};
    }
    qsort(d->feat, (size_t)ma->n_rows, sizeof *d->feat, cmp_feature);
    for (int64_t i = 0; i < ma->n_rows; i++)
        if (d->n_feat == 0 || d->feat[d->n_feat - 1].id != d->feat[i].id)
            d->feat[d->n_feat++] = d->feat[i];
    for (int64_t i = 0; i < ma->n_rows; i++) {
        int64_t id;
        report_parse_int(csv_cell(ma, i, c_feat), &id);
        double a = report_parse_num(csv_cell(ma, i, c_act));
        struct dash_feature *ft = find(d, id);
        if (isfinite(a) && a > ft->max_act) ft->max_act = a;
    }
    return GSAE_OK;
}

/* The user's features ("3,17"), first; those without examples go to missing_user. */
static enum gsae_status choose_user(struct dash_view *v, const char *features,
                                    struct gsae_error *err)
{
    char *list = strdup(features), *save = NULL;
    if (!list) return gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
    enum gsae_status st = GSAE_OK;
    int64_t n_user = 0;
    for (char *tok = strtok_r(list, ", \t\n", &save); tok && st == GSAE_OK;
         tok = strtok_r(NULL, ", \t\n", &save)) {
        int64_t id;
        if (!report_parse_int(tok, &id) || id < 0)
            st = gsae_fail(err, GSAE_EINVAL, "report features: '%s' is not a feature number", tok);
        else if (++n_user > DASH_MAX_USER)
            st = gsae_fail(err, GSAE_EINVAL, "report features: more than %d features",
                           DASH_MAX_USER);
        else if (!choose(&v->d, id, "your choice") && v->n_missing < DASH_MAX_USER)
            v->missing_user[v->n_missing++] = id;
    }
    free(list);
    return st;
}

/* The cards: the user's features, the rankings' top features, the largest activations. */
static enum gsae_status choose_cards(struct dash_view *v, const char *dir, const char *features,
                                     struct gsae_error *err)
{
    struct dash *d = &v->d;
    enum gsae_status st = features ? choose_user(v, features, err) : GSAE_OK;
    int64_t cap = d->n_shown + DASH_MAX_RANKED;
    if (st == GSAE_OK)
        st = choose_ranked(d, dir, "table_group_contrast.csv", "success-failure contrast",
                           INT64_MAX, cap, err);
    if (st == GSAE_OK)
        st = choose_ranked(d, dir, "attribution_top.csv", "attribution", INT64_MAX, cap, err);
    if (st == GSAE_OK)
        st = choose_ranked(d, dir, "table_pair_top.csv", "pair contrast", 2, cap, err);
    const struct dash_feature **by_act = malloc(((size_t)d->n_feat + 1) * sizeof *by_act);
    if (st == GSAE_OK && !by_act) st = gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
    if (st != GSAE_OK) {
        free(by_act);
        return st;
    }
    for (int64_t i = 0; i < d->n_feat; i++)
        by_act[i] = &d->feat[i];
    qsort(by_act, (size_t)d->n_feat, sizeof *by_act, cmp_by_act);
    for (int64_t k = 0; k < d->n_feat && d->n_shown < cap; k++) {
        char why[64];
        snprintf(why, sizeof why, "activation #%lld", (long long)k + 1);
        if (by_act[k]->order < 0) choose(d, by_act[k]->id, why);
    }
    free(by_act);
    for (int64_t k = 0; k < d->n_shown; k++)
        d->sorted_ids[k] = d->feat[d->shown[k]].id;
    qsort(d->sorted_ids, (size_t)d->n_shown, sizeof *d->sorted_ids, cmp_id);
    return GSAE_OK;
}

/* The per-feature files, the shown features' rows only. */
static enum gsae_status load_per_feature(struct dash_view *v, const char *dir,
                                         struct gsae_error *err)
{
    enum gsae_status st =
        load_shown(dir, &results_maxact_tokens, &v->d, v->ct, &v->toks, &v->has_toks, err);
    if (st == GSAE_OK)
        st = load_shown(dir, &results_logit_effects, &v->d, v->cl, &v->logits, &v->has_logits, err);
    if (st == GSAE_OK)
        st = load_shown(dir, &results_feature_freq, &v->d, v->cf, &v->freq, &v->has_freq, err);
    const int64_t *ct = v->ct, *cl = v->cl;
    const int64_t tok_cols[5] = {ct[MAXACT_TOKENS_FEATURE], ct[MAXACT_TOKENS_RANK],
                                 ct[MAXACT_TOKENS_OFFSET], ct[MAXACT_TOKENS_TEXT],
                                 ct[MAXACT_TOKENS_ACTIVATION]};
    if (st == GSAE_OK && v->has_toks)
        st = parse_tokens(&v->toks, "maxact_tokens.csv", tok_cols, false, &v->tv, err);
    /* logit_effects.csv: parsed with the sign in the offset slot, so sorted by (feature, rank,
     * sign); put_card regroups them by sign. */
    const int64_t logit_cols[5] = {cl[LOGITS_FEATURE], cl[LOGITS_RANK], cl[LOGITS_SIGN],
                                   cl[LOGITS_TEXT], cl[LOGITS_VALUE]};
    if (st == GSAE_OK && v->has_logits)
        st = parse_tokens(&v->logits, "logit_effects.csv", logit_cols, true, &v->lv, err);
    return st;
}

/* STORE/feature_stats.nc for the histograms, or a note saying why there are none. */
static enum gsae_status load_histograms(struct dash_view *v, const struct report_dashboard_opts *o,
                                        struct gsae_error *err)
{
    char path[4200];
    if (!o->store) {
        snprintf(v->note, sizeof v->note,
                 "No activation histograms: the store is not known (gsae report --store STORE, "
                 "or a maxact step in job.ini).");
        return GSAE_OK;
    }
    snprintf(path, sizeof path, "%s/feature_stats.nc", o->store);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (o->store_required)
            return gsae_fail(err, GSAE_ENOTFOUND, "%s: no such file (--store)", path);
        snprintf(v->note, sizeof v->note,
                 "No activation histograms: %s not found (gsae report --store STORE).", path);
        return GSAE_OK;
    }
    enum gsae_status st = featstats_nc_read(path, &v->fs, err);
    v->has_fs = st == GSAE_OK;
    return st;
}

/* The section heading, what is shown and what is not. */
static void put_header(struct report *r, const struct dash_view *v)
{
    report_section(r, "features", "Feature dashboard",
                   "Features chosen by interest: your list (report_features), the experiment's "
                   "rankings (success-failure contrast, attribution, pair contrasts), then the "
                   "largest activations. Each example's tokens are shaded by the feature's "
                   "activation (hover a token for its value); \xe2\x86\xb5 is a newline, "
                   "\xe2\x87\xa5 a tab.");
    fprintf(r->f, "<p class=\"shown\">%lld of %lld features with max-activating examples shown.",
            (long long)v->d.n_shown, (long long)v->d.n_feat);
    if (v->n_missing > 0) {
        fputs(" Not shown, no examples in maxact.csv:", r->f);
        for (int64_t k = 0; k < v->n_missing; k++)
            fprintf(r->f, "%s %lld", k ? "," : "", (long long)v->missing_user[k]);
        fputc('.', r->f);
    }
    fputs("</p>\n", r->f);
    if (!v->has_toks)
        report_paragraph(r, "maxact_tokens.csv not found: the peak token alone is highlighted.");
    if (v->note[0]) report_paragraph(r, v->note);
}

/* A card's heading: the feature (linked to Neuronpedia), why it is shown, its statistics. */
static void put_card_heading(struct report *r, const struct dash_view *v,
                             const struct report_dashboard_opts *o, const struct dash_feature *ft)
{
    fprintf(r->f, "<div class=\"feat\" id=\"feature-%lld\"><h3>", (long long)ft->id);
    if (o->neuronpedia) put_link(r->f, o->neuronpedia, ft->id);
    fprintf(r->f, "Feature %lld", (long long)ft->id);
    if (o->neuronpedia) fputs(" <small>on Neuronpedia &#8599;</small></a>", r->f);
    fputs("</h3><p class=\"why\">", r->f);
    report_escape(r->f, ft->why);
    fprintf(r->f, " &#183; max activation %.4g", ft->max_act);
    const struct csv_table *freq = &v->freq;
    for (int64_t i = 0; v->has_freq && i < freq->n_rows; i++) {
        int64_t id;
        if (report_parse_int(csv_cell(freq, i, v->cf[FREQ_FEATURE]), &id) && id == ft->id) {
            double fr = report_parse_num(csv_cell(freq, i, v->cf[FREQ_FREQUENCY]));
            if (isfinite(fr)) fprintf(r->f, " &#183; fires on %.3g%% of tokens", 100 * fr);
            break;
        }
    }
    fputs("</p>\n<div class=\"fcols\">", r->f);
    if (v->has_fs && ft->id < v->fs.cfg.d_sae) report_card_histogram(r, &v->fs, ft->id);
    if (v->has_logits) {
        int64_t i0 = lower_bound(v->lv, v->logits.n_rows, ft->id, INT64_MIN);
        int64_t i1 = lower_bound(v->lv, v->logits.n_rows, ft->id + 1, INT64_MIN);
        /* lv is sorted by (feature, rank, sign): regroup as (sign, rank). */
        struct dash_token tmp[2 * DASH_MAX_LOGITS];
        int64_t n = 0;
        for (int64_t sign = 0; sign < 2; sign++)
            for (int64_t i = i0, taken = 0; i < i1 && taken < DASH_MAX_LOGITS; i++)
                if (v->lv[i].offset == sign) tmp[n++] = v->lv[i], taken++;
        if (n > 0) report_card_logits(r, tmp, 0, n);
    }
    fputs("</div>\n", r->f);
}

/* A card's examples, each token shaded against the feature's largest activation. */
static void put_card_examples(struct report *r, const struct dash_view *v,
                              const struct dash_feature *ft)
{
    const struct csv_table *ma = &v->ma;
    const int64_t *c = v->c;
    fputs("<div class=\"exs\">", r->f);
    double scale = ft->max_act > 0 ? ft->max_act : 0;
    if (v->has_toks) {
        int64_t i0 = lower_bound(v->tv, v->toks.n_rows, ft->id, INT64_MIN);
        int64_t i1 = lower_bound(v->tv, v->toks.n_rows, ft->id + 1, INT64_MIN);
        for (int64_t i = i0; i < i1; i++)
            if (v->tv[i].value > scale) scale = v->tv[i].value;
    }
    for (int64_t i = 0; i < ma->n_rows; i++) {
        int64_t id, rank = -1;
        report_parse_int(csv_cell(ma, i, c[MAXACT_FEATURE]), &id);
        if (id != ft->id) continue;
        int64_t t0 = 0, t1 = 0;
        if (v->has_toks && report_parse_int(csv_cell(ma, i, c[MAXACT_RANK]), &rank)) {
            t0 = lower_bound(v->tv, v->toks.n_rows, id, rank);
            t1 = lower_bound(v->tv, v->toks.n_rows, id, rank + 1);
        }
        const int64_t cl = c[MAXACT_LEFT], ck = c[MAXACT_TOKEN], cr = c[MAXACT_RIGHT];
        report_card_example(r, csv_cell(ma, i, c[MAXACT_ACTIVATION]), v->tv, t0, t1, scale,
                            cl >= 0 ? csv_cell(ma, i, cl) : "", ck >= 0 ? csv_cell(ma, i, ck) : "",
                            cr >= 0 ? csv_cell(ma, i, cr) : "");
    }
    fputs("</div></div>\n", r->f);
}

enum gsae_status report_view_dashboard(struct report *r, const char *dir,
                                       const struct report_dashboard_opts *o,
                                       struct gsae_error *err)
{
    struct dash_view *v = calloc(1, sizeof *v);
    if (!v) return gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
    char path[4200];
    snprintf(path, sizeof path, "%s/maxact.csv", dir);
    enum gsae_status st = csv_read(&v->ma, path, err);
    if (st == GSAE_ENOTFOUND) {
        gsae_error_clear(err);
        free(v);
        return GSAE_OK;
    }
    if (st == GSAE_OK && o->neuronpedia && !valid_source(o->neuronpedia))
        st = gsae_fail(err, GSAE_EINVAL,
                       "neuronpedia source '%s': expected MODEL/SAE_SET of letters, digits and "
                       "- _ . such as gemma-2-9b-it/20-gemmascope-res-16k",
                       o->neuronpedia);
    if (st == GSAE_OK) st = csv_columns(&v->ma, &results_maxact, v->c, err);
    if (st == GSAE_OK) st = dash_features(v, err);
    if (st == GSAE_OK) st = choose_cards(v, dir, o->features, err);
    if (st == GSAE_OK) st = load_per_feature(v, dir, err);
    if (st == GSAE_OK) st = load_histograms(v, o, err);
    if (st == GSAE_OK) {
        put_header(r, v);
        for (int64_t k = 0; k < v->d.n_shown; k++) {
            const struct dash_feature *ft = &v->d.feat[v->d.shown[k]];
            put_card_heading(r, v, o, ft);
            put_card_examples(r, v, ft);
        }
    }
    dash_view_free(v);
    free(v);
    return st;
}
