/* contrast_stats.c: the analysis of `gsae contrast` on rank 0 (see contrast_stats.h). */
#include "contrast_stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/rng.h"

void contrast_reset(struct contrast *c)
{
    struct contrast keep = {.pair_a = c->pair_a, .pair_b = c->pair_b, .n_pairs = c->n_pairs};
    c->pair_a = c->pair_b = NULL;
    contrast_free(c);
    *c = keep;
}

void contrast_free(struct contrast *c)
{
    free(c->acts);
    free(c->pair_a);
    free(c->pair_b);
    free(c->pair_top);
    free(c->s.mean_a);
    free(c->s.mean_b);
    free(c->s.diff);
    free(c->s.cohens_d);
    free(c->s.hedges_g);
    free(c->p);
    free(c->q);
    free(c->group_top);
    memset(c, 0, sizeof *c);
}

enum gsae_status pair_tops(struct contrast *c, int64_t top, struct gsae_error *err)
{
    c->k_pair = top < c->d_sae ? top : c->d_sae;
    c->pair_top = malloc((size_t)(c->n_pairs * c->k_pair + 1) * sizeof *c->pair_top);
    if (!c->pair_top) return gsae_fail(err, GSAE_ENOMEM, "pairs: no memory");
    enum gsae_status st = GSAE_OK;
    for (int64_t k = 0; st == GSAE_OK && k < c->n_pairs; k++)
        st =
            stats_top_abs_diff(c->acts + c->pair_a[k] * c->d_sae, c->acts + c->pair_b[k] * c->d_sae,
                               c->d_sae, c->k_pair, c->pair_top + k * c->k_pair, err);
    return st;
}

/* The k features of largest |v| (ties: lower index first) into idx, largest first. */
static void top_abs(const double *v, int64_t n, int64_t k, int64_t *idx)
{
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t pos = m;
        while (pos > 0 && fabs(v[idx[pos - 1]]) < fabs(v[i]))
            pos--;
        if (pos >= k) continue;
        for (int64_t j = (m < k ? m : k - 1); j > pos; j--)
            idx[j] = idx[j - 1];
        idx[pos] = i;
        if (m < k) m++;
    }
}

/* Success vs failure over all prompts, when every prompt is labelled and both groups have two. */
enum gsae_status group_contrast(struct contrast *c, const struct promptset *ps, int64_t top,
                                int64_t n_perm, uint64_t seed, struct gsae_error *err)
{
    int64_t n_s, n_f, n_u;
    promptset_count_labels(ps, &n_s, &n_f, &n_u);
    c->group = (struct contrast_nc_group){.n_success = n_s, .n_failure = n_f};
    if (n_u > 0 || n_s < 2 || n_f < 2) {
        printf("group contrast skipped: %lld successful, %lld failed, %lld unlabelled prompts "
               "(needs every prompt labelled, at least 2 in each group)\n",
               (long long)n_s, (long long)n_f, (long long)n_u);
        return GSAE_OK;
    }
    size_t nf = (size_t)c->d_sae;
    uint8_t *in_a = malloc((size_t)ps->n);
    double **arrays[] = {&c->s.mean_a,   &c->s.mean_b, &c->s.diff, &c->s.cohens_d,
                         &c->s.hedges_g, &c->p,        &c->q};
    bool ok = in_a != NULL;
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        ok = (*arrays[i] = malloc(nf * sizeof(double))) && ok;
    c->n_top = top < c->d_sae ? top : c->d_sae;
    ok = (c->group_top = malloc((size_t)c->n_top * sizeof *c->group_top)) && ok;
    enum gsae_status st = ok ? GSAE_OK : gsae_fail(err, GSAE_ENOMEM, "group contrast: no memory");
    for (int64_t i = 0; st == GSAE_OK && i < ps->n; i++)
        in_a[i] = ps->items[i].label == PROMPTSET_LABEL_SUCCESS;
    struct rng r;
    rng_seed(&r, seed);
    if (st == GSAE_OK) st = stats_contrast(c->acts, ps->n, c->d_sae, in_a, &c->s, err);
    if (st == GSAE_OK)
        st = stats_permutation_p(c->acts, ps->n, c->d_sae, in_a, n_perm, &r, c->p, err);
    if (st == GSAE_OK) st = stats_bh_fdr(c->p, c->d_sae, c->q, err);
    if (st == GSAE_OK) {
        top_abs(c->s.diff, c->d_sae, c->n_top, c->group_top);
        c->group = (struct contrast_nc_group){true, &c->s,  c->p, c->q,     n_s,
                                              n_f,  n_perm, seed, c->n_top, c->group_top};
    }
    free(in_a);
    return st;
}

