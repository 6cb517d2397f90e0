/* attrib_nc.c: attribution.nc writer (see attrib_nc.h). */
#include "attrib_nc.h"

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

enum { D_POS, D_FEATURE, D_ENTRY, D_ROW, D_TOP, N_DIMS };
enum {
    V_POSC,
    V_FEATC,
    V_TOK,
    V_TEXT,
    V_ROW,
    V_COUNT,
    V_FEAT,
    V_ACT,
    V_ATTR,
    V_ERR,
    V_TOTAL,
    V_TOP,
    N_VARS
};

struct var_def {
    const char *name;
    nc_type type;
    int dim;
    const char *long_name;
};

/* Every variable also gets units = "1" (CF: ids, counts and values in the metric's units, which
 * the metric attribute names). */
static const struct var_def vars[N_VARS] = {
    [V_POSC] = {"position", NC_INT64, D_POS, "token position in the prompt"},
    [V_FEATC] = {"feature", NC_INT64, D_FEATURE, "SAE feature index"},
    [V_TOK] = {"tokens", NC_INT, D_POS, "token ids, <bos> first"},
    [V_TEXT] = {"token_text", NC_STRING, D_POS, "text of each token"},
    [V_ROW] = {"row_ptr", NC_INT64, D_ROW, "CSR row pointers: entries of position p"},
    [V_COUNT] = {"entry_count", NC_INT, D_POS,
                 "entries of each position (contiguous ragged array count)"},
    [V_FEAT] = {"entry_feature", NC_INT, D_ENTRY, "SAE feature of each entry"},
    [V_ACT] = {"entry_activation", NC_FLOAT, D_ENTRY, "JumpReLU activation of each entry"},
    [V_ATTR] = {"entry_attribution", NC_FLOAT, D_ENTRY,
                "activation times (W_dec[feature] . dmetric/dresid_post)"},
    [V_ERR] = {"error", NC_FLOAT, D_POS, "SAE error term . dmetric/dresid_post"},
    [V_TOTAL] = {"total_abs", NC_DOUBLE, D_FEATURE, "sum over positions of |attribution|"},
    [V_TOP] = {"top_feature", NC_INT64, D_TOP, "features by total_abs, largest first"},
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

static int def_globals(int ncid, const struct attrib_nc_meta *m)
{
    int version = ATTRIB_NC_SCHEMA_VERSION, rc;
    char hook[64];
    snprintf(hook, sizeof hook, "resid_post.%lld", (long long)m->layer);
    if ((rc = nc_put_att_int(ncid, NC_GLOBAL, "schema_version", NC_INT, 1, &version)) ||
        (rc = put_text(ncid, "title", "gsae feature attribution by gradient")) ||
        (rc = put_text(ncid, "gsae_version", gsae_version())) ||
        (rc = put_text(ncid, "model", m->model)) || (rc = put_text(ncid, "sae", m->sae)) ||
        (rc = put_i64_att(ncid, "layer", m->layer)) || (rc = put_text(ncid, "hook", hook)) ||
        (rc = put_text(ncid, "prompt", m->prompt)) || (rc = put_text(ncid, "metric", m->metric)) ||
        (rc = nc_put_att_double(ncid, NC_GLOBAL, "metric_value", NC_DOUBLE, 1, &m->metric_value)) ||
        (rc = put_text(ncid, "metric_rule", m->metric_rule)) ||
        (rc = nc_put_att_double(ncid, NC_GLOBAL, "error_share", NC_DOUBLE, 1, &m->error_share)))
        return rc;
    if (m->target >= 0 && ((rc = put_i64_att(ncid, "target", m->target)) ||
                           (rc = put_i64_att(ncid, "baseline", m->baseline)) ||
                           (rc = put_i64_att(ncid, "position", m->position))))
        return rc;
    if (m->answer_first >= 0 && ((rc = put_i64_att(ncid, "answer_first", m->answer_first)) ||
                                 (rc = put_i64_att(ncid, "answer_last", m->answer_last))))
        return rc;
    return NC_NOERR;
}

enum gsae_status attrib_nc_write(const char *path, const struct attrib_nc_meta *meta,
                                 const struct attrib_nc_map *map, struct gsae_error *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    enum gsae_status st = GSAE_OK;
    int ncid = -1, dims[N_DIMS] = {0}, varid[N_VARS] = {0}, old_fill;
    int64_t n_scratch = map->n_pos + 1 > map->n_top ? map->n_pos + 1 : map->n_top;
    if (map->d_sae > n_scratch) n_scratch = map->d_sae;
    long long *scratch = malloc((size_t)(n_scratch + 1) * sizeof *scratch);
    if (!scratch) return gsae_fail(err, GSAE_ENOMEM, "%s: no memory", path);
    /* netCDF refuses zero-length fixed dimensions for nothing, but an empty map is legal */
    size_t len[N_DIMS] = {(size_t)map->n_pos, (size_t)map->d_sae, (size_t)map->nnz,
                          (size_t)(map->n_pos + 1), (size_t)map->n_top};
    static const char *const dim_names[N_DIMS] = {"position", "feature", "entry", "row", "top"};
    NC(nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &ncid), "create");
    NC(nc_set_fill(ncid, NC_NOFILL, &old_fill), "set_fill");
    for (int k = 0; k < N_DIMS; k++)
        NC(nc_def_dim(ncid, dim_names[k], len[k], &dims[k]), dim_names[k]);
    for (int v = 0; v < N_VARS; v++) {
        const struct var_def *d = &vars[v];
        NC(nc_def_var(ncid, d->name, d->type, 1, &dims[d->dim], &varid[v]), d->name);
        NC(nc_put_att_text(ncid, varid[v], "long_name", strlen(d->long_name), d->long_name),
           d->name);
        NC(nc_put_att_text(ncid, varid[v], "units", 1, "1"), d->name);
    }
    NC(nc_put_att_text(ncid, varid[V_COUNT], "sample_dimension", 5, "entry"), "entry_count");
    NC(def_globals(ncid, meta), "global attributes");
    NC(nc_enddef(ncid), "enddef");
    for (int64_t i = 0; i < n_scratch; i++)
        scratch[i] = i;
    NC(nc_put_var_longlong(ncid, varid[V_POSC], scratch), "position");
    NC(nc_put_var_longlong(ncid, varid[V_FEATC], scratch), "feature");
    NC(nc_put_var_int(ncid, varid[V_TOK], map->tokens), "tokens");
    NC(nc_put_var_string(ncid, varid[V_TEXT], (const char **)map->text), "token_text");
    for (int64_t i = 0; i <= map->n_pos; i++)
        scratch[i] = map->row_ptr[i];
    NC(nc_put_var_longlong(ncid, varid[V_ROW], scratch), "row_ptr");
    for (int64_t i = 0; i < map->n_pos; i++) /* netCDF range-checks them into int */
        scratch[i] = map->row_ptr[i + 1] - map->row_ptr[i];
    NC(nc_put_var_longlong(ncid, varid[V_COUNT], scratch), "entry_count");
    if (map->nnz > 0) {
        NC(nc_put_var_int(ncid, varid[V_FEAT], map->feature), "entry_feature");
        NC(nc_put_var_float(ncid, varid[V_ACT], map->act), "entry_activation");
        NC(nc_put_var_float(ncid, varid[V_ATTR], map->attr), "entry_attribution");
    }
    NC(nc_put_var_float(ncid, varid[V_ERR], map->error), "error");
    NC(nc_put_var_double(ncid, varid[V_TOTAL], map->total_abs), "total_abs");
    for (int64_t i = 0; i < map->n_top; i++)
        scratch[i] = map->top[i];
    if (map->n_top > 0) NC(nc_put_var_longlong(ncid, varid[V_TOP], scratch), "top_feature");
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
    return st;
}
