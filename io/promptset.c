/* promptset.c: prompt sets from ARC task directories with an outcomes CSV, or from JSON lines
 * (see promptset.h). */
#include "promptset.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../src/arc.h"
#include "arc_task.h"
#include "tokenizer_load.h"

#define PROMPTSET_PATH_MAX 4096

void promptset_free(struct promptset *ps)
{
    for (int64_t i = 0; ps->items && i < ps->n; i++) {
        free(ps->items[i].name);
        free(ps->items[i].text);
        free(ps->items[i].tokens);
    }
    free(ps->items);
    memset(ps, 0, sizeof *ps);
}

void promptset_count_labels(const struct promptset *ps, int64_t *n_success, int64_t *n_failure,
                            int64_t *n_unknown)
{
    *n_success = *n_failure = *n_unknown = 0;
    for (int64_t i = 0; i < ps->n; i++) {
        int l = ps->items[i].label;
        *(l == PROMPTSET_LABEL_SUCCESS   ? n_success
          : l == PROMPTSET_LABEL_FAILURE ? n_failure
                                         : n_unknown) += 1;
    }
}

/* Room for n items, each with unknown metadata. */
static enum gsae_status alloc_items(struct promptset *ps, int64_t n, const char *what,
                                    struct gsae_error *err)
{
    ps->items = calloc((size_t)(n > 0 ? n : 1), sizeof *ps->items);
    if (!ps->items)
        return gsae_fail(err, GSAE_ENOMEM, "%s: no memory for %lld prompts", what, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        ps->items[i].label = PROMPTSET_LABEL_UNKNOWN;
        ps->items[i].confidence = NAN;
        ps->items[i].len_prompt = -1;
    }
    ps->n = n;
    return GSAE_OK;
}

static int64_t count_code_points(const char *s, size_t len)
{
    int64_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80; /* not a UTF-8 continuation byte */
    return n;
}

/* Take ownership of a prompt text of len bytes. */
static void set_text(struct promptset_item *it, char *text, size_t len)
{
    it->text = text;
    it->len = len;
    it->n_chars = count_code_points(text, len);
}

/* ---- outcome values and numbers ---------------------------------------------------------- */

/* True/False, true/false, 1/0, success/failure; -2 when none of these. */
static int parse_outcome(const char *s)
{
    static const char *const yes[] = {"true", "1", "success"}, *const no[] = {"false", "0",
                                                                              "failure"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) return PROMPTSET_LABEL_SUCCESS;
        if (strcasecmp(s, no[i]) == 0) return PROMPTSET_LABEL_FAILURE;
    }
    return -2;
}

static bool parse_double(const char *s, double *out)
{
    char *end = NULL;
    *out = strtod(s, &end);
    return end != s && *end == '\0';
}

static bool parse_i64(const char *s, int64_t *out)
{
    return gsae_parse_i64(s, 0, INT64_MAX, out);
}

/* ---- CSV ---------------------------------------------------------------------------------- */

/* One parsed CSV: rows of fields (NUL-terminated copies inside one buffer). */
struct csv {
    char *buf;        /* owned: every field, NUL-terminated */
    char **field;     /* owned: (n_rows * n_cols) pointers into buf, NULL for missing cells */
    int64_t n_rows;   /* data rows, header excluded */
    int64_t n_cols;   /* header fields */
    int64_t *line_of; /* (n_rows) line number of each row in the file, for messages */
};

static void csv_free(struct csv *c)
{
    free(c->buf);
    free(c->field);
    free(c->line_of);
    memset(c, 0, sizeof *c);
}

/* Split text (RFC 4180: "" quotes, CRLF or LF) into c->buf, writing fields and recording
 * (row, column) of each into starts/cols; a NULL array only counts. Returns the number of
 * fields; *n_lines gets the number of records. */
static int64_t csv_split(const char *text, size_t len, char *out, char **starts, int64_t *rows,
                         int64_t *cols, int64_t *line_no, int64_t *n_records)
{
    int64_t n = 0, row = 0, col = 0, line = 1;
    size_t i = 0, o = 0;
    while (i < len) {
        if (starts) {
            starts[n] = out + o;
            rows[n] = row, cols[n] = col, line_no[n] = line;
        }
        if (text[i] == '"') {
            for (i++; i < len; i++) {
                if (text[i] == '"' && i + 1 < len && text[i + 1] == '"')
                    i++;
                else if (text[i] == '"') {
                    i++;
                    break;
                }
                line += text[i] == '\n';
                if (out) out[o] = text[i];
                o++;
            }
        }
        while (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
            if (out) out[o] = text[i];
            o++, i++;
        }
        if (out) out[o] = '\0';
        o++, n++;
        if (i < len && text[i] == ',') {
            i++, col++;
            continue;
        }
        if (i < len && text[i] == '\r') i++;
        if (i < len && text[i] == '\n') i++;
        line++, row++, col = 0;
    }
    *n_records = row + (col > 0);
    return n;
}

