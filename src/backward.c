/* backward.c: metric gradients through the Gemma-2 head and layers (see backward.h). */
#include "backward.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn.h"
#include "matmul.h"
#include "ops.h"

static int blas_int(int64_t v)
{
    GSAE_ASSERT(v >= 0 && v <= INT_MAX);
    return (int)v;
}

/* Offsets (floats) into gemma_bwd.scratch for R = max_rows rows:
 *   a, h, bn, u, y, dt, dh (R, d)   norm input of attention, mid residual, norm input of the
 *                                   MLP, o_proj output, down_proj output, a gradient, dM/dh
 *   q, o, dq (R, qd)                roped queries, attention output (then dM/do), dM/dq
 *   k, v, dk, dv (R, kvd)           roped keys, values and their gradients
 *   gt, up, dm (R, d_ff)            gate, up (then their gradients), MLP product / its gradient
 *   sc (3, min(R, ATTN_Q_TILE), R)  capped scores, probabilities, their gradient (one tile);
 *                                   the forward's attn_sequence uses the first part
 *   tile                            weight rows converted to f32 (matmul.h)
 *   norms (5, d)                    (1 + w) of the norms in use
 *   head: hx, hn (HEAD_ROWS, d), hl (HEAD_ROWS, V) */
struct layout {
    size_t a, h, bn, u, y, dt, dh, q, o, dq, k, v, dk, dv, gt, up, dm, sc, tile, norms;
    size_t hx, hn, hl, total;
    int64_t tile_floats, sc_rows;
};

static struct layout layout_of(const struct gemma_config *c, int64_t R, bool head)
{
    struct layout l = {0};
    int64_t d = c->d_model, qd = c->n_heads * c->d_head, kvd = c->n_kv_heads * c->d_head;
    int64_t ff = c->d_ff;
    size_t off = 0;
#define PLACE(field, floats)                                                                       \
    do {                                                                                           \
        l.field = off;                                                                             \
        off += (size_t)(floats);                                                                   \
        off = (off + 15) & ~(size_t)15;                                                            \
    } while (0)
    PLACE(a, R * d);
    PLACE(h, R * d);
    PLACE(bn, R * d);
    PLACE(u, R * d);
    PLACE(y, R * d);
    PLACE(dt, R * d);
    PLACE(dh, R * d);
    PLACE(q, R * qd);
    PLACE(o, R * qd);
    PLACE(dq, R * qd);
    PLACE(k, R * kvd);
    PLACE(v, R * kvd);
    PLACE(dk, R * kvd);
    PLACE(dv, R * kvd);
    PLACE(gt, R * ff);
    PLACE(up, R * ff);
    PLACE(dm, R * ff);
    l.sc_rows = R < ATTN_Q_TILE ? R : ATTN_Q_TILE;
    int64_t sc = 3 * l.sc_rows * R, fwd = attn_scratch_floats(R, R, c->n_heads);
    PLACE(sc, sc > fwd ? sc : fwd);
    int64_t k_max = d > qd ? d : qd;
    k_max = k_max > ff ? k_max : ff;
    int64_t w_max = ff * d > qd * d ? ff * d : qd * d;
    if (head) w_max = w_max > c->n_vocab * d ? w_max : c->n_vocab * d;
    l.tile_floats = matmul_tile_floats(k_max, w_max);
    PLACE(tile, l.tile_floats);
    PLACE(norms, 5 * d);
    if (head) {
        PLACE(hx, GEMMA_BWD_HEAD_ROWS * d);
        PLACE(hn, GEMMA_BWD_HEAD_ROWS * d);
        PLACE(hl, GEMMA_BWD_HEAD_ROWS * c->n_vocab);
    }
#undef PLACE
    l.total = off;
    return l;
}

size_t gemma_bwd_bytes(const struct gemma_config *cfg, int64_t n_layers_here, int64_t max_rows,
                       bool head)
{
    struct layout l = layout_of(cfg, max_rows, head);
    size_t saved = (size_t)n_layers_here * (size_t)max_rows * (size_t)cfg->d_model;
    return (saved + l.total) * sizeof(float);
}

