/* ops.h: element-wise and row-wise kernels of the Gemma-2 forward pass, in f32.
 *
 * Row-major throughout. Every kernel treats each row independently with a fixed order of
 * operations, so a row's result never depends on the other rows of the batch or on how many
 * threads run (rows are split statically between OpenMP threads).
 */
#pragma once

#include <stdint.h>

/* y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w1, for n_rows rows of d floats. w1 holds (1 + w):
 * Gemma stores RMSNorm weights as offsets from 1. y may equal x. */
void ops_rmsnorm(float *y, const float *x, const float *w1, int64_t n_rows, int64_t d, float eps,
                 int n_threads);

/* x := cap * tanh(x / cap) for n floats; cap <= 0 leaves x unchanged. */
void ops_softcap(float *x, int64_t n, float cap);

/* gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), PyTorch's approximate="tanh". */
float ops_gelu_tanh(float x);

/* gate := gelu_tanh(gate) * up, for n_rows rows of n floats each (contiguous). */
void ops_gelu_mul(float *gate, const float *up, int64_t n_rows, int64_t n, int n_threads);

/* Rotary embedding, Hugging Face rotate_half convention: within each head of d_head floats the
 * pair (i, i + d_head/2) is rotated by angle pos * theta^(-2i/d_head). x holds n_rows rows of
 * n_heads heads (row stride ld floats); row r is at position pos0 + r. */
void ops_rope(float *x, int64_t n_rows, int64_t ld, int64_t n_heads, int64_t d_head, int64_t pos0,
              float theta);

/* In-place softmax of one row of n floats (-INFINITY entries get probability 0). At least one
 * entry must be finite. */
void ops_softmax(float *x, int64_t n);

/* log(sum_i exp(x[i])) over n >= 1 logits, in double: the max, then the sum of exp(x[i] - max)
 * in index order (the log-softmax of x[i] is x[i] minus this). Deterministic; local. */
double ops_log_sum_exp(const float *x, int64_t n);