static enum gsae_status csv_read(struct csv *c, const char *path, struct gsae_error *err)
{
    struct tokenizer_text file = {0};
    enum gsae_status st = tokenizer_read_file(path, &file, err);
    char **starts = NULL;
    int64_t *rows = NULL, *cols = NULL, *lines = NULL, n_records = 0;
    if (st != GSAE_OK) goto done;
    const char *text = file.data ? file.data : "";
    int64_t n = csv_split(text, file.len, NULL, NULL, NULL, NULL, NULL, &n_records);
    c->buf = malloc(file.len + (size_t)n + 1);
    starts = malloc((size_t)(n + 1) * sizeof *starts);
    rows = malloc((size_t)(n + 1) * sizeof *rows);
    cols = malloc((size_t)(n + 1) * sizeof *cols);
    lines = malloc((size_t)(n + 1) * sizeof *lines);
    if (!c->buf || !starts || !rows || !cols || !lines) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: no memory", path);
        goto done;
    }
    csv_split(text, file.len, c->buf, starts, rows, cols, lines, &n_records);
    c->n_cols = 0;
    for (int64_t k = 0; k < n && rows[k] == 0; k++)
        c->n_cols++;
    if (n_records < 1 || c->n_cols < 1) {
        st = gsae_fail(err, GSAE_EFORMAT, "%s: empty, expected a header line", path);
        goto done;
    }
    c->n_rows = n_records - 1;
    c->field = calloc((size_t)(n_records * c->n_cols), sizeof *c->field);
    c->line_of = calloc((size_t)n_records, sizeof *c->line_of);
    if (!c->field || !c->line_of) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: no memory", path);
        goto done;
    }
    for (int64_t k = 0; k < n; k++) {
        if (cols[k] >= c->n_cols) {
            st = gsae_fail(err, GSAE_EFORMAT, "%s: line %lld: %lld fields, the header has %lld",
                           path, (long long)lines[k], (long long)cols[k] + 1, (long long)c->n_cols);
            goto done;
        }
        c->field[rows[k] * c->n_cols + cols[k]] = starts[k];
        if (rows[k] > 0 && cols[k] == 0) c->line_of[rows[k] - 1] = lines[k];
    }
done:
    free(starts);
    free(rows);
    free(cols);
    free(lines);
    tokenizer_text_free(&file);
    return st;
}

/* Header column named name, or -1. */
static int64_t csv_col(const struct csv *c, const char *name)
{
    for (int64_t j = 0; j < c->n_cols; j++)
        if (c->field[j] && strcmp(c->field[j], name) == 0) return j;
    return -1;
}

/* Data row r, column j ("" when missing or j < 0). */
static const char *csv_cell(const struct csv *c, int64_t r, int64_t j)
{
    const char *s = j >= 0 ? c->field[(r + 1) * c->n_cols + j] : NULL;
    return s ? s : "";
}

/* ---- ARC ---------------------------------------------------------------------------------- */

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Path of task name (with or without .json) under dir, dir/training or dir/evaluation. */
static enum gsae_status find_task(const char *dir, const char *name, char *path, size_t cap,
                                  struct gsae_error *err)
{
    static const char *const sub[] = {"", "training/", "evaluation/"};
    size_t n = strlen(name);
    const char *ext = n > 5 && strcmp(name + n - 5, ".json") == 0 ? "" : ".json";
    for (size_t i = 0; i < 3; i++) {
        int w = snprintf(path, cap, "%s/%s%s%s", dir, sub[i], name, ext);
        if (w > 0 && (size_t)w < cap && is_file(path)) return GSAE_OK;
    }
    return gsae_fail(err, GSAE_ENOTFOUND, "task '%s': no %s%s in %s, %s/training or %s/evaluation",
                     name, name, ext, dir, dir, dir);
}

/* The notebook's prompt for task file path into it. */
static enum gsae_status build_arc_prompt(const char *path, struct promptset_item *it,
                                         struct gsae_error *err)
{
    struct arc_task task = {0};
    char *text = NULL;
    size_t len = 0;
    enum gsae_status st = arc_task_load(path, &task, err);
    if (st == GSAE_OK) st = arc_prompt_build(&task, &text, &len, err);
    if (st == GSAE_OK)
        set_text(it, text, len);
    else
        gsae_error_prefix(err, "%s", path);
    arc_task_free(&task);
    return st;
}

