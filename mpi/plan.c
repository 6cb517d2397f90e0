/* plan.c: stage plans (see plan.h). */
#include "plan.h"

#include <errno.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

size_t plan_layer_bytes(const struct gemma_config *cfg, enum gsae_dtype dtype)
{
    int64_t q = cfg->n_heads * cfg->d_head, kv = cfg->n_kv_heads * cfg->d_head;
    int64_t n = cfg->d_model * (q + 2 * kv) /* q, k, v */ + q * cfg->d_model /* o */ +
                3 * cfg->d_ff * cfg->d_model /* gate, up, down */ + 4 * cfg->d_model /* norms */;
    return (size_t)n * gsae_dtype_size(dtype);
}

double plan_layer_flops(const struct gemma_config *cfg, int64_t layer, int64_t ctx_len)
{
    double d = (double)cfg->d_model, q = (double)(cfg->n_heads * cfg->d_head);
    double kv = (double)(cfg->n_kv_heads * cfg->d_head), ff = (double)cfg->d_ff;
    /* A query at position i sees i+1 keys: (ctx_len+1)/2 on average over a sequence; local
     * (even) layers see at most the window. */
    double keys = ((double)ctx_len + 1.0) / 2.0;
    if (layer % 2 == 0 && (double)cfg->window_local < keys) keys = (double)cfg->window_local;
    double proj = 2.0 * d * (q + 2.0 * kv) + 2.0 * q * d + 3.0 * 2.0 * d * ff;
    double attn = 2.0 * 2.0 * q * keys; /* scores Q K^T and the weighted sum P V */
    return proj + attn;
}

double plan_unembed_flops(const struct gemma_config *cfg)
{
    return 2.0 * (double)cfg->d_model * (double)cfg->n_vocab;
}

void plan_free(struct plan *p)
{
    if (!p) return;
    free(p->stages);
    memset(p, 0, sizeof *p);
}

int plan_stage_of_layer(const struct plan *p, int64_t layer)
{
    for (int k = 0; k < p->n_stages; k++)
        if (layer >= p->stages[k].layer_begin && layer < p->stages[k].layer_end) return k;
    return -1;
}

int plan_stage_of_rank(const struct plan *p, int rank)
{
    return rank % p->n_stages;
}

int plan_replica_of_rank(const struct plan *p, int rank)
{
    return rank / p->n_stages;
}

/* Parse one decimal layer index at *s, advancing *s. */
static bool parse_index(const char **s, int64_t *out)
{
    const char *end = *s;
    if (**s < '0' || **s > '9' || gsae_parse_i64_prefix(*s, &end, 0, INT32_MAX, out) != GSAE_OK)
        return false;
    *s = end;
    return true;
}

/* Fill begins/ends (n_max entries) from "a-b,c-d,..." (inclusive ranges; "a" alone is one
 * layer). Ranges must start at 0 and follow each other without gaps. */
static enum gsae_status parse_spec(const char *spec, int64_t *begins, int64_t *ends, int n_max,
                                   int *n_out, struct gsae_error *err)
{
    const char *s = spec;
    int n = 0;
    int64_t next = 0;
    while (*s) {
        int64_t a = 0, b = 0;
        if (!parse_index(&s, &a)) goto bad;
        b = a;
        if (*s == '-') {
            s++;
            if (!parse_index(&s, &b)) goto bad;
        }
        if (*s == ',')
            s++;
        else if (*s != '\0')
            goto bad;
        if (b < a)
            return gsae_fail(err, GSAE_EINVAL, "--layers '%s': range %lld-%lld is descending", spec,
                             (long long)a, (long long)b);
        if (a != next)
            return gsae_fail(err, GSAE_EINVAL,
                             "--layers '%s': stage %d starts at layer %lld, expected %lld "
                             "(ranges must start at 0 and be contiguous)",
                             spec, n, (long long)a, (long long)next);
        if (n >= n_max)
            return gsae_fail(err, GSAE_EINVAL, "--layers '%s': more than %d stages", spec, n_max);
        begins[n] = a;
        ends[n] = b + 1;
        next = b + 1;
        n++;
    }
    if (n == 0) goto bad;
    *n_out = n;
    return GSAE_OK;
bad:
    return gsae_fail(err, GSAE_EINVAL,
                     "--layers '%s': expected inclusive layer ranges like 0-6,7-13,14-20", spec);
}

/* Cost of a stage running layers [a, b) (plus embedding when first, unembedding when last with
 * logits), from prefix sums of the per-layer costs. */
