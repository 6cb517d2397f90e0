/* gemma.c: the Gemma-2 forward pass over a layer range, its state, embedding and logits
 * (semantics in gemma.h). */
#include "gemma.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "attn.h"
#include "gemm_dnnl.h"
#include "matmul.h"
#include "ops.h"

/* Offsets (in floats) of the scratch buffers inside gemma_state.scratch, for batches of
 * max_rows rows (R):
 *   xn    (R, d_model)          normalised input of a projection
 *   q     (R, n_heads*d_head)   queries
 *   k, v  (R, n_kv*d_head)      new keys and values before they enter the cache
 *   att   (R, n_heads*d_head)   attention output, input of o_proj
 *   proj  (R, d_model)          output of o_proj / down_proj
 *   gate, up (R, d_ff)          MLP
 *   tile  weight rows converted to f32 for one sgemm (matmul.h)
 *   scores  attention scores of one query tile (attn.h)
 *   norms (5, d_model)          (1 + w) of the RMSNorm weights in use */
struct scratch_layout {
    size_t xn, q, k, v, att, proj, gate, up, tile, scores, norms, total;
    int64_t tile_floats;
};

static struct scratch_layout scratch_layout(const struct gemma_config *c, int64_t max_seq,
                                            int64_t max_rows)
{
    struct scratch_layout l = {0};
    int64_t r = max_rows, qd = c->n_heads * c->d_head, kvd = c->n_kv_heads * c->d_head;
    int64_t k_max = c->d_model > qd ? c->d_model : qd;
    k_max = k_max > c->d_ff ? k_max : c->d_ff;
    size_t off = 0;
#define PLACE(field, floats)                                                                       \
    do {                                                                                           \
        l.field = off;                                                                             \
        off += (size_t)(floats);                                                                   \
        off = (off + 15) & ~(size_t)15; /* 64-byte aligned buffers */                              \
    } while (0)
    PLACE(xn, r * c->d_model);
    PLACE(q, r * qd);
    PLACE(k, r * kvd);
    PLACE(v, r * kvd);
    PLACE(att, r * qd);
    PLACE(proj, r * c->d_model);
    PLACE(gate, r * c->d_ff);
    PLACE(up, r * c->d_ff);
    int64_t w_max = c->n_vocab * c->d_model; /* the unembedding, usually the largest */
    w_max = w_max > c->d_ff * c->d_model ? w_max : c->d_ff * c->d_model;
    w_max = w_max > qd * c->d_model ? w_max : qd * c->d_model;
    l.tile_floats = matmul_tile_floats(k_max, w_max);
    PLACE(tile, l.tile_floats);
    PLACE(scores, attn_scratch_floats(max_rows, max_seq, c->n_heads));
    PLACE(norms, 5 * c->d_model);
#undef PLACE
    l.total = off;
    return l;
}

static size_t cache_floats(const struct gemma_config *c, int64_t n_layers_here, int64_t n_slots,
                           int64_t max_seq)
{
    return (size_t)n_layers_here * (size_t)n_slots * (size_t)max_seq *
           (size_t)(c->n_kv_heads * c->d_head);
}

size_t gemma_state_bytes(const struct gemma_config *cfg, int64_t n_layers_here, int64_t n_slots,
                         int64_t max_seq, int64_t max_rows)
{
    struct scratch_layout l = scratch_layout(cfg, max_seq, max_rows);
    return (2 * cache_floats(cfg, n_layers_here, n_slots, max_seq) + l.total) * sizeof(float);
}

