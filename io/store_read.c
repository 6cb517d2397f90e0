/* store_read.c: reading a store part back, checking its CSR layout and checksum (see
 * store.h). */
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/hash.h"
#include "../src/tensor.h"
#include "nc_util.h"
#include "store.h"
#include "store_impl.h"

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

/* resid_post of a part: check its type and shape, and read it (as f32) when with_resid. */
static enum gsae_status read_resid(int ncid, const char *path, struct store_part *p,
                                   bool with_resid, uint64_t *hash, bool *has_resid,
                                   struct gsae_error *err)
{
    size_t n = (size_t)p->n_tokens;
    int varid, rc;
    enum gsae_status st = GSAE_OK;
    *has_resid = nc_inq_varid(ncid, "resid_post", &varid) == NC_NOERR;
    if (*has_resid) {
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
    if (*has_resid && with_resid) {
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
fail:
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
    bool has_resid = false;
    if ((st = read_resid(ncid, path, p, with_resid, hash, &has_resid, err)) != GSAE_OK) goto fail;
    p->checksum = has_resid && !with_resid ? 0 : store_checksum_combine(hash, p->schema_version);
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