static double stage_cost(const double *prefix, int64_t a, int64_t b, bool first, bool last,
                         double embed_cost, double unembed_cost)
{
    return prefix[b] - prefix[a] + (first ? embed_cost : 0.0) + (last ? unembed_cost : 0.0);
}

/* Balanced contiguous split of n_layers layers into n_stages stages minimising the largest
 * stage cost (dynamic programme over split points; ties go to the earliest split found, so the
 * result is deterministic). Layers per stage >= 1, except the last stage with unembedding. */
static enum gsae_status balance(const double *prefix, int64_t n_layers, int n_stages,
                                bool with_logits, double embed_cost, double unembed_cost,
                                int64_t *begins, int64_t *ends, struct gsae_error *err)
{
    size_t rows = (size_t)n_stages, cols = (size_t)n_layers + 1;
    double *best = malloc(rows * cols * sizeof *best); /* best[k][j]: stages 0..k cover [0,j) */
    int64_t *from = malloc(rows * cols * sizeof *from);
    if (!best || !from) {
        free(best);
        free(from);
        return gsae_fail(err, GSAE_ENOMEM, "stage plan: out of memory");
    }
    for (size_t i = 0; i < rows * cols; i++) {
        best[i] = DBL_MAX;
        from[i] = -1;
    }
    for (int64_t j = 1; j <= n_layers; j++) {
        best[j] = stage_cost(prefix, 0, j, true, n_stages == 1, embed_cost, unembed_cost);
        from[j] = 0;
    }
    for (int k = 1; k < n_stages; k++) {
        bool last = k == n_stages - 1;
        for (int64_t j = 1; j <= n_layers; j++) {
            if (last && j != n_layers) continue;
            size_t at = (size_t)k * cols + (size_t)j;
            int64_t i_max = last && with_logits ? j : j - 1; /* empty only for unembedding */
            for (int64_t i = 1; i <= i_max; i++) {
                double prev = best[(size_t)(k - 1) * cols + (size_t)i];
                if (prev == DBL_MAX) continue;
                double c = stage_cost(prefix, i, j, false, last, embed_cost, unembed_cost);
                double m = prev > c ? prev : c;
                if (m < best[at]) {
                    best[at] = m;
                    from[at] = i;
                }
            }
        }
    }
    int64_t j = n_layers;
    for (int k = n_stages - 1; k >= 0; k--) {
        int64_t i = from[(size_t)k * cols + (size_t)j];
        GSAE_ASSERT(i >= 0);
        begins[k] = i;
        ends[k] = j;
        j = i;
    }
    free(best);
    free(from);
    return GSAE_OK;
}

static enum gsae_status check_options(const struct gemma_config *cfg,
                                      const struct plan_options *opt, int n_stages,
                                      struct gsae_error *err)
{
    if (opt->n_ranks < 1)
        return gsae_fail(err, GSAE_EINVAL, "stage plan: %d ranks, expected at least 1",
                         opt->n_ranks);
    if (n_stages < 1)
        return gsae_fail(err, GSAE_EINVAL, "--stages %d: expected at least 1", n_stages);
    if (opt->n_ranks % n_stages != 0)
        return gsae_fail(err, GSAE_EINVAL,
                         "--stages %d does not divide the %d ranks: ranks form replicas of "
                         "a %d-stage pipeline",
                         n_stages, opt->n_ranks, n_stages);
    if (opt->n_layers < 0 || opt->n_layers > cfg->n_layers)
        return gsae_fail(err, GSAE_EINVAL, "stage plan: %lld layers to run, the model has %lld",
                         (long long)opt->n_layers, (long long)cfg->n_layers);
    if (gsae_dtype_size(opt->dtype) == 0)
        return gsae_fail(err, GSAE_EINVAL, "stage plan: no weight dtype given");
    return GSAE_OK;
}

static void fill_costs(struct plan *p, const struct gemma_config *cfg,
                       const struct plan_options *opt, int64_t ctx_len)
{
    size_t embed_bytes = (size_t)(cfg->n_vocab * cfg->d_model) * gsae_dtype_size(opt->dtype);
    size_t norm_bytes = (size_t)cfg->d_model * gsae_dtype_size(opt->dtype);
    for (int k = 0; k < p->n_stages; k++) {
        struct plan_stage *st = &p->stages[k];
        st->has_embed = k == 0;
        st->has_unembed = k == p->n_stages - 1 && p->with_logits;
        st->weight_bytes =
            (size_t)(st->layer_end - st->layer_begin) * plan_layer_bytes(cfg, opt->dtype);
        st->flops_per_token = 0.0;
        for (int64_t l = st->layer_begin; l < st->layer_end; l++)
            st->flops_per_token += plan_layer_flops(cfg, l, ctx_len);
        if (st->has_embed || st->has_unembed) /* the embedding matrix is mapped once */
            st->weight_bytes += embed_bytes;
        if (st->has_unembed) {
            st->weight_bytes += norm_bytes;
            st->flops_per_token += plan_unembed_flops(cfg);
        }
        if (st->has_embed) st->flops_per_token += (double)cfg->d_model; /* scale by sqrt(d_model) */
    }
}

