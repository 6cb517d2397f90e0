/* store.c: NetCDF-4 activation store parts: write, commit atomically, read back (see store.h). */
#include "store.h"
#include "nc_util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/hash.h"
#include "../src/tensor.h"

#define CHUNK_TOKENS      ((size_t)16384)
#define CHUNK_NNZ         ((size_t)262144)
#define CHUNK_RESID_ROWS  ((size_t)64)
#define DEFLATE_LEVEL     4
#define STORE_MAX_CONTEXT ((int64_t)1 << 30) /* tokens per window */

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "checksums hash host bytes as LE");

/* The per-variable hashes, in the order they are combined (store.h): version 1 combines the
 * first N_HASH_V1 (H_ROW: sae_row_ptr), version 2 all of them (H_ROW: sae_row_size). */
enum { H_TOKEN, H_DOC, H_POS, H_ROW, H_INDEX, H_VALUE, H_RESID, H_TOKNUM, N_HASH };
#define N_HASH_V1 7

struct store_part_writer {
    char path[4096], tmp[4200];
    int ncid;
    int v_toknum, v_token, v_doc, v_pos, v_size, v_index, v_value, v_resid;
    struct store_meta meta;
    struct store_part_info info;
    uint64_t hash[N_HASH];
    int32_t *pos32;  /* (context_size) */
    int32_t *size32; /* (context_size) entries per token */
    int64_t *toknum; /* (context_size) global token numbers */
    uint16_t *bf16;  /* (context_size * d_model) when resid is bf16 */
};

static uint64_t combine(const uint64_t *hash, int64_t version)
{
    size_t n = version == 1 ? N_HASH_V1 : N_HASH;
    return gsae_hash_update(GSAE_HASH_INIT, hash, n * sizeof *hash);
}

void store_part_name(int64_t index, char *buf, size_t size)
{
    snprintf(buf, size, "part-%05lld.nc", (long long)index);
}

static enum gsae_status nc_fail(struct gsae_error *err, int rc, const char *path, const char *what)
{
    return gsae_fail(err, rc == NC_ENOMEM ? GSAE_ENOMEM : GSAE_EIO, "%s: %s: %s", path, what,
                     nc_strerror(rc));
}

#define NCW(call, what)                                                                            \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != NC_NOERR) {                                                                     \
            st = nc_fail(err, rc_, w->tmp, what);                                                  \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

