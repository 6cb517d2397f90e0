/* generate.h: prompt prefill and token-by-token decoding on one process.
 *
 * The prompt runs through all layers in chunks of at most the state's max_rows rows (GEMM
 * path), filling one KV-cache slot; then each new token is embedded and run as a single row
 * against that cache (decode path). The hook is passed to every forward call, so an
 * intervention at resid_post acts on prompt and generated positions alike.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "gemma.h"
#include "rng.h"
#include "sampler.h"

struct generate_params {
    int64_t max_new;  /* tokens to generate at most (>= 0) */
    int64_t slot;     /* KV-cache slot to use; its earlier contents are overwritten */
    bool stop_at_eos; /* stop after emitting cfg.eos_id */
};

/* Output buffers, all caller-owned. */
struct generate_out {
    int32_t *tokens;      /* (max_new) generated ids */
    float *logits;        /* (max_new, n_vocab) logits that chose each token, or NULL */
    float *prompt_logits; /* (n_prompt, n_vocab) logits at every prompt position, or NULL */
    int64_t n_new;        /* tokens generated (< max_new when eos stopped it) */
};

/* Prefill prompt (n_prompt >= 1 ids) and generate up to gp->max_new tokens with sampler sm
 * (rng used unless greedy). s must hold all layers and max_seq >= n_prompt + max_new - 1.
 * Allocates its own activation buffers. Errors: GSAE_EINVAL/ERANGE for sizes, token ids or
 * slot out of range, GSAE_ENOMEM, or whatever the hook returns. */
enum gsae_status generate_run(const struct gemma_weights *w, struct gemma_state *s,
                              const int32_t *prompt, int64_t n_prompt,
                              const struct generate_params *gp, struct sampler *sm, struct rng *rng,
                              const struct gemma_hook *hook, struct generate_out *out,
                              struct gsae_error *err);
