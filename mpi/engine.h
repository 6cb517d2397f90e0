/* engine.h (mpi): one way to stand up a pipelined Gemma-2 with SAEs at hooked layers.
 *
 * engine_open runs the start-up sequence every command that runs the model shares: the
 * model's configuration, each SAE's layer (from the request or the file, probed on every
 * rank without reading its weights), the plan (stages and replicas, mpi/plan.h), the
 * communicators (mpi/dist.h), threads, this stage's checkpoint tensors (mmap) and their
 * checks, the SAEs whose layer this stage runs (loaded and checked there only, so other ranks
 * never hold a copy), and the pipe (mpi/pipe.h). Each fallible step is agreed across ranks, so
 * all fail together with the message of the rank that failed.
 *
 * Hooks as subscribers: hook i is resid_post.L of SAE i. A command subscribes functions to a
 * hook (engine_subscribe); engine_prefill and engine_generate call, on the stage that owns L
 * and after layer L, the hook's subscribers in the order they subscribed (record, last-token
 * rows, intervene, ...). Data flows one way: a subscriber hands its result on to whatever it
 * was given (a store writer, a buffer); nothing calls back up into the command. The forward
 * pass (src/gemma.h) knows nothing of hooks, SAEs, MPI or files.
 *
 * Several hooks may share a layer; each SAE is applied on the stage owning its layer. With a
 * truncated plan (config.truncate) the model runs layers 0 .. the deepest hook only.
 */
#pragma once

#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>

#include "../io/ckpt.h"
#include "../io/sae_io.h"
#include "../src/gemma.h"
#include "../src/gsae.h"
#include "../src/sae.h"
#include "dist.h"
#include "pipe.h"
#include "plan.h"

/* One requested SAE. */
struct engine_sae {
    const char *path; /* Gemma Scope params.npz or SAELens directory (a resolved path) */
    int64_t layer;    /* resid_post.layer; -1: the layer the file records */
};

struct engine_config {
    const char *model_dir;         /* the checkpoint */
    const char *stage_dir;         /* where this rank maps its stage's tensors from; NULL: model_dir
                                      (a fault-injection test points one rank elsewhere) */
    int n_stages;                  /* pipeline stages per replica; 0: all ranks in one pipeline */
    const char *layers;            /* explicit stages "0-6,7-13", or NULL */
    int n_threads;                 /* 0: dist_threads_choose's default */
    bool truncate;                 /* run layers 0 .. the deepest hook only, without logits */
    enum gsae_dtype dtype;         /* the stored weights' dtype, for the plan's byte counts */
    int64_t ctx_len;               /* typical sequence length for the plan's costs */
    const struct engine_sae *saes; /* (n_saes) borrowed for engine_open */
    int64_t n_saes;
    bool warn_model_name; /* warn when an SAE was trained on another model (engine_hook.warning) */
    const struct pipe_work *shape; /* the largest work the pipe must hold (tokens may be NULL) */
    int64_t n_new;                 /* tokens generated per sequence (0: prefill only) */
    enum gemma_compute compute;    /* GEMM arithmetic of the forward */
    enum gsae_status local; /* the caller's own local preparation (prompts, tokenizer): agreed
                               with engine_open's first step; on failure err holds its message */
};

/* What a subscriber is called with, on the stage owning the hook's layer. x is
 * (rows->batch->n_rows, d_model) and may be changed in place (interventions). */
struct engine_hook;
struct engine_sub {
    enum gsae_status (*fn)(void *ctx, const struct engine_hook *hook, const struct pipe_rows *rows,
                           float *x, int64_t d_model, struct gsae_error *err);
    void *ctx;
};

#define ENGINE_MAX_SUBS    8
#define ENGINE_WARNING_LEN 512

struct engine_hook {
    int64_t layer;         /* resid_post.layer, on every rank */
    const char *path;      /* the SAE's path (borrowed from the config) */
    bool owned;            /* this rank's stage runs the layer: sae is loaded here */
    struct sae_params sae; /* on the owning stage only (zeroed elsewhere) */
    struct sae_info info;  /* the file's metadata, on every rank */
    int64_t d_sae;         /* on every rank */
    uint64_t sae_hash;     /* FNV-1a of W_enc, b_enc and threshold (what encoding reads), on every
                              rank */
    char warning[ENGINE_WARNING_LEN]; /* on the owning stage: "" or a model-name warning */
    struct engine_sub subs[ENGINE_MAX_SUBS];
    int n_subs;
};

struct engine {
    struct dist d;
    struct plan plan;
    struct ckpt ck; /* this stage's tensors */
    struct pipe p;
    struct gemma_config cfg;
    int n_threads;
    struct engine_hook *hooks; /* (n_hooks), in the order of config.saes */
    int64_t n_hooks;
};

/* Stand up the pipeline (see above). Collective on comm; every rank passes the same config
 * (but stage_dir and local). On failure every rank returns the same status with a message and
 * e may be passed to engine_close. */
enum gsae_status engine_open(MPI_Comm comm, const struct engine_config *config, struct engine *e,
                             struct gsae_error *err);

/* Release everything engine_open acquired and zero e; safe on a zeroed engine. Collective
 * (it frees communicators) unless the ranks can no longer agree: with_comms false then leaves
 * the communicators to the end of the job. */
void engine_close(struct engine *e, bool with_comms);

/* The communicator of the whole job (the one commands open their engine on). */
MPI_Comm engine_job_comm(void);

/* Add a subscriber to hook i (called after the earlier ones). Local. Errors: GSAE_EINVAL when
 * the hook has ENGINE_MAX_SUBS. */
enum gsae_status engine_subscribe(struct engine *e, int64_t i, struct engine_sub sub,
                                  struct gsae_error *err);

/* Remove every subscriber of every hook. Local. */
void engine_unsubscribe_all(struct engine *e);

/* The first hook at resid_post.layer, or -1. */
int64_t engine_hook_of_layer(const struct engine *e, int64_t layer);

/* pipe_prefill with the hooks' subscribers (sink may be NULL). Collective as pipe_prefill. */
enum gsae_status engine_prefill(struct engine *e, const struct pipe_work *work,
                                const struct pipe_sink *sink, struct gsae_error *err);

/* pipe_generate with the hooks' subscribers. Collective as pipe_generate. */
enum gsae_status engine_generate(struct engine *e, const struct pipe_work *work, int64_t n_new,
                                 const struct pipe_sampler *sampler, int32_t *tokens,
                                 struct gsae_error *err);
