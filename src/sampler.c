/* sampler.c: greedy, temperature, top-k and top-p sampling (see sampler.h). */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum gsae_status sampler_init(struct sampler *s, const struct sampler_params *p, int64_t n_vocab,
                              struct gsae_error *err)
{
    memset(s, 0, sizeof *s);
    if (!(p->temperature >= 0.0f) || !isfinite(p->temperature))
        return gsae_fail(err, GSAE_EINVAL, "sampler: temperature %g, expected a finite value >= 0",
                         (double)p->temperature);
    if (p->top_k < 0)
        return gsae_fail(err, GSAE_EINVAL, "sampler: top_k %lld, expected >= 0 (0 = off)",
                         (long long)p->top_k);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return gsae_fail(err, GSAE_EINVAL, "sampler: top_p %g, expected in (0, 1]",
                         (double)p->top_p);
    if (n_vocab < 1 || n_vocab > INT32_MAX)
        return gsae_fail(err, GSAE_EINVAL, "sampler: vocabulary of %lld tokens",
                         (long long)n_vocab);
    s->params = *p;
    s->n_vocab = n_vocab;
    s->ranked = malloc((size_t)n_vocab * sizeof *s->ranked);
    s->prob = malloc((size_t)n_vocab * sizeof *s->prob);
    if (!s->ranked || !s->prob) {
        sampler_free(s);
        return gsae_fail(err, GSAE_ENOMEM, "sampler: no memory for %lld tokens",
                         (long long)n_vocab);
    }
    return GSAE_OK;
}

void sampler_free(struct sampler *s)
{
    free(s->ranked);
    free(s->prob);
    memset(s, 0, sizeof *s);
}

int32_t sampler_argmax(const float *logits, int64_t n_vocab)
{
    int64_t best = -1;
    for (int64_t i = 0; i < n_vocab; i++)
        if (!isnan(logits[i]) && (best < 0 || logits[i] > logits[best])) best = i;
    return best < 0 ? 0 : (int32_t)best;
}

/* Larger value first, then lower id: a total order, so qsort's result is unique. */
static int ranked_cmp(const void *a, const void *b)
{
    const struct sampler_rank *x = a, *y = b;
    if (x->value != y->value) return x->value > y->value ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

int32_t sampler_pick(struct sampler *s, const float *logits, struct rng *rng)
{
    const struct sampler_params *p = &s->params;
    int64_t n = s->n_vocab;
    if (p->temperature == 0.0f) return sampler_argmax(logits, n);
    /* The candidates: the top_k by logit (all when 0), in decreasing order. */
    int64_t keep = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    struct sampler_rank *r = s->ranked;
    for (int64_t i = 0; i < n; i++) {
        r[i].value = isnan(logits[i]) ? -INFINITY : logits[i];
        r[i].id = (int32_t)i;
    }
    qsort(r, (size_t)n, sizeof *r, ranked_cmp);
    float mx = r[0].value;
    double total = 0.0;
    for (int64_t i = 0; i < keep; i++) {
        s->prob[i] = expf((r[i].value - mx) / p->temperature);
        total += s->prob[i];
    }
    /* top_p: the smallest prefix whose probability mass reaches top_p. */
    if (p->top_p < 1.0f) {
        double mass = 0.0;
        int64_t cut = 0;
        while (cut < keep) {
            mass += s->prob[cut] / total;
            cut++;
            if (mass >= p->top_p) break;
        }
        keep = cut;
        total = 0.0;
        for (int64_t i = 0; i < keep; i++)
            total += s->prob[i];
    }
    double u = rng_uniform(rng) * total, acc = 0.0;
    for (int64_t i = 0; i < keep; i++) {
        acc += s->prob[i];
        if (u < acc) return r[i].id;
    }
    return r[keep - 1].id;
}
