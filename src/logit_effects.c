/* logit_effects.c: top positive and negative logit effects of SAE features (logit_effects.h). */
#include "logit_effects.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LOGIT_EFFECTS_CHUNK 4096

static int blas_int(int64_t v)
{
    return (int)v; /* callers keep every size below INT32_MAX (checked in _init) */
}

void logit_effects_free(struct logit_effects *le)
{
    free(le->pos_id);
    free(le->pos_value);
    free(le->neg_id);
    free(le->neg_value);
    free(le->dir);
    free(le->dir_f32);
    free(le->dir_norm);
    free(le->scores);
    *le = (struct logit_effects){0};
}

enum gsae_status logit_effects_init(struct logit_effects *le, const float *const *w_dec_rows,
                                    int64_t n_features, int64_t d_model, const float *norm_w,
                                    int64_t k, struct gsae_error *err)
{
    *le = (struct logit_effects){0};
    if (n_features < 1 || d_model < 1 || k < 1 || d_model > INT32_MAX / 2 ||
        n_features > INT32_MAX / LOGIT_EFFECTS_CHUNK || k > (1 << 20))
        return gsae_fail(err, GSAE_EINVAL,
                         "logit effects: %lld features, d_model %lld, k %lld out of range",
                         (long long)n_features, (long long)d_model, (long long)k);
    le->n_features = n_features;
    le->d_model = d_model;
    le->k = k;
    le->chunk = LOGIT_EFFECTS_CHUNK;
    size_t nk = (size_t)(n_features * k), nd = (size_t)(n_features * d_model);
    le->pos_id = malloc(nk * sizeof *le->pos_id);
    le->neg_id = malloc(nk * sizeof *le->neg_id);
    le->pos_value = malloc(nk * sizeof *le->pos_value);
    le->neg_value = malloc(nk * sizeof *le->neg_value);
    le->dir = malloc(nd * sizeof *le->dir);
    le->dir_f32 = malloc(nd * sizeof *le->dir_f32);
    le->dir_norm = malloc((size_t)n_features * sizeof *le->dir_norm);
    le->scores = malloc((size_t)(n_features * le->chunk) * sizeof *le->scores);
    if (!le->pos_id || !le->neg_id || !le->pos_value || !le->neg_value || !le->dir ||
        !le->dir_f32 || !le->dir_norm || !le->scores) {
        logit_effects_free(le);
        return gsae_fail(err, GSAE_ENOMEM, "logit effects: out of memory for %lld features",
                         (long long)n_features);
    }
    for (int64_t f = 0; f < n_features; f++) {
        double ss = 0;
        for (int64_t d = 0; d < d_model; d++) {
            double a = (double)w_dec_rows[f][d] * (1.0 + (double)norm_w[d]);
            le->dir[f * d_model + d] = a;
            le->dir_f32[f * d_model + d] = (float)a;
            ss += a * a;
        }
        le->dir_norm[f] = sqrt(ss);
    }
    return GSAE_OK;
}

/* Insert (id, v) into the sorted list ids/vals of n entries (capacity k); sign +1 keeps the
 * largest first, -1 the smallest first; equal values keep the smaller id first. */
static void top_insert(int32_t *ids, double *vals, int64_t *n, int64_t k, int32_t id, double v,
                       int sign)
{
    int64_t at = *n;
    while (at > 0) {
        double u = vals[at - 1];
        bool before = sign > 0 ? (v > u || (v == u && id < ids[at - 1]))
                               : (v < u || (v == u && id < ids[at - 1]));
        if (!before) break;
        at--;
    }
    if (at >= k) return;
    int64_t last = *n < k ? *n : k - 1;
    memmove(ids + at + 1, ids + at, (size_t)(last - at) * sizeof *ids);
    memmove(vals + at + 1, vals + at, (size_t)(last - at) * sizeof *vals);
    ids[at] = id;
    vals[at] = v;
    if (*n < k) (*n)++;
}

