/* contrast_csv.c: the CSV files of a cross-prompt contrast (see contrast_csv.h). */
#include "contrast_csv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void contrast_csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* A prompt's column name: its name without a trailing ".json". */
static void prompt_column(FILE *f, const char *name)
{
    char buf[512];
    size_t n = strlen(name);
    if (n > 5 && strcmp(name + n - 5, ".json") == 0) n -= 5;
    snprintf(buf, sizeof buf, "%.*s", (int)(n < sizeof buf ? n : sizeof buf - 1), name);
    contrast_csv_field(f, buf);
}

static enum gsae_status open_out(const char *path, FILE **f, struct gsae_error *err)
{
    if (!(*f = fopen(path, "w")))
        return gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", path, strerror(errno));
    return GSAE_OK;
}

static enum gsae_status close_out(const char *path, FILE *f, struct gsae_error *err)
{
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad)
        return gsae_fail(err, GSAE_EIO, "%s: write failed: %s", path, strerror(errno));
    return GSAE_OK;
}

enum gsae_status contrast_csv_acts(const char *path, const struct promptset *ps, const float *acts,
                                   int64_t d_sae, struct gsae_error *err)
{
    FILE *f = NULL;
    enum gsae_status st = open_out(path, &f, err);
    if (st != GSAE_OK) return st;
    fputs("feature", f);
    for (int64_t i = 0; i < ps->n; i++) {
        fputc(',', f);
        prompt_column(f, ps->items[i].name);
    }
    fputc('\n', f);
    for (int64_t j = 0; j < d_sae; j++) {
        fprintf(f, "%lld", (long long)j);
        for (int64_t i = 0; i < ps->n; i++)
            fprintf(f, ",%.9g", (double)acts[i * d_sae + j]);
        fputc('\n', f);
    }
    return close_out(path, f, err);
}

enum gsae_status contrast_csv_diff(const char *path, const float *acts, int64_t d_sae,
                                   const struct contrast_nc_pairs *pairs, const double *group_diff,
                                   struct gsae_error *err)
{
    FILE *f = NULL;
    enum gsae_status st = open_out(path, &f, err);
    if (st != GSAE_OK) return st;
    fputs("feature", f);
    for (int64_t k = 0; k < pairs->n; k++)
        fprintf(f, ",%lld-%lld", (long long)pairs->a[k], (long long)pairs->b[k]);
    fputs(group_diff ? ",success-failure\n" : "\n", f);
    for (int64_t j = 0; j < d_sae; j++) {
        fprintf(f, "%lld", (long long)j);
        for (int64_t k = 0; k < pairs->n; k++)
            fprintf(f, ",%.17g",
                    (double)acts[pairs->a[k] * d_sae + j] - (double)acts[pairs->b[k] * d_sae + j]);
        if (group_diff) fprintf(f, ",%.17g", group_diff[j]);
        fputc('\n', f);
    }
    return close_out(path, f, err);
}

enum gsae_status contrast_csv_pair_top(const char *path, const struct promptset *ps,
                                       const float *acts, int64_t d_sae,
                                       const struct contrast_nc_pairs *pairs,
                                       struct gsae_error *err)
{
    FILE *f = NULL;
    enum gsae_status st = open_out(path, &f, err);
    if (st != GSAE_OK) return st;
    fputs("pair,a,b,name_a,name_b,rank,feature,act_a,act_b,diff\n", f);
    for (int64_t k = 0; k < pairs->n; k++) {
        int64_t a = pairs->a[k], b = pairs->b[k];
        for (int64_t r = 0; r < pairs->k; r++) {
            int64_t j = pairs->top[k * pairs->k + r];
            float va = acts[a * d_sae + j], vb = acts[b * d_sae + j];
            fprintf(f, "%lld-%lld,%lld,%lld,", (long long)a, (long long)b, (long long)a,
                    (long long)b);
            prompt_column(f, ps->items[a].name);
            fputc(',', f);
            prompt_column(f, ps->items[b].name);
            fprintf(f, ",%lld,%lld,%.9g,%.9g,%.17g\n", (long long)r + 1, (long long)j, (double)va,
                    (double)vb, (double)va - (double)vb);
        }
    }
    return close_out(path, f, err);
}

enum gsae_status contrast_csv_group_top(const char *path, const struct contrast_nc_group *g,
                                        struct gsae_error *err)
{
    FILE *f = NULL;
    enum gsae_status st = open_out(path, &f, err);
    if (st != GSAE_OK) return st;
    fputs("rank,feature,mean_success,mean_failure,diff,cohens_d,hedges_g,p_perm,q_bh\n", f);
    const struct stats_contrast *s = g->stats;
    for (int64_t r = 0; r < g->n_top; r++) {
        int64_t j = g->top[r];
        fprintf(f, "%lld,%lld,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g\n", (long long)r + 1,
                (long long)j, s->mean_a[j], s->mean_b[j], s->diff[j], s->cohens_d[j],
                s->hedges_g[j], g->p[j], g->q[j]);
    }
    return close_out(path, f, err);
}
