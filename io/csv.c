/* csv.c: CSV writer and strict reader (see csv.h). */
#include "csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- writer -------------------------------------------------------------------------------- */

void csv_write_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

char **csv_names_numbered(const char *prefix, const int64_t *ids, int64_t n)
{
    const size_t each = strlen(prefix) + 24;
    size_t count = (size_t)(n > 0 ? n : 1);
    char **names = malloc(count * (sizeof *names + each));
    char *text = (char *)(names + count);
    for (int64_t i = 0; names && i < n; i++) {
        names[i] = text + (size_t)i * each;
        snprintf(names[i], each, "%s%lld", prefix, (long long)(ids ? ids[i] : i + 1));
    }
    return names;
}

/* The schema column of field i of a record. */
static const struct csv_column *column_of(const struct csv_writer *w, int64_t i)
{
    const struct csv_schema *s = w->schema;
    int64_t r = 0;
    while (r < s->n_cols && !s->cols[r].repeat)
        r++;
    if (r == s->n_cols || i < r) return i < s->n_cols ? &s->cols[i] : NULL;
    if (i < r + w->n_repeat) return &s->cols[r];
    i -= w->n_repeat - 1;
    return i < s->n_cols ? &s->cols[i] : NULL;
}

static bool has_repeat(const struct csv_schema *s)
{
    for (int64_t i = 0; i < s->n_cols; i++)
        if (s->cols[i].repeat) return true;
    return false;
}

enum gsae_status csv_writer_open(struct csv_writer *w, const char *path,
                                 const struct csv_schema *schema, const char *const *repeat_names,
                                 int64_t n_repeat, bool append, struct gsae_error *err)
{
    *w = (struct csv_writer){0};
    bool repeat = has_repeat(schema);
    if (!repeat && n_repeat > 0)
        return gsae_fail(err, GSAE_EINVAL, "%s: %s has no repeated column", path, schema->file);
    struct stat sb;
    bool fresh = !append || stat(path, &sb) != 0 || sb.st_size == 0;
    if (!(w->f = fopen(path, append ? "a" : "w")))
        return gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", path, strerror(errno));
    if (!(w->path = strdup(path))) {
        fclose(w->f);
        *w = (struct csv_writer){0};
        return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
    }
    w->schema = schema;
    w->n_repeat = repeat ? n_repeat : 0;
    w->n_fields = schema->n_cols - (repeat ? 1 : 0) + w->n_repeat;
    for (int64_t i = 0; fresh && i < w->n_fields; i++) {
        if (i > 0) fputc(',', w->f);
        const struct csv_column *c = column_of(w, i);
        int64_t first = c - schema->cols; /* index of c in the schema */
        csv_write_field(w->f, c->repeat ? repeat_names[i - first] : c->name);
    }
    if (fresh) fputc('\n', w->f);
    return GSAE_OK;
}

/* The column of the next field, after checking its type; NULL (and w->bad) on a misfit. */
static const struct csv_column *next(struct csv_writer *w, enum csv_type type)
{
    const struct csv_column *c = w->field < w->n_fields ? column_of(w, w->field) : NULL;
    if (!c || c->type != type) {
        w->bad = true;
        return NULL;
    }
    if (w->field++ > 0) fputc(',', w->f);
    return c;
}

void csv_put_str(struct csv_writer *w, const char *s)
{
    if (next(w, CSV_STRING)) csv_write_field(w->f, s ? s : "");
}

void csv_put_int(struct csv_writer *w, int64_t v)
{
    if (next(w, CSV_INT)) fprintf(w->f, "%lld", (long long)v);
}

