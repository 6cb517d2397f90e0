/* featstats_nc.c: feature_stats.nc writer and reader (see featstats_nc.h). */
#include "featstats_nc.h"
#include "nc_util.h"

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

#define CHUNK_FEATURES ((size_t)4096)

#define NC(call, what)                                                                             \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != NC_NOERR) {                                                                     \
            st = gsae_fail(err, rc_ == NC_ENOMEM ? GSAE_ENOMEM : code, "%s: %s: %s", path, what,   \
                           nc_strerror(rc_));                                                      \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

enum {
    V_FIRE,
    V_FREQ,
    V_SUM,
    V_MEAN,
    V_MAX,
    V_MAXDOC,
    V_MAXPOS,
    V_NEX,
    V_TVAL,
    V_TDOC,
    V_TPOS,
    V_TTOK,
    V_TCTX,
    V_HIST,
    V_HLOW,
    N_VARS
};

struct var_def {
    const char *name;
    nc_type type;
    int n_dims; /* over (feature, example, context) or (feature, hist_bin) or (hist_bin) */
    int shape;  /* 0: feature, 1: feature x example, 2: + context, 3: feature x hist, 4: hist */
    const char *long_name, *units; /* CF attributes; units "1": counts, ids, dimensionless */
};

/* clang-format off */
static const struct var_def vars[N_VARS] = {
    [V_FIRE] = {"fire_count", NC_INT64, 1, 0, "tokens on which the feature fired", "1"},
    [V_FREQ] = {"frequency", NC_DOUBLE, 1, 0, "fire_count / n_tokens", "1"},
    [V_SUM] = {"act_sum", NC_DOUBLE, 1, 0, "sum of the feature's activations", "1"},
    [V_MEAN] = {"act_mean", NC_DOUBLE, 1, 0, "mean activation where it fired", "1"},
    [V_MAX] = {"max_value", NC_FLOAT, 1, 0, "largest activation", "1"},
    [V_MAXDOC] = {"max_doc", NC_INT64, 1, 0, "document of the largest activation", "1"},
    [V_MAXPOS] = {"max_pos", NC_INT64, 1, 0, "position in the document of the largest activation",
                  "1"},
    [V_NEX] = {"n_examples", NC_INT, 1, 0, "max-activating examples held", "1"},
    [V_TVAL] = {"top_value", NC_FLOAT, 2, 1, "activation of each example, best first; 0 past "
                "n_examples", "1"},
    [V_TDOC] = {"top_doc", NC_INT64, 2, 1, "document of each example; -1 past n_examples", "1"},
    [V_TPOS] = {"top_pos", NC_INT64, 2, 1, "position in the document of each example", "1"},
    [V_TTOK] = {"top_token", NC_INT64, 2, 1, "global token number of each example: window * "
                "context_size + position in the window", "1"},
    [V_TCTX] = {"top_context", NC_INT, 3, 2, "token ids around each example (the token at slot "
                "context_before); -1 outside its window", "1"},
    [V_HIST] = {"hist", NC_INT64, 2, 3, "activation histogram: tokens per bin", "1"},
    [V_HLOW] = {"hist_lower", NC_DOUBLE, 1, 4, "lower edge of each histogram bin", "1"},
};
/* clang-format on */

static int put_var_text(int ncid, int varid, const char *name, const char *v)
{
    return nc_put_att_text(ncid, varid, name, strlen(v), v);
}

static int put_i64(int ncid, const char *name, int64_t value)
{
    long long v = value;
    return nc_put_att_longlong(ncid, NC_GLOBAL, name, NC_INT64, 1, &v);
}

static int put_text(int ncid, const char *name, const char *v)
{
    return nc_put_att_text(ncid, NC_GLOBAL, name, strlen(v), v);
}

/* Define the file; *v_feature is the coordinate variable feature(feature), 0 .. d_sae - 1 (not
 * in vars: files written before it was added lack it, and the reader does not need it). */
