/* cmd_pca.c: `gsae pca`: distributed PCA (mpi/dpca.h) of a reference case or of a store.
 *
 *   [mpirun -np N] gsae pca --case CASE_DIR --out DIR [--components K] [--chunk-rows R]
 *                           [--features LIST | --random-features N --seed S]
 *   [mpirun -np N] gsae pca [--store] STORE --out DIR --components K [--rows resid|features]
 *                           [--sae SAE | --w-dec W_dec.npy] [--features LIST |
 *                           --random-features N --seed S] [--tokenizer tokenizer.json.zst]
 *
 * --case: CASE_DIR holds meta.json ("kind": "dense" or "reconstruction", "n_components", and
 * for reconstructions "features") and the files mpi/dpca_case.h reads. Rank 0 writes
 * DIR/components.npy (k, d), transformed.npy (rows, k), explained_variance.npy (k),
 * explained_variance_ratio.npy (k), mean.npy (d), and for reconstructions fired_rows.npy (int64
 * token indices); all float64 but fired_rows. --features / --random-features replace the
 * case's list.
 *
 * STORE: an activation store (io/store.h); rows are every token's resid_post, or the tokens
 * where the feature list fires reconstructed from those features (mpi/dpca_store.h), the
 * decoder taken from the SAE (--sae, any layout io/sae_io.h reads) or a bare W_dec (--w-dec).
 * The decoder must be the store's: an SAE whose width or hash (dpca_sae_hash) differs from the
 * d_sae and sae_hash its parts record is refused, and so is a W_dec of another width. Rank 0
 * writes DIR/pca.nc and pca.csv (io/pca_out.h), the report's
 * pca_scores.csv and pca_explained.csv, components.npy and explained_variance.npy; with
 * --tokenizer the CSVs carry token text and the context "prefix|token|suffix".
 *
 * Components follow dpca.h's sign convention (largest |entry| positive).
 */
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/dirs.h"
#include "../io/npy.h"
#include "../io/pca_out.h"
#include "../io/sae_io.h"
#include "../io/tokenizer_load.h"
#include "../mpi/dist.h"
#include "../mpi/dpca.h"
#include "../mpi/dpca_case.h"
#include "../mpi/dpca_store.h"
#include "../src/pca.h"
#include "../src/rng.h"
#include "cli.h"
#include "commands.h"
#include "opt.h"

#define DPCA_MAX_FEATURES 4096

struct pca_args {
    const char *case_dir, *out_dir;
    const char *store_dir; /* STORE mode: the activation store */
    const char *rows;      /* STORE mode: "resid" or "features" (default: features when a
                              list is given, else resid) */
    const char *w_dec;     /* STORE mode, feature rows: W_dec as .npy (d_sae, d_model) */
    const char *sae;       /* STORE mode, feature rows: the SAE (io/sae_io.h) */
    const char *tokenizer; /* STORE mode: tokenizer.json(.zst) to write token text */
    int64_t n_components;  /* 0: the case's n_components */
    int64_t chunk_rows;
    int64_t features[DPCA_MAX_FEATURES];
    int64_t n_features;      /* > 0 when --features was given */
    int64_t random_features; /* > 0 when --random-features was given */
    uint64_t seed;
    bool have_seed;
    const char *feature_list; /* --features as given */
    uint64_t given;           /* options given (opt.h) */
};

/* A feature list for reconstruction rows. */
struct feature_list {
    int64_t ids[DPCA_MAX_FEATURES];
    int64_t n;
};

/* The feature list: --random-features N (drawn from [0, d_sae) with --seed), else --features,
 * else the case's meta.json list (meta may be NULL). */
static enum gsae_status choose_features(const struct pca_args *args, const json_t *meta,
                                        int64_t d_sae, struct feature_list *list,
                                        struct gsae_error *err)
{
    if (args->random_features > 0) {
        if (args->random_features > DPCA_MAX_FEATURES)
            return gsae_fail(err, GSAE_EINVAL, "--random-features %lld: at most %d",
                             (long long)args->random_features, DPCA_MAX_FEATURES);
        struct rng r;
        rng_seed(&r, args->seed);
        list->n = args->random_features;
        return pca_draw_features(&r, d_sae, list->n, list->ids, err);
    }
    if (args->n_features > 0) {
        memcpy(list->ids, args->features, (size_t)args->n_features * sizeof *list->ids);
        list->n = args->n_features;
        return GSAE_OK;
    }
    const json_t *ids = json_object_get(meta, "features");
    if (!json_is_array(ids) || json_array_size(ids) < 1 || json_array_size(ids) > DPCA_MAX_FEATURES)
        return gsae_fail(err, GSAE_EFORMAT,
                         "meta.json: 'features' is missing or not a list of "
                         "1..%d ids (or give --features / --random-features)",
                         DPCA_MAX_FEATURES);
    for (size_t j = 0; j < json_array_size(ids); j++) {
        const json_t *v = json_array_get(ids, j);
        if (!json_is_integer(v))
            return gsae_fail(err, GSAE_EFORMAT, "meta.json: features[%zu] is not an integer", j);
        list->ids[j] = (int64_t)json_integer_value(v);
    }
    list->n = (int64_t)json_array_size(ids);
    return GSAE_OK;
}

