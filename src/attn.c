/* attn.c: per-head GEMM attention with soft-cap, causal and sliding-window masks (attn.h). */
#include "attn.h"

#include <cblas.h>
#include <limits.h>
#include <omp.h>
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

/* a . b over n floats (vectorised; the order of the sum is fixed by the compiled code). */
static float dot(const float *a, const float *b, int64_t n)
{
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++)
        acc += a[i] * b[i];
    return acc;
}

/* One token (decode): per head, scores as dot products against the cached keys, then the
 * weighted sum of cached values; OpenMP over heads (static, so deterministic). Too small for
 * sgemm to pay off, and it keeps decoding on one thread pool. */
static void attn_one_token(float *out, const float *q, const float *k, const float *v,
                           int64_t ld_kv, int64_t pos, const struct attn_shape *shape,
                           float *scores, int n_threads)
{
    int64_t dh = shape->d_head, group = shape->n_heads / shape->n_kv_heads;
    int64_t j_lo = shape->window > 0 ? pos - shape->window + 1 : 0;
    j_lo = j_lo > 0 ? j_lo : 0;
    int64_t nk = pos + 1 - j_lo;
#pragma omp parallel for schedule(static)                                                          \
    num_threads(n_threads) if (shape->n_heads * nk * dh > 65536)
    for (int64_t h = 0; h < shape->n_heads; h++) {
        int64_t g = h / group;
        const float *kh = k + j_lo * ld_kv + g * dh, *vh = v + j_lo * ld_kv + g * dh;
        float *s = scores + h * nk, *o = out + h * dh;
        for (int64_t j = 0; j < nk; j++)
            s[j] = shape->scale * dot(q + h * dh, kh + j * ld_kv, dh);
        mask_softmax(s, nk, 0, 1, pos, 0, j_lo, shape);
        for (int64_t i = 0; i < dh; i++)
            o[i] = 0.0f;
        for (int64_t j = 0; j < nk; j++) {
            const float *vj = vh + j * ld_kv;
            float p = s[j];
#pragma omp simd
            for (int64_t i = 0; i < dh; i++)
                o[i] += p * vj[i];
        }
    }
}