void csv_put_double(struct csv_writer *w, double v)
{
    const struct csv_column *c = next(w, CSV_DOUBLE);
    if (!c) return;
    char buf[64];
    /* The format is a constant of the schema (checked by the unit tests), not user input. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(buf, sizeof buf, c->format ? c->format : "%.9g", v);
#pragma GCC diagnostic pop
    fputs(buf, w->f);
}

void csv_end_row(struct csv_writer *w, bool flush)
{
    if (w->field != w->n_fields) w->bad = true;
    fputc('\n', w->f);
    w->field = 0;
    if (flush) fflush(w->f);
}

enum gsae_status csv_writer_close(struct csv_writer *w, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    if (w->f) {
        bool failed = ferror(w->f) != 0;
        if (fclose(w->f) != 0 || failed)
            st = gsae_fail(err, GSAE_EIO, "%s: write failed: %s", w->path, strerror(errno));
        else if (w->bad)
            st = gsae_fail(err, GSAE_EINVAL, "%s: a record does not fit the columns of %s", w->path,
                           w->schema->file);
    }
    free(w->path);
    *w = (struct csv_writer){0};
    return st;
}

/* ---- reader -------------------------------------------------------------------------------- */

/* A growing array of strings. */
struct str_list {
    char **items;
    int64_t n, cap;
};

static int list_push(struct str_list *l, char *s)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 64;
        char **g = realloc(l->items, (size_t)cap * sizeof *g);
        if (!g) return -1;
        l->items = g;
        l->cap = cap;
    }
    l->items[l->n++] = s;
    return 0;
}

static void list_free(struct str_list *l)
{
    for (int64_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    *l = (struct str_list){0};
}

enum parse_result {
    PARSE_OK,
    PARSE_END, /* no record left */
    PARSE_UNTERMINATED,
    PARSE_AFTER_QUOTE, /* text between a closing quote and the separator */
    PARSE_BARE_QUOTE,  /* a quote inside an unquoted field */
    PARSE_NOMEM,
};

/* One field starting at *p into a new string; *p ends on the separator or line end. */
static enum parse_result parse_field(const char **p, const char *end, char **out, int64_t *line)
{
    const char *s = *p;
    bool quoted = s < end && *s == '"';
    if (quoted) s++;
    const char *start = s;
    size_t len = 0;
    for (;; s++) { /* first pass: find the end and the length */
        if (s >= end) {
            if (quoted) return PARSE_UNTERMINATED;
            break;
        }
        if (quoted && *s == '"') {
            if (s + 1 < end && s[1] == '"') {
                s++;
            } else {
                s++;
                if (s < end && *s != ',' && *s != '\n' && *s != '\r') return PARSE_AFTER_QUOTE;
                break;
            }
        } else if (!quoted && (*s == ',' || *s == '\n' || *s == '\r')) {
            break;
        } else if (!quoted && *s == '"') {
            return PARSE_BARE_QUOTE;
        }
        len++;
    }
    char *f = malloc(len + 1);
    if (!f) return PARSE_NOMEM;
    size_t o = 0;
    for (const char *c = start; o < len; c++) {
        if (quoted && *c == '"') c++; /* the first of a doubled quote */
        if (*c == '\n') (*line)++;
        f[o++] = *c;
    }
    f[len] = '\0';
    *out = f;
    *p = s;
    return PARSE_OK;
}

/* One record starting at *p; fields are appended to out. */
static enum parse_result parse_record(const char **p, const char *end, struct str_list *out,
                                      int64_t *line)
{
    if (*p >= end) return PARSE_END;
    for (;;) {
        char *field = NULL;
        enum parse_result r = parse_field(p, end, &field, line);
        if (r != PARSE_OK) return r;
        if (list_push(out, field)) {
            free(field);
            return PARSE_NOMEM;
        }
        const char *s = *p;
        if (s < end && *s == ',') {
            *p = s + 1;
            continue;
        }
        if (s < end && *s == '\r') s++;
        if (s < end && *s == '\n') s++;
        (*line)++;
        *p = s;
        return PARSE_OK;
    }
}

static enum gsae_status parse_fail(enum parse_result r, const char *name, int64_t line,
                                   struct gsae_error *err)
{
    static const char *const what[] = {
        [PARSE_UNTERMINATED] = "unterminated quoted field",
        [PARSE_AFTER_QUOTE] = "text after the closing quote of a field",
        [PARSE_BARE_QUOTE] = "a quote inside an unquoted field",
    };
    if (r == PARSE_NOMEM) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", name);
    return gsae_fail(err, GSAE_EFORMAT, "%s:%lld: %s", name, (long long)line, what[r]);
}

/* Move the fields of row into cells (when kept). */
static enum gsae_status take_row(struct str_list *cells, struct str_list *row, const char *name,
                                 struct gsae_error *err)
{
    for (int64_t i = 0; i < row->n; i++) {
        if (list_push(cells, row->items[i]))
            return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", name);
        row->items[i] = NULL;
    }
    return GSAE_OK;
}

enum gsae_status csv_parse(struct csv_table *t, const char *name, const char *text, size_t len,
                           const char *key, bool (*keep)(void *ctx, const char *value), void *ctx,
                           struct gsae_error *err)
{
    *t = (struct csv_table){0};
    struct str_list header = {0}, cells = {0}, row = {0};
    enum gsae_status st = GSAE_OK;
    const char *p = text, *end = text + len;
    int64_t line = 1;
    enum parse_result r = parse_record(&p, end, &header, &line);
    if (r == PARSE_END) {
        st = gsae_fail(err, GSAE_EFORMAT, "%s: no header line", name);
        goto done;
    }
    if (r != PARSE_OK) {
        st = parse_fail(r, name, 1, err);
        goto done;
    }
    t->n_cols = header.n;
    int64_t key_col = -1;
    for (int64_t i = 0; key && keep && i < header.n; i++)
        if (strcmp(header.items[i], key) == 0) key_col = i;
    while (p < end && st == GSAE_OK) {
        int64_t start_line = line;
        r = parse_record(&p, end, &row, &line);
        if (r != PARSE_OK) {
            st = parse_fail(r, name, start_line, err);
        } else if (row.n != t->n_cols) {
            st = gsae_fail(err, GSAE_EFORMAT, "%s:%lld: %lld fields, the header has %lld", name,
                           (long long)start_line, (long long)row.n, (long long)t->n_cols);
        } else if (key_col < 0 || keep(ctx, row.items[key_col])) {
            st = take_row(&cells, &row, name, err);
            t->n_rows++;
        }
        list_free(&row);
    }
    if (st != GSAE_OK) goto done;
    t->header = header.items;
    t->cells = cells.items;
    header = (struct str_list){0};
    cells = (struct str_list){0};
done:
    list_free(&header);
    list_free(&cells);
    list_free(&row);
    if (st != GSAE_OK) *t = (struct csv_table){0};
    return st;
}

/* The whole of path, or NULL with errno set. */
static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap) break;
        cap *= 2;
        char *g = realloc(buf, cap);
        if (!g) free(buf);
        buf = g;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
        errno = EIO;
    }
    fclose(f);
    *n = len;
    return buf;
}

