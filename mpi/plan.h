/* plan.h: how the layers of a Gemma-2 model are split into pipeline stages.
 *
 * A plan is pure data, computed identically on every rank from the model configuration and the
 * options (no communication): n_ranks ranks form n_replicas = n_ranks / n_stages replicas of an
 * n_stages-stage pipeline. Stage k runs the contiguous, half-open layer range
 * [layer_begin, layer_end); the ranges tile [0, n_layers) in order. The first stage also does
 * the embedding lookup; the last stage also does the final norm and the (tied) unembedding when
 * logits are wanted. A truncated plan (n_layers smaller than the model's) runs layers
 * 0 .. n_layers-1 only, for work that needs only resid_post.(n_layers-1): the last stage owns
 * that layer and no rank touches a later one.
 *
 * Automatic plans balance an estimated cost (FLOPs per token) and minimise the most expensive
 * stage. Every stage owns at least one layer, except that the last stage of a plan with logits
 * may own only the final norm and unembedding (at a 256000-token vocabulary the unembedding
 * costs as much as several layers). So a model of L layers has at most L stages, or L + 1 with
 * logits; more are refused with a message saying so.
 *
 * Explicit plans come from a spec "0-6,7-13,14-20" (inclusive ranges, one per stage).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/gemma.h"
#include "../src/gsae.h"
#include "../src/tensor.h"

/* One pipeline stage: what it computes and what it maps. */
struct plan_stage {
    int64_t layer_begin, layer_end; /* half-open; may be empty only for an unembedding stage */
    bool has_embed;                 /* embedding lookup (first stage) */
    bool has_unembed;               /* final norm + tied unembedding (last stage, with logits) */
    size_t weight_bytes;            /* bytes of the checkpoint tensors this stage maps */
    double flops_per_token;         /* estimated forward FLOPs per token on this stage */
};

struct plan_options {
    int n_ranks;           /* ranks in the job (>= 1) */
    int n_stages;          /* 0: n_ranks */
    int64_t n_layers;      /* layers to run, 0: all of the model's (or the spec's end) */
    bool with_logits;      /* the last stage computes final norm + unembedding */
    enum gsae_dtype dtype; /* dtype of the stored weights (for byte counts) */
    int64_t ctx_len;       /* typical sequence length for attention costs, 0: 1024 */
    const char *layers;    /* explicit spec "0-6,7-13", or NULL for a balanced plan */
};

struct plan {
    int n_ranks, n_stages, n_replicas;
    int64_t n_layers; /* layers run: 0 .. n_layers-1 */
    bool with_logits;
    struct plan_stage *stages; /* (n_stages), owned */
};

/* Compute a plan. Local and deterministic: every rank computes the same plan from the same
 * inputs. Fails with GSAE_EINVAL (message names the option, what was found and what is
 * possible) on a bad spec, n_ranks not a multiple of n_stages, or too many stages.
 * The caller owns *p; release with plan_free (also after a failure). */
enum gsae_status plan_make(struct plan *p, const struct gemma_config *cfg,
                           const struct plan_options *opt, struct gsae_error *err);

/* Release the plan's memory and zero it; safe on a zeroed struct and twice. */
void plan_free(struct plan *p);

/* The stage that runs layer, or -1 when the plan does not run it. */
int plan_stage_of_layer(const struct plan *p, int64_t layer);

/* Stage and replica of a rank: rank = replica * n_stages + stage. */
int plan_stage_of_rank(const struct plan *p, int rank);
int plan_replica_of_rank(const struct plan *p, int rank);

/* Bytes of one layer's tensors (projections and four norms) stored as dtype. */
size_t plan_layer_bytes(const struct gemma_config *cfg, enum gsae_dtype dtype);

/* Estimated FLOPs per token of one layer at a sequence length ctx_len (projections, MLP and
 * attention over the average number of keys a query sees, capped by the sliding window on
 * even layers). */
double plan_layer_flops(const struct gemma_config *cfg, int64_t layer, int64_t ctx_len);

/* Estimated FLOPs per token of the final norm and unembedding. */
double plan_unembed_flops(const struct gemma_config *cfg);
