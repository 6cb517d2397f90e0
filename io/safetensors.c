/* safetensors.c: validated read-only mapping and atomic writing of safetensors files
 * (see safetensors.h for the format and the rules checked). */
#include "safetensors.h"
#include "safetensors_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Views point straight into the mapping, so tensor data (little-endian on disk) must be in host
 * order. */
#ifdef __BYTE_ORDER__
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian and mapped as is: a little-endian host is required"
#endif
#endif

struct sft_shown sft_show(const char *name)
{
    struct sft_shown out;
    size_t n = 0;
    for (const char *p = name; *p && n < sizeof out.s - 4; p++)
        out.s[n++] = ((unsigned char)*p < 0x20 || *p == 0x7f) ? '?' : *p;
    if (strlen(name) > n) {
        memcpy(out.s + n, "...", 3);
        n += 3;
    }
    out.s[n] = '\0';
    return out;
}

static void format_shape(char *buf, size_t size, const int64_t *shape, int n_dims)
{
    size_t at = 0;
    buf[0] = '\0';
    at += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n_dims && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (at < size) snprintf(buf + at, size - at, "]");
}

/* ---- reading ---------------------------------------------------------------------------- */

void sft_close(struct sft_file *f)
{
    if (!f) return;
    if (f->map && !f->borrowed) munmap(f->map, f->map_size);
    if (f->fd >= 0 && f->path) close(f->fd);
    for (int64_t i = 0; f->entries && i < f->n_entries; i++)
        free(f->entries[i].name);
    for (int64_t i = 0; i < f->n_meta; i++) {
        if (f->meta_keys) free(f->meta_keys[i]);
        if (f->meta_values) free(f->meta_values[i]);
    }
    free(f->entries);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->by_name);
    free(f->path);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

/* A JSON value that is an integer >= 0, as size_t; false otherwise. */
static bool json_size(const json_t *v, size_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    unsigned long long u = (unsigned long long)json_integer_value(v);
    if (u > SIZE_MAX) return false;
    *out = (size_t)u;
    return true;
}

static enum gsae_status parse_shape(const struct sft_file *f, const char *name, const json_t *j,
                                    struct sft_entry *e, struct gsae_error *err)
{
    const char *path = f->path;
    if (!json_is_array(j))
        return gsae_fail(err, GSAE_EFORMAT, "%s: tensor '%s': shape is %s, expected an array", path,
                         sft_show(name).s, j ? "not an array" : "missing");
    size_t n = json_array_size(j);
    if (n > GSAE_MAX_DIMS)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: tensor '%s': shape has %zu dims, expected at most %d", path,
                         sft_show(name).s, n, GSAE_MAX_DIMS);
    e->n_dims = (int)n;
    for (size_t i = 0; i < n; i++) {
        const json_t *d = json_array_get(j, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return gsae_fail(err, GSAE_EFORMAT,
                             "%s: tensor '%s': shape[%zu] is not a non-negative integer, expected "
                             "a dimension >= 0",
                             path, sft_show(name).s, i);
        e->shape[i] = (int64_t)json_integer_value(d);
    }
    return GSAE_OK;
}

/* Bytes the shape and dtype of e require, with overflow checks. */
static enum gsae_status entry_nbytes(const struct sft_file *f, const struct sft_entry *e,
                                     size_t *out, struct gsae_error *err)
{
    size_t n = gsae_dtype_size(e->dtype);
    for (int i = 0; i < e->n_dims; i++) {
        if ((uint64_t)e->shape[i] > SIZE_MAX || !gsae_mul_size(n, (size_t)e->shape[i], &n))
            return gsae_fail(err, GSAE_ERANGE,
                             "%s: tensor '%s': shape overflows the byte count, expected a size "
                             "that fits in memory",
                             f->path, sft_show(e->name).s);
    }
    *out = n;
    return GSAE_OK;
}

