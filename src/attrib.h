/* attrib.h: feature attribution by gradient: which SAE features at resid_post[L] drive a
 * metric of the model's logits.
 *
 * With the SAE spliced in at resid_post[L] with its error term (so the forward pass equals the
 * clean one), g[p] = dM/dresid_post[L][p] (backward.h), and per position p and feature f
 *     features[p, f] = acts[p, f] * (W_dec[f] . g[p])
 *     error[p]       = sum_d (x - decode(encode(x)))[p, d] * g[p, d]
 * Dot products accumulate in double.
 */
#pragma once

#include <stdint.h>

#include "backward.h"
#include "gemma.h"
#include "sae.h"

/* Single-process driver over all layers: embed tokens (n), run the forward pass, record layers
 * L+1 .. n_layers-1, compute the metric and back-propagate to resid_post[L]. Outputs: *metric,
 * g (n, d_model) = dM/dresid_post[L] (zero after the last row the metric reads) and, when
 * resid is not NULL, resid (n, d_model) = resid_post[L]. Allocates its states once per call.
 * n_threads: OpenMP threads for row loops. */
enum gsae_status attrib_grad(const struct gemma_weights *w, const struct gemma_config *cfg,
                             const int32_t *tokens, int64_t n, int64_t layer,
                             const struct gemma_metric *m, int n_threads, double *metric, float *g,
                             float *resid, struct gsae_error *err);

/* features (acts->nnz) aligned with acts' entries, and error (n_rows), from x (n_rows, d_model)
 * = resid_post[L], its activations acts (sae_encode of x) and g (n_rows, d_model). work is
 * scratch of n_rows * d_model floats. */
void attrib_combine(const struct sae_params *p, const float *x, const struct sae_acts *acts,
                    const float *g, float *features, float *error, float *work);