/* Outcome, confidence and len_prompt of CSV row r into it. */
static enum gsae_status take_row(const struct csv *c, const char *path, int64_t r,
                                 struct promptset_item *it, struct gsae_error *err)
{
    int64_t j_out = csv_col(c, "outcome"), j_conf = csv_col(c, "confidence");
    int64_t j_len = csv_col(c, "len_prompt"), line = c->line_of[r];
    const char *o = csv_cell(c, r, j_out), *conf = csv_cell(c, r, j_conf);
    const char *len = csv_cell(c, r, j_len);
    if ((it->label = parse_outcome(o)) == -2)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: line %lld: outcome '%s', expected True/False, 1/0 or "
                         "success/failure",
                         path, (long long)line, o);
    if (conf[0] && !parse_double(conf, &it->confidence))
        return gsae_fail(err, GSAE_EFORMAT, "%s: line %lld: confidence '%s' is not a number", path,
                         (long long)line, conf);
    if (len[0] && !parse_i64(len, &it->len_prompt))
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: line %lld: len_prompt '%s', expected an integer >= 0", path,
                         (long long)line, len);
    return GSAE_OK;
}

/* The CSV row whose filename is name (with or without .json), or -1. */
static int64_t find_row(const struct csv *c, const char *name)
{
    int64_t j = csv_col(c, "filename");
    size_t n = strlen(name);
    for (int64_t r = 0; r < c->n_rows; r++) {
        const char *f = csv_cell(c, r, j);
        size_t m = strlen(f);
        if (strcmp(f, name) == 0 ||
            (m == n + 5 && strncmp(f, name, n) == 0 && strcmp(f + n, ".json") == 0))
            return r;
    }
    return -1;
}

static enum gsae_status open_outcomes(struct csv *c, const char *path, struct gsae_error *err)
{
    enum gsae_status st = csv_read(c, path, err);
    if (st == GSAE_OK && (csv_col(c, "filename") < 0 || csv_col(c, "outcome") < 0))
        st = gsae_fail(err, GSAE_EFORMAT,
                       "%s: header needs columns 'filename' and 'outcome' (found %lld columns)",
                       path, (long long)c->n_cols);
    if (st == GSAE_OK && c->n_rows == 0)
        st = gsae_fail(err, GSAE_EFORMAT, "%s: no rows after the header", path);
    return st;
}

enum gsae_status promptset_load_arc(struct promptset *ps, const char *dir, const char *outcomes_csv,
                                    const char *const *names, int64_t n_names,
                                    struct gsae_error *err)
{
    memset(ps, 0, sizeof *ps);
    struct csv c = {0};
    enum gsae_status st = GSAE_OK;
    if (n_names == 0 && !outcomes_csv)
        return gsae_fail(err, GSAE_EINVAL, "ARC prompts: give task names or an outcomes CSV");
    if (outcomes_csv) st = open_outcomes(&c, outcomes_csv, err);
    if (st == GSAE_OK) st = alloc_items(ps, n_names ? n_names : c.n_rows, dir, err);
    for (int64_t i = 0; st == GSAE_OK && i < ps->n; i++) {
        struct promptset_item *it = &ps->items[i];
        const char *name = n_names ? names[i] : csv_cell(&c, i, csv_col(&c, "filename"));
        int64_t row = !outcomes_csv ? -1 : n_names ? find_row(&c, name) : i;
        char path[PROMPTSET_PATH_MAX];
        if (outcomes_csv && row < 0)
            st =
                gsae_fail(err, GSAE_ENOTFOUND, "%s: no row with filename '%s'", outcomes_csv, name);
        else if (!(it->name = strdup(name)))
            st = gsae_fail(err, GSAE_ENOMEM, "ARC prompts: no memory");
        if (st == GSAE_OK) st = find_task(dir, name, path, sizeof path, err);
        if (st == GSAE_OK) st = build_arc_prompt(path, it, err);
        if (st == GSAE_OK && row >= 0) st = take_row(&c, outcomes_csv, row, it, err);
    }
    csv_free(&c);
    return st;
}

/* ---- JSON lines --------------------------------------------------------------------------- */

static enum gsae_status take_json_label(const json_t *v, const char *path, int64_t line, int *label,
                                        struct gsae_error *err)
{
    *label = PROMPTSET_LABEL_UNKNOWN;
    if (!v || json_is_null(v)) return GSAE_OK;
    if (json_is_boolean(v)) {
        *label = json_is_true(v) ? PROMPTSET_LABEL_SUCCESS : PROMPTSET_LABEL_FAILURE;
        return GSAE_OK;
    }
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
        *label = (int)json_integer_value(v);
        return GSAE_OK;
    }
    if (json_is_string(v) && (*label = parse_outcome(json_string_value(v))) != -2) return GSAE_OK;
    *label = PROMPTSET_LABEL_UNKNOWN;
    return gsae_fail(err, GSAE_EFORMAT,
                     "%s: line %lld: \"label\" must be true/false, 1/0, \"success\"/\"failure\" "
                     "or null",
                     path, (long long)line);
}

