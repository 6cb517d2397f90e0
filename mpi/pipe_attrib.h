/* pipe_attrib.h: metric gradients at resid_post[L] through the pipeline, stage by stage in
 * reverse (src/backward.h does the arithmetic).
 *
 * One prompt (a work of one sequence in one micro-batch, so replica 0 runs it). Forward: a
 * prefill whose hooks record, on every stage, the inputs of its layers after L (the stage's
 * own input arrives from the previous stage once the prefill is done), resid_post[L] on the
 * stage owning L, and the final hidden states on the unembedding stage. Backward, per metric:
 * the unembedding stage computes the metric and dM/d(final hidden states), then each stage
 * from the last to the one owning L runs its layers after L backward and sends dM/d(its input)
 * to the previous stage. The stage owning L ends with g = dM/dresid_post[L]. Every layer does
 * the same arithmetic on the same rows wherever it runs, so g is bit-identical for any number
 * of stages.
 *
 * Memory per rank: gemma_bwd_bytes for the stage's layers after L, plus up to four (T, d_model)
 * buffers. Point-to-point on the replica's pipe communicator; every rank calls every function
 * (ranks with nothing to do return at once).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "../src/backward.h"
#include "../src/sae.h"
#include "pipe.h"

struct pipe_attrib {
    int64_t layer, n_rows;
    int64_t bwd_begin, bwd_end; /* this stage's layers after L: [max(begin, L+1), end) */
    bool active;                /* replica 0, and the stage ends after L or unembeds */
    bool owner;                 /* the stage owns layer L: resid and g hold the result */
    struct gemma_bwd bwd;
    float *resid;   /* (n_rows, d_model) resid_post[L] on the owner */
    float *out;     /* (n_rows, d_model) this stage's output, the next stage's input */
    float *final_x; /* (n_rows, d_model) last hidden states on the unembedding stage */
    float *g;       /* (n_rows, d_model) the gradient passing through */
};

/* Set up for layer L (0 <= L < n_layers) and a prompt of n_rows rows. Local. */
enum gsae_status pipe_attrib_open(struct pipe_attrib *a, const struct pipe *p, int64_t layer,
                                  int64_t n_rows, struct gsae_error *err);
void pipe_attrib_close(struct pipe_attrib *a);

/* The recording prefill of work (one sequence of n_rows tokens) and the hand-over of each
 * stage's input. */
enum gsae_status pipe_attrib_forward(struct pipe_attrib *a, struct pipe *p,
                                     const struct pipe_work *work, struct gsae_error *err);

/* One metric's backward. On the unembedding stage of replica 0 *metric is set and *have_metric
 * true; on the owner of L a->g holds dM/dresid_post[L] (zero after the last row the metric
 * reads). */
enum gsae_status pipe_attrib_backward(struct pipe_attrib *a, struct pipe *p,
                                      const struct gemma_metric *m, double *metric,
                                      bool *have_metric, struct gsae_error *err);

/* On the stage owning L, after the backward pass: encode resid_post.L with sp and combine with
 * the gradient into five blobs b[0..4] (malloc'd data, the caller frees): "count" (features per
 * row), "feature" (ids), "act", "attr" (all exact in f32) and "error" (per row). Local. */
enum gsae_status pipe_attrib_blobs(const struct pipe_attrib *a, const struct sae_params *sp,
                                   struct dist_blob *b, struct gsae_error *err);
