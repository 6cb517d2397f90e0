/* generate.c: prefill and KV-cache decoding loop (see generate.h). */
#include "generate.h"

#include <stdlib.h>
#include <string.h>

/* Run n rows of one sequence (slot, positions pos0..) through every layer, in place in x. */
static enum gsae_status run_rows(const struct gemma_weights *w, struct gemma_state *s, int64_t slot,
                                 int64_t pos0, int64_t n, float *x, const struct gemma_hook *hook,
                                 struct gsae_error *err)
{
    struct gemma_batch b = {.n_seq = 1, .n_rows = n, .slot = &slot, .pos0 = &pos0, .n_tok = &n};
    return gemma_forward(w, s, &b, x, 0, s->cfg.n_layers, hook, err);
}

/* Prefill the prompt chunk by chunk; leaves the last position's logits in last. */
static enum gsae_status prefill(const struct gemma_weights *w, struct gemma_state *s,
                                const int32_t *prompt, int64_t n_prompt, int64_t slot,
                                const struct gemma_hook *hook, float *x, float *last,
                                float *prompt_logits, struct gsae_error *err)
{
    int64_t d = s->cfg.d_model, nv = s->cfg.n_vocab;
    enum gsae_status st = GSAE_OK;
    for (int64_t p0 = 0; p0 < n_prompt && !st; p0 += s->max_rows) {
        int64_t n = n_prompt - p0 < s->max_rows ? n_prompt - p0 : s->max_rows;
        st = gemma_embed(&s->cfg, w, prompt + p0, n, x, err);
        if (!st) st = run_rows(w, s, slot, p0, n, x, hook, err);
        if (!st && prompt_logits) st = gemma_logits(w, s, x, n, prompt_logits + p0 * nv, err);
        if (!st && p0 + n == n_prompt) {
            if (prompt_logits)
                memcpy(last, prompt_logits + (n_prompt - 1) * nv, (size_t)nv * sizeof *last);
            else
                st = gemma_logits(w, s, x + (n - 1) * d, 1, last, err);
        }
    }
    return st;
}

enum gsae_status generate_run(const struct gemma_weights *w, struct gemma_state *s,
                              const int32_t *prompt, int64_t n_prompt,
                              const struct generate_params *gp, struct sampler *sm, struct rng *rng,
                              const struct gemma_hook *hook, struct generate_out *out,
                              struct gsae_error *err)
{
    const struct gemma_config *c = &s->cfg;
    out->n_new = 0;
    if (s->layer_begin != 0 || s->layer_end != c->n_layers)
        return gsae_fail(err, GSAE_EINVAL,
                         "generate: the state holds layers [%lld, %lld), "
                         "generation needs all %lld",
                         (long long)s->layer_begin, (long long)s->layer_end,
                         (long long)c->n_layers);
    if (n_prompt < 1 || gp->max_new < 0 || n_prompt + gp->max_new - 1 > s->max_seq)
        return gsae_fail(err, GSAE_ERANGE,
                         "generate: prompt of %lld tokens plus %lld new "
                         "exceeds the cache (max_seq %lld)",
                         (long long)n_prompt, (long long)gp->max_new, (long long)s->max_seq);
    if (sm->n_vocab != c->n_vocab)
        return gsae_fail(err, GSAE_EINVAL, "generate: sampler for %lld tokens, model has %lld",
                         (long long)sm->n_vocab, (long long)c->n_vocab);
    int64_t rows = n_prompt < s->max_rows ? n_prompt : s->max_rows;
    float *x = malloc((size_t)(rows * c->d_model) * sizeof *x);
    float *last = malloc((size_t)c->n_vocab * sizeof *last);
    enum gsae_status st = GSAE_OK;
    if (!x || !last) {
        st = gsae_fail(err, GSAE_ENOMEM, "generate: no memory for activations");
        goto done;
    }
    st = prefill(w, s, prompt, n_prompt, gp->slot, hook, x, last, out->prompt_logits, err);
    for (int64_t i = 0; i < gp->max_new && !st; i++) {
        int32_t tok = sampler_pick(sm, last, rng);
        out->tokens[i] = tok;
        if (out->logits)
            memcpy(out->logits + i * c->n_vocab, last, (size_t)c->n_vocab * sizeof *last);
        out->n_new = i + 1;
        if ((gp->stop_at_eos && tok == c->eos_id) || i + 1 == gp->max_new) break;
        st = gemma_embed(c, w, &tok, 1, x, err);
        if (!st) st = run_rows(w, s, gp->slot, n_prompt + i, 1, x, hook, err);
        if (!st) st = gemma_logits(w, s, x, 1, last, err);
    }
done:
    free(x);
    free(last);
    return st;
}