enum gsae_status gemma_bwd_init(struct gemma_bwd *b, const struct gemma_config *cfg,
                                int64_t layer_begin, int64_t layer_end, int64_t max_rows, bool head,
                                struct gsae_error *err)
{
    memset(b, 0, sizeof *b);
    if (layer_begin < 0 || layer_end < layer_begin || layer_end > cfg->n_layers || max_rows < 1)
        return gsae_fail(err, GSAE_EINVAL,
                         "backward state: layers [%lld, %lld) of %lld, max_rows %lld",
                         (long long)layer_begin, (long long)layer_end, (long long)cfg->n_layers,
                         (long long)max_rows);
    b->cfg = *cfg;
    b->layer_begin = layer_begin;
    b->layer_end = layer_end;
    b->max_rows = max_rows;
    b->head = head;
    b->n_threads = 1;
    struct layout l = layout_of(cfg, max_rows, head);
    size_t saved = (size_t)(layer_end - layer_begin) * (size_t)max_rows * (size_t)cfg->d_model;
    b->scratch_floats = l.total;
    b->inputs = aligned_alloc(64, ((saved ? saved : 1) * sizeof(float) + 63) & ~(size_t)63);
    b->scratch = aligned_alloc(64, (l.total * sizeof(float) + 63) & ~(size_t)63);
    if (!b->inputs || !b->scratch) {
        size_t bytes = gemma_bwd_bytes(cfg, layer_end - layer_begin, max_rows, head);
        gemma_bwd_free(b);
        return gsae_fail(err, GSAE_ENOMEM, "backward state: cannot allocate %zu MiB", bytes >> 20);
    }
    return GSAE_OK;
}

void gemma_bwd_free(struct gemma_bwd *b)
{
    free(b->inputs);
    free(b->scratch);
    memset(b, 0, sizeof *b);
}

enum gsae_status gemma_metric_check(const struct gemma_metric *m, int64_t n, int64_t n_vocab,
                                    struct gsae_error *err)
{
    if (m->kind == GEMMA_METRIC_LOGIT_DIFF) {
        if (m->position < 0 || m->position >= n)
            return gsae_fail(err, GSAE_ERANGE, "metric: position %lld outside [0, %lld)",
                             (long long)m->position, (long long)n);
        if (m->target < 0 || m->target >= n_vocab || m->baseline < 0 || m->baseline >= n_vocab)
            return gsae_fail(err, GSAE_ERANGE,
                             "metric: target %d or baseline %d outside the vocabulary [0, %lld)",
                             m->target, m->baseline, (long long)n_vocab);
        return GSAE_OK;
    }
    if (m->kind != GEMMA_METRIC_ANSWER_LOGPROB)
        return gsae_fail(err, GSAE_EINVAL, "metric: unknown kind %d", (int)m->kind);
    if (m->first < 1 || m->last < m->first || m->last >= n)
        return gsae_fail(err, GSAE_ERANGE,
                         "metric: answer positions [%lld, %lld] must satisfy 1 <= first <= last "
                         "< %lld",
                         (long long)m->first, (long long)m->last, (long long)n);
    if (!m->tokens) return gsae_fail(err, GSAE_EINVAL, "metric: answer_logprob needs the tokens");
    for (int64_t p = m->first; p <= m->last; p++)
        if (m->tokens[p] < 0 || m->tokens[p] >= n_vocab)
            return gsae_fail(err, GSAE_ERANGE, "metric: answer token %lld is %d, outside [0, %lld)",
                             (long long)p, m->tokens[p], (long long)n_vocab);
    return GSAE_OK;
}

int64_t gemma_metric_rows(const struct gemma_metric *m)
{
    return m->kind == GEMMA_METRIC_LOGIT_DIFF ? m->position + 1 : m->last;
}

enum gsae_status gemma_bwd_save(struct gemma_bwd *b, int64_t layer, const float *x, int64_t n,
                                struct gsae_error *err)
{
    if (layer < b->layer_begin || layer >= b->layer_end)
        return gsae_fail(err, GSAE_ERANGE, "backward: layer %lld outside the state's [%lld, %lld)",
                         (long long)layer, (long long)b->layer_begin, (long long)b->layer_end);
    if (n < 0 || n > b->max_rows)
        return gsae_fail(err, GSAE_ERANGE, "backward: %lld rows, state holds %lld", (long long)n,
                         (long long)b->max_rows);
    size_t d = (size_t)b->cfg.d_model;
    memcpy(b->inputs + (size_t)(layer - b->layer_begin) * (size_t)b->max_rows * d, x,
           (size_t)n * d * sizeof(float));
    if (layer == b->layer_begin) b->n_saved = n;
    return GSAE_OK;
}

