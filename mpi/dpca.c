/* dpca.c: distributed PCA (see dpca.h): streamed two-pass Gram, block-cyclic assembly by
 * reduce-scatter, ScaLAPACK pdsyevr, streamed projection. */
#include "dpca.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/pca.h"
#include "blacs.h"
#include "dist.h"

/* An MPI call of the PCA: translated by dist_check (one translation for all of mpi/). */
#define DPCA_MPI(call, what)                                                                       \
    do {                                                                                           \
        if ((status = dist_check((call), "pca: " what, err)) != GSAE_OK) goto fail;                \
    } while (0)

/* Agree on a local outcome before the next collective (dist_agree_worst), messages prefixed
 * with "pca". */
static enum gsae_status agree(MPI_Comm comm, enum gsae_status local, struct gsae_error *err)
{
    enum gsae_status st = dist_agree_worst(comm, local, NULL, err);
    if (st != GSAE_OK && local == GSAE_OK) gsae_error_prefix(err, "pca");
    return st;
}

void dpca_grid_shape(int size, int *nprow, int *npcol)
{
    int p = 1;
    for (int r = 1; (int64_t)r * r <= size; r++)
        if (size % r == 0) p = r;
    *nprow = p;
    *npcol = size / p;
}

/* Global index of local index l in a block-cyclic dimension (block nb, process iproc of np,
 * first block on process 0). */
static int64_t global_index(int64_t l, int64_t nb, int64_t iproc, int64_t np)
{
    return (l / nb) * nb * np + iproc * nb + l % nb;
}

static int local_count(int n, int nb, int iproc, int np)
{
    int zero = 0;
    return numroc_(&n, &nb, &iproc, &zero, &np);
}

/* The ScaLAPACK side of dpca_eig_top: a grid over comm and the block-cyclic pieces. */
struct eig_grid {
    int sys_ctxt, ctxt;
    int nprow, npcol, myrow, mycol;
    int n, nb, mloc, nloc, lld;
};

static enum gsae_status grid_open(MPI_Comm comm, int n, int block, struct eig_grid *g,
                                  struct gsae_error *err)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(g, 0, sizeof *g);
    g->ctxt = -1;
    dpca_grid_shape(size, &g->nprow, &g->npcol);
    /* Spread small matrices over the grid; pdsyevr wants square blocks. */
    int span = g->npcol > g->nprow ? g->npcol : g->nprow;
    int nb = (n + span - 1) / span;
    g->nb = nb < 1 ? 1 : (nb > block ? block : nb);
    g->n = n;
    g->sys_ctxt = Csys2blacs_handle(comm);
    g->ctxt = g->sys_ctxt;
    Cblacs_gridinit(&g->ctxt, "Row", g->nprow, g->npcol);
    Cblacs_gridinfo(g->ctxt, &g->nprow, &g->npcol, &g->myrow, &g->mycol);
    if (g->myrow != rank / g->npcol || g->mycol != rank % g->npcol)
        return gsae_fail(err, GSAE_EINTERNAL,
                         "pca: BLACS put rank %d at (%d, %d) of a %d x %d grid, expected (%d, %d)",
                         rank, g->myrow, g->mycol, g->nprow, g->npcol, rank / g->npcol,
                         rank % g->npcol);
    g->mloc = local_count(n, g->nb, g->myrow, g->nprow);
    g->nloc = local_count(n, g->nb, g->mycol, g->npcol);
    g->lld = g->mloc > 1 ? g->mloc : 1;
    return GSAE_OK;
}

static void grid_close(struct eig_grid *g)
{
    if (g->ctxt >= 0) {
        Cblacs_gridexit(g->ctxt);
        Cfree_blacs_system_handle(g->sys_ctxt);
    }
    memset(g, 0, sizeof *g);
    g->ctxt = -1;
}

/* Pack a full n x n row-major matrix into the concatenation, in rank order, of every process's
 * column-major block-cyclic piece; counts[p] gets piece p's length. a is symmetric in sum
 * only, so each piece takes a[i][j] for its global (i, j) exactly. */
static enum gsae_status pack_block_cyclic(const double *a, const struct eig_grid *g, double *buf,
                                          int *counts, struct gsae_error *err)
{
    int64_t n = g->n, nb = g->nb;
    size_t off = 0;
    for (int pr = 0; pr < g->nprow; pr++) {
        for (int pc = 0; pc < g->npcol; pc++) {
            int64_t m = local_count(g->n, g->nb, pr, g->nprow);
            int64_t c = local_count(g->n, g->nb, pc, g->npcol);
            enum gsae_status st = gsae_narrow_int(m * c, &counts[pr * g->npcol + pc], err);
            if (st != GSAE_OK) return st;
            for (int64_t jl = 0; jl < c; jl++) {
                int64_t j = global_index(jl, nb, pc, g->npcol);
                for (int64_t il = 0; il < m; il++)
                    buf[off++] = a[global_index(il, nb, pr, g->nprow) * n + j];
            }
        }
    }
    return GSAE_OK;
}