static enum gsae_status recon_open(const struct pca_args *args, const json_t *meta, int rank,
                                   int size, struct dpca_recon_rows *rr, struct dpca_rows *rows,
                                   struct gsae_error *err)
{
    struct feature_list fl = {0};
    enum gsae_status st = dpca_recon_rows_map(args->case_dir, rr, err);
    if (st == GSAE_OK) st = choose_features(args, meta, rr->w_dec.a.shape[0], &fl, err);
    if (st == GSAE_OK) st = dpca_recon_rows_select(rr, fl.ids, fl.n, rank, size, rows, err);
    return st;
}

/* ---- outputs ---- */

static enum gsae_status save_array(const char *dir, const char *name, const void *data,
                                   enum gsae_dtype dtype, int n_dims, int64_t n0, int64_t n1,
                                   struct gsae_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct gsae_tensor t = {.data = data, .dtype = dtype, .n_dims = n_dims, .shape = {n0, n1}};
    return npy_save(path, &t, err);
}

/* Rank 0 writes the results. Collective (gathers); the status is agreed on return. */
static enum gsae_status write_outputs(const struct pca_args *args, const struct dpca_result *r,
                                      const struct dpca_recon_rows *rr, struct gsae_error *err)
{
    int rank = dist_world_rank();
    void *proj = NULL, *fired = NULL;
    int64_t n_rows = 0, n_fired = 0;
    enum gsae_status st = dist_gather_rows(dist_world(), r->transformed, r->n_local, r->k,
                                           GSAE_DTYPE_F64, &proj, &n_rows, err);
    if (st == GSAE_OK && rr)
        st = dist_gather_rows(dist_world(), rr->fired, rr->n_local, 1, GSAE_DTYPE_I64, &fired,
                              &n_fired, err);
    if (st == GSAE_OK && rank == 0) {
        st = dirs_make(args->out_dir, err);
        const char *o = args->out_dir;
        if (st == GSAE_OK)
            st = save_array(o, "components.npy", r->components, GSAE_DTYPE_F64, 2, r->k, r->d, err);
        if (st == GSAE_OK)
            st = save_array(o, "transformed.npy", proj, GSAE_DTYPE_F64, 2, n_rows, r->k, err);
        if (st == GSAE_OK)
            st = save_array(o, "explained_variance.npy", r->explained_variance, GSAE_DTYPE_F64, 1,
                            r->k, 0, err);
        if (st == GSAE_OK)
            st = save_array(o, "explained_variance_ratio.npy", r->explained_variance_ratio,
                            GSAE_DTYPE_F64, 1, r->k, 0, err);
        if (st == GSAE_OK) st = save_array(o, "mean.npy", r->mean, GSAE_DTYPE_F64, 1, r->d, 0, err);
        if (st == GSAE_OK && rr)
            st = save_array(o, "fired_rows.npy", fired, GSAE_DTYPE_I64, 1, n_fired, 0, err);
    }
    free(proj);
    free(fired);
    return dist_agree_worst(dist_world(), st, "rank 0 could not write the results", err);
}

/* ---- options ---- */

