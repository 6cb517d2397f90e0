/* dpca_store.c: dpca row sources over an activation store (see dpca_store.h). */
#include "dpca_store.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/store_id.h"
#include "../src/pca.h"
#include "dist.h"

void dpca_store_rows_free(struct dpca_store_rows *src)
{
    if (!src) return;
    manifest_free(&src->manifest);
    free(src->token);
    free(src->doc);
    free(src->pos);
    free(src->token_id);
    free(src->context);
    free(src->features);
    free(src->w_rows);
    free(src->coef);
    free(src->part_row0);
    store_part_free(&src->part);
    memset(src, 0, sizeof *src);
    src->loaded = -1;
}

static enum gsae_status read_part(struct dpca_store_rows *src, int64_t j, bool with_resid,
                                  struct gsae_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", src->dir, src->manifest.parts[j].info.file);
    store_part_free(&src->part);
    src->loaded = -1;
    enum gsae_status st = store_part_read(path, with_resid, &src->part, err);
    if (st == GSAE_OK && with_resid && src->part.resid_post == NULL)
        st = gsae_fail(err, GSAE_EFORMAT,
                       "%s: no 'resid_post': the store keeps no residuals "
                       "(use feature rows)",
                       path);
    if (st == GSAE_OK && src->kind == DPCA_STORE_RESID && src->d > 0 && src->part.d_model != src->d)
        st = gsae_fail(err, GSAE_EFORMAT, "%s: d_model is %lld, expected %lld", path,
                       (long long)src->part.d_model, (long long)src->d);
    if (st == GSAE_OK) src->loaded = with_resid ? j : -1;
    return st;
}

/* Grow the per-row arrays to hold at least n rows. */
static enum gsae_status reserve_rows(struct dpca_store_rows *src, int64_t n, int64_t *cap,
                                     struct gsae_error *err)
{
    if (n <= *cap) return GSAE_OK;
    int64_t c = *cap ? *cap * 2 : 4096;
    while (c < n)
        c *= 2;
    size_t uc = (size_t)c, nf = (size_t)(src->n_features > 0 ? src->n_features : 1);
    int64_t *token = realloc(src->token, uc * sizeof *token);
    src->token = token ? token : src->token;
    int64_t *doc = realloc(src->doc, uc * sizeof *doc);
    src->doc = doc ? doc : src->doc;
    int64_t *pos = realloc(src->pos, uc * sizeof *pos);
    src->pos = pos ? pos : src->pos;
    int32_t *id = realloc(src->token_id, uc * sizeof *id);
    src->token_id = id ? id : src->token_id;
    int32_t *ctx = realloc(src->context, uc * DPCA_CONTEXT_LEN * sizeof *ctx);
    src->context = ctx ? ctx : src->context;
    double *coef =
        src->kind == DPCA_STORE_FEATURES ? realloc(src->coef, uc * nf * sizeof *coef) : src->coef;
    src->coef = coef ? coef : src->coef;
    if (!token || !doc || !pos || !id || !ctx || (src->kind == DPCA_STORE_FEATURES && !coef))
        return gsae_fail(err, GSAE_ENOMEM, "pca rows: no memory for %lld rows", (long long)n);
    *cap = c;
    return GSAE_OK;
}

/* Record token t of the loaded part as local row r. */
static void keep_token(struct dpca_store_rows *src, int64_t r, int64_t t)
{
    const struct store_part *p = &src->part;
    int64_t cs = p->context_size, w0 = t - t % cs;
    src->token[r] = (p->first_window * cs) + t;
    src->doc[r] = p->doc[t];
    src->pos[r] = p->pos[t];
    src->token_id[r] = p->token_id[t];
    for (int64_t c = 0; c < DPCA_CONTEXT_LEN; c++) {
        int64_t u = t - DPCA_CONTEXT_BEFORE + c;
        src->context[r * DPCA_CONTEXT_LEN + c] = u >= w0 && u < w0 + cs ? p->token_id[u] : -1;
    }
}

