/* opt.c: typed option tables (see opt.h). */
#include "opt.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define OPT_MAX 96 /* options of one command, all groups together */

/* The table's options flattened: each with the base offset of its group. */
struct flat {
    const struct opt *o[OPT_MAX];
    size_t base[OPT_MAX];
    bool given[OPT_MAX];
    int n;
};

static void flatten(const struct opt_cmd *c, struct flat *f)
{
    f->n = 0;
    for (size_t g = 0; g < sizeof c->groups / sizeof c->groups[0] && c->groups[g].opts; g++)
        for (const struct opt *o = c->groups[g].opts; (o->name || o->meta) && f->n < OPT_MAX; o++) {
            f->o[f->n] = o;
            f->base[f->n] = c->groups[g].base;
            f->given[f->n++] = false;
        }
}

/* Option i's destination was set: by it, or by another name for the same field (an alias such
 * as harvest's --store for --out). */
static bool field_given(const struct flat *f, int i)
{
    for (int j = 0; j < f->n; j++)
        if (f->given[j] && f->base[j] + f->o[j]->off == f->base[i] + f->o[i]->off) return true;
    return false;
}

static int find(const struct flat *f, const char *name, size_t len)
{
    for (int i = 0; i < f->n; i++)
        if (f->o[i]->name && strlen(f->o[i]->name) == len && strncmp(f->o[i]->name, name, len) == 0)
            return i;
    return -1;
}

bool opt_has(const struct opt_cmd *c, const char *name)
{
    struct flat f;
    flatten(c, &f);
    return find(&f, name, strlen(name)) >= 0;
}

int opt_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 64;
    int row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

/* The option name closest to name, or NULL when none is. */
static const char *nearest(const struct flat *f, const char *name)
{
    const char *best = NULL;
    int best_d = 1 << 20;
    for (int i = 0; i < f->n; i++) {
        if (!f->o[i]->name || (f->o[i]->flags & OPT_HIDDEN)) continue;
        int d = opt_distance(name, f->o[i]->name);
        if (d < best_d) {
            best_d = d;
            best = f->o[i]->name;
        }
    }
    return best;
}

/* The range of an integer option, [lo, hi]. */
static void int_range(const struct opt *o, int64_t *lo, int64_t *hi)
{
    if (o->min == 0 && o->max == 0) {
        *lo = o->type == OPT_INT ? -2147483647 - 1 : INT64_MIN;
        *hi = o->type == OPT_INT ? 2147483647 : INT64_MAX;
    } else { /* a bound beyond int64_t's (or int's) range stands for that range's end */
        double top = o->type == OPT_INT ? 2147483647.0 : 9.2e18;
        *lo = o->min < -top ? (o->type == OPT_INT ? -2147483647 - 1 : INT64_MIN) : (int64_t)o->min;
        *hi = o->max > top ? (o->type == OPT_INT ? 2147483647 : INT64_MAX) : (int64_t)o->max;
    }
}

/* "a, b or c" of the choices into buf. */
static void choice_list(const struct opt *o, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (const struct opt_choice *ch = o->choices; ch && ch->name; ch++) {
        const char *sep = ch == o->choices ? "" : ch[1].name ? ", " : " or ";
        int w = snprintf(buf + len, n - len, "%s%s", sep, ch->name);
        if (w < 0 || (size_t)w >= n - len) break;
        len += (size_t)w;
    }
}

/* An OPT_INT or OPT_I64 value: strict, within the range. */
static bool parse_int(const struct opt *o, const char *v, void *field, char *why, size_t n)
{
    int64_t lo, hi;
    int_range(o, &lo, &hi);
    int64_t x;
    if (gsae_parse_i64(v, lo, hi, &x)) {
        if (o->type == OPT_INT)
            *(int *)field = (int)x;
        else
            *(int64_t *)field = x;
        return true;
    }
    char list[200] = "";
    if (o->choices) {
        choice_list(o, list + 4, sizeof list - 4);
        memcpy(list, " or ", 4);
    }
    if (o->min == 0 && o->max == 0)
        snprintf(why, n, "expected an integer%s", list);
    else
        snprintf(why, n, "expected an integer from %lld to %lld%s", (long long)lo, (long long)hi,
                 list);
    return false;
}

