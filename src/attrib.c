/* attrib.c: gradient attribution to SAE features (see attrib.h). */
#include "attrib.h"

#include <stdlib.h>
#include <string.h>

enum gsae_status attrib_grad(const struct gemma_weights *w, const struct gemma_config *cfg,
                             const int32_t *tokens, int64_t n, int64_t layer,
                             const struct gemma_metric *m, int n_threads, double *metric, float *g,
                             float *resid, struct gsae_error *err)
{
    if (layer < 0 || layer >= cfg->n_layers)
        return gsae_fail(err, GSAE_ERANGE, "attribution: layer %lld outside [0, %lld)",
                         (long long)layer, (long long)cfg->n_layers);
    enum gsae_status st = gemma_metric_check(m, n, cfg->n_vocab, err);
    if (st) return st;
    int64_t d = cfg->d_model;
    struct gemma_state fs;
    struct gemma_bwd b;
    float *x = malloc((size_t)(n * d) * sizeof *x);
    if (!x)
        return gsae_fail(err, GSAE_ENOMEM, "attribution: no memory for %lld rows", (long long)n);
    if ((st = gemma_state_init(&fs, cfg, 0, cfg->n_layers, 1, n, n, err))) {
        free(x);
        return st;
    }
    fs.n_threads = n_threads;
    if ((st = gemma_bwd_init(&b, cfg, layer + 1, cfg->n_layers, n, true, err))) {
        gemma_state_free(&fs);
        free(x);
        return st;
    }
    b.n_threads = n_threads;
    int64_t slot = 0, pos0 = 0;
    struct gemma_batch batch = {.n_seq = 1, .n_rows = n, .slot = &slot, .pos0 = &pos0, .n_tok = &n};
    st = gemma_embed(cfg, w, tokens, n, x, err);
    if (st == GSAE_OK) st = gemma_forward(w, &fs, &batch, x, 0, layer + 1, NULL, err);
    if (st == GSAE_OK && resid) memcpy(resid, x, (size_t)(n * d) * sizeof *x);
    if (st == GSAE_OK) st = gemma_bwd_forward(w, &b, &fs, x, n, err);
    if (st == GSAE_OK) st = gemma_bwd_head(w, &b, x, n, m, metric, g, err);
    /* Causal: rows after the last one the metric reads do not influence it. */
    if (st == GSAE_OK)
        st = gemma_bwd_layers(w, &b, g, gemma_metric_rows(m), layer + 1, cfg->n_layers, err);
    gemma_bwd_free(&b);
    gemma_state_free(&fs);
    free(x);
    return st;
}

void attrib_combine(const struct sae_params *p, const float *x, const struct sae_acts *acts,
                    const float *g, float *features, float *error, float *work)
{
    int64_t d = p->d_model;
    for (int64_t r = 0; r < acts->n_rows; r++) {
        const float *gr = g + r * d;
        for (int64_t e = acts->row_ptr[r]; e < acts->row_ptr[r + 1]; e++) {
            const float *wd = p->w_dec + (int64_t)acts->feature[e] * d;
            double s = 0.0;
            for (int64_t i = 0; i < d; i++)
                s += (double)wd[i] * (double)gr[i];
            features[e] = (float)((double)acts->value[e] * s);
        }
    }
    sae_error_term(p, x, acts, work);
    for (int64_t r = 0; r < acts->n_rows; r++) {
        double s = 0.0;
        for (int64_t i = 0; i < d; i++)
            s += (double)work[r * d + i] * (double)g[r * d + i];
        error[r] = (float)s;
    }
}