#define O(f) offsetof(struct pca_args, f)
static const struct opt pca_table[] = {
    {"store", OPT_STR, O(store_dir), .flags = OPT_POS, .meta = "STORE",
     .help = "PCA of an activation store's rows"},
    {"case", OPT_STR, O(case_dir), .meta = "CASE_DIR", .help = "PCA of a case's rows"},
    {"out", OPT_STR, O(out_dir), .flags = OPT_REQUIRED, .meta = "DIR", .help = "output directory"},
    {"components", OPT_I64, O(n_components), .min = 1, .max = 1099511627776.0, .meta = "K",
     .help = "principal components (a case: default its n_components)"},
    {"rows", OPT_STR, O(rows), .meta = "resid|features",
     .help = "STORE rows (default features when a list is given)"},
    {"features", OPT_STR, O(feature_list), .meta = "LIST", .help = "feature ids, e.g. 3655,1600"},
    {"random-features", OPT_I64, O(random_features), .min = 1, .max = 1099511627776.0, .meta = "N",
     .help = "N seeded random features (with --seed)"},
    {"seed", OPT_U64, O(seed), .meta = "S", .help = "seed of --random-features"},
    {"sae", OPT_STR, O(sae), .meta = "SAE", .help = "the decoder: the store's SAE"},
    {"w-dec", OPT_STR, O(w_dec), .meta = "W_dec.npy", .help = "the decoder as (d_sae, d_model)"},
    {"tokenizer", OPT_STR, O(tokenizer), .meta = "PATH", .help = "token text in pca.csv"},
    {"chunk-rows", OPT_I64, O(chunk_rows), .min = 1, .max = 1099511627776.0, .meta = "R",
     .help = "rows read at a time (a case)"},
    {0},
};
#undef O

const struct opt_cmd pca_cmd = {
    "pca",
    .synopsis = "--case CASE_DIR --out DIR [--components K]   (under [mpirun -np N])\n"
                "                     [--features LIST | --random-features N --seed S]\n"
                "                     [--chunk-rows R]\n"
                "       gsae pca STORE --out DIR --components K [--rows resid]\n"
                "       gsae pca STORE --out DIR --components K\n"
                "                     (--sae SAE | --w-dec W_dec.npy)\n"
                "                     (--features LIST | --random-features N --seed S)\n"
                "                     [--tokenizer tokenizer.json.zst]",
    .about = "--case: PCA of a case's rows (X.npy, or the CSR activations + W_dec reconstruction\n"
             "of a feature list); writes components.npy, transformed.npy, explained_variance.npy,\n"
             "explained_variance_ratio.npy, mean.npy (and fired_rows.npy) under DIR.\n"
             "STORE: PCA of an activation store's resid_post rows, or of the tokens where a\n"
             "feature list fires, reconstructed from those features (acts[:, F] @ W_dec[F]);\n"
             "writes pca.nc, pca.csv (PC1..K per row with its token and context\n"
             "prefix|token|suffix as token ids), components.npy, explained_variance.npy.\n"
             "The decoder: --sae, the SAE the store was harvested with (npz or SAELens;\n"
             "another width or hash is refused; a Gemma Scope id in the Hugging Face cache,\n"
             "e.g. gemma-scope-9b-it-res/layer_20/width_16k/average_l0_14, works too), or\n"
             "--w-dec, a (d_sae, d_model) .npy of the store's width.\n"
             "LIST: comma-separated feature ids, e.g. 3655,1600,11000\n",
    .size = sizeof(struct pca_args),
    .groups = {{pca_table, 0}},
    .given = OPT_GIVEN(struct pca_args, given),
};

static enum gsae_status parse_features(const char *list, struct pca_args *a, struct gsae_error *err)
{
    const char *p = list;
    a->n_features = 0;
    while (*p) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || end == p || v < 0 || (*end && *end != ','))
            return gsae_fail(err, GSAE_EINVAL,
                             "--features '%s': expected comma-separated "
                             "non-negative ids",
                             list);
        if (a->n_features == DPCA_MAX_FEATURES)
            return gsae_fail(err, GSAE_EINVAL, "--features: at most %d ids", DPCA_MAX_FEATURES);
        a->features[a->n_features++] = (int64_t)v;
        p = *end ? end + 1 : end;
    }
    if (a->n_features == 0) return gsae_fail(err, GSAE_EINVAL, "--features: empty list");
    return GSAE_OK;
}

