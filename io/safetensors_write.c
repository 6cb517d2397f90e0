/* safetensors_write.c: writing safetensors files: header, streamed data, atomic commit (see
 * safetensors.h). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "safetensors_impl.h"

/* Bytes of one item's data, with the same checks the reader applies. */
static enum gsae_status item_nbytes(const char *path, const struct sft_item *it, size_t *out,
                                    struct gsae_error *err)
{
    const struct gsae_tensor *t = &it->t;
    size_t n = gsae_dtype_size(t->dtype);
    if (n == 0)
        return gsae_fail(err, GSAE_EINVAL,
                         "%s: tensor '%s': dtype is invalid, expected one of " SFT_DTYPE_LIST, path,
                         sft_show(it->name).s);
    if (t->n_dims < 0 || t->n_dims > GSAE_MAX_DIMS)
        return gsae_fail(err, GSAE_EINVAL, "%s: tensor '%s': %d dims, expected 0 to %d", path,
                         sft_show(it->name).s, t->n_dims, GSAE_MAX_DIMS);
    for (int i = 0; i < t->n_dims; i++)
        if (t->shape[i] < 0 || (uint64_t)t->shape[i] > SIZE_MAX ||
            !gsae_mul_size(n, (size_t)t->shape[i], &n))
            return gsae_fail(err, GSAE_ERANGE,
                             "%s: tensor '%s': shape[%d] = %lld, expected a size >= 0 that fits "
                             "in memory",
                             path, sft_show(it->name).s, i, (long long)t->shape[i]);
    *out = n;
    return GSAE_OK;
}

static json_t *json_offset(size_t v)
{
    return json_integer((json_int_t)v); /* v <= data size, which fits: checked by the caller */
}

/* The header JSON for the items; *data_size receives the data section's size. */
static enum gsae_status build_header(const char *path, const struct sft_item *items, int64_t n,
                                     const char *const *meta, int64_t n_meta, json_t **out,
                                     size_t *data_size, struct gsae_error *err)
{
    json_t *root = json_object();
    enum gsae_status st = GSAE_OK;
    if (!root) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory for the header", path);
    if (n_meta > 0) {
        json_t *m = json_object();
        int bad = !m;
        for (int64_t i = 0; m && i < n_meta; i++)
            bad |= json_object_set_new(m, meta[2 * i], json_string(meta[2 * i + 1]));
        if (bad) json_decref(m);
        if (bad || json_object_set_new(root, SFT_META_KEY, m) != 0) {
            st = gsae_fail(err, GSAE_EINVAL, "%s: metadata could not be encoded", path);
            goto fail;
        }
    }
    size_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        const struct sft_item *it = &items[i];
        size_t bytes = 0;
        if ((st = item_nbytes(path, it, &bytes, err)) != GSAE_OK) goto fail;
        if (strcmp(it->name, SFT_META_KEY) == 0 || json_object_get(root, it->name)) {
            st = gsae_fail(err, GSAE_EINVAL,
                           "%s: tensor '%s': name given twice or reserved, "
                           "expected unique tensor names",
                           path, sft_show(it->name).s);
            goto fail;
        }
        if (bytes > (size_t)INT64_MAX - at) {
            st = gsae_fail(err, GSAE_ERANGE,
                           "%s: tensor '%s': data section overflows, expected "
                           "under 2^63 bytes in all",
                           path, sft_show(it->name).s);
            goto fail;
        }
        json_t *shape = json_array();
        for (int d = 0; shape && d < it->t.n_dims; d++)
            json_array_append_new(shape, json_integer((json_int_t)it->t.shape[d]));
        json_t *e =
            json_pack("{s:s, s:o, s:[o, o]}", "dtype", gsae_dtype_name(it->t.dtype), "shape", shape,
                      "data_offsets", json_offset(at), json_offset(at + bytes));
        if (!e || json_object_set_new(root, it->name, e) != 0) {
            st = gsae_fail(err, GSAE_EINVAL,
                           "%s: tensor '%s': cannot encode the name (not "
                           "UTF-8?), expected a UTF-8 name",
                           path, sft_show(it->name).s);
            goto fail;
        }
        at += bytes;
    }
    *out = root;
    *data_size = at;
    return GSAE_OK;
fail:
    json_decref(root);
    return st;
}

static enum gsae_status write_all(int fd, const char *path, const void *data, size_t n,
                                  struct gsae_error *err)
{
    const unsigned char *p = data;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return gsae_fail(err, GSAE_EIO, "%s: write failed: %s", path,
                             k < 0 ? strerror(errno) : "no progress");
        p += k;
        n -= (size_t)k;
    }
    return GSAE_OK;
}

