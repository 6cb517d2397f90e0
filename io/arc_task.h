/* arc_task.h: read an ARC-AGI task file ({"train": [{"input": grid, "output": grid}, ...],
 * "test": [{"input": grid, "output"?: grid}, ...]}, a grid being a non-empty list of equally
 * long non-empty lists of integers). */
#pragma once

#include "../src/arc.h"
#include "../src/gsae.h"

/* Read path into task (zeroed first; free with arc_task_free, also after a failure).
 * Errors name the file and the field: GSAE_EIO, GSAE_EFORMAT, GSAE_ENOMEM. Local. */
enum gsae_status arc_task_load(const char *path, struct arc_task *task, struct gsae_error *err);

/* The same from a JSON text in memory; name labels error messages. */
enum gsae_status arc_task_parse(const char *json, size_t len, const char *name,
                                struct arc_task *task, struct gsae_error *err);