enum gsae_status gemma_bwd_hook(void *ctx, const char *name, int64_t layer, float *x,
                                const struct gemma_batch *batch, int64_t d_model,
                                struct gsae_error *err)
{
    struct gemma_bwd *b = ctx;
    (void)d_model;
    if (strcmp(name, "resid_post") != 0 || layer + 1 < b->layer_begin || layer + 1 >= b->layer_end)
        return GSAE_OK;
    if (batch->n_seq != 1 || batch->pos0[0] != 0)
        return gsae_fail(err, GSAE_EINVAL,
                         "backward: records one sequence from position 0, got %lld sequences",
                         (long long)batch->n_seq);
    enum gsae_status st = gemma_bwd_save(b, layer + 1, x, batch->n_rows, err);
    if (st == GSAE_OK && layer + 1 == b->layer_begin) b->n_saved = batch->n_rows;
    return st;
}

enum gsae_status gemma_bwd_forward(const struct gemma_weights *w, struct gemma_bwd *b,
                                   struct gemma_state *fs, float *x, int64_t n,
                                   struct gsae_error *err)
{
    if (b->layer_end == b->layer_begin) return GSAE_OK;
    enum gsae_status st = gemma_bwd_save(b, b->layer_begin, x, n, err);
    if (st) return st;
    int64_t slot = 0, pos0 = 0;
    struct gemma_batch batch = {.n_seq = 1, .n_rows = n, .slot = &slot, .pos0 = &pos0, .n_tok = &n};
    struct gemma_hook hook = {gemma_bwd_hook, b};
    return gemma_forward(w, fs, &batch, x, b->layer_begin, b->layer_end, &hook, err);
}

/* dx (m, k) = dy (m, n) W (+ dx when accumulate), W a (n, k) Linear weight in F32/BF16/F16:
 * the transpose of matmul_xwt. BF16/F16 weights are converted a tile of rows at a time. */
static void matmul_dyw(float *dx, const float *dy, int64_t m, int64_t n, int64_t k,
                       const struct gsae_tensor *w, float *tile, int64_t tile_floats,
                       bool accumulate)
{
    if (m == 0) return;
    float beta = accumulate ? 1.0f : 0.0f;
    if (w->dtype == GSAE_DTYPE_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas_int(m), blas_int(k),
                    blas_int(n), 1.0f, dy, blas_int(n), w->data, blas_int(k), beta, dx,
                    blas_int(k));
        return;
    }
    GSAE_ASSERT(tile_floats >= k);
    int64_t nb = tile_floats / k, n_tiles = (n + nb - 1) / nb;
    for (int64_t i = 0; i < n_tiles; i++) {
        int64_t n0 = n * i / n_tiles, nt = n * (i + 1) / n_tiles - n0;
        matmul_rows_to_f32(tile, w, n0, nt, k, 1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas_int(m), blas_int(k),
                    blas_int(nt), 1.0f, dy + n0, blas_int(n), tile, blas_int(k), beta, dx,
                    blas_int(k));
        beta = 1.0f;
    }
}

/* Backward of y = rmsnorm(x) * w1 (ops_rmsnorm) for n rows: gx = dM/dx from gy = dM/dy;
 * gx += that when accumulate. Row sums in double. */
static void rmsnorm_bwd(float *gx, const float *x, const float *w1, const float *gy, int64_t n,
                        int64_t d, float eps, bool accumulate, int n_threads)
{
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n > 1)
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * d, *gr = gy + r * d;
        float *out = gx + r * d;
        double ss = 0.0, c = 0.0;
        for (int64_t i = 0; i < d; i++) {
            ss += (double)xr[i] * (double)xr[i];
            c += (double)xr[i] * (double)w1[i] * (double)gr[i];
        }
        double inv = 1.0 / sqrt(ss / (double)d + (double)eps);
        float a = (float)inv, bcoef = (float)(inv * inv * inv * c / (double)d);
        for (int64_t i = 0; i < d; i++) {
            float v = a * w1[i] * gr[i] - xr[i] * bcoef;
            out[i] = accumulate ? out[i] + v : v;
        }
    }
}

