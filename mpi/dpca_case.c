/* dpca_case.c: dpca row sources over a reference case folder (see dpca_case.h). */
#include "dpca_case.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../src/pca.h"

enum gsae_status dpca_npy_open(const char *dir, const char *name, struct npy_map *m,
                               struct gsae_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return npy_map_open(path, m, err);
}

enum gsae_status dpca_npy_expect(const struct npy_map *m, const char *name, int n_dims,
                                 enum gsae_dtype t1, enum gsae_dtype t2, struct gsae_error *err)
{
    if (m->a.n_dims != n_dims || (m->a.dtype != t1 && m->a.dtype != t2))
        return gsae_fail(err, GSAE_EFORMAT, "%s: %d dims of %s, expected %d dims of %s%s%s", name,
                         m->a.n_dims, gsae_dtype_name(m->a.dtype), n_dims, gsae_dtype_name(t1),
                         t2 != t1 ? " or " : "", t2 != t1 ? gsae_dtype_name(t2) : "");
    return GSAE_OK;
}

/* Row i (length d) of a 2-D f32/f64 array, as double. */
void dpca_npy_row(const struct npy_array *a, int64_t i, double *out)
{
    int64_t d = a->shape[1];
    if (a->dtype == GSAE_DTYPE_F64) {
        memcpy(out, (const double *)a->data + i * d, (size_t)d * sizeof *out);
        return;
    }
    const float *r = (const float *)a->data + i * d;
    for (int64_t j = 0; j < d; j++)
        out[j] = (double)r[j];
}

/* This rank's contiguous share [begin, end) of n items. */
void dpca_share(int64_t n, int rank, int size, int64_t *begin, int64_t *end)
{
    *begin = n * rank / size;
    *end = n * (rank + 1) / size;
}

static enum gsae_status dense_read(void *ctx, int64_t begin, int64_t count, double *out,
                                   struct gsae_error *err)
{
    (void)err;
    struct dpca_dense_rows *dr = ctx;
    for (int64_t i = 0; i < count; i++)
        dpca_npy_row(&dr->x.a, dr->first + begin + i, out + i * dr->x.a.shape[1]);
    /* Drop the pages just read from this process (they stay in the page cache for the next
     * pass), so its resident set holds a chunk, not its whole share of X. */
    size_t row_bytes = (size_t)dr->x.a.shape[1] * gsae_dtype_size(dr->x.a.dtype);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)dr->x.a.data + (size_t)(dr->first + begin) * row_bytes;
    uintptr_t hi = lo + (size_t)count * row_bytes;
    lo = lo / page * page;
    hi = hi / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
    return GSAE_OK;
}

enum gsae_status dpca_dense_rows_open(const char *dir, int rank, int size,
                                      struct dpca_dense_rows *dr, struct dpca_rows *rows,
                                      struct gsae_error *err)
{
    enum gsae_status st = dpca_npy_open(dir, "X.npy", &dr->x, err);
    if (st == GSAE_OK)
        st = dpca_npy_expect(&dr->x, "X.npy", 2, GSAE_DTYPE_F32, GSAE_DTYPE_F64, err);
    if (st != GSAE_OK) return st;
    int64_t begin, end;
    dpca_share(dr->x.a.shape[0], rank, size, &begin, &end);
    dr->first = begin;
    *rows = (struct dpca_rows){
        .d = dr->x.a.shape[1], .n_local = end - begin, .read = dense_read, .ctx = dr};
    return GSAE_OK;
}

void dpca_recon_rows_free(struct dpca_recon_rows *rr)
{
    npy_map_close(&rr->indptr);
    npy_map_close(&rr->indices);
    npy_map_close(&rr->values);
    npy_map_close(&rr->w_dec);
    free(rr->w_rows);
    free(rr->fired);
    free(rr->coef);
    memset(rr, 0, sizeof *rr);
}

static enum gsae_status recon_read(void *ctx, int64_t begin, int64_t count, double *out,
                                   struct gsae_error *err)
{
    (void)err;
    struct dpca_recon_rows *rr = ctx;
    for (int64_t i = begin; i < begin + count; i++)
        pca_recon_row(rr->coef + i * rr->n_features, rr->w_rows, rr->n_features, rr->d,
                      out + (i - begin) * rr->d);
    return GSAE_OK;
}

