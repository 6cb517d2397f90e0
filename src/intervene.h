/* intervene.h: SAE interventions at resid_post.L, as a struct gemma_hook subscriber.
 *
 * The model publishes "resid_post" after every layer (gemma.h); an intervention acts only on
 * its own layer and leaves every other call alone. Operations on a residual row x:
 *     INTERVENE_NONE    x unchanged (use with record to read activations only)
 *     INTERVENE_STEER   x += coef * W_dec[feature]        (coef = max_act * strength)
 *     INTERVENE_SPLICE  x := decode(encode(x))
 *     INTERVENE_ABLATE  x := decode(acts with the listed features zeroed)            no error term
 *                       x := decode(acts with them zeroed) + (x - decode(encode(x)))  error term
 * The error-term ablation is computed as x - sum over ablated f of acts[f] W_dec[f], which is
 * the same quantity without the rounding of adding and subtracting the reconstruction: with
 * nothing ablated (or ablated features inactive) x is left bit for bit unchanged.
 *
 * Rows are selected by sequence position (0 = <bos>): every row when positions is NULL, else
 * only rows whose position is listed; other rows are untouched. Because the hook sees every
 * forward call, the operation applies to the prompt (prefill) and to each generated token
 * (KV-cache decode steps) alike. With record set, the activations of the incoming x (before
 * the operation) of every hooked row are appended, with the row's KV slot and position.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "gemma.h"
#include "gsae.h"
#include "sae.h"

enum intervene_op {
    INTERVENE_NONE,
    INTERVENE_STEER,
    INTERVENE_SPLICE,
    INTERVENE_ABLATE,
};

/* What to do. Arrays are borrowed and must outlive the intervention. */
struct intervene_spec {
    enum intervene_op op;
    int64_t layer;         /* act on resid_post of this layer */
    int64_t steer_feature; /* STEER */
    float steer_coef;      /* STEER: max_act * strength */
    const int32_t *ablate; /* ABLATE: features to zero */
    int64_t n_ablate;
    bool error_term;          /* ABLATE: add back x - decode(encode(x)) */
    const int64_t *positions; /* NULL: all positions; else the n_positions positions to act on */
    int64_t n_positions;
    bool record;   /* append the activations of every hooked row */
    bool sae_bf16; /* encode with x W_enc in bf16 (sae_encoder_set_bf16) */
};

/* A live intervention: the spec, the SAE and the buffers the hook uses. */
struct intervene {
    struct intervene_spec spec;
    const struct sae_params *sae; /* borrowed */
    struct sae_encoder enc;
    struct sae_acts acts;        /* activations of the rows of the current call */
    float *rows;                 /* (rows_cap, d_model): gathered rows, then their new values */
    int64_t *row_index;          /* (rows_cap) batch row of each gathered row */
    int64_t *row_slot, *row_pos; /* (rows_cap) its KV slot and position */
    int64_t rows_cap;
    /* record: one entry per hooked row, in call order */
    struct sae_acts rec;
    int64_t *rec_slot, *rec_pos; /* (rec.n_rows) KV slot and position of each recorded row */
    int64_t rec_cap;
};

/* Validate spec against sae (layer >= 0, feature and ablated features in range, positions
 * non-negative) and allocate buffers for batches of up to max_rows rows (grown on demand).
 * Caller owns; release with intervene_free. Errors: GSAE_EINVAL naming the field, GSAE_ENOMEM. */
enum gsae_status intervene_init(struct intervene *iv, const struct intervene_spec *spec,
                                const struct sae_params *sae, int64_t max_rows,
                                struct gsae_error *err);
void intervene_free(struct intervene *iv);

/* The hook to pass to gemma_forward (ctx = iv). */
struct gemma_hook intervene_hook(struct intervene *iv);

/* The hook function itself (for callers that chain hooks). */
enum gsae_status intervene_apply(void *ctx, const char *name, int64_t layer, float *x,
                                 const struct gemma_batch *batch, int64_t d_model,
                                 struct gsae_error *err);

/* Forget what was recorded so far. */
void intervene_record_clear(struct intervene *iv);