static enum gsae_status parse_args(int argc, char **argv, struct pca_args *a,
                                   struct gsae_error *err)
{
    enum gsae_status st = opt_parse_err(&pca_cmd, argc, argv, a, err);
    if (st != GSAE_OK) return st;
    a->have_seed = opt_given(&pca_cmd, a, "seed");
    if (a->feature_list && (st = parse_features(a->feature_list, a, err)) != GSAE_OK) return st;
    if (!a->out_dir || !!a->case_dir == !!a->store_dir)
        return gsae_fail(err, GSAE_EINVAL,
                         "give a STORE or --case CASE_DIR (one of them), and "
                         "--out DIR");
    if (a->rows && strcmp(a->rows, "resid") != 0 && strcmp(a->rows, "features") != 0)
        return gsae_fail(err, GSAE_EINVAL, "--rows '%s': expected resid or features", a->rows);
    if (a->store_dir && !a->rows)
        a->rows = a->n_features > 0 || a->random_features > 0 ? "features" : "resid";
    if (a->store_dir && strcmp(a->rows, "features") == 0 &&
        (!!a->w_dec == !!a->sae || (a->n_features == 0 && a->random_features == 0)))
        return gsae_fail(err, GSAE_EINVAL,
                         "feature rows need the decoder (--sae SAE or --w-dec "
                         "W_dec.npy, one of them) and --features LIST or --random-features N "
                         "--seed S");
    if (a->store_dir && a->n_components == 0)
        return gsae_fail(err, GSAE_EINVAL, "--components K is required with a STORE");
    if (a->random_features > 0 && (a->n_features > 0 || !a->have_seed))
        return gsae_fail(err, GSAE_EINVAL,
                         "--random-features needs --seed and excludes "
                         "--features");
    return GSAE_OK;
}

/* ---- STORE mode ---- */

/* Feature rows of a store: the list and its decoder rows. */
struct store_decoder {
    struct feature_list list;
    struct npy_map w_dec; /* --w-dec mapping */
    double *w_rows;       /* (list.n, d) */
    int64_t d;
};

static void store_decoder_free(struct store_decoder *dec)
{
    npy_map_close(&dec->w_dec);
    free(dec->w_rows);
    memset(dec, 0, sizeof *dec);
}

/* The feature list and its W_dec rows (n_features, d_model) as double, from the SAE (--sae:
 * any layout io/sae_io.h reads) or a bare W_dec (--w-dec FILE.npy). The decoder must be the
 * store's: an SAE's width and hash (dpca_sae_hash), a bare W_dec's width. */
static enum gsae_status store_features(const struct pca_args *args, struct store_decoder *dec,
                                       struct gsae_error *err)
{
    struct dpca_store_sae store = {0};
    enum gsae_status st = dpca_store_sae_read(args->store_dir, &store, err);
    if (st != GSAE_OK) return st;
    struct sae_params sae = {0};
    struct sae_info info = {0};
    struct npy_array w = {0};
    const char *name = args->sae ? args->sae : args->w_dec;
    if (args->sae) {
        char hash[32];
        st = sae_load(args->sae, &sae, &info, err);
        w = (struct npy_array){.dtype = GSAE_DTYPE_F32,
                               .n_dims = 2,
                               .shape = {sae.d_sae, sae.d_model},
                               .data = sae.w_dec};
        if (st == GSAE_OK) {
            dpca_sae_hash(&sae, hash, sizeof hash);
            st = dpca_store_sae_check(&store, info.path, sae.d_sae, hash, err);
        }
    } else {
        st = npy_map_open(args->w_dec, &dec->w_dec, err);
        if (st == GSAE_OK)
            st = dpca_npy_expect(&dec->w_dec, args->w_dec, 2, GSAE_DTYPE_F32, GSAE_DTYPE_F64, err);
        w = dec->w_dec.a;
        if (st == GSAE_OK) st = dpca_store_sae_check(&store, args->w_dec, w.shape[0], NULL, err);
    }
    int64_t d_sae = w.shape[0], n = 0;
    dec->d = w.shape[1];
    if (st == GSAE_OK) st = choose_features(args, NULL, d_sae, &dec->list, err);
    n = dec->list.n;
    for (int64_t j = 0; st == GSAE_OK && j < n; j++)
        if (dec->list.ids[j] < 0 || dec->list.ids[j] >= d_sae)
            st = gsae_fail(err, GSAE_EINVAL, "feature %lld is out of range: %s has %lld features",
                           (long long)dec->list.ids[j], name, (long long)d_sae);
    if (st == GSAE_OK && !(dec->w_rows = malloc((size_t)(n * dec->d) * sizeof *dec->w_rows)))
        st = gsae_fail(err, GSAE_ENOMEM, "W_dec rows: no memory");
    for (int64_t j = 0; st == GSAE_OK && j < n; j++)
        dpca_npy_row(&w, dec->list.ids[j], dec->w_rows + j * dec->d);
    sae_params_free(&sae);
    sae_info_free(&info);
    return st;
}

