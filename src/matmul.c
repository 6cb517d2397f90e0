/* matmul.c: y = x W^T for f32/bf16/f16 weights: tiled sgemm for many rows, a streaming
 * on-the-fly-conversion kernel for few rows (see matmul.h). */
#include "matmul.h"

#include <cblas.h>
#include <limits.h>
#include <omp.h>

#include "gsae.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define MATMUL_AVX512 1
#include <immintrin.h>
#else
#define MATMUL_AVX512 0
#endif

/* At least 32 MiB of f32 per tile: every sgemm call has a start-up cost (threads, repacking x),
 * so few wide tiles beat many narrow ones; measured ~0.9-1.0 of a single f32 sgemm over the
 * whole weight at 9B sizes, against ~0.85 with 8 MiB tiles. */
#define MATMUL_TILE_FLOATS (8 * 1024 * 1024)

/* OpenBLAS (0.3.21, SkylakeX/Cooperlake kernels, which this Zen 4 gets) switches to separate
 * "small matrix" kernels when m*n*k <= 1e6, with different rounding: a row's bits would then
 * depend on how many rows share the call. Every sgemm here has m > MATMUL_SMALL_ROWS, so a
 * weight (or weight tile) of at least 2^17 elements keeps m*n*k > 1e6; smaller weights (tiny
 * test models) use the streaming kernel for any m. */
#define MATMUL_SGEMM_MIN_WEIGHT (1 << 17)

static int blas_int(int64_t v)
{
    GSAE_ASSERT(v >= 0 && v <= INT_MAX);
    return (int)v;
}

int64_t matmul_tile_floats(int64_t k_max, int64_t weight_floats_max)
{
    /* At least 512 weight rows per tile: each sgemm call repacks all of x, so a narrow tile
     * (the down projection has k = d_ff) would spend a large share on that copy. No more than
     * the largest weight needs. */
    int64_t tile = 512 * k_max > MATMUL_TILE_FLOATS ? 512 * k_max : MATMUL_TILE_FLOATS;
    tile = tile < weight_floats_max ? tile : weight_floats_max;
    return tile > k_max ? tile : k_max;
}

/* Contiguous conversion of n elements to f32. */
static void convert_span(float *dst, const void *src, enum gsae_dtype t, int64_t n)
{
#if MATMUL_AVX512
    int64_t i = 0;
    if (t == GSAE_DTYPE_BF16) {
        const uint16_t *s = src;
        for (; i + 16 <= n; i += 16) {
            __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(s + i)));
            _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
        }
    } else if (t == GSAE_DTYPE_F16) {
        const uint16_t *s = src;
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_ps(dst + i,
                             _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + i))));
    }
    if (i > 0) {
        gsae_to_f32(dst + i, (const char *)src + (size_t)i * gsae_dtype_size(t), t, n - i);
        return;
    }
#endif
    gsae_to_f32(dst, src, t, n);
}

void matmul_rows_to_f32(float *dst, const struct gsae_tensor *w, int64_t row0, int64_t n_rows,
                        int64_t k, int n_threads)
{
    size_t es = gsae_dtype_size(w->dtype);
    const char *base = (const char *)w->data + (size_t)row0 * (size_t)k * es;
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_rows * k > 65536)
    for (int64_t r = 0; r < n_rows; r++)
        convert_span(dst + r * k, base + (size_t)r * (size_t)k * es, w->dtype, k);
}

static void gemm_path(float *y, int64_t ldy, const float *x, int64_t m, int64_t k,
                      const struct gsae_tensor *w, float *tile, int64_t tile_floats)
{
    int64_t n = w->shape[0];
    if (w->dtype == GSAE_DTYPE_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(m), blas_int(n), blas_int(k),
                    1.0f, x, blas_int(k), w->data, blas_int(k), 0.0f, y, blas_int(ldy));
        return;
    }
    GSAE_ASSERT(tile_floats >= k);
    /* Equal tiles of at most tile_floats: each holds >= tile_floats / 2 elements (or the whole
     * weight), above MATMUL_SGEMM_MIN_WEIGHT. */
    int64_t nb = tile_floats / k, n_tiles = (n + nb - 1) / nb;
    for (int64_t i = 0; i < n_tiles; i++) {
        int64_t n0 = n * i / n_tiles, nt = n * (i + 1) / n_tiles - n0;
        /* One thread: conversion runs at memory speed (well under 1% of the sgemm time) and
         * more threads would compete with OpenBLAS's own spinning workers. */
        matmul_rows_to_f32(tile, w, n0, nt, k, 1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(m), blas_int(nt), blas_int(k),
                    1.0f, x, blas_int(k), tile, blas_int(k), 0.0f, y + n0, blas_int(ldy));
    }
}