enum gsae_status gemma_state_init(struct gemma_state *s, const struct gemma_config *cfg,
                                  int64_t layer_begin, int64_t layer_end, int64_t n_slots,
                                  int64_t max_seq, int64_t max_rows, struct gsae_error *err)
{
    memset(s, 0, sizeof *s);
    if (layer_begin < 0 || layer_end < layer_begin || layer_end > cfg->n_layers)
        return gsae_fail(err, GSAE_EINVAL, "gemma state: layer range [%lld, %lld) outside 0..%lld",
                         (long long)layer_begin, (long long)layer_end, (long long)cfg->n_layers);
    if (n_slots < 1 || max_seq < 1 || max_rows < 1)
        return gsae_fail(err, GSAE_EINVAL,
                         "gemma state: n_slots %lld, max_seq %lld, max_rows %lld must be >= 1",
                         (long long)n_slots, (long long)max_seq, (long long)max_rows);
    s->cfg = *cfg;
    s->layer_begin = layer_begin;
    s->layer_end = layer_end;
    s->n_slots = n_slots;
    s->max_seq = max_seq;
    s->max_rows = max_rows;
    s->n_threads = 1;
    size_t cache = cache_floats(cfg, layer_end - layer_begin, n_slots, max_seq);
    struct scratch_layout l = scratch_layout(cfg, max_seq, max_rows);
    s->scratch_floats = l.total;
    /* 64-byte alignment: whole vectors for the kernels, whole lines for the caches. */
    size_t cache_bytes = ((cache ? cache : 1) * sizeof(float) + 63) & ~(size_t)63;
    s->k_cache = aligned_alloc(64, cache_bytes);
    s->v_cache = aligned_alloc(64, cache_bytes);
    s->scratch = aligned_alloc(64, (l.total * sizeof(float) + 63) & ~(size_t)63);
    if (!s->k_cache || !s->v_cache || !s->scratch) {
        size_t total = gemma_state_bytes(cfg, layer_end - layer_begin, n_slots, max_seq, max_rows);
        gemma_state_free(s);
        return gsae_fail(err, GSAE_ENOMEM, "gemma state: cannot allocate %zu MiB", total >> 20);
    }
    return GSAE_OK;
}

void gemma_state_free(struct gemma_state *s)
{
    gemm_dnnl_free(&s->dnnl);
    free(s->attn_bf16);
    free(s->k_cache);
    free(s->v_cache);
    free(s->scratch);
    memset(s, 0, sizeof *s);
}

const char *gemma_compute_name(enum gemma_compute c)
{
    return c == GEMMA_COMPUTE_BF16 ? "bf16" : "f32";
}

enum gsae_status gemma_compute_parse(const char *str, enum gemma_compute *c, struct gsae_error *err)
{
    if (strcmp(str, "f32") == 0)
        *c = GEMMA_COMPUTE_F32;
    else if (strcmp(str, "bf16") == 0)
        *c = GEMMA_COMPUTE_BF16;
    else
        return gsae_fail(err, GSAE_EINVAL, "compute mode '%s': expected f32 or bf16", str);
    return GSAE_OK;
}

enum gsae_status gemma_state_set_compute(struct gemma_state *s, const struct gemma_weights *w,
                                         enum gemma_compute c, bool unembed, struct gsae_error *err)
{
    gemm_dnnl_free(&s->dnnl); /* a second call starts over */
    free(s->attn_bf16);
    s->attn_bf16 = NULL;
    s->compute = c;
    if (c != GEMMA_COMPUTE_BF16) return GSAE_OK;
    const struct gemma_config *cfg = &s->cfg;
    int64_t qd = cfg->n_heads * cfg->d_head;
    int64_t k_max = cfg->d_model > qd ? cfg->d_model : qd;
    k_max = k_max > cfg->d_ff ? k_max : cfg->d_ff;
    enum gsae_status st = gemm_dnnl_init(&s->dnnl, s->max_rows, k_max, err);
    if (st) return st;
    size_t attn =
        (size_t)attn_bf16_elems(s->max_rows, s->max_seq, qd, cfg->n_kv_heads * cfg->d_head,
                                cfg->d_head, gemm_dnnl_max_threads(s->dnnl));
    if (!(s->attn_bf16 = malloc(attn * sizeof *s->attn_bf16)))
        return gsae_fail(err, GSAE_ENOMEM, "bf16 attention: cannot allocate %zu MiB", attn >> 19);
    for (int64_t L = s->layer_begin; L < s->layer_end && !st; L++) {
        const struct gemma_layer_weights *lw = &w->layers[L];
        const struct gsae_tensor *t[] = {&lw->attn_q,   &lw->attn_k, &lw->attn_v,  &lw->attn_o,
                                         &lw->ffn_gate, &lw->ffn_up, &lw->ffn_down};
        for (size_t i = 0; i < sizeof t / sizeof t[0] && !st; i++)
            st = gemm_dnnl_pack(s->dnnl, t[i], s->max_rows, err);
    }
    if (!st && unembed) st = gemm_dnnl_pack(s->dnnl, &w->embed, s->max_rows, err);
    return st;
}

