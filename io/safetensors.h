/* safetensors.h: read (mmap, validated) and write safetensors files.
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
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../src/gsae.h"
#include "../src/tensor.h"

#define SFT_MAX_HEADER (100u * 1000u * 1000u)

struct sft_entry {
    char *name;           /* owned by the file */
    enum gsae_dtype dtype;
    int n_dims;
    int64_t shape[GSAE_MAX_DIMS];
    size_t begin, end;    /* byte range in the data section */
};

struct sft_file {
    char *path;           /* owned copy, used in error messages */
    int fd;
    unsigned char *map;   /* read-only mapping of the whole file */
    size_t map_size;
    size_t data_start;    /* 8 + N */
    int64_t n_entries;
    struct sft_entry *entries;
    int64_t n_meta;
    char **meta_keys, **meta_values; /* __metadata__ string pairs */
};

/* Open and validate path. On failure the message names the file and the tensor or field.
 * The struct may be passed to sft_close after a failure. */
enum gsae_status sft_open(struct sft_file *f, const char *path, struct gsae_error *err);

/* Unmap and free everything; safe on a zeroed or half-built struct, and twice. */
void sft_close(struct sft_file *f);

/* The entry called name, or NULL. */
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
