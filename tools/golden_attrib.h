/* golden_attrib.h: the attribution part of `gsae golden`: metric gradients at the SAE's layer
 * and feature attribution, through the pipeline in reverse (mpi/pipe_attrib.h).
 *
 * meta.json's `attribute.metrics` says what to compute:
 *   logit_diff      {target, baseline, position (default T-1)}
 *   answer_logprob  {answer_positions: [first, last]} (inclusive; the prompt's own tokens)
 * and, for each metric M present, under the expected file's names:
 *   attrib.M.metric    f32 [1]        M of the clean forward pass
 *   attrib.M.grad      f32 [T, d]     g = dM/dresid_post[sae.layer]
 *   attrib.M.features  f32 [T, d_sae] acts * (W_dec g)
 *   attrib.M.error     f32 [T]        (x - decode(encode(x))) . g
 * Needs the SAE of golden_sae.h. Float tensors are handed to the keep callback on the stage
 * that owns them (the unembedding stage for the metric, the SAE layer's stage for the rest).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "../mpi/dist.h"
#include "../mpi/pipe.h"
#include "../src/backward.h"
#include "golden_sae.h"

struct golden_attrib {
    bool enabled; /* meta.json has an `attribute` section (and an SAE) */
    int n_metrics;
    struct gemma_metric metric[2];
    const char *name[2]; /* "logit_diff", "answer_logprob" */
};

/* Read meta.json's attribute section; tokens (n_tok) is the prompt and must outlive s. Local. */
enum gsae_status golden_attrib_read(struct golden_attrib *s, const char *case_dir,
                                    const struct golden_sae *sae, const int32_t *tokens,
                                    int64_t n_tok, int64_t n_vocab, struct gsae_error *err);

/* Run every metric through p (every rank of the job calls it). */
enum gsae_status golden_attrib_run(const struct golden_attrib *s, const struct golden_sae *sae,
                                   struct pipe *p, const struct pipe_work *work,
                                   const struct golden_sae_keep *keep, struct gsae_error *err);

/* Rank 0: the tensor called name if it is one of the attribution tensors, from the collected
 * blobs. */
bool golden_attrib_lookup(const struct golden_attrib *s, const char *name,
                          const struct dist_blob *all, int64_t n_all, int64_t d_model,
                          int64_t d_sae, struct gsae_tensor *t);