/* Parse v for o into *field; on a bad value, what was expected into why. */
static bool parse_value(const struct opt *o, const char *v, void *field, char *why, size_t n)
{
    for (const struct opt_choice *ch = o->choices; ch && ch->name; ch++)
        if (strcmp(v, ch->name) == 0) {
            if (o->type == OPT_INT || o->type == OPT_ENUM)
                *(int *)field = (int)ch->value;
            else
                *(int64_t *)field = ch->value;
            return true;
        }
    char *end = NULL;
    errno = 0;
    switch (o->type) {
    case OPT_STR:
        *(const char **)field = v;
        return true;
    case OPT_FLAG:
        *(bool *)field = true;
        return true;
    case OPT_LIST: {
        struct opt_list *l = field;
        const char **grown = realloc(l->v, (size_t)(l->n + 1) * sizeof *grown);
        if (!grown) {
            snprintf(why, n, "out of memory");
            return false;
        }
        l->v = grown;
        l->v[l->n++] = v;
        return true;
    }
    case OPT_ENUM: {
        char list[256];
        choice_list(o, list, sizeof list);
        snprintf(why, n, "expected %s", list);
        return false;
    }
    case OPT_INT:
    case OPT_I64:
        return parse_int(o, v, field, why, n);
    case OPT_U64: {
        uint64_t x;
        if (gsae_parse_u64(v, &x)) {
            *(uint64_t *)field = x;
            return true;
        }
        snprintf(why, n, "expected an unsigned 64-bit integer");
        return false;
    }
    case OPT_F64: {
        double x = strtod(v, &end);
        bool ranged = o->min != 0 || o->max != 0;
        if (end != v && *end == '\0' && errno == 0 && isfinite(x) &&
            (!ranged || (x >= o->min && x <= o->max))) {
            *(double *)field = x;
            return true;
        }
        if (ranged)
            snprintf(why, n, "expected a number from %g to %g", o->min, o->max);
        else
            snprintf(why, n, "expected a number");
        return false;
    }
    }
    return false;
}

static void *field_of(const struct flat *f, int i, void *dst)
{
    return (char *)dst + f->base[i] + f->o[i]->off;
}

/* The defaults; a number outside the option's range (-1 for "not given") is allowed. */
static void set_defaults(const struct flat *f, void *dst)
{
    char why[300];
    for (int i = 0; i < f->n; i++) {
        const struct opt *o = f->o[i];
        void *field = field_of(f, i, dst);
        if (!o->def || o->type == OPT_FLAG || o->type == OPT_LIST) continue;
        if (o->type == OPT_INT && !o->choices)
            *(int *)field = (int)strtol(o->def, NULL, 10);
        else if (o->type == OPT_I64 && !o->choices)
            *(int64_t *)field = strtoll(o->def, NULL, 10);
        else if (o->type == OPT_F64)
            *(double *)field = strtod(o->def, NULL);
        else
            parse_value(o, o->def, field, why, sizeof why);
    }
}

/* How option i is written in messages: --name, or its positional name. */
static const char *shown(const struct flat *f, int i, char *buf, size_t n)
{
    if (f->o[i]->name)
        snprintf(buf, n, "--%s", f->o[i]->name);
    else
        snprintf(buf, n, "%s", f->o[i]->meta);
    return buf;
}

static enum gsae_status set(const struct flat *f, int i, const char *v, void *dst,
                            struct gsae_error *err)
{
    char why[300], nm[120];
    if (!parse_value(f->o[i], v, field_of(f, i, dst), why, sizeof why))
        return gsae_fail(err, GSAE_EINVAL, "%s '%s', %s", shown(f, i, nm, sizeof nm), v, why);
    return GSAE_OK;
}

