/* npy.c: NumPy .npy parser and writer (see npy.h). */
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

static const struct {
    const char *descr;
    enum gsae_dtype dtype;
} npy_types[] = {
    {"<f4", GSAE_DTYPE_F32}, {"<f8", GSAE_DTYPE_F64}, {"<f2", GSAE_DTYPE_F16},
    {"<i4", GSAE_DTYPE_I32}, {"<i8", GSAE_DTYPE_I64}, {"<i2", GSAE_DTYPE_I16},
    {"<u2", GSAE_DTYPE_U16}, {"<u4", GSAE_DTYPE_U32}, {"<u8", GSAE_DTYPE_U64},
    {"|u1", GSAE_DTYPE_U8},  {"|i1", GSAE_DTYPE_I8},  {"|b1", GSAE_DTYPE_BOOL},
};

/* Find the value text after 'key': in the header dict; NULL when absent. */
static const char *dict_value(const char *hdr, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

static enum gsae_status parse_header(const char *hdr, const char *name, struct npy_array *out,
                                     struct gsae_error *err)
{
    const char *d = dict_value(hdr, "descr");
    if (!d || (*d != '\'' && *d != '"'))
        return gsae_fail(err, GSAE_EFORMAT, "%s: npy header has no 'descr' string", name);
    char quote = *d++;
    const char *end = strchr(d, quote);
    if (!end || end - d > 8)
        return gsae_fail(err, GSAE_EFORMAT, "%s: npy header 'descr' is malformed", name);
    char descr[16];
    memcpy(descr, d, (size_t)(end - d));
    descr[end - d] = '\0';
    if (descr[0] == '=') descr[0] = '<'; /* native order on the little-endian hosts gsae supports */
    out->dtype = GSAE_DTYPE_INVALID;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (strcmp(descr, npy_types[i].descr) == 0) out->dtype = npy_types[i].dtype;
    if (out->dtype == GSAE_DTYPE_INVALID)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: npy dtype '%s' is not supported (little-endian <f4 <f8 <f2 <i4 <i8 "
                         "<i2 <u2 <u4 <u8 |u1 |i1 |b1)",
                         name, descr);

    const char *f = dict_value(hdr, "fortran_order");
    if (!f) return gsae_fail(err, GSAE_EFORMAT, "%s: npy header has no 'fortran_order'", name);
    if (strncmp(f, "False", 5) != 0)
        return gsae_fail(err, GSAE_EFORMAT, "%s: npy array is in Fortran order, expected C order",
                         name);

    const char *s = dict_value(hdr, "shape");
    if (!s || *s != '(')
        return gsae_fail(err, GSAE_EFORMAT, "%s: npy header has no 'shape' tuple", name);
    s++;
    out->n_dims = 0;
    for (;;) {
        while (*s == ' ')
            s++;
        if (*s == ')') break;
        if (*s < '0' || *s > '9')
            return gsae_fail(err, GSAE_EFORMAT, "%s: npy 'shape' is malformed", name);
        if (out->n_dims == GSAE_MAX_DIMS)
            return gsae_fail(err, GSAE_EFORMAT, "%s: npy array has more than %d dimensions", name,
                             GSAE_MAX_DIMS);
        errno = 0;
        char *e;
        long long v = strtoll(s, &e, 10);
        if (errno || v < 0)
            return gsae_fail(err, GSAE_EFORMAT, "%s: npy 'shape' has a bad dimension", name);
        out->shape[out->n_dims++] = (int64_t)v;
        s = e;
        while (*s == ' ')
            s++;
        if (*s == ',')
            s++;
        else if (*s != ')')
            return gsae_fail(err, GSAE_EFORMAT, "%s: npy 'shape' is malformed", name);
    }
    return GSAE_OK;
}

enum gsae_status npy_parse(const void *buf, size_t len, const char *name, struct npy_array *out,
                           struct gsae_error *err)
{
    const unsigned char *b = buf;
    memset(out, 0, sizeof *out);
    if (len < 10 || memcmp(b, npy_magic, sizeof npy_magic) != 0)
        return gsae_fail(err, GSAE_EFORMAT, "%s: not an .npy file (bad magic)", name);
    unsigned major = b[6];
    size_t hlen, pre;
    if (major == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        pre = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return gsae_fail(err, GSAE_EFORMAT, "%s: truncated .npy header", name);
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        pre = 12;
    } else {
        return gsae_fail(err, GSAE_EFORMAT, "%s: .npy format version %u is not supported", name,
                         major);
    }
    if (hlen > len - pre)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: .npy header length %zu runs past the end (%zu bytes)", name, hlen,
                         len);
    char *hdr = malloc(hlen + 1);
    if (!hdr) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", name);
    memcpy(hdr, b + pre, hlen);
    hdr[hlen] = '\0';
    if (strlen(hdr) != hlen || hdr[0] != '{') {
        free(hdr);
        return gsae_fail(err, GSAE_EFORMAT, "%s: .npy header is not a dict literal", name);
    }
    enum gsae_status st = parse_header(hdr, name, out, err);
    free(hdr);
    if (st != GSAE_OK) return st;

    struct gsae_tensor t = {.dtype = out->dtype, .n_dims = out->n_dims};
    memcpy(t.shape, out->shape, sizeof t.shape);
    int64_t numel = gsae_tensor_numel(&t);
    size_t bytes;
    if (numel < 0 || !gsae_mul_size((size_t)numel, gsae_dtype_size(out->dtype), &bytes))
        return gsae_fail(err, GSAE_EFORMAT, "%s: .npy shape overflows", name);
    size_t avail = len - pre - hlen;
    if (bytes > avail)
        return gsae_fail(err, GSAE_EFORMAT, "%s: .npy data is %zu bytes, the shape needs %zu", name,
                         avail, bytes);
    out->data = b + pre + hlen;
    out->data_bytes = bytes;
    return GSAE_OK;
}

