/* pipe.h: one rank's stage of a pipelined Gemma-2: streaming prefill and pipelined generation.
 *
 * Work is a list of token sequences grouped into micro-batches by the caller (mb_first). The
 * grouping is part of the input, never derived from the number of ranks, stages or replicas:
 * every micro-batch runs through gemma_forward with the same rows whatever the layout, so
 * results are bit-identical on any number of ranks. Replica r takes the micro-batches m with
 * m % n_replicas == r.
 *
 * Prefill (pipe_prefill): micro-batches stream through the stages of a replica. Each stage
 * receives hidden states (n_rows, d_model) f32 from the previous stage with a non-blocking
 * receive posted one micro-batch ahead, computes its layers, and sends with a non-blocking
 * send; three rotating buffers (receive ahead, compute, send behind) keep at most one receive
 * and one send in flight per neighbour, so communication overlaps compute (after each layer
 * the stage also lets MPI progress the messages in flight, which Open MPI's shared-memory
 * transport moves fragment by fragment only inside MPI calls). The last stage
 * hands each micro-batch to a sink (record features, compute logits, ...).
 *
 * Generation (pipe_generate): decode steps of all the replica's micro-batches are in flight at
 * once. Task (m, t) is the prompt of micro-batch m for t = 0 and decode step t (one row per
 * sequence, fed the token chosen at step t-1) for t >= 1. Every stage runs the tasks in the
 * same order (t major, m minor); MPI's non-overtaking order keeps messages matched. The last
 * stage computes logits of each sequence's last row, asks the sampler for the next token and
 * sends the tokens of the micro-batch back to the first stage. Each stage's KV caches (one slot
 * per sequence of the replica) stay local to it. With at least n_stages micro-batches the
 * pipeline is full.
 *
 * Hooks (steering, ablation, capture) are given to the pipeline and called only by the stage
 * that owns the hooked layer: "embed" (layer -1) on the first stage after the lookup, and
 * "resid_post" after each layer. A hook may change x in place.
 *
 * Errors: a failure before the stream starts should be agreed with dist_agree by the caller.
 * A failure during a stream returns its status on the failing rank while its partners are
 * blocked in receives: the caller reports the message and ends the job (dist_abort,
 * mpi/dist_engine.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/gemma.h"
#include "../src/gsae.h"
#include "dist.h"
#include "plan.h"

struct pipe;

/* The sequences to run and their micro-batches. All arrays are borrowed. */
struct pipe_work {
    int64_t n_seq;
    const int32_t *const *tokens; /* (n_seq): tokens[s] holds n_tok[s] ids */
    const int64_t *n_tok;         /* (n_seq), each >= 1 */
    int64_t n_mb;
    const int64_t *mb_first; /* (n_mb + 1): micro-batch m is sequences mb_first[m] .. [m+1]-1 */
};

/* What a hook, sink or sampler is told about the rows it sees. */
struct pipe_rows {
    int64_t mb;                      /* micro-batch index in the work */
    int64_t step;                    /* 0: prompt rows; t >= 1: decode step t */
    const int64_t *seq;              /* (batch->n_seq): index in the work of each sequence */
    const struct gemma_batch *batch; /* rows, positions and KV slots */
};

/* Called on the stage owning `layer` (see above). x is (batch->n_rows, d_model). */
struct pipe_hook {
    enum gsae_status (*fn)(void *ctx, const struct pipe_rows *rows, const char *name, int64_t layer,
                           float *x, int64_t d_model, struct gsae_error *err);
    void *ctx;
};

/* Prefill: called on the last stage with the output of the last layer run, x
 * (batch->n_rows, d_model). pipe_logits may be called from it. */
struct pipe_sink {
    enum gsae_status (*fn)(void *ctx, struct pipe *p, const struct pipe_rows *rows, const float *x,
                           int64_t d_model, struct gsae_error *err);
    void *ctx;
};

/* Generation: called on the last stage for sequence i of the batch with the logits
 * (n_vocab) of its last row; writes the chosen token. */