/* Rotate by -angle: the transpose of ops_rope (same angles). */
static void rope_bwd(float *x, int64_t n_rows, int64_t ld, int64_t n_heads, int64_t d_head,
                     float theta)
{
    int64_t half = d_head / 2;
    for (int64_t r = 0; r < n_rows; r++) {
        float pos = (float)r;
        for (int64_t i = 0; i < half; i++) {
            float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)d_head);
            float angle = pos * inv_freq;
            float c = cosf(angle), s = sinf(angle);
            for (int64_t h = 0; h < n_heads; h++) {
                float *xh = x + r * ld + h * d_head;
                float a = xh[i], b = xh[i + half];
                xh[i] = a * c + b * s;
                xh[i + half] = b * c - a * s;
            }
        }
    }
}

/* dM/d(gate), dM/d(up) from dM/dm, m = gelu_tanh(gate) * up; in place over gate and up. */
static void gelu_mul_bwd(float *gate, float *up, const float *dm, int64_t count, int n_threads)
{
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
#pragma omp parallel for schedule(static) num_threads(n_threads) if (count > 65536)
    for (int64_t i = 0; i < count; i++) {
        float x = gate[i], t = tanhf(k * (x + 0.044715f * x * x * x));
        float gelu = 0.5f * x * (1.0f + t);
        float dgelu =
            0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * x * x);
        gate[i] = dm[i] * up[i] * dgelu;
        up[i] = dm[i] * gelu;
    }
}

/* Attention backward for one sequence of n rows at positions 0 .. n-1: dq (n, qd) from
 * do_ (n, qd); dk, dv (n, kvd) set. q, k roped. Scores recomputed a tile of queries at a time,
 * as attn_sequence computes them. */
static void attn_bwd(float *dq, float *dk, float *dv, const float *q, const float *k,
                     const float *v, const float *do_, int64_t n, const struct attn_shape *sh,
                     float *sc, int64_t sc_rows)
{
    int64_t dh = sh->d_head, group = sh->n_heads / sh->n_kv_heads;
    int64_t qd = sh->n_heads * dh, kvd = sh->n_kv_heads * dh;
    memset(dk, 0, (size_t)(n * kvd) * sizeof *dk);
    memset(dv, 0, (size_t)(n * kvd) * sizeof *dv);
    float *C = sc, *P = sc + sc_rows * n, *D = sc + 2 * sc_rows * n;
    float cap = sh->softcap;
    for (int64_t h = 0; h < sh->n_heads; h++) {
        int64_t g = h / group;
        for (int64_t a = 0; a < n; a += sc_rows) {
            int64_t b = n - a < sc_rows ? n : a + sc_rows, rows = b - a;
            int64_t j_hi = b, j_lo = sh->window > 0 ? a - sh->window + 1 : 0;
            j_lo = j_lo > 0 ? j_lo : 0;
            int64_t nk = j_hi - j_lo;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(rows), blas_int(nk),
                        blas_int(dh), sh->scale, q + a * qd + h * dh, blas_int(qd),
                        k + j_lo * kvd + g * dh, blas_int(kvd), 0.0f, C, blas_int(nk));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(rows), blas_int(nk),
                        blas_int(dh), 1.0f, do_ + a * qd + h * dh, blas_int(qd),
                        v + j_lo * kvd + g * dh, blas_int(kvd), 0.0f, D, blas_int(nk));
            for (int64_t i = a; i < b; i++) {
                float *c = C + (i - a) * nk, *p = P + (i - a) * nk, *dp = D + (i - a) * nk;
                int64_t first = sh->window > 0 ? i - sh->window + 1 : 0;
                first = first > j_lo ? first - j_lo : 0;
                int64_t end = i - j_lo + 1;
                ops_softcap(c + first, end - first, cap);
                memset(p, 0, (size_t)nk * sizeof *p);
                memcpy(p + first, c + first, (size_t)(end - first) * sizeof *p);
                ops_softmax(p + first, end - first);
                double s = 0.0;
                for (int64_t j = first; j < end; j++)
                    s += (double)p[j] * (double)dp[j];
                float sf = (float)s;
                for (int64_t j = 0; j < nk; j++) {
                    if (j < first || j >= end) {
                        dp[j] = 0.0f;
                        continue;
                    }
                    float f = 1.0f;
                    if (cap > 0.0f) {
                        float t = c[j] / cap;
                        f = 1.0f - t * t;
                    }
                    dp[j] = p[j] * (dp[j] - sf) * f;
                }
            }
            /* dq = scale dS K; dk += scale dS^T q; dv += P^T do */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas_int(rows), blas_int(dh),
                        blas_int(nk), sh->scale, D, blas_int(nk), k + j_lo * kvd + g * dh,
                        blas_int(kvd), 0.0f, dq + a * qd + h * dh, blas_int(qd));
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blas_int(nk), blas_int(dh),
                        blas_int(rows), sh->scale, D, blas_int(nk), q + a * qd + h * dh,
                        blas_int(qd), 1.0f, dk + j_lo * kvd + g * dh, blas_int(kvd));
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blas_int(nk), blas_int(dh),
                        blas_int(rows), 1.0f, P, blas_int(nk), do_ + a * qd + h * dh, blas_int(qd),
                        1.0f, dv + j_lo * kvd + g * dh, blas_int(kvd));
        }
    }
}