static int define(int ncid, const struct featstats *fs, int *varids, int *v_feature)
{
    int d_feat, d_ex, d_ctx, d_bin, rc, old;
    if ((rc = nc_set_fill(ncid, NC_NOFILL, &old)) ||
        (rc = nc_def_dim(ncid, "feature", (size_t)fs->cfg.d_sae, &d_feat)) ||
        (rc = nc_def_dim(ncid, "example", (size_t)fs->cfg.top_k, &d_ex)) ||
        (rc = nc_def_dim(ncid, "context", (size_t)fs->ctx_len, &d_ctx)) ||
        (rc = nc_def_dim(ncid, "hist_bin", FEATSTATS_HIST_BINS, &d_bin)))
        return rc;
    size_t cf = (size_t)fs->cfg.d_sae < CHUNK_FEATURES ? (size_t)fs->cfg.d_sae : CHUNK_FEATURES;
    if ((rc = nc_def_var(ncid, "feature", NC_INT64, 1, &d_feat, v_feature)) ||
        (rc = nc_def_var_chunking(ncid, *v_feature, NC_CHUNKED, &cf)) ||
        (rc = nc_def_var_deflate(ncid, *v_feature, 1, 1, 4)) ||
        (rc = put_var_text(ncid, *v_feature, "long_name", "SAE feature index")) ||
        (rc = put_var_text(ncid, *v_feature, "units", "1")))
        return rc;
    for (int v = 0; v < N_VARS; v++) {
        int dims[3];
        size_t chunks[3];
        switch (vars[v].shape) {
        case 0:
            dims[0] = d_feat, chunks[0] = cf;
            break;
        case 1:
            dims[0] = d_feat, dims[1] = d_ex, chunks[0] = cf, chunks[1] = (size_t)fs->cfg.top_k;
            break;
        case 2:
            dims[0] = d_feat, dims[1] = d_ex, dims[2] = d_ctx;
            chunks[0] = cf, chunks[1] = (size_t)fs->cfg.top_k, chunks[2] = (size_t)fs->ctx_len;
            break;
        case 3:
            dims[0] = d_feat, dims[1] = d_bin, chunks[0] = cf, chunks[1] = FEATSTATS_HIST_BINS;
            break;
        default:
            dims[0] = d_bin, chunks[0] = FEATSTATS_HIST_BINS;
            break;
        }
        if ((rc = nc_def_var(ncid, vars[v].name, vars[v].type, vars[v].n_dims, dims, &varids[v])) ||
            (rc = nc_def_var_chunking(ncid, varids[v], NC_CHUNKED, chunks)) ||
            (rc = nc_def_var_deflate(ncid, varids[v], 1, 1, 4)) ||
            (rc = put_var_text(ncid, varids[v], "long_name", vars[v].long_name)) ||
            (rc = put_var_text(ncid, varids[v], "units", vars[v].units)))
            return rc;
    }
    int version = FEATSTATS_NC_SCHEMA_VERSION, bos = fs->cfg.include_bos;
    if ((rc = nc_put_att_int(ncid, NC_GLOBAL, "schema_version", NC_INT, 1, &version)) ||
        (rc = put_text(ncid, "title", "gsae per-feature statistics")) ||
        (rc = put_text(ncid, "gsae_version", gsae_version())) ||
        (rc = put_i64(ncid, "n_tokens", fs->n_tokens)) ||
        (rc = put_i64(ncid, "top_k", fs->cfg.top_k)) ||
        (rc = put_i64(ncid, "context_before", fs->cfg.ctx_before)) ||
        (rc = put_i64(ncid, "context_after", fs->cfg.ctx_after)) ||
        (rc = nc_put_att_int(ncid, NC_GLOBAL, "include_bos", NC_INT, 1, &bos)) ||
        (rc = put_text(ncid, "histogram",
                       "bin 0: 0 < a < 1e-3; bin i in 1..48: 10^(-3+(i-1)/8) <= a < "
                       "10^(-3+i/8); bin 49: a >= 1e3")))
        return rc;
    return nc_enddef(ncid);
}

