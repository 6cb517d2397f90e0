/* pca.c: serial PCA pieces (see pca.h). */
#include "pca.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

void pca_center_rows(double *x, int64_t n, int64_t d, const double *mean)
{
    for (int64_t i = 0; i < n; i++) {
        double *row = x + i * d;
        for (int64_t j = 0; j < d; j++)
            row[j] -= mean[j];
    }
}

void pca_project(const double *x, int64_t n, int64_t d, const double *components, int64_t k,
                 double *out)
{
    if (n == 0 || k == 0) return;
    GSAE_ASSERT(n <= INT32_MAX && d <= INT32_MAX && k <= INT32_MAX);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)k, (int)d, 1.0, x, (int)d,
                components, (int)d, 0.0, out, (int)k);
}

void pca_sign_flip(double *components, int64_t k, int64_t d)
{
    for (int64_t c = 0; c < k; c++) {
        double *v = components + c * d;
        int64_t best = 0;
        for (int64_t j = 1; j < d; j++)
            if (fabs(v[j]) > fabs(v[best])) best = j;
        if (v[best] < 0)
            for (int64_t j = 0; j < d; j++)
                v[j] = -v[j];
    }
}

bool pca_recon_coef(const int32_t *indices, const float *values, int64_t nnz,
                    const int64_t *features, int64_t n_features, double *coef)
{
    for (int64_t j = 0; j < n_features; j++)
        coef[j] = 0.0;
    /* Feature lists are short (the notebook's have 8 or 9), so a scan beats a lookup table. */
    for (int64_t e = 0; e < nnz; e++)
        for (int64_t j = 0; j < n_features; j++)
            if (features[j] == indices[e]) coef[j] += (double)values[e];
    double sum = 0.0;
    for (int64_t j = 0; j < n_features; j++)
        sum += coef[j];
    return sum > 0.0;
}

void pca_recon_row(const double *coef, const double *w_rows, int64_t n_features, int64_t d,
                   double *out)
{
    for (int64_t i = 0; i < d; i++)
        out[i] = 0.0;
    for (int64_t j = 0; j < n_features; j++) {
        if (coef[j] == 0.0) continue;
        const double *w = w_rows + j * d;
        for (int64_t i = 0; i < d; i++)
            out[i] += coef[j] * w[i];
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

enum gsae_status pca_draw_features(struct rng *r, int64_t n_total, int64_t n, int64_t *out,
                                   struct gsae_error *err)
{
    if (n < 1 || n > n_total)
        return gsae_fail(err, GSAE_EINVAL,
                         "random features: asked for %lld distinct ids from %lld, expected 1..%lld",
                         (long long)n, (long long)n_total, (long long)n_total);
    int64_t *pool = malloc((size_t)n_total * sizeof *pool);
    if (!pool)
        return gsae_fail(err, GSAE_ENOMEM, "random features: no memory for %lld ids",
                         (long long)n_total);
    for (int64_t i = 0; i < n_total; i++)
        pool[i] = i;
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i + (int64_t)rng_below(r, (uint64_t)(n_total - i));
        int64_t t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
        out[i] = pool[i];
    }
    free(pool);
    qsort(out, (size_t)n, sizeof *out, cmp_i64);
    return GSAE_OK;
}
