/* test_pipe_attrib.c: metric gradients at resid_post[L] through the pipeline (mpi/pipe_attrib.h)
 * on a random 4-layer Gemma-2 model held by every rank.
 *
 * Runs alone (one rank) in the unit suite and under mpirun from tests/mpi/t_pipe_attrib.sh on
 * the rank counts of GSAE_NP, for every stage count dividing the size (up to layers + 1).
 * Checked:
 *  - the owner of L holds resid_post[L] bit for bit as a direct forward computes it, and the
 *    metric (known on every rank after the run) equals the direct one;
 *  - g = dM/dresid_post[L] agrees with a central finite difference of the direct metric along
 *    g, and is zero after the last row the metric reads;
 *  - g is bit-identical for every stage count (the single-stage run is the reference).
 * Exit status 0 on success; failures print the check and the rank.
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK_RANKS
#include "../../mpi/dist.h"
#include "../../mpi/pipe_attrib.h"
#include "../../mpi/plan.h"
#include "../common/check.h"
#include "../common/gemma_synth.h"

enum { N_LAYERS = 4, T = 6, LAYER = 1, D = 32 };

static int rank, size;
static struct synth_model model;
static const int32_t tokens[T] = {2, 17, 5, 33, 8, 41};
static const struct gemma_metric metric = {
    .kind = GEMMA_METRIC_LOGIT_DIFF, .position = T - 2, .target = 3, .baseline = 7};

/* A setup step that must succeed (err in scope): otherwise stop every rank. */
#define CHECK_OK(call)                                                                             \
    do {                                                                                           \
        if ((call) != GSAE_OK) {                                                                   \
            fprintf(stderr, "rank %d: %s:%d: %s failed: %s\n", rank, __FILE__, __LINE__, #call,    \
                    err.msg);                                                                      \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                          \
        }                                                                                          \
    } while (0)

/* Direct (one process): resid_post[L] of the prompt, and the metric from a given resid. */
struct direct {
    struct gemma_state st;
    float resid[T * D], x[T * D], *logits;
};

static void direct_init(struct direct *r)
{
    struct gsae_error err = {0};
    const struct gemma_config *c = &model.cfg;
    CHECK_OK(gemma_state_init(&r->st, c, 0, c->n_layers, 1, T, T, &err));
    r->logits = malloc(sizeof(float) * (size_t)(T * c->n_vocab));
    int64_t slot = 0, pos0 = 0, n = T;
    struct gemma_batch b = {.n_seq = 1, .n_rows = T, .slot = &slot, .pos0 = &pos0, .n_tok = &n};
    CHECK_OK(gemma_embed(c, &model.w, tokens, T, r->resid, &err));
    CHECK_OK(gemma_forward(&model.w, &r->st, &b, r->resid, 0, LAYER + 1, NULL, &err));
}

static double direct_metric(struct direct *r, const float *resid)
{
    struct gsae_error err = {0};
    int64_t slot = 0, pos0 = 0, n = T;
    struct gemma_batch b = {.n_seq = 1, .n_rows = T, .slot = &slot, .pos0 = &pos0, .n_tok = &n};
    memcpy(r->x, resid, sizeof r->x);
    CHECK_OK(gemma_forward(&model.w, &r->st, &b, r->x, LAYER + 1, N_LAYERS, NULL, &err));
    CHECK_OK(gemma_logits(&model.w, &r->st, r->x, T, r->logits, &err));
    return gemma_metric_eval(&metric, r->logits, model.cfg.n_vocab);
}