/* The list's coefficients for token t of the loaded part; whether it fires. */
static bool token_fires(struct dpca_store_rows *src, int64_t t, int32_t *scratch, double *coef)
{
    const struct store_part *p = &src->part;
    int64_t a = p->row_ptr[t], n = p->row_ptr[t + 1] - a;
    for (int64_t e = 0; e < n; e++)
        scratch[e] = (int32_t)p->index[a + e]; /* < d_sae, checked < INT32_MAX at open */
    return pca_recon_coef(scratch, p->value + a, n, src->features, src->n_features, coef);
}

/* Scan this rank's parts once: every token (resid) or the firing ones (features). */
static enum gsae_status scan_parts(struct dpca_store_rows *src, struct gsae_error *err)
{
    int64_t cap = 0, nf = src->n_features;
    int32_t *scratch = NULL;
    double *coef = malloc((size_t)(nf > 0 ? nf : 1) * sizeof *coef);
    enum gsae_status st = coef ? GSAE_OK : gsae_fail(err, GSAE_ENOMEM, "pca rows: no memory");
    for (int64_t j = src->part_begin; st == GSAE_OK && j < src->part_end; j++) {
        src->part_row0[j - src->part_begin] = src->n_local;
        if ((st = read_part(src, j, false, err)) != GSAE_OK) break;
        const struct store_part *p = &src->part;
        if (src->kind == DPCA_STORE_RESID && p->resid == STORE_RESID_NONE) {
            st = gsae_fail(err, GSAE_EFORMAT,
                           "%s/%s: no 'resid_post': the store keeps no "
                           "residuals (use feature rows)",
                           src->dir, src->manifest.parts[j].info.file);
            break;
        }
        if (src->kind == DPCA_STORE_RESID)
            src->d = p->d_model; /* read_part checks that later parts agree */
        if (p->d_sae > INT32_MAX) {
            st = gsae_fail(err, GSAE_ERANGE, "%s: d_sae %lld", src->dir, (long long)p->d_sae);
            break;
        }
        free(scratch);
        scratch = malloc((size_t)(p->d_sae > 0 ? p->d_sae : 1) * sizeof *scratch);
        if (!scratch) {
            st = gsae_fail(err, GSAE_ENOMEM, "pca rows: no memory");
            break;
        }
        for (int64_t t = 0; st == GSAE_OK && t < p->n_tokens; t++) {
            if (src->kind == DPCA_STORE_FEATURES && !token_fires(src, t, scratch, coef)) continue;
            if ((st = reserve_rows(src, src->n_local + 1, &cap, err)) != GSAE_OK) break;
            if (src->kind == DPCA_STORE_FEATURES)
                memcpy(src->coef + src->n_local * nf, coef, (size_t)nf * sizeof *coef);
            keep_token(src, src->n_local++, t);
        }
    }
    src->part_row0[src->part_end - src->part_begin] = src->n_local;
    store_part_free(&src->part);
    free(scratch);
    free(coef);
    return st;
}

static enum gsae_status features_read(void *ctx, int64_t begin, int64_t count, double *out,
                                      struct gsae_error *err)
{
    (void)err;
    struct dpca_store_rows *src = ctx;
    for (int64_t i = begin; i < begin + count; i++)
        pca_recon_row(src->coef + i * src->n_features, src->w_rows, src->n_features, src->d,
                      out + (i - begin) * src->d);
    return GSAE_OK;
}

