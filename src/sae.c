/* sae.c: JumpReLU SAE encode/decode (see sae.h). */
#include "sae.h"

#include "gemm_dnnl.h"
#include "tensor.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SAE_PRE_BUDGET_FLOATS ((int64_t)64 << 20) /* 256 MiB of pre-activations per block */
#define SAE_BF16_ROWS         64 /* bf16 mode: rows padded to a multiple (gemm_dnnl's row tile) */

enum gsae_status sae_params_init(struct sae_params *p, int64_t d_model, int64_t d_sae,
                                 struct gsae_error *err)
{
    memset(p, 0, sizeof *p);
    if (d_model <= 0 || d_sae <= 0 || d_sae > INT32_MAX)
        return gsae_fail(err, GSAE_EINVAL, "SAE size d_model=%lld d_sae=%lld is not valid",
                         (long long)d_model, (long long)d_sae);
    size_t n_mat;
    if (!gsae_mul_size((size_t)d_model, (size_t)d_sae, &n_mat) || n_mat > SIZE_MAX / 8)
        return gsae_fail(err, GSAE_ERANGE, "SAE size d_model=%lld d_sae=%lld overflows",
                         (long long)d_model, (long long)d_sae);
    p->d_model = d_model;
    p->d_sae = d_sae;
    p->w_enc = calloc(n_mat, sizeof(float));
    p->w_dec = calloc(n_mat, sizeof(float));
    p->b_enc = calloc((size_t)d_sae, sizeof(float));
    p->b_dec = calloc((size_t)d_model, sizeof(float));
    p->threshold = calloc((size_t)d_sae, sizeof(float));
    if (!p->w_enc || !p->w_dec || !p->b_enc || !p->b_dec || !p->threshold) {
        sae_params_free(p);
        return gsae_fail(err, GSAE_ENOMEM, "out of memory for an SAE of %zu bytes",
                         sae_params_bytes(d_model, d_sae));
    }
    return GSAE_OK;
}

void sae_params_free(struct sae_params *p)
{
    free(p->w_enc);
    free(p->w_dec);
    free(p->b_enc);
    free(p->b_dec);
    free(p->threshold);
    memset(p, 0, sizeof *p);
}

size_t sae_params_bytes(int64_t d_model, int64_t d_sae)
{
    return sizeof(float) * (size_t)(2 * d_model * d_sae + 2 * d_sae + d_model);
}

/* Index of the first non-finite value of v[0..n), or -1. */
static int64_t first_non_finite(const float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return i;
    return -1;
}

enum gsae_status sae_params_check(const struct sae_params *p, const char *name,
                                  struct gsae_error *err)
{
    const struct {
        const char *key;
        const float *v;
        int64_t n;
    } parts[] = {
        {"threshold", p->threshold, p->d_sae},
        {"b_enc", p->b_enc, p->d_sae},
        {"b_dec", p->b_dec, p->d_model},
        {"W_enc", p->w_enc, p->d_model * p->d_sae},
        {"W_dec", p->w_dec, p->d_model * p->d_sae},
    };
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
        int64_t i = first_non_finite(parts[k].v, parts[k].n);
        if (i >= 0)
            return gsae_fail(err, GSAE_EFORMAT,
                             "%s: '%s' has a non-finite value (%g) at flat index %lld", name,
                             parts[k].key, (double)parts[k].v[i], (long long)i);
    }
    return GSAE_OK;
}

/* Make room for rows rows and nnz entries. */
static enum gsae_status acts_reserve(struct sae_acts *a, int64_t rows, int64_t nnz,
                                     struct gsae_error *err)
{
    if (rows > a->rows_cap || !a->row_ptr) {
        int64_t cap = a->rows_cap > 0 ? a->rows_cap : 16;
        while (cap < rows)
            cap *= 2;
        int64_t *rp = realloc(a->row_ptr, (size_t)(cap + 1) * sizeof *rp);
        if (!rp)
            return gsae_fail(err, GSAE_ENOMEM, "out of memory for SAE activations (%lld rows)",
                             (long long)rows);
        a->row_ptr = rp;
        a->rows_cap = cap;
    }
    if (nnz > a->nnz_cap || !a->feature) {
        int64_t cap = a->nnz_cap > 0 ? a->nnz_cap : 256;
        while (cap < nnz)
            cap *= 2;
        int32_t *f = realloc(a->feature, (size_t)cap * sizeof *f);
        if (f) a->feature = f;
        float *v = f ? realloc(a->value, (size_t)cap * sizeof *v) : NULL;
        if (!v)
            return gsae_fail(err, GSAE_ENOMEM, "out of memory for SAE activations (%lld entries)",
                             (long long)nnz);
        a->value = v;
        a->nnz_cap = cap;
    }
    return GSAE_OK;
}

