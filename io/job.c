/* job.c: job files (see job.h). */
#include "job.h"

#include <ctype.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

#define JOB_MAX_EXPAND_DEPTH 16

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static struct job_entry *find_entry(const struct job *job, const char *section, const char *key)
{
    for (int64_t i = 0; i < job->n_entries; i++)
        if (strcmp(job->entries[i].section, section) == 0 && strcmp(job->entries[i].key, key) == 0)
            return &job->entries[i];
    return NULL;
}

const char *job_get(const struct job *job, const char *section, const char *key)
{
    const struct job_entry *e = find_entry(job, section, key);
    return e ? e->value : NULL;
}

enum gsae_status job_put(struct job *job, const char *section, const char *key, const char *value,
                         const char *origin, struct gsae_error *err)
{
    struct job_entry *e = find_entry(job, section, key);
    char *v = dup_str(value), *o = dup_str(origin);
    if (!v || !o) goto nomem;
    if (e) {
        free(e->value);
        free(e->origin);
        e->value = v;
        e->origin = o;
        return GSAE_OK;
    }
    if (job->n_entries == job->cap_entries) {
        int64_t cap = job->cap_entries ? 2 * job->cap_entries : 32;
        struct job_entry *grown = realloc(job->entries, (size_t)cap * sizeof *grown);
        if (!grown) goto nomem;
        job->entries = grown;
        job->cap_entries = cap;
    }
    e = &job->entries[job->n_entries];
    *e = (struct job_entry){dup_str(section), dup_str(key), v, o};
    if (!e->section || !e->key) {
        free(e->section);
        free(e->key);
        *e = (struct job_entry){0};
        goto nomem;
    }
    job->n_entries++;
    return GSAE_OK;
nomem:
    free(v);
    free(o);
    return gsae_fail(err, GSAE_ENOMEM, "job: out of memory storing %s.%s", section, key);
}

/* One file's own entries, before includes are applied. */
struct parse_ctx {
    struct job *entries;
    const char *path;
    struct job_entry *last; /* continuation lines of this entry are appended */
    struct gsae_error *err;
    enum gsae_status status;
};

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
    struct parse_ctx *ctx = user;
    if (ctx->last && strcmp(ctx->last->section, section) == 0 && strcmp(ctx->last->key, key) == 0) {
        size_t a = strlen(ctx->last->value), b = strlen(value);
        char *joined = realloc(ctx->last->value, a + b + 2);
        if (!joined) {
            ctx->status = gsae_fail(ctx->err, GSAE_ENOMEM, "%s: out of memory", ctx->path);
            return 0;
        }
        joined[a] = '\n';
        memcpy(joined + a + 1, value, b + 1);
        ctx->last->value = joined;
        return 1;
    }
    if (section[0] == '\0') {
        ctx->status =
            gsae_fail(ctx->err, GSAE_EFORMAT, "%s: key '%s' before any [section]", ctx->path, key);
        return 0;
    }
    if (strchr(section, '.') || strchr(section, '$')) {
        ctx->status =
            gsae_fail(ctx->err, GSAE_EFORMAT, "%s: section name '[%s]' may not contain '.' or '$'",
                      ctx->path, section);
        return 0;
    }
    ctx->status = job_put(ctx->entries, section, key, value, ctx->path, ctx->err);
    if (ctx->status != GSAE_OK) return 0;
    ctx->last = find_entry(ctx->entries, section, key);
    return 1;
}

