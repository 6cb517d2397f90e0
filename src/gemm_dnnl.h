/* gemm_dnnl.h: bf16 x bf16 -> f32 matrix products through oneDNN's matmul primitive.
 *
 * The bf16 compute mode (gemma.h) runs its GEMMs here: y = bf16(x) W^T, with x and y in f32,
 * W a Hugging Face Linear weight (out_features, in_features) and f32 accumulation. oneDNN picks
 * its fastest kernel for the CPU (brgemm with AMX or AVX512-BF16 where present).
 *
 * Weights are packed once (gemm_dnnl_pack) into the blocked layout oneDNN's kernel wants: bf16
 * weights are reordered as stored, f32 and f16 weights are rounded to bf16 (nearest even)
 * first. The packed copy costs 2 bytes per weight element, owned by the context; the source
 * tensor is not read again, so a checkpoint mapping's pages may be dropped by the kernel.
 * Packing is worth it: at the 2B/9B projection shapes the packed matmul runs ~1.3x faster
 * than one reading the row-major weight and reordering blocks on every call.
 *
 * Products run in tiles of 64 rows by 256 output columns (weights are packed slice by slice),
 * each tile on one OpenMP thread running oneDNN alone, with its own stream, scratchpad and
 * dense output buffer. Primitives are created once per tile shape and cached in the context (a
 * fixed number of entries, least recently used replaced), as are bf16 copies of the inputs in
 * a scratch buffer sized at init. Threads: the calling thread's omp_get_max_threads(), which
 * jobs set to the rank's BLAS threads (dist_threads_apply), at most the count at init.
 *
 * Results are deterministic and do not depend on the thread count (the tiling follows the
 * shape only; oneDNN's own threading would split the summation by threads); a row's bits may
 * depend on the number of rows in the call (its tile's row count picks the kernel).
 */
#pragma once

#include <stdint.h>

#include "gsae.h"
#include "tensor.h"

struct gemm_dnnl; /* opaque: engine, stream, packed weights, primitive cache */

/* Create a context for inputs of at most max_rows x max_k elements (the bf16 input scratch)
 * and attention products of at most max_rows x max_keys scores. *g is caller-owned; free with
 * gemm_dnnl_free. Fails with GSAE_EINTERNAL when oneDNN has no CPU engine. */
enum gsae_status gemm_dnnl_init(struct gemm_dnnl **g, int64_t max_rows, int64_t max_k,
                                struct gsae_error *err);

/* Release the context, its packed weights and primitives; *g becomes NULL. Safe on NULL. */
void gemm_dnnl_free(struct gemm_dnnl **g);

/* Pack w (n, k), F32, BF16 or F16, for products with about m_hint rows (picks the layout).
 * Packing a tensor whose data pointer is already packed does nothing. w->data may be freed or
 * unmapped afterwards only if it is never passed again. */
enum gsae_status gemm_dnnl_pack(struct gemm_dnnl *g, const struct gsae_tensor *w, int64_t m_hint,
                                struct gsae_error *err);

/* Bytes of packed weights held by the context. */
size_t gemm_dnnl_packed_bytes(const struct gemm_dnnl *g);

/* y (m, n) = bf16(x) (m, k) W^T, y with row stride ldy >= n; W must have been packed. */
enum gsae_status gemm_dnnl_xwt(struct gemm_dnnl *g, float *y, int64_t ldy, const float *x,
                               int64_t m, int64_t k, const struct gsae_tensor *w,
                               struct gsae_error *err);

/* Strided bf16 product without packing, for attention: c (m, n) = alpha * a (m, k) b, where
 * a is bf16 with row stride lda, b is bf16 (k, n) row-major with row stride ldb when !b_trans,
 * or b^T stored as (n, k) with row stride ldb when b_trans; c is f32 with row stride ldc. */
enum gsae_status gemm_dnnl_bf16(struct gemm_dnnl *g, float *c, int64_t ldc, const uint16_t *a,
                                int64_t lda, const uint16_t *b, int64_t ldb, int b_trans, int64_t m,
                                int64_t n, int64_t k, float alpha, struct gsae_error *err);

/* Concurrent use, for independent products run from an OpenMP parallel region (each thread
 * then runs oneDNN on itself alone): gemm_dnnl_bf16_prepare creates the primitive of a shape
 * (call it outside the region; not thread-safe), after which gemm_dnnl_bf16_on runs the same
 * product as gemm_dnnl_bf16 on thread's own stream, thread < gemm_dnnl_max_threads (the
 * OpenMP thread count when the context was created). Different threads may run at once; the
 * shape must have been prepared, and the cache must not change in between. */
int gemm_dnnl_max_threads(const struct gemm_dnnl *g);
enum gsae_status gemm_dnnl_bf16_prepare(struct gemm_dnnl *g, int64_t lda, int64_t ldb, int b_trans,
                                        int64_t ldc, int64_t m, int64_t n, int64_t k, float alpha,
                                        struct gsae_error *err);
enum gsae_status gemm_dnnl_bf16_on(struct gemm_dnnl *g, int thread, float *c, int64_t ldc,
                                   const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
                                   int b_trans, int64_t m, int64_t n, int64_t k, float alpha,
                                   struct gsae_error *err);

/* Round n floats to bf16 (nearest even) into dst. */
void gemm_dnnl_round(uint16_t *dst, const float *src, int64_t n);