enum gsae_status dpca_recon_rows_map(const char *dir, struct dpca_recon_rows *rr,
                                     struct gsae_error *err)
{
    enum gsae_status st = dpca_npy_open(dir, "acts_indptr.npy", &rr->indptr, err);
    if (st == GSAE_OK) st = dpca_npy_open(dir, "acts_indices.npy", &rr->indices, err);
    if (st == GSAE_OK) st = dpca_npy_open(dir, "acts_values.npy", &rr->values, err);
    if (st == GSAE_OK) st = dpca_npy_open(dir, "W_dec.npy", &rr->w_dec, err);
    if (st == GSAE_OK)
        st =
            dpca_npy_expect(&rr->indptr, "acts_indptr.npy", 1, GSAE_DTYPE_I64, GSAE_DTYPE_I64, err);
    if (st == GSAE_OK)
        st = dpca_npy_expect(&rr->indices, "acts_indices.npy", 1, GSAE_DTYPE_I32, GSAE_DTYPE_I32,
                             err);
    if (st == GSAE_OK)
        st =
            dpca_npy_expect(&rr->values, "acts_values.npy", 1, GSAE_DTYPE_F32, GSAE_DTYPE_F32, err);
    if (st == GSAE_OK)
        st = dpca_npy_expect(&rr->w_dec, "W_dec.npy", 2, GSAE_DTYPE_F32, GSAE_DTYPE_F64, err);
    if (st == GSAE_OK && rr->indices.a.shape[0] != rr->values.a.shape[0])
        st = gsae_fail(err, GSAE_EFORMAT,
                       "acts_indices.npy has %lld entries, acts_values.npy "
                       "%lld: expected equal",
                       (long long)rr->indices.a.shape[0], (long long)rr->values.a.shape[0]);
    if (st == GSAE_OK && rr->indptr.a.shape[0] < 1)
        st = gsae_fail(err, GSAE_EFORMAT, "acts_indptr.npy is empty: expected N + 1 entries");
    return st;
}

/* Scan this rank's tokens, keep those where the list fires with their coefficients. */
static enum gsae_status recon_select(struct dpca_recon_rows *rr, int rank, int size,
                                     struct gsae_error *err)
{
    const int64_t *ptr = rr->indptr.a.data;
    const int32_t *idx = rr->indices.a.data;
    const float *val = rr->values.a.data;
    int64_t n_tokens = rr->indptr.a.shape[0] - 1, nnz = rr->indices.a.shape[0], begin, end;
    dpca_share(n_tokens, rank, size, &begin, &end);
    size_t cap = (size_t)(end - begin) + 1, nf = (size_t)rr->n_features;
    rr->fired = malloc(cap * sizeof *rr->fired);
    rr->coef = malloc(cap * nf * sizeof *rr->coef);
    if (!rr->fired || !rr->coef)
        return gsae_fail(err, GSAE_ENOMEM, "reconstruction rows: no memory for %zu tokens", cap);
    for (int64_t t = begin; t < end; t++) {
        if (ptr[t] < 0 || ptr[t] > ptr[t + 1] || ptr[t + 1] > nnz)
            return gsae_fail(err, GSAE_EFORMAT,
                             "acts_indptr.npy: entries %lld..%lld are %lld, "
                             "%lld: expected non-decreasing within [0, %lld]",
                             (long long)t, (long long)t + 1, (long long)ptr[t],
                             (long long)ptr[t + 1], (long long)nnz);
        double *coef = rr->coef + rr->n_local * rr->n_features;
        if (pca_recon_coef(idx + ptr[t], val + ptr[t], ptr[t + 1] - ptr[t], rr->features,
                           rr->n_features, coef))
            rr->fired[rr->n_local++] = t;
    }
    return GSAE_OK;
}

enum gsae_status dpca_recon_rows_select(struct dpca_recon_rows *rr, const int64_t *features,
                                        int64_t n_features, int rank, int size,
                                        struct dpca_rows *rows, struct gsae_error *err)
{
    int64_t d_sae = rr->w_dec.a.shape[0];
    *rows = (struct dpca_rows){.d = -1};
    if (n_features < 1 || n_features > DPCA_MAX_FEATURES)
        return gsae_fail(err, GSAE_EINVAL, "reconstruction rows: %lld features, expected 1..%d",
                         (long long)n_features, DPCA_MAX_FEATURES);
    for (int64_t j = 0; j < n_features; j++)
        if (features[j] < 0 || features[j] >= d_sae)
            return gsae_fail(err, GSAE_EINVAL,
                             "feature %lld is out of range: W_dec.npy has %lld "
                             "features",
                             (long long)features[j], (long long)d_sae);
    memcpy(rr->features, features, (size_t)n_features * sizeof *features);
    rr->n_features = n_features;
    rr->d = rr->w_dec.a.shape[1];
    rr->w_rows = malloc((size_t)(n_features * rr->d) * sizeof *rr->w_rows);
    if (!rr->w_rows) return gsae_fail(err, GSAE_ENOMEM, "W_dec rows: no memory");
    for (int64_t j = 0; j < n_features; j++)
        dpca_npy_row(&rr->w_dec.a, features[j], rr->w_rows + j * rr->d);
    enum gsae_status st = recon_select(rr, rank, size, err);
    if (st == GSAE_OK)
        *rows =
            (struct dpca_rows){.d = rr->d, .n_local = rr->n_local, .read = recon_read, .ctx = rr};
    return st;
}
