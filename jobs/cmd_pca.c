/* cmd_pca.c: `gsae pca`: distributed PCA (mpi/dpca.h) over the rows of a reference case.
 *
 *   [mpirun -np N] gsae pca --case CASE_DIR --out DIR [--components K] [--chunk-rows R]
 *                           [--features LIST | --random-features N --seed S]
 *
 * CASE_DIR holds meta.json ("kind": "dense" or "reconstruction", "n_components", and for the
 * reconstruction kind "features") and either X.npy (N, d) or the CSR activations acts_indptr
 * (int64, N+1), acts_indices (int32), acts_values (float32) plus W_dec.npy (d_sae, d_model).
 * Reconstruction rows are the notebook's co-occurrence analysis: the tokens where the feature
 * list fires (sum of its activations > 0), each reconstructed from those features only,
 * acts[t, F] @ W_dec[F]. --features / --random-features replace the case's list.
 *
 * Each rank maps the files and reads only its contiguous share of tokens (rank r of P takes
 * [N r / P, N (r + 1) / P)), so no rank holds all rows. Rank 0 writes DIR/components.npy (k, d),
 * transformed.npy (rows, k), explained_variance.npy (k), explained_variance_ratio.npy (k),
 * mean.npy (d), and for the reconstruction kind fired_rows.npy (int64 token indices), all
 * float64 except fired_rows. Components follow dpca.h's sign convention.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../io/npy.h"
#include "../io/pca_out.h"
#include "../mpi/dpca.h"
#include "../mpi/dpca_store.h"
#include "../src/pca.h"
#include "../src/rng.h"
#include "cli.h"
#include "commands.h"

#define MAX_FEATURES 4096

struct pca_args {
    const char *case_dir, *out_dir;
    const char *store_dir; /* STORE mode: the activation store */
    const char *rows;      /* STORE mode: "resid" or "features" (default: features when a
                              list is given, else resid) */
    const char *w_dec;     /* STORE mode, feature rows: W_dec as .npy (d_sae, d_model) */
    int64_t n_components;  /* 0: the case's n_components */
    int64_t chunk_rows;
    int64_t features[MAX_FEATURES];
    int64_t n_features;      /* > 0 when --features was given */
    int64_t random_features; /* > 0 when --random-features was given */
    uint64_t seed;
    bool have_seed;
};

/* A read-only mapping of a whole .npy file. */
struct mapped_npy {
    void *base;
    size_t len;
    struct npy_array a;
};

static void mapped_npy_free(struct mapped_npy *m)
{
    if (m->base) munmap(m->base, m->len);
    memset(m, 0, sizeof *m);
}

/* Map dir/name and parse its header; pages are read only when touched, so a rank that reads
 * its share of rows never loads the others'. */
static enum gsae_status mapped_npy_map(const char *path, struct mapped_npy *m,
                                       struct gsae_error *err)
{
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return gsae_fail(err, errno == ENOENT ? GSAE_ENOTFOUND : GSAE_EIO, "%s: cannot open: %s",
                         path, strerror(errno));
    struct stat st;
    enum gsae_status status = GSAE_OK;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        status = gsae_fail(err, GSAE_EIO, "%s: empty or unreadable", path);
    } else {
        m->len = (size_t)st.st_size;
        m->base = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m->base == MAP_FAILED) {
            m->base = NULL;
            status = gsae_fail(err, GSAE_EIO, "%s: mmap: %s", path, strerror(errno));
        }
    }
    close(fd);
    if (status == GSAE_OK) status = npy_parse(m->base, m->len, path, &m->a, err);
    if (status != GSAE_OK) mapped_npy_free(m);
    return status;
}

static enum gsae_status mapped_npy_open(const char *dir, const char *name, struct mapped_npy *m,
                                        struct gsae_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return mapped_npy_map(path, m, err);
}