struct pipe_sampler {
    enum gsae_status (*fn)(void *ctx, const struct pipe_rows *rows, int64_t i, const float *logits,
                           int64_t n_vocab, int32_t *token, struct gsae_error *err);
    void *ctx;
};

/* Capacities fixed at pipe_open. */
struct pipe_limits {
    int64_t max_group; /* sequences per micro-batch */
    int64_t max_rows;  /* rows per micro-batch (the longest group's prompt tokens) */
    int64_t n_slots;   /* KV caches: max_group for prefill; a replica's sequences to generate */
    int64_t max_seq;   /* positions per KV cache */
    enum gemma_compute compute; /* GEMM arithmetic (gemma.h); pipe_limits_of_work: f32 */
};

/* Where this rank's time went in the last prefill or generation. Fill is the wait before the
 * first task's input arrived, drain the wait after the last task was computed (the pipeline
 * bubble); wait is time blocked on messages in between (communication not hidden). */
struct pipe_stats {
    double total_s, compute_s, wait_s, fill_s, drain_s;
    int64_t n_tasks, n_rows;
};

struct pipe {
    const struct dist *dist;       /* borrowed */
    const struct gemma_weights *w; /* borrowed; this stage's tensors */
    struct gemma_config cfg;
    struct plan_stage stage;
    int stage_index, n_stages, replica, n_replicas;
    struct pipe_limits lim;
    struct gemma_state state;
    float *buf[3];       /* (max_rows, d_model) each: receive ahead, compute, send behind */
    float *last_rows;    /* (max_group, d_model): rows whose logits the sampler needs */
    float *logits;       /* (max_group, n_vocab) on an unembedding stage */
    int64_t *batch_ints; /* slot, pos0, n_tok, seq: (4, max_group) */
    int32_t *tok_in;     /* (max_rows) embedding input on the first stage */
    struct pipe_stats stats;
};

/* Limits that fit `work` generating n_new tokens per sequence (0: prefill only), split over
 * n_replicas replicas. Local. */
void pipe_limits_of_work(const struct pipe_work *work, int64_t n_new, int n_replicas,
                         struct pipe_limits *lim);

/* Set up this rank's stage: KV caches for its layers, buffers, state for n_threads loop
 * threads. Local (follow with dist_agree). d, w must outlive the pipe; w holds this stage's
 * tensors (and the embedding when it embeds or unembeds). Release with pipe_close. */
enum gsae_status pipe_open(struct pipe *p, const struct dist *d, const struct plan *plan,
                           const struct gemma_config *cfg, const struct gemma_weights *w,
                           const struct pipe_limits *lim, int n_threads, struct gsae_error *err);

/* Release everything pipe_open acquired and zero the struct; safe on a zeroed struct, twice. */
void pipe_close(struct pipe *p);

/* Bytes this rank allocated for activations, KV caches and buffers. */
size_t pipe_bytes(const struct pipe *p);

/* Stream the work's micro-batches through the pipeline (see above). hook and sink may be NULL.
 * Point-to-point within each replica; every rank of the job must call it with the same work. */
enum gsae_status pipe_prefill(struct pipe *p, const struct pipe_work *work,
                              const struct pipe_hook *hook, const struct pipe_sink *sink,
                              struct gsae_error *err);

/* Generate n_new tokens for every sequence of the work: tokens (n_seq, n_new) is filled on
 * every rank. The plan must have logits. Collective on the job's communicator at the end (the
 * tokens are shared); every rank must call it with the same work and n_new. */
enum gsae_status pipe_generate(struct pipe *p, const struct pipe_work *work, int64_t n_new,
                               const struct pipe_hook *hook, const struct pipe_sampler *sampler,
                               int32_t *tokens, struct gsae_error *err);

/* Final norm, unembedding and soft-cap of n_rows rows of x into logits (n_rows, n_vocab), on a
 * stage with has_unembed. Local. */
enum gsae_status pipe_logits(struct pipe *p, const float *x, int64_t n_rows, float *logits,
                             struct gsae_error *err);