enum gsae_status logit_effects_add(struct logit_effects *le, const float *embed, int64_t vocab0,
                                   int64_t n_rows, struct gsae_error *err)
{
    if (vocab0 != le->n_seen || n_rows < 0 || vocab0 + n_rows > INT32_MAX)
        return gsae_fail(err, GSAE_EINVAL,
                         "logit effects: rows %lld.. added after %lld rows (expected in order)",
                         (long long)vocab0, (long long)le->n_seen);
    const int64_t D = le->d_model, K = le->k, F = le->n_features;
    /* sgemm's error on a dot product of length D is at most about D * 2^-24 * sum |a_i b_i|
     * <= D * 2^-24 * |a| |b|; the f32 rounding of a adds 2^-24 |a| |b|. Use twice that. */
    const double bound = (double)(D + 4) * 0x1p-23;
    for (int64_t r0 = 0; r0 < n_rows; r0 += le->chunk) {
        int64_t m = n_rows - r0 < le->chunk ? n_rows - r0 : le->chunk;
        const float *e = embed + r0 * D;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas_int(F), blas_int(m), blas_int(D),
                    1.0f, le->dir_f32, blas_int(D), e, blas_int(D), 0.0f, le->scores, blas_int(m));
        for (int64_t r = 0; r < m; r++) {
            const float *row = e + r * D;
            double ss = 0;
            for (int64_t d = 0; d < D; d++)
                ss += (double)row[d] * (double)row[d];
            double enorm = sqrt(ss);
            int32_t id = (int32_t)(vocab0 + r0 + r);
            for (int64_t f = 0; f < F; f++) {
                double s = (double)le->scores[f * m + r];
                double tol = bound * le->dir_norm[f] * enorm + DBL_MIN;
                int64_t n = le->n_top;
                double *pv = le->pos_value + f * K, *nv = le->neg_value + f * K;
                bool want_pos = n < K || s + tol >= pv[K - 1];
                bool want_neg = n < K || s - tol <= nv[K - 1];
                if (!want_pos && !want_neg) continue;
                const double *a = le->dir + f * D;
                double v = 0;
                for (int64_t d = 0; d < D; d++)
                    v += a[d] * (double)row[d];
                int64_t np = n, nn = n;
                top_insert(le->pos_id + f * K, pv, &np, K, id, v, +1);
                top_insert(le->neg_id + f * K, nv, &nn, K, id, v, -1);
            }
            if (le->n_top < K) le->n_top++;
        }
    }
    le->n_seen = vocab0 + n_rows;
    return GSAE_OK;
}

enum gsae_status logit_effects_add_tensor(struct logit_effects *le, const struct gsae_tensor *embed,
                                          struct gsae_error *err)
{
    if (!embed->data || embed->n_dims != 2 || embed->shape[1] != le->d_model ||
        (embed->dtype != GSAE_DTYPE_F32 && embed->dtype != GSAE_DTYPE_BF16 &&
         embed->dtype != GSAE_DTYPE_F16 && embed->dtype != GSAE_DTYPE_F64))
        return gsae_fail(err, GSAE_EINVAL,
                         "logit effects: the embedding is not a floating (n_vocab, %lld) tensor",
                         (long long)le->d_model);
    const int64_t D = le->d_model, n_vocab = embed->shape[0];
    float *buf = malloc((size_t)(le->chunk * D) * sizeof *buf);
    if (!buf) return gsae_fail(err, GSAE_ENOMEM, "logit effects: out of memory");
    size_t es = gsae_dtype_size(embed->dtype);
    enum gsae_status st = GSAE_OK;
    for (int64_t v0 = 0; v0 < n_vocab && st == GSAE_OK; v0 += le->chunk) {
        int64_t m = n_vocab - v0 < le->chunk ? n_vocab - v0 : le->chunk;
        gsae_to_f32(buf, (const char *)embed->data + (size_t)(v0 * D) * es, embed->dtype, m * D);
        st = logit_effects_add(le, buf, v0, m, err);
    }
    free(buf);
    return st;
}