/* The next positional slot for a word, or -1. */
static int next_positional(const struct flat *f)
{
    for (int i = 0; i < f->n; i++)
        if ((f->o[i]->flags & OPT_POS) && (!f->given[i] || f->o[i]->type == OPT_LIST)) return i;
    return -1;
}

static enum gsae_status check_required(const struct flat *f, struct gsae_error *err)
{
    char nm[120];
    for (int i = 0; i < f->n; i++)
        if ((f->o[i]->flags & OPT_REQUIRED) && !field_given(f, i))
            return gsae_fail(err, GSAE_EINVAL, "%s is required", shown(f, i, nm, sizeof nm));
    return GSAE_OK;
}

/* One "--name[=value]" word at argv[*i]. */
static enum gsae_status long_option(struct flat *f, int argc, char **argv, int *i, void *dst,
                                    struct gsae_error *err)
{
    const char *a = argv[*i] + 2, *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    int k = find(f, a, len);
    if (k < 0) {
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)len, a);
        const char *near = nearest(f, name);
        if (near)
            return gsae_fail(err, GSAE_EINVAL, "--%s: unknown option (did you mean --%s?)", name,
                             near);
        return gsae_fail(err, GSAE_EINVAL, "--%s: unknown option", name);
    }
    f->given[k] = true;
    if (f->o[k]->type == OPT_FLAG) {
        if (eq) return gsae_fail(err, GSAE_EINVAL, "--%s takes no value", f->o[k]->name);
        *(bool *)field_of(f, k, dst) = true;
        return GSAE_OK;
    }
    const char *v = eq ? eq + 1 : NULL;
    if (!v && (f->o[k]->flags & OPT_OPTVAL)) {
        const struct opt_choice *ch = f->o[k]->choices;
        v = ch[0].name;
        for (; *i + 1 < argc && ch->name; ch++)
            if (strcmp(argv[*i + 1], ch->name) == 0) v = argv[++*i];
    }
    if (!v) {
        if (*i + 1 >= argc) return gsae_fail(err, GSAE_EINVAL, "--%s needs a value", f->o[k]->name);
        v = argv[++*i];
    }
    return set(f, k, v, dst, err);
}

enum gsae_status opt_parse_err(const struct opt_cmd *c, int argc, char **argv, void *dst,
                               struct gsae_error *err)
{
    struct flat f;
    flatten(c, &f);
    memset(dst, 0, c->size);
    set_defaults(&f, dst);
    bool words_only = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        enum gsae_status st = GSAE_OK;
        if (!words_only && strcmp(a, "--") == 0) {
            words_only = true;
            continue;
        }
        if (!words_only && strncmp(a, "--", 2) == 0) {
            st = long_option(&f, argc, argv, &i, dst, err);
        } else if (!words_only && a[0] == '-' && a[1] && !(a[1] >= '0' && a[1] <= '9')) {
            st = gsae_fail(err, GSAE_EINVAL, "%s: unknown option", a);
        } else {
            int k = next_positional(&f);
            if (k < 0) return gsae_fail(err, GSAE_EINVAL, "unexpected argument '%s'", a);
            f.given[k] = true;
            st = set(&f, k, a, dst, err);
        }
        if (st != GSAE_OK) return st;
    }
    if (c->given) {
        uint64_t bits = 0;
        for (int i = 0; i < f.n && i < 64; i++)
            bits |= (uint64_t)f.given[i] << i;
        memcpy((char *)dst + c->given - 1, &bits, sizeof bits);
    }
    return check_required(&f, err);
}

bool opt_given(const struct opt_cmd *c, const void *dst, const char *name)
{
    struct flat f;
    flatten(c, &f);
    int k = find(&f, name, strlen(name));
    uint64_t bits = 0;
    if (c->given) memcpy(&bits, (const char *)dst + c->given - 1, sizeof bits);
    return k >= 0 && k < 64 && (bits >> k & 1);
}

void opt_defaults(const struct opt_cmd *c, void *dst)
{
    struct flat f;
    flatten(c, &f);
    memset(dst, 0, c->size);
    set_defaults(&f, dst);
}

