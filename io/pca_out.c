/* pca_out.c: NetCDF-4 and CSV writers for PCA results (see pca_out.h). */
#include "pca_out.h"

#include <errno.h>
#include <netcdf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "results_schema.h"

#define PCA_NC_SCHEMA_VERSION 2

#define NCW(call, what)                                                                            \
    do {                                                                                           \
        int nc_rc_ = (call);                                                                       \
        if (nc_rc_ != NC_NOERR) {                                                                  \
            st = gsae_fail(err, GSAE_EIO, "%s: %s: %s", tmp, what, nc_strerror(nc_rc_));           \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* Define a variable (deflated) with its CF long_name and units = "1" (scores, ids, counts:
 * all in the rows' own units or dimensionless). */
static int def_var(int ncid, const char *name, nc_type type, int n_dims, const int *dims,
                   const char *long_name, int *varid)
{
    int rc = nc_def_var(ncid, name, type, n_dims, dims, varid);
    if (rc == NC_NOERR && n_dims > 0 && type != NC_STRING)
        rc = nc_def_var_deflate(ncid, *varid, 1, 1, 4);
    if (rc == NC_NOERR)
        rc = nc_put_att_text(ncid, *varid, "long_name", strlen(long_name), long_name);
    if (rc == NC_NOERR) rc = nc_put_att_text(ncid, *varid, "units", 1, "1");
    return rc;
}

/* Variable ids of pca.nc (-1: not in this file). */
struct pca_nc_vars {
    int pc, tok, doc, pos, id, ctx, comp, ev, evr, mean, featc, feat, ttext, ctext;
};

/* The dimensions and variables of pca.nc (pca_out.h's schema). */
static enum gsae_status define_vars(int ncid, const char *tmp, const struct pca_table *t,
                                    struct pca_nc_vars *v, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    int d_row, d_comp, d_d, d_ctx, d_feat = -1;
    v->featc = v->feat = v->ttext = v->ctext = -1;
    NCW(nc_def_dim(ncid, "row", (size_t)t->n_rows, &d_row), "dimension row");
    NCW(nc_def_dim(ncid, "component", (size_t)t->k, &d_comp), "dimension component");
    NCW(nc_def_dim(ncid, "d", (size_t)t->d, &d_d), "dimension d");
    /* not "context": that is the variable, and a variable named like a dimension must be its
     * coordinate (xarray refuses the file otherwise) */
    NCW(nc_def_dim(ncid, "context_slot", (size_t)t->context_len, &d_ctx), "dimension context_slot");
    if (t->features)
        NCW(nc_def_dim(ncid, "feature", (size_t)t->n_features, &d_feat), "dimension feature");
    int rk[2] = {d_row, d_comp}, rc[2] = {d_row, d_ctx}, cd[2] = {d_comp, d_d};
    NCW(def_var(ncid, "pc", NC_DOUBLE, 2, rk, "centered row projected on the components", &v->pc),
        "variable pc");
    if (t->n_rows > 0) {
        size_t chunk[2] = {t->n_rows < 65536 ? (size_t)t->n_rows : 65536, (size_t)t->k};
        NCW(nc_def_var_chunking(ncid, v->pc, NC_CHUNKED, chunk), "chunking pc");
    }
    NCW(def_var(ncid, "token", NC_INT64, 1, &d_row,
                "global token number in the store: window * context_size + position", &v->tok),
        "variable token");
    NCW(def_var(ncid, "doc", NC_INT64, 1, &d_row, "document number in the corpus", &v->doc),
        "variable doc");
    NCW(def_var(ncid, "pos", NC_INT64, 1, &d_row, "position in document; -1: inserted <bos>",
                &v->pos),
        "variable pos");
    NCW(def_var(ncid, "token_id", NC_INT, 1, &d_row, "tokenizer id", &v->id), "variable token_id");
    NCW(def_var(ncid, "context", NC_INT, 2, rc,
                "token ids around the token (at slot context_before); -1 outside its window",
                &v->ctx),
        "variable context");
    NCW(def_var(ncid, "components", NC_DOUBLE, 2, cd, "principal axes (unit rows)", &v->comp),
        "variable components");
    NCW(def_var(ncid, "explained_variance", NC_DOUBLE, 1, &d_comp,
                "variance along each component (eigenvalue / (n_rows - 1))", &v->ev),
        "explained_variance");
    NCW(def_var(ncid, "explained_variance_ratio", NC_DOUBLE, 1, &d_comp,
                "explained_variance / total_variance", &v->evr),
        "explained_variance_ratio");
    NCW(def_var(ncid, "mean", NC_DOUBLE, 1, &d_d, "mean row", &v->mean), "variable mean");
    if (t->features) {
        NCW(def_var(ncid, "feature", NC_INT64, 1, &d_feat, "SAE feature index", &v->featc),
            "variable feature");
        NCW(def_var(ncid, "features", NC_INT64, 1, &d_feat, "SAE features of the rows", &v->feat),
            "variable features");
    }
    if (t->token_text && t->context_text) {
        NCW(def_var(ncid, "token_text", NC_STRING, 1, &d_row, "the token's text", &v->ttext),
            "token_text");
        NCW(def_var(ncid, "context_text", NC_STRING, 1, &d_row,
                    "prefix|token|suffix: the text around the token", &v->ctext),
            "context_text");
    }
fail:
    return st;
}

/* The global attributes of pca.nc. */
static enum gsae_status define_atts(int ncid, const char *tmp, const struct pca_table *t,
                                    struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    int version = PCA_NC_SCHEMA_VERSION;
    long long n_rows = t->n_rows, before = t->context_before,
              after = t->context_len - t->context_before - 1;
    const char *title = "gsae pca: principal components of activation-store rows";
    NCW(nc_put_att_int(ncid, NC_GLOBAL, "schema_version", NC_INT, 1, &version), "schema_version");
    NCW(nc_put_att_text(ncid, NC_GLOBAL, "title", strlen(title), title), "title");
    NCW(nc_put_att_text(ncid, NC_GLOBAL, "source", strlen(t->source), t->source), "source");
    NCW(nc_put_att_text(ncid, NC_GLOBAL, "rows", strlen(t->rows_kind), t->rows_kind), "rows");
    NCW(nc_put_att_longlong(ncid, NC_GLOBAL, "n_rows", NC_INT64, 1, &n_rows), "n_rows");
    NCW(nc_put_att_double(ncid, NC_GLOBAL, "total_variance", NC_DOUBLE, 1, &t->total_variance),
        "total_variance");
    NCW(nc_put_att_longlong(ncid, NC_GLOBAL, "context_before", NC_INT64, 1, &before), "ctx");
    NCW(nc_put_att_longlong(ncid, NC_GLOBAL, "context_after", NC_INT64, 1, &after), "ctx");
fail:
    return st;
}

static enum gsae_status write_vars(int ncid, const char *tmp, const struct pca_table *t,
                                   const struct pca_nc_vars *v, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    if (t->n_rows > 0) {
        NCW(nc_put_var_double(ncid, v->pc, t->pc), "writing pc");
        NCW(nc_put_var_longlong(ncid, v->tok, (const long long *)t->token), "writing token");
        NCW(nc_put_var_longlong(ncid, v->doc, (const long long *)t->doc), "writing doc");
        NCW(nc_put_var_longlong(ncid, v->pos, (const long long *)t->pos), "writing pos");
        NCW(nc_put_var_int(ncid, v->id, t->token_id), "writing token_id");
        NCW(nc_put_var_int(ncid, v->ctx, t->context), "writing context");
    }
    NCW(nc_put_var_double(ncid, v->comp, t->components), "writing components");
    NCW(nc_put_var_double(ncid, v->ev, t->explained_variance), "writing explained_variance");
    NCW(nc_put_var_double(ncid, v->evr, t->explained_variance_ratio), "writing ratio");
    NCW(nc_put_var_double(ncid, v->mean, t->mean), "writing mean");
    if (t->features) {
        NCW(nc_put_var_longlong(ncid, v->featc, (const long long *)t->features), "feature");
        NCW(nc_put_var_longlong(ncid, v->feat, (const long long *)t->features), "features");
    }
    if (v->ttext >= 0 && t->n_rows > 0) {
        /* netCDF's string API takes char ** but only reads the strings. */
        NCW(nc_put_var_string(ncid, v->ttext, (const char **)t->token_text), "writing token_text");
        NCW(nc_put_var_string(ncid, v->ctext, (const char **)t->context_text),
            "writing context_text");
    }
fail:
    return st;
}

enum gsae_status pca_nc_write(const char *path, const struct pca_table *t, struct gsae_error *err)
{
    char tmp[4200];
    enum gsae_status st = GSAE_OK;
    int ncid = -1;
    struct pca_nc_vars v;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    NCW(nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &ncid), "create");
    if ((st = define_vars(ncid, tmp, t, &v, err)) != GSAE_OK ||
        (st = define_atts(ncid, tmp, t, err)) != GSAE_OK)
        goto fail;
    NCW(nc_enddef(ncid), "enddef");
    if ((st = write_vars(ncid, tmp, t, &v, err)) != GSAE_OK) goto fail;
    int rc_close = nc_close(ncid);
    ncid = -1;
    NCW(rc_close, "close");
    if (rename(tmp, path) != 0)
        return gsae_fail(err, GSAE_EIO, "%s: rename to %s: %s", tmp, path, strerror(errno));
    return GSAE_OK;
fail:
    if (ncid >= 0) nc_close(ncid);
    remove(tmp);
    return st;
}

/* The token ids of a context as text: "id id|peak|id id" (the peak token between bars; -1,
 * outside the document, as an empty slot). Returns a malloc'd string or NULL. */
static char *context_ids(const int32_t *ctx, int64_t len, int64_t before)
{
    size_t cap = (size_t)(len > 0 ? len : 1) * 13, o = 0;
    char *s = malloc(cap);
    for (int64_t c = 0; s && c < len; c++) {
        bool edge = c == before || c == before + 1;
        if (c > 0) s[o++] = edge ? '|' : ' ';
        if (ctx[c] >= 0) o += (size_t)snprintf(s + o, cap - o, "%d", ctx[c]);
    }
    if (s) s[o] = '\0';
    return s;
}

/* Row r's context: text when given, else token ids. */
static void put_context(struct csv_writer *w, const struct pca_table *t,
                        const char *const *context_text, int64_t r)
{
    if (context_text) {
        csv_put_str(w, context_text[r]);
        return;
    }
    char *s = context_ids(t->context + r * t->context_len, t->context_len, t->context_before);
    csv_put_str(w, s ? s : "");
    free(s);
}

static enum gsae_status open_pcs(struct csv_writer *w, const char *path,
                                 const struct csv_schema *schema, const char *prefix, int64_t k,
                                 struct gsae_error *err)
{
    char **names = csv_names_numbered(prefix, NULL, k);
    if (!names) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
    enum gsae_status st =
        csv_writer_open(w, path, schema, (const char *const *)names, k, false, err);
    free(names);
    return st;
}

enum gsae_status pca_csv_write(const char *path, const struct pca_table *t,
                               const char *const *context_text, struct gsae_error *err)
{
    struct csv_writer w;
    enum gsae_status st = open_pcs(&w, path, &results_pca, "PC", t->k, err);
    if (st != GSAE_OK) return st;
    for (int64_t r = 0; r < t->n_rows; r++) {
        csv_put_int(&w, r);
        csv_put_int(&w, t->token[r]);
        csv_put_int(&w, t->doc[r]);
        csv_put_int(&w, t->pos[r]);
        csv_put_int(&w, t->token_id[r]);
        for (int64_t c = 0; c < t->k; c++)
            csv_put_double(&w, t->pc[r * t->k + c]);
        put_context(&w, t, context_text, r);
        csv_end_row(&w, false);
    }
    return csv_writer_close(&w, err);
}

enum gsae_status pca_scores_write(const char *path, const struct pca_table *t,
                                  const char *const *token_text, const char *const *context_text,
                                  struct gsae_error *err)
{
    struct csv_writer w;
    enum gsae_status st = open_pcs(&w, path, &results_pca_scores, "pc", t->k, err);
    if (st != GSAE_OK) return st;
    char id[16];
    for (int64_t r = 0; r < t->n_rows; r++) {
        snprintf(id, sizeof id, "%d", t->token_id[r]);
        csv_put_str(&w, token_text ? token_text[r] : id);
        for (int64_t c = 0; c < t->k; c++)
            csv_put_double(&w, t->pc[r * t->k + c]);
        csv_put_int(&w, t->token_id[r]);
        csv_put_int(&w, t->token[r]);
        put_context(&w, t, context_text, r);
        csv_end_row(&w, false);
    }
    return csv_writer_close(&w, err);
}

enum gsae_status pca_explained_write(const char *path, const struct pca_table *t,
                                     struct gsae_error *err)
{
    struct csv_writer w;
    enum gsae_status st = csv_writer_open(&w, path, &results_pca_explained, NULL, 0, false, err);
    if (st != GSAE_OK) return st;
    char name[32];
    for (int64_t c = 0; c < t->k; c++) {
        snprintf(name, sizeof name, "PC%lld", (long long)c + 1);
        csv_put_str(&w, name);
        csv_put_double(&w, t->explained_variance[c]);
        csv_put_double(&w, t->explained_variance_ratio[c]);
        csv_end_row(&w, false);
    }
    return csv_writer_close(&w, err);
}