enum gsae_status featstats_nc_write(const char *path, const struct featstats *fs,
                                    struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK, code = GSAE_EIO;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int ncid = -1, varids[N_VARS], v_feature = -1;
    size_t d = (size_t)fs->cfg.d_sae, k = (size_t)fs->cfg.top_k;
    double *dbl = malloc((d > FEATSTATS_HIST_BINS ? d : FEATSTATS_HIST_BINS) * sizeof *dbl);
    double *dbl2 = malloc(d * sizeof *dbl2);
    int64_t *i64 = malloc(d * k * sizeof *i64), *i64b = malloc(d * k * sizeof *i64b);
    int64_t *i64c = malloc(d * k * sizeof *i64c);
    float *f32 = malloc(d * k * sizeof *f32);
    int *ints = malloc(d * sizeof *ints);
    if (!dbl || !dbl2 || !i64 || !i64b || !i64c || !f32 || !ints) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    NC(nc_create(tmp, NC_NETCDF4 | NC_CLOBBER, &ncid), "cannot create");
    NC(define(ncid, fs, varids, &v_feature), "define");
    for (size_t f = 0; f < d * k; f++) /* d * k >= d */
        i64[f] = (int64_t)f;
    NC(nc_put_var(ncid, v_feature, i64), "feature");
    NC(nc_put_var(ncid, varids[V_FIRE], fs->fire_count), "fire_count");
    for (size_t f = 0; f < d; f++) {
        dbl[f] = fs->n_tokens ? (double)fs->fire_count[f] / (double)fs->n_tokens : 0.0;
        dbl2[f] = featstats_sum(fs, (int64_t)f);
    }
    NC(nc_put_var_double(ncid, varids[V_FREQ], dbl), "frequency");
    NC(nc_put_var_double(ncid, varids[V_SUM], dbl2), "act_sum");
    for (size_t f = 0; f < d; f++)
        dbl[f] = fs->fire_count[f] ? dbl2[f] / (double)fs->fire_count[f] : 0.0;
    NC(nc_put_var_double(ncid, varids[V_MEAN], dbl), "act_mean");
    for (size_t f = 0; f < d * k; f++) {
        bool held = (int64_t)(f % k) < fs->top_n[f / k];
        f32[f] = held ? fs->top[f].value : 0.0f;
        i64[f] = held ? fs->top[f].doc : -1;
        i64b[f] = held ? fs->top[f].pos : -1;
        i64c[f] = held ? fs->top[f].token : -1;
    }
    NC(nc_put_var_float(ncid, varids[V_TVAL], f32), "top_value");
    NC(nc_put_var(ncid, varids[V_TDOC], i64), "top_doc");
    NC(nc_put_var(ncid, varids[V_TPOS], i64b), "top_pos");
    NC(nc_put_var(ncid, varids[V_TTOK], i64c), "top_token");
    NC(nc_put_var(ncid, varids[V_TCTX], fs->top_ctx), "top_context");
    for (size_t f = 0; f < d; f++) {
        f32[f] = f32[f * k];
        i64[f] = i64[f * k];
        i64b[f] = i64b[f * k];
        ints[f] = (int)fs->top_n[f]; /* <= top_k <= 1024 */
    }
    NC(nc_put_var_float(ncid, varids[V_MAX], f32), "max_value");
    NC(nc_put_var(ncid, varids[V_MAXDOC], i64), "max_doc");
    NC(nc_put_var(ncid, varids[V_MAXPOS], i64b), "max_pos");
    NC(nc_put_var_int(ncid, varids[V_NEX], ints), "n_examples");
    NC(nc_put_var(ncid, varids[V_HIST], fs->hist), "hist");
    for (int64_t b = 0; b < FEATSTATS_HIST_BINS; b++)
        dbl[b] = featstats_hist_lower(b);
    NC(nc_put_var_double(ncid, varids[V_HLOW], dbl), "hist_lower");
    int rc = nc_close(ncid);
    ncid = -1;
    NC(rc, "close");
    st = store_rename_durable(tmp, path, err);
fail:
    if (ncid >= 0) {
        nc_close(ncid);
        unlink(tmp);
    }
    free(dbl);
    free(dbl2);
    free(i64);
    free(i64b);
    free(i64c);
    free(f32);
    free(ints);
    return st;
}