static enum gsae_status sync_path(const char *path, struct gsae_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return gsae_fail(err, GSAE_EIO, "%s: cannot open to sync: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) /* some file systems cannot fsync a directory */
        return gsae_fail(err, GSAE_EIO, "%s: fsync: %s", path, strerror(e));
    return GSAE_OK;
}

enum gsae_status store_rename_durable(const char *tmp, const char *path, struct gsae_error *err)
{
    enum gsae_status st = sync_path(tmp, err);
    if (st != GSAE_OK) return st;
    if (rename(tmp, path) != 0)
        return gsae_fail(err, GSAE_EIO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    return sync_path(dir, err);
}

enum gsae_status store_write_atomic(const char *path, const void *data, size_t len,
                                    struct gsae_error *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    size_t put = fwrite(data, 1, len, f);
    int rc = fflush(f);
    rc |= fsync(fileno(f));
    rc |= fclose(f);
    if (put != len || rc != 0) {
        unlink(tmp);
        return gsae_fail(err, GSAE_EIO, "%s: write failed: %s", tmp, strerror(errno));
    }
    return store_rename_durable(tmp, path, err);
}

static int put_text(int ncid, const char *name, const char *value)
{
    const char *v = value ? value : "";
    return nc_put_att_text(ncid, NC_GLOBAL, name, strlen(v), v);
}

static int put_i64(int ncid, const char *name, int64_t value)
{
    long long v = value;
    return nc_put_att_longlong(ncid, NC_GLOBAL, name, NC_INT64, 1, &v);
}

/* Define a chunked, deflated variable with its CF long_name and units. */
static int def_var(int ncid, const char *name, nc_type type, int n_dims, const int *dims,
                   const size_t *chunks, const char *long_name, const char *units, int *varid)
{
    int rc = nc_def_var(ncid, name, type, n_dims, dims, varid);
    if (rc == NC_NOERR) rc = nc_def_var_chunking(ncid, *varid, NC_CHUNKED, chunks);
    if (rc == NC_NOERR) rc = nc_def_var_deflate(ncid, *varid, 1, 1, DEFLATE_LEVEL);
    if (rc == NC_NOERR)
        rc = nc_put_att_text(ncid, *varid, "long_name", strlen(long_name), long_name);
    if (rc == NC_NOERR) rc = nc_put_att_text(ncid, *varid, "units", strlen(units), units);
    return rc;
}

static enum gsae_status check_meta(const struct store_meta *m, struct gsae_error *err)
{
    if (m->context_size < 2 || m->context_size > STORE_MAX_CONTEXT || m->d_sae < 1 ||
        m->d_sae > ((int64_t)1 << 32) || m->windows_per_part < 1 || m->layer < 0 ||
        m->d_model < 0 || m->d_model > (int64_t)1 << 20 ||
        (m->resid != STORE_RESID_NONE && m->d_model < 1))
        return gsae_fail(err, GSAE_EINVAL,
                         "store: bad settings (context_size %lld, d_sae %lld, d_model %lld, "
                         "windows_per_part %lld, layer %lld)",
                         (long long)m->context_size, (long long)m->d_sae, (long long)m->d_model,
                         (long long)m->windows_per_part, (long long)m->layer);
    return GSAE_OK;
}

static enum gsae_status define_part(struct store_part_writer *w, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    const struct store_meta *m = &w->meta;
    int ncid = w->ncid, d_token, d_nnz, d_model = -1, old_fill;
    char hook[64], resid_name[128];
    snprintf(hook, sizeof hook, "resid_post.%lld", (long long)m->layer);
    snprintf(resid_name, sizeof resid_name, "residual stream at %s (hook_resid_post)", hook);
    NCW(nc_set_fill(ncid, NC_NOFILL, &old_fill), "set_fill");
    NCW(nc_def_dim(ncid, "token", NC_UNLIMITED, &d_token), "dimension token");
    NCW(nc_def_dim(ncid, "nnz", NC_UNLIMITED, &d_nnz), "dimension nnz");
    if (m->resid != STORE_RESID_NONE)
        NCW(nc_def_dim(ncid, "d_model", (size_t)m->d_model, &d_model), "dimension d_model");
    const size_t ct[1] = {CHUNK_TOKENS}, cn[1] = {CHUNK_NNZ};
    NCW(def_var(ncid, "token", NC_INT64, 1, &d_token, ct,
                "global token number: window * context_size + position in the window", "1",
                &w->v_toknum),
        "variable token");
    NCW(def_var(ncid, "token_id", NC_INT, 1, &d_token, ct, "tokenizer id", "1", &w->v_token),
        "variable token_id");
    NCW(def_var(ncid, "doc", NC_INT64, 1, &d_token, ct, "document number in the corpus", "1",
                &w->v_doc),
        "variable doc");
    NCW(def_var(ncid, "pos", NC_INT, 1, &d_token, ct, "position in document; -1: inserted <bos>",
                "1", &w->v_pos),
        "variable pos");
    NCW(def_var(ncid, "sae_row_size", NC_INT, 1, &d_token, ct,
                "number of non-zero SAE activations of the token (contiguous ragged array count)",
                "1", &w->v_size),
        "variable sae_row_size");
    NCW(nc_put_att_text(ncid, w->v_size, "sample_dimension", 3, "nnz"), "sample_dimension");
    nc_type t_index = m->d_sae <= 65536 ? NC_USHORT : NC_UINT;
    NCW(def_var(ncid, "sae_index", t_index, 1, &d_nnz, cn, "SAE feature index", "1", &w->v_index),
        "variable sae_index");
    NCW(def_var(ncid, "sae_value", NC_FLOAT, 1, &d_nnz, cn,
                "SAE feature activation (JumpReLU output)", "1", &w->v_value),
        "variable sae_value");
    if (m->resid != STORE_RESID_NONE) {
        const int dims[2] = {d_token, d_model};
        const size_t cr[2] = {CHUNK_RESID_ROWS, (size_t)m->d_model};
        bool bf16 = m->resid == STORE_RESID_BF16;
        NCW(def_var(ncid, "resid_post", bf16 ? NC_USHORT : NC_FLOAT, 2, dims, cr, resid_name, "1",
                    &w->v_resid),
            "variable resid_post");
        NCW(nc_put_att_text(ncid, w->v_resid, "encoding", bf16 ? 8 : 7,
                            bf16 ? "bfloat16" : "float32"),
            "resid_post encoding");
        NCW(nc_put_att_text(ncid, w->v_resid, "hook", strlen(hook), hook), "resid_post hook");
    }
    int version = STORE_SCHEMA_VERSION;
    NCW(nc_put_att_int(ncid, NC_GLOBAL, "schema_version", NC_INT, 1, &version), "schema_version");
    NCW(put_text(ncid, "title", "gsae activation store part"), "title");
    NCW(put_text(ncid, "gsae_version", gsae_version()), "gsae_version");
    NCW(put_text(ncid, "model", m->model), "model");
    NCW(put_text(ncid, "model_config_hash", m->model_config_hash), "model_config_hash");
    NCW(put_text(ncid, "sae_source", m->sae_source), "sae_source");
    NCW(put_text(ncid, "sae_hash", m->sae_hash), "sae_hash");
    NCW(put_text(ncid, "hook", hook), "hook");
    NCW(put_text(ncid, "tokenizer_hash", m->tokenizer_hash), "tokenizer_hash");
    NCW(put_text(ncid, "corpus", m->corpus), "corpus");
    NCW(put_text(ncid, "job", m->job), "job");
    NCW(put_text(ncid, "window_rule",
                 "SAELens prepend_bos: documents tokenized without <bos> and concatenated; each "
                 "window starts with <bos>, <bos> separates documents inside a window; the last "
                 "incomplete window is dropped"),
        "window_rule");
    int layer = 0, ctx = 0, bos = 0;
    struct gsae_error nerr;
    if (gsae_narrow_int(m->layer, &layer, &nerr) != GSAE_OK ||
        gsae_narrow_int(m->context_size, &ctx, &nerr) != GSAE_OK ||
        gsae_narrow_int(m->bos_token_id, &bos, &nerr) != GSAE_OK)
        return gsae_fail(err, GSAE_EINVAL, "%s: %s", w->tmp, nerr.msg);
    NCW(nc_put_att_int(ncid, NC_GLOBAL, "layer", NC_INT, 1, &layer), "layer");
    NCW(nc_put_att_int(ncid, NC_GLOBAL, "context_size", NC_INT, 1, &ctx), "context_size");
    NCW(nc_put_att_int(ncid, NC_GLOBAL, "bos_token_id", NC_INT, 1, &bos), "bos_token_id");
    NCW(put_i64(ncid, "d_sae", m->d_sae), "d_sae");
    NCW(put_i64(ncid, "d_model", m->d_model), "d_model");
    NCW(put_i64(ncid, "windows_per_part", m->windows_per_part), "windows_per_part");
    NCW(put_i64(ncid, "part_index", w->info.index), "part_index");
    NCW(put_i64(ncid, "first_window", w->info.first_window), "first_window");
    NCW(put_i64(ncid, "token_offset", w->info.first_window * m->context_size), "token_offset");
    NCW(nc_enddef(ncid), "enddef");
fail:
    return st;
}

enum gsae_status store_part_open(const char *dir, int64_t index, const struct store_meta *meta,
                                 struct store_part_writer **out, struct gsae_error *err)
{
    *out = NULL;
    enum gsae_status st = check_meta(meta, err);
    if (st != GSAE_OK) return st;
    if (index < 0 || index > INT64_MAX / meta->windows_per_part / meta->context_size - 1)
        return gsae_fail(err, GSAE_EINVAL, "store: part index %lld out of range", (long long)index);
    struct store_part_writer *w = calloc(1, sizeof *w);
    if (!w) return gsae_fail(err, GSAE_ENOMEM, "store: out of memory");
    w->ncid = -1;
    w->meta = *meta;
    w->info.index = index;
    w->info.first_window = index * meta->windows_per_part;
    store_part_name(index, w->info.file, sizeof w->info.file);
    if (strlen(dir) > 4000) {
        free(w);
        return gsae_fail(err, GSAE_EINVAL, "store: directory name too long: %s", dir);
    }
    snprintf(w->path, sizeof w->path, "%s/%s", dir, w->info.file);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", w->path);
    for (int k = 0; k < N_HASH; k++)
        w->hash[k] = GSAE_HASH_INIT;
    size_t n = (size_t)meta->context_size;
    w->pos32 = malloc(n * sizeof *w->pos32);
    w->size32 = malloc(n * sizeof *w->size32);
    w->toknum = malloc(n * sizeof *w->toknum);
    if (meta->resid == STORE_RESID_BF16)
        w->bf16 = malloc(n * (size_t)meta->d_model * sizeof *w->bf16);
    if (!w->pos32 || !w->size32 || !w->toknum || (meta->resid == STORE_RESID_BF16 && !w->bf16)) {
        store_part_abort(w);
        return gsae_fail(err, GSAE_ENOMEM, "store: out of memory for part buffers");
    }
    int rc = nc_create(w->tmp, NC_NETCDF4 | NC_CLOBBER, &w->ncid);
    if (rc != NC_NOERR) {
        w->ncid = -1;
        st = nc_fail(err, rc, w->tmp, "cannot create");
        store_part_abort(w);
        return st;
    }
    if ((st = define_part(w, err)) != GSAE_OK) {
        store_part_abort(w);
        return st;
    }
    *out = w;
    return GSAE_OK;
}

static enum gsae_status check_window(const struct store_part_writer *w, int64_t n,
                                     const int64_t *row_ptr, const uint32_t *index,
                                     const int64_t *pos, struct gsae_error *err)
{
    if (n != w->meta.context_size)
        return gsae_fail(err, GSAE_EINVAL, "%s: window of %lld tokens, expected context_size %lld",
                         w->tmp, (long long)n, (long long)w->meta.context_size);
    if (row_ptr[0] != 0)
        return gsae_fail(err, GSAE_EINVAL, "%s: row_ptr[0] = %lld, expected 0", w->tmp,
                         (long long)row_ptr[0]);
    for (int64_t t = 0; t < n; t++) {
        if (row_ptr[t + 1] < row_ptr[t] || row_ptr[t + 1] - row_ptr[t] > INT32_MAX)
            return gsae_fail(err, GSAE_EINVAL,
                             "%s: row_ptr decreases at token %lld, or the token has more than "
                             "2^31-1 entries",
                             w->tmp, (long long)t);
        if (pos[t] < -1 || pos[t] > INT32_MAX)
            return gsae_fail(err, GSAE_ERANGE, "%s: pos %lld at token %lld outside -1..2^31-1",
                             w->tmp, (long long)pos[t], (long long)t);
        for (int64_t k = row_ptr[t]; k < row_ptr[t + 1]; k++)
            if ((int64_t)index[k] >= w->meta.d_sae || (k > row_ptr[t] && index[k] <= index[k - 1]))
                return gsae_fail(err, GSAE_EINVAL,
                                 "%s: token %lld: feature index %u out of order or >= d_sae %lld",
                                 w->tmp, (long long)t, index[k], (long long)w->meta.d_sae);
    }
    return GSAE_OK;
}

enum gsae_status store_part_append(struct store_part_writer *w, int64_t n, const int32_t *ids,
                                   const int64_t *doc, const int64_t *pos, const int64_t *row_ptr,
                                   const uint32_t *index, const float *value, const float *resid,
                                   struct gsae_error *err)
{
    enum gsae_status st = check_window(w, n, row_ptr, index, pos, err);
    if (st != GSAE_OK) return st;
    if ((w->meta.resid != STORE_RESID_NONE) != (resid != NULL))
        return gsae_fail(err, GSAE_EINVAL, "%s: residuals %s but the store %s them", w->tmp,
                         resid ? "given" : "missing", resid ? "does not keep" : "keeps");
    size_t un = (size_t)n, nnz = (size_t)row_ptr[n];
    size_t t0[1] = {(size_t)w->info.n_tokens}, tn[1] = {un};
    /* the part's first token is token_offset = first_window * context_size; store_part_open
     * bounded the part index so that its last token number fits */
    int64_t first = (w->info.first_window + w->info.n_windows) * n;
    for (size_t t = 0; t < un; t++) {
        w->pos32[t] = (int32_t)pos[t]; /* ranges checked above */
        w->size32[t] = (int32_t)(row_ptr[t + 1] - row_ptr[t]);
        w->toknum[t] = first + (int64_t)t;
    }
    size_t z0[1] = {(size_t)w->info.nnz}, zn[1] = {nnz};
    NCW(nc_put_vara(w->ncid, w->v_toknum, t0, tn, w->toknum), "token");
    NCW(nc_put_vara(w->ncid, w->v_token, t0, tn, ids), "token_id");
    NCW(nc_put_vara(w->ncid, w->v_doc, t0, tn, doc), "doc");
    NCW(nc_put_vara(w->ncid, w->v_pos, t0, tn, w->pos32), "pos");
    NCW(nc_put_vara(w->ncid, w->v_size, t0, tn, w->size32), "sae_row_size");
    if (nnz > 0) {
        NCW(nc_put_vara_uint(w->ncid, w->v_index, z0, zn, index), "sae_index");
        NCW(nc_put_vara_float(w->ncid, w->v_value, z0, zn, value), "sae_value");
    }
    w->hash[H_TOKEN] = gsae_hash_update(w->hash[H_TOKEN], ids, un * sizeof *ids);
    w->hash[H_DOC] = gsae_hash_update(w->hash[H_DOC], doc, un * sizeof *doc);
    w->hash[H_POS] = gsae_hash_update(w->hash[H_POS], w->pos32, un * sizeof *w->pos32);
    w->hash[H_ROW] = gsae_hash_update(w->hash[H_ROW], w->size32, un * sizeof *w->size32);
    w->hash[H_TOKNUM] = gsae_hash_update(w->hash[H_TOKNUM], w->toknum, un * sizeof *w->toknum);
    w->hash[H_INDEX] = gsae_hash_update(w->hash[H_INDEX], index, nnz * sizeof *index);
    w->hash[H_VALUE] = gsae_hash_update(w->hash[H_VALUE], value, nnz * sizeof *value);
    if (resid) {
        size_t d = (size_t)w->meta.d_model, c0[2] = {t0[0], 0}, cn[2] = {un, d};
        if (w->meta.resid == STORE_RESID_BF16) {
            for (size_t i = 0; i < un * d; i++)
                w->bf16[i] = gsae_f32_to_bf16(resid[i]);
            NCW(nc_put_vara(w->ncid, w->v_resid, c0, cn, w->bf16), "resid_post");
            w->hash[H_RESID] =
                gsae_hash_update(w->hash[H_RESID], w->bf16, un * d * sizeof *w->bf16);
        } else {
            NCW(nc_put_vara_float(w->ncid, w->v_resid, c0, cn, resid), "resid_post");
            w->hash[H_RESID] = gsae_hash_update(w->hash[H_RESID], resid, un * d * sizeof *resid);
        }
    }
    w->info.n_tokens += n;
    w->info.nnz += row_ptr[n];
    w->info.n_windows++;
fail:
    return st;
}

enum gsae_status store_part_commit(struct store_part_writer *w, struct store_part_info *info,
                                   struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    w->info.checksum = combine(w->hash, STORE_SCHEMA_VERSION);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)w->info.checksum);
    NCW(put_i64(w->ncid, "n_windows", w->info.n_windows), "n_windows");
    NCW(put_i64(w->ncid, "n_tokens", w->info.n_tokens), "n_tokens");
    NCW(put_i64(w->ncid, "nnz", w->info.nnz), "nnz");
    NCW(put_text(w->ncid, "content_fnv1a64", hex), "content_fnv1a64");
    int rc = nc_close(w->ncid);
    w->ncid = -1;
    if (rc != NC_NOERR) {
        st = nc_fail(err, rc, w->tmp, "close");
        goto fail;
    }
    if ((st = store_rename_durable(w->tmp, w->path, err)) != GSAE_OK) goto fail;
    *info = w->info;
    w->tmp[0] = '\0'; /* nothing left to remove */
fail:
    store_part_abort(w);
    return st;
}

