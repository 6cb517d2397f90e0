/* sampler.h: choose the next token from a row of logits.
 *
 * Greedy (temperature 0) is argmax with the lowest index winning ties, as torch.argmax.
 * Otherwise: divide by the temperature, keep the top_k largest (0 = all), keep the smallest
 * prefix of the remaining tokens, by decreasing probability, whose mass reaches top_p (1 = all;
 * the most likely token is always kept), renormalise and draw one with the caller's rng. Ties
 * in the ordering are broken by the lower token id, so a seed gives the same token on every
 * machine.
 */
#pragma once

#include <stdint.h>

#include "gsae.h"
#include "rng.h"

struct sampler_params {
    float temperature; /* 0: greedy */
    int64_t top_k;     /* 0: no limit */
    float top_p;       /* in (0, 1]; 1: no limit */
};

/* A candidate token: its logit and id. */
struct sampler_rank {
    float value;
    int32_t id;
};

/* Work buffers for vocabularies of n_vocab tokens. Caller owns; release with sampler_free. */
struct sampler {
    struct sampler_params params;
    int64_t n_vocab;
    struct sampler_rank *ranked; /* (n_vocab) candidates sorted by decreasing logit */
    float *prob;                 /* (n_vocab) unnormalised probabilities of ranked */
};

/* Check params (temperature >= 0 and finite, top_k >= 0, 0 < top_p <= 1) and allocate. */
enum gsae_status sampler_init(struct sampler *s, const struct sampler_params *p, int64_t n_vocab,
                              struct gsae_error *err);
void sampler_free(struct sampler *s);

/* Index of the largest logit (lowest index among equals); NaN entries are never chosen unless
 * all are NaN (then 0). */
int32_t sampler_argmax(const float *logits, int64_t n_vocab);

/* The next token for one row of n_vocab logits; draws from rng unless greedy (one draw per
 * call). Sorting the vocabulary costs O(V log V) per call; fine next to a forward pass. */
int32_t sampler_pick(struct sampler *s, const float *logits, struct rng *rng);
