/* sae_session.h: a model split over the job's ranks as a pipeline, with an SAE at resid_post.L
 * on the stage that owns layer L: the common set-up of `gsae features`, `steer` and `ablate`.
 *
 * The pipeline stands up through mpi/engine.h (config, plan, this stage's tensors, the SAE
 * loaded and checked on the stage owning the hooked layer, the pipe); each fallible step is
 * agreed across ranks, so all fail together with the message of the rank that failed.
 * Interventions are subscribers of the engine's hook at resid_post.L. Runs
 * are one sequence at a time (one micro-batch), so results do not depend on the layout.
 * Prompts come as text (tokenized with the Gemma-2 tokenizer on every rank), an ARC task
 * (the notebook's prompt) or explicit ids; with --arc DIR, --prompt and --prompts name tasks
 * (DIR/<id>.json, DIR/training/<id>.json or DIR/evaluation/<id>.json), several for --prompts.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "../io/ckpt.h"
#include "../io/sae_io.h"
#include "../mpi/dist.h"
#include "../mpi/engine.h"
#include "../mpi/pipe.h"
#include "../mpi/plan.h"
#include "../src/intervene.h"
#include "../src/tokenizer.h"
#include "opt.h"

#define SAE_SESSION_MAX_SAES 16

/* Options every SAE command takes (parsed by sae_session_parse). */
struct sae_session_opts {
    const char *model_dir, *sae_path, *tokenizer_path;
    const char *prompt, *arc_path, *prompt_ids; /* exactly one, or --arc DIR + task ids */
    const char *prompts;                        /* task ids (with --arc DIR) */
    int64_t layer;                              /* -1: the SAE file's */
    int n_stages, n_threads;
    const char *layers;
    enum gemma_compute compute;     /* --compute f32|bf16 (default f32) */
    enum gemma_compute sae_compute; /* --sae-compute f32|bf16: the encoder's x W_enc */
    int64_t max_group; /* sequences generated together by sae_session_generate_many (0: 1) */
    /* several SAEs (a command that reports per hook): every --sae in order, sae_path the first;
     * each hooks the layer its file names (layer must be -1) */
    const char *sae_paths[SAE_SESSION_MAX_SAES];
    int64_t sae_layers[SAE_SESSION_MAX_SAES]; /* L of --sae L:PATH, else -1 (then --layer's) */
    int n_saes;
    struct opt_list sae_list; /* --sae as parsed (sae_session_opts_saes moves it to the above) */
};

/* After opt_parse: every --sae (PATH or L:PATH) of o->sae_list into sae_paths, sae_layers and
 * n_saes (sae_path the first), the
 * list freed. A command that takes one SAE (several = false) refuses more, printing why under
 * cmd's name. Returns 0, or the exit status 2. */
int sae_session_opts_saes(struct sae_session_opts *o, const char *cmd, bool several);

struct sae_session {
    struct engine e;         /* the pipeline; hook 0 is the SAE's resid_post.L (mpi/engine.h) */
    struct gemma_config cfg; /* the model's, read before the engine (prompt ids are checked) */
    int n_threads;
    bool owns_layer;        /* this stage runs the hooked layer: the SAE is loaded here */
    struct sae_params *sae; /* &e.hooks[0].sae: loaded on the owning stage only */
    bool sae_bf16;          /* --sae-compute bf16 */
    int64_t layer, d_sae;   /* on every rank */
    struct tokenizer tk;    /* loaded when a tokenizer is given or found */
    bool has_tokenizer;
    int32_t *prompt; /* (n_prompt) ids, <bos> first: the selected prompt (borrowed) */
    int64_t n_prompt;
    const char *prompt_name; /* task id, ARC file name, "prompt" or "ids" (borrowed) */
    int64_t n_prompts;       /* every prompt given */
    int64_t max_prompt;      /* the longest one's length */
    int64_t max_group;       /* sequences sae_session_generate_many may take */
    int32_t **prompt_list;   /* (n_prompts) owned */
    int64_t *prompt_len;     /* (n_prompts) */
    char **prompt_names;     /* (n_prompts) owned */
};

/* Make prompt i the one s->prompt / n_prompt / prompt_name describe. */
void sae_session_select(struct sae_session *s, int64_t i);

/* The shared options as tables (jobs/opt.h) over struct sae_session_opts: the model's (every
 * SAE command, harvest too) and the prompt's (features, steer, ablate, attribute). A command
 * places them at offsetof(its options, its struct sae_session_opts). */
