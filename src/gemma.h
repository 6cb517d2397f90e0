/* gemma.h: the Gemma-2 decoder: configuration, weight views, and the forward pass.
 *
 * Semantics follow the Hugging Face checkpoint and Google's reference implementation (see the
 * project's design notes): embedding x sqrt(d_model) in f32; per layer
 *     h  = x + post_attn_norm(attn(input_norm(x)))
 *     x' = h + post_ffw_norm(mlp(pre_ffw_norm(h)))
 * RMSNorm x / sqrt(mean(x^2) + eps) * (1 + w) in f32; GQA attention with RoPE (rotate-half),
 * scores scaled by query_pre_attn_scalar^-1/2 and soft-capped before the causal mask, even
 * layers restricted to a sliding window; MLP down(gelu_tanh(gate(x)) * up(x)); final RMSNorm,
 * tied unembedding, final soft-cap.
 *
 * Compute is f32 by default (GEMMA_COMPUTE_F32, the parity mode). Weights are borrowed views
 * (usually into a checkpoint mmap) in F32, BF16 or F16; in f32 mode they are converted tile by
 * tile as a GEMM consumes them, never wholesale. In bf16 mode (GEMMA_COMPUTE_BF16, set by
 * gemma_state_set_compute) every GEMM input is rounded to bf16 and multiplied by the weights in
 * bf16 with f32 accumulation through oneDNN (gemm_dnnl.h): the seven projections, the
 * unembedding and, for prefill (more than one new token of a sequence), attention's QK^T and
 * PV products. Everything else (embedding, norms, RoPE, soft-caps, masks, softmax, GELU,
 * residual stream, KV cache, one-token attention) stays f32.
 *
 * The forward pass runs a half-open range of layers [layer_begin, layer_end) over a batch of
 * rows that may come from several sequences, so a pipeline stage can run its own slice.
 * After each layer it publishes "resid_post" through struct gemma_hook: the subscriber may
 * read the rows or replace them in place. The model knows nothing about SAEs.
 *
 * Determinism: bit-identical run to run with the same thread counts. A row's result does not
 * depend on the other sequences of its batch as long as the batch's row count selects the same
 * projection path (more than MATMUL_SMALL_ROWS rows: sgemm; fewer: the streaming kernel; see
 * matmul.h) and its own sequence arrives in the same chunks (pos0, n_tok), which fix the
 * attention tiling. OpenBLAS may pick other kernels for another OPENBLAS_NUM_THREADS, so
 * compare bits only between runs with equal thread counts. The same holds in bf16 mode, where
 * oneDNN fixes each product's summation order by its shape and thread count (so a row's bits
 * may depend on the batch's row count); pipeline stages that see the same micro-batches give
 * the same bits on any number of ranks (tests/mpi/t_bf16_ranks.sh).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "gsae.h"
#include "tensor.h"

struct gemma_config {            /* immutable once validated */
    int64_t n_layers;            /* num_hidden_layers */
    int64_t d_model;             /* hidden_size */
    int64_t n_heads;             /* num_attention_heads */
    int64_t n_kv_heads;          /* num_key_value_heads; n_heads % n_kv_heads == 0 */
    int64_t d_head;              /* head_dim */
    int64_t d_ff;                /* intermediate_size */
    int64_t n_vocab;             /* vocab_size */
    int64_t window_local;        /* sliding_window: even layers attend to i-j < window */
    int64_t max_pos;             /* max_position_embeddings */
    float query_pre_attn_scalar; /* scores scaled by query_pre_attn_scalar^-0.5 */
    float softcap_attn;          /* attn_logit_softcapping (50); 0 disables */
    float softcap_final;         /* final_logit_softcapping (30); 0 disables */
    float rms_eps;               /* rms_norm_eps */
    float rope_theta;            /* rope_theta (10000) */
    int32_t bos_id, eos_id, pad_id;
};

/* Canonical Gemma-2 configurations (real dimensions) and a tiny one for tests. */
struct gemma_config gemma_config_2b(void);
struct gemma_config gemma_config_9b(void);
struct gemma_config gemma_config_27b(void);
struct gemma_config gemma_config_tiny(void);

