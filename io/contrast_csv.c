/* contrast_csv.c: the CSV files of a cross-prompt contrast (see contrast_csv.h). */
#include "contrast_csv.h"

#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "results_schema.h"

/* A prompt's column name: its name without a trailing ".json" (at most 511 bytes). */
static void prompt_column(char *buf, size_t size, const char *name)
{
    size_t n = strlen(name);
    if (n > 5 && strcmp(name + n - 5, ".json") == 0) n -= 5;
    snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), name);
}

/* n column names of at most 512 bytes each, in one block: names[i] points into it. */
static char **names_alloc(int64_t n)
{
    char **names = malloc((size_t)(n > 0 ? n : 1) * (sizeof *names + 512));
    char *text = (char *)(names + (n > 0 ? n : 1));
    for (int64_t i = 0; names && i < n; i++)
        names[i] = text + 512 * i;
    return names;
}

enum gsae_status contrast_csv_acts(const char *path, const struct promptset *ps, const float *acts,
                                   int64_t d_sae, struct gsae_error *err)
{
    char **names = names_alloc(ps->n);
    if (!names) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
    for (int64_t i = 0; i < ps->n; i++)
        prompt_column(names[i], 512, ps->items[i].name);
    struct csv_writer w;
    enum gsae_status st = csv_writer_open(&w, path, &results_contrast_acts,
                                          (const char *const *)names, ps->n, false, err);
    free(names);
    if (st != GSAE_OK) return st;
    for (int64_t j = 0; j < d_sae; j++) {
        csv_put_int(&w, j);
        for (int64_t i = 0; i < ps->n; i++)
            csv_put_double(&w, (double)acts[i * d_sae + j]);
        csv_end_row(&w, false);
    }
    return csv_writer_close(&w, err);
}

enum gsae_status contrast_csv_diff(const char *path, const float *acts, int64_t d_sae,
                                   const struct contrast_nc_pairs *pairs, const double *group_diff,
                                   struct gsae_error *err)
{
    int64_t n_cols = pairs->n + (group_diff ? 1 : 0);
    char **names = names_alloc(n_cols);
    if (!names) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
    for (int64_t k = 0; k < pairs->n; k++)
        snprintf(names[k], 512, "%lld-%lld", (long long)pairs->a[k], (long long)pairs->b[k]);
    if (group_diff) snprintf(names[pairs->n], 512, "success-failure");
    struct csv_writer w;
    enum gsae_status st = csv_writer_open(&w, path, &results_contrast_diff,
                                          (const char *const *)names, n_cols, false, err);
    free(names);
    if (st != GSAE_OK) return st;
    for (int64_t j = 0; j < d_sae; j++) {
        csv_put_int(&w, j);
        for (int64_t k = 0; k < pairs->n; k++)
            csv_put_double(&w, (double)acts[pairs->a[k] * d_sae + j] -
                                   (double)acts[pairs->b[k] * d_sae + j]);
        if (group_diff) csv_put_double(&w, group_diff[j]);
        csv_end_row(&w, false);
    }
    return csv_writer_close(&w, err);
}

enum gsae_status contrast_csv_pair_top(const char *path, const struct promptset *ps,
                                       const float *acts, int64_t d_sae,
                                       const struct contrast_nc_pairs *pairs,
                                       struct gsae_error *err)
{
    struct csv_writer w;
    enum gsae_status st =
        csv_writer_open(&w, path, &results_contrast_pair_top, NULL, 0, false, err);
    if (st != GSAE_OK) return st;
    char pair[64], name_a[512], name_b[512];
    for (int64_t k = 0; k < pairs->n; k++) {
        int64_t a = pairs->a[k], b = pairs->b[k];
        snprintf(pair, sizeof pair, "%lld-%lld", (long long)a, (long long)b);
        prompt_column(name_a, sizeof name_a, ps->items[a].name);
        prompt_column(name_b, sizeof name_b, ps->items[b].name);
        for (int64_t r = 0; r < pairs->k; r++) {
            int64_t j = pairs->top[k * pairs->k + r];
            float va = acts[a * d_sae + j], vb = acts[b * d_sae + j];
            csv_put_str(&w, pair);
            csv_put_int(&w, a);
            csv_put_int(&w, b);
            csv_put_str(&w, name_a);
            csv_put_str(&w, name_b);
            csv_put_int(&w, r + 1);
            csv_put_int(&w, j);
            csv_put_double(&w, (double)va);
            csv_put_double(&w, (double)vb);
            csv_put_double(&w, (double)va - (double)vb);
            csv_end_row(&w, false);
        }
    }
    return csv_writer_close(&w, err);
}

enum gsae_status contrast_csv_group_top(const char *path, const struct contrast_nc_group *g,
                                        struct gsae_error *err)
{
    struct csv_writer w;
    enum gsae_status st =
        csv_writer_open(&w, path, &results_contrast_group_top, NULL, 0, false, err);
    if (st != GSAE_OK) return st;
    const struct stats_contrast *s = g->stats;
    for (int64_t r = 0; r < g->n_top; r++) {
        int64_t j = g->top[r];
        csv_put_int(&w, r + 1);
        csv_put_int(&w, j);
        const double v[] = {s->mean_a[j],   s->mean_b[j], s->diff[j], s->cohens_d[j],
                            s->hedges_g[j], g->p[j],      g->q[j]};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
            csv_put_double(&w, v[i]);
        csv_end_row(&w, false);
    }
    return csv_writer_close(&w, err);
}
