/* store_context.c: a feature's activations over a token's context (store_context.h). */
#include "store_context.h"

static int64_t part_first_token(const struct store_part *p)
{
    return p->first_window * p->context_size;
}

bool store_context_holds(const struct store_part *p, int64_t token)
{
    int64_t t0 = part_first_token(p);
    return token >= t0 && token - t0 < p->n_tokens;
}

float store_context_activation(const struct store_part *p, int64_t t, int64_t feature)
{
    int64_t base = p->row_ptr[0];
    int64_t lo = p->row_ptr[t] - base, hi = p->row_ptr[t + 1] - base;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int64_t f = (int64_t)p->index[mid];
        if (f == feature) return p->value[mid];
        if (f < feature)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0.0f;
}

enum gsae_status store_context_read(const struct store_part *p, int64_t token, int64_t feature,
                                    int64_t before, int64_t after, int32_t *ids, float *acts,
                                    struct gsae_error *err)
{
    if (!store_context_holds(p, token))
        return gsae_fail(err, GSAE_ERANGE, "token %lld is not in part %lld (tokens %lld .. %lld)",
                         (long long)token, (long long)p->part_index, (long long)part_first_token(p),
                         (long long)(part_first_token(p) + p->n_tokens - 1));
    if (before < 0 || after < 0 || p->context_size < 1)
        return gsae_fail(err, GSAE_EINVAL, "context: before %lld, after %lld", (long long)before,
                         (long long)after);
    int64_t t = token - part_first_token(p);
    int64_t w0 = t / p->context_size * p->context_size, w1 = w0 + p->context_size;
    for (int64_t s = -before; s <= after; s++) {
        int64_t u = t + s, slot = s + before;
        if (u < w0 || u >= w1 || u >= p->n_tokens) {
            ids[slot] = -1;
            acts[slot] = 0.0f;
            continue;
        }
        if (p->row_ptr[u + 1] < p->row_ptr[u])
            return gsae_fail(err, GSAE_EFORMAT, "part %lld: row pointers decrease at token %lld",
                             (long long)p->part_index, (long long)u);
        ids[slot] = p->token_id[u];
        acts[slot] = store_context_activation(p, u, feature);
    }
    return GSAE_OK;
}