enum gsae_status gemma_embed(const struct gemma_config *cfg, const struct gemma_weights *w,
                             const int32_t *tokens, int64_t n, float *x, struct gsae_error *err)
{
    if (!w->embed.data)
        return gsae_fail(err, GSAE_EINVAL, "gemma_embed: model.embed_tokens not loaded here");
    int64_t d = cfg->d_model;
    size_t es = gsae_dtype_size(w->embed.dtype);
    /* Gemma scales embeddings by sqrt(hidden_size) in the compute dtype (f32 here). */
    float scale = sqrtf((float)d);
    for (int64_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= cfg->n_vocab)
            return gsae_fail(err, GSAE_ERANGE,
                             "gemma_embed: token %lld is %d, outside the vocabulary [0, %lld)",
                             (long long)i, tokens[i], (long long)cfg->n_vocab);
        const char *row = (const char *)w->embed.data + (size_t)tokens[i] * (size_t)d * es;
        gsae_to_f32(x + i * d, row, w->embed.dtype, d);
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] *= scale;
    }
    return GSAE_OK;
}

static enum gsae_status check_tensor(const struct gsae_tensor *t, const char *what, int64_t layer,
                                     int64_t d0, int64_t d1, struct gsae_error *err)
{
    int n_dims = d1 > 0 ? 2 : 1;
    if (!t->data)
        return gsae_fail(err, GSAE_EINVAL, "gemma weights: layer %lld %s is not loaded",
                         (long long)layer, what);
    if (t->dtype != GSAE_DTYPE_F32 && t->dtype != GSAE_DTYPE_BF16 && t->dtype != GSAE_DTYPE_F16)
        return gsae_fail(err, GSAE_EFORMAT,
                         "gemma weights: layer %lld %s has dtype %s, expected F32, BF16 or F16",
                         (long long)layer, what, gsae_dtype_name(t->dtype));
    if (t->n_dims != n_dims || t->shape[0] != d0 || (n_dims == 2 && t->shape[1] != d1))
        return gsae_fail(err, GSAE_EFORMAT,
                         "gemma weights: layer %lld %s has %d dims (%lld, %lld), expected "
                         "(%lld, %lld)",
                         (long long)layer, what, t->n_dims, (long long)t->shape[0],
                         (long long)(t->n_dims > 1 ? t->shape[1] : 0), (long long)d0,
                         (long long)d1);
    return GSAE_OK;
}

enum gsae_status gemma_weights_check(const struct gemma_config *c, const struct gemma_weights *w,
                                     int64_t layer_begin, int64_t layer_end, bool need_embed,
                                     struct gsae_error *err)
{
    int64_t d = c->d_model, qd = c->n_heads * c->d_head, kvd = c->n_kv_heads * c->d_head;
    enum gsae_status st = GSAE_OK;
    if (need_embed) {
        st = check_tensor(&w->embed, "model.embed_tokens", -1, c->n_vocab, d, err);
        if (!st) st = check_tensor(&w->norm_final, "model.norm", -1, d, 0, err);
    }
    for (int64_t L = layer_begin; L < layer_end && !st; L++) {
        const struct gemma_layer_weights *lw = &w->layers[L];
        const struct {
            const struct gsae_tensor *t;
            const char *name;
            int64_t d0, d1;
        } want[] = {
            {&lw->attn_q, "self_attn.q_proj", qd, d},
            {&lw->attn_k, "self_attn.k_proj", kvd, d},
            {&lw->attn_v, "self_attn.v_proj", kvd, d},
            {&lw->attn_o, "self_attn.o_proj", d, qd},
            {&lw->ffn_gate, "mlp.gate_proj", c->d_ff, d},
            {&lw->ffn_up, "mlp.up_proj", c->d_ff, d},
            {&lw->ffn_down, "mlp.down_proj", d, c->d_ff},
            {&lw->norm_attn_in, "input_layernorm", d, 0},
            {&lw->norm_attn_post, "post_attention_layernorm", d, 0},
            {&lw->norm_ffn_pre, "pre_feedforward_layernorm", d, 0},
            {&lw->norm_ffn_post, "post_feedforward_layernorm", d, 0},
        };
        for (size_t i = 0; i < sizeof want / sizeof want[0] && !st; i++)
            st = check_tensor(want[i].t, want[i].name, L, want[i].d0, want[i].d1, err);
    }
    return st;
}

