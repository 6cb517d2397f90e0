/* manifest.h: the run manifest of an activation store (DIR/manifest.json).
 *
 * The manifest is the only record a reader trusts: a part file that it does not list does not
 * belong to the store (a crash may leave one behind; a resumed run rewrites it). It is written
 * by one rank (world rank 0) through store_write_atomic (tmp, fsync, rename, fsync directory),
 * always after the parts it lists were renamed into place.
 *
 *   {
 *     "format": "gsae-store-manifest", "schema_version": 1,
 *     "job_hash": "...",            identity of the settings; a rerun with others is refused
 *     "context_size": 1024, "windows_per_part": 64,
 *     "complete": false,            true once the corpus stream ended and every part is listed
 *     "n_parts_total": -1,          known when complete
 *     "parts": [ {"index": 0, "file": "part-00000.nc", "first_window": 0, "n_windows": 64,
 *                 "n_tokens": 65536, "nnz": 123456, "checksum": "<16 hex digits>",
 *                 "end": {"doc": 17, "offset": 90, "shard": 0, "line": 18}}, ... ]
 *   }
 *
 * "end" is the stream state right after the part's last window: the pending document (its
 * number and its shard/line in the corpus) and the offset of its next unplaced token. A resumed
 * run restarts at the first missing part q from the end of part q - 1 (the corpus start for
 * q = 0): the windowing state at a window boundary is exactly that (src/window.h).
 *
 * A listed part with fewer than windows_per_part windows is partial unless it is the last part
 * of a complete store: a stopped harvest committed the windows it had (its "end" is the stream
 * after its last window), and a rerun resumes there and rewrites the part whole (mpi/pstore.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/gsae.h"
#include "store.h"

#define MANIFEST_SCHEMA_VERSION 1

/* The stream at a window boundary. */
struct manifest_state {
    int64_t doc, offset, shard, line;
};

struct manifest_part {
    struct store_part_info info;
    struct manifest_state end;
};

struct manifest {
    char job_hash[72];
    int64_t context_size, windows_per_part;
    bool complete;
    int64_t n_parts_total;       /* -1 until complete */
    struct manifest_part *parts; /* sorted by info.index, no duplicates */
    int64_t n_parts, cap_parts;
};

/* An empty manifest for a new store. */
void manifest_init(struct manifest *m, const char *job_hash, int64_t context_size,
                   int64_t windows_per_part);

/* Release the part list and zero m (harmless twice). */
void manifest_free(struct manifest *m);

/* Add (or replace) a part, keeping the list sorted. Errors: GSAE_ENOMEM. */
enum gsae_status manifest_add(struct manifest *m, const struct manifest_part *part,
                              struct gsae_error *err);

/* The listed part with this index, or NULL. */
const struct manifest_part *manifest_find(const struct manifest *m, int64_t index);

/* The lowest part index not listed. */
int64_t manifest_first_missing(const struct manifest *m);

/* The stream state where part `index` starts: the end of part index-1 (which must be listed),
 * or the corpus start for part 0. */
struct manifest_state manifest_start_of(const struct manifest *m, int64_t index);

/* Write DIR/manifest.json atomically. Errors: GSAE_EIO, GSAE_ENOMEM. */
enum gsae_status manifest_save(const struct manifest *m, const char *dir, struct gsae_error *err);

/* Parse a manifest held in memory (len bytes; path names it in messages). Errors as
 * manifest_load. */
enum gsae_status manifest_parse(const char *text, size_t len, const char *path, struct manifest *m,
                                struct gsae_error *err);

/* Read DIR/manifest.json. Errors: GSAE_ENOTFOUND (no manifest: a new store), GSAE_EFORMAT
 * (naming the field), GSAE_EIO. */
enum gsae_status manifest_load(const char *dir, struct manifest *m, struct gsae_error *err);
