/* sae_synth.h: a random JumpReLU SAE and random input rows, for the SAE unit tests
 * (tests/unit/test_sae*.c).
 *
 * Header-only (static inline functions); include it after <cmocka.h>: a failed allocation fails
 * the running test. The values depend only on the seed (src/rng), so every machine sees the same
 * SAE.
 */
#pragma once

#include <stdint.h>

#include "../../src/rng.h"
#include "../../src/sae.h"

/* A random SAE (d_in, d_sae) whose thresholds let a fraction of features fire on N(0,1) inputs;
 * every seventh threshold is negative. */
static inline void sae_synth(struct sae_params *p, int64_t d_in, int64_t d_sae, uint64_t seed)
{
    struct gsae_error err;
    assert_int_equal(sae_params_init(p, d_in, d_sae, &err), GSAE_OK);
    struct rng r;
    rng_seed(&r, seed);
    for (int64_t i = 0; i < d_in * d_sae; i++) {
        p->w_enc[i] = (float)rng_normal(&r) * 0.3f;
        p->w_dec[i] = (float)rng_normal(&r) * 0.3f;
    }
    for (int64_t f = 0; f < d_sae; f++) {
        p->b_enc[f] = (float)rng_normal(&r) * 0.1f;
        p->threshold[f] = f % 7 == 0 ? -1.0f : (float)rng_uniform(&r) * 1.5f;
    }
    for (int64_t i = 0; i < d_in; i++)
        p->b_dec[i] = (float)rng_normal(&r) * 0.05f;
}

/* n rows of d_in values N(0, 1). */
static inline void sae_synth_rows(float *x, int64_t n, int64_t d_in, uint64_t seed)
{
    struct rng r;
    rng_seed(&r, seed);
    for (int64_t i = 0; i < n * d_in; i++)
        x[i] = (float)rng_normal(&r);
}