/* One JSON object (line `line` of path) into it. */
static enum gsae_status take_json(const json_t *o, const char *path, int64_t line,
                                  struct promptset_item *it, struct gsae_error *err)
{
    const json_t *text = json_object_get(o, "prompt"), *name = json_object_get(o, "name");
    const json_t *conf = json_object_get(o, "confidence"), *len = json_object_get(o, "len_prompt");
    if (!text) text = json_object_get(o, "text");
    if (!json_is_object(o) || !json_is_string(text))
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: line %lld: expected an object with a string \"prompt\" (or \"text\")",
                         path, (long long)line);
    if ((name && !json_is_string(name)) || (conf && !json_is_number(conf)) ||
        (len && (!json_is_integer(len) || json_integer_value(len) < 0)))
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: line %lld: \"name\" must be a string, \"confidence\" a number, "
                         "\"len_prompt\" an integer >= 0",
                         path, (long long)line);
    enum gsae_status st = take_json_label(json_object_get(o, "label"), path, line, &it->label, err);
    if (st != GSAE_OK) return st;
    char fallback[32];
    snprintf(fallback, sizeof fallback, "line %lld", (long long)line);
    size_t n = json_string_length(text);
    char *copy = malloc(n + 1);
    it->name = strdup(name ? json_string_value(name) : fallback);
    if (!copy || !it->name) {
        free(copy);
        return gsae_fail(err, GSAE_ENOMEM, "%s: line %lld: no memory", path, (long long)line);
    }
    memcpy(copy, json_string_value(text), n + 1);
    set_text(it, copy, n);
    if (conf) it->confidence = json_number_value(conf);
    if (len) it->len_prompt = (int64_t)json_integer_value(len);
    return GSAE_OK;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return false;
    return true;
}

enum gsae_status promptset_load_jsonl(struct promptset *ps, const char *path,
                                      struct gsae_error *err)
{
    memset(ps, 0, sizeof *ps);
    struct tokenizer_text file = {0};
    enum gsae_status st = tokenizer_read_file(path, &file, err);
    const char *text = file.data ? file.data : "";
    int64_t n_lines = 0;
    for (size_t i = 0; i < file.len; i++)
        n_lines += text[i] == '\n';
    if (st == GSAE_OK) st = alloc_items(ps, n_lines + 1, path, err);
    int64_t n = 0, line = 0;
    for (size_t at = 0; st == GSAE_OK && at < file.len;) {
        const char *nl = memchr(text + at, '\n', file.len - at);
        size_t end = nl ? (size_t)(nl - text) : file.len;
        line++;
        if (!blank(text + at, end - at)) {
            json_error_t jerr;
            json_t *o = json_loadb(text + at, end - at, 0, &jerr);
            if (!o)
                st = gsae_fail(err, GSAE_EFORMAT, "%s: line %lld: %s", path, (long long)line,
                               jerr.text);
            else
                st = take_json(o, path, line, &ps->items[n++], err);
            json_decref(o);
        }
        at = end + 1;
    }
    if (st == GSAE_OK && n == 0) st = gsae_fail(err, GSAE_EFORMAT, "%s: no prompts", path);
    ps->n = n; /* items past n were never filled */
    tokenizer_text_free(&file);
    return st;
}

/* ---- tokens ------------------------------------------------------------------------------- */

enum gsae_status promptset_tokenize(struct promptset *ps, const struct tokenizer *tk, bool add_bos,
                                    struct gsae_error *err)
{
    struct tokenizer_work work = {0};
    enum gsae_status st = GSAE_OK;
    for (int64_t i = 0; st == GSAE_OK && i < ps->n; i++) {
        struct promptset_item *it = &ps->items[i];
        struct tokenizer_ids ids = {0};
        st = tokenizer_encode(tk, it->text, it->len, add_bos, &work, &ids, err);
        if (st == GSAE_OK && ids.n == 0) st = gsae_fail(err, GSAE_EINVAL, "prompt has no tokens");
        if (st != GSAE_OK) {
            gsae_error_prefix(err, "prompt %lld (%s)", (long long)i, it->name);
            tokenizer_ids_free(&ids);
            break;
        }
        free(it->tokens);
        it->tokens = ids.ids;
        it->n_tokens = (int64_t)ids.n;
    }
    tokenizer_work_free(&work);
    return st;
}
