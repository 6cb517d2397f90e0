/* arc_task.c: ARC task JSON -> struct arc_task (jansson). */
#include "arc_task.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_load.h"

static enum gsae_status parse_grid(const json_t *v, const char *name, const char *field,
                                   struct arc_grid *g, struct gsae_error *err)
{
    size_t rows = json_array_size(v), cols = json_array_size(json_array_get(v, 0));
    if (!json_is_array(v) || rows == 0 || cols == 0)
        return gsae_fail(err, GSAE_EFORMAT, "%s: %s: expected a non-empty list of rows", name,
                         field);
    size_t n;
    if (!gsae_mul_size(rows, cols, &n) || n > ((size_t)1 << 24))
        return gsae_fail(err, GSAE_EFORMAT, "%s: %s: %zu x %zu grid is too large", name, field,
                         rows, cols);
    g->cells = malloc(n * sizeof *g->cells);
    if (!g->cells) return gsae_fail(err, GSAE_ENOMEM, "%s: %s: out of memory", name, field);
    g->rows = (int64_t)rows, g->cols = (int64_t)cols;
    for (size_t r = 0; r < rows; r++) {
        const json_t *row = json_array_get(v, r);
        if (!json_is_array(row) || json_array_size(row) != cols)
            return gsae_fail(err, GSAE_EFORMAT, "%s: %s[%zu]: row has %zu cells, expected %zu",
                             name, field, r, json_array_size(row), cols);
        for (size_t c = 0; c < cols; c++) {
            const json_t *cell = json_array_get(row, c);
            json_int_t x = json_integer_value(cell);
            if (!json_is_integer(cell) || x < INT32_MIN || x > INT32_MAX)
                return gsae_fail(err, GSAE_EFORMAT, "%s: %s[%zu][%zu]: expected an integer", name,
                                 field, r, c);
            g->cells[r * cols + c] = (int32_t)x;
        }
    }
    return GSAE_OK;
}

static enum gsae_status parse_pairs(const json_t *root, const char *key, bool need_output,
                                    const char *name, struct arc_pair **pairs, int64_t *n_pairs,
                                    struct gsae_error *err)
{
    const json_t *list = json_object_get(root, key);
    if (!json_is_array(list))
        return gsae_fail(err, GSAE_EFORMAT, "%s: \"%s\": expected a list of pairs", name, key);
    size_t n = json_array_size(list);
    *pairs = calloc(n ? n : 1, sizeof **pairs);
    if (!*pairs) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", name);
    *n_pairs = (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(list, i), *out = json_object_get(p, "output");
        char field[64];
        snprintf(field, sizeof field, "%s[%zu].input", key, i);
        enum gsae_status st =
            parse_grid(json_object_get(p, "input"), name, field, &(*pairs)[i].input, err);
        if (st != GSAE_OK) return st;
        if (!out && !need_output) continue;
        snprintf(field, sizeof field, "%s[%zu].output", key, i);
        if ((st = parse_grid(out, name, field, &(*pairs)[i].output, err)) != GSAE_OK) return st;
    }
    return GSAE_OK;
}

enum gsae_status arc_task_parse(const char *json, size_t len, const char *name,
                                struct arc_task *task, struct gsae_error *err)
{
    memset(task, 0, sizeof *task);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    enum gsae_status st = GSAE_OK;
    if (!root) st = gsae_fail(err, GSAE_EFORMAT, "%s: line %d: %s", name, jerr.line, jerr.text);
    if (st == GSAE_OK)
        st = parse_pairs(root, "train", true, name, &task->train, &task->n_train, err);
    if (st == GSAE_OK) st = parse_pairs(root, "test", false, name, &task->test, &task->n_test, err);
    if (st == GSAE_OK && task->n_test == 0)
        st = gsae_fail(err, GSAE_EFORMAT, "%s: \"test\" has no pairs", name);
    json_decref(root);
    if (st != GSAE_OK) arc_task_free(task);
    return st;
}

enum gsae_status arc_task_load(const char *path, struct arc_task *task, struct gsae_error *err)
{
    memset(task, 0, sizeof *task);
    struct tokenizer_text text = {0};
    enum gsae_status st = tokenizer_read_file(path, &text, err);
    if (st == GSAE_OK) st = arc_task_parse(text.data ? text.data : "", text.len, path, task, err);
    tokenizer_text_free(&text);
    return st;
}
