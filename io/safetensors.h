/* safetensors.h: read (mmap, validated) and write safetensors files.
 * (Reader: safetensors.c; writer: safetensors_write.c.)
 *
 * Format: 8-byte little-endian header length N, then N bytes of JSON
 *   {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value", ...}}
 * then the data section; offsets are relative to its start.
 *
 * sft_open validates as the reference implementation does: N <= 100 MB and inside the file,
 * the header is a JSON object, every entry has a known dtype, a shape of non-negative
 * integers and offsets with begin <= end inside the data section, end - begin equals
 * numel * dtype size (computed with overflow checks), no duplicate names, and the entries
 * tile the data section contiguously without overlap. Data is never read at open time: a
 * tensor's pages are touched only when its data is used.
 *
 * Every error message has the form "<path>: tensor '<name>': <what was found>, expected <what>"
 * (or "<path>: <what>, expected <what>" when no tensor is involved), on one line.
 *
 * Writing: sft_write for tensors already in memory, or the streaming writer (sft_writer_open,
 * sft_writer_append, sft_writer_commit) for files larger than memory: the header is written
 * first from the names, dtypes and shapes, then the data tensor by tensor in any chunk sizes.
 * The header is padded with spaces to a multiple of 8 bytes, so the data section starts
 * 8-byte aligned. Both write path.tmp, fsync and rename, so path is complete or absent.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../src/gsae.h"
#include "../src/tensor.h"

#define SFT_MAX_HEADER (100u * 1000u * 1000u)

struct sft_entry {
    char *name; /* owned by the file */
    enum gsae_dtype dtype;
    int n_dims;
    int64_t shape[GSAE_MAX_DIMS];
    size_t begin, end; /* byte range in the data section */
};

struct sft_file {
    char *path;         /* owned copy, used in error messages */
    int fd;             /* -1 once mapped: the mapping outlives the descriptor */
    unsigned char *map; /* read-only mapping of the whole file */
    size_t map_size;
    size_t data_start; /* 8 + N */
    int64_t n_entries;
    struct sft_entry *entries;
    int64_t n_meta;
    char **meta_keys, **meta_values; /* __metadata__ string pairs */
    int64_t *by_name;                /* entry indices sorted by name, for sft_find */
    int borrowed;                    /* map belongs to the caller (sft_open_mem): never unmapped */
};

/* Open and validate path. On failure the message names the file and the tensor or field.
 * The struct may be passed to sft_close after a failure. */
enum gsae_status sft_open(struct sft_file *f, const char *path, struct gsae_error *err);

/* Validate an in-memory image of a file (size bytes at data, borrowed: it must outlive f).
 * name stands for the path in messages. Used by the fuzz target and by tests. */
enum gsae_status sft_open_mem(struct sft_file *f, const void *data, size_t size, const char *name,
                              struct gsae_error *err);

/* Unmap and free everything; safe on a zeroed or half-built struct, and twice. */
void sft_close(struct sft_file *f);

/* The entry called name, or NULL. O(log n_entries). Entries are in data-offset order. */
const struct sft_entry *sft_find(const struct sft_file *f, const char *name);

/* A view of an entry; data points into the mapping, valid until sft_close. */
struct gsae_tensor sft_view(const struct sft_file *f, const struct sft_entry *e);

/* The __metadata__ value for key, or NULL. */
const char *sft_meta(const struct sft_file *f, const char *key);

/* One tensor to write: name and a view whose data is n_dims/shape/dtype as given. */
struct sft_item {
    const char *name;
    struct gsae_tensor t;
};

/* Write n items (in the order given) and optional metadata pairs meta[0..2*n_meta) to path.
 * Writes path.tmp, fsyncs, then renames, so a crash never leaves a partial file at path. */
enum gsae_status sft_write(const char *path, const struct sft_item *items, int64_t n,
                           const char *const *meta, int64_t n_meta, struct gsae_error *err);

/* A file being written: header already out, data arriving in the order of the items. */
struct sft_writer {
    char *path, *tmp_path; /* owned */
    int fd;                /* -1 when closed */
    size_t data_size;      /* bytes the header promises */
    size_t written;        /* data bytes appended so far */
};

/* Create path.tmp and write the header for n items (names, dtypes and shapes; data pointers
 * are ignored) and the metadata pairs. Items must have distinct names and known dtypes.
 * On failure nothing is left on disk and w may be passed to sft_writer_abort. */
enum gsae_status sft_writer_open(struct sft_writer *w, const char *path,
                                 const struct sft_item *items, int64_t n, const char *const *meta,
                                 int64_t n_meta, struct gsae_error *err);

/* Append bytes of tensor data (tensors in item order, row-major, little-endian). Fails if
 * more bytes arrive than the header promises. */
enum gsae_status sft_writer_append(struct sft_writer *w, const void *data, size_t bytes,
                                   struct gsae_error *err);

/* Check every promised byte arrived, fsync, rename path.tmp to path and release w. On
 * failure path.tmp is removed and w released. */
enum gsae_status sft_writer_commit(struct sft_writer *w, struct gsae_error *err);

/* Remove path.tmp and release w; safe on a zeroed, committed or aborted writer. */
void sft_writer_abort(struct sft_writer *w);