enum gsae_status npy_load(const char *path, void **buf, struct npy_array *out,
                          struct gsae_error *err)
{
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return gsae_fail(err, GSAE_EIO, "%s: cannot open: %s", path, strerror(errno));
    enum gsae_status st = GSAE_OK;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        st = gsae_fail(err, GSAE_EIO, "%s: cannot determine the file size", path);
        goto done;
    }
    *buf = malloc(size ? (size_t)size : 1);
    if (!*buf) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory for %ld bytes", path, size);
        goto done;
    }
    if (fread(*buf, 1, (size_t)size, f) != (size_t)size) {
        st = gsae_fail(err, GSAE_EIO, "%s: short read", path);
        goto done;
    }
    st = npy_parse(*buf, (size_t)size, path, out, err);
done:
    fclose(f);
    if (st != GSAE_OK) {
        free(*buf);
        *buf = NULL;
    }
    return st;
}

enum gsae_status npy_serialize(const struct gsae_tensor *t, void **buf, size_t *len,
                               struct gsae_error *err)
{
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dtype == t->dtype) descr = npy_types[i].descr;
    if (!descr)
        return gsae_fail(err, GSAE_EINVAL, "npy: dtype %s has no .npy spelling",
                         gsae_dtype_name(t->dtype));
    char shape[256] = "";
    size_t at = 0;
    for (int i = 0; i < t->n_dims; i++)
        at += (size_t)snprintf(shape + at, sizeof shape - at, "%lld%s", (long long)t->shape[i],
                               t->n_dims == 1 ? "," : (i + 1 < t->n_dims ? ", " : ""));
    char dict[400];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                     descr, shape);
    if (n < 0 || (size_t)n >= sizeof dict)
        return gsae_fail(err, GSAE_EINVAL, "npy: header too long");
    /* pad so that magic + header is a multiple of 64, ending in '\n' */
    size_t hlen = (size_t)n + 1;
    size_t total_hdr = (10 + hlen + 63) / 64 * 64;
    hlen = total_hdr - 10;
    int64_t numel = gsae_tensor_numel(t);
    size_t bytes;
    if (numel < 0 || !gsae_mul_size((size_t)numel, gsae_dtype_size(t->dtype), &bytes))
        return gsae_fail(err, GSAE_ERANGE, "npy: tensor too large");
    unsigned char *b = malloc(total_hdr + bytes);
    if (!b) return gsae_fail(err, GSAE_ENOMEM, "npy: out of memory");
    memcpy(b, npy_magic, 6);
    b[6] = 1;
    b[7] = 0;
    b[8] = (unsigned char)(hlen & 0xff);
    b[9] = (unsigned char)(hlen >> 8);
    memset(b + 10, ' ', hlen);
    memcpy(b + 10, dict, (size_t)n);
    b[total_hdr - 1] = '\n';
    if (bytes) memcpy(b + total_hdr, t->data, bytes);
    *buf = b;
    *len = total_hdr + bytes;
    return GSAE_OK;
}

enum gsae_status npy_save(const char *path, const struct gsae_tensor *t, struct gsae_error *err)
{
    void *buf;
    size_t len;
    enum gsae_status st = npy_serialize(t, &buf, &len, err);
    if (st != GSAE_OK) return st;
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        free(buf);
        return gsae_fail(err, GSAE_EINVAL, "%s: path too long", path);
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(buf);
        return gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    size_t w = fwrite(buf, 1, len, f);
    free(buf);
    if (fclose(f) != 0 || w != len) {
        remove(tmp);
        return gsae_fail(err, GSAE_EIO, "%s: write failed", tmp);
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return gsae_fail(err, GSAE_EIO, "%s: cannot rename into place: %s", path, strerror(errno));
    }
    return GSAE_OK;
}

void npy_map_close(struct npy_map *m)
{
    if (m->base) munmap(m->base, m->len);
    memset(m, 0, sizeof *m);
}

enum gsae_status npy_map_open(const char *path, struct npy_map *m, struct gsae_error *err)
{
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return gsae_fail(err, errno == ENOENT ? GSAE_ENOTFOUND : GSAE_EIO, "%s: cannot open: %s",
                         path, strerror(errno));
    struct stat st;
    enum gsae_status status = GSAE_OK;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        status = gsae_fail(err, GSAE_EIO, "%s: empty or unreadable", path);
    } else {
        m->len = (size_t)st.st_size;
        m->base = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m->base == MAP_FAILED) {
            m->base = NULL;
            status = gsae_fail(err, GSAE_EIO, "%s: mmap: %s", path, strerror(errno));
        }
    }
    close(fd);
    if (status == GSAE_OK) status = npy_parse(m->base, m->len, path, &m->a, err);
    if (status != GSAE_OK) npy_map_close(m);
    return status;
}
