/* featstats.c: per-feature statistics with exact, order-independent merging (see featstats.h). */
#include "featstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum gsae_status featstats_init(struct featstats *fs, const struct featstats_config *cfg,
                                struct gsae_error *err)
{
    memset(fs, 0, sizeof *fs);
    if (cfg->d_sae < 1 || cfg->d_sae > ((int64_t)1 << 32) || cfg->top_k < 1 || cfg->top_k > 1024 ||
        cfg->ctx_before < 0 || cfg->ctx_before > 1024 || cfg->ctx_after < 0 ||
        cfg->ctx_after > 1024)
        return gsae_fail(err, GSAE_EINVAL,
                         "featstats: d_sae %lld, top_k %lld, context %lld/%lld out of range",
                         (long long)cfg->d_sae, (long long)cfg->top_k, (long long)cfg->ctx_before,
                         (long long)cfg->ctx_after);
    fs->cfg = *cfg;
    fs->ctx_len = cfg->ctx_before + 1 + cfg->ctx_after;
    size_t d = (size_t)cfg->d_sae, k = (size_t)cfg->top_k, c = (size_t)fs->ctx_len, n_ctx;
    if (!gsae_mul_size(d * k, c, &n_ctx))
        return gsae_fail(err, GSAE_ENOMEM, "featstats: context table too large");
    fs->fire_count = calloc(d, sizeof *fs->fire_count);
    fs->sum_hi = calloc(d, sizeof *fs->sum_hi);
    fs->sum_lo = calloc(d, sizeof *fs->sum_lo);
    fs->hist = calloc(d * FEATSTATS_HIST_BINS, sizeof *fs->hist);
    fs->top_n = calloc(d, sizeof *fs->top_n);
    fs->top = calloc(d * k, sizeof *fs->top);
    fs->top_ctx = malloc(n_ctx * sizeof *fs->top_ctx);
    if (!fs->fire_count || !fs->sum_hi || !fs->sum_lo || !fs->hist || !fs->top_n || !fs->top ||
        !fs->top_ctx) {
        featstats_free(fs);
        return gsae_fail(err, GSAE_ENOMEM, "featstats: out of memory for %lld features",
                         (long long)cfg->d_sae);
    }
    for (size_t i = 0; i < n_ctx; i++)
        fs->top_ctx[i] = -1;
    return GSAE_OK;
}

void featstats_free(struct featstats *fs)
{
    free(fs->fire_count);
    free(fs->sum_hi);
    free(fs->sum_lo);
    free(fs->hist);
    free(fs->top_n);
    free(fs->top);
    free(fs->top_ctx);
    memset(fs, 0, sizeof *fs);
}

double featstats_hist_lower(int64_t bin)
{
    if (bin <= 0) return 0.0;
    return pow(10.0, -3.0 + (double)(bin - 1) / 8.0);
}

int64_t featstats_hist_bin(float a)
{
    if (!(a >= 1e-3f)) return 0;
    if (a >= 1e3f) return FEATSTATS_HIST_BINS - 1;
    int64_t b = 1 + (int64_t)floor(8.0 * (log10((double)a) + 3.0));
    /* keep the bin consistent with the edges featstats_hist_lower reports */
    while (b > 1 && (double)a < featstats_hist_lower(b))
        b--;
    while (b < FEATSTATS_HIST_BINS - 1 && (double)a >= featstats_hist_lower(b + 1))
        b++;
    return b;
}

bool featstats_example_better(const struct featstats_example *a, const struct featstats_example *b)
{
    if (a->value != b->value) return a->value > b->value;
    if (a->doc != b->doc) return a->doc < b->doc;
    if (a->pos != b->pos) return a->pos < b->pos;
    return a->token < b->token;
}