void store_part_abort(struct store_part_writer *w)
{
    if (!w) return;
    if (w->ncid >= 0) nc_close(w->ncid);
    if (w->tmp[0]) unlink(w->tmp);
    free(w->pos32);
    free(w->size32);
    free(w->toknum);
    free(w->bf16);
    free(w);
}

/* ---- reading ---- */

#define NCR(call, what)                                                                            \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != NC_NOERR) {                                                                     \
            st = gsae_fail(err, GSAE_EFORMAT, "%s: %s: %s", path, what, nc_strerror(rc_));         \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

static enum gsae_status get_i64_att(int ncid, const char *path, const char *name, int64_t *out,
                                    struct gsae_error *err)
{
    long long v = 0;
    size_t len = 0;
    int rc = nc_inq_attlen(ncid, NC_GLOBAL, name, &len);
    if (rc == NC_NOERR && len != 1)
        return gsae_fail(err, GSAE_EFORMAT, "%s: attribute %s has %zu values, expected 1", path,
                         name, len);
    if (rc == NC_NOERR) rc = nc_get_att_longlong(ncid, NC_GLOBAL, name, &v);
    if (rc != NC_NOERR)
        return gsae_fail(err, GSAE_EFORMAT, "%s: attribute %s: %s", path, name, nc_strerror(rc));
    *out = v;
    return GSAE_OK;
}

