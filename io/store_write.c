/* store_write.c: writing a store part: define, append windows, commit atomically (see
 * store.h). */
#include <errno.h>
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/hash.h"
#include "../src/tensor.h"
#include "store.h"
#include "store_impl.h"

#define CHUNK_TOKENS     ((size_t)16384)
#define CHUNK_NNZ        ((size_t)262144)
#define CHUNK_RESID_ROWS ((size_t)64)
#define DEFLATE_LEVEL    4

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

/* The dimensions and variables of a part (store.h's schema). */
static enum gsae_status define_vars(struct store_part_writer *w, const char *hook,
                                    struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    const struct store_meta *m = &w->meta;
    int ncid = w->ncid, d_token, d_nnz, d_model = -1;
    char resid_name[128];
    snprintf(resid_name, sizeof resid_name, "residual stream at %s (hook_resid_post)", hook);
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
fail:
    return st;
}

/* The global attributes of a part: what it was made from and where it lies in the store. */
static enum gsae_status define_atts(struct store_part_writer *w, const char *hook,
                                    struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    const struct store_meta *m = &w->meta;
    int ncid = w->ncid;
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
fail:
    return st;
}

static enum gsae_status define_part(struct store_part_writer *w, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    char hook[64];
    int old_fill;
    snprintf(hook, sizeof hook, "resid_post.%lld", (long long)w->meta.layer);
    NCW(nc_set_fill(w->ncid, NC_NOFILL, &old_fill), "set_fill");
    if ((st = define_vars(w, hook, err)) != GSAE_OK || (st = define_atts(w, hook, err)) != GSAE_OK)
        goto fail;
    NCW(nc_enddef(w->ncid), "enddef");
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
    w->info.checksum = store_checksum_combine(w->hash, STORE_SCHEMA_VERSION);
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