/* Directory part of path ("." when none), newly allocated. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return dup_str(".");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 2);
    if (!d) return NULL;
    memcpy(d, path, n ? n : 1);
    d[n ? n : 1] = '\0';
    return d;
}

static enum gsae_status load_file(struct job *job, const char *path, int depth,
                                  struct gsae_error *err)
{
    struct job own = {0};
    char **includes = NULL, *dir = NULL;
    int64_t n_includes = 0;
    enum gsae_status st = GSAE_OK;
    if (depth > JOB_MAX_INCLUDE_DEPTH)
        return gsae_fail(err, GSAE_EFORMAT, "%s: includes nest deeper than %d (a cycle?)", path,
                         JOB_MAX_INCLUDE_DEPTH);
    FILE *f = fopen(path, "r");
    if (!f) return gsae_fail(err, GSAE_EIO, "%s: cannot open job file", path);
    struct parse_ctx ctx = {&own, path, NULL, err, GSAE_OK};
    int line = ini_parse_file(f, on_entry, &ctx);
    fclose(f);
    if (ctx.status != GSAE_OK) {
        st = ctx.status;
        goto done;
    }
    if (line != 0) {
        st = gsae_fail(err, GSAE_EFORMAT, "%s:%d: not INI syntax (or a line over 200 bytes)", path,
                       line);
        goto done;
    }
    if ((st = job_get_list(&own, "job", "include", &includes, &n_includes, err)) != GSAE_OK)
        goto done;
    if (!(dir = dir_of(path))) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int64_t i = 0; i < n_includes; i++) {
        char inc[4096];
        int len = includes[i][0] == '/' ? snprintf(inc, sizeof inc, "%s", includes[i])
                                        : snprintf(inc, sizeof inc, "%s/%s", dir, includes[i]);
        if (len < 0 || (size_t)len >= sizeof inc) {
            st = gsae_fail(err, GSAE_ERANGE, "%s: include path too long", path);
            goto done;
        }
        if ((st = load_file(job, inc, depth + 1, err)) != GSAE_OK) {
            gsae_error_prefix(err, "%s: included", path);
            goto done;
        }
    }
    for (int64_t i = 0; i < own.n_entries && st == GSAE_OK; i++) {
        const struct job_entry *e = &own.entries[i];
        if (strcmp(e->section, "job") == 0 && strcmp(e->key, "include") == 0) continue;
        st = job_put(job, e->section, e->key, e->value, e->origin, err);
    }
done:
    free(dir);
    job_list_free(includes);
    job_free(&own);
    return st;
}

enum gsae_status job_load(struct job *job, const char *path, struct gsae_error *err)
{
    if (!(job->path = dup_str(path))) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
    return load_file(job, path, 0, err);
}

enum gsae_status job_set(struct job *job, const char *assignment, struct gsae_error *err)
{
    const char *eq = strchr(assignment, '=');
    const char *dot = strchr(assignment, '.');
    if (!eq || !dot || dot > eq || dot == assignment || dot + 1 == eq)
        return gsae_fail(err, GSAE_EINVAL, "--set '%s': expected section.key=value", assignment);
    char section[256], key[256];
    size_t ns = (size_t)(dot - assignment), nk = (size_t)(eq - dot - 1);
    if (ns >= sizeof section || nk >= sizeof key)
        return gsae_fail(err, GSAE_ERANGE, "--set '%.64s...': name too long", assignment);
    memcpy(section, assignment, ns);
    section[ns] = '\0';
    memcpy(key, dot + 1, nk);
    key[nk] = '\0';
    return job_put(job, section, key, eq + 1, "--set", err);
}

/* A growing string. */
struct strbuf {
    char *s;
    size_t n, cap;
};

static int sb_add(struct strbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *g = realloc(b->s, cap);
        if (!g) return -1;
        b->s = g;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return 0;
}

/* Append value to out with its references expanded (recursively, up to a depth). */
static enum gsae_status expand(const struct job *job, const struct job_entry *e, const char *value,
                               int depth, struct strbuf *out, struct gsae_error *err)
{
    if (depth > JOB_MAX_EXPAND_DEPTH)
        return gsae_fail(err, GSAE_EFORMAT, "%s: %s.%s: references nest deeper than %d (a cycle?)",
                         e->origin, e->section, e->key, JOB_MAX_EXPAND_DEPTH);
    const char *p = value;
    while (*p) {
        const char *open = strstr(p, "${");
        if (!open) break;
        const char *close = strchr(open, '}');
        if (!close)
            return gsae_fail(err, GSAE_EFORMAT, "%s: %s.%s: '${' without '}' in '%s'", e->origin,
                             e->section, e->key, value);
        if (sb_add(out, p, (size_t)(open - p))) goto nomem;
        char ref[512];
        size_t n = (size_t)(close - open - 2);
        if (n >= sizeof ref)
            return gsae_fail(err, GSAE_ERANGE, "%s: %s.%s: reference too long", e->origin,
                             e->section, e->key);
        memcpy(ref, open + 2, n);
        ref[n] = '\0';
        char *dot = strchr(ref, '.');
        if (!dot)
            return gsae_fail(err, GSAE_EFORMAT,
                             "%s: %s.%s: reference '${%s}' is not ${section.key}", e->origin,
                             e->section, e->key, ref);
        *dot = '\0';
        const char *v = NULL;
        if (strcmp(ref, "env") == 0) {
            if (!(v = getenv(dot + 1)))
                return gsae_fail(err, GSAE_ENOTFOUND,
                                 "%s: %s.%s: environment variable %s is not set", e->origin,
                                 e->section, e->key, dot + 1);
            if (sb_add(out, v, strlen(v))) goto nomem;
        } else {
            const struct job_entry *target = find_entry(job, ref, dot + 1);
            if (!target)
                return gsae_fail(err, GSAE_ENOTFOUND, "%s: %s.%s: '${%s.%s}' is not defined",
                                 e->origin, e->section, e->key, ref, dot + 1);
            enum gsae_status st = expand(job, e, target->value, depth + 1, out, err);
            if (st != GSAE_OK) return st;
        }
        p = close + 1;
    }
    if (sb_add(out, p, strlen(p))) goto nomem;
    return GSAE_OK;
nomem:
    return gsae_fail(err, GSAE_ENOMEM, "job: out of memory expanding %s.%s", e->section, e->key);
}

