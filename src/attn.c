/* attn.c: per-head GEMM attention with soft-cap, causal and sliding-window masks (attn.h). */
#include "attn.h"

#include <cblas.h>
#include <limits.h>
#include <string.h>

#include "gsae.h"
#include "ops.h"

static int blas_int(int64_t v)
{
    GSAE_ASSERT(v >= 0 && v <= INT_MAX);
    return (int)v;
}

int64_t attn_scratch_floats(int64_t max_rows, int64_t max_seq, int64_t n_heads)
{
    int64_t rows = max_rows < ATTN_Q_TILE ? max_rows : ATTN_Q_TILE;
    rows = rows > n_heads ? rows : n_heads; /* one token: a row per head of a group */
    return rows * max_seq;
}

/* Soft-cap, mask and softmax the scores of query rows [a, b) of the tile whose keys start at
 * absolute position j_lo; s has row stride n_keys. Row i is at position pos0 + i * pos_step
 * (pos_step 0: all rows are heads of one token). On the calling thread: vectorised, this is
 * about 1% of the attention sgemms' time, and handing work back and forth between OpenMP's
 * and OpenBLAS's thread pools between every pair of sgemm calls would cost more. */
static void mask_softmax(float *s, int64_t n_keys, int64_t a, int64_t b, int64_t pos0,
                         int64_t pos_step, int64_t j_lo, const struct attn_shape *shape)
{
    for (int64_t i = a; i < b; i++) {
        float *row = s + (i - a) * n_keys;
        int64_t pos = pos0 + i * pos_step;
        int64_t first = shape->window > 0 ? pos - shape->window + 1 : 0;
        first = first > j_lo ? first - j_lo : 0; /* relative to the tile's keys */
        int64_t end = pos - j_lo + 1;            /* keys after pos are masked */
        memset(row, 0, (size_t)first * sizeof *row);
        ops_softcap(row + first, end - first, shape->softcap);
        ops_softmax(row + first, end - first);
        memset(row + end, 0, (size_t)(n_keys - end) * sizeof *row);
    }
}

/* One token (decode): the query heads sharing a kv head are contiguous in q, so they form a
 * (group, d_head) matrix and each kv head needs one sgemm pair, reading its keys and values
 * once. */
static void attn_one_token(float *out, const float *q, const float *k, const float *v,
                           int64_t ld_kv, int64_t pos, const struct attn_shape *shape,
                           float *scores)
{
    int64_t dh = shape->d_head, group = shape->n_heads / shape->n_kv_heads;
    int64_t j_lo = shape->window > 0 ? pos - shape->window + 1 : 0;
    j_lo = j_lo > 0 ? j_lo : 0;
    int64_t nk = pos + 1 - j_lo;
    for (int64_t g = 0; g < shape->n_kv_heads; g++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(group), blas_int(nk),
                    blas_int(dh), shape->scale, q + g * group * dh, blas_int(dh),
                    k + j_lo * ld_kv + g * dh, blas_int(ld_kv), 0.0f, scores, blas_int(nk));
        mask_softmax(scores, nk, 0, group, pos, 0, j_lo, shape);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas_int(group), blas_int(dh),
                    blas_int(nk), 1.0f, scores, blas_int(nk), v + j_lo * ld_kv + g * dh,
                    blas_int(ld_kv), 0.0f, out + g * group * dh, blas_int(dh));
    }
}

void attn_sequence(float *out, int64_t ld_out, const float *q, int64_t ld_q, const float *k,
                   const float *v, int64_t ld_kv, int64_t n_tok, int64_t pos0,
                   const struct attn_shape *shape, float *scores)
{
    int64_t dh = shape->d_head, group = shape->n_heads / shape->n_kv_heads;
    if (n_tok == 1) {
        attn_one_token(out, q, k, v, ld_kv, pos0, shape, scores);
        return;
    }
    for (int64_t h = 0; h < shape->n_heads; h++) {
        int64_t g = h / group;
        for (int64_t a = 0; a < n_tok; a += ATTN_Q_TILE) {
            int64_t b = n_tok - a < ATTN_Q_TILE ? n_tok : a + ATTN_Q_TILE;
            /* Keys visible to some row of the tile: [j_lo, j_hi). */
            int64_t j_hi = pos0 + b;
            int64_t j_lo = shape->window > 0 ? pos0 + a - shape->window + 1 : 0;
            j_lo = j_lo > 0 ? j_lo : 0;
            int64_t nk = j_hi - j_lo;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(b - a), blas_int(nk),
                        blas_int(dh), shape->scale, q + a * ld_q + h * dh, blas_int(ld_q),
                        k + j_lo * ld_kv + g * dh, blas_int(ld_kv), 0.0f, scores, blas_int(nk));
            mask_softmax(scores, nk, a, b, pos0, 1, j_lo, shape);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas_int(b - a), blas_int(dh),
                        blas_int(nk), 1.0f, scores, blas_int(nk), v + j_lo * ld_kv + g * dh,
                        blas_int(ld_kv), 0.0f, out + a * ld_out + h * dh, blas_int(ld_out));
        }
    }
}
