/* rng.h: a small seeded generator (xoshiro256**, seeded through splitmix64).
 *
 * Used wherever gsae draws random numbers (random checkpoints and SAEs, sampling, permutation
 * tests, random feature draws). The state is explicit and passed in: no hidden globals, and
 * the same seed gives the same stream on every machine.
 */
#pragma once

#include <stdint.h>

struct rng {
    uint64_t s[4];
};

/* Seed the generator; any 64-bit value (0 included) gives a valid state. */
void rng_seed(struct rng *r, uint64_t seed);

/* Next 64 random bits. */
uint64_t rng_u64(struct rng *r);

/* Uniform in [0, 1) with 24 random bits (exactly representable in float). */
float rng_uniform_f32(struct rng *r);

/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform(struct rng *r);

/* Uniform integer in [0, n), unbiased (rejection); n > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);

/* Standard normal (Box-Muller on rng_uniform, one value per call). */
double rng_normal(struct rng *r);
