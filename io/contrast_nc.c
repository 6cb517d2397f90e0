/* contrast_nc.c: contrast.nc writer (see contrast_nc.h). */
#include "contrast_nc.h"

#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* Run a netCDF call; on failure record which file and what, and unwind. */
#define NC(call, what)                                                                             \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != NC_NOERR) {                                                                     \
            st = gsae_fail(err, rc_ == NC_ENOMEM ? GSAE_ENOMEM : GSAE_EIO, "%s: %s: %s", tmp,      \
                           what, nc_strerror(rc_));                                                \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* clang-format off */
enum {
    V_PROMPT, V_FEAT,                                                /* coordinates */
    V_ACTS, V_NAME, V_LABEL, V_CONF, V_LEN, V_CHARS, V_NTOK, V_LAST, /* per prompt */
    V_PA, V_PB, V_PTOP,                                              /* per pair */
    V_MA, V_MB, V_DIFF, V_D, V_G, V_P, V_Q, V_GTOP,                  /* group contrast */
    N_VARS
};
/* clang-format on */

/* Variable names, types and dimensions (indices into the dims array of write_defs). */
enum { D_PROMPT, D_FEATURE, D_PAIR, D_PAIR_TOP, D_GROUP_TOP, N_DIMS };

struct var_def {
    const char *name;
    nc_type type;
    int n_dims, dim0, dim1;
    const char *long_name;
};

/* Every variable also gets units = "1" (CF: counts, indices and dimensionless values). */
static const struct var_def vars[N_VARS] = {
    [V_PROMPT] = {"prompt", NC_INT64, 1, D_PROMPT, 0, "prompt index"},
    [V_FEAT] = {"feature", NC_INT64, 1, D_FEATURE, 0, "SAE feature index"},
    [V_ACTS] = {"acts", NC_FLOAT, 2, D_PROMPT, D_FEATURE,
                "SAE feature activation at the prompt's last token"},
    [V_NAME] = {"name", NC_STRING, 1, D_PROMPT, 0, "task file name or prompt name"},
    [V_LABEL] = {"label", NC_INT, 1, D_PROMPT, 0, "outcome: 1 success, 0 failure, -1 unknown"},
    [V_CONF] = {"confidence", NC_DOUBLE, 1, D_PROMPT, 0, "model confidence; NaN when not given"},
    [V_LEN] = {"len_prompt", NC_INT64, 1, D_PROMPT, 0,
               "recorded prompt length in characters; -1 when not given"},
    [V_CHARS] = {"n_chars", NC_INT64, 1, D_PROMPT, 0, "prompt length in characters"},
    [V_NTOK] = {"n_tokens", NC_INT64, 1, D_PROMPT, 0, "tokens including <bos>"},
    [V_LAST] = {"last_token", NC_INT, 1, D_PROMPT, 0, "id of the encoded (last) token"},
    [V_PA] = {"pair_a", NC_INT64, 1, D_PAIR, 0, "first prompt of the pair"},
    [V_PB] = {"pair_b", NC_INT64, 1, D_PAIR, 0, "second prompt of the pair"},
    [V_PTOP] = {"pair_top_feature", NC_INT64, 2, D_PAIR, D_PAIR_TOP,
                "features by |acts[a] - acts[b]|, largest first"},
    [V_MA] = {"mean_success", NC_DOUBLE, 1, D_FEATURE, 0, "mean activation, successful prompts"},
    [V_MB] = {"mean_failure", NC_DOUBLE, 1, D_FEATURE, 0, "mean activation, failed prompts"},
    [V_DIFF] = {"diff", NC_DOUBLE, 1, D_FEATURE, 0, "mean_success - mean_failure"},
    [V_D] = {"cohens_d", NC_DOUBLE, 1, D_FEATURE, 0, "diff / pooled standard deviation"},
    [V_G] = {"hedges_g", NC_DOUBLE, 1, D_FEATURE, 0, "Cohen's d with Hedges' correction"},
    [V_P] = {"p_perm", NC_DOUBLE, 1, D_FEATURE, 0, "two-sided permutation p-value of diff"},
    [V_Q] = {"q_bh", NC_DOUBLE, 1, D_FEATURE, 0, "Benjamini-Hochberg adjusted p-value"},
    [V_GTOP] = {"group_top_feature", NC_INT64, 1, D_GROUP_TOP, 0,
                "features by |diff|, largest first"},
};

