/* attn.h: causal grouped-query attention of one sequence's new rows against its KV cache.
 *
 * Scores and the weighted sum of values are OpenBLAS sgemm calls per head and per tile of
 * query rows, reading keys and values in place from the cache through leading-dimension
 * strides; the soft-cap, causal/sliding-window mask and softmax run in between, row by row.
 * A query tile only multiplies against the keys some row of the tile can see, so the masked
 * upper triangle and the keys beyond a sliding window are mostly skipped.
 *
 * A single new token (decoding) uses vectorised dot products and weighted sums per head
 * instead, threaded over heads.
 *
 * A row's result depends on its own query, the cache contents and the tiling of its
 * sequence's rows (fixed by pos0 and n_tok), never on other sequences in the batch.
 */
#pragma once

#include <stdint.h>

#include "gemm_dnnl.h"
#include "gsae.h"

/* Query rows per tile (bounds the scores buffer: ATTN_Q_TILE x context floats). */
#define ATTN_Q_TILE 256

struct attn_shape {
    int64_t n_heads, n_kv_heads, d_head;
    float scale;    /* multiplies q.k (query_pre_attn_scalar^-0.5) */
    float softcap;  /* cap * tanh(s / cap) before masking; 0 disables */
    int64_t window; /* key j visible to query i when 0 <= i - j < window; 0 = global */
};

/* Floats of scratch attn_sequence needs for batches of max_rows rows, max_seq positions and
 * n_heads query heads. */
int64_t attn_scratch_floats(int64_t max_rows, int64_t max_seq, int64_t n_heads);

/* out rows (n_tok, n_heads*d_head), row stride ld_out, from q rows (n_tok, n_heads*d_head),
 * stride ld_q, at positions pos0 .. pos0+n_tok-1. k and v point at position 0 of this
 * sequence's cache for this layer, (max_seq, n_kv_heads*d_head) with row stride ld_kv; they
 * must already hold positions 0 .. pos0+n_tok-1 (RoPE applied to keys). scores is scratch of
 * attn_scratch_floats(n_tok, pos0 + n_tok, n_heads) floats or more. Threads: OpenBLAS's for
 * several rows, n_threads OpenMP threads over heads for one. */
void attn_sequence(float *out, int64_t ld_out, const float *q, int64_t ld_q, const float *k,
                   const float *v, int64_t ld_kv, int64_t n_tok, int64_t pos0,
                   const struct attn_shape *shape, float *scores, int n_threads);

/* bf16 elements (2 bytes) of work attn_sequence_bf16 needs for max_rows rows and max_seq
 * positions, with qd = n_heads*d_head, kvd = n_kv_heads*d_head and up to n_threads threads. */
int64_t attn_bf16_elems(int64_t max_rows, int64_t max_seq, int64_t qd, int64_t kvd, int64_t d_head,
                        int n_threads);

/* attn_sequence for several new tokens in bf16 compute: the queries, the visible keys and
 * values and the softmax probabilities are rounded to bf16 and the two products per head and
 * query tile run through oneDNN with f32 accumulation; scale, soft-cap, masks and softmax are
 * f32 as in attn_sequence. Each head's operands are first copied into dense bf16 blocks:
 * oneDNN's brgemm kernels (AMX, AVX512-BF16) take only unit-stride rows and fall back to a far
 * slower GEMM otherwise. Heads run in parallel on min(n_threads, gemm_dnnl_max_threads(g))
 * OpenMP threads, each calling oneDNN alone (gemm_dnnl_bf16_on), so the small per-head
 * products do not pay a thread team's synchronisation each, and a head's bits do not depend
 * on the thread count. work holds attn_bf16_elems(n_tok, pos0 + n_tok, ..., n_threads)
 * elements and is 4-byte aligned. Fails only when oneDNN does (primitive creation). */
enum gsae_status attn_sequence_bf16(float *out, int64_t ld_out, const float *q, int64_t ld_q,
                                    const float *k, const float *v, int64_t ld_kv, int64_t n_tok,
                                    int64_t pos0, const struct attn_shape *shape, uint16_t *work,
                                    struct gemm_dnnl *g, int n_threads, struct gsae_error *err);