/* ---- tables ---- */

static const char *label_name(int label)
{
    return label == PROMPTSET_LABEL_SUCCESS   ? "success"
           : label == PROMPTSET_LABEL_FAILURE ? "failure"
                                              : "unlabelled";
}

void print_tables(const struct contrast *c, const struct promptset *ps)
{
    for (int64_t k = 0; k < c->n_pairs; k++) {
        int64_t a = c->pair_a[k], b = c->pair_b[k];
        printf("\npair %lld-%lld: %s (%s) minus %s (%s)\n", (long long)a, (long long)b,
               ps->items[a].name, label_name(ps->items[a].label), ps->items[b].name,
               label_name(ps->items[b].label));
        printf("  rank  feature        act_a        act_b         diff\n");
        for (int64_t r = 0; r < c->k_pair; r++) {
            int64_t j = c->pair_top[k * c->k_pair + r];
            double va = c->acts[a * c->d_sae + j], vb = c->acts[b * c->d_sae + j];
            printf("  %4lld %8lld %12.5g %12.5g %12.5g\n", (long long)r + 1, (long long)j, va, vb,
                   va - vb);
        }
    }
    if (!c->group.present) return;
    printf("\ngroup contrast: %lld successful minus %lld failed prompts, %lld permutations "
           "(seed %llu)\n",
           (long long)c->group.n_success, (long long)c->group.n_failure, (long long)c->group.n_perm,
           (unsigned long long)c->group.seed);
    printf("  rank  feature mean_success mean_failure         diff     hedges_g       p_perm"
           "         q_bh\n");
    for (int64_t r = 0; r < c->n_top; r++) {
        int64_t j = c->group_top[r];
        printf("  %4lld %8lld %12.5g %12.5g %12.5g %12.5g %12.5g %12.5g\n", (long long)r + 1,
               (long long)j, c->s.mean_a[j], c->s.mean_b[j], c->s.diff[j], c->s.hedges_g[j],
               c->p[j], c->q[j]);
    }
}

/* ---- pairs ---- */

enum gsae_status contrast_pairs_parse(const char *spec, int64_t n_prompts, int64_t **a, int64_t **b,
                                      int64_t *n, struct gsae_error *err)
{
    *n = 0;
    size_t len = spec ? strlen(spec) : 0;
    *a = malloc((len / 2 + 1) * sizeof **a);
    *b = malloc((len / 2 + 1) * sizeof **b);
    if (!*a || !*b) return gsae_fail(err, GSAE_ENOMEM, "--pairs: no memory");
    for (const char *p = spec; p && *p;) {
        char *end = NULL;
        long long x = strtoll(p, &end, 10), y = -1;
        if (end != p && *end == '-') {
            const char *q = end + 1;
            y = strtoll(q, &end, 10);
            if (end == q) y = -1;
        }
        if (x < 0 || y < 0 || x >= n_prompts || y >= n_prompts || (*end && *end != ','))
            return gsae_fail(err, GSAE_EINVAL,
                             "--pairs '%s': expected A-B,... with indices in 0..%lld", spec,
                             (long long)n_prompts - 1);
        (*a)[*n] = x, (*b)[*n] = y, (*n)++;
        p = *end ? end + 1 : end;
    }
    return GSAE_OK;
}