enum gsae_status sae_acts_init(struct sae_acts *a, int64_t rows_cap, int64_t nnz_cap,
                               struct gsae_error *err)
{
    memset(a, 0, sizeof *a);
    enum gsae_status st = acts_reserve(a, rows_cap, nnz_cap, err);
    if (st != GSAE_OK)
        sae_acts_free(a);
    else
        a->row_ptr[0] = 0;
    return st;
}

void sae_acts_free(struct sae_acts *a)
{
    free(a->row_ptr);
    free(a->feature);
    free(a->value);
    memset(a, 0, sizeof *a);
}

void sae_acts_clear(struct sae_acts *a)
{
    a->n_rows = 0;
    a->nnz = 0;
    if (a->row_ptr) a->row_ptr[0] = 0;
}

enum gsae_status sae_acts_append(struct sae_acts *dst, const struct sae_acts *src, int64_t r0,
                                 int64_t r1, struct gsae_error *err)
{
    GSAE_ASSERT(0 <= r0 && r0 <= r1 && r1 <= src->n_rows);
    int64_t b = src->row_ptr[r0], n = src->row_ptr[r1] - b;
    enum gsae_status st = acts_reserve(dst, dst->n_rows + (r1 - r0), dst->nnz + n, err);
    if (st != GSAE_OK) return st;
    if (n > 0) {
        memcpy(dst->feature + dst->nnz, src->feature + b, (size_t)n * sizeof *dst->feature);
        memcpy(dst->value + dst->nnz, src->value + b, (size_t)n * sizeof *dst->value);
    }
    if (dst->n_rows == 0) dst->row_ptr[0] = 0;
    for (int64_t r = r0; r < r1; r++)
        dst->row_ptr[dst->n_rows + (r - r0) + 1] = dst->nnz + (src->row_ptr[r + 1] - b);
    dst->n_rows += r1 - r0;
    dst->nnz += n;
    return GSAE_OK;
}

void sae_acts_to_dense(const struct sae_acts *a, int64_t d_sae, float *dense)
{
    memset(dense, 0, (size_t)(a->n_rows * d_sae) * sizeof *dense);
    for (int64_t r = 0; r < a->n_rows; r++)
        for (int64_t k = a->row_ptr[r]; k < a->row_ptr[r + 1]; k++)
            dense[r * d_sae + a->feature[k]] = a->value[k];
}

enum gsae_status sae_encoder_init(struct sae_encoder *e, const struct sae_params *p,
                                  int64_t block_rows, struct gsae_error *err)
{
    memset(e, 0, sizeof *e);
    if (block_rows <= 0) {
        block_rows = SAE_PRE_BUDGET_FLOATS / p->d_sae;
        if (block_rows < 64) block_rows = 64; /* below this the sgemm loses efficiency */
        if (block_rows > 1024) block_rows = 1024;
    }
    e->p = p;
    e->block_rows = block_rows;
    size_t n;
    if (!gsae_mul_size((size_t)block_rows, (size_t)p->d_sae, &n) ||
        !(e->pre = malloc(n * sizeof(float))))
        return gsae_fail(err, GSAE_ENOMEM, "out of memory for the SAE encoder (%lld x %lld)",
                         (long long)block_rows, (long long)p->d_sae);
    return GSAE_OK;
}

