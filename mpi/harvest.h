/* harvest.h (mpi): a harvest round of the store driver (pstore.h) through the engine, and the
 * recorder that turns a hook's residuals into the store's rows.
 *
 * The round's windows become a pipe_work whose micro-batches (windows_per_mb windows each) are
 * interleaved so that micro-batch m = j * R + k is the j-th group of replica k's part (the
 * pipeline deals micro-batch m to replica m % R). A replica with fewer groups in a round gets
 * one-token filler micro-batches whose output is dropped. The grouping depends on neither the
 * number of ranks nor the replica count, so the store does not either.
 *
 * Data path of one round: pstore hands the round to harvest_encode_round -> engine_prefill
 * runs the stages -> at each hooked resid_post.L the stage owning L calls that hook's recorder
 * (a subscriber of the hook): SAE encode of the micro-batch's rows -> CSR rows per window -> the
 * hook's store's sink (this rank writes that store, pstore.h). Nothing returns to the command.
 * With several hooks one pass over the model fills every hook's store.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "../src/gsae.h"
#include "../src/sae.h"
#include "engine.h"
#include "pstore.h"

#define HARVEST_MAX_HOOKS 16

/* The recorder of one hook: its SAE's encoder and the rows of one window. */
struct harvest_recorder {
    struct harvest_encoder *h;
    int64_t hook; /* the engine's hook, and the store (pstore lane) it writes */
    struct sae_encoder enc;
    struct sae_acts acts;
    uint32_t *index; /* grown to a window's activations */
    int64_t *rows;   /* (context + 1) */
    int64_t index_cap;
};

struct harvest_encoder {
    struct engine *e; /* borrowed */
    int64_t context, wpmb;
    int32_t bos;     /* the filler micro-batches' one token */
    bool keep_resid; /* hand the residuals to the stores too */
    /* prints an error the ranks cannot agree on (inside the stream), before the job aborts */
    void (*report)(const struct gsae_error *err);
    struct harvest_recorder rec[HARVEST_MAX_HOOKS]; /* one per hook of e */
    int64_t n_rec;
    /* the round in flight */
    const struct pstore_round *round;
    const struct pstore_sink *sinks;    /* one per hook (pstore lane) */
    int64_t *mb_part, *mb_first_window; /* (n_mb): replica slot k and first window; -1: filler */
    /* where this rank's time went (summed over rounds) */
    double t_compute, t_pipe_wait; /* inside stage tasks (incl. the recorders); blocked or idle */
    double t_sink, t_sae;          /* the recorders; of it, the SAE encode */
};

/* Set up one recorder per hook of e, each subscribed to its hook on the stage that owns the
 * layer; hook j's windows go to store j (pstore lane j, whose writer is that stage:
 * harvest_writer_stage). bf16: the encoders' x W_enc in bf16. Local (follow with dist_agree).
 * Release with harvest_encoder_free. */
enum gsae_status harvest_encoder_init(struct harvest_encoder *h, struct engine *e, int64_t context,
                                      int64_t wpmb, bool bf16, bool keep_resid, int32_t bos,
                                      void (*report)(const struct gsae_error *),
                                      struct gsae_error *err);
void harvest_encoder_free(struct harvest_encoder *h);

/* The pipeline stage (rank within a replica) that records hook j: the store's writer. */
int harvest_writer_stage(const struct engine *e, int64_t j);

/* pstore_encoder.encode: run one round (ctx: a struct harvest_encoder; sink: one per hook). A
 * failure inside the stream is reported and aborts the job (the partners wait in receives).
 * Collective. */
enum gsae_status harvest_encode_round(void *ctx, const struct pstore_round *round,
                                      const struct pstore_sink *sink, struct gsae_error *err);