void attn_sequence(float *out, int64_t ld_out, const float *q, int64_t ld_q, const float *k,
                   const float *v, int64_t ld_kv, int64_t n_tok, int64_t pos0,
                   const struct attn_shape *shape, float *scores, int n_threads)
{
    int64_t dh = shape->d_head, group = shape->n_heads / shape->n_kv_heads;
    if (n_tok == 1) {
        attn_one_token(out, q, k, v, ld_kv, pos0, shape, scores, n_threads);
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

int64_t attn_bf16_elems(int64_t max_rows, int64_t max_seq, int64_t qd, int64_t kvd, int64_t d_head,
                        int n_threads)
{
    int64_t tile = max_rows < ATTN_Q_TILE ? max_rows : ATTN_Q_TILE;
    return 2 * n_threads * tile * (d_head + max_seq) + max_rows * qd + 2 * max_seq * kvd +
           n_threads * tile * max_seq;
}

/* dst (n, dh) dense = bf16 of the dh columns at src (n rows, stride ld). */
static void round_rows(uint16_t *dst, const float *src, int64_t ld, int64_t n, int64_t dh)
{
    for (int64_t i = 0; i < n; i++)
        gemm_dnnl_round(dst + i * dh, src + i * ld, dh);
}

/* Keys visible to some row of query tile [a, b): [j_lo, pos0 + b). */
static int64_t tile_first_key(const struct attn_shape *shape, int64_t pos0, int64_t a, int64_t j0)
{
    int64_t j_lo = shape->window > 0 ? pos0 + a - shape->window + 1 : 0;
    return j_lo > j0 ? j_lo : j0;
}

enum gsae_status attn_sequence_bf16(float *out, int64_t ld_out, const float *q, int64_t ld_q,
                                    const float *k, const float *v, int64_t ld_kv, int64_t n_tok,
                                    int64_t pos0, const struct attn_shape *shape, uint16_t *work,
                                    struct gemm_dnnl *g, int n_threads, struct gsae_error *err)
{
    int64_t dh = shape->d_head, group = shape->n_heads / shape->n_kv_heads;
    int64_t tile = n_tok < ATTN_Q_TILE ? n_tok : ATTN_Q_TILE;
    int nt = n_threads < gemm_dnnl_max_threads(g) ? n_threads : gemm_dnnl_max_threads(g);
    nt = nt > 0 ? nt : 1;
    /* Keys some row of the sequence can see: [j0, pos0 + n_tok). */
    int64_t j0 = shape->window > 0 ? pos0 - shape->window + 1 : 0;
    j0 = j0 > 0 ? j0 : 0;
    int64_t span = pos0 + n_tok - j0;
    /* Dense operands (oneDNN's fast kernels want unit-stride rows): per head the queries
     * (n_tok, dh), per kv head the keys and values (span, dh); per thread one tile's scores
     * (f32 and bf16) and output (f32). The f32 blocks come first, aligned as work is. */
    float *f32 = (float *)(void *)work;
    uint16_t *qb = work + 2 * nt * tile * (dh + span);
    uint16_t *kb = qb + n_tok * shape->n_heads * dh, *vb = kb + shape->n_kv_heads * span * dh;
    uint16_t *pb = vb + shape->n_kv_heads * span * dh;
    enum gsae_status st = GSAE_OK;
    for (int64_t a = 0; a < n_tok && !st; a += ATTN_Q_TILE) { /* one primitive per tile shape */
        int64_t b = n_tok - a < ATTN_Q_TILE ? n_tok : a + ATTN_Q_TILE;
        int64_t nk = pos0 + b - tile_first_key(shape, pos0, a, j0);
        st = gemm_dnnl_bf16_prepare(g, dh, dh, 1, nk, b - a, nk, dh, shape->scale, err);
        if (!st) st = gemm_dnnl_bf16_prepare(g, nk, dh, 0, dh, b - a, dh, nk, 1.0f, err);
    }
    if (st) return st;
    for (int64_t h = 0; h < shape->n_heads; h++)
        round_rows(qb + h * n_tok * dh, q + h * dh, ld_q, n_tok, dh);
    for (int64_t gh = 0; gh < shape->n_kv_heads; gh++) {
        round_rows(kb + gh * span * dh, k + j0 * ld_kv + gh * dh, ld_kv, span, dh);
        round_rows(vb + gh * span * dh, v + j0 * ld_kv + gh * dh, ld_kv, span, dh);
    }
    /* Heads in parallel, each thread running oneDNN on its own (nested: one thread). A head's
     * result does not depend on which thread computes it or on how many there are. */
    int failed = 0;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t h = 0; h < shape->n_heads; h++) {
        int t = omp_get_thread_num();
        float *sc = f32 + t * tile * (dh + span), *ob = sc + tile * span;
        uint16_t *pt = pb + t * tile * span;
        const uint16_t *kh = kb + (h / group) * span * dh, *vh = vb + (h / group) * span * dh;
        struct gsae_error e2;
        enum gsae_status s2 = GSAE_OK;
        for (int64_t a = 0; a < n_tok && !s2; a += ATTN_Q_TILE) {
            int64_t b = n_tok - a < ATTN_Q_TILE ? n_tok : a + ATTN_Q_TILE;
            int64_t j_lo = tile_first_key(shape, pos0, a, j0), nk = pos0 + b - j_lo;
            s2 = gemm_dnnl_bf16_on(g, t, sc, nk, qb + (h * n_tok + a) * dh, dh,
                                   kh + (j_lo - j0) * dh, dh, 1, b - a, nk, dh, shape->scale, &e2);
            if (s2) break;
            mask_softmax(sc, nk, a, b, pos0, 1, j_lo, shape);
            gemm_dnnl_round(pt, sc, (b - a) * nk);
            s2 = gemm_dnnl_bf16_on(g, t, ob, dh, pt, nk, vh + (j_lo - j0) * dh, dh, 0, b - a, dh,
                                   nk, 1.0f, &e2);
            for (int64_t i = 0; i < b - a && !s2; i++)
                memcpy(out + (a + i) * ld_out + h * dh, ob + i * dh, (size_t)dh * sizeof *ob);
        }
        if (s2) {
#pragma omp critical(attn_bf16_error)
            if (!failed) {
                failed = 1;
                st = s2;
                *err = e2;
            }
        }
    }
    return st;
}
