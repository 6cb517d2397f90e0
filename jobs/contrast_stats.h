/* contrast_stats.h: the analysis of `gsae contrast` on rank 0, given the gathered (prompt,
 * feature) matrix: the top features by |acts[a] - acts[b]| for pairs of prompts, and the
 * contrast of successful against failed prompts (src/stats.h), with their printed tables. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "../io/contrast_nc.h"
#include "../io/promptset.h"
#include "../src/gsae.h"
#include "../src/stats.h"

struct contrast {
    float *acts; /* (n_prompts, d_sae) */
    int64_t d_sae;
    int64_t *pair_a, *pair_b, *pair_top, n_pairs, k_pair;
    struct stats_contrast s;
    double *p, *q;
    int64_t *group_top, n_top;
    struct contrast_nc_group group;
};

/* Release everything and zero c; safe on a zeroed struct. */
void contrast_free(struct contrast *c);

/* Release the results but keep the pairs, for the next hook's analysis. */
void contrast_reset(struct contrast *c);

/* The top min(top, d_sae) features of every pair by |difference|. */
enum gsae_status pair_tops(struct contrast *c, int64_t top, struct gsae_error *err);

/* Success vs failure over all prompts, when every prompt is labelled and both groups have two
 * (else a note is printed and c->group stays absent): n_perm label permutations seeded with
 * seed, the top features by |difference|. */
enum gsae_status group_contrast(struct contrast *c, const struct promptset *ps, int64_t top,
                                int64_t n_perm, uint64_t seed, struct gsae_error *err);

/* Print the pair and group tables to stdout. */
void print_tables(const struct contrast *c, const struct promptset *ps);

/* Pairs "a-b,c-d" into a (n) and b (n), malloc'd; indices must be below n_prompts. Errors:
 * GSAE_EINVAL naming --pairs, GSAE_ENOMEM. */
enum gsae_status contrast_pairs_parse(const char *spec, int64_t n_prompts, int64_t **a, int64_t **b,
                                      int64_t *n, struct gsae_error *err);
