/* golden_sae.h: the SAE part of `gsae golden`: feature activations, reconstruction, steering,
 * splicing and ablation of a golden case, run through the open pipeline.
 *
 * meta.json says what to compute:
 *   sae.path, sae.format ("npz" | "saelens"), sae.layer    where the SAE is (relative to the case)
 *   steer.feature, steer.max_act, steer.strengths, steer.n_new
 *   ablate.feature (an integer or a list), ablate.positions ("all" or a list of positions)
 * and produces, under the expected file's names:
 *   sae.acts             f32 [T, d_sae]  acts at resid_post[layer] of the prompt
 *   sae.recon            f32 [T, d]      decode(acts)
 *   steer.%+.1f          i32 [n_new]     greedy tokens with x += max_act * strength * W_dec[f]
 *                                        at every position, prompt and generated (KV cache)
 *   splice.logits        f32 [T, V]      resid_post[layer] := decode(encode(x))
 *   ablate.noerr.logits  f32 [T, V]      := decode(acts with the features zeroed)
 *   ablate.err.logits    f32 [T, V]      := that + (x - decode(encode(x)))
 * The float tensors are produced on the stage that owns them and handed to a keep callback
 * (collected on rank 0 by the caller); the steering tokens are known on every rank.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "../io/sae_io.h"
#include "../mpi/dist.h"
#include "../mpi/pipe.h"
#include "../src/sae.h"

struct golden_sae {
    bool enabled; /* meta.json has an "sae" section */
    struct sae_params sae;
    struct sae_info info;
    int64_t layer, n_tok;
    int64_t steer_feature, steer_n_new, n_strengths;
    double steer_max_act;
    double *strengths;     /* (n_strengths) */
    int32_t *steer_tokens; /* (n_strengths, steer_n_new) on every rank */
    int32_t *ablate;       /* (n_ablate) */
    int64_t n_ablate;
    int64_t *positions; /* NULL: all positions */
    int64_t n_positions;
};

/* Where float tensors go: fn copies n floats under name. */
struct golden_sae_keep {
    enum gsae_status (*fn)(void *ctx, const char *name, const float *x, int64_t n,
                           struct gsae_error *err);
    void *ctx;
};

/* Read meta.json's SAE sections and load the SAE, checked against cfg (d_in, layer).
 * Without an "sae" section s->enabled is false and nothing else happens. Local. */
enum gsae_status golden_sae_read(struct golden_sae *s, const char *case_dir,
                                 const struct gemma_config *cfg, int64_t n_tok,
                                 struct gsae_error *err);
void golden_sae_free(struct golden_sae *s);

/* Tokens the steering runs generate (0 when disabled): the pipeline's KV caches must hold
 * n_tok + this many positions. */
int64_t golden_sae_n_new(const struct golden_sae *s);

/* Run the experiments through p on the one-sequence work (the prompt): a spliced prefill
 * that also records the activations, the two ablations, and one greedy generation per
 * steering strength. Every rank of the job calls it with the same arguments. */
enum gsae_status golden_sae_run(struct golden_sae *s, struct pipe *p, const struct pipe_work *work,
                                const struct golden_sae_keep *keep, struct gsae_error *err);

/* Rank 0: the tensor called name if it is one of the SAE tensors above, from the collected
 * blobs (all) or the steering tokens. */
bool golden_sae_lookup(const struct golden_sae *s, const char *name, const struct dist_blob *all,
                       int64_t n_all, int64_t n_vocab, struct gsae_tensor *t);