static void norm_weight(float *dst, const struct gsae_tensor *w, int64_t d)
{
    gsae_to_f32(dst, w->data, w->dtype, d);
    for (int64_t i = 0; i < d; i++)
        dst[i] = 1.0f + dst[i];
}

/* One layer: recompute its activations from x (n, d), then g := dM/dx from g = dM/dx'. */
static void layer_bwd(const struct gemma_layer_weights *lw, struct gemma_bwd *b,
                      const struct layout *l, int64_t layer, const float *x, float *g, int64_t n)
{
    const struct gemma_config *c = &b->cfg;
    float *S = b->scratch, *tile = S + l->tile, *nw = S + l->norms;
    int64_t d = c->d_model, qd = c->n_heads * c->d_head, kvd = c->n_kv_heads * c->d_head;
    int64_t ff = c->d_ff, tf = l->tile_floats;
    int nt = b->n_threads;
    float eps = c->rms_eps;
    float *a = S + l->a, *h = S + l->h, *bn = S + l->bn, *u = S + l->u, *y = S + l->y;
    float *dt = S + l->dt, *dh = S + l->dh, *q = S + l->q, *o = S + l->o, *dq = S + l->dq;
    float *k = S + l->k, *v = S + l->v, *dk = S + l->dk, *dv = S + l->dv;
    float *gt = S + l->gt, *up = S + l->up, *dm = S + l->dm;
    float *w_in = nw, *w_pa = nw + d, *w_pf = nw + 2 * d, *w_ff = nw + 3 * d;
    norm_weight(w_in, &lw->norm_attn_in, d);
    norm_weight(w_pa, &lw->norm_attn_post, d);
    norm_weight(w_pf, &lw->norm_ffn_pre, d);
    norm_weight(w_ff, &lw->norm_ffn_post, d);
    struct attn_shape shape = {
        .n_heads = c->n_heads,
        .n_kv_heads = c->n_kv_heads,
        .d_head = c->d_head,
        .scale = 1.0f / sqrtf(c->query_pre_attn_scalar),
        .softcap = c->softcap_attn,
        .window = layer % 2 == 0 ? c->window_local : 0,
    };

    /* Recompute, as gemma_forward. */
    ops_rmsnorm(a, x, w_in, n, d, eps, nt);
    matmul_xwt(q, qd, a, n, d, &lw->attn_q, tile, tf, nt);
    matmul_xwt(k, kvd, a, n, d, &lw->attn_k, tile, tf, nt);
    matmul_xwt(v, kvd, a, n, d, &lw->attn_v, tile, tf, nt);
    ops_rope(q, n, qd, c->n_heads, c->d_head, 0, c->rope_theta);
    ops_rope(k, n, kvd, c->n_kv_heads, c->d_head, 0, c->rope_theta);
    attn_sequence(o, qd, q, qd, k, v, kvd, n, 0, &shape, S + l->sc, nt);
    matmul_xwt(u, d, o, n, qd, &lw->attn_o, tile, tf, nt);
    ops_rmsnorm(h, u, w_pa, n, d, eps, nt);
    for (int64_t i = 0; i < n * d; i++)
        h[i] += x[i];
    ops_rmsnorm(bn, h, w_pf, n, d, eps, nt);
    matmul_xwt(gt, ff, bn, n, d, &lw->ffn_gate, tile, tf, nt);
    matmul_xwt(up, ff, bn, n, d, &lw->ffn_up, tile, tf, nt);
    memcpy(dm, gt, (size_t)(n * ff) * sizeof *dm);
    ops_gelu_mul(dm, up, n, ff, nt);
    matmul_xwt(y, d, dm, n, ff, &lw->ffn_down, tile, tf, nt);

    /* Backward. x' = h + norm(y): dh = g + (through the MLP). */
    rmsnorm_bwd(dt, y, w_ff, g, n, d, eps, false, nt);
    matmul_dyw(dm, dt, n, d, ff, &lw->ffn_down, tile, tf, false);
    gelu_mul_bwd(gt, up, dm, n * ff, nt);
    matmul_dyw(dt, gt, n, ff, d, &lw->ffn_gate, tile, tf, false);
    matmul_dyw(dt, up, n, ff, d, &lw->ffn_up, tile, tf, true);
    memcpy(dh, g, (size_t)(n * d) * sizeof *dh);
    rmsnorm_bwd(dh, h, w_pf, dt, n, d, eps, true, nt);
    /* h = x + norm(u): dx = dh + (through attention). */
    rmsnorm_bwd(dt, u, w_pa, dh, n, d, eps, false, nt);
    matmul_dyw(o, dt, n, d, qd, &lw->attn_o, tile, tf, false);
    attn_bwd(dq, dk, dv, q, k, v, o, n, &shape, S + l->sc, l->sc_rows);
    rope_bwd(dq, n, qd, c->n_heads, c->d_head, c->rope_theta);
    rope_bwd(dk, n, kvd, c->n_kv_heads, c->d_head, c->rope_theta);
    matmul_dyw(dt, dq, n, qd, d, &lw->attn_q, tile, tf, false);
    matmul_dyw(dt, dk, n, kvd, d, &lw->attn_k, tile, tf, true);
    matmul_dyw(dt, dv, n, kvd, d, &lw->attn_v, tile, tf, true);
    memcpy(g, dh, (size_t)(n * d) * sizeof *g);
    rmsnorm_bwd(g, x, w_in, dt, n, d, eps, true, nt);
}