enum gsae_status job_resolve(struct job *job, struct gsae_error *err)
{
    /* Expand all values against the unexpanded job, then swap them in. */
    enum gsae_status st = GSAE_OK;
    char **expanded = calloc((size_t)job->n_entries + 1, sizeof *expanded);
    if (!expanded) return gsae_fail(err, GSAE_ENOMEM, "job: out of memory");
    for (int64_t i = 0; i < job->n_entries && st == GSAE_OK; i++) {
        struct strbuf b = {0};
        st = expand(job, &job->entries[i], job->entries[i].value, 0, &b, err);
        if (st == GSAE_OK && !b.s && sb_add(&b, "", 0))
            st = gsae_fail(err, GSAE_ENOMEM, "job: out of memory");
        expanded[i] = b.s;
    }
    for (int64_t i = 0; i < job->n_entries; i++) {
        if (st == GSAE_OK) {
            free(job->entries[i].value);
            job->entries[i].value = expanded[i];
        } else {
            free(expanded[i]);
        }
    }
    free(expanded);
    return st;
}

enum gsae_status job_get_list(const struct job *job, const char *section, const char *key,
                              char ***list, int64_t *n, struct gsae_error *err)
{
    const char *v = job_get(job, section, key);
    *list = NULL;
    *n = 0;
    int64_t cap = 1;
    for (const char *p = v; p && *p; p++)
        cap += (*p == ',' || isspace((unsigned char)*p));
    char **out = calloc((size_t)cap + 1, sizeof *out);
    if (!out) return gsae_fail(err, GSAE_ENOMEM, "job: out of memory");
    int64_t count = 0;
    for (const char *p = v; p && *p;) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        const char *start = p;
        while (*p && *p != ',' && !isspace((unsigned char)*p))
            p++;
        if (p == start) continue;
        if (!(out[count] = strndup(start, (size_t)(p - start)))) {
            job_list_free(out);
            return gsae_fail(err, GSAE_ENOMEM, "job: out of memory");
        }
        count++;
    }
    *list = out;
    *n = count;
    return GSAE_OK;
}

void job_list_free(char **list)
{
    for (char **p = list; p && *p; p++)
        free(*p);
    free(list);
}

enum gsae_status job_write(const struct job *job, FILE *out, struct gsae_error *err)
{
    /* Sections in order of their first key; each section's keys together. */
    for (int64_t i = 0; i < job->n_entries; i++) {
        const char *sec = job->entries[i].section;
        bool seen = false;
        for (int64_t j = 0; j < i && !seen; j++)
            seen = strcmp(job->entries[j].section, sec) == 0;
        if (seen) continue;
        fprintf(out, "%s[%s]\n", i ? "\n" : "", sec);
        for (int64_t j = i; j < job->n_entries; j++) {
            const struct job_entry *e = &job->entries[j];
            if (strcmp(e->section, sec) != 0) continue;
            fprintf(out, "%s = ", e->key);
            for (const char *p = e->value; *p; p++) {
                fputc(*p, out);
                if (*p == '\n') fputs("    ", out);
            }
            fputc('\n', out);
        }
    }
    if (ferror(out))
        return gsae_fail(err, GSAE_EIO, "job: writing %s failed", job->path ? job->path : "job");
    return GSAE_OK;
}

void job_free(struct job *job)
{
    for (int64_t i = 0; i < job->n_entries; i++) {
        free(job->entries[i].section);
        free(job->entries[i].key);
        free(job->entries[i].value);
        free(job->entries[i].origin);
    }
    free(job->entries);
    free(job->path);
    *job = (struct job){0};
}