static enum gsae_status write_store_outputs(const struct pca_args *args,
                                            const struct dpca_result *r,
                                            const struct dpca_store_rows *src,
                                            const struct store_decoder *dec, struct gsae_error *err)
{
    int rank = dist_world_rank();
    struct dpca_store_table t = {0};
    enum gsae_status st = dpca_store_gather(dist_world(), r, src, &t, err);
    if (st == GSAE_OK && rank == 0) {
        struct pca_table tab = {.n_rows = t.n_rows,
                                .k = r->k,
                                .d = r->d,
                                .pc = t.pc,
                                .token = t.token,
                                .doc = t.doc,
                                .pos = t.pos,
                                .token_id = t.token_id,
                                .context = t.context,
                                .context_len = DPCA_CONTEXT_LEN,
                                .context_before = DPCA_CONTEXT_BEFORE,
                                .components = r->components,
                                .explained_variance = r->explained_variance,
                                .explained_variance_ratio = r->explained_variance_ratio,
                                .mean = r->mean,
                                .total_variance = r->total_variance,
                                .source = args->store_dir,
                                .rows_kind =
                                    src->kind == DPCA_STORE_RESID ? "resid_post" : "features",
                                .features = src->kind == DPCA_STORE_FEATURES ? dec->list.ids : NULL,
                                .n_features = dec->list.n};
        char path[4096];
        st = dirs_make(args->out_dir, err);
        char **token_text = NULL, **context_text = NULL;
        if (st == GSAE_OK && args->tokenizer)
            st = pca_texts_decode(args->tokenizer, &tab, &token_text, &context_text, err);
        const char *const *tt = (const char *const *)token_text;
        const char *const *ct = (const char *const *)context_text;
        tab.token_text = tt;
        tab.context_text = ct;
        snprintf(path, sizeof path, "%s/pca.nc", args->out_dir);
        if (st == GSAE_OK) st = pca_nc_write(path, &tab, err);
        snprintf(path, sizeof path, "%s/pca.csv", args->out_dir);
        if (st == GSAE_OK) st = pca_csv_write(path, &tab, ct, err);
        snprintf(path, sizeof path, "%s/pca_scores.csv", args->out_dir);
        if (st == GSAE_OK) st = pca_scores_write(path, &tab, tt, ct, err);
        snprintf(path, sizeof path, "%s/pca_explained.csv", args->out_dir);
        if (st == GSAE_OK) st = pca_explained_write(path, &tab, err);
        pca_texts_free(token_text, t.n_rows);
        pca_texts_free(context_text, t.n_rows);
        if (st == GSAE_OK)
            st = save_array(args->out_dir, "components.npy", r->components, GSAE_DTYPE_F64, 2, r->k,
                            r->d, err);
        if (st == GSAE_OK)
            st = save_array(args->out_dir, "explained_variance.npy", r->explained_variance,
                            GSAE_DTYPE_F64, 1, r->k, 0, err);
    }
    dpca_store_table_free(&t);
    return dist_agree_worst(dist_world(), st, "rank 0 could not write the results", err);
}

static void print_summary(const struct dpca_result *r, int size)
{
    printf("pca: %lld rows x %lld, %d ranks, %lld components; rank 0 seconds: mean %.2f, "
           "Gram %.2f, eigen-solve %.2f, projection %.2f\n",
           (long long)r->n_rows, (long long)r->d, size, (long long)r->k, r->seconds_mean,
           r->seconds_gram, r->seconds_eig, r->seconds_project);
    for (int64_t c = 0; c < r->k; c++)
        printf("  PC%lld  explained variance %.10g  ratio %.6f\n", (long long)c + 1,
               r->explained_variance[c], r->explained_variance_ratio[c]);
}

static enum gsae_status run_store(struct pca_args *args, struct gsae_error *err)
{
    int rank = dist_world_rank(), size = dist_world_size();
    bool features = strcmp(args->rows, "features") == 0;
    struct store_decoder *dec = calloc(1, sizeof *dec);
    struct dpca_store_rows *src = calloc(1, sizeof *src);
    struct dpca_rows rows = {.d = -1};
    struct dpca_result result = {0};
    enum gsae_status st = dec && src ? GSAE_OK : gsae_fail(err, GSAE_ENOMEM, "no memory");
    if (st == GSAE_OK && features) st = store_features(args, dec, err);
    if (st == GSAE_OK)
        st = dpca_store_rows_open(args->store_dir,
                                  features ? DPCA_STORE_FEATURES : DPCA_STORE_RESID, dec->list.ids,
                                  dec->list.n, dec->w_rows, dec->d, rank, size, src, &rows, err);
    st = dist_agree_worst(dist_world(), st, NULL, err);
    struct dpca_options opt = {.n_components = args->n_components, .chunk_rows = args->chunk_rows};
    if (st == GSAE_OK) st = dpca_run(dist_world(), &rows, &opt, &result, err);
    if (st == GSAE_OK) st = write_store_outputs(args, &result, src, dec, err);
    if (st == GSAE_OK && rank == 0) print_summary(&result, size);
    dpca_result_free(&result);
    if (src) dpca_store_rows_free(src);
    if (dec) store_decoder_free(dec);
    free(src);
    free(dec);
    return st;
}