static enum gsae_status get_var(int ncid, const char *path, const char *name, nc_type want,
                                size_t n, void *out, int *varid, struct gsae_error *err)
{
    nc_type t;
    int rc = nc_inq_varid(ncid, name, varid);
    if (rc == NC_NOERR) rc = nc_inq_vartype(ncid, *varid, &t);
    if (rc != NC_NOERR)
        return gsae_fail(err, GSAE_EFORMAT, "%s: variable %s: %s", path, name, nc_strerror(rc));
    if (want != NC_NAT && t != want)
        return gsae_fail(err, GSAE_EFORMAT, "%s: variable %s has type %d, expected %d", path, name,
                         (int)t, (int)want);
    /* the buffer holds n elements: the variable must have exactly that many */
    int n_dims = 0, dims[NC_MAX_VAR_DIMS];
    size_t count = 1, len = 0;
    rc = nc_inq_var(ncid, *varid, NULL, NULL, &n_dims, dims, NULL);
    for (int i = 0; rc == NC_NOERR && i < n_dims; i++)
        if ((rc = nc_inq_dimlen(ncid, dims[i], &len)) == NC_NOERR) count *= len;
    if (rc != NC_NOERR || n_dims < 1 || count != n)
        return gsae_fail(err, GSAE_EFORMAT, "%s: variable %s has %zu elements, expected %zu", path,
                         name, count, n);
    if (out && n > 0 && (rc = nc_get_var(ncid, *varid, out)) != NC_NOERR)
        return gsae_fail(err, GSAE_EFORMAT, "%s: reading %s: %s", path, name, nc_strerror(rc));
    return GSAE_OK;
}