/* Add the time since *t0 to *part (when timing is on) and restart the clock. */
static void lap(const struct gemma_state *s, double *part, double *t0)
{
    if (!s->timing) return;
    double t = omp_get_wtime();
    *part += t - *t0;
    *t0 = t;
}

/* dst = 1 + w, in f32. */
static void norm_weight(float *dst, const struct gsae_tensor *w, int64_t d)
{
    gsae_to_f32(dst, w->data, w->dtype, d);
    for (int64_t i = 0; i < d; i++)
        dst[i] = 1.0f + dst[i];
}

static enum gsae_status check_batch(const struct gemma_state *s, const struct gemma_batch *b,
                                    struct gsae_error *err)
{
    if (b->n_rows < 0 || b->n_rows > s->max_rows)
        return gsae_fail(err, GSAE_ERANGE, "gemma_forward: batch of %lld rows, state holds %lld",
                         (long long)b->n_rows, (long long)s->max_rows);
    int64_t rows = 0;
    for (int64_t i = 0; i < b->n_seq; i++) {
        if (b->slot[i] < 0 || b->slot[i] >= s->n_slots)
            return gsae_fail(err, GSAE_ERANGE,
                             "gemma_forward: sequence %lld uses slot %lld of %lld", (long long)i,
                             (long long)b->slot[i], (long long)s->n_slots);
        if (b->n_tok[i] < 0 || b->pos0[i] < 0 || b->pos0[i] + b->n_tok[i] > s->max_seq)
            return gsae_fail(err, GSAE_ERANGE,
                             "gemma_forward: sequence %lld positions %lld..%lld exceed the cache "
                             "(max_seq %lld)",
                             (long long)i, (long long)b->pos0[i],
                             (long long)(b->pos0[i] + b->n_tok[i]), (long long)s->max_seq);
        rows += b->n_tok[i];
    }
    if (rows != b->n_rows)
        return gsae_fail(err, GSAE_EINVAL, "gemma_forward: n_tok sums to %lld, n_rows is %lld",
                         (long long)rows, (long long)b->n_rows);
    return GSAE_OK;
}

/* y (n, ldy) = x (n, k) W^T in the state's compute mode: f32 (matmul.h) or bf16 through oneDNN
 * (gemm_dnnl.h; x rounded to bf16, W packed by gemma_state_set_compute). */
static enum gsae_status project(struct gemma_state *s, const struct scratch_layout *l, float *y,
                                int64_t ldy, const float *x, int64_t n, int64_t k,
                                const struct gsae_tensor *w, struct gsae_error *err)
{
    if (s->compute == GEMMA_COMPUTE_BF16) return gemm_dnnl_xwt(s->dnnl, y, ldy, x, n, k, w, err);
    matmul_xwt(y, ldy, x, n, k, w, s->scratch + l->tile, l->tile_floats, s->n_threads);
    return GSAE_OK;
}

/* The attention block on xn (normalised rows): RoPE, cache append, attention, o_proj into
 * proj. */