#if MATMUL_AVX512
#define MATMUL_PREFETCH_BYTES 512 /* how far ahead the small-m kernel prefetches weights */

/* 16 weights from row w at element i (masked), as f32. dt is a compile-time constant after
 * inlining, so each instantiation of the kernel below has a single load form. */
static inline __attribute__((always_inline)) __m512 load_w16(const void *w, int dt, int64_t i,
                                                             __mmask16 mask)
{
    if (dt == GSAE_DTYPE_F32) return _mm512_maskz_loadu_ps(mask, (const float *)w + i);
    __m256i h = _mm256_maskz_loadu_epi16(mask, (const uint16_t *)w + i);
    if (dt == GSAE_DTYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* Output columns [j, j + R) for all m rows, R a constant (1 to 4): the R weight rows are
 * streamed together so each x vector loaded serves R FMAs and R * m independent accumulator
 * chains hide the FMA latency. The loops over q and r are unrolled (R and m are constants in
 * each instantiation) so the accumulators live in registers. Each output keeps one 16-lane
 * accumulator over k in steps of 16 (masked tail), then a fixed horizontal reduction: its bits
 * depend only on its own x row and weight row, not on R, m or the thread partition. */
static inline __attribute__((always_inline)) void small_block(float *y, int64_t ldy, const float *x,
                                                              const int m, int64_t k, const void *w,
                                                              const int dt, int64_t j, const int R)
{
    size_t row_bytes = (size_t)k * (dt == GSAE_DTYPE_F32 ? 4u : 2u);
    int64_t k16 = k - k % 16;
    __mmask16 full = 0xffff, tail = (__mmask16)((1u << (k - k16)) - 1u);
    const char *wr[4];
    __m512 a[4][MATMUL_SMALL_ROWS], v[4];
#pragma GCC unroll 4
    for (int q = 0; q < R; q++) {
        wr[q] = (const char *)w + (size_t)(j + q) * row_bytes;
#pragma GCC unroll 8
        for (int r = 0; r < m; r++)
            a[q][r] = _mm512_setzero_ps();
    }
    const size_t es = dt == GSAE_DTYPE_F32 ? 4u : 2u;
    for (int64_t i = 0; i < k16; i += 16) {
        /* At 5-8 rows the FMAs no longer hide the weight stream's latency by themselves: each
         * cache line of the R weight rows is prefetched MATMUL_PREFETCH_BYTES ahead (measured
         * at 2B shapes, 2 threads: 8 rows 1.36x -> 1.15x the time of one row, 5 rows 1.17x ->
         * 1.01x; 1 to 4 rows are at the bandwidth bound without it). */
        if (m > 4 && ((size_t)i * es) % 64 == 0)
#pragma GCC unroll 4
            for (int q = 0; q < R; q++)
                _mm_prefetch(wr[q] + (size_t)i * es + MATMUL_PREFETCH_BYTES, _MM_HINT_T0);
#pragma GCC unroll 4
        for (int q = 0; q < R; q++)
            v[q] = load_w16(wr[q], dt, i, full);
#pragma GCC unroll 8
        for (int r = 0; r < m; r++) {
            __m512 xv = _mm512_loadu_ps(x + r * k + i);
#pragma GCC unroll 4
            for (int q = 0; q < R; q++)
                a[q][r] = _mm512_fmadd_ps(v[q], xv, a[q][r]);
        }
    }
    if (tail) {
#pragma GCC unroll 4
        for (int q = 0; q < R; q++)
            v[q] = load_w16(wr[q], dt, k16, tail);
#pragma GCC unroll 8
        for (int r = 0; r < m; r++) {
            __m512 xv = _mm512_maskz_loadu_ps(tail, x + r * k + k16);
#pragma GCC unroll 4
            for (int q = 0; q < R; q++)
                a[q][r] = _mm512_fmadd_ps(v[q], xv, a[q][r]);
        }
    }
#pragma GCC unroll 4
    for (int q = 0; q < R; q++)
#pragma GCC unroll 8
        for (int r = 0; r < m; r++)
            y[r * ldy + j + q] = _mm512_reduce_add_ps(a[q][r]);
}

/* Output columns [j0, j1): blocks of 4 weight rows for m <= 6 (up to 24 accumulators), of 3
 * for m = 7, 8 (24 accumulators + 3 weight vectors + x in the 32 registers), single rows at
 * the end. At 5-8 rows the kernel is bound by its FMAs (one per weight per row, in f32 for
 * exact results), so each x vector loaded should feed as many of them as registers allow:
 * measured on one thread at 2B shapes, 5 rows 1.2x the time of 1 row (was 1.45x with blocks
 * of 2), 8 rows 1.45x (was 1.7x). */
static inline __attribute__((always_inline)) void small_kernel(float *y, int64_t ldy,
                                                               const float *x, const int m,
                                                               int64_t k, const void *w,
                                                               const int dt, int64_t j0, int64_t j1)
{
    int64_t j = j0;
    if (m <= 4)
        for (; j + 4 <= j1; j += 4)
            small_block(y, ldy, x, m, k, w, dt, j, 4);
    else if (m <= 6)
        for (; j + 4 <= j1; j += 4)
            small_block(y, ldy, x, m, k, w, dt, j, 4);
    else
        for (; j + 3 <= j1; j += 3)
            small_block(y, ldy, x, m, k, w, dt, j, 3);
    for (; j < j1; j++)
        small_block(y, ldy, x, m, k, w, dt, j, 1);
}

#define SMALL_CASE(M)                                                                              \
    case M:                                                                                        \
        if (dt == GSAE_DTYPE_BF16)                                                                 \
            small_kernel(y, ldy, x, M, k, w, GSAE_DTYPE_BF16, j0, j1);                             \
        else if (dt == GSAE_DTYPE_F16)                                                             \
            small_kernel(y, ldy, x, M, k, w, GSAE_DTYPE_F16, j0, j1);                              \
        else                                                                                       \
            small_kernel(y, ldy, x, M, k, w, GSAE_DTYPE_F32, j0, j1);                              \
        break;

static void small_columns(float *y, int64_t ldy, const float *x, int64_t m, int64_t k,
                          const void *w, enum gsae_dtype dt, int64_t j0, int64_t j1)
{
    switch (m) {
        SMALL_CASE(1)
        SMALL_CASE(2)
        SMALL_CASE(3)
        SMALL_CASE(4)
        SMALL_CASE(5)
        SMALL_CASE(6)
        SMALL_CASE(7)
        SMALL_CASE(8)
    default:
        GSAE_ASSERT(m >= 1 && m <= MATMUL_SMALL_ROWS);
    }
}
#else
/* Portable form of the same kernel: per output, 16 partial sums over k (element i goes to
 * lane i % 16), then the lanes summed in a fixed order. */
static void small_columns(float *y, int64_t ldy, const float *x, int64_t m, int64_t k,
                          const void *w, enum gsae_dtype dt, int64_t j0, int64_t j1)
{
    size_t es = gsae_dtype_size(dt);
    for (int64_t j = j0; j < j1; j++) {
        const char *wr = (const char *)w + (size_t)j * (size_t)k * es;
        for (int64_t r = 0; r < m; r++) {
            float lane[16] = {0};
            for (int64_t i = 0; i < k; i++) {
                float wv;
                gsae_to_f32(&wv, wr + (size_t)i * es, dt, 1);
                lane[i % 16] += wv * x[r * k + i];
            }
            float s = 0.0f;
            for (int l = 0; l < 16; l++)
                s += lane[l];
            y[r * ldy + j] = s;
        }
    }
}
#endif

static void small_path(float *y, int64_t ldy, const float *x, int64_t m, int64_t k,
                       const struct gsae_tensor *w, int n_threads)
{
    int64_t n = w->shape[0];
#pragma omp parallel num_threads(n_threads) if (m * n * k > 65536)
    {
        int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        int64_t chunk = (n + nt - 1) / nt;
        chunk = (chunk + 11) / 12 * 12; /* whole blocks of weight rows per thread */
        int64_t j0 = t * chunk < n ? t * chunk : n;
        int64_t j1 = j0 + chunk < n ? j0 + chunk : n;
        for (int64_t r0 = 0; r0 < m; r0 += MATMUL_SMALL_ROWS) {
            int64_t mr = m - r0 < MATMUL_SMALL_ROWS ? m - r0 : MATMUL_SMALL_ROWS;
            small_columns(y + r0 * ldy, ldy, x + r0 * k, mr, k, w->data, w->dtype, j0, j1);
        }
    }
}

void matmul_xwt(float *y, int64_t ldy, const float *x, int64_t m, int64_t k,
                const struct gsae_tensor *w, float *tile, int64_t tile_floats, int n_threads)
{
    GSAE_ASSERT(w->n_dims == 2 && w->shape[1] == k && ldy >= w->shape[0]);
    GSAE_ASSERT(w->dtype == GSAE_DTYPE_F32 || w->dtype == GSAE_DTYPE_BF16 ||
                w->dtype == GSAE_DTYPE_F16);
    if (m <= 0) return;
    if (m <= MATMUL_SMALL_ROWS || w->shape[0] * k < MATMUL_SGEMM_MIN_WEIGHT)
        small_path(y, ldy, x, m, k, w, n_threads);
    else
        gemm_path(y, ldy, x, m, k, w, tile, tile_floats);
}