enum gsae_status plan_make(struct plan *p, const struct gemma_config *cfg,
                           const struct plan_options *opt, struct gsae_error *err)
{
    memset(p, 0, sizeof *p);
    enum gsae_status st = GSAE_OK;
    int64_t ctx_len = opt->ctx_len > 0 ? opt->ctx_len : 1024;
    int n_stages = opt->n_stages > 0 ? opt->n_stages : opt->n_ranks;
    double *prefix = NULL;
    if (opt->layers && opt->n_stages <= 0) { /* the spec says how many stages */
        n_stages = 1;
        for (const char *c = opt->layers; *c; c++)
            n_stages += *c == ',';
    }
    if ((st = check_options(cfg, opt, n_stages, err)) != GSAE_OK) return st;
    p->n_ranks = opt->n_ranks;
    p->n_stages = n_stages;
    p->n_replicas = opt->n_ranks / n_stages;
    p->with_logits = opt->with_logits;
    p->n_layers = opt->n_layers > 0 ? opt->n_layers : cfg->n_layers;
    p->stages = calloc((size_t)n_stages, sizeof *p->stages);
    int64_t *begins = calloc((size_t)n_stages, sizeof *begins);
    int64_t *ends = calloc((size_t)n_stages, sizeof *ends);
    prefix = calloc((size_t)cfg->n_layers + 1, sizeof *prefix);
    if (!p->stages || !begins || !ends || !prefix) {
        st = gsae_fail(err, GSAE_ENOMEM, "stage plan: out of memory");
        goto done;
    }
    if (opt->layers) {
        int n_spec = 0;
        if ((st = parse_spec(opt->layers, begins, ends, n_stages, &n_spec, err)) != GSAE_OK)
            goto done;
        if (n_spec != n_stages) {
            st = gsae_fail(err, GSAE_EINVAL, "--layers '%s' gives %d stages, expected %d",
                           opt->layers, n_spec, n_stages);
            goto done;
        }
        int64_t end = ends[n_spec - 1];
        if (end > cfg->n_layers || (opt->n_layers > 0 && end != opt->n_layers)) {
            st = gsae_fail(err, GSAE_EINVAL,
                           "--layers '%s' ends at layer %lld, expected %lld (the last layer "
                           "to run)",
                           opt->layers, (long long)end - 1,
                           (long long)(opt->n_layers > 0 ? opt->n_layers : cfg->n_layers) - 1);
            goto done;
        }
        p->n_layers = end;
        if (p->with_logits && end != cfg->n_layers) {
            st = gsae_fail(err, GSAE_EINVAL,
                           "--layers '%s' ends at layer %lld of %lld: logits need every layer "
                           "(a truncated pipeline has no logits)",
                           opt->layers, (long long)end - 1, (long long)cfg->n_layers);
            goto done;
        }
    } else {
        int64_t max_stages = p->n_layers + (p->with_logits ? 1 : 0);
        if (n_stages > max_stages) {
            st = gsae_fail(err, GSAE_EINVAL,
                           "--stages %d: too many stages for %lld layers%s; each stage needs a "
                           "layer%s, so at most %lld stages (use fewer stages per replica)",
                           n_stages, (long long)p->n_layers,
                           p->with_logits ? " and the unembedding" : "",
                           p->with_logits ? " (the last may hold only the unembedding)" : "",
                           (long long)max_stages);
            goto done;
        }
        for (int64_t l = 0; l < p->n_layers; l++)
            prefix[l + 1] = prefix[l] + plan_layer_flops(cfg, l, ctx_len);
        st = balance(prefix, p->n_layers, n_stages, p->with_logits, (double)cfg->d_model,
                     p->with_logits ? plan_unembed_flops(cfg) : 0.0, begins, ends, err);
        if (st != GSAE_OK) goto done;
    }
    for (int k = 0; k < n_stages; k++) {
        p->stages[k].layer_begin = begins[k];
        p->stages[k].layer_end = ends[k];
    }
    fill_costs(p, cfg, opt, ctx_len);
done:
    free(begins);
    free(ends);
    free(prefix);
    return st;
}