/* One layout: g (rank 0, T * D floats) and the metric (every rank). */
static void run_layout(int n_stages, float *g, float *resid, double *m_out)
{
    struct gsae_error err = {0};
    struct plan_options o = {.n_ranks = size,
                             .n_stages = n_stages,
                             .with_logits = true,
                             .dtype = GSAE_DTYPE_F32,
                             .ctx_len = T};
    struct plan plan;
    struct dist d;
    CHECK_OK(plan_make(&plan, &model.cfg, &o, &err));
    CHECK_OK(dist_open(&d, MPI_COMM_WORLD, plan.n_stages, &err));
    const int32_t *seqs[1] = {tokens};
    const int64_t n_tok[1] = {T}, mb_first[2] = {0, 1};
    struct pipe_work work = {
        .n_seq = 1, .tokens = seqs, .n_tok = n_tok, .n_mb = 1, .mb_first = mb_first};
    struct pipe_limits lim;
    pipe_limits_of_work(&work, 0, d.n_replicas, &lim);
    struct pipe p;
    CHECK_OK(pipe_open(&p, &d, &plan, &model.cfg, &model.w, &lim, 1, &err));
    struct pipe_attrib a;
    CHECK_OK(pipe_attrib_open(&a, &p, LAYER, T, &err));
    CHECK(!a.owner || (d.replica == 0 && LAYER >= plan.stages[d.stage_index].layer_begin &&
                       LAYER < plan.stages[d.stage_index].layer_end));
    CHECK_OK(pipe_attrib_forward(&a, &p, &work, &err));
    double mv = 0;
    bool have = false;
    CHECK_OK(pipe_attrib_backward(&a, &p, &metric, &mv, &have, &err));
    /* exactly one rank (replica 0's unembedding stage) has the metric */
    int n_have = 0, mine = have;
    MPI_Allreduce(&mine, &n_have, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    CHECK(n_have == 1);
    double m = have ? mv : -INFINITY;
    MPI_Allreduce(&m, m_out, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    /* the owner's g and resid to rank 0 */
    struct dist_blob blobs[2] = {{"g", T * D, a.g}, {"resid", T * D, a.resid}};
    struct dist_blob *all = NULL;
    int64_t n_all = 0;
    CHECK_OK(dist_collect(&d, blobs, a.owner ? 2 : 0, &all, &n_all, &err));
    if (rank == 0) {
        CHECK(n_all == 2);
        for (int64_t i = 0; i < n_all; i++) {
            CHECK(all[i].n == T * D);
            if (all[i].n == T * D)
                memcpy(strcmp(all[i].name, "g") == 0 ? g : resid, all[i].data,
                       sizeof(float) * T * D);
        }
    }
    dist_blobs_free(all, n_all);
    pipe_attrib_close(&a);
    pipe_close(&p);
    dist_close(&d);
    plan_free(&plan);
}

static void check_against_direct(const float *g, const float *resid, double m)
{
    struct direct r;
    direct_init(&r);
    CHECK(memcmp(resid, r.resid, sizeof r.resid) == 0);
    double m0 = direct_metric(&r, r.resid);
    CHECK(check_close(m, m0, 1e-6, 1e-6));
    /* rows after the metric's position get no gradient; some before do */
    double norm = 0;
    for (int i = 0; i < T * D; i++)
        norm += (double)g[i] * g[i];
    norm = sqrt(norm);
    CHECK(norm > 0);
    for (int i = (T - 1) * D; i < T * D; i++)
        CHECK(g[i] == 0.0f);
    /* central difference along u = g / |g|: (M(r + h u) - M(r - h u)) / 2h = |g| */
    float plus[T * D], minus[T * D];
    const double h = 1e-2;
    for (int i = 0; i < T * D; i++) {
        double u = norm > 0 ? g[i] / norm : 0;
        plus[i] = (float)(r.resid[i] + h * u);
        minus[i] = (float)(r.resid[i] - h * u);
    }
    double fd = (direct_metric(&r, plus) - direct_metric(&r, minus)) / (2 * h);
    if (!check_close(fd, norm, 2e-2, 1e-3)) {
        fprintf(stderr, "finite difference %.6g, |g| %.6g\n", fd, norm);
        CHECK(!"gradient agrees with the finite difference");
    }
    free(r.logits);
    gemma_state_free(&r.st);
}

int main(int argc, char **argv)
{
    /* Under ASan (GSAE_SAN), MPI's leak suppressions need full malloc stacks: restart once with
     * fast_unwind_on_malloc=0 when the unit runner did not set it. */
    const char *asan = getenv("ASAN_OPTIONS");
    if (getenv("GSAE_SAN") && !(asan && strstr(asan, "fast_unwind_on_malloc=0"))) {
        char opts[4096];
        snprintf(opts, sizeof opts, "%s%sfast_unwind_on_malloc=0", asan ? asan : "",
                 asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        execv("/proc/self/exe", argv);
    }
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    struct gemma_config cfg = synth_config(N_LAYERS, D, 2, 1, 16, 64, 50, 4);
    synth_init(&model, &cfg, GSAE_DTYPE_F32, 5, 0, N_LAYERS, 1);
    static float g1[T * D], resid1[T * D], g[T * D], resid[T * D];
    double m1 = 0, m = 0;
    run_layout(1, g1, resid1, &m1);
    if (rank == 0) check_against_direct(g1, resid1, m1);
    for (int s = 2; s <= size && s <= N_LAYERS + 1; s++) {
        if (size % s != 0) continue;
        run_layout(s, g, resid, &m);
        if (rank == 0) {
            CHECK(memcmp(g, g1, sizeof g) == 0);
            CHECK(memcmp(resid, resid1, sizeof resid) == 0);
        }
        CHECK(m == m1);
    }
    synth_free(&model);
    int status = check_ranks_finish();
    MPI_Finalize();
    return status;
}