/* Check internal consistency (positive sizes, head divisibility, finite scalars). The message
 * names the field (HF spelling) and the value found. */
enum gsae_status gemma_config_validate(const struct gemma_config *c, struct gsae_error *err);

/* Weights of one layer; shapes as stored by Hugging Face (out_features, in_features). */
struct gemma_layer_weights {
    struct gsae_tensor attn_q;         /* (n_heads*d_head, d_model)    self_attn.q_proj */
    struct gsae_tensor attn_k;         /* (n_kv_heads*d_head, d_model) self_attn.k_proj */
    struct gsae_tensor attn_v;         /* (n_kv_heads*d_head, d_model) self_attn.v_proj */
    struct gsae_tensor attn_o;         /* (d_model, n_heads*d_head)    self_attn.o_proj */
    struct gsae_tensor ffn_gate;       /* (d_ff, d_model)              mlp.gate_proj */
    struct gsae_tensor ffn_up;         /* (d_ff, d_model)              mlp.up_proj */
    struct gsae_tensor ffn_down;       /* (d_model, d_ff)              mlp.down_proj */
    struct gsae_tensor norm_attn_in;   /* (d_model) input_layernorm */
    struct gsae_tensor norm_attn_post; /* (d_model) post_attention_layernorm */
    struct gsae_tensor norm_ffn_pre;   /* (d_model) pre_feedforward_layernorm */
    struct gsae_tensor norm_ffn_post;  /* (d_model) post_feedforward_layernorm */
};

/* Borrowed views. layers has n_layers entries indexed by absolute layer; a layer this process
 * does not own has all data pointers NULL. embed is needed for the embedding lookup (first
 * stage) and the tied unembedding (last stage); NULL elsewhere. */
struct gemma_weights {
    struct gsae_tensor embed;           /* (n_vocab, d_model) model.embed_tokens */
    struct gsae_tensor norm_final;      /* (d_model) model.norm */
    struct gemma_layer_weights *layers; /* (n_layers) */
};

/* A batch: n_seq sequences, sequence s contributing rows [row0[s], row0[s] + n_tok[s]) of the
 * activation matrix at positions pos0[s] .. pos0[s] + n_tok[s] - 1, cached in KV slot slot[s].
 * Rows of one sequence are contiguous and sequences follow each other (row0 is a prefix sum). */
struct gemma_batch {
    int64_t n_seq;
    int64_t n_rows;       /* sum of n_tok */
    const int64_t *slot;  /* (n_seq) */
    const int64_t *pos0;  /* (n_seq) */
    const int64_t *n_tok; /* (n_seq) */
};

/* Hook on named activations. Called after each layer L with name "resid_post" on x, the
 * (n_rows, d_model) activations of the batch; the callee may modify x in place (replace).
 * A non-OK return stops the forward pass with that status. */
struct gemma_hook {
    enum gsae_status (*fn)(void *ctx, const char *name, int64_t layer, float *x,
                           const struct gemma_batch *batch, int64_t d_model,
                           struct gsae_error *err);
    void *ctx;
};

/* Wall-clock seconds the forward pass spent by part, accumulated across calls (benchmarks). */
struct gemma_timing {
    double proj;  /* the seven projections and the unembedding (sgemm or decode kernel,
                   * including bf16/f16 conversion) */
    double attn;  /* RoPE, KV-cache append, scores, softmax, weighted values */
    double other; /* RMSNorms, GELU, residual adds, soft-cap of logits */
};

/* Arithmetic of the GEMMs (see the top of this file). */
enum gemma_compute {
    GEMMA_COMPUTE_F32 = 0, /* f32 everywhere; the default and the reference */
    GEMMA_COMPUTE_BF16,    /* bf16 GEMM inputs and weights, f32 accumulation (oneDNN) */
};

/* "f32" or "bf16". */
const char *gemma_compute_name(enum gemma_compute c);

/* Parse "f32" or "bf16"; GSAE_EINVAL naming the value otherwise. */
enum gsae_status gemma_compute_parse(const char *s, enum gemma_compute *c, struct gsae_error *err);

struct gemm_dnnl;