static enum gsae_status expect_npy(const struct mapped_npy *m, const char *name, int n_dims,
                                   enum gsae_dtype t1, enum gsae_dtype t2, struct gsae_error *err)
{
    if (m->a.n_dims != n_dims || (m->a.dtype != t1 && m->a.dtype != t2))
        return gsae_fail(err, GSAE_EFORMAT, "%s: %d dims of %s, expected %d dims of %s%s%s", name,
                         m->a.n_dims, gsae_dtype_name(m->a.dtype), n_dims, gsae_dtype_name(t1),
                         t2 != t1 ? " or " : "", t2 != t1 ? gsae_dtype_name(t2) : "");
    return GSAE_OK;
}

/* Row i (length d) of a 2-D f32/f64 array, as double. */
static void row_to_double(const struct npy_array *a, int64_t i, double *out)
{
    int64_t d = a->shape[1];
    if (a->dtype == GSAE_DTYPE_F64) {
        memcpy(out, (const double *)a->data + i * d, (size_t)d * sizeof *out);
        return;
    }
    const float *r = (const float *)a->data + i * d;
    for (int64_t j = 0; j < d; j++)
        out[j] = (double)r[j];
}

/* This rank's contiguous share [begin, end) of n items. */
static void share(int64_t n, int rank, int size, int64_t *begin, int64_t *end)
{
    *begin = n * rank / size;
    *end = n * (rank + 1) / size;
}

/* ---- dense rows: X.npy ---- */

struct dense_rows {
    struct mapped_npy x;
    int64_t first; /* global index of this rank's first row */
};

static enum gsae_status dense_read(void *ctx, int64_t begin, int64_t count, double *out,
                                   struct gsae_error *err)
{
    (void)err;
    struct dense_rows *dr = ctx;
    for (int64_t i = 0; i < count; i++)
        row_to_double(&dr->x.a, dr->first + begin + i, out + i * dr->x.a.shape[1]);
    /* Drop the pages just read from this process (they stay in the page cache for the next
     * pass), so its resident set holds a chunk, not its whole share of X. */
    size_t row_bytes = (size_t)dr->x.a.shape[1] * gsae_dtype_size(dr->x.a.dtype);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)dr->x.a.data + (size_t)(dr->first + begin) * row_bytes;
    uintptr_t hi = lo + (size_t)count * row_bytes;
    lo = lo / page * page;
    hi = hi / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
    return GSAE_OK;
}

static enum gsae_status dense_open(const char *dir, int rank, int size, struct dense_rows *dr,
                                   struct dpca_rows *rows, struct gsae_error *err)
{
    enum gsae_status st = mapped_npy_open(dir, "X.npy", &dr->x, err);
    if (st == GSAE_OK) st = expect_npy(&dr->x, "X.npy", 2, GSAE_DTYPE_F32, GSAE_DTYPE_F64, err);
    if (st != GSAE_OK) return st;
    int64_t begin, end;
    share(dr->x.a.shape[0], rank, size, &begin, &end);
    dr->first = begin;
    *rows = (struct dpca_rows){
        .d = dr->x.a.shape[1], .n_local = end - begin, .read = dense_read, .ctx = dr};
    return GSAE_OK;
}

/* ---- reconstruction rows: CSR activations + W_dec ---- */

struct recon_rows {
    struct mapped_npy indptr, indices, values, w_dec;
    int64_t features[MAX_FEATURES];
    int64_t n_features, d;
    double *w_rows; /* (n_features, d): W_dec rows of the list */
    int64_t *fired; /* (n_local) global token index of each local row */
    double *coef;   /* (n_local, n_features) the list's activations per fired token */
    int64_t n_local;
};

static void recon_rows_free(struct recon_rows *rr)
{
    mapped_npy_free(&rr->indptr);
    mapped_npy_free(&rr->indices);
    mapped_npy_free(&rr->values);
    mapped_npy_free(&rr->w_dec);
    free(rr->w_rows);
    free(rr->fired);
    free(rr->coef);
    memset(rr, 0, sizeof *rr);
}