/* Row pointers of a version 2 part from its counts: each count >= 0, the running sum never past
 * nnz and ending at it (checked before anything is indexed with them). */
static enum gsae_status rows_from_sizes(struct store_part *p, const int32_t *size, const char *path,
                                        struct gsae_error *err)
{
    p->row_ptr[0] = 0;
    for (int64_t t = 0; t < p->n_tokens; t++) {
        if (size[t] < 0 || size[t] > p->nnz - p->row_ptr[t])
            return gsae_fail(err, GSAE_EFORMAT,
                             "%s: sae_row_size[%lld] = %d: negative, or past nnz %lld (%lld "
                             "entries before it)",
                             path, (long long)t, size[t], (long long)p->nnz,
                             (long long)p->row_ptr[t]);
        p->row_ptr[t + 1] = p->row_ptr[t] + size[t];
    }
    if (p->row_ptr[p->n_tokens] != p->nnz)
        return gsae_fail(err, GSAE_EFORMAT, "%s: sae_row_size sums to %lld, expected nnz %lld",
                         path, (long long)p->row_ptr[p->n_tokens], (long long)p->nnz);
    return GSAE_OK;
}

static enum gsae_status check_csr(const struct store_part *p, const char *path,
                                  struct gsae_error *err)
{
    if (p->row_ptr[0] != 0 || p->row_ptr[p->n_tokens] != p->nnz)
        return gsae_fail(err, GSAE_EFORMAT, "%s: sae_row_ptr runs %lld..%lld, expected 0..%lld",
                         path, (long long)p->row_ptr[0], (long long)p->row_ptr[p->n_tokens],
                         (long long)p->nnz);
    for (int64_t t = 0; t < p->n_tokens; t++) {
        if (p->row_ptr[t + 1] < p->row_ptr[t])
            return gsae_fail(err, GSAE_EFORMAT, "%s: sae_row_ptr decreases at token %lld", path,
                             (long long)t);
        if (p->row_ptr[t + 1] > p->nnz)
            return gsae_fail(err, GSAE_EFORMAT, "%s: sae_row_ptr[%lld] = %lld is past nnz %lld",
                             path, (long long)(t + 1), (long long)p->row_ptr[t + 1],
                             (long long)p->nnz);
        for (int64_t k = p->row_ptr[t]; k < p->row_ptr[t + 1]; k++)
            if ((int64_t)p->index[k] >= p->d_sae ||
                (k > p->row_ptr[t] && p->index[k] <= p->index[k - 1]))
                return gsae_fail(err, GSAE_EFORMAT,
                                 "%s: sae_index at token %lld: %u out of order or >= d_sae %lld",
                                 path, (long long)t, p->index[k], (long long)p->d_sae);
    }
    return GSAE_OK;
}