static enum gsae_status get_att(int ncid, const char *path, const char *name, int64_t *out,
                                struct gsae_error *err)
{
    long long v = 0;
    int rc = nc_get_att_longlong(ncid, NC_GLOBAL, name, &v);
    if (rc != NC_NOERR)
        return gsae_fail(err, GSAE_EFORMAT, "%s: attribute %s: %s", path, name, nc_strerror(rc));
    *out = v;
    return GSAE_OK;
}

static enum gsae_status read_shape(int ncid, const char *path, struct featstats_config *cfg,
                                   int64_t *n_tokens, struct gsae_error *err)
{
    enum gsae_status st;
    int64_t version = 0, bos = 0, ctx = 0, bins = 0;
    if ((st = get_att(ncid, path, "schema_version", &version, err)) != GSAE_OK) return st;
    if (version != FEATSTATS_NC_SCHEMA_VERSION)
        return gsae_fail(err, GSAE_EFORMAT, "%s: schema_version %lld, this gsae reads %d", path,
                         (long long)version, FEATSTATS_NC_SCHEMA_VERSION);
    if ((st = get_att(ncid, path, "n_tokens", n_tokens, err)) != GSAE_OK ||
        (st = get_att(ncid, path, "context_before", &cfg->ctx_before, err)) != GSAE_OK ||
        (st = get_att(ncid, path, "context_after", &cfg->ctx_after, err)) != GSAE_OK ||
        (st = get_att(ncid, path, "include_bos", &bos, err)) != GSAE_OK ||
        (st = ncu_dim_len(ncid, path, "feature", &cfg->d_sae, err)) != GSAE_OK ||
        (st = ncu_dim_len(ncid, path, "example", &cfg->top_k, err)) != GSAE_OK ||
        (st = ncu_dim_len(ncid, path, "context", &ctx, err)) != GSAE_OK ||
        (st = ncu_dim_len(ncid, path, "hist_bin", &bins, err)) != GSAE_OK)
        return st;
    cfg->include_bos = bos != 0;
    if (ctx != cfg->ctx_before + 1 + cfg->ctx_after || bins != FEATSTATS_HIST_BINS)
        return gsae_fail(err, GSAE_EFORMAT, "%s: context %lld or hist_bin %lld inconsistent", path,
                         (long long)ctx, (long long)bins);
    return GSAE_OK;
}

/* A variable must have its schema type and element count before it is read whole. */
static enum gsae_status check_var(int ncid, const char *path, int varid, const struct var_def *def,
                                  const struct featstats *fs, struct gsae_error *err)
{
    size_t d = (size_t)fs->cfg.d_sae, k = (size_t)fs->cfg.top_k, c = (size_t)fs->ctx_len;
    const size_t want[5] = {d, d * k, d * k * c, d * FEATSTATS_HIST_BINS, FEATSTATS_HIST_BINS};
    nc_type t;
    int n_dims, dims[NC_MAX_VAR_DIMS];
    size_t count = 1, len;
    int rc = nc_inq_var(ncid, varid, NULL, &t, &n_dims, dims, NULL);
    for (int i = 0; rc == NC_NOERR && i < n_dims; i++)
        if ((rc = nc_inq_dimlen(ncid, dims[i], &len)) == NC_NOERR) count *= len;
    if (rc != NC_NOERR || t != def->type || n_dims != def->n_dims || count != want[def->shape])
        return gsae_fail(err, GSAE_EFORMAT, "%s: variable %s has the wrong type or shape", path,
                         def->name);
    return GSAE_OK;
}