static enum gsae_status recon_read(void *ctx, int64_t begin, int64_t count, double *out,
                                   struct gsae_error *err)
{
    (void)err;
    struct recon_rows *rr = ctx;
    for (int64_t i = begin; i < begin + count; i++)
        pca_recon_row(rr->coef + i * rr->n_features, rr->w_rows, rr->n_features, rr->d,
                      out + (i - begin) * rr->d);
    return GSAE_OK;
}

static enum gsae_status recon_map(const char *dir, struct recon_rows *rr, struct gsae_error *err)
{
    enum gsae_status st = mapped_npy_open(dir, "acts_indptr.npy", &rr->indptr, err);
    if (st == GSAE_OK) st = mapped_npy_open(dir, "acts_indices.npy", &rr->indices, err);
    if (st == GSAE_OK) st = mapped_npy_open(dir, "acts_values.npy", &rr->values, err);
    if (st == GSAE_OK) st = mapped_npy_open(dir, "W_dec.npy", &rr->w_dec, err);
    if (st == GSAE_OK)
        st = expect_npy(&rr->indptr, "acts_indptr.npy", 1, GSAE_DTYPE_I64, GSAE_DTYPE_I64, err);
    if (st == GSAE_OK)
        st = expect_npy(&rr->indices, "acts_indices.npy", 1, GSAE_DTYPE_I32, GSAE_DTYPE_I32, err);
    if (st == GSAE_OK)
        st = expect_npy(&rr->values, "acts_values.npy", 1, GSAE_DTYPE_F32, GSAE_DTYPE_F32, err);
    if (st == GSAE_OK)
        st = expect_npy(&rr->w_dec, "W_dec.npy", 2, GSAE_DTYPE_F32, GSAE_DTYPE_F64, err);
    if (st == GSAE_OK && rr->indices.a.shape[0] != rr->values.a.shape[0])
        st = gsae_fail(err, GSAE_EFORMAT,
                       "acts_indices.npy has %lld entries, acts_values.npy "
                       "%lld: expected equal",
                       (long long)rr->indices.a.shape[0], (long long)rr->values.a.shape[0]);
    if (st == GSAE_OK && rr->indptr.a.shape[0] < 1)
        st = gsae_fail(err, GSAE_EFORMAT, "acts_indptr.npy is empty: expected N + 1 entries");
    return st;
}

/* Scan this rank's tokens, keep those where the list fires with their coefficients. */
static enum gsae_status recon_select(struct recon_rows *rr, int rank, int size,
                                     struct gsae_error *err)
{
    const int64_t *ptr = rr->indptr.a.data;
    const int32_t *idx = rr->indices.a.data;
    const float *val = rr->values.a.data;
    int64_t n_tokens = rr->indptr.a.shape[0] - 1, nnz = rr->indices.a.shape[0], begin, end;
    share(n_tokens, rank, size, &begin, &end);
    size_t cap = (size_t)(end - begin) + 1, nf = (size_t)rr->n_features;
    rr->fired = malloc(cap * sizeof *rr->fired);
    rr->coef = malloc(cap * nf * sizeof *rr->coef);
    if (!rr->fired || !rr->coef)
        return gsae_fail(err, GSAE_ENOMEM, "reconstruction rows: no memory for %zu tokens", cap);
    for (int64_t t = begin; t < end; t++) {
        if (ptr[t] < 0 || ptr[t] > ptr[t + 1] || ptr[t + 1] > nnz)
            return gsae_fail(err, GSAE_EFORMAT,
                             "acts_indptr.npy: entries %lld..%lld are %lld, "
                             "%lld: expected non-decreasing within [0, %lld]",
                             (long long)t, (long long)t + 1, (long long)ptr[t],
                             (long long)ptr[t + 1], (long long)nnz);
        double *coef = rr->coef + rr->n_local * rr->n_features;
        if (pca_recon_coef(idx + ptr[t], val + ptr[t], ptr[t + 1] - ptr[t], rr->features,
                           rr->n_features, coef))
            rr->fired[rr->n_local++] = t;
    }
    return GSAE_OK;
}