static enum gsae_status parse_offsets(const struct sft_file *f, const char *name, const json_t *j,
                                      struct sft_entry *e, struct gsae_error *err)
{
    const char *path = f->path;
    size_t data_size = f->map_size - f->data_start;
    if (!json_is_array(j) || json_array_size(j) != 2)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: tensor '%s': data_offsets is %s, expected an array [begin, end]",
                         path, sft_show(name).s, j ? "not a 2-element array" : "missing");
    if (!json_size(json_array_get(j, 0), &e->begin) || !json_size(json_array_get(j, 1), &e->end))
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: tensor '%s': data_offsets holds a non-integer or negative value, "
                         "expected two byte offsets >= 0",
                         path, sft_show(name).s);
    if (e->begin > e->end)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: tensor '%s': data_offsets [%zu, %zu] has begin > end, expected "
                         "begin <= end",
                         path, sft_show(name).s, e->begin, e->end);
    if (e->end > data_size)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: tensor '%s': data_offsets end %zu is past the data section, "
                         "expected end <= %zu",
                         path, sft_show(name).s, e->end, data_size);
    size_t want = 0;
    enum gsae_status st = entry_nbytes(f, e, &want, err);
    if (st != GSAE_OK) return st;
    if (e->end - e->begin != want) {
        char shape[160];
        format_shape(shape, sizeof shape, e->shape, e->n_dims);
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: tensor '%s': data_offsets [%zu, %zu] hold %zu bytes, expected %zu "
                         "(shape %s of %s)",
                         path, sft_show(name).s, e->begin, e->end, e->end - e->begin, want, shape,
                         gsae_dtype_name(e->dtype));
    }
    return GSAE_OK;
}

static enum gsae_status parse_entry(const struct sft_file *f, const char *name, const json_t *j,
                                    struct sft_entry *e, struct gsae_error *err)
{
    const char *path = f->path;
    if (!json_is_object(j))
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: tensor '%s': entry is not an object, expected {dtype, shape, "
                         "data_offsets}",
                         path, sft_show(name).s);
    const json_t *dt = json_object_get(j, "dtype");
    if (!json_is_string(dt))
        return gsae_fail(err, GSAE_EFORMAT, "%s: tensor '%s': dtype is %s, expected a string", path,
                         sft_show(name).s, dt ? "not a string" : "missing");
    e->dtype = gsae_dtype_from_name(json_string_value(dt));
    if (e->dtype == GSAE_DTYPE_INVALID)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: tensor '%s': dtype '%s' is unknown, expected one of " SFT_DTYPE_LIST,
                         path, sft_show(name).s, sft_show(json_string_value(dt)).s);
    enum gsae_status st = parse_shape(f, name, json_object_get(j, "shape"), e, err);
    if (st == GSAE_OK) st = parse_offsets(f, name, json_object_get(j, "data_offsets"), e, err);
    return st;
}

static enum gsae_status parse_metadata(struct sft_file *f, const json_t *j, struct gsae_error *err)
{
    if (!json_is_object(j))
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: " SFT_META_KEY " is not an object, expected an object of strings",
                         f->path);
    size_t n = json_object_size(j);
    f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
    f->meta_values = calloc(n ? n : 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values)
        return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory for the metadata", f->path);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v)
    {
        if (!json_is_string(v))
            return gsae_fail(err, GSAE_EFORMAT,
                             "%s: " SFT_META_KEY
                             " key '%s' is not a string, expected string values",
                             f->path, sft_show(key).s);
        int64_t i = f->n_meta;
        f->meta_keys[i] = strdup(key);
        f->meta_values[i] = strdup(json_string_value(v));
        f->n_meta++;
        if (!f->meta_keys[i] || !f->meta_values[i])
            return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory for the metadata", f->path);
    }
    return GSAE_OK;
}