void sft_writer_abort(struct sft_writer *w)
{
    if (!w) return;
    if (w->tmp_path) {
        if (w->fd >= 0) close(w->fd);
        unlink(w->tmp_path);
    }
    free(w->path);
    free(w->tmp_path);
    memset(w, 0, sizeof *w);
    w->fd = -1;
}

enum gsae_status sft_writer_open(struct sft_writer *w, const char *path,
                                 const struct sft_item *items, int64_t n, const char *const *meta,
                                 int64_t n_meta, struct gsae_error *err)
{
    memset(w, 0, sizeof *w);
    w->fd = -1;
    json_t *root = NULL;
    char *text = NULL;
    enum gsae_status st = build_header(path, items, n, meta, n_meta, &root, &w->data_size, err);
    if (st != GSAE_OK) return st;
    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory for the header", path);
    size_t len = strlen(text), padded = (len + 7) & ~(size_t)7;
    size_t tmp_len = strlen(path) + 5;
    w->path = strdup(path);
    w->tmp_path = malloc(tmp_len);
    unsigned char *hdr = malloc(8 + padded);
    if (!w->path || !w->tmp_path || !hdr) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    snprintf(w->tmp_path, tmp_len, "%s.tmp", path);
    for (int i = 0; i < 8; i++)
        hdr[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(hdr + 8, text, len);
    memset(hdr + 8 + len, ' ', padded - len);
    w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        st = gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", w->tmp_path, strerror(errno));
        goto fail;
    }
    st = write_all(w->fd, w->tmp_path, hdr, 8 + padded, err);
    if (st != GSAE_OK) goto fail;
    free(hdr);
    free(text);
    return GSAE_OK;
fail:
    free(hdr);
    free(text);
    sft_writer_abort(w);
    return st;
}

enum gsae_status sft_writer_append(struct sft_writer *w, const void *data, size_t bytes,
                                   struct gsae_error *err)
{
    GSAE_ASSERT(w->tmp_path && w->fd >= 0);
    if (bytes > w->data_size - w->written)
        return gsae_fail(err, GSAE_EINVAL, "%s: %zu more data bytes after %zu, expected %zu in all",
                         w->tmp_path, bytes, w->written, w->data_size);
    enum gsae_status st = write_all(w->fd, w->tmp_path, data, bytes, err);
    if (st == GSAE_OK) w->written += bytes;
    return st;
}

enum gsae_status sft_writer_commit(struct sft_writer *w, struct gsae_error *err)
{
    GSAE_ASSERT(w->tmp_path && w->fd >= 0);
    enum gsae_status st = GSAE_OK;
    if (w->written != w->data_size)
        st = gsae_fail(err, GSAE_EINVAL, "%s: %zu data bytes written, expected %zu", w->tmp_path,
                       w->written, w->data_size);
    else if (fsync(w->fd) != 0)
        st = gsae_fail(err, GSAE_EIO, "%s: fsync failed: %s", w->tmp_path, strerror(errno));
    if (close(w->fd) != 0 && st == GSAE_OK)
        st = gsae_fail(err, GSAE_EIO, "%s: close failed: %s", w->tmp_path, strerror(errno));
    w->fd = -1;
    if (st == GSAE_OK && rename(w->tmp_path, w->path) != 0)
        st = gsae_fail(err, GSAE_EIO, "%s: cannot rename to %s: %s", w->tmp_path, w->path,
                       strerror(errno));
    if (st == GSAE_OK) {
        free(w->tmp_path);
        w->tmp_path = NULL; /* nothing left to remove */
    }
    sft_writer_abort(w);
    return st;
}

enum gsae_status sft_write(const char *path, const struct sft_item *items, int64_t n,
                           const char *const *meta, int64_t n_meta, struct gsae_error *err)
{
    struct sft_writer w;
    enum gsae_status st = sft_writer_open(&w, path, items, n, meta, n_meta, err);
    for (int64_t i = 0; st == GSAE_OK && i < n; i++) {
        size_t bytes = 0;
        item_nbytes(path, &items[i], &bytes, NULL); /* checked by sft_writer_open */
        if (bytes > 0 && !items[i].t.data)
            st = gsae_fail(err, GSAE_EINVAL, "%s: tensor '%s': no data, expected %zu bytes", path,
                           sft_show(items[i].name).s, bytes);
        else if (bytes > 0)
            st = sft_writer_append(&w, items[i].t.data, bytes, err);
    }
    if (st == GSAE_OK) return sft_writer_commit(&w, err);
    sft_writer_abort(&w);
    return st;
}