static enum gsae_status read_version(int ncid, const char *path, int64_t *version,
                                     struct gsae_error *err)
{
    enum gsae_status st = get_i64_att(ncid, path, "schema_version", version, err);
    if (st == GSAE_OK && (*version < STORE_SCHEMA_VERSION_MIN || *version > STORE_SCHEMA_VERSION))
        st = gsae_fail(err, GSAE_EFORMAT, "%s: schema_version %lld, this gsae reads %d to %d", path,
                       (long long)*version, STORE_SCHEMA_VERSION_MIN, STORE_SCHEMA_VERSION);
    return st;
}

enum gsae_status store_part_version(const char *path, int64_t *version, struct gsae_error *err)
{
    int ncid = -1;
    int rc = nc_open(path, NC_NOWRITE, &ncid);
    if (rc != NC_NOERR)
        return gsae_fail(err, GSAE_EIO, "%s: cannot open: %s", path, nc_strerror(rc));
    enum gsae_status st = get_i64_att(ncid, path, "schema_version", version, err);
    nc_close(ncid);
    return st;
}

static enum gsae_status read_header(int ncid, const char *path, struct store_part *p,
                                    struct gsae_error *err)
{
    enum gsae_status st;
    int64_t n_rows = 0, n_nnz = 0;
    if ((st = read_version(ncid, path, &p->schema_version, err)) != GSAE_OK) return st;
    bool v1 = p->schema_version == 1;
    if ((st = get_i64_att(ncid, path, "part_index", &p->part_index, err)) != GSAE_OK ||
        (st = get_i64_att(ncid, path, "first_window", &p->first_window, err)) != GSAE_OK ||
        (st = get_i64_att(ncid, path, "n_windows", &p->n_windows, err)) != GSAE_OK ||
        (st = get_i64_att(ncid, path, "context_size", &p->context_size, err)) != GSAE_OK ||
        (st = get_i64_att(ncid, path, "d_sae", &p->d_sae, err)) != GSAE_OK ||
        (st = ncu_dim_len(ncid, path, "token", &p->n_tokens, err)) != GSAE_OK ||
        (v1 && (st = ncu_dim_len(ncid, path, "row", &n_rows, err)) != GSAE_OK) ||
        (st = ncu_dim_len(ncid, path, "nnz", &n_nnz, err)) != GSAE_OK)
        return st;
    p->nnz = n_nnz;
    if (!v1) n_rows = p->n_tokens + 1;
    /* The attributes are untrusted: bound them before n_windows * context_size is formed. */
    if (p->context_size < 1 || p->context_size > STORE_MAX_CONTEXT)
        return gsae_fail(err, GSAE_EFORMAT, "%s: attribute context_size = %lld, expected 1..%lld",
                         path, (long long)p->context_size, (long long)STORE_MAX_CONTEXT);
    if (p->n_windows < 0 || p->n_windows > INT64_MAX / p->context_size)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: attribute n_windows = %lld, expected 0..%lld for context_size %lld",
                         path, (long long)p->n_windows, (long long)(INT64_MAX / p->context_size),
                         (long long)p->context_size);
    if (n_rows - 1 != p->n_tokens || p->d_sae < 1 || p->n_tokens != p->n_windows * p->context_size)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: inconsistent sizes: %lld tokens, %lld rows, %lld windows of %lld",
                         path, (long long)p->n_tokens, (long long)n_rows, (long long)p->n_windows,
                         (long long)p->context_size);
    if (!v1) { /* the token numbers token_offset .. token_offset + n_tokens - 1 must exist */
        int64_t offset = 0;
        if ((st = get_i64_att(ncid, path, "token_offset", &offset, err)) != GSAE_OK) return st;
        if (p->first_window < 0 || p->first_window > (INT64_MAX - p->n_tokens) / p->context_size ||
            offset != p->first_window * p->context_size)
            return gsae_fail(err, GSAE_EFORMAT,
                             "%s: attribute token_offset = %lld, expected first_window %lld * "
                             "context_size %lld",
                             path, (long long)offset, (long long)p->first_window,
                             (long long)p->context_size);
    }
    char hex[17] = {0};
    size_t len = 0;
    int rc = nc_inq_attlen(ncid, NC_GLOBAL, "content_fnv1a64", &len);
    if (rc == NC_NOERR && len == 16) rc = nc_get_att_text(ncid, NC_GLOBAL, "content_fnv1a64", hex);
    if (rc != NC_NOERR || len != 16)
        return gsae_fail(err, GSAE_EFORMAT, "%s: attribute content_fnv1a64 missing or malformed",
                         path);
    p->checksum_attr = strtoull(hex, NULL, 16);
    return GSAE_OK;
}

/* The CSR rows of a part: version 1 stores them (sae_row_ptr), version 2 stores counts
 * (sae_row_size) and its token coordinate, both hashed here. */
