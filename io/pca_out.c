/* pca_out.c: NetCDF-4 and CSV writers for PCA results (see pca_out.h). */
#include "pca_out.h"

#include <errno.h>
#include <netcdf.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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

/* Write s as one CSV field (quoted when it holds a comma, quote or line break). */
static void csv_field(FILE *f, const char *s)
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

static void context_ids(FILE *f, const int32_t *ctx, int64_t len, int64_t before)
{
    for (int64_t c = 0; c < len; c++) {
        bool edge = c == before || c == before + 1;
        if (c > 0) fputc(edge ? '|' : ' ', f);
        if (ctx[c] >= 0) fprintf(f, "%d", ctx[c]);
    }
}

/* ",pc1,...,pck" of row r, at full precision. */
static void write_pcs(FILE *f, const struct pca_table *t, int64_t r)
{
    for (int64_t c = 0; c < t->k; c++)
        fprintf(f, ",%.17g", t->pc[r * t->k + c]);
}

/* Row r's context (text when given, else token ids) and the end of the line. */
static void write_context(FILE *f, const struct pca_table *t, const char *const *context_text,
                          int64_t r)
{
    if (context_text)
        csv_field(f, context_text[r]);
    else
        context_ids(f, t->context + r * t->context_len, t->context_len, t->context_before);
    fputc('\n', f);
}

enum gsae_status pca_csv_write(const char *path, const struct pca_table *t,
                               const char *const *context_text, struct gsae_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f) return gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", path, strerror(errno));
    fputs("row,token,doc,pos,token_id", f);
    for (int64_t c = 0; c < t->k; c++)
        fprintf(f, ",PC%lld", (long long)c + 1);
    fputs(",context\n", f);
    for (int64_t r = 0; r < t->n_rows; r++) {
        fprintf(f, "%lld,%lld,%lld,%lld,%d", (long long)r, (long long)t->token[r],
                (long long)t->doc[r], (long long)t->pos[r], t->token_id[r]);
        write_pcs(f, t, r);
        fputc(',', f);
        write_context(f, t, context_text, r);
    }
    if (ferror(f) | fclose(f)) return gsae_fail(err, GSAE_EIO, "%s: write failed", path);
    return GSAE_OK;
}

enum gsae_status pca_scores_write(const char *path, const struct pca_table *t,
                                  const char *const *token_text, const char *const *context_text,
                                  struct gsae_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f) return gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", path, strerror(errno));
    fputs("token", f);
    for (int64_t c = 0; c < t->k; c++)
        fprintf(f, ",pc%lld", (long long)c + 1);
    fputs(",token_id,token_index,context\n", f);
    for (int64_t r = 0; r < t->n_rows; r++) {
        if (token_text)
            csv_field(f, token_text[r]);
        else
            fprintf(f, "%d", t->token_id[r]);
        write_pcs(f, t, r);
        fprintf(f, ",%d,%lld,", t->token_id[r], (long long)t->token[r]);
        write_context(f, t, context_text, r);
    }
    if (ferror(f) | fclose(f)) return gsae_fail(err, GSAE_EIO, "%s: write failed", path);
    return GSAE_OK;
}

enum gsae_status pca_explained_write(const char *path, const struct pca_table *t,
                                     struct gsae_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f) return gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", path, strerror(errno));
    fputs("component,explained_variance,explained_variance_ratio\n", f);
    for (int64_t c = 0; c < t->k; c++)
        fprintf(f, "PC%lld,%.17g,%.17g\n", (long long)c + 1, t->explained_variance[c],
                t->explained_variance_ratio[c]);
    if (ferror(f) | fclose(f)) return gsae_fail(err, GSAE_EIO, "%s: write failed", path);
    return GSAE_OK;
}
