/* dirs.h: directories of outputs: `mkdir -p`.
 *
 * The one place gsae creates directory trees (stores, results, checkpoints, job folders).
 * Directories get mode 0777 less the process umask, as mkdir(1) gives them.
 */
#pragma once

#include "../src/gsae.h"

/* Create the directory path and its missing parents; an existing directory is fine. Local.
 * Errors: GSAE_EINVAL (path longer than 4095 bytes), GSAE_EIO naming the component that could
 * not be created (with strerror) or a path that exists and is not a directory. err may be NULL. */
enum gsae_status dirs_make(const char *path, struct gsae_error *err);