static int cmp_offsets(const void *a, const void *b)
{
    const struct sft_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Entries sorted by offset must cover [0, data size) exactly once, as the reference requires:
 * no gap (hidden bytes), no overlap (aliased tensors), nothing after the last tensor. */
static enum gsae_status check_tiling(const struct sft_file *f, struct gsae_error *err)
{
    size_t at = 0, data_size = f->map_size - f->data_start;
    const char *prev = NULL;
    for (int64_t i = 0; i < f->n_entries; i++) {
        const struct sft_entry *e = &f->entries[i];
        if (e->begin > at)
            return gsae_fail(err, GSAE_EFORMAT,
                             "%s: tensor '%s': data_offsets [%zu, %zu] leave a gap of %zu bytes "
                             "before it, expected begin %zu (tensors must tile the data section)",
                             f->path, sft_show(e->name).s, e->begin, e->end, e->begin - at, at);
        if (e->begin < at)
            return gsae_fail(err, GSAE_EFORMAT,
                             "%s: tensor '%s': data_offsets [%zu, %zu] overlap tensor '%s' ending "
                             "at %zu, expected begin %zu",
                             f->path, sft_show(e->name).s, e->begin, e->end, sft_show(prev).s, at,
                             at);
        at = e->end;
        prev = e->name;
    }
    if (at != data_size) {
        if (prev)
            return gsae_fail(err, GSAE_EFORMAT,
                             "%s: tensor '%s': the last tensor ends at byte %zu of the data "
                             "section, expected %zu (the data section's size)",
                             f->path, sft_show(prev).s, at, data_size);
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: no tensors but a data section of %zu bytes, expected an empty data "
                         "section",
                         f->path, data_size);
    }
    return GSAE_OK;
}

/* qsort_r is not in C11/POSIX: sort indices by name through a file-scope-free comparator that
 * reads names stored next to the indices. */
struct name_ref {
    const char *name;
    int64_t index;
};

static int cmp_name_ref(const void *a, const void *b)
{
    return strcmp(((const struct name_ref *)a)->name, ((const struct name_ref *)b)->name);
}

static enum gsae_status build_name_index(struct sft_file *f, struct gsae_error *err)
{
    size_t n = (size_t)f->n_entries;
    struct name_ref *refs = calloc(n ? n : 1, sizeof *refs);
    f->by_name = calloc(n ? n : 1, sizeof *f->by_name);
    if (!refs || !f->by_name) {
        free(refs);
        return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory for the name index", f->path);
    }
    for (size_t i = 0; i < n; i++)
        refs[i] = (struct name_ref){f->entries[i].name, (int64_t)i};
    qsort(refs, n, sizeof *refs, cmp_name_ref);
    enum gsae_status st = GSAE_OK;
    for (size_t i = 0; i < n; i++) {
        f->by_name[i] = refs[i].index;
        if (i > 0 && strcmp(refs[i].name, refs[i - 1].name) == 0 && st == GSAE_OK)
            st = gsae_fail(err, GSAE_EFORMAT,
                           "%s: tensor '%s': appears twice in the header, expected unique names",
                           f->path, sft_show(refs[i].name).s);
    }
    free(refs);
    return st;
}

/* jansson reports a duplicate key as "duplicate object key near '"KEY"'": recover KEY and
 * say whether it is a tensor name (top level) or a field inside an entry. */
static enum gsae_status duplicate_key_error(const struct sft_file *f, const char *hdr, size_t n,
                                            const json_error_t *jerr, struct gsae_error *err)
{
    char key[160] = "?";
    const char *open = strstr(jerr->text, "near '\"");
    if (open) {
        open += 7;
        size_t len = strlen(open);
        if (len >= 2 && open[len - 1] == '\'' && open[len - 2] == '"') len -= 2;
        if (len >= sizeof key) len = sizeof key - 1;
        memcpy(key, open, len);
        key[len] = '\0';
    }
    json_error_t e2;
    json_t *root = json_loadb(hdr, n, 0, &e2);
    bool top = root && json_object_get(root, key) != NULL;
    json_decref(root);
    if (top)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: tensor '%s': appears twice in the header, expected unique names",
                         f->path, sft_show(key).s);
    return gsae_fail(err, GSAE_EFORMAT,
                     "%s: header key '%s' appears twice in one entry, expected unique keys",
                     f->path, sft_show(key).s);
}