static enum gsae_status resid_read(void *ctx, int64_t begin, int64_t count, double *out,
                                   struct gsae_error *err)
{
    struct dpca_store_rows *src = ctx;
    int64_t n_parts = src->part_end - src->part_begin, j = 0;
    for (int64_t i = begin; i < begin + count; i++) {
        while (j + 1 < n_parts && src->part_row0[j + 1] <= i)
            j++;
        if (src->loaded != src->part_begin + j) {
            enum gsae_status st = read_part(src, src->part_begin + j, true, err);
            if (st != GSAE_OK) return st;
        }
        const float *x = src->part.resid_post + (i - src->part_row0[j]) * src->d;
        for (int64_t c = 0; c < src->d; c++)
            out[(i - begin) * src->d + c] = (double)x[c];
    }
    return GSAE_OK;
}

static enum gsae_status open_share(const char *dir, int rank, int size, struct dpca_store_rows *src,
                                   struct gsae_error *err)
{
    if (strlen(dir) >= sizeof src->dir)
        return gsae_fail(err, GSAE_EINVAL, "store path is too long: %s", dir);
    strcpy(src->dir, dir);
    enum gsae_status st = manifest_load(dir, &src->manifest, err);
    if (st != GSAE_OK) return st;
    int64_t n = src->manifest.n_parts;
    if (n < 1) return gsae_fail(err, GSAE_EFORMAT, "%s/manifest.json lists no parts", dir);
    src->part_begin = n * rank / size;
    src->part_end = n * (rank + 1) / size;
    src->part_row0 = calloc((size_t)(src->part_end - src->part_begin + 1), sizeof(int64_t));
    if (!src->part_row0) return gsae_fail(err, GSAE_ENOMEM, "pca rows: no memory");
    return GSAE_OK;
}

enum gsae_status dpca_store_rows_open(const char *dir, enum dpca_store_kind kind,
                                      const int64_t *features, int64_t n_features,
                                      const double *w_rows, int64_t w_d, int rank, int size,
                                      struct dpca_store_rows *src, struct dpca_rows *rows,
                                      struct gsae_error *err)
{
    memset(src, 0, sizeof *src);
    src->loaded = -1;
    src->kind = kind;
    *rows = (struct dpca_rows){.d = -1};
    enum gsae_status st = open_share(dir, rank, size, src, err);
    if (st == GSAE_OK && kind == DPCA_STORE_FEATURES) {
        if (n_features < 1 || w_d < 1)
            return gsae_fail(err, GSAE_EINVAL, "feature rows need a feature list and W_dec");
        src->n_features = n_features;
        src->d = w_d;
        src->features = malloc((size_t)n_features * sizeof *src->features);
        src->w_rows = malloc((size_t)(n_features * w_d) * sizeof *src->w_rows);
        if (!src->features || !src->w_rows)
            return gsae_fail(err, GSAE_ENOMEM, "pca rows: no memory");
        memcpy(src->features, features, (size_t)n_features * sizeof *features);
        memcpy(src->w_rows, w_rows, (size_t)(n_features * w_d) * sizeof *w_rows);
    }
    if (st == GSAE_OK) st = scan_parts(src, err);
    if (st != GSAE_OK) return st;
    *rows = (struct dpca_rows){.d = src->d,
                               .n_local = src->n_local,
                               .ctx = src,
                               .read = kind == DPCA_STORE_RESID ? resid_read : features_read};
    return GSAE_OK;
}

/* The value of the "name = value" line of a part's attribute listing, into buf. */
static bool attr_value(const char *text, const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);
    const char *line = text;
    while (line && *line) {
        if (strncmp(line, name, n) == 0 && strncmp(line + n, " = ", 3) == 0) {
            const char *v = line + n + 3, *end = strchr(v, '\n');
            size_t len = end ? (size_t)(end - v) : strlen(v);
            if (len >= size) len = size - 1;
            memcpy(buf, v, len);
            buf[len] = '\0';
            return true;
        }
        line = strchr(line, '\n');
        if (line) line++;
    }
    return false;
}