/* Insert ex (with context ctx) into feature f's sorted list if it ranks in the top K. */
static void offer(struct featstats *fs, int64_t f, const struct featstats_example *ex,
                  const int32_t *ctx)
{
    int64_t k = fs->cfg.top_k, n = fs->top_n[f], c = fs->ctx_len;
    struct featstats_example *top = fs->top + f * k;
    int32_t *tctx = fs->top_ctx + f * k * c;
    if (n == k && !featstats_example_better(ex, &top[k - 1])) return;
    int64_t at = n < k ? n : k - 1;
    while (at > 0 && featstats_example_better(ex, &top[at - 1])) {
        top[at] = top[at - 1];
        memcpy(tctx + at * c, tctx + (at - 1) * c, (size_t)c * sizeof *tctx);
        at--;
    }
    top[at] = *ex;
    memcpy(tctx + at * c, ctx, (size_t)c * sizeof *tctx);
    if (n < k) fs->top_n[f] = n + 1;
}

static void add_fixed(struct featstats *fs, int64_t f, float v)
{
    double x = ldexp((double)v, 32);
    uint64_t q = x >= 18446744073709549568.0 ? UINT64_MAX : (uint64_t)(x + 0.5);
    uint64_t lo = fs->sum_lo[f] + q;
    fs->sum_hi[f] += lo < q;
    fs->sum_lo[f] = lo;
}

void featstats_add_window(struct featstats *fs, int64_t window_index, int64_t n,
                          const int32_t *tokens, const int64_t *doc, const int64_t *pos,
                          const int64_t *row_ptr, const uint32_t *index, const float *value)
{
    int32_t ctx[2 * 1024 + 1];
    for (int64_t t = 0; t < n; t++) {
        if (pos[t] < 0 && !fs->cfg.include_bos) continue;
        fs->n_tokens++;
        bool ctx_ready = false;
        for (int64_t j = row_ptr[t]; j < row_ptr[t + 1]; j++) {
            float v = value[j];
            int64_t f = index[j];
            GSAE_ASSERT(f >= 0 && f < fs->cfg.d_sae);
            if (!(v > 0.0f)) continue;
            fs->fire_count[f]++;
            add_fixed(fs, f, v);
            fs->hist[f * FEATSTATS_HIST_BINS + featstats_hist_bin(v)]++;
            struct featstats_example ex = {v, doc[t], pos[t], window_index * n + t};
            int64_t k = fs->cfg.top_k;
            if (fs->top_n[f] == k && !featstats_example_better(&ex, &fs->top[f * k + k - 1]))
                continue;
            if (!ctx_ready) {
                for (int64_t i = 0; i < fs->ctx_len; i++) {
                    int64_t at = t - fs->cfg.ctx_before + i;
                    ctx[i] = at >= 0 && at < n ? tokens[at] : -1;
                }
                ctx_ready = true;
            }
            offer(fs, f, &ex, ctx);
        }
    }
}

enum gsae_status featstats_merge(struct featstats *dst, const struct featstats *src,
                                 struct gsae_error *err)
{
    if ((dst->cfg.d_sae != src->cfg.d_sae || dst->cfg.top_k != src->cfg.top_k ||
         dst->cfg.ctx_before != src->cfg.ctx_before || dst->cfg.ctx_after != src->cfg.ctx_after ||
         dst->cfg.include_bos != src->cfg.include_bos))
        return gsae_fail(err, GSAE_EINVAL, "featstats: merging statistics of different shapes");
    int64_t d = dst->cfg.d_sae, k = dst->cfg.top_k, c = dst->ctx_len;
    dst->n_tokens += src->n_tokens;
    for (int64_t f = 0; f < d; f++) {
        dst->fire_count[f] += src->fire_count[f];
        uint64_t lo = dst->sum_lo[f] + src->sum_lo[f];
        dst->sum_hi[f] += src->sum_hi[f] + (lo < src->sum_lo[f]);
        dst->sum_lo[f] = lo;
        for (int64_t b = 0; b < FEATSTATS_HIST_BINS; b++)
            dst->hist[f * FEATSTATS_HIST_BINS + b] += src->hist[f * FEATSTATS_HIST_BINS + b];
        for (int64_t i = 0; i < src->top_n[f]; i++)
            offer(dst, f, &src->top[f * k + i], src->top_ctx + (f * k + i) * c);
    }
    return GSAE_OK;
}

double featstats_sum(const struct featstats *fs, int64_t f)
{
    return ldexp((double)fs->sum_hi[f], 32) + ldexp((double)fs->sum_lo[f], -32);
}