/* The feature list: --random-features N (drawn from [0, d_sae) with --seed), else --features,
 * else the case's meta.json list. */
static enum gsae_status recon_features(const struct pca_args *args, const json_t *meta,
                                       int64_t d_sae, struct recon_rows *rr, struct gsae_error *err)
{
    if (args->random_features > 0) {
        if (args->random_features > MAX_FEATURES)
            return gsae_fail(err, GSAE_EINVAL, "--random-features %lld: at most %d",
                             (long long)args->random_features, MAX_FEATURES);
        struct rng r;
        rng_seed(&r, args->seed);
        rr->n_features = args->random_features;
        return pca_draw_features(&r, d_sae, rr->n_features, rr->features, err);
    }
    if (args->n_features > 0) {
        memcpy(rr->features, args->features, (size_t)args->n_features * sizeof *rr->features);
        rr->n_features = args->n_features;
        return GSAE_OK;
    }
    const json_t *list = json_object_get(meta, "features");
    if (!json_is_array(list) || json_array_size(list) < 1 || json_array_size(list) > MAX_FEATURES)
        return gsae_fail(err, GSAE_EFORMAT,
                         "meta.json: 'features' is missing or not a list of "
                         "1..%d ids (or give --features / --random-features)",
                         MAX_FEATURES);
    for (size_t j = 0; j < json_array_size(list); j++) {
        const json_t *v = json_array_get(list, j);
        if (!json_is_integer(v))
            return gsae_fail(err, GSAE_EFORMAT, "meta.json: features[%zu] is not an integer", j);
        rr->features[j] = (int64_t)json_integer_value(v);
    }
    rr->n_features = (int64_t)json_array_size(list);
    return GSAE_OK;
}

static enum gsae_status recon_open(const struct pca_args *args, const json_t *meta, int rank,
                                   int size, struct recon_rows *rr, struct dpca_rows *rows,
                                   struct gsae_error *err)
{
    enum gsae_status st = recon_map(args->case_dir, rr, err);
    if (st != GSAE_OK) return st;
    int64_t d_sae = rr->w_dec.a.shape[0];
    rr->d = rr->w_dec.a.shape[1];
    st = recon_features(args, meta, d_sae, rr, err);
    if (st != GSAE_OK) return st;
    const int64_t *features = rr->features;
    int64_t n_features = rr->n_features;
    for (int64_t j = 0; j < n_features; j++)
        if (features[j] < 0 || features[j] >= d_sae)
            return gsae_fail(err, GSAE_EINVAL,
                             "feature %lld is out of range: W_dec.npy has %lld "
                             "features",
                             (long long)features[j], (long long)d_sae);
    rr->w_rows = malloc((size_t)(n_features * rr->d) * sizeof *rr->w_rows);
    if (!rr->w_rows) return gsae_fail(err, GSAE_ENOMEM, "W_dec rows: no memory");
    for (int64_t j = 0; j < n_features; j++)
        row_to_double(&rr->w_dec.a, features[j], rr->w_rows + j * rr->d);
    st = recon_select(rr, rank, size, err);
    *rows = (struct dpca_rows){.d = rr->d, .n_local = rr->n_local, .read = recon_read, .ctx = rr};
    return st;
}

/* ---- outputs ---- */

/* Gather each rank's n_local x width block (elements of type/elem bytes) on rank 0 in rank
 * order: *all (rank 0 only; caller frees) gets *n_all rows. Collective. */
