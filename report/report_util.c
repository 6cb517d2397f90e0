/* report_util.c: what the report views share: loading a result file, its columns as numbers,
 * tokens made visible, whole-table views (see report_views.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_views.h"

/* Read dir/name into t; *present is false (and GSAE_OK returned) when the file is absent. */
enum gsae_status report_load(const char *dir, const char *name, struct csv_table *t, bool *present,
                             struct gsae_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    enum gsae_status st = csv_read(t, path, err);
    *present = st == GSAE_OK;
    if (st == GSAE_ENOTFOUND) {
        gsae_error_clear(err);
        return GSAE_OK;
    }
    return st;
}

/* Column col as numbers (non-numeric cells become NaN); newly allocated. */
double *report_numbers(const struct csv_table *t, int64_t col)
{
    double *v = malloc((size_t)(t->n_rows ? t->n_rows : 1) * sizeof *v);
    for (int64_t i = 0; v && i < t->n_rows; i++) {
        char *end = NULL;
        const char *s = csv_cell(t, i, col);
        v[i] = strtod(s, &end);
        if (end == s || *end != '\0') v[i] = NAN;
    }
    return v;
}

char *report_read_text(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *g = realloc(buf, cap);
            if (!g) break;
            buf = g;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    fclose(f);
    if (buf) buf[len] = '\0';
    return buf;
}

/* A token as text you can see: newline, tab and carriage return as \n \t \r, spaces as
 * U+2423 (open box), other control bytes as \xNN. Newly allocated. */
static char *visible_token(const char *tok)
{
    size_t n = strlen(tok);
    char *out = malloc(4 * n + 1), *p = out;
    if (!out) return NULL;
    for (const unsigned char *c = (const unsigned char *)tok; *c; c++) {
        if (*c == ' ')
            p += sprintf(p, "\xe2\x90\xa3");
        else if (*c == '\n')
            p += sprintf(p, "\\n");
        else if (*c == '\t')
            p += sprintf(p, "\\t");
        else if (*c == '\r')
            p += sprintf(p, "\\r");
        else if (*c < 0x20 || *c == 0x7f)
            p += sprintf(p, "\\x%02x", *c);
        else
            *p++ = (char)*c;
    }
    *p = '\0';
    return out;
}

/* Replace column col's cells by their visible_token form. */
enum gsae_status report_tokens_visible(struct csv_table *t, int64_t col, struct gsae_error *err)
{
    for (int64_t i = 0; i < t->n_rows; i++) {
        char **cell = &t->cells[i * t->n_cols + col];
        char *v = visible_token(*cell);
        if (!v) return gsae_fail(err, GSAE_ENOMEM, "report: out of memory");
        free(*cell);
        *cell = v;
    }
    return GSAE_OK;
}

/* Whole-table view: every column as given. */
void report_show_table(struct report *r, const struct csv_table *t, const char *caption)
{
    report_table(r, caption, (const char *const *)t->header, t->n_cols,
                 (const char *const *)t->cells, t->n_rows);
}

/* Distinct values of column col in order of first appearance; *group gets each row's index
 * into the returned (borrowed) names. Returns the count, or -1 out of memory. */
int64_t report_distinct(const struct csv_table *t, int64_t col, const char ***names,
                        int64_t **group)
{
    const char **nm = malloc((size_t)(t->n_rows + 1) * sizeof *nm);
    int64_t *g = malloc((size_t)(t->n_rows + 1) * sizeof *g);
    if (!nm || !g) {
        free(nm);
        free(g);
        return -1;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < t->n_rows; i++) {
        const char *v = csv_cell(t, i, col);
        int64_t k = 0;
        while (k < n && strcmp(nm[k], v) != 0)
            k++;
        if (k == n) nm[n++] = v;
        g[i] = k;
    }
    *names = nm;
    *group = g;
    return n;
}

bool report_parse_int(const char *s, int64_t *v)
{
    char *end = NULL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno) return false;
    *v = x;
    return true;
}

double report_parse_num(const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    return end == s || *end != '\0' ? NAN : v;
}