/* How many of the top eigenpairs to ask pdsyevr for, at least k. ScaLAPACK 2.2's pdsyevr hands
 * PDORMTR a workspace of max(18 n, NP00 MQ00 + 2 nb^2) (NP00, MQ00: process (0,0)'s share of
 * n rows and of the mz wanted columns), while PDORMTR needs
 * max(nb (nb - 1) / 2, (MpC0 + NqC0) nb) + nb^2 (MpC0 <= NP00, NqC0 <= MQ00): for few wanted
 * eigenpairs of a matrix larger than a block it fails with "PDORMTR parameter number 16 had
 * an illegal value". Asking for more eigenpairs enlarges that workspace; mz = n always
 * suffices once n >= nb, which grid_open guarantees. */
static int pdsyevr_count(const struct eig_grid *g, int k)
{
    int64_t nb = g->nb, np00 = local_count(g->n, g->nb, 0, g->nprow);
    for (int mz = k; mz < g->n; mz++) {
        int64_t mq00 = local_count(mz, g->nb, 0, g->npcol);
        int64_t have = np00 * mq00 + 2 * nb * nb, need = (np00 + mq00) * nb;
        if (have < 18 * (int64_t)g->n) have = 18 * (int64_t)g->n;
        if (need < nb * (nb - 1) / 2) need = nb * (nb - 1) / 2;
        if (have >= need + nb * nb) return mz;
    }
    return g->n;
}

/* Run pdsyevr for the top mz eigenpairs of the local piece a (destroyed); w_all gets the mz
 * eigenvalues ascending, z the local piece of the eigenvector matrix (first mz columns). */
static enum gsae_status eig_solve(const struct eig_grid *g, double *a, int k, double *w_all,
                                  double *z, struct gsae_error *err)
{
    enum gsae_status status = GSAE_OK;
    int desc[BLACS_DESC_LEN], info = 0, zero = 0, one = 1;
    double *work = NULL;
    int *iwork = NULL;
    descinit_(desc, &g->n, &g->n, &g->nb, &g->nb, &zero, &zero, &g->ctxt, &g->lld, &info);
    if (info != 0)
        return gsae_fail(err, GSAE_EINTERNAL, "pca: descinit: argument %d is invalid", -info);
    int il = g->n - k + 1, iu = g->n, m = 0, nz = 0, lwork = -1, liwork = -1, iwork_q = 0;
    double vl = 0.0, vu = 0.0, work_q = 0.0;
    pdsyevr_("V", "I", "L", &g->n, a, &one, &one, desc, &vl, &vu, &il, &iu, &m, &nz, w_all, z, &one,
             &one, desc, &work_q, &lwork, &iwork_q, &liwork, &info, 1, 1, 1);
    if (info != 0) {
        status = gsae_fail(err, GSAE_EINTERNAL, "pca: pdsyevr workspace query: info %d", info);
        goto fail;
    }
    if (!(work_q >= 1.0 && work_q <= (double)INT32_MAX)) {
        status = gsae_fail(err, GSAE_ERANGE,
                           "pca: pdsyevr asks for %.0f doubles of workspace, "
                           "more than a ScaLAPACK INTEGER counts",
                           work_q);
        goto fail;
    }
    lwork = (int)work_q; /* an integer value in range, checked above */
    liwork = iwork_q;
    work = malloc((size_t)lwork * sizeof *work);
    iwork = malloc((size_t)liwork * sizeof *iwork);
    if (!work || !iwork) {
        status =
            gsae_fail(err, GSAE_ENOMEM, "pca: no memory for pdsyevr workspace (%d doubles)", lwork);
        goto fail;
    }
    pdsyevr_("V", "I", "L", &g->n, a, &one, &one, desc, &vl, &vu, &il, &iu, &m, &nz, w_all, z, &one,
             &one, desc, work, &lwork, iwork, &liwork, &info, 1, 1, 1);
    if (info != 0 || m != k || nz != k)
        status = gsae_fail(err, GSAE_EINTERNAL,
                           "pca: pdsyevr: info %d, %d eigenvalues and %d vectors, expected %d",
                           info, m, nz, k);
fail:
    free(work);
    free(iwork);
    return status;
}