static enum gsae_status gather_rows(const void *local, int64_t n_local, int64_t width,
                                    MPI_Datatype type, size_t elem, void **all, int64_t *n_all,
                                    struct gsae_error *err)
{
    int rank = 0, size = 1, mine = 0, end = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int *counts = calloc((size_t)size, sizeof *counts);
    int *displs = calloc((size_t)size, sizeof *displs);
    int64_t *rows = calloc((size_t)size, sizeof *rows), total = 0;
    enum gsae_status st = GSAE_OK;
    *all = NULL;
    if (!counts || !displs || !rows)
        st = gsae_fail(err, GSAE_ENOMEM, "gathering results: no memory");
    else if (MPI_Allgather(&n_local, 1, MPI_INT64_T, rows, 1, MPI_INT64_T, MPI_COMM_WORLD) !=
             MPI_SUCCESS)
        st = gsae_fail(err, GSAE_EMPI, "gathering row counts failed");
    /* Gatherv counts in int: the gathered block must have fewer than 2^31 elements. */
    for (int p = 0; st == GSAE_OK && p < size; p++) {
        displs[p] = end;
        st = gsae_narrow_int(rows[p] * width, &counts[p], err);
        total += rows[p];
        if (st == GSAE_OK) st = gsae_narrow_int(total * width, &end, err);
    }
    if (st == GSAE_OK) st = gsae_narrow_int(n_local * width, &mine, err);
    if (st == GSAE_OK && rank == 0 && !(*all = malloc((size_t)end * elem + 1)))
        st = gsae_fail(err, GSAE_ENOMEM, "gathering %lld rows: no memory", (long long)total);
    /* Every rank computed the same counts, so all reach (or skip) the Gatherv together, except
     * for rank 0's allocation, which is rare enough to fail by abort in main(). */
    if (st == GSAE_OK && MPI_Gatherv(local, mine, type, *all, counts, displs, type, 0,
                                     MPI_COMM_WORLD) != MPI_SUCCESS)
        st = gsae_fail(err, GSAE_EMPI, "gathering rows failed");
    *n_all = total;
    free(counts);
    free(displs);
    free(rows);
    return st;
}

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
                                      const struct recon_rows *rr, struct gsae_error *err)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    void *proj = NULL, *fired = NULL;
    int64_t n_rows = 0, n_fired = 0;
    enum gsae_status st = gather_rows(r->transformed, r->n_local, r->k, MPI_DOUBLE, sizeof(double),
                                      &proj, &n_rows, err);
    if (st == GSAE_OK && rr)
        st = gather_rows(rr->fired, rr->n_local, 1, MPI_INT64_T, sizeof(int64_t), &fired, &n_fired,
                         err);
    if (st == GSAE_OK && rank == 0) {
        if (mkdir(args->out_dir, 0777) != 0 && errno != EEXIST)
            st = gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", args->out_dir, strerror(errno));
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
    int worst = (int)st, mine = (int)st;
    MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (st == GSAE_OK && worst != GSAE_OK)
        st = gsae_fail(err, (enum gsae_status)worst, "rank 0 could not write the results");
    return st;
}