/* Everything the forward pass writes: the KV caches of n_slots sequences for the owned layers
 * and the scratch buffers for up to max_rows rows. Sized once by gemma_state_init; the
 * forward never allocates. */
struct gemma_state {
    struct gemma_config cfg;
    int64_t layer_begin, layer_end; /* layers with a KV cache here, half-open */
    int64_t n_slots, max_seq, max_rows;
    float *k_cache; /* (layer_end-layer_begin, n_slots, max_seq, n_kv_heads*d_head) */
    float *v_cache; /* same shape as k_cache */
    float *scratch; /* activations and converted weight tiles; see gemma.c */
    size_t scratch_floats;
    int n_threads;               /* threads for non-BLAS loops (norms, decode GEMV, attention) */
    struct gemma_timing *timing; /* when non-NULL, the forward adds its time per part here */
    enum gemma_compute compute;  /* GEMMA_COMPUTE_F32 unless gemma_state_set_compute says */
    struct gemm_dnnl *dnnl;      /* bf16: packed weights and matmul primitives; else NULL */
    uint16_t *attn_bf16;         /* bf16: one sequence's q, k, v and probabilities (attn.h) */
};

/* Allocate state for layers [layer_begin, layer_end), n_slots KV caches of max_seq positions
 * each, and batches of at most max_rows rows. Caller owns; release with gemma_state_free. */
enum gsae_status gemma_state_init(struct gemma_state *s, const struct gemma_config *cfg,
                                  int64_t layer_begin, int64_t layer_end, int64_t n_slots,
                                  int64_t max_seq, int64_t max_rows, struct gsae_error *err);
void gemma_state_free(struct gemma_state *s);

/* Switch s to compute mode c for the weights w. For GEMMA_COMPUTE_BF16: pack (gemm_dnnl.h) the
 * projections of the state's layers and, when unembed, w->embed for the logits, costing 2
 * bytes per weight element packed (for a whole 9B model ~18 GB; a stage holds only its own
 * layers); w's data must stay valid and unchanged while s is in use. Call after
 * gemma_state_init and gemma_weights_check, before the first forward (a second call
 * replaces the first). Local. */
enum gsae_status gemma_state_set_compute(struct gemma_state *s, const struct gemma_weights *w,
                                         enum gemma_compute c, bool unembed,
                                         struct gsae_error *err);

/* Check that embed and norm_final (when need_embed) and the weights of layers
 * [layer_begin, layer_end) are loaded, in F32, BF16 or F16, with the shapes cfg implies. The
 * message names the layer and the tensor (HF name), the shape found and the one expected. */
enum gsae_status gemma_weights_check(const struct gemma_config *cfg, const struct gemma_weights *w,
                                     int64_t layer_begin, int64_t layer_end, bool need_embed,
                                     struct gsae_error *err);

/* Bytes gemma_state_init would allocate for these sizes (for plans and start-up reports). */
size_t gemma_state_bytes(const struct gemma_config *cfg, int64_t n_layers_here, int64_t n_slots,
                         int64_t max_seq, int64_t max_rows);

/* x[i] = embed[tokens[i]] * sqrt(d_model), for n tokens; x is (n, d_model).
 * Fails with GSAE_ERANGE on a token id outside [0, n_vocab). */
enum gsae_status gemma_embed(const struct gemma_config *cfg, const struct gemma_weights *w,
                             const int32_t *tokens, int64_t n, float *x, struct gsae_error *err);

/* Run layers [layer_begin, layer_end) (within the state's range) on x, the batch's
 * (n_rows, d_model) activations, in place; appends keys and values to each sequence's cache. */
enum gsae_status gemma_forward(const struct gemma_weights *w, struct gemma_state *s,
                               const struct gemma_batch *batch, float *x, int64_t layer_begin,
                               int64_t layer_end, const struct gemma_hook *hook,
                               struct gsae_error *err);

/* Final RMSNorm, tied unembedding and final soft-cap: logits (n_rows, n_vocab) from x
 * (n_rows, d_model). x is not modified. */
enum gsae_status gemma_logits(const struct gemma_weights *w, struct gemma_state *s, const float *x,
                              int64_t n_rows, float *logits, struct gsae_error *err);