enum gsae_status dpca_eig_top(MPI_Comm comm, const double *a_part, int64_t d, int64_t k, int block,
                              double *w, double *v, struct gsae_error *err)
{
    enum gsae_status status = GSAE_OK;
    struct eig_grid g = {.ctxt = -1};
    double *sendbuf = NULL, *a = NULL, *z = NULL, *w_all = NULL, *vsum = NULL;
    int *counts = NULL;
    int n = 0, kk = 0, size = 1;
    MPI_Comm_size(comm, &size);
    if (d < 1 || k < 1 || k > d || block < 1)
        return gsae_fail(err, GSAE_EINVAL,
                         "pca: eigenpairs: d %lld, k %lld, block %d: expected "
                         "1 <= k <= d and block >= 1",
                         (long long)d, (long long)k, block);
    status = gsae_narrow_int(d, &n, err);
    if (status == GSAE_OK) status = gsae_narrow_int(k, &kk, err);
    if (status == GSAE_OK) status = grid_open(comm, n, block, &g, err);
    size_t dd = (size_t)d * (size_t)d, local = (size_t)g.lld * (size_t)(g.nloc > 1 ? g.nloc : 1);
    if (status == GSAE_OK) {
        sendbuf = malloc(dd * sizeof *sendbuf);
        a = malloc(local * sizeof *a);
        z = malloc(local * sizeof *z);
        w_all = malloc((size_t)d * sizeof *w_all);
        vsum = calloc((size_t)d * (size_t)k, sizeof *vsum);
        counts = malloc((size_t)size * sizeof *counts);
        if (!sendbuf || !a || !z || !w_all || !vsum || !counts)
            status = gsae_fail(err, GSAE_ENOMEM, "pca: no memory for a %lld x %lld matrix",
                               (long long)d, (long long)d);
    }
    if (status == GSAE_OK) status = pack_block_cyclic(a_part, &g, sendbuf, counts, err);
    status = agree(comm, status, err);
    if (status != GSAE_OK) goto fail;
    memset(a, 0, local * sizeof *a);
    DPCA_MPI(MPI_Reduce_scatter(sendbuf, a, counts, MPI_DOUBLE, MPI_SUM, comm),
             "summing the Gram matrix (MPI_Reduce_scatter)");
    free(sendbuf);
    sendbuf = NULL;
    /* pdsyevr fails alike on every process (its info is global), so no agreement is needed. */
    int mz = pdsyevr_count(&g, kk);
    status = eig_solve(&g, a, mz, w_all, z, err);
    if (status != GSAE_OK) goto fail;
    /* Columns 0..mz-1 of Z hold eigenvectors, ascending; component c is column mz-1-c. */
    for (int64_t jl = 0; jl < g.nloc; jl++) {
        int64_t c = mz - 1 - global_index(jl, g.nb, g.mycol, g.npcol);
        if (c < 0 || c >= k) continue;
        for (int64_t il = 0; il < g.mloc; il++)
            vsum[c * d + global_index(il, g.nb, g.myrow, g.nprow)] = z[jl * g.lld + il];
    }
    int kd = 0;
    status = gsae_narrow_int(k * d, &kd, err);
    if (status != GSAE_OK) goto fail;
    DPCA_MPI(MPI_Allreduce(vsum, v, kd, MPI_DOUBLE, MPI_SUM, comm),
             "gathering eigenvectors (MPI_Allreduce)");
    for (int64_t c = 0; c < k; c++)
        w[c] = w_all[mz - 1 - c];
fail:
    grid_close(&g);
    free(sendbuf);
    free(a);
    free(z);
    free(w_all);
    free(vsum);
    free(counts);
    return status;
}

void dpca_result_free(struct dpca_result *r)
{
    if (!r) return;
    free(r->mean);
    free(r->components);
    free(r->explained_variance);
    free(r->explained_variance_ratio);
    free(r->transformed);
    memset(r, 0, sizeof *r);
}

/* One streamed pass over the local rows: chunk by chunk, read then hand to visit(). */
struct pass {
    const struct dpca_rows *rows;
    int64_t chunk;
    double *buf; /* (chunk, d) */
};

enum pass_kind { PASS_SUM, PASS_GRAM, PASS_PROJECT };