static enum gsae_status attention_block(const struct gemma_layer_weights *lw, struct gemma_state *s,
                                        const struct scratch_layout *l, const struct gemma_batch *b,
                                        int64_t layer, struct gsae_error *err)
{
    const struct gemma_config *c = &s->cfg;
    float *sc = s->scratch;
    int64_t n = b->n_rows, qd = c->n_heads * c->d_head, kvd = c->n_kv_heads * c->d_head;
    float *q = sc + l->q, *k = sc + l->k, *v = sc + l->v, *att = sc + l->att;
    struct gemma_timing *tm = s->timing, unused;
    tm = tm ? tm : &unused;
    double t0 = omp_get_wtime();
    enum gsae_status st = project(s, l, q, qd, sc + l->xn, n, c->d_model, &lw->attn_q, err);
    if (!st) st = project(s, l, k, kvd, sc + l->xn, n, c->d_model, &lw->attn_k, err);
    if (!st) st = project(s, l, v, kvd, sc + l->xn, n, c->d_model, &lw->attn_v, err);
    if (st) return st;
    lap(s, &tm->proj, &t0);
    struct attn_shape shape = {
        .n_heads = c->n_heads,
        .n_kv_heads = c->n_kv_heads,
        .d_head = c->d_head,
        .scale = 1.0f / sqrtf(c->query_pre_attn_scalar),
        .softcap = c->softcap_attn,
        .window = layer % 2 == 0 ? c->window_local : 0, /* even layers are local */
    };
    size_t layer_off = (size_t)(layer - s->layer_begin) * (size_t)s->n_slots;
    int64_t row0 = 0;
    for (int64_t i = 0; i < b->n_seq; i++) {
        int64_t nt = b->n_tok[i], p0 = b->pos0[i];
        size_t seq_off = (layer_off + (size_t)b->slot[i]) * (size_t)s->max_seq * (size_t)kvd;
        float *kc = s->k_cache + seq_off, *vc = s->v_cache + seq_off;
        ops_rope(q + row0 * qd, nt, qd, c->n_heads, c->d_head, p0, c->rope_theta);
        ops_rope(k + row0 * kvd, nt, kvd, c->n_kv_heads, c->d_head, p0, c->rope_theta);
        memcpy(kc + p0 * kvd, k + row0 * kvd, (size_t)(nt * kvd) * sizeof(float));
        memcpy(vc + p0 * kvd, v + row0 * kvd, (size_t)(nt * kvd) * sizeof(float));
        if (s->compute == GEMMA_COMPUTE_BF16 && nt > 1)
            st = attn_sequence_bf16(att + row0 * qd, qd, q + row0 * qd, qd, kc, vc, kvd, nt, p0,
                                    &shape, s->attn_bf16, s->dnnl, s->n_threads, err);
        else
            attn_sequence(att + row0 * qd, qd, q + row0 * qd, qd, kc, vc, kvd, nt, p0, &shape,
                          sc + l->scores, s->n_threads);
        if (st) return st;
        row0 += nt;
    }
    lap(s, &tm->attn, &t0);
    st = project(s, l, sc + l->proj, c->d_model, att, n, qd, &lw->attn_o, err);
    lap(s, &tm->proj, &t0);
    return st;
}

/* The MLP block on xn into proj: down(gelu_tanh(gate(xn)) * up(xn)). */
static enum gsae_status mlp_block(const struct gemma_layer_weights *lw, struct gemma_state *s,
                                  const struct scratch_layout *l, int64_t n, struct gsae_error *err)
{
    const struct gemma_config *c = &s->cfg;
    float *sc = s->scratch;
    struct gemma_timing *tm = s->timing, unused;
    tm = tm ? tm : &unused;
    double t0 = omp_get_wtime();
    enum gsae_status st =
        project(s, l, sc + l->gate, c->d_ff, sc + l->xn, n, c->d_model, &lw->ffn_gate, err);
    if (!st) st = project(s, l, sc + l->up, c->d_ff, sc + l->xn, n, c->d_model, &lw->ffn_up, err);
    if (st) return st;
    lap(s, &tm->proj, &t0);
    ops_gelu_mul(sc + l->gate, sc + l->up, n, c->d_ff, s->n_threads);
    lap(s, &tm->other, &t0);
    st = project(s, l, sc + l->proj, c->d_model, sc + l->gate, n, c->d_ff, &lw->ffn_down, err);
    lap(s, &tm->proj, &t0);
    return st;
}

/* x += proj, elementwise over n floats. */
static void add_residual(float *x, const float *proj, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] += proj[i];
}

