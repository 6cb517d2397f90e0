/* npy.h: NumPy .npy arrays (format versions 1.0, 2.0, 3.0), read from memory and written.
 *
 * Layout: "\x93NUMPY", major, minor, header length (u16 for v1, u32 for v2/v3), then a Python
 * dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (a, b), } padded with spaces
 * and a newline, then the data. Only C order and little-endian (or byte-order-free) types are
 * accepted: <f4 <f8 <f2 <i4 <i8 <u2 |u1 |i1 |b1 <i2 <u4 <u8.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../src/gsae.h"
#include "../src/tensor.h"

struct npy_array {
    enum gsae_dtype dtype;
    int n_dims;
    int64_t shape[GSAE_MAX_DIMS];
    const void *data;  /* points into the buffer given to npy_parse */
    size_t data_bytes; /* numel * dtype size; the buffer holds at least this many */
};

/* Parse an .npy image of len bytes at buf. name (a file or archive member) goes in messages.
 * The result borrows buf. Errors: GSAE_EFORMAT naming the problem (magic, version, header
 * dict, descr, fortran_order, shape, data shorter than the shape needs). */
enum gsae_status npy_parse(const void *buf, size_t len, const char *name, struct npy_array *out,
                           struct gsae_error *err);

/* Read a whole .npy file into *buf (caller frees with free()) and parse it. */
enum gsae_status npy_load(const char *path, void **buf, struct npy_array *out,
                          struct gsae_error *err);

/* A read-only mapping of a whole .npy file; a borrows the mapping. */
struct npy_map {
    void *base;
    size_t len;
    struct npy_array a;
};

/* Map path and parse its header; pages are read only when touched, so a reader of some rows
 * never loads the others. Local. Errors: GSAE_ENOTFOUND / GSAE_EIO (open, mmap), GSAE_EFORMAT
 * (npy_parse's, naming the file). Release with npy_map_close, also after a failure. */
enum gsae_status npy_map_open(const char *path, struct npy_map *m, struct gsae_error *err);

/* Unmap and zero m (harmless on a zeroed struct and twice). */
void npy_map_close(struct npy_map *m);

/* Serialize a tensor as a v1.0 .npy image into a malloc'd buffer (caller frees). */
enum gsae_status npy_serialize(const struct gsae_tensor *t, void **buf, size_t *len,
                               struct gsae_error *err);

/* Write a tensor to path as .npy (via path.tmp and rename). */
enum gsae_status npy_save(const char *path, const struct gsae_tensor *t, struct gsae_error *err);
