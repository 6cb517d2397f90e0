/* matmul.h: y = x W^T with W a Hugging Face Linear weight (out_features, in_features) in F32,
 * BF16 or F16, x and y in f32.
 *
 * Two paths, chosen by the number of rows m (and, for tiny weights of fewer than 2^17
 * elements, always the second; see matmul.c):
 *  - m > MATMUL_SMALL_ROWS (prefill): OpenBLAS sgemm. F32 weights are used in place; BF16/F16
 *    weights are converted to f32 one tile of rows at a time into a caller-supplied scratch
 *    buffer, right before the sgemm that consumes the tile (never the whole matrix).
 *  - m <= MATMUL_SMALL_ROWS (decode): a GEMV-like kernel that streams each weight row once for
 *    all m rows of x, converting on the fly, with OpenMP threads over output columns.
 * Both paths give every output element a fixed summation order that depends only on k and the
 * path, not on m or on the other rows of x: a row's result is bit-identical whether it is
 * computed alone or in a larger batch that selects the same path (sgemm splits m and n
 * between threads, never k).
 */
#pragma once

#include <stdint.h>

#include "tensor.h"

#define MATMUL_SMALL_ROWS 8

/* Floats of scratch to give matmul_xwt for weights with in_features <= k_max and at most
 * weight_floats_max elements: room for the conversion tiles (32 MiB, or 512 rows when that is
 * more; never more than the largest weight). */
int64_t matmul_tile_floats(int64_t k_max, int64_t weight_floats_max);

/* y (m, n) = x (m, k) W^T, where W is (n, k) and y has row stride ldy >= n. tile is scratch of
 * tile_floats >= k floats (unused for F32 weights); n_threads runs the small-m kernel (sgemm
 * uses OpenBLAS's own threads; the tile conversion runs on the calling thread). W's dtype must be F32, BF16 or F16 and
 * its shape (n, k): callers check this once at load time. */
void matmul_xwt(float *y, int64_t ldy, const float *x, int64_t m, int64_t k,
                const struct gsae_tensor *w, float *tile, int64_t tile_floats, int n_threads);

/* Convert rows [row0, row0 + n_rows) of a (., k) weight to f32 at dst (n_rows * k floats). */
void matmul_rows_to_f32(float *dst, const struct gsae_tensor *w, int64_t row0, int64_t n_rows,
                        int64_t k, int n_threads);