enum gsae_status gemma_forward(const struct gemma_weights *w, struct gemma_state *s,
                               const struct gemma_batch *batch, float *x, int64_t layer_begin,
                               int64_t layer_end, const struct gemma_hook *hook,
                               struct gsae_error *err)
{
    if (layer_begin < s->layer_begin || layer_end > s->layer_end || layer_begin > layer_end)
        return gsae_fail(err, GSAE_EINVAL,
                         "gemma_forward: layers [%lld, %lld) outside the state's [%lld, %lld)",
                         (long long)layer_begin, (long long)layer_end, (long long)s->layer_begin,
                         (long long)s->layer_end);
    enum gsae_status st = check_batch(s, batch, err);
    if (st) return st;
    const struct gemma_config *c = &s->cfg;
    struct scratch_layout l = scratch_layout(c, s->max_seq, s->max_rows);
    int64_t n = batch->n_rows, d = c->d_model;
    float *xn = s->scratch + l.xn, *proj = s->scratch + l.proj, *norms = s->scratch + l.norms;
    struct gemma_timing *tm = s->timing, unused;
    tm = tm ? tm : &unused;
    for (int64_t L = layer_begin; L < layer_end; L++) {
        const struct gemma_layer_weights *lw = &w->layers[L];
        double t0 = omp_get_wtime();
        norm_weight(norms, &lw->norm_attn_in, d);
        norm_weight(norms + d, &lw->norm_attn_post, d);
        norm_weight(norms + 2 * d, &lw->norm_ffn_pre, d);
        norm_weight(norms + 3 * d, &lw->norm_ffn_post, d);

        ops_rmsnorm(xn, x, norms, n, d, c->rms_eps, s->n_threads);
        lap(s, &tm->other, &t0);
        if ((st = attention_block(lw, s, &l, batch, L, err))) return st;
        t0 = omp_get_wtime();
        ops_rmsnorm(proj, proj, norms + d, n, d, c->rms_eps, s->n_threads);
        add_residual(x, proj, n * d);

        ops_rmsnorm(xn, x, norms + 2 * d, n, d, c->rms_eps, s->n_threads);
        lap(s, &tm->other, &t0);
        if ((st = mlp_block(lw, s, &l, n, err))) return st;
        t0 = omp_get_wtime();
        ops_rmsnorm(proj, proj, norms + 3 * d, n, d, c->rms_eps, s->n_threads);
        add_residual(x, proj, n * d);
        lap(s, &tm->other, &t0);

        if (hook && hook->fn) {
            st = hook->fn(hook->ctx, "resid_post", L, x, batch, d, err);
            if (st) return st;
        }
    }
    return GSAE_OK;
}

enum gsae_status gemma_logits(const struct gemma_weights *w, struct gemma_state *s, const float *x,
                              int64_t n_rows, float *logits, struct gsae_error *err)
{
    const struct gemma_config *c = &s->cfg;
    if (!w->embed.data || !w->norm_final.data)
        return gsae_fail(err, GSAE_EINVAL,
                         "gemma_logits: model.embed_tokens or model.norm not loaded here");
    if (n_rows < 0 || n_rows > s->max_rows)
        return gsae_fail(err, GSAE_ERANGE, "gemma_logits: %lld rows, state holds %lld",
                         (long long)n_rows, (long long)s->max_rows);
    struct scratch_layout l = scratch_layout(c, s->max_seq, s->max_rows);
    float *xn = s->scratch + l.xn, *norms = s->scratch + l.norms + 4 * c->d_model;
    struct gemma_timing *tm = s->timing, unused;
    tm = tm ? tm : &unused;
    double t0 = omp_get_wtime();
    norm_weight(norms, &w->norm_final, c->d_model);
    ops_rmsnorm(xn, x, norms, n_rows, c->d_model, c->rms_eps, s->n_threads);
    lap(s, &tm->other, &t0);
    /* Tied unembedding: embed_tokens (n_vocab, d_model) is laid out as a Linear weight. */
    enum gsae_status st =
        project(s, &l, logits, c->n_vocab, xn, n_rows, c->d_model, &w->embed, err);
    if (st) return st;
    lap(s, &tm->proj, &t0);
    int64_t nv = c->n_vocab;
#pragma omp parallel for schedule(static) num_threads(s->n_threads) if (n_rows > 1)
    for (int64_t r = 0; r < n_rows; r++)
        ops_softcap(logits + r * nv, nv, c->softcap_final);
    lap(s, &tm->other, &t0);
    return GSAE_OK;
}