enum gsae_status sae_encoder_set_bf16(struct sae_encoder *e, struct gsae_error *err)
{
    const struct sae_params *p = e->p;
    if (e->dnnl) return GSAE_OK;
    size_t n_w = (size_t)p->d_model * (size_t)p->d_sae; /* checked by sae_params_init */
    /* pre and the input scratch hold block_rows rounded up to whole chunks */
    int64_t m = (e->block_rows + SAE_BF16_ROWS - 1) / SAE_BF16_ROWS * SAE_BF16_ROWS;
    size_t n_x, n_pre;
    float *pre;
    if (!gsae_mul_size((size_t)m, (size_t)p->d_model, &n_x) ||
        !gsae_mul_size((size_t)m, (size_t)p->d_sae, &n_pre) ||
        !(pre = realloc(e->pre, n_pre * sizeof(float))))
        return gsae_fail(err, GSAE_ENOMEM, "out of memory for the bf16 SAE encoder");
    e->pre = pre;
    if (!(e->w_enc_bf16 = malloc(n_w * sizeof(uint16_t))) ||
        !(e->x_bf16 = malloc(n_x * sizeof(uint16_t)))) {
        free(e->w_enc_bf16);
        e->w_enc_bf16 = NULL;
        return gsae_fail(err, GSAE_ENOMEM, "out of memory for the bf16 SAE encoder (%zu bytes)",
                         (n_w + n_x) * sizeof(uint16_t));
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n_w; i++)
        e->w_enc_bf16[i] = gsae_f32_to_bf16(p->w_enc[i]);
    return gemm_dnnl_init(&e->dnnl, m, p->d_model, err);
}

void sae_encoder_free(struct sae_encoder *e)
{
    gemm_dnnl_free(&e->dnnl);
    free(e->w_enc_bf16);
    free(e->x_bf16);
    free(e->pre);
    memset(e, 0, sizeof *e);
}

/* Apply bias and JumpReLU to pre (rows, d_sae) and append the survivors to out. Two passes
 * (count, then fill) so rows can be processed in parallel into a CSR in row order. */
static enum gsae_status mask_block(const struct sae_params *p, float *pre, int64_t rows,
                                   struct sae_acts *out, struct gsae_error *err)
{
    const int64_t S = p->d_sae;
    const float *b_enc = p->b_enc, *thr = p->threshold;
    int64_t base_row = out->n_rows;
    enum gsae_status st = acts_reserve(out, base_row + rows, out->nnz, err);
    if (st != GSAE_OK) return st;
    int64_t *count = out->row_ptr + base_row + 1; /* count[r], later turned into offsets */
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float *row = pre + r * S;
        int64_t c = 0;
        for (int64_t f = 0; f < S; f++) {
            float v = row[f] + b_enc[f];
            bool keep = v > thr[f] && v > 0.0f;
            row[f] = keep ? v : 0.0f;
            c += keep;
        }
        count[r] = c;
    }
    int64_t at = out->nnz;
    for (int64_t r = 0; r < rows; r++) {
        int64_t c = count[r];
        count[r] = at + c;
        at += c;
    }
    st = acts_reserve(out, base_row + rows, at, err);
    if (st != GSAE_OK) return st;
    int64_t *row_ptr = out->row_ptr;
    int32_t *feat = out->feature;
    float *val = out->value;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *row = pre + r * S;
        int64_t k = row_ptr[base_row + r];
        for (int64_t f = 0; f < S; f++)
            if (row[f] != 0.0f) {
                feat[k] = (int32_t)f;
                val[k] = row[f];
                k++;
            }
    }
    out->n_rows = base_row + rows;
    out->nnz = at;
    return GSAE_OK;
}