enum gsae_status featstats_nc_read(const char *path, struct featstats *fs, struct gsae_error *err)
{
    memset(fs, 0, sizeof *fs);
    enum gsae_status st = GSAE_OK, code = GSAE_EFORMAT;
    int ncid = -1, varids[N_VARS];
    int rc = nc_open(path, NC_NOWRITE, &ncid);
    if (rc != NC_NOERR)
        return gsae_fail(err, GSAE_EIO, "%s: cannot open: %s", path, nc_strerror(rc));
    struct featstats_config cfg = {0};
    int64_t n_tokens = 0;
    double *sum = NULL;
    float *val = NULL;
    int64_t *doc = NULL, *pos = NULL, *tok = NULL;
    int *nex = NULL;
    if ((st = read_shape(ncid, path, &cfg, &n_tokens, err)) != GSAE_OK ||
        (st = featstats_init(fs, &cfg, err)) != GSAE_OK)
        goto fail;
    fs->n_tokens = n_tokens;
    size_t d = (size_t)cfg.d_sae, k = (size_t)cfg.top_k;
    for (int v = 0; v < N_VARS; v++) {
        NC(nc_inq_varid(ncid, vars[v].name, &varids[v]), vars[v].name);
        if ((st = check_var(ncid, path, varids[v], &vars[v], fs, err)) != GSAE_OK) goto fail;
    }
    sum = malloc(d * sizeof *sum);
    val = malloc(d * k * sizeof *val);
    doc = malloc(d * k * sizeof *doc);
    pos = malloc(d * k * sizeof *pos);
    tok = malloc(d * k * sizeof *tok);
    nex = malloc(d * sizeof *nex);
    if (!sum || !val || !doc || !pos || !tok || !nex) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    NC(nc_get_var(ncid, varids[V_FIRE], fs->fire_count), "fire_count");
    NC(nc_get_var_double(ncid, varids[V_SUM], sum), "act_sum");
    NC(nc_get_var(ncid, varids[V_HIST], fs->hist), "hist");
    NC(nc_get_var_float(ncid, varids[V_TVAL], val), "top_value");
    NC(nc_get_var(ncid, varids[V_TDOC], doc), "top_doc");
    NC(nc_get_var(ncid, varids[V_TPOS], pos), "top_pos");
    NC(nc_get_var(ncid, varids[V_TTOK], tok), "top_token");
    NC(nc_get_var_int(ncid, varids[V_TCTX], fs->top_ctx), "top_context");
    NC(nc_get_var_int(ncid, varids[V_NEX], nex), "n_examples");
    for (size_t f = 0; f < d; f++) {
        if (nex[f] < 0 || (size_t)nex[f] > k || !(sum[f] >= 0)) {
            st = gsae_fail(err, GSAE_EFORMAT, "%s: feature %zu: n_examples %d or act_sum bad", path,
                           f, nex[f]);
            goto fail;
        }
        fs->top_n[f] = nex[f];
        double hi = floor(ldexp(sum[f], -32));
        fs->sum_hi[f] = (uint64_t)hi;
        fs->sum_lo[f] = (uint64_t)ldexp(sum[f] - ldexp(hi, 32), 32);
    }
    for (size_t i = 0; i < d * k; i++)
        fs->top[i] = (struct featstats_example){val[i], doc[i], pos[i], tok[i]};
fail:
    free(sum);
    free(val);
    free(doc);
    free(pos);
    free(tok);
    free(nex);
    nc_close(ncid);
    if (st != GSAE_OK) featstats_free(fs);
    return st;
}
