/* backward.h: gradients of a scalar metric of the final logits with respect to the residual
 * stream of Gemma-2, layer by layer in reverse (activations only, never weights).
 *
 * The forward semantics are those of gemma.h. The backward goes through the final soft-cap,
 * the final RMSNorm (1 + w) and the tied unembedding (the "head"), then per layer through the
 * post/pre RMSNorms (1 + w), the MLP down(gelu_tanh(gate(x)) * up(x)) and the attention block:
 * q/k/v projections, RoPE (rotate-half), scores scaled by query_pre_attn_scalar^-1/2, soft-cap,
 * causal and sliding-window masks (even layers), softmax, GQA, o_proj.
 *
 * Memory: activations are recomputed per layer from the layer's saved input. A state for
 * layers [layer_begin, layer_end) and max_rows rows keeps
 *   saved inputs    (layer_end - layer_begin) * d_model floats per token,
 *   one layer's working set   (7 d_model + 3 n_heads*d_head + 4 n_kv_heads*d_head + 3 d_ff)
 *                   floats per token, plus 3 * min(max_rows, ATTN_Q_TILE) * max_rows floats
 *                   of attention scores and one weight-conversion tile (matmul.h),
 *   with the head:  HEAD_ROWS * (n_vocab + 2 d_model) floats.
 * gemma_bwd_bytes gives the exact figure. Nothing is allocated after gemma_bwd_init.
 *
 * One sequence of n rows at positions 0 .. n-1 (a prompt prefilled in one piece). Because
 * attention is causal, rows after the last row the metric reads have zero gradient; a caller may
 * run the backward over the first n' <= n rows only (gemma_metric_rows gives n').
 *
 * A pipeline stage owning layers [b, e) records its layer inputs during the forward pass
 * (gemma_bwd_save for the stage's input, gemma_bwd_hook for the rest), receives
 * dM/d(resid_post[e-1]) from the next stage (or computes it with gemma_bwd_head on the last
 * stage), runs gemma_bwd_layers over [b, e) and hands dM/d(input of layer b) =
 * dM/d(resid_post[b-1]) to the previous stage. Results depend only on the rows and the weights,
 * not on the stage split: the same layers do the same arithmetic wherever they run.
 *
 * Threads: OpenBLAS's for the sgemm calls, n_threads OpenMP threads for the row loops.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "gemma.h"
#include "gsae.h"

/* Logit rows the head processes at once. */
#define GEMMA_BWD_HEAD_ROWS 32

enum gemma_metric_kind {
    GEMMA_METRIC_LOGIT_DIFF,    /* logits[position, target] - logits[position, baseline] */
    GEMMA_METRIC_ANSWER_LOGPROB /* sum over p in [first, last] of
                                 * log_softmax(logits[p - 1])[tokens[p]] */
};

/* A scalar metric of the final (soft-capped) logits of one sequence. */
struct gemma_metric {
    enum gemma_metric_kind kind;
    int64_t position;         /* logit_diff: the row */
    int32_t target, baseline; /* logit_diff: token ids */
    int64_t first, last;      /* answer_logprob: answer positions, inclusive, first >= 1 */
    const int32_t *tokens;    /* answer_logprob: the sequence's tokens (at least last + 1) */
};

/* Check the metric against a sequence of n rows and a vocabulary of n_vocab: GSAE_ERANGE with
 * the offending field named. */
enum gsae_status gemma_metric_check(const struct gemma_metric *m, int64_t n, int64_t n_vocab,
                                    struct gsae_error *err);

/* Rows the metric depends on: 1 + the last row whose logits it reads. */
int64_t gemma_metric_rows(const struct gemma_metric *m);

struct gemma_bwd {
    struct gemma_config cfg;
    int64_t layer_begin, layer_end, max_rows;
    bool head;       /* room for gemma_bwd_head */
    int64_t n_saved; /* rows recorded by the last forward (gemma_bwd_save / hook) */
    float *inputs;   /* (layer_end - layer_begin, max_rows, d_model) input of each layer */
    float *scratch;  /* working set; see backward.c */
    size_t scratch_floats;
    int n_threads; /* OpenMP threads for row loops (default 1) */
};

/* Bytes gemma_bwd_init allocates for these sizes. */
size_t gemma_bwd_bytes(const struct gemma_config *cfg, int64_t n_layers_here, int64_t max_rows,
                       bool head);

/* State for the backward over layers [layer_begin, layer_end) (may be empty) of sequences of at
 * most max_rows rows; head: also the final norm/unembedding/soft-cap. Caller owns. */
enum gsae_status gemma_bwd_init(struct gemma_bwd *b, const struct gemma_config *cfg,
                                int64_t layer_begin, int64_t layer_end, int64_t max_rows, bool head,
                                struct gsae_error *err);
void gemma_bwd_free(struct gemma_bwd *b);

/* Record x (n, d_model) as the input of layer (within the state's range). */
enum gsae_status gemma_bwd_save(struct gemma_bwd *b, int64_t layer, const float *x, int64_t n,
                                struct gsae_error *err);

/* A gemma_hook (ctx: the struct gemma_bwd) that records resid_post[L] as the input of layer
 * L + 1 when that is in the state's range. The batch must be one sequence at position 0. */
enum gsae_status gemma_bwd_hook(void *ctx, const char *name, int64_t layer, float *x,
                                const struct gemma_batch *batch, int64_t d_model,
                                struct gsae_error *err);

/* Forward over the state's layers on x (n, d_model) in place with the KV state fs (slot 0,
 * positions 0 .. n-1), recording every layer input. */
enum gsae_status gemma_bwd_forward(const struct gemma_weights *w, struct gemma_bwd *b,
                                   struct gemma_state *fs, float *x, int64_t n,
                                   struct gsae_error *err);

/* The metric of the final residual stream x (n, d_model) and g (n, d_model) = dM/dx (zero on
 * rows the metric does not read). *value is accumulated in double. Needs head. */
enum gsae_status gemma_bwd_head(const struct gemma_weights *w, struct gemma_bwd *b, const float *x,
                                int64_t n, const struct gemma_metric *m, double *value, float *g,
                                struct gsae_error *err);

/* g (n, d_model): on entry dM/d(output of layer layer_end - 1), on return dM/d(input of layer
 * layer_begin), for the first n rows (n <= the rows recorded). [layer_begin, layer_end) must lie
 * within the state's range and have its inputs recorded. */
enum gsae_status gemma_bwd_layers(const struct gemma_weights *w, struct gemma_bwd *b, float *g,
                                  int64_t n, int64_t layer_begin, int64_t layer_end,
                                  struct gsae_error *err);

/* The metric from full final logits (n, n_vocab) of the sequence, in double (the forward's value,
 * for checks). The metric must pass gemma_metric_check. */
double gemma_metric_eval(const struct gemma_metric *m, const float *logits, int64_t n_vocab);