static enum gsae_status read_rows(int ncid, const char *path, struct store_part *p, uint64_t *hash,
                                  struct gsae_error *err)
{
    size_t n = (size_t)p->n_tokens;
    int varid;
    if (p->schema_version == 1) {
        enum gsae_status st =
            get_var(ncid, path, "sae_row_ptr", NC_INT64, n + 1, p->row_ptr, &varid, err);
        if (st == GSAE_OK)
            hash[H_ROW] = gsae_hash_update(hash[H_ROW], p->row_ptr, (n + 1) * sizeof *p->row_ptr);
        return st;
    }
    int32_t *size = malloc((n + 1) * sizeof *size);
    int64_t *tok = malloc((n + 1) * sizeof *tok);
    enum gsae_status st = GSAE_OK;
    if (!size || !tok)
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory for %zu tokens", path, n);
    if (st == GSAE_OK) st = get_var(ncid, path, "token", NC_INT64, n, tok, &varid, err);
    if (st == GSAE_OK) st = get_var(ncid, path, "sae_row_size", NC_INT, n, size, &varid, err);
    for (size_t t = 0; st == GSAE_OK && t < n; t++)
        if (tok[t] != p->first_window * p->context_size + (int64_t)t)
            st = gsae_fail(err, GSAE_EFORMAT, "%s: token[%zu] = %lld, expected %lld", path, t,
                           (long long)tok[t],
                           (long long)(p->first_window * p->context_size + (int64_t)t));
    if (st == GSAE_OK) st = rows_from_sizes(p, size, path, err);
    if (st == GSAE_OK) {
        hash[H_ROW] = gsae_hash_update(hash[H_ROW], size, n * sizeof *size);
        hash[H_TOKNUM] = gsae_hash_update(hash[H_TOKNUM], tok, n * sizeof *tok);
    }
    free(size);
    free(tok);
    return st;
}

enum gsae_status store_part_read(const char *path, bool with_resid, struct store_part *out,
                                 struct gsae_error *err)
{
    memset(out, 0, sizeof *out);
    struct store_part *p = out;
    enum gsae_status st = GSAE_OK;
    int ncid = -1, varid;
    int rc = nc_open(path, NC_NOWRITE, &ncid);
    if (rc != NC_NOERR)
        return gsae_fail(err, GSAE_EIO, "%s: cannot open: %s", path, nc_strerror(rc));
    if ((st = read_header(ncid, path, p, err)) != GSAE_OK) goto fail;
    size_t n = (size_t)p->n_tokens, nnz = (size_t)p->nnz;
    p->token_id = malloc((n + 1) * sizeof *p->token_id);
    p->doc = malloc((n + 1) * sizeof *p->doc);
    p->pos = malloc((n + 1) * sizeof *p->pos);
    p->row_ptr = malloc((n + 1) * sizeof *p->row_ptr);
    p->index = malloc((nnz + 1) * sizeof *p->index);
    p->value = malloc((nnz + 1) * sizeof *p->value);
    int32_t *pos32 = malloc((n + 1) * sizeof *pos32);
    if (!p->token_id || !p->doc || !p->pos || !p->row_ptr || !p->index || !p->value || !pos32) {
        free(pos32);
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory for %zu tokens", path, n);
        goto fail;
    }
    uint64_t hash[N_HASH];
    for (int k = 0; k < N_HASH; k++)
        hash[k] = GSAE_HASH_INIT;
    nc_type t_index = NC_NAT;
    if ((st = get_var(ncid, path, "token_id", NC_INT, n, p->token_id, &varid, err)) != GSAE_OK ||
        (st = get_var(ncid, path, "doc", NC_INT64, n, p->doc, &varid, err)) != GSAE_OK ||
        (st = get_var(ncid, path, "pos", NC_INT, n, pos32, &varid, err)) != GSAE_OK ||
        (st = read_rows(ncid, path, p, hash, err)) != GSAE_OK ||
        (st = get_var(ncid, path, "sae_value", NC_FLOAT, nnz, p->value, &varid, err)) != GSAE_OK ||
        (st = get_var(ncid, path, "sae_index", NC_NAT, nnz, NULL, &varid, err)) != GSAE_OK) {
        free(pos32);
        goto fail;
    }
    for (size_t t = 0; t < n; t++)
        p->pos[t] = pos32[t];
    hash[H_POS] = gsae_hash_update(hash[H_POS], pos32, n * sizeof *pos32);
    free(pos32);
    NCR(nc_inq_vartype(ncid, varid, &t_index), "sae_index type");
    if ((t_index != NC_USHORT && t_index != NC_UINT) ||
        (t_index == NC_USHORT) != (p->d_sae <= 65536)) {
        st = gsae_fail(err, GSAE_EFORMAT, "%s: sae_index has type %d for d_sae %lld", path,
                       (int)t_index, (long long)p->d_sae);
        goto fail;
    }
    if (nnz > 0) NCR(nc_get_var_uint(ncid, varid, p->index), "reading sae_index");
    if ((st = check_csr(p, path, err)) != GSAE_OK) goto fail;
    hash[H_TOKEN] = gsae_hash_update(hash[H_TOKEN], p->token_id, n * sizeof *p->token_id);
    hash[H_DOC] = gsae_hash_update(hash[H_DOC], p->doc, n * sizeof *p->doc);
    hash[H_INDEX] = gsae_hash_update(hash[H_INDEX], p->index, nnz * sizeof *p->index);
    hash[H_VALUE] = gsae_hash_update(hash[H_VALUE], p->value, nnz * sizeof *p->value);
    if ((st = get_i64_att(ncid, path, "d_model", &p->d_model, err)) != GSAE_OK) goto fail;
    bool has_resid = nc_inq_varid(ncid, "resid_post", &varid) == NC_NOERR;
    if (has_resid) {
        nc_type t;
        NCR(nc_inq_vartype(ncid, varid, &t), "resid_post type");
        p->resid = t == NC_USHORT ? STORE_RESID_BF16 : STORE_RESID_F32;
        int64_t d = 0;
        if ((st = ncu_dim_len(ncid, path, "d_model", &d, err)) != GSAE_OK) goto fail;
        int n_dims = 0;
        NCR(nc_inq_varndims(ncid, varid, &n_dims), "resid_post dimensions");
        if (n_dims == 2 && d == p->d_model && d > 0)
            st = get_var(ncid, path, "resid_post", t, n * (size_t)d, NULL, &varid, err);
        if (st != GSAE_OK) goto fail;
        if (n_dims != 2 || d != p->d_model || (t != NC_USHORT && t != NC_FLOAT)) {
            st = gsae_fail(err, GSAE_EFORMAT, "%s: resid_post type %d, d_model %lld vs %lld", path,
                           (int)t, (long long)d, (long long)p->d_model);
            goto fail;
        }
    }
    if (has_resid && with_resid) {
        size_t cnt = n * (size_t)p->d_model, elt = p->resid == STORE_RESID_BF16 ? 2 : 4;
        p->resid_post = malloc((cnt + 1) * sizeof *p->resid_post);
        void *raw = p->resid == STORE_RESID_BF16 ? malloc((cnt + 1) * elt) : p->resid_post;
        if (!p->resid_post || !raw) {
            if (raw != p->resid_post) free(raw);
            st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory for resid_post", path);
            goto fail;
        }
        if (cnt > 0 && (rc = nc_get_var(ncid, varid, raw)) != NC_NOERR) {
            if (raw != p->resid_post) free(raw);
            st = gsae_fail(err, GSAE_EFORMAT, "%s: reading resid_post: %s", path, nc_strerror(rc));
            goto fail;
        }
        hash[H_RESID] = gsae_hash_update(hash[H_RESID], raw, cnt * elt);
        if (raw != p->resid_post) {
            for (size_t i = 0; i < cnt; i++)
                p->resid_post[i] = gsae_bf16_to_f32(((const uint16_t *)raw)[i]);
            free(raw);
        }
    }
    p->checksum = has_resid && !with_resid ? 0 : combine(hash, p->schema_version);
fail:
    if (ncid >= 0) nc_close(ncid);
    if (st != GSAE_OK) store_part_free(p);
    return st;
}