/* ---- the command ---- */

static enum gsae_status load_meta(const char *dir, json_t **meta, bool *recon, int64_t *k,
                                  struct gsae_error *err)
{
    char path[4096];
    json_error_t jerr;
    snprintf(path, sizeof path, "%s/meta.json", dir);
    *meta = json_load_file(path, 0, &jerr);
    if (!*meta) return gsae_fail(err, GSAE_EFORMAT, "%s: line %d: %s", path, jerr.line, jerr.text);
    const char *kind = json_string_value(json_object_get(*meta, "kind"));
    if (!kind || (strcmp(kind, "dense") != 0 && strcmp(kind, "reconstruction") != 0))
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: 'kind' is '%s', expected 'dense' or "
                         "'reconstruction'",
                         path, kind ? kind : "(missing)");
    *recon = strcmp(kind, "reconstruction") == 0;
    const json_t *nc = json_object_get(*meta, "n_components");
    if (*k == 0) {
        if (!json_is_integer(nc) || json_integer_value(nc) < 1)
            return gsae_fail(err, GSAE_EFORMAT,
                             "%s: 'n_components' is missing or not a "
                             "positive integer (or give --components)",
                             path);
        *k = (int64_t)json_integer_value(nc);
    }
    return GSAE_OK;
}

static enum gsae_status run_case(struct pca_args *args, struct gsae_error *err)
{
    int rank = dist_world_rank(), size = dist_world_size();
    json_t *meta = NULL;
    bool recon = false;
    struct dpca_dense_rows dense = {0};
    struct dpca_recon_rows *rr = calloc(1, sizeof *rr);
    struct dpca_rows rows = {0};
    struct dpca_result result = {0};
    enum gsae_status st = rr ? load_meta(args->case_dir, &meta, &recon, &args->n_components, err)
                             : gsae_fail(err, GSAE_ENOMEM, "no memory");
    if (st == GSAE_OK && !recon && (args->n_features > 0 || args->random_features > 0))
        st = gsae_fail(err, GSAE_EINVAL,
                       "%s is a dense case: --features applies to "
                       "reconstruction cases",
                       args->case_dir);
    if (st == GSAE_OK)
        st = recon ? recon_open(args, meta, rank, size, rr, &rows, err)
                   : dpca_dense_rows_open(args->case_dir, rank, size, &dense, &rows, err);
    st = dist_agree_worst(dist_world(), st, NULL, err);
    struct dpca_options opt = {.n_components = args->n_components, .chunk_rows = args->chunk_rows};
    if (st == GSAE_OK) st = dpca_run(dist_world(), &rows, &opt, &result, err);
    if (st == GSAE_OK) st = write_outputs(args, &result, recon ? rr : NULL, err);
    if (st == GSAE_OK && rank == 0) print_summary(&result, size);
    dpca_result_free(&result);
    npy_map_close(&dense.x);
    if (rr) dpca_recon_rows_free(rr);
    free(rr);
    json_decref(meta);
    return st;
}

int cmd_pca(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        opt_usage(&pca_cmd, stdout);
        return 0;
    }
    struct gsae_error err = {0};
    struct pca_args *args = calloc(1, sizeof *args);
    enum gsae_status st =
        args ? parse_args(argc, argv, args, &err) : gsae_fail(&err, GSAE_ENOMEM, "no memory");
    /* Every rank parses the same argv, so a bad option fails everywhere alike. */
    bool bad_args = st == GSAE_EINVAL;
    if (st == GSAE_OK) st = args->store_dir ? run_store(args, &err) : run_case(args, &err);
    free(args);
    if (st != GSAE_OK) {
        cli_report("pca", &err);
        if (bad_args && cli_world_rank() == 0) opt_usage(&pca_cmd, stderr);
        return bad_args ? 2 : 1;
    }
    return 0;
}
