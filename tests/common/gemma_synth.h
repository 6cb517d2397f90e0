/* gemma_synth.h: random Gemma-2 weights built in memory, for unit tests and benchmarks.
 *
 * Header-only (static functions) so a test or bench program includes it directly. Weights are
 * N(0, 1/fan_in) in the requested dtype, norm weights N(0, 0.1) (offsets from 1), so
 * activations stay O(1) through many layers.
 */
#pragma once

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/gemma.h"
#include "../../src/rng.h"

struct synth_model {
    struct gemma_config cfg;
    struct gemma_weights w;
    void **blocks; /* every allocation, freed by synth_free */
    int64_t n_blocks;
};

/* A Gemma-2-shaped config with the given sizes and Gemma-2's constants. */
static inline struct gemma_config synth_config(int64_t n_layers, int64_t d_model, int64_t n_heads,
                                               int64_t n_kv_heads, int64_t d_head, int64_t d_ff,
                                               int64_t n_vocab, int64_t window)
{
    struct gemma_config c = {
        .n_layers = n_layers,
        .d_model = d_model,
        .n_heads = n_heads,
        .n_kv_heads = n_kv_heads,
        .d_head = d_head,
        .d_ff = d_ff,
        .n_vocab = n_vocab,
        .window_local = window,
        .max_pos = 8192,
        .query_pre_attn_scalar = (float)d_head,
        .softcap_attn = 50.0f,
        .softcap_final = 30.0f,
        .rms_eps = 1e-6f,
        .rope_theta = 10000.0f,
        .bos_id = 2,
        .eos_id = 1,
        .pad_id = 0,
    };
    return c;
}

static inline struct gsae_tensor synth_tensor(struct synth_model *m, struct rng *r,
                                              enum gsae_dtype dt, int64_t d0, int64_t d1, double sd)
{
    int64_t n = d0 * (d1 > 0 ? d1 : 1);
    size_t es = gsae_dtype_size(dt);
    void *p = malloc((size_t)n * es);
    m->blocks[m->n_blocks++] = p;
    for (int64_t i = 0; i < n; i++) {
        float v = (float)(rng_normal(r) * sd);
        if (dt == GSAE_DTYPE_BF16)
            ((uint16_t *)p)[i] = gsae_f32_to_bf16(v);
        else if (dt == GSAE_DTYPE_F16)
            ((uint16_t *)p)[i] = gsae_f32_to_f16(v);
        else
            ((float *)p)[i] = v;
    }
    struct gsae_tensor t = {.data = p, .dtype = dt, .n_dims = d1 > 0 ? 2 : 1};
    t.shape[0] = d0;
    t.shape[1] = d1 > 0 ? d1 : 0;
    return t;
}

/* Random weights for layers [layer_begin, layer_end) (others NULL) and, when with_embed, the
 * embedding and final norm. */
static inline void synth_init(struct synth_model *m, const struct gemma_config *c,
                              enum gsae_dtype dt, uint64_t seed, int64_t layer_begin,
                              int64_t layer_end, int with_embed)
{
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->blocks = calloc((size_t)(11 * c->n_layers + 3), sizeof *m->blocks);
    m->w.layers = calloc((size_t)c->n_layers, sizeof *m->w.layers);
    m->blocks[m->n_blocks++] = m->w.layers;
    struct rng r;
    rng_seed(&r, seed);
    int64_t d = c->d_model, qd = c->n_heads * c->d_head, kvd = c->n_kv_heads * c->d_head;
    if (with_embed) {
        m->w.embed = synth_tensor(m, &r, dt, c->n_vocab, d, 1.0 / sqrt((double)d));
        m->w.norm_final = synth_tensor(m, &r, dt, d, 0, 0.1);
    }
    for (int64_t L = layer_begin; L < layer_end; L++) {
        struct gemma_layer_weights *lw = &m->w.layers[L];
        lw->attn_q = synth_tensor(m, &r, dt, qd, d, 1.0 / sqrt((double)d));
        lw->attn_k = synth_tensor(m, &r, dt, kvd, d, 1.0 / sqrt((double)d));
        lw->attn_v = synth_tensor(m, &r, dt, kvd, d, 1.0 / sqrt((double)d));
        lw->attn_o = synth_tensor(m, &r, dt, d, qd, 1.0 / sqrt((double)qd));
        lw->ffn_gate = synth_tensor(m, &r, dt, c->d_ff, d, 1.0 / sqrt((double)d));
        lw->ffn_up = synth_tensor(m, &r, dt, c->d_ff, d, 1.0 / sqrt((double)d));
        lw->ffn_down = synth_tensor(m, &r, dt, d, c->d_ff, 1.0 / sqrt((double)c->d_ff));
        lw->norm_attn_in = synth_tensor(m, &r, dt, d, 0, 0.1);
        lw->norm_attn_post = synth_tensor(m, &r, dt, d, 0, 0.1);
        lw->norm_ffn_pre = synth_tensor(m, &r, dt, d, 0, 0.1);
        lw->norm_ffn_post = synth_tensor(m, &r, dt, d, 0, 0.1);
    }
}

static inline void synth_free(struct synth_model *m)
{
    for (int64_t i = 0; i < m->n_blocks; i++)
        free(m->blocks[i]);
    free(m->blocks);
    memset(m, 0, sizeof *m);
}