enum gsae_status gemma_bwd_layers(const struct gemma_weights *w, struct gemma_bwd *b, float *g,
                                  int64_t n, int64_t layer_begin, int64_t layer_end,
                                  struct gsae_error *err)
{
    if (layer_begin < b->layer_begin || layer_end > b->layer_end || layer_begin > layer_end)
        return gsae_fail(err, GSAE_EINVAL,
                         "backward: layers [%lld, %lld) outside the state's [%lld, %lld)",
                         (long long)layer_begin, (long long)layer_end, (long long)b->layer_begin,
                         (long long)b->layer_end);
    if (n < 0 || (layer_end > layer_begin && n > b->n_saved))
        return gsae_fail(err, GSAE_ERANGE, "backward: %lld rows, %lld recorded by the forward",
                         (long long)n, (long long)b->n_saved);
    struct layout l = layout_of(&b->cfg, b->max_rows, b->head);
    size_t stride = (size_t)b->max_rows * (size_t)b->cfg.d_model;
    for (int64_t L = layer_end - 1; L >= layer_begin && n > 0; L--)
        layer_bwd(&w->layers[L], b, &l, L, b->inputs + (size_t)(L - b->layer_begin) * stride, g, n);
    return GSAE_OK;
}

enum gsae_status gemma_bwd_head(const struct gemma_weights *w, struct gemma_bwd *b, const float *x,
                                int64_t n, const struct gemma_metric *m, double *value, float *g,
                                struct gsae_error *err)
{
    const struct gemma_config *c = &b->cfg;
    if (!b->head) return gsae_fail(err, GSAE_EINVAL, "backward: state made without the head");
    if (!w->embed.data || !w->norm_final.data)
        return gsae_fail(err, GSAE_EINVAL,
                         "backward: model.embed_tokens or model.norm not loaded here");
    enum gsae_status st = gemma_metric_check(m, n, c->n_vocab, err);
    if (st) return st;
    struct layout l = layout_of(c, b->max_rows, b->head);
    int64_t d = c->d_model, V = c->n_vocab;
    float *S = b->scratch, *hx = S + l.hx, *hn = S + l.hn, *hl = S + l.hl, *nw = S + l.norms;
    float cap = c->softcap_final;
    norm_weight(nw + 4 * d, &w->norm_final, d);
    memset(g, 0, (size_t)(n * d) * sizeof *g);
    /* Rows whose logits the metric reads: [r0, r1). */
    int64_t r0 = m->kind == GEMMA_METRIC_LOGIT_DIFF ? m->position : m->first - 1;
    int64_t r1 = m->kind == GEMMA_METRIC_LOGIT_DIFF ? m->position + 1 : m->last;
    double total = 0.0;
    for (int64_t c0 = r0; c0 < r1; c0 += GEMMA_BWD_HEAD_ROWS) {
        int64_t rows = r1 - c0 < GEMMA_BWD_HEAD_ROWS ? r1 - c0 : GEMMA_BWD_HEAD_ROWS;
        memcpy(hx, x + c0 * d, (size_t)(rows * d) * sizeof *hx);
        ops_rmsnorm(hn, hx, nw + 4 * d, rows, d, c->rms_eps, b->n_threads);
        matmul_xwt(hl, V, hn, rows, d, &w->embed, S + l.tile, l.tile_floats, b->n_threads);
        for (int64_t r = 0; r < rows; r++) {
            float *lr = hl + r * V;
            ops_softcap(lr, V, cap);
            /* lr := dM/dlogits, then times the soft-cap's derivative */
            if (m->kind == GEMMA_METRIC_LOGIT_DIFF) {
                total += (double)lr[m->target] - (double)lr[m->baseline];
                for (int64_t i = 0; i < V; i++) {
                    float t = cap > 0.0f ? lr[i] / cap : 0.0f;
                    float dl = (float)(i == m->target) - (float)(i == m->baseline);
                    lr[i] = dl * (1.0f - t * t);
                }
            } else {
                int32_t tok = m->tokens[c0 + r + 1];
                double mx = -INFINITY, se = 0.0;
                for (int64_t i = 0; i < V; i++)
                    mx = lr[i] > mx ? lr[i] : mx;
                for (int64_t i = 0; i < V; i++)
                    se += exp((double)lr[i] - mx);
                double lse = mx + log(se);
                total += (double)lr[tok] - lse;
                for (int64_t i = 0; i < V; i++) {
                    float t = cap > 0.0f ? lr[i] / cap : 0.0f;
                    float dl = (float)((i == tok) - exp((double)lr[i] - lse));
                    lr[i] = dl * (1.0f - t * t);
                }
            }
        }
        matmul_dyw(hn, hl, rows, V, d, &w->embed, S + l.tile, l.tile_floats, false);
        rmsnorm_bwd(g + c0 * d, hx, nw + 4 * d, hn, rows, d, c->rms_eps, false, b->n_threads);
    }
    *value = total;
    return GSAE_OK;
}

double gemma_metric_eval(const struct gemma_metric *m, const float *logits, int64_t n_vocab)
{
    if (m->kind == GEMMA_METRIC_LOGIT_DIFF) {
        const float *lr = logits + m->position * n_vocab;
        return (double)lr[m->target] - (double)lr[m->baseline];
    }
    double total = 0.0;
    for (int64_t p = m->first; p <= m->last; p++) {
        const float *lr = logits + (p - 1) * n_vocab;
        double mx = -INFINITY, se = 0.0;
        for (int64_t i = 0; i < n_vocab; i++)
            mx = lr[i] > mx ? lr[i] : mx;
        for (int64_t i = 0; i < n_vocab; i++)
            se += exp((double)lr[i] - mx);
        total += (double)lr[m->tokens[p]] - (mx + log(se));
    }
    return total;
}
