/* report_csv.c: the CSV reader behind gsae report (see report.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

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

/* Parse one record starting at *p; fields are appended to out. Returns the number of fields,
 * 0 at end of input, -1 on an unterminated quote, -2 out of memory. */
static int64_t parse_record(const char **p, const char *end, struct str_list *out, int64_t *line)
{
    if (*p >= end) return 0;
    int64_t n = 0;
    for (;;) {
        const char *s = *p;
        size_t cap = 16, len = 0;
        char *field = malloc(cap);
        if (!field) return -2;
        bool quoted = s < end && *s == '"';
        if (quoted) s++;
        for (;;) {
            if (s >= end) {
                if (quoted) {
                    free(field);
                    return -1;
                }
                break;
            }
            char c = *s;
            if (quoted && c == '"') {
                if (s + 1 < end && s[1] == '"') {
                    s += 2;
                } else {
                    quoted = false;
                    s++;
                    continue;
                }
            } else if (!quoted && (c == ',' || c == '\n' || c == '\r')) {
                break;
            } else {
                s++;
                if (c == '\n') (*line)++;
            }
            if (len + 2 > cap) {
                cap *= 2;
                char *g = realloc(field, cap);
                if (!g) {
                    free(field);
                    return -2;
                }
                field = g;
            }
            field[len++] = c;
        }
        field[len] = '\0';
        if (list_push(out, field)) {
            free(field);
            return -2;
        }
        n++;
        if (s < end && *s == ',') {
            *p = s + 1;
            continue;
        }
        if (s < end && *s == '\r') s++;
        if (s < end && *s == '\n') {
            s++;
            (*line)++;
        }
        *p = s;
        return n;
    }
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap) break;
        cap *= 2;
        char *g = realloc(buf, cap);
        if (!g) {
            free(buf);
            buf = NULL;
        }
        buf = g;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = len;
    return buf;
}

enum gsae_status report_csv_read(struct report_csv *t, const char *path, struct gsae_error *err)
{
    return report_csv_read_where(t, path, NULL, NULL, NULL, err);
}

enum gsae_status report_csv_read_where(struct report_csv *t, const char *path, const char *key,
                                       bool (*keep)(void *ctx, const char *value), void *ctx,
                                       struct gsae_error *err)
{
    *t = (struct report_csv){0};
    size_t n = 0;
    errno = 0;
    char *text = slurp(path, &n);
    if (!text)
        return errno == ENOENT ? gsae_fail(err, GSAE_ENOTFOUND, "%s: no such file", path)
                               : gsae_fail(err, GSAE_EIO, "%s: cannot read", path);
    struct str_list header = {0}, cells = {0}, row = {0};
    enum gsae_status st = GSAE_OK;
    const char *p = text, *end = text + n;
    int64_t line = 1;
    int64_t got = parse_record(&p, end, &header, &line);
    if (got <= 0) {
        st = got == -2 ? gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path)
                       : gsae_fail(err, GSAE_EFORMAT, "%s: no header line", path);
        goto done;
    }
    t->n_cols = header.n;
    int64_t key_col = -1;
    for (int64_t i = 0; key && keep && i < header.n; i++)
        if (strcmp(header.items[i], key) == 0) key_col = i;
    while (p < end) {
        int64_t start_line = line;
        got = parse_record(&p, end, &row, &line);
        if (got < 0) {
            st = got == -2 ? gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path)
                           : gsae_fail(err, GSAE_EFORMAT, "%s:%lld: unterminated quoted field",
                                       path, (long long)start_line);
            goto done;
        }
        if (row.n == 1 && row.items[0][0] == '\0') { /* blank line */
            list_free(&row);
            continue;
        }
        if (row.n > t->n_cols) {
            st = gsae_fail(err, GSAE_EFORMAT, "%s:%lld: %lld fields, the header has %lld", path,
                           (long long)start_line, (long long)row.n, (long long)t->n_cols);
            goto done;
        }
        if (key_col >= 0 && !keep(ctx, key_col < row.n ? row.items[key_col] : "")) {
            list_free(&row);
            continue;
        }
        for (int64_t i = 0; i < t->n_cols && st == GSAE_OK; i++) {
            char *cell = i < row.n ? row.items[i] : strdup("");
            if (i < row.n) row.items[i] = NULL;
            if (!cell || list_push(&cells, cell)) {
                free(cell);
                st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
            }
        }
        list_free(&row);
        if (st != GSAE_OK) goto done;
        t->n_rows++;
    }
    t->header = header.items;
    t->cells = cells.items;
    header = (struct str_list){0};
    cells = (struct str_list){0};
done:
    list_free(&header);
    list_free(&cells);
    list_free(&row);
    free(text);
    if (st != GSAE_OK) *t = (struct report_csv){0};
    return st;
}

int64_t report_csv_col(const struct report_csv *t, const char *name)
{
    for (int64_t i = 0; i < t->n_cols; i++)
        if (strcmp(t->header[i], name) == 0) return i;
    return -1;
}

const char *report_csv_cell(const struct report_csv *t, int64_t row, int64_t col)
{
    return t->cells[row * t->n_cols + col];
}

void report_csv_free(struct report_csv *t)
{
    for (int64_t i = 0; t->header && i < t->n_cols; i++)
        free(t->header[i]);
    for (int64_t i = 0; t->cells && i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->header);
    free(t->cells);
    *t = (struct report_csv){0};
}