/* ---- options ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: [mpirun -np N] gsae pca --case CASE_DIR --out DIR [--components K]\n"
            "                     [--features LIST | --random-features N --seed S]\n"
            "                     [--chunk-rows R]\n"
            "       [mpirun -np N] gsae pca STORE --out DIR --components K [--rows resid]\n"
            "       [mpirun -np N] gsae pca STORE --out DIR --components K --w-dec W_dec.npy\n"
            "                     (--features LIST | --random-features N --seed S)\n"
            "  --case: PCA of a case's rows (X.npy, or the CSR activations + W_dec\n"
            "  reconstruction of a feature list); writes components.npy, transformed.npy,\n"
            "  explained_variance.npy, explained_variance_ratio.npy, mean.npy (and\n"
            "  fired_rows.npy) under DIR.\n"
            "  STORE: PCA of an activation store's resid_post rows, or of the tokens where a\n"
            "  feature list fires, reconstructed from those features (acts[:, F] @ W_dec[F]);\n"
            "  writes pca.nc, pca.csv (PC1..K per row with its token and context\n"
            "  prefix|token|suffix as token ids), components.npy, explained_variance.npy.\n"
            "  LIST: comma-separated feature ids, e.g. 3655,1600,11000\n");
}

static bool parse_i64(const char *s, int64_t min, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min) return false;
    *out = (int64_t)v;
    return true;
}

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
        if (a->n_features == MAX_FEATURES)
            return gsae_fail(err, GSAE_EINVAL, "--features: at most %d ids", MAX_FEATURES);
        a->features[a->n_features++] = (int64_t)v;
        p = *end ? end + 1 : end;
    }
    if (a->n_features == 0) return gsae_fail(err, GSAE_EINVAL, "--features: empty list");
    return GSAE_OK;
}

static enum gsae_status parse_args(int argc, char **argv, struct pca_args *a,
                                   struct gsae_error *err)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (opt[0] != '-') {
            if (a->store_dir)
                return gsae_fail(err, GSAE_EINVAL, "two stores given: '%s' and '%s'", a->store_dir,
                                 opt);
            a->store_dir = opt;
            continue;
        }
        if (!val) return gsae_fail(err, GSAE_EINVAL, "%s needs a value", opt);
        i++;
        bool ok = true;
        if (strcmp(opt, "--case") == 0)
            a->case_dir = val;
        else if (strcmp(opt, "--out") == 0)
            a->out_dir = val;
        else if (strcmp(opt, "--rows") == 0)
            a->rows = val;
        else if (strcmp(opt, "--w-dec") == 0)
            a->w_dec = val;
        else if (strcmp(opt, "--components") == 0)
            ok = parse_i64(val, 1, &a->n_components);
        else if (strcmp(opt, "--chunk-rows") == 0)
            ok = parse_i64(val, 1, &a->chunk_rows);
        else if (strcmp(opt, "--random-features") == 0)
            ok = parse_i64(val, 1, &a->random_features);
        else if (strcmp(opt, "--seed") == 0) {
            int64_t s = 0;
            ok = parse_i64(val, 0, &s);
            a->seed = (uint64_t)s;
            a->have_seed = ok;
        } else if (strcmp(opt, "--features") == 0) {
            enum gsae_status st = parse_features(val, a, err);
            if (st != GSAE_OK) return st;
        } else
            return gsae_fail(err, GSAE_EINVAL, "unknown option '%s'", opt);
        if (!ok)
            return gsae_fail(err, GSAE_EINVAL, "%s '%s': expected a positive integer", opt, val);
    }
    if (!a->out_dir || !!a->case_dir == !!a->store_dir)
        return gsae_fail(err, GSAE_EINVAL,
                         "give a STORE or --case CASE_DIR (one of them), and "
                         "--out DIR");
    if (a->rows && strcmp(a->rows, "resid") != 0 && strcmp(a->rows, "features") != 0)
        return gsae_fail(err, GSAE_EINVAL, "--rows '%s': expected resid or features", a->rows);
    if (a->store_dir && !a->rows)
        a->rows = a->n_features > 0 || a->random_features > 0 ? "features" : "resid";
    if (a->store_dir && strcmp(a->rows, "features") == 0 &&
        (!a->w_dec || (a->n_features == 0 && a->random_features == 0)))
        return gsae_fail(err, GSAE_EINVAL,
                         "feature rows need --w-dec W_dec.npy and --features "
                         "LIST or --random-features N --seed S");
    if (a->store_dir && a->n_components == 0)
        return gsae_fail(err, GSAE_EINVAL, "--components K is required with a STORE");
    if (a->random_features > 0 && (a->n_features > 0 || !a->have_seed))
        return gsae_fail(err, GSAE_EINVAL,
                         "--random-features needs --seed and excludes "
                         "--features");
    return GSAE_OK;
}

/* ---- STORE mode ---- */

