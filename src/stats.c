/* stats.c: group contrast statistics (see stats.h). */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static enum gsae_status check_groups(int64_t n_rows, const uint8_t *in_a, int64_t *n_a,
                                     struct gsae_error *err)
{
    *n_a = 0;
    for (int64_t i = 0; i < n_rows; i++)
        *n_a += in_a[i] != 0;
    if (*n_a < 2 || n_rows - *n_a < 2)
        return gsae_fail(err, GSAE_EINVAL,
                         "contrast: groups of %lld and %lld rows, expected at "
                         "least 2 in each",
                         (long long)*n_a, (long long)(n_rows - *n_a));
    return GSAE_OK;
}

/* sum_a (n_features) = column sums over group A rows, sum_all likewise over all rows. */
static void group_sums(const float *x, int64_t n_rows, int64_t n_features, const uint8_t *in_a,
                       double *sum_a, double *sum_all)
{
    memset(sum_a, 0, (size_t)n_features * sizeof *sum_a);
    memset(sum_all, 0, (size_t)n_features * sizeof *sum_all);
    for (int64_t i = 0; i < n_rows; i++) {
        const float *row = x + i * n_features;
        double *dst = in_a[i] ? sum_a : NULL;
        for (int64_t j = 0; j < n_features; j++) {
            sum_all[j] += (double)row[j];
            if (dst) dst[j] += (double)row[j];
        }
    }
}

enum gsae_status stats_contrast(const float *x, int64_t n_rows, int64_t n_features,
                                const uint8_t *in_a, struct stats_contrast *out,
                                struct gsae_error *err)
{
    int64_t n_a = 0;
    enum gsae_status st = check_groups(n_rows, in_a, &n_a, err);
    if (st != GSAE_OK) return st;
    int64_t n_b = n_rows - n_a;
    double j_corr = 1.0 - 3.0 / (4.0 * (double)(n_a + n_b) - 9.0);
    for (int64_t f = 0; f < n_features; f++) {
        double sa = 0, sb = 0;
        for (int64_t i = 0; i < n_rows; i++)
            *(in_a[i] ? &sa : &sb) += (double)x[i * n_features + f];
        double ma = sa / (double)n_a, mb = sb / (double)n_b, va = 0, vb = 0;
        for (int64_t i = 0; i < n_rows; i++) {
            double v = (double)x[i * n_features + f] - (in_a[i] ? ma : mb);
            *(in_a[i] ? &va : &vb) += v * v;
        }
        double pooled = sqrt((va + vb) / (double)(n_a + n_b - 2)), diff = ma - mb;
        double d = pooled > 0 ? diff / pooled : (diff == 0 ? 0.0 : copysign(INFINITY, diff));
        out->mean_a[f] = ma;
        out->mean_b[f] = mb;
        out->diff[f] = diff;
        out->cohens_d[f] = d;
        out->hedges_g[f] = d * j_corr;
    }
    return GSAE_OK;
}

enum gsae_status stats_permutation_p(const float *x, int64_t n_rows, int64_t n_features,
                                     const uint8_t *in_a, int64_t n_perm, struct rng *r, double *p,
                                     struct gsae_error *err)
{
    int64_t n_a = 0;
    enum gsae_status st = check_groups(n_rows, in_a, &n_a, err);
    if (st != GSAE_OK) return st;
    if (n_perm < 1)
        return gsae_fail(err, GSAE_EINVAL, "permutation test: %lld permutations, expected >= 1",
                         (long long)n_perm);
    size_t nf = (size_t)n_features;
    double *sum_a = malloc(nf * sizeof *sum_a), *sum_all = malloc(nf * sizeof *sum_all);
    double *obs = malloc(nf * sizeof *obs);
    int64_t *count = calloc(nf, sizeof *count);
    uint8_t *labels = malloc((size_t)n_rows);
    if (!sum_a || !sum_all || !obs || !count || !labels) {
        st = gsae_fail(err, GSAE_ENOMEM, "permutation test: no memory for %lld features",
                       (long long)n_features);
        goto done;
    }
    /* diff = sum_a / n_a - (sum_all - sum_a) / n_b; sum_all does not change under permutation. */
    double n_b = (double)(n_rows - n_a);
    group_sums(x, n_rows, n_features, in_a, sum_a, sum_all);
    for (size_t f = 0; f < nf; f++)
        obs[f] = fabs(sum_a[f] / (double)n_a - (sum_all[f] - sum_a[f]) / n_b);
    memcpy(labels, in_a, (size_t)n_rows);
    for (int64_t t = 0; t < n_perm; t++) {
        for (int64_t i = n_rows - 1; i > 0; i--) {
            int64_t j = (int64_t)rng_below(r, (uint64_t)i + 1);
            uint8_t tmp = labels[i];
            labels[i] = labels[j];
            labels[j] = tmp;
        }
        group_sums(x, n_rows, n_features, labels, sum_a, sum_all);
        for (size_t f = 0; f < nf; f++) {
            double d = fabs(sum_a[f] / (double)n_a - (sum_all[f] - sum_a[f]) / n_b);
            count[f] += d >= obs[f] * (1.0 - 1e-12);
        }
    }
    for (size_t f = 0; f < nf; f++)
        p[f] = (double)(1 + count[f]) / (double)(1 + n_perm);
done:
    free(sum_a);
    free(sum_all);
    free(obs);
    free(count);
    free(labels);
    return st;
}

struct ranked {
    double key;
    int64_t index;
};

/* Ascending key, ties by lower index (a total order: qsort's result is then unique). */
static int cmp_ascending(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

enum gsae_status stats_bh_fdr(const double *p, int64_t m, double *q, struct gsae_error *err)
{
    struct ranked *r = malloc((size_t)(m > 0 ? m : 1) * sizeof *r);
    if (!r) return gsae_fail(err, GSAE_ENOMEM, "BH-FDR: no memory for %lld p-values", (long long)m);
    for (int64_t i = 0; i < m; i++) {
        if (!(p[i] >= 0.0 && p[i] <= 1.0)) {
            free(r);
            return gsae_fail(err, GSAE_EINVAL, "BH-FDR: p[%lld] = %g, expected in [0, 1]",
                             (long long)i, p[i]);
        }
        r[i] = (struct ranked){p[i], i};
    }
    qsort(r, (size_t)m, sizeof *r, cmp_ascending);
    double running = 1.0;
    for (int64_t j = m - 1; j >= 0; j--) {
        double v = r[j].key * (double)m / (double)(j + 1);
        running = v < running ? v : running;
        q[r[j].index] = running;
    }
    free(r);
    return GSAE_OK;
}

enum gsae_status stats_top_abs_diff(const float *a, const float *b, int64_t n, int64_t k,
                                    int64_t *idx, struct gsae_error *err)
{
    if (k < 0 || k > n)
        return gsae_fail(err, GSAE_EINVAL, "top differences: k = %lld of %lld, expected 0..n",
                         (long long)k, (long long)n);
    struct ranked *r = malloc((size_t)(n > 0 ? n : 1) * sizeof *r);
    if (!r) return gsae_fail(err, GSAE_ENOMEM, "top differences: no memory for %lld", (long long)n);
    /* Sorting on -|diff| ascending gives decreasing |diff| with ties by lower index. */
    for (int64_t i = 0; i < n; i++)
        r[i] = (struct ranked){-fabs((double)a[i] - (double)b[i]), i};
    qsort(r, (size_t)n, sizeof *r, cmp_ascending);
    for (int64_t i = 0; i < k; i++)
        idx[i] = r[i].index;
    free(r);
    return GSAE_OK;
}