enum gsae_status dpca_store_sae_read(const char *dir, struct dpca_store_sae *out,
                                     struct gsae_error *err)
{
    memset(out, 0, sizeof *out);
    struct manifest m = {0};
    char *text = NULL, d_sae[32] = "";
    enum gsae_status st = manifest_load(dir, &m, err);
    if (st == GSAE_OK && m.n_parts < 1)
        st = gsae_fail(err, GSAE_ENOTFOUND, "%s: the manifest lists no part", dir);
    if (st == GSAE_OK) {
        snprintf(out->part, sizeof out->part, "%s/%s", dir, m.parts[0].info.file);
        st = store_part_describe(out->part, &text, err);
    }
    if (st == GSAE_OK && (!attr_value(text, "d_sae", d_sae, sizeof d_sae) ||
                          !attr_value(text, "sae_hash", out->sae_hash, sizeof out->sae_hash)))
        st = gsae_fail(err, GSAE_EFORMAT, "%s: attribute 'd_sae' or 'sae_hash' is missing",
                       out->part);
    if (st == GSAE_OK) {
        if (!gsae_parse_i64(d_sae, 1, INT64_MAX, &out->d_sae))
            st = gsae_fail(err, GSAE_EFORMAT, "%s: d_sae is '%s', expected a positive integer",
                           out->part, d_sae);
    }
    free(text);
    manifest_free(&m);
    return st;
}

void dpca_sae_hash(const struct sae_params *p, char *out, size_t size)
{
    store_id_hex(store_id_sae(p), out, size);
}

enum gsae_status dpca_store_sae_check(const struct dpca_store_sae *store, const char *what,
                                      int64_t d_sae, const char *hash, struct gsae_error *err)
{
    if (d_sae != store->d_sae)
        return gsae_fail(err, GSAE_EINVAL,
                         "%s: d_sae is %lld, expected %lld (the store's SAE width, attribute "
                         "d_sae of %s)",
                         what, (long long)d_sae, (long long)store->d_sae, store->part);
    if (hash && strcmp(store->sae_hash, "none") != 0 && strcmp(hash, store->sae_hash) != 0)
        return gsae_fail(err, GSAE_EINVAL,
                         "%s: sae_hash is %s, expected %s (the SAE the store was harvested with, "
                         "attribute sae_hash of %s)",
                         what, hash, store->sae_hash, store->part);
    return GSAE_OK;
}

void dpca_store_table_free(struct dpca_store_table *t)
{
    free(t->pc);
    free(t->token);
    free(t->doc);
    free(t->pos);
    free(t->token_id);
    free(t->context);
    memset(t, 0, sizeof *t);
}

enum gsae_status dpca_store_gather(MPI_Comm comm, const struct dpca_result *r,
                                   const struct dpca_store_rows *src, struct dpca_store_table *t,
                                   struct gsae_error *err)
{
    int64_t n = src->n_local, dummy = 0;
    void *p[6] = {0};
    enum gsae_status st =
        dist_gather_rows(comm, r->transformed, n, r->k, GSAE_DTYPE_F64, &p[0], &t->n_rows, err);
    if (st == GSAE_OK)
        st = dist_gather_rows(comm, src->token, n, 1, GSAE_DTYPE_I64, &p[1], &dummy, err);
    if (st == GSAE_OK)
        st = dist_gather_rows(comm, src->doc, n, 1, GSAE_DTYPE_I64, &p[2], &dummy, err);
    if (st == GSAE_OK)
        st = dist_gather_rows(comm, src->pos, n, 1, GSAE_DTYPE_I64, &p[3], &dummy, err);
    if (st == GSAE_OK)
        st = dist_gather_rows(comm, src->token_id, n, 1, GSAE_DTYPE_I32, &p[4], &dummy, err);
    if (st == GSAE_OK)
        st = dist_gather_rows(comm, src->context, n, DPCA_CONTEXT_LEN, GSAE_DTYPE_I32, &p[5],
                              &dummy, err);
    t->pc = p[0], t->token = p[1], t->doc = p[2], t->pos = p[3], t->token_id = p[4];
    t->context = p[5];
    return st;
}