extern const struct opt sae_session_model_opts[];
extern const struct opt sae_session_prompt_opts[];

/* Open everything for prompts of up to max_extra tokens beyond the longest prompt (answers
 * or generated tokens); prompt 0 is selected. Collective on the job (engine_open); on failure every
 * rank returns the same status and s may be passed to sae_session_close. */
enum gsae_status sae_session_open(struct sae_session *s, const char *cmd,
                                  const struct sae_session_opts *o, int64_t max_extra,
                                  struct gsae_error *err);
void sae_session_close(struct sae_session *s);

/* A teacher-forced answer's ids: answer_ids ("1,2,3", each < the vocabulary) when given, else
 * the text tokenized without <bos>, a space put in front (as TransformerLens does) unless
 * no_space or the text starts with one. *ids is malloc'd. Errors: GSAE_EINVAL (bad ids, empty
 * answer), GSAE_ENOMEM. */
enum gsae_status sae_session_answer(struct sae_session *s, const char *answer,
                                    const char *answer_ids, bool no_space, int32_t **ids,
                                    int64_t *n, struct gsae_error *err);

/* Tokenize text without <bos> (for answers), on every rank. */
enum gsae_status sae_session_tokenize(struct sae_session *s, const char *text, bool add_bos,
                                      int32_t **ids, int64_t *n, struct gsae_error *err);

/* Text of ids (malloc'd, NUL-terminated; special tokens kept), or the ids as "[2, 5, ...]"
 * when there is no tokenizer. */
char *sae_session_decode(const struct sae_session *s, const int32_t *ids, int64_t n);

/* Subscribe iv (when not NULL and this stage owns the layer) to the SAE's hook until the next
 * sae_session_unsubscribe. Local. */
enum gsae_status sae_session_subscribe(struct sae_session *s, struct intervene *iv,
                                       struct gsae_error *err);

/* The same for hook j of the session's engine (s->e.hooks[j]): iv runs on the stage owning its
 * layer. Local. */
enum gsae_status sae_session_subscribe_hook(struct sae_session *s, int64_t j, struct intervene *iv,
                                            struct gsae_error *err);
void sae_session_unsubscribe(struct sae_session *s);

/* Prefill tokens (n) with iv (may be NULL) at the hooked layer; logits of the rows listed in
 * rows_wanted (n_wanted, ascending) land on rank 0 in logits (n_wanted, n_vocab). Collective. */
enum gsae_status sae_session_logits(struct sae_session *s, const int32_t *tokens, int64_t n,
                                    struct intervene *iv, const int64_t *rows_wanted,
                                    int64_t n_wanted, float *logits, struct gsae_error *err);

/* n_seq continuations of the same prompt tokens (n) generated as one batch of rows, sequence
 * i with the intervention ivs[i] (ivs NULL on ranks that do not own the layer) and a sampler
 * seeded with seed; out (n_seq, n_new) is filled on every rank. n_seq <= the session's
 * max_group. In f32 mode each sequence's tokens are bit-identical to sae_session_generate's
 * with ivs[i] alone as long as every GEMM of the batch takes the same path as the single
 * sequence's (matmul.h): at most MATMUL_SMALL_ROWS sequences, and n > MATMUL_SMALL_ROWS or
 * n * n_seq <= MATMUL_SMALL_ROWS (sae_session_group says how many). Collective. */
enum gsae_status sae_session_generate_many(struct sae_session *s, const int32_t *tokens, int64_t n,
                                           struct intervene *ivs, int64_t n_seq, int64_t n_new,
                                           float temperature, uint64_t seed, int32_t *out,
                                           struct gsae_error *err);

/* How many of n_want continuations of a prompt of n tokens one sae_session_generate_many call
 * may take (>= 1, <= max_group) for results bit-identical to generating them one at a time. */
int64_t sae_session_group(const struct sae_session *s, int64_t n, int64_t n_want);

/* Greedy (temperature 0) or sampled generation of n_new tokens after tokens (n) with iv (may
 * be NULL); out (n_new) is filled on every rank. Collective. */
enum gsae_status sae_session_generate(struct sae_session *s, const int32_t *tokens, int64_t n,
                                      struct intervene *iv, int64_t n_new, float temperature,
                                      uint64_t seed, int32_t *out, struct gsae_error *err);