/* The feature list and its W_dec rows (n_features, d_model) as double, from --w-dec. */
static enum gsae_status store_features(const struct pca_args *args, struct recon_rows *rr,
                                       struct gsae_error *err)
{
    enum gsae_status st = mapped_npy_map(args->w_dec, &rr->w_dec, err);
    if (st == GSAE_OK)
        st = expect_npy(&rr->w_dec, args->w_dec, 2, GSAE_DTYPE_F32, GSAE_DTYPE_F64, err);
    if (st != GSAE_OK) return st;
    int64_t d_sae = rr->w_dec.a.shape[0];
    rr->d = rr->w_dec.a.shape[1];
    if ((st = recon_features(args, NULL, d_sae, rr, err)) != GSAE_OK) return st;
    for (int64_t j = 0; j < rr->n_features; j++)
        if (rr->features[j] < 0 || rr->features[j] >= d_sae)
            return gsae_fail(err, GSAE_EINVAL,
                             "feature %lld is out of range: %s has %lld "
                             "features",
                             (long long)rr->features[j], args->w_dec, (long long)d_sae);
    rr->w_rows = malloc((size_t)(rr->n_features * rr->d) * sizeof *rr->w_rows);
    if (!rr->w_rows) return gsae_fail(err, GSAE_ENOMEM, "W_dec rows: no memory");
    for (int64_t j = 0; j < rr->n_features; j++)
        row_to_double(&rr->w_dec.a, rr->features[j], rr->w_rows + j * rr->d);
    return GSAE_OK;
}

/* The gathered per-row results on rank 0 (NULL elsewhere). */
struct store_table {
    double *pc;
    int64_t *token, *doc, *pos;
    int32_t *token_id, *context;
    int64_t n_rows;
};

static void store_table_free(struct store_table *t)
{
    free(t->pc);
    free(t->token);
    free(t->doc);
    free(t->pos);
    free(t->token_id);
    free(t->context);
    memset(t, 0, sizeof *t);
}

static enum gsae_status gather_store_rows(const struct dpca_result *r,
                                          const struct dpca_store_rows *src, struct store_table *t,
                                          struct gsae_error *err)
{
    int64_t n = src->n_local, dummy = 0;
    void *p[6] = {0};
    enum gsae_status st =
        gather_rows(r->transformed, n, r->k, MPI_DOUBLE, sizeof(double), &p[0], &t->n_rows, err);
    if (st == GSAE_OK)
        st = gather_rows(src->token, n, 1, MPI_INT64_T, sizeof(int64_t), &p[1], &dummy, err);
    if (st == GSAE_OK)
        st = gather_rows(src->doc, n, 1, MPI_INT64_T, sizeof(int64_t), &p[2], &dummy, err);
    if (st == GSAE_OK)
        st = gather_rows(src->pos, n, 1, MPI_INT64_T, sizeof(int64_t), &p[3], &dummy, err);
    if (st == GSAE_OK)
        st = gather_rows(src->token_id, n, 1, MPI_INT32_T, sizeof(int32_t), &p[4], &dummy, err);
    if (st == GSAE_OK)
        st = gather_rows(src->context, n, DPCA_CONTEXT_LEN, MPI_INT32_T, sizeof(int32_t), &p[5],
                         &dummy, err);
    t->pc = p[0], t->token = p[1], t->doc = p[2], t->pos = p[3], t->token_id = p[4];
    t->context = p[5];
    return st;
}

