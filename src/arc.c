/* arc.c: the notebook's ARC prompt (see arc.h). */
#include "arc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The notebook's fixed header, byte for byte (note the spaces before some newlines). */
static const char arc_header[] =
    "Below are pairs of matrices. \n"
    "There is a mapping which operates on each input to give the output, only one mapping "
    "applies to all matrices. \n"
    "Review the matrices to learn that mapping and then estimate the missing output for the "
    "final input matrix.\n"
    "\n"
    "FIRST score your confidence that you understand the mapping pattern, 0-5 where 0 is zero "
    "is no confidence and 5 is highly confident. \n"
    "This score must be the FIRST output you give, no preamble, no prefix, no punctuation, "
    "just a single digit score.\n"
    "THEN Present your predicted output in np.array format\n";

struct arc_buf {
    char *data;
    size_t len, cap;
    bool failed; /* an allocation failed; later appends are ignored */
};

static void buf_put(struct arc_buf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = true;
            return;
        }
        b->data = d, b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_str(struct arc_buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
buf_printf(struct arc_buf *b, const char *fmt, ...);

static void buf_printf(struct arc_buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    GSAE_ASSERT(n >= 0 && (size_t)n < sizeof tmp);
    buf_put(b, tmp, (size_t)n);
}

static enum gsae_status check_grid(const struct arc_grid *g, const char *what,
                                   struct gsae_error *err)
{
    if (g->rows <= 0 || g->cols <= 0 || !g->cells)
        return gsae_fail(err, GSAE_EINVAL, "arc: %s is empty (%" PRId64 " x %" PRId64 ")", what,
                         g->rows, g->cols);
    return GSAE_OK;
}

/* numpy: "array([[a, b],\n       [c, d]])", each number right-aligned to the widest. */
static void put_grid(struct arc_buf *b, const struct arc_grid *g)
{
    int width = 1;
    for (int64_t i = 0; i < g->rows * g->cols; i++) {
        int w = snprintf(NULL, 0, "%" PRId32, g->cells[i]);
        width = w > width ? w : width;
    }
    buf_str(b, "array([");
    for (int64_t r = 0; r < g->rows; r++) {
        buf_str(b, r ? ",\n       [" : "[");
        for (int64_t c = 0; c < g->cols; c++)
            buf_printf(b, c ? ", %*" PRId32 : "%*" PRId32, width, g->cells[r * g->cols + c]);
        buf_str(b, "]");
    }
    buf_str(b, "])");
}

static void put_shaped(struct arc_buf *b, const char *label, const struct arc_grid *g)
{
    buf_printf(b, "%s. Shape=(%" PRId64 ", %" PRId64 ")\n", label, g->rows, g->cols);
    put_grid(b, g);
}

static enum gsae_status finish_buf(struct arc_buf *b, char **out, size_t *len,
                                   struct gsae_error *err)
{
    if (b->failed) {
        free(b->data);
        return gsae_fail(err, GSAE_ENOMEM, "arc: out of memory building the prompt");
    }
    *out = b->data;
    *len = b->len;
    return GSAE_OK;
}

enum gsae_status arc_prompt_build(const struct arc_task *task, char **out, size_t *len,
                                  struct gsae_error *err)
{
    *out = NULL;
    *len = 0;
    if (task->n_test < 1) return gsae_fail(err, GSAE_EINVAL, "arc: task has no test pair");
    enum gsae_status st = check_grid(&task->test[0].input, "test[0].input", err);
    for (int64_t i = 0; i < task->n_train && st == GSAE_OK; i++) {
        st = check_grid(&task->train[i].input, "a train input", err);
        if (st == GSAE_OK) st = check_grid(&task->train[i].output, "a train output", err);
    }
    if (st != GSAE_OK) return st;
    struct arc_buf b = {0};
    buf_str(&b, arc_header);
    for (int64_t i = 0; i < task->n_train; i++) {
        buf_printf(&b, "TRAIN Pair %" PRId64 "\n", i);
        put_shaped(&b, "INPUT", &task->train[i].input);
        buf_str(&b, "\n");
        put_shaped(&b, "OUTPUT", &task->train[i].output);
        buf_str(&b, "\n");
    }
    buf_str(&b, "TEST Pair 0\n");
    put_shaped(&b, "INPUT", &task->test[0].input);
    buf_str(&b, "\nOUTPUT. ");
    return finish_buf(&b, out, len, err);
}

enum gsae_status arc_grid_repr(const struct arc_grid *grid, char **out, size_t *len,
                               struct gsae_error *err)
{
    *out = NULL;
    *len = 0;
    enum gsae_status st = check_grid(grid, "grid", err);
    if (st != GSAE_OK) return st;
    struct arc_buf b = {0};
    put_grid(&b, grid);
    return finish_buf(&b, out, len, err);
}

const struct arc_grid *arc_task_target(const struct arc_task *task)
{
    if (task->n_test < 1 || task->test[0].output.rows <= 0) return NULL;
    return &task->test[0].output;
}

static void pairs_free(struct arc_pair *pairs, int64_t n)
{
    for (int64_t i = 0; pairs && i < n; i++) {
        free(pairs[i].input.cells);
        free(pairs[i].output.cells);
    }
    free(pairs);
}

void arc_task_free(struct arc_task *task)
{
    pairs_free(task->train, task->n_train);
    pairs_free(task->test, task->n_test);
    memset(task, 0, sizeof *task);
}
