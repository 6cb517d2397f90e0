/* arc.h: ARC-AGI tasks in memory and the notebook's prompt for them.
 *
 * The prompt reproduces the original notebook byte for byte: a fixed header, then for each
 * training pair i "TRAIN Pair {i}\nINPUT. Shape=({rows}, {cols})\n{grid}\nOUTPUT. Shape=(...)\n
 * {grid}\n", then "TEST Pair 0\nINPUT. Shape=(...)\n{grid}\nOUTPUT. " (trailing space, no
 * newline). A grid is printed as numpy's repr of a 2-D int array, without line wrapping (the
 * notebook's prompts, checked against their token ids, have no wrapped rows even at 30 columns):
 * "array([[3, 3, 3],\n       [9, 9, 9]])", every number right-aligned to the widest one. Every
 * cell is printed (numpy would summarize arrays of more than 1000 cells with "..."; ARC grids
 * have at most 30 x 30 = 900). The expected answer of a task is its first test output. Only
 * the first test pair is used.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "gsae.h"

struct arc_grid {
    int64_t rows, cols; /* 0 x 0: absent (a test pair without output) */
    int32_t *cells;     /* (rows, cols) row-major; owned by the task */
};

struct arc_pair {
    struct arc_grid input, output;
};

struct arc_task {
    struct arc_pair *train, *test; /* owned */
    int64_t n_train, n_test;
};

/* Free every grid and pair array, then zero the task (harmless on a zeroed or partial task). */
void arc_task_free(struct arc_task *task);

/* The notebook's prompt for task: *out is a malloc'd NUL-terminated string of *len bytes
 * (caller frees). Errors: GSAE_EINVAL (no test pair, an empty grid), GSAE_ENOMEM. Local. */
enum gsae_status arc_prompt_build(const struct arc_task *task, char **out, size_t *len,
                                  struct gsae_error *err);

/* numpy's repr of one grid, as in the prompt (malloc'd, NUL-terminated; caller frees). */
enum gsae_status arc_grid_repr(const struct arc_grid *grid, char **out, size_t *len,
                               struct gsae_error *err);

/* The expected target of a task: its first test output (borrowed from task), or NULL when the
 * task has no test pair or that pair has no output. */
const struct arc_grid *arc_task_target(const struct arc_task *task);
