/* promptset.h (mpi): run a prompt set through the pipeline and gather, on rank 0, the SAE
 * features of each prompt's last token at resid_post.L.
 *
 * Each prompt is its own sequence and its own micro-batch, whatever the number of ranks, so the
 * rows every forward pass sees (and so the results) are bit-identical on any layout; replicas
 * take disjoint prompts (micro-batch m goes to replica m % n_replicas, see pipe.h). Sequences
 * are packed without padding: a sequence's last row is its last real token.
 *
 * The stage that owns layer L encodes the last row of every sequence with the SAE (a subscriber
 * of the engine's hook at resid_post.L) and sends the dense feature vector (d_sae floats) to
 * rank 0. With a
 * truncated plan (layers 0 .. L only, plan.h) that stage is the last one and no rank runs a
 * later layer.
 */
#pragma once

#include <stdint.h>

#include "../io/promptset.h"
#include "../src/gsae.h"
#include "../src/sae.h"
#include "dist.h"
#include "engine.h"
#include "pipe.h"

/* The pipeline work of a tokenized prompt set: one sequence per prompt, one micro-batch per
 * sequence. Arrays owned; tokens borrowed from the set (valid while it is). */
struct promptset_work {
    struct pipe_work work;
    const int32_t **tokens; /* (n_seq) */
    int64_t *n_tok;         /* (n_seq) */
    int64_t *mb_first;      /* (n_seq + 1) */
};

/* Build the work of ps (tokenized, n >= 1). Local. Errors: GSAE_EINVAL (an untokenized or
 * empty prompt), GSAE_ENOMEM. Release with promptset_work_free (also after a failure). */
enum gsae_status promptset_work_init(struct promptset_work *w, const struct promptset *ps,
                                     struct gsae_error *err);
void promptset_work_free(struct promptset_work *w);

/* Run work through the engine and gather the SAE features of each sequence's last token at hook
 * `hook` (resid_post.L) on rank 0 of e->d.world: *acts (n_seq, *d_sae) row-major, malloc'd on
 * rank 0 (caller frees), NULL elsewhere. The last-token rows are a subscriber of the hook on the
 * stage that owns L (other subscribers of the engine run too). Collective on e->d.world: every
 * rank calls it with the same work and hook. Errors: GSAE_EINVAL (the SAE's width is not the
 * model's), GSAE_EINTERNAL on rank 0 when not every prompt was encoded; a failure inside the
 * stream returns on the failing rank only (see pipe.h: the caller aborts the job). */
enum gsae_status promptset_last_acts(struct engine *e, int64_t hook, const struct pipe_work *work,
                                     float **acts, int64_t *d_sae, struct gsae_error *err);
