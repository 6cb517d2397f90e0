/* npz.h: NumPy .npz archives (a zip of .npy members), read and written through libarchive.
 *
 * np.savez / np.savez_compressed write a zip whose members are "<key>.npy", stored (method 0)
 * or deflated (method 8), possibly with zip64 extensions and data descriptors. Reading streams
 * the archive: each member is decompressed into one memory buffer, parsed as .npy and handed to
 * a visitor, then freed, so the peak is one member (no temporary files). Every member must be
 * a .npy array: a member whose name does not end in ".npy", or whose content is not a valid
 * .npy image, is an error naming the archive and the member. Duplicate keys are an error.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../src/gsae.h"
#include "../src/tensor.h"
#include "npy.h"

/* Called once per member in archive order. key is the member name without ".npy"; arr borrows
 * a buffer that is valid only during the call. A non-OK return stops the read with that
 * status (the visitor fills err). */
struct npz_visitor {
    enum gsae_status (*fn)(void *ctx, const char *key, const struct npy_array *arr,
                           struct gsae_error *err);
    void *ctx;
};

/* Read the archive at path, calling v for each member. Errors name path and the member:
 * GSAE_EIO (cannot open), GSAE_EFORMAT (not a zip, truncated, bad CRC, member not .npy,
 * malformed .npy header, duplicate key), GSAE_ENOMEM. */
enum gsae_status npz_read(const char *path, const struct npz_visitor *v, struct gsae_error *err);

/* The same for an archive image in memory (len bytes at buf); name is used in messages. */
enum gsae_status npz_read_mem(const void *buf, size_t len, const char *name,
                              const struct npz_visitor *v, struct gsae_error *err);

enum npz_compression {
    NPZ_COMPRESSION_STORED,   /* np.savez */
    NPZ_COMPRESSION_DEFLATED, /* np.savez_compressed */
};

/* One array to write: key (member "<key>.npy") and a view of its data. */
struct npz_item {
    const char *key;
    struct gsae_tensor t;
};

/* Write n items in order to path as an .npz (path.tmp, then rename). */
enum gsae_status npz_write(const char *path, const struct npz_item *items, int64_t n,
                           enum npz_compression compression, struct gsae_error *err);