void store_part_free(struct store_part *p)
{
    free(p->token_id);
    free(p->doc);
    free(p->pos);
    free(p->row_ptr);
    free(p->index);
    free(p->value);
    free(p->resid_post);
    memset(p, 0, sizeof *p);
}

static int append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        while (c < *len + n + 1)
            c *= 2;
        char *b = realloc(*buf, c);
        if (!b) return -1;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
    return 0;
}

enum gsae_status store_part_describe(const char *path, char **text, struct gsae_error *err)
{
    *text = NULL;
    int ncid, n_atts = 0;
    int rc = nc_open(path, NC_NOWRITE, &ncid);
    if (rc != NC_NOERR)
        return gsae_fail(err, GSAE_EIO, "%s: cannot open: %s", path, nc_strerror(rc));
    enum gsae_status st = GSAE_OK;
    char *buf = NULL, *val = NULL;
    size_t len = 0, cap = 0;
    NCR(nc_inq_natts(ncid, &n_atts), "attributes");
    for (int i = 0; i < n_atts; i++) {
        char name[NC_MAX_NAME + 1];
        nc_type t;
        size_t n;
        NCR(nc_inq_attname(ncid, NC_GLOBAL, i, name), "attribute name");
        NCR(nc_inq_att(ncid, NC_GLOBAL, name, &t, &n), name);
        free(val);
        val = calloc(n + 64, 1);
        if (!val) {
            st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
        if (t == NC_CHAR) {
            NCR(nc_get_att_text(ncid, NC_GLOBAL, name, val), name);
        } else if (n == 1) {
            long long v = 0;
            NCR(nc_get_att_longlong(ncid, NC_GLOBAL, name, &v), name);
            snprintf(val, n + 64, "%lld", v);
        } else {
            snprintf(val, n + 64, "(%zu values)", n);
        }
        if (append(&buf, &len, &cap, name) || append(&buf, &len, &cap, " = ") ||
            append(&buf, &len, &cap, val) || append(&buf, &len, &cap, "\n")) {
            st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
    }
    *text = buf;
    buf = NULL;
fail:
    free(val);
    free(buf);
    nc_close(ncid);
    return st;
}