enum gsae_status opt_set(const struct opt_cmd *c, void *dst, const char *name, const char *value,
                         struct gsae_error *err)
{
    struct flat f;
    flatten(c, &f);
    int k = find(&f, name, strlen(name));
    if (k < 0) return gsae_fail(err, GSAE_ENOTFOUND, "unknown option --%s", name);
    char why[300];
    if (f.o[k]->type == OPT_FLAG) {
        bool on = !strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes");
        if (!on && strcmp(value, "false") && strcmp(value, "0") && strcmp(value, "no"))
            return gsae_fail(err, GSAE_EINVAL, "'%s', expected true or false", value);
        *(bool *)field_of(&f, k, dst) = on;
        return GSAE_OK;
    }
    if (!parse_value(f.o[k], value, field_of(&f, k, dst), why, sizeof why))
        return gsae_fail(err, GSAE_EINVAL, "'%s', %s", value, why);
    return GSAE_OK;
}

int opt_parse(const struct opt_cmd *c, int argc, char **argv, void *dst)
{
    if (cli_wants_help(argc, argv)) {
        memset(dst, 0, c->size);
        opt_usage(c, stdout);
        return 0;
    }
    struct gsae_error err = {0};
    if (opt_parse_err(c, argc, argv, dst, &err) == GSAE_OK) return OPT_RUN;
    opt_free(c, dst);
    if (argc < 2) {
        opt_usage(c, stderr);
        return 2;
    }
    cli_report(c->name, &err);
    return 2;
}

void opt_free(const struct opt_cmd *c, void *dst)
{
    struct flat f;
    flatten(c, &f);
    for (int i = 0; i < f.n; i++)
        if (f.o[i]->type == OPT_LIST) {
            struct opt_list *l = field_of(&f, i, dst);
            free(l->v);
            *l = (struct opt_list){0};
        }
}

/* Whether --help shows o's default: not for flags, nor a sentinel outside the range. */
static bool shows_default(const struct opt *o)
{
    if (!o->def || o->type == OPT_FLAG) return false;
    bool num = o->type == OPT_INT || o->type == OPT_I64 || o->type == OPT_F64;
    if (!num || (o->min == 0 && o->max == 0)) return true;
    double v = strtod(o->def, NULL);
    return v >= o->min && v <= o->max;
}

/* "  --name META" or "  META" for option i. */
static int option_head(const struct flat *f, int i, char *buf, size_t n)
{
    const struct opt *o = f->o[i];
    if (!o->name) return snprintf(buf, n, "  %s", o->meta);
    if (o->type == OPT_FLAG) return snprintf(buf, n, "  --%s", o->name);
    return snprintf(buf, n, "  --%s %s", o->name, o->meta ? o->meta : "VALUE");
}

static void synopsis(const struct opt_cmd *c, const struct flat *f, FILE *out)
{
    fprintf(out, "usage: gsae %s", c->name);
    if (c->synopsis) {
        fprintf(out, " %s\n", c->synopsis);
        return;
    }
    for (int i = 0; i < f->n; i++) {
        const struct opt *o = f->o[i];
        if (!(o->flags & OPT_POS)) continue;
        const char *dots = o->type == OPT_LIST ? "..." : "";
        if (o->flags & OPT_REQUIRED)
            fprintf(out, " %s%s", o->meta, dots);
        else
            fprintf(out, " [%s%s]", o->meta, dots);
    }
    for (int i = 0; i < f->n; i++) {
        const struct opt *o = f->o[i];
        if (!(o->flags & OPT_REQUIRED) || (o->flags & OPT_POS) || !o->name) continue;
        fprintf(out, " --%s %s", o->name, o->meta ? o->meta : "VALUE");
    }
    fprintf(out, " [options]\n");
}