static enum gsae_status run_pass(const struct pass *p, enum pass_kind kind, double *acc,
                                 struct dpca_result *r, struct gsae_error *err)
{
    int64_t d = p->rows->d;
    for (int64_t begin = 0; begin < p->rows->n_local; begin += p->chunk) {
        int64_t count = p->rows->n_local - begin < p->chunk ? p->rows->n_local - begin : p->chunk;
        enum gsae_status st = p->rows->read(p->rows->ctx, begin, count, p->buf, err);
        if (st != GSAE_OK) return st;
        if (kind == PASS_SUM) {
            for (int64_t i = 0; i < count; i++)
                for (int64_t j = 0; j < d; j++)
                    acc[j] += p->buf[i * d + j];
            continue;
        }
        pca_center_rows(p->buf, count, d, r->mean);
        if (kind == PASS_GRAM)
            /* Lower triangle of the row-major d x d Gram: acc += chunk^T chunk. d was checked
             * to fit an int in check_setup and count <= chunk <= INT32_MAX / 2. */
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)count, 1.0, p->buf,
                        (int)d, 1.0, acc, (int)d);
        else
            pca_project(p->buf, count, d, r->components, r->k, r->transformed + begin * r->k);
    }
    return GSAE_OK;
}

/* Check options and agree on d and k; fills r's sizes. */
static enum gsae_status check_setup(MPI_Comm comm, const struct dpca_rows *rows,
                                    const struct dpca_options *opt, struct dpca_result *r,
                                    struct gsae_error *err)
{
    enum gsae_status status = GSAE_OK;
    int dummy = 0;
    if (rows->d < 1 || rows->n_local < 0 || !rows->read)
        status = gsae_fail(err, GSAE_EINVAL, "pca: rows: d %lld, %lld local rows: expected d >= 1",
                           (long long)rows->d, (long long)rows->n_local);
    else if (opt->n_components < 1 || opt->n_components > rows->d)
        status = gsae_fail(err, GSAE_EINVAL,
                           "pca: %lld components asked for rows of length %lld: "
                           "expected 1 <= k <= d",
                           (long long)opt->n_components, (long long)rows->d);
    else if (opt->chunk_rows < 0 || opt->block < 0)
        status = gsae_fail(err, GSAE_EINVAL, "pca: chunk_rows %lld and block %d must be >= 0",
                           (long long)opt->chunk_rows, opt->block);
    else if ((status = gsae_narrow_int(rows->d, &dummy, err)) == GSAE_OK &&
             rows->d > INT32_MAX / 64)
        status = gsae_fail(err, GSAE_ERANGE,
                           "pca: row length %lld is too large for a d x d "
                           "Gram matrix",
                           (long long)rows->d);
    status = agree(comm, status, err);
    if (status != GSAE_OK) return status;
    int64_t mine[4] = {rows->d, -rows->d, opt->n_components, -opt->n_components}, ext[4];
    int64_t counts[2] = {rows->n_local, 0}, scan[2] = {0, 0};
    if ((status = GSAE_MPI(MPI_Allreduce(mine, ext, 4, MPI_INT64_T, MPI_MAX, comm), err)) ||
        (status = GSAE_MPI(MPI_Allreduce(counts, scan + 1, 1, MPI_INT64_T, MPI_SUM, comm), err)) ||
        (status = GSAE_MPI(MPI_Exscan(counts, scan, 1, MPI_INT64_T, MPI_SUM, comm), err)))
        return status;
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    if (ext[0] != -ext[1] || ext[2] != -ext[3])
        return gsae_fail(err, GSAE_EINVAL,
                         "pca: ranks disagree on row length (%lld..%lld) or "
                         "components (%lld..%lld)",
                         (long long)-ext[1], (long long)ext[0], (long long)-ext[3],
                         (long long)ext[2]);
    r->d = rows->d;
    r->k = opt->n_components;
    r->n_local = rows->n_local;
    r->n_rows = scan[1];
    r->row_offset = rank == 0 ? 0 : scan[0]; /* MPI_Exscan leaves rank 0's result undefined */
    if (r->n_rows < 2 || r->k > r->n_rows)
        return gsae_fail(err, GSAE_EINVAL,
                         "pca: %lld rows for %lld components: expected at "
                         "least 2 rows and no more components than rows",
                         (long long)r->n_rows, (long long)r->k);
    return GSAE_OK;
}