static int put_text(int ncid, const char *name, const char *v)
{
    const char *s = v ? v : "";
    return nc_put_att_text(ncid, NC_GLOBAL, name, strlen(s), s);
}

static int put_i64_att(int ncid, const char *name, int64_t v)
{
    long long x = v;
    return nc_put_att_longlong(ncid, NC_GLOBAL, name, NC_INT64, 1, &x);
}

/* Which variables this file has. */
static bool has_var(int v, const struct contrast_nc_pairs *pairs,
                    const struct contrast_nc_group *group)
{
    if (v >= V_PA && v <= V_PTOP) return pairs->n > 0;
    if (v >= V_MA) return group->present;
    return true;
}

static int def_globals(int ncid, const struct contrast_nc_meta *m,
                       const struct contrast_nc_group *g)
{
    int version = CONTRAST_NC_SCHEMA_VERSION, on = g->present, rc;
    char hook[64];
    snprintf(hook, sizeof hook, "resid_post.%lld", (long long)m->layer);
    if ((rc = nc_put_att_int(ncid, NC_GLOBAL, "schema_version", NC_INT, 1, &version)) ||
        (rc = put_text(ncid, "title", "gsae cross-prompt contrast of SAE features")) ||
        (rc = put_text(ncid, "gsae_version", gsae_version())) ||
        (rc = put_text(ncid, "model", m->model)) || (rc = put_text(ncid, "sae", m->sae)) ||
        (rc = put_i64_att(ncid, "layer", m->layer)) || (rc = put_text(ncid, "hook", hook)) ||
        (rc = put_text(ncid, "position", "last token")) ||
        (rc = put_text(ncid, "prompts", m->prompts)) ||
        (rc = nc_put_att_int(ncid, NC_GLOBAL, "group_contrast", NC_INT, 1, &on)) ||
        (rc = put_i64_att(ncid, "n_success", g->n_success)) ||
        (rc = put_i64_att(ncid, "n_failure", g->n_failure)))
        return rc;
    if (!g->present) return NC_NOERR;
    unsigned long long seed = g->seed;
    if ((rc = put_i64_att(ncid, "n_permutations", g->n_perm)) ||
        (rc = nc_put_att_ulonglong(ncid, NC_GLOBAL, "permutation_seed", NC_UINT64, 1, &seed)) ||
        (rc = put_text(ncid, "group_a", "success")) || (rc = put_text(ncid, "group_b", "failure")))
        return rc;
    return NC_NOERR;
}

/* Write n int64 values (netCDF takes long long). */
static int put_i64_var(int ncid, int varid, const int64_t *v, int64_t n, long long *scratch)
{
    for (int64_t i = 0; i < n; i++)
        scratch[i] = v[i];
    return nc_put_var_longlong(ncid, varid, scratch);
}

/* Per-prompt metadata into the file. scratch holds max(P, d_sae, ...) values. */
static int put_prompts(int ncid, const int *varid, const struct promptset *ps, long long *scratch,
                       const char **names, int *ints, double *dbl)
{
    int rc;
    int64_t n = ps->n;
    for (int64_t i = 0; i < n; i++) {
        const struct promptset_item *it = &ps->items[i];
        names[i] = it->name;
        ints[i] = it->label;
        dbl[i] = it->confidence;
    }
    if ((rc = nc_put_var_string(ncid, varid[V_NAME], names)) ||
        (rc = nc_put_var_int(ncid, varid[V_LABEL], ints)) ||
        (rc = nc_put_var_double(ncid, varid[V_CONF], dbl)))
        return rc;
    for (int64_t i = 0; i < n; i++)
        scratch[i] = ps->items[i].len_prompt;
    if ((rc = nc_put_var_longlong(ncid, varid[V_LEN], scratch))) return rc;
    for (int64_t i = 0; i < n; i++)
        scratch[i] = ps->items[i].n_chars;
    if ((rc = nc_put_var_longlong(ncid, varid[V_CHARS], scratch))) return rc;
    for (int64_t i = 0; i < n; i++) {
        const struct promptset_item *it = &ps->items[i];
        scratch[i] = it->n_tokens;
        ints[i] = it->n_tokens > 0 ? it->tokens[it->n_tokens - 1] : -1;
    }
    if ((rc = nc_put_var_longlong(ncid, varid[V_NTOK], scratch))) return rc;
    return nc_put_var_int(ncid, varid[V_LAST], ints);
}

