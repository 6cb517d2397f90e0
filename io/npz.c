/* npz.c: .npz reader and writer on libarchive (see npz.h). */
#include "npz.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPZ_MAX_MEMBERS 4096
#define NPZ_KEY_MAX     256
#define NPZ_FIRST_CHUNK ((size_t)1 << 24) /* grow from here; a header's size is not trusted */

/* Growable buffer holding one decompressed member. */
struct member_buf {
    unsigned char *data;
    size_t len, cap;
};

static enum gsae_status buf_reserve(struct member_buf *b, size_t need, const char *name,
                                    const char *member, struct gsae_error *err)
{
    if (need <= b->cap) return GSAE_OK;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return gsae_fail(err, GSAE_ENOMEM, "%s: member '%s' is too large", name, member);
        cap *= 2;
    }
    unsigned char *d = realloc(b->data, cap);
    if (!d)
        return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory reading member '%s' (%zu bytes)",
                         name, member, cap);
    b->data = d;
    b->cap = cap;
    return GSAE_OK;
}

/* Decompress the current member into b (b->len = its size). */
static enum gsae_status read_member(struct archive *a, struct archive_entry *e, const char *name,
                                    const char *member, struct member_buf *b,
                                    struct gsae_error *err)
{
    b->len = 0;
    if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0) {
        int64_t claimed = archive_entry_size(e);
        size_t first = (uint64_t)claimed < NPZ_FIRST_CHUNK ? (size_t)claimed : NPZ_FIRST_CHUNK;
        enum gsae_status st = buf_reserve(b, first, name, member, err);
        if (st != GSAE_OK) return st;
    }
    for (;;) {
        enum gsae_status st = buf_reserve(b, b->len + 65536, name, member, err);
        if (st != GSAE_OK) return st;
        la_ssize_t got = archive_read_data(a, b->data + b->len, b->cap - b->len);
        if (got < 0)
            return gsae_fail(err, GSAE_EFORMAT, "%s: member '%s': %s", name, member,
                             archive_error_string(a) ? archive_error_string(a) : "read error");
        if (got == 0) break;
        b->len += (size_t)got;
    }
    if (archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) != b->len)
        return gsae_fail(err, GSAE_EFORMAT, "%s: member '%s' has %zu bytes, its header says %lld",
                         name, member, b->len, (long long)archive_entry_size(e));
    return GSAE_OK;
}

/* The key of a member "<key>.npy", or a failure naming the member. */
static enum gsae_status member_key(const char *member, const char *name, char *key,
                                   struct gsae_error *err)
{
    size_t n = strlen(member);
    if (n <= 4 || strcmp(member + n - 4, ".npy") != 0)
        return gsae_fail(err, GSAE_EFORMAT, "%s: member '%s' is not a .npy array", name, member);
    if (n - 4 >= NPZ_KEY_MAX)
        return gsae_fail(err, GSAE_EFORMAT, "%s: member name '%.64s...' is too long", name, member);
    memcpy(key, member, n - 4);
    key[n - 4] = '\0';
    return GSAE_OK;
}

static bool seen_key(char (*keys)[NPZ_KEY_MAX], int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(keys[i], key) == 0) return true;
    return false;
}

/* Walk every member of an opened archive. */
static enum gsae_status visit_all(struct archive *a, const char *name, const struct npz_visitor *v,
                                  struct gsae_error *err)
{
    struct member_buf b = {0};
    char(*keys)[NPZ_KEY_MAX] = NULL;
    enum gsae_status st = GSAE_OK;
    int n_members = 0, keys_cap = 0;
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) {
            st = gsae_fail(err, GSAE_EFORMAT, "%s: not a readable zip archive: %s", name,
                           archive_error_string(a) ? archive_error_string(a) : "unknown error");
            goto done;
        }
        const char *member = archive_entry_pathname(e);
        if (!member) member = "(unnamed)";
        if (n_members == NPZ_MAX_MEMBERS) {
            st = gsae_fail(err, GSAE_EFORMAT, "%s: more than %d members", name, NPZ_MAX_MEMBERS);
            goto done;
        }
        if (n_members == keys_cap) {
            keys_cap = keys_cap ? 2 * keys_cap : 8;
            char(*k)[NPZ_KEY_MAX] = realloc(keys, (size_t)keys_cap * NPZ_KEY_MAX);
            if (!k) {
                st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", name);
                goto done;
            }
            keys = k;
        }
        char *key = keys[n_members];
        st = member_key(member, name, key, err);
        if (st != GSAE_OK) goto done;
        if (archive_entry_filetype(e) != AE_IFREG) {
            st =
                gsae_fail(err, GSAE_EFORMAT, "%s: member '%s' is not a regular file", name, member);
            goto done;
        }
        if (seen_key(keys, n_members, key)) {
            st = gsae_fail(err, GSAE_EFORMAT, "%s: key '%s' appears twice", name, key);
            goto done;
        }
        n_members++;
        st = read_member(a, e, name, member, &b, err);
        if (st != GSAE_OK) goto done;
        char where[NPZ_KEY_MAX + 4096];
        snprintf(where, sizeof where, "%s: member '%s'", name, member);
        struct npy_array arr;
        st = npy_parse(b.data, b.len, where, &arr, err);
        if (st != GSAE_OK) goto done;
        st = v->fn(v->ctx, key, &arr, err);
        if (st != GSAE_OK) goto done;
    }
    if (n_members == 0) st = gsae_fail(err, GSAE_EFORMAT, "%s: archive has no members", name);
done:
    free(keys);
    free(b.data);
    return st;
}

/* The seekable zip reader works from the central directory at the end of the archive, so a
 * truncated file is refused even when its first members are complete (the streaming reader
 * would accept those). */