static enum gsae_status write_store_outputs(const struct pca_args *args,
                                            const struct dpca_result *r,
                                            const struct dpca_store_rows *src,
                                            const struct recon_rows *rr, struct gsae_error *err)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    struct store_table t = {0};
    enum gsae_status st = gather_store_rows(r, src, &t, err);
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
                                .features = src->kind == DPCA_STORE_FEATURES ? rr->features : NULL,
                                .n_features = rr->n_features};
        char path[4096];
        if (mkdir(args->out_dir, 0777) != 0 && errno != EEXIST)
            st = gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", args->out_dir, strerror(errno));
        snprintf(path, sizeof path, "%s/pca.nc", args->out_dir);
        if (st == GSAE_OK) st = pca_nc_write(path, &tab, err);
        snprintf(path, sizeof path, "%s/pca.csv", args->out_dir);
        if (st == GSAE_OK) st = pca_csv_write(path, &tab, NULL, err);
        if (st == GSAE_OK)
            st = save_array(args->out_dir, "components.npy", r->components, GSAE_DTYPE_F64, 2, r->k,
                            r->d, err);
        if (st == GSAE_OK)
            st = save_array(args->out_dir, "explained_variance.npy", r->explained_variance,
                            GSAE_DTYPE_F64, 1, r->k, 0, err);
    }
    store_table_free(&t);
    int worst = (int)st, mine = (int)st;
    MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (st == GSAE_OK && worst != GSAE_OK)
        st = gsae_fail(err, (enum gsae_status)worst, "rank 0 could not write the results");
    return st;
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
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    bool features = strcmp(args->rows, "features") == 0;
    struct recon_rows *rr = calloc(1, sizeof *rr);
    struct dpca_store_rows *src = calloc(1, sizeof *src);
    struct dpca_rows rows = {.d = -1};
    struct dpca_result result = {0};
    enum gsae_status st = rr && src ? GSAE_OK : gsae_fail(err, GSAE_ENOMEM, "no memory");
    if (st == GSAE_OK && features) st = store_features(args, rr, err);
    if (st == GSAE_OK)
        st = dpca_store_rows_open(args->store_dir,
                                  features ? DPCA_STORE_FEATURES : DPCA_STORE_RESID, rr->features,
                                  rr->n_features, rr->w_rows, rr->d, rank, size, src, &rows, err);
    if (st != GSAE_OK) rows = (struct dpca_rows){.d = -1};
    struct dpca_options opt = {.n_components = args->n_components, .chunk_rows = args->chunk_rows};
    enum gsae_status run = dpca_run(MPI_COMM_WORLD, &rows, &opt, &result,
                                    st == GSAE_OK ? err : &(struct gsae_error){0});
    if (st == GSAE_OK) st = run;
    if (st == GSAE_OK) st = write_store_outputs(args, &result, src, rr, err);
    if (st == GSAE_OK && rank == 0) print_summary(&result, size);
    dpca_result_free(&result);
    if (src) dpca_store_rows_free(src);
    if (rr) recon_rows_free(rr);
    free(src);
    free(rr);
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
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    json_t *meta = NULL;
    bool recon = false;
    struct dense_rows dense = {0};
    struct recon_rows *rr = calloc(1, sizeof *rr);
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
                   : dense_open(args->case_dir, rank, size, &dense, &rows, err);
    /* dpca_run agrees on every rank's setup before its first collective. */
    if (st != GSAE_OK) rows = (struct dpca_rows){.d = -1};
    struct dpca_options opt = {.n_components = args->n_components, .chunk_rows = args->chunk_rows};
    enum gsae_status run = dpca_run(MPI_COMM_WORLD, &rows, &opt, &result,
                                    st == GSAE_OK ? err : &(struct gsae_error){0});
    if (st == GSAE_OK) st = run;
    if (st == GSAE_OK) st = write_outputs(args, &result, recon ? rr : NULL, err);
    if (st == GSAE_OK && rank == 0) print_summary(&result, size);
    dpca_result_free(&result);
    mapped_npy_free(&dense.x);
    if (rr) recon_rows_free(rr);
    free(rr);
    json_decref(meta);
    return st;
}

int cmd_pca(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
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
        if (bad_args && cli_world_rank() == 0) usage(stderr);
        return bad_args ? 2 : 1;
    }
    return 0;
}