static int put_group(int ncid, const int *varid, const struct contrast_nc_group *g,
                     long long *scratch)
{
    const double *cols[] = {g->stats->mean_a,
                            g->stats->mean_b,
                            g->stats->diff,
                            g->stats->cohens_d,
                            g->stats->hedges_g,
                            g->p,
                            g->q};
    int rc;
    for (int v = V_MA; v <= V_Q; v++)
        if ((rc = nc_put_var_double(ncid, varid[v], cols[v - V_MA]))) return rc;
    return put_i64_var(ncid, varid[V_GTOP], g->top, g->n_top, scratch);
}

enum gsae_status contrast_nc_write(const char *path, const struct contrast_nc_meta *meta,
                                   const struct promptset *ps, const float *acts, int64_t d_sae,
                                   const struct contrast_nc_pairs *pairs,
                                   const struct contrast_nc_group *group, struct gsae_error *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    enum gsae_status st = GSAE_OK;
    int ncid = -1, dims[N_DIMS] = {0}, varid[N_VARS] = {0}, old_fill;
    int64_t n_scratch = ps->n + d_sae + pairs->n * pairs->k + group->n_top + 1;
    long long *scratch = malloc((size_t)n_scratch * sizeof *scratch);
    const char **names = malloc((size_t)(ps->n + 1) * sizeof *names);
    int *ints = malloc((size_t)(ps->n + 1) * sizeof *ints);
    double *dbl = malloc((size_t)(ps->n + 1) * sizeof *dbl);
    if (!scratch || !names || !ints || !dbl) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: no memory", path);
        goto fail;
    }
    size_t len[N_DIMS] = {(size_t)ps->n, (size_t)d_sae, (size_t)pairs->n, (size_t)pairs->k,
                          (size_t)group->n_top};
    static const char *const dim_names[N_DIMS] = {"prompt", "feature", "pair", "pair_top",
                                                  "group_top"};
    NC(nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &ncid), "create");
    NC(nc_set_fill(ncid, NC_NOFILL, &old_fill), "set_fill");
    for (int k = 0; k < N_DIMS; k++) {
        bool used = k < D_PAIR || (k < D_GROUP_TOP ? pairs->n > 0 : group->present);
        if (used) NC(nc_def_dim(ncid, dim_names[k], len[k], &dims[k]), dim_names[k]);
    }
    for (int v = 0; v < N_VARS; v++) {
        if (!has_var(v, pairs, group)) continue;
        const struct var_def *d = &vars[v];
        int vd[2] = {dims[d->dim0], dims[d->dim1]};
        NC(nc_def_var(ncid, d->name, d->type, d->n_dims, vd, &varid[v]), d->name);
        NC(nc_put_att_text(ncid, varid[v], "long_name", strlen(d->long_name), d->long_name),
           d->name);
        NC(nc_put_att_text(ncid, varid[v], "units", 1, "1"), d->name);
    }
    NC(def_globals(ncid, meta, group), "global attributes");
    NC(nc_enddef(ncid), "enddef");
    for (int64_t i = 0; i < d_sae || i < ps->n; i++)
        scratch[i] = i;
    NC(nc_put_var_longlong(ncid, varid[V_PROMPT], scratch), "prompt");
    NC(nc_put_var_longlong(ncid, varid[V_FEAT], scratch), "feature");
    NC(nc_put_var_float(ncid, varid[V_ACTS], acts), "acts");
    NC(put_prompts(ncid, varid, ps, scratch, names, ints, dbl), "prompt metadata");
    if (pairs->n > 0) {
        NC(put_i64_var(ncid, varid[V_PA], pairs->a, pairs->n, scratch), "pair_a");
        NC(put_i64_var(ncid, varid[V_PB], pairs->b, pairs->n, scratch), "pair_b");
        NC(put_i64_var(ncid, varid[V_PTOP], pairs->top, pairs->n * pairs->k, scratch),
           "pair_top_feature");
    }
    if (group->present) NC(put_group(ncid, varid, group, scratch), "group contrast");
    int rc = nc_close(ncid);
    ncid = -1;
    NC(rc, "close");
    st = store_rename_durable(tmp, path, err);
    if (st != GSAE_OK) remove(tmp);
    goto done;
fail:
    if (ncid >= 0) nc_close(ncid);
    remove(tmp);
done:
    free(scratch);
    free(names);
    free(ints);
    free(dbl);
    return st;
}
