/* logit_effects.h: the direct effect of SAE features on the output logits.
 *
 * For feature f, effect[v] = sum_d W_dec[f, d] * (1 + w[d]) * E[v, d] over the vocabulary v,
 * where E (n_vocab, d_model) is the tied embedding and w the final RMSNorm's weight (Gemma
 * multiplies by 1 + w). This is W_dec[f] . W_U with the final norm's scale folded into W_U, as
 * TransformerLens does with fold_ln (the normalisation by the RMS itself, and the final
 * soft-cap, are left out: they are not linear in the feature).
 *
 * Results: the K largest effects (pos, best first) and the K smallest (neg, most negative
 * first), ties broken by the smaller token id. Values are the double sum above, accumulated over
 * d in order from f32 inputs converted to double, so they do not depend on BLAS, threads or
 * chunking. Many features at once are screened with one sgemm per vocabulary chunk; a token is
 * recomputed in double only when its f32 score lies within a rounding bound of the current
 * K-th value, which cannot drop a token that belongs to the exact top K.
 */
#pragma once

#include <stdint.h>

#include "gsae.h"
#include "tensor.h"

struct logit_effects {
    int64_t n_features, d_model, k;
    int64_t n_seen;    /* vocabulary rows added so far */
    int64_t n_top;     /* entries held per feature and sign: min(k, n_seen) */
    int32_t *pos_id;   /* (n_features, k) token ids, largest effect first */
    double *pos_value; /* (n_features, k) */
    int32_t *neg_id;   /* (n_features, k) token ids, smallest effect first */
    double *neg_value; /* (n_features, k) */
    /* private */
    double *dir;      /* (n_features, d_model) W_dec[f] * (1 + w), in double */
    float *dir_f32;   /* (n_features, d_model) the same rounded to f32, for the screen */
    double *dir_norm; /* (n_features) Euclidean norm of dir */
    float *scores;    /* (n_features, chunk) */
    int64_t chunk;
};

/* Prepare for n_features rows of W_dec given as w_dec_rows[i] (each d_model floats; the
 * features' rows, in the order the results are wanted), the final norm weight norm_w (d_model),
 * and k >= 1 tokens per sign. Errors: GSAE_EINVAL, GSAE_ENOMEM. */
enum gsae_status logit_effects_init(struct logit_effects *le, const float *const *w_dec_rows,
                                    int64_t n_features, int64_t d_model, const float *norm_w,
                                    int64_t k, struct gsae_error *err);

/* Add vocabulary rows vocab0 .. vocab0 + n_rows - 1 of E (row-major f32, (n_rows, d_model)).
 * Rows must be added in increasing order without gaps, starting at 0. Errors: GSAE_EINVAL. */
enum gsae_status logit_effects_add(struct logit_effects *le, const float *embed, int64_t vocab0,
                                   int64_t n_rows, struct gsae_error *err);

/* Add the whole embedding tensor (n_vocab, d_model) of any floating dtype, converted to f32 a
 * chunk at a time. Errors: GSAE_EINVAL (shape, dtype), GSAE_ENOMEM. */
enum gsae_status logit_effects_add_tensor(struct logit_effects *le, const struct gsae_tensor *embed,
                                          struct gsae_error *err);

/* Free and zero (harmless on a zeroed struct). */
void logit_effects_free(struct logit_effects *le);