static enum gsae_status parse_header(struct sft_file *f, struct gsae_error *err)
{
    if (f->map_size < 8)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: file is %zu bytes, expected at least 8 (the header length)", f->path,
                         f->map_size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | f->map[i];
    if (n > SFT_MAX_HEADER)
        return gsae_fail(err, GSAE_EFORMAT, "%s: header length %llu, expected at most %u bytes",
                         f->path, (unsigned long long)n, SFT_MAX_HEADER);
    if (n > f->map_size - 8)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: header length %llu runs past the end of the file (%zu bytes), "
                         "expected 8 + header length <= file size",
                         f->path, (unsigned long long)n, f->map_size);
    f->data_start = 8 + (size_t)n;
    const char *hdr = (const char *)f->map + 8;
    json_error_t jerr;
    json_t *root = json_loadb(hdr, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (json_error_code(&jerr) == json_error_duplicate_key)
            return duplicate_key_error(f, hdr, (size_t)n, &jerr, err);
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: header is not valid JSON (byte %d: %s), expected a JSON object",
                         f->path, jerr.position, sft_show(jerr.text).s);
    }
    enum gsae_status st = GSAE_OK;
    if (!json_is_object(root)) {
        st = gsae_fail(err, GSAE_EFORMAT, "%s: header is a JSON %s, expected a JSON object",
                       f->path, json_is_array(root) ? "array" : "value");
        goto done;
    }
    size_t cap = json_object_size(root);
    f->entries = calloc(cap ? cap : 1, sizeof *f->entries);
    if (!f->entries) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory for %zu entries", f->path, cap);
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, SFT_META_KEY) == 0) {
            st = parse_metadata(f, v, err);
        } else {
            struct sft_entry *e = &f->entries[f->n_entries];
            e->name = strdup(key);
            if (!e->name) {
                st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", f->path);
                goto done;
            }
            f->n_entries++;
            st = parse_entry(f, key, v, e, err);
        }
        if (st != GSAE_OK) goto done;
    }
    qsort(f->entries, (size_t)f->n_entries, sizeof *f->entries, cmp_offsets);
    st = check_tiling(f, err);
    if (st == GSAE_OK) st = build_name_index(f, err);
done:
    json_decref(root);
    return st;
}

enum gsae_status sft_open_mem(struct sft_file *f, const void *data, size_t size, const char *name,
                              struct gsae_error *err)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->borrowed = 1;
    f->path = strdup(name);
    if (!f->path) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", name);
    f->map = (unsigned char *)(uintptr_t)data;
    f->map_size = size;
    enum gsae_status st = parse_header(f, err);
    if (st != GSAE_OK) sft_close(f);
    return st;
}

enum gsae_status sft_open(struct sft_file *f, const char *path, struct gsae_error *err)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    enum gsae_status st = GSAE_OK;
    f->path = strdup(path);
    if (!f->path) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        st = gsae_fail(err, errno == ENOENT ? GSAE_ENOTFOUND : GSAE_EIO, "%s: cannot open: %s",
                       path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = gsae_fail(err, GSAE_EIO, "%s: not a regular file, expected a safetensors file", path);
        goto fail;
    }
    f->map_size = (size_t)sb.st_size;
    if (f->map_size >= 8) {
        void *m = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, f->fd, 0);
        if (m == MAP_FAILED) {
            st = gsae_fail(err, GSAE_EIO, "%s: mmap of %zu bytes failed: %s", path, f->map_size,
                           strerror(errno));
            goto fail;
        }
        f->map = m;
    }
    close(f->fd); /* the mapping stays valid without the descriptor */
    f->fd = -1;
    st = parse_header(f, err);
    if (st != GSAE_OK) goto fail;
    return GSAE_OK;
fail:
    sft_close(f);
    return st;
}

const struct sft_entry *sft_find(const struct sft_file *f, const char *name)
{
    int64_t lo = 0, hi = f->n_entries;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const struct sft_entry *e = &f->entries[f->by_name[mid]];
        int c = strcmp(e->name, name);
        if (c == 0) return e;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

struct gsae_tensor sft_view(const struct sft_file *f, const struct sft_entry *e)
{
    struct gsae_tensor t = {0};
    t.data = f->map + f->data_start + e->begin;
    t.dtype = e->dtype;
    t.n_dims = e->n_dims;
    memcpy(t.shape, e->shape, sizeof t.shape);
    return t;
}

const char *sft_meta(const struct sft_file *f, const char *key)
{
    for (int64_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}