static struct archive *zip_reader(void)
{
    struct archive *a = archive_read_new();
    if (a && archive_read_support_format_zip_seekable(a) != ARCHIVE_OK) {
        archive_read_free(a);
        return NULL;
    }
    return a;
}

/* Why an archive could not be opened: a zip whose end (the central directory) is missing is
 * most likely truncated. */
static enum gsae_status open_failure(struct archive *a, const unsigned char *head, size_t n,
                                     const char *name, struct gsae_error *err)
{
    const char *why = archive_error_string(a) ? archive_error_string(a) : "cannot open";
    if (n >= 4 && memcmp(head, "PK\x03\x04", 4) == 0)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: truncated or damaged zip archive (its central directory is "
                         "missing): %s",
                         name, why);
    return gsae_fail(err, GSAE_EFORMAT, "%s: not a zip archive: %s", name, why);
}

enum gsae_status npz_read(const char *path, const struct npz_visitor *v, struct gsae_error *err)
{
    struct archive *a = zip_reader();
    if (!a) return gsae_fail(err, GSAE_ENOMEM, "%s: cannot create an archive reader", path);
    enum gsae_status st;
    if (archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK) {
        unsigned char head[4];
        size_t n = 0;
        FILE *f = fopen(path, "rb");
        if (!f) {
            st = gsae_fail(err, GSAE_EIO, "%s: cannot open: %s", path, strerror(errno));
        } else {
            n = fread(head, 1, sizeof head, f);
            fclose(f);
            st = open_failure(a, head, n, path, err);
        }
    } else {
        st = visit_all(a, path, v, err);
    }
    archive_read_free(a);
    return st;
}

enum gsae_status npz_read_mem(const void *buf, size_t len, const char *name,
                              const struct npz_visitor *v, struct gsae_error *err)
{
    struct archive *a = zip_reader();
    if (!a) return gsae_fail(err, GSAE_ENOMEM, "%s: cannot create an archive reader", name);
    enum gsae_status st;
    if (archive_read_open_memory(a, buf, len) != ARCHIVE_OK)
        st = open_failure(a, buf, len, name, err);
    else
        st = visit_all(a, name, v, err);
    archive_read_free(a);
    return st;
}

/* Append one item as "<key>.npy". */
static enum gsae_status write_item(struct archive *a, const struct npz_item *it, const char *path,
                                   struct gsae_error *err)
{
    void *buf = NULL;
    size_t len = 0;
    enum gsae_status st = npy_serialize(&it->t, &buf, &len, err);
    if (st != GSAE_OK) {
        gsae_error_prefix(err, "%s: key '%s'", path, it->key);
        return st;
    }
    struct archive_entry *e = archive_entry_new();
    if (!e) {
        free(buf);
        return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
    }
    char member[NPZ_KEY_MAX + 8];
    snprintf(member, sizeof member, "%s.npy", it->key);
    archive_entry_set_pathname(e, member);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_mtime(e, 315532800, 0); /* 1980-01-01, zip's epoch: reproducible bytes */
    if (archive_write_header(a, e) != ARCHIVE_OK) {
        st = gsae_fail(err, GSAE_EIO, "%s: key '%s': %s", path, it->key, archive_error_string(a));
        goto done;
    }
    for (size_t at = 0; at < len;) {
        la_ssize_t w = archive_write_data(a, (unsigned char *)buf + at, len - at);
        if (w <= 0) {
            st = gsae_fail(err, GSAE_EIO, "%s: key '%s': %s", path, it->key,
                           archive_error_string(a) ? archive_error_string(a) : "write failed");
            goto done;
        }
        at += (size_t)w;
    }
    if (archive_write_finish_entry(a) != ARCHIVE_OK)
        st = gsae_fail(err, GSAE_EIO, "%s: key '%s': %s", path, it->key, archive_error_string(a));
done:
    archive_entry_free(e);
    free(buf);
    return st;
}

enum gsae_status npz_write(const char *path, const struct npz_item *items, int64_t n,
                           enum npz_compression compression, struct gsae_error *err)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return gsae_fail(err, GSAE_EINVAL, "%s: path too long", path);
    for (int64_t i = 0; i < n; i++)
        if (strlen(items[i].key) == 0 || strlen(items[i].key) >= NPZ_KEY_MAX)
            return gsae_fail(err, GSAE_EINVAL, "%s: item %lld has a bad key", path, (long long)i);
    struct archive *a = archive_write_new();
    if (!a) return gsae_fail(err, GSAE_ENOMEM, "%s: cannot create an archive writer", path);
    enum gsae_status st = GSAE_OK;
    int r = archive_write_set_format_zip(a);
    if (r == ARCHIVE_OK)
        r = compression == NPZ_COMPRESSION_STORED ? archive_write_zip_set_compression_store(a)
                                                  : archive_write_zip_set_compression_deflate(a);
    if (r == ARCHIVE_OK) r = archive_write_open_filename(a, tmp);
    if (r != ARCHIVE_OK) {
        st = gsae_fail(err, GSAE_EIO, "%s: %s", tmp,
                       archive_error_string(a) ? archive_error_string(a) : "cannot create");
        archive_write_free(a);
        return st;
    }
    for (int64_t i = 0; i < n && st == GSAE_OK; i++)
        st = write_item(a, &items[i], path, err);
    if (archive_write_close(a) != ARCHIVE_OK && st == GSAE_OK)
        st = gsae_fail(err, GSAE_EIO, "%s: %s", tmp, archive_error_string(a));
    archive_write_free(a);
    if (st == GSAE_OK && rename(tmp, path) != 0)
        st = gsae_fail(err, GSAE_EIO, "%s: cannot rename from %s: %s", path, tmp, strerror(errno));
    if (st != GSAE_OK) remove(tmp);
    return st;
}