void opt_usage(const struct opt_cmd *c, FILE *out)
{
    struct flat f;
    flatten(c, &f);
    synopsis(c, &f, out);
    for (int i = 0; i < f.n; i++) {
        const struct opt *o = f.o[i];
        if (o->flags & OPT_HIDDEN) continue;
        char head[160];
        int w = option_head(&f, i, head, sizeof head);
        fprintf(out, "%s%*s %s", head, w < 26 ? 26 - w : 1, "", o->help ? o->help : "");
        if (o->type == OPT_LIST) fputs(" (repeatable)", out);
        if (o->flags & OPT_REQUIRED) fputs(" (required)", out);
        if (shows_default(o)) fprintf(out, " (default %s)", o->def);
        fputc('\n', out);
    }
    if (c->about) fprintf(out, "\n%s", c->about);
}

enum gsae_status opt_check_section(const struct opt_cmd *c, const char *file, const char *section,
                                   const char *const *keys, const char *const *values, int n,
                                   const char *const *args, int n_args, struct gsae_error *err)
{
    struct flat f;
    flatten(c, &f);
    void *dst = calloc(1, c->size ? c->size : 1);
    if (!dst) return gsae_fail(err, GSAE_ENOMEM, "out of memory");
    enum gsae_status st = GSAE_OK;
    char why[300];
    for (int j = 0; j < n && st == GSAE_OK; j++) {
        int k = find(&f, keys[j], strlen(keys[j]));
        if (k < 0) {
            const char *near = nearest(&f, keys[j]);
            st = gsae_fail(err, GSAE_EINVAL, "%s: [%s] %s: unknown key%s%s%s", file, section,
                           keys[j], near ? " (did you mean " : "", near ? near : "",
                           near ? "?)" : "");
        } else if (f.o[k]->type == OPT_FLAG) {
            if (strcmp(values[j], "true") != 0 && strcmp(values[j], "false") != 0)
                st = gsae_fail(err, GSAE_EINVAL, "%s: [%s] %s: '%s', expected true or false", file,
                               section, keys[j], values[j]);
            f.given[k] = strcmp(values[j], "true") == 0;
        } else if (strcmp(values[j], "false") != 0) {
            f.given[k] = true;
            if (strcmp(values[j], "true") == 0 && (f.o[k]->flags & OPT_OPTVAL))
                parse_value(f.o[k], f.o[k]->choices[0].name, field_of(&f, k, dst), why, sizeof why);
            else if (strcmp(values[j], "true") == 0)
                st = gsae_fail(err, GSAE_EINVAL, "%s: [%s] %s: needs a value, not true", file,
                               section, keys[j]);
            else if (!parse_value(f.o[k], values[j], field_of(&f, k, dst), why, sizeof why))
                st = gsae_fail(err, GSAE_EINVAL, "%s: [%s] %s: '%s', %s", file, section, keys[j],
                               values[j], why);
        }
    }
    for (int j = 0; j < n_args && st == GSAE_OK; j++) {
        if (strncmp(args[j], "--", 2) == 0 && args[j][2]) { /* an option among the words */
            struct gsae_error e = {0};
            if (long_option(&f, n_args, (char **)args, &j, dst, &e) != GSAE_OK)
                st = gsae_fail(err, GSAE_EINVAL, "%s: [%s] args: %s", file, section, e.msg);
            continue;
        }
        int k = next_positional(&f);
        if (k < 0)
            st = gsae_fail(err, GSAE_EINVAL, "%s: [%s] args: unexpected argument '%s'", file,
                           section, args[j]);
        else if (f.given[k] = true,
                 !parse_value(f.o[k], args[j], field_of(&f, k, dst), why, sizeof why))
            st =
                gsae_fail(err, GSAE_EINVAL, "%s: [%s] args: '%s', %s", file, section, args[j], why);
    }
    char nm[120];
    for (int i = 0; i < f.n && st == GSAE_OK; i++)
        if ((f.o[i]->flags & OPT_REQUIRED) && !field_given(&f, i))
            st = gsae_fail(err, GSAE_EINVAL, "%s: [%s] %s: required, missing", file, section,
                           f.o[i]->name ? f.o[i]->name : shown(&f, i, nm, sizeof nm));
    opt_free(c, dst);
    free(dst);
    return st;
}