enum gsae_status csv_read_where(struct csv_table *t, const char *path, const char *key,
                                bool (*keep)(void *ctx, const char *value), void *ctx,
                                struct gsae_error *err)
{
    *t = (struct csv_table){0};
    size_t n = 0;
    errno = 0;
    char *text = slurp(path, &n);
    if (!text)
        return errno == ENOENT ? gsae_fail(err, GSAE_ENOTFOUND, "%s: no such file", path)
                               : gsae_fail(err, GSAE_EIO, "%s: cannot read", path);
    enum gsae_status st = csv_parse(t, path, text, n, key, keep, ctx, err);
    free(text);
    return st;
}

enum gsae_status csv_read(struct csv_table *t, const char *path, struct gsae_error *err)
{
    return csv_read_where(t, path, NULL, NULL, NULL, err);
}

int64_t csv_col(const struct csv_table *t, const char *name)
{
    for (int64_t i = 0; i < t->n_cols; i++)
        if (strcmp(t->header[i], name) == 0) return i;
    return -1;
}

const char *csv_cell(const struct csv_table *t, int64_t row, int64_t col)
{
    return t->cells[row * t->n_cols + col];
}

enum gsae_status csv_columns(const struct csv_table *t, const struct csv_schema *schema,
                             int64_t *idx, struct gsae_error *err)
{
    for (int64_t i = 0; i < schema->n_cols; i++) {
        const struct csv_column *c = &schema->cols[i];
        idx[i] = c->repeat ? -1 : csv_col(t, c->name);
        if (idx[i] < 0 && !c->repeat && !c->optional)
            return gsae_fail(err, GSAE_EFORMAT, "%s: no column '%s'", schema->file, c->name);
    }
    return GSAE_OK;
}

void csv_table_free(struct csv_table *t)
{
    for (int64_t i = 0; t->header && i < t->n_cols; i++)
        free(t->header[i]);
    for (int64_t i = 0; t->cells && i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->header);
    free(t->cells);
    *t = (struct csv_table){0};
}
