/* featstats.h: per-feature statistics of SAE activations over a harvest, mergeable.
 *
 * For each feature f: how many tokens it fired on (activation > 0), the sum of its activations,
 * its top-K max-activating examples (value, document, position, global token number, and the
 * token ids of a context window around the token), and a histogram of its non-zero activations.
 * max activation = top[0].
 *
 * Everything merges exactly and order-independently, so a result reduced over any number of
 * ranks, in any order, is bit-identical:
 *   - counts and histograms are integers;
 *   - sums are accumulated in 128-bit fixed point with 32 fractional bits (each activation is
 *     rounded to a multiple of 2^-32 first; activations above 2^32 are clamped), then converted
 *     to double once at output;
 *   - examples are ranked by a total order: larger value first, then smaller (doc, pos, token);
 *     a merge keeps the best K of the union.
 * Ties between equal activations are thus broken by (doc, pos), as the issue asks.
 *
 * Histogram: FEATSTATS_HIST_BINS = 50 fixed log-spaced bins over activation a > 0:
 *   bin 0: a < 1e-3;  bin i (1..48): 10^(-3 + (i-1)/8) <= a < 10^(-3 + i/8);  bin 49: a >= 1e3.
 * (8 bins per decade from 1e-3 to 1e3.) featstats_hist_lower(i) gives bin i's lower edge.
 *
 * Tokens with pos < 0 (inserted <bos>, see window.h) are left out unless include_bos is set:
 * the attention-sink position dominates max-activation lists otherwise. n_tokens counts the
 * tokens that were considered.
 *
 * The context of an example is the token ids from ctx_before tokens before to ctx_after after
 * the token, within its window (the model saw nothing else); slots outside the window hold -1.
 * Text is rendered from the ids by `gsae maxact` with a tokenizer.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "gsae.h"

#define FEATSTATS_HIST_BINS 50

struct featstats_config {
    int64_t d_sae;
    int64_t top_k;                 /* 1..1024 */
    int64_t ctx_before, ctx_after; /* 0..1024 each */
    bool include_bos;
};

struct featstats_example {
    float value;
    int64_t doc, pos, token; /* token: global number, window * context_size + offset */
};

struct featstats {
    struct featstats_config cfg;
    int64_t ctx_len;               /* ctx_before + 1 + ctx_after */
    int64_t n_tokens;              /* tokens considered */
    int64_t *fire_count;           /* (d_sae) */
    uint64_t *sum_hi, *sum_lo;     /* (d_sae) 128-bit sums in units of 2^-32 */
    int64_t *hist;                 /* (d_sae, FEATSTATS_HIST_BINS) */
    int64_t *top_n;                /* (d_sae) examples held, <= top_k */
    struct featstats_example *top; /* (d_sae, top_k), best first */
    int32_t *top_ctx;              /* (d_sae, top_k, ctx_len) token ids, -1 outside */
};

/* Allocate zeroed statistics. Errors: GSAE_EINVAL (config), GSAE_ENOMEM. */
enum gsae_status featstats_init(struct featstats *fs, const struct featstats_config *cfg,
                                struct gsae_error *err);

/* Free and zero (harmless on a zeroed struct). */
void featstats_free(struct featstats *fs);

/* Add one window of n tokens (global token number of token t: window_index * n + t) with its
 * CSR activations (row_ptr[n + 1] from 0, index < d_sae). Local, no allocation. */
void featstats_add_window(struct featstats *fs, int64_t window_index, int64_t n,
                          const int32_t *tokens, const int64_t *doc, const int64_t *pos,
                          const int64_t *row_ptr, const uint32_t *index, const float *value);

/* dst += src. Errors: GSAE_EINVAL when the configurations differ. */
enum gsae_status featstats_merge(struct featstats *dst, const struct featstats *src,
                                 struct gsae_error *err);

/* Sum of feature f's activations, as a double. */
double featstats_sum(const struct featstats *fs, int64_t f);

/* The lower edge of histogram bin i (0 for bin 0). */
double featstats_hist_lower(int64_t bin);

/* The histogram bin of an activation a > 0. */
int64_t featstats_hist_bin(float a);

/* True when example a ranks before b (the total order above). */
bool featstats_example_better(const struct featstats_example *a, const struct featstats_example *b);