/* Allocate the result arrays and the chunk buffer. */
static enum gsae_status alloc_result(struct dpca_result *r, struct pass *p, double **gram,
                                     struct gsae_error *err)
{
    size_t d = (size_t)r->d, k = (size_t)r->k, nl = (size_t)r->n_local;
    r->mean = calloc(d, sizeof *r->mean);
    r->components = calloc(k * d, sizeof *r->components);
    r->explained_variance = calloc(k, sizeof *r->explained_variance);
    r->explained_variance_ratio = calloc(k, sizeof *r->explained_variance_ratio);
    r->transformed = calloc(nl * k > 0 ? nl * k : 1, sizeof *r->transformed);
    p->buf = malloc((size_t)p->chunk * d * sizeof *p->buf);
    *gram = calloc(d * d, sizeof **gram);
    if (!r->mean || !r->components || !r->explained_variance || !r->explained_variance_ratio ||
        !r->transformed || !p->buf || !*gram)
        return gsae_fail(err, GSAE_ENOMEM, "pca: no memory for d = %zu, k = %zu, %zu local rows", d,
                         k, nl);
    return GSAE_OK;
}

enum gsae_status dpca_run(MPI_Comm comm, const struct dpca_rows *rows,
                          const struct dpca_options *opt, struct dpca_result *out,
                          struct gsae_error *err)
{
    enum gsae_status status = GSAE_OK;
    MPI_Comm dup = MPI_COMM_NULL;
    struct pass p = {.rows = rows, .chunk = opt->chunk_rows > 0 ? opt->chunk_rows : 512};
    double *gram = NULL;
    memset(out, 0, sizeof *out);
    if (p.chunk > INT32_MAX / 2) p.chunk = INT32_MAX / 2;
    if ((status = GSAE_MPI(MPI_Comm_dup(comm, &dup), err)) != GSAE_OK) return status;
    MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
    status = check_setup(dup, rows, opt, out, err);
    if (status == GSAE_OK) status = alloc_result(out, &p, &gram, err);
    status = agree(dup, status, err);
    if (status != GSAE_OK) goto fail;
    int d = 0;
    (void)gsae_narrow_int(out->d, &d, err); /* cannot fail: checked in check_setup */
    int64_t d64 = out->d, k = out->k;

    /* Pass 1: the global mean. */
    double t0 = MPI_Wtime();
    status = agree(dup, run_pass(&p, PASS_SUM, gram, out, err), err);
    if (status != GSAE_OK) goto fail;
    DPCA_MPI(MPI_Allreduce(gram, out->mean, d, MPI_DOUBLE, MPI_SUM, dup), "summing rows");
    for (int64_t j = 0; j < d64; j++)
        out->mean[j] /= (double)out->n_rows;
    memset(gram, 0, (size_t)d64 * sizeof *gram);
    double t1 = MPI_Wtime();

    /* Pass 2: the centered Gram matrix (lower triangle), mirrored to full for packing. */
    status = agree(dup, run_pass(&p, PASS_GRAM, gram, out, err), err);
    if (status != GSAE_OK) goto fail;
    double trace_local = 0.0, trace = 0.0;
    for (int64_t i = 0; i < d64; i++) {
        trace_local += gram[i * d64 + i];
        for (int64_t j = 0; j < i; j++)
            gram[j * d64 + i] = gram[i * d64 + j];
    }
    DPCA_MPI(MPI_Allreduce(&trace_local, &trace, 1, MPI_DOUBLE, MPI_SUM, dup), "summing traces");
    double t2 = MPI_Wtime();
    status = dpca_eig_top(dup, gram, d64, k, opt->block > 0 ? opt->block : 64,
                          out->explained_variance, out->components, err);
    if (status != GSAE_OK) goto fail;
    free(gram);
    gram = NULL;
    out->total_variance = trace / (double)(out->n_rows - 1);
    for (int64_t c = 0; c < k; c++) {
        /* Rounding can leave the smallest eigenvalues of a rank-deficient G slightly negative. */
        double lambda = out->explained_variance[c] > 0 ? out->explained_variance[c] : 0.0;
        out->explained_variance[c] = lambda / (double)(out->n_rows - 1);
        out->explained_variance_ratio[c] =
            out->total_variance > 0 ? out->explained_variance[c] / out->total_variance : 0.0;
    }
    pca_sign_flip(out->components, k, d64);
    double t3 = MPI_Wtime();

    /* Pass 3: project. */
    status = agree(dup, run_pass(&p, PASS_PROJECT, NULL, out, err), err);
    out->seconds_mean = t1 - t0;
    out->seconds_gram = t2 - t1;
    out->seconds_eig = t3 - t2;
    out->seconds_project = MPI_Wtime() - t3;
fail:
    free(gram);
    free(p.buf);
    if (status != GSAE_OK) dpca_result_free(out);
    MPI_Comm_free(&dup);
    return status;
}