enum gsae_status sae_encode(struct sae_encoder *e, const float *x, int64_t n_rows,
                            struct sae_acts *out, struct gsae_error *err)
{
    const struct sae_params *p = e->p;
    sae_acts_clear(out);
    enum gsae_status st = acts_reserve(out, n_rows, 0, err);
    if (st != GSAE_OK) return st;
    out->row_ptr[0] = 0;
    for (int64_t r0 = 0; r0 < n_rows; r0 += e->block_rows) {
        int64_t rows = n_rows - r0 < e->block_rows ? n_rows - r0 : e->block_rows;
        if (e->dnnl) {
            /* rows padded with zero rows to whole row tiles of gemm_dnnl: oneDNN's kernel
             * choice depends on the tile's row count, so with full tiles only each row's bits
             * depend on that row alone, whatever the batch it came in */
            const float *xr = x + r0 * p->d_model;
            int64_t m = (rows + SAE_BF16_ROWS - 1) / SAE_BF16_ROWS * SAE_BF16_ROWS;
            int64_t n = rows * p->d_model;
#pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < n; i++)
                e->x_bf16[i] = gsae_f32_to_bf16(xr[i]);
            memset(e->x_bf16 + n, 0, (size_t)((m - rows) * p->d_model) * sizeof(uint16_t));
            st = gemm_dnnl_bf16(e->dnnl, e->pre, p->d_sae, e->x_bf16, p->d_model, e->w_enc_bf16,
                                p->d_sae, 0, m, p->d_sae, p->d_model, 1.0f, err);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)p->d_sae,
                        (int)p->d_model, 1.0f, x + r0 * p->d_model, (int)p->d_model, p->w_enc,
                        (int)p->d_sae, 0.0f, e->pre, (int)p->d_sae);
        }
        if (st == GSAE_OK) st = mask_block(p, e->pre, rows, out, err);
        if (st != GSAE_OK) return st;
    }
    return GSAE_OK;
}

/* recon rows = b_dec + sum of the kept entries' W_dec rows. */
static void decode_rows(const struct sae_params *p, const struct sae_acts *a, const int32_t *drop,
                        int64_t n_drop, float *recon)
{
    const int64_t d = p->d_model;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < a->n_rows; r++) {
        float *out = recon + r * d;
        memcpy(out, p->b_dec, (size_t)d * sizeof *out);
        for (int64_t k = a->row_ptr[r]; k < a->row_ptr[r + 1]; k++) {
            int32_t f = a->feature[k];
            bool dropped = false;
            for (int64_t j = 0; j < n_drop; j++)
                dropped |= drop[j] == f;
            if (dropped) continue;
            const float *w = p->w_dec + (int64_t)f * d;
            float v = a->value[k];
            for (int64_t i = 0; i < d; i++)
                out[i] += v * w[i];
        }
    }
}

void sae_decode(const struct sae_params *p, const struct sae_acts *a, float *recon)
{
    decode_rows(p, a, NULL, 0, recon);
}

void sae_decode_without(const struct sae_params *p, const struct sae_acts *a, const int32_t *drop,
                        int64_t n_drop, float *recon)
{
    decode_rows(p, a, drop, n_drop, recon);
}

void sae_error_term(const struct sae_params *p, const float *x, const struct sae_acts *a,
                    float *error)
{
    decode_rows(p, a, NULL, 0, error);
    int64_t n = a->n_rows * p->d_model;
    for (int64_t i = 0; i < n; i++)
        error[i] = x[i] - error[i];
}

void sae_steer(const struct sae_params *p, float *x, int64_t n_rows, int64_t feature, float coef)
{
    GSAE_ASSERT(feature >= 0 && feature < p->d_sae);
    const float *w = p->w_dec + feature * p->d_model;
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t i = 0; i < p->d_model; i++)
            x[r * p->d_model + i] += coef * w[i];
}

float sae_feature_act(const struct sae_params *p, const float *x, int64_t feature)
{
    GSAE_ASSERT(feature >= 0 && feature < p->d_sae);
    float pre = cblas_sdot((int)p->d_model, x, 1, p->w_enc + feature, (int)p->d_sae);
    pre += p->b_enc[feature];
    return pre > p->threshold[feature] && pre > 0.0f ? pre : 0.0f;
}

void sae_pre_linear(const struct sae_params *p, const float *x, int64_t n_rows, float *pre)
{
    GSAE_ASSERT(n_rows >= 0 && n_rows <= INT_MAX && p->d_model <= INT_MAX && p->d_sae <= INT_MAX);
    int m = (int)n_rows, k = (int)p->d_model, n = (int)p->d_sae;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, x, k, p->w_enc, n, 0.0f,
                pre, n);
}
