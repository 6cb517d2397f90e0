/* test_pipe.c: the pipeline gives bit-identical results to direct forward calls.
 *
 * Runs alone (one rank: a 1-stage pipeline) in the unit suite, and under mpirun from
 * tests/mpi/t_pipe.sh with several ranks, where it tries every stage count that divides the
 * ranks (so also replicas). Weights are random f32 tensors built in memory on every rank (the
 * same seed everywhere). Checked on rank 0 against gemma_forward/gemma_logits run directly
 * with the same micro-batches:
 *  - streaming prefill of 7 sequences in 4 micro-batches: every sequence's final rows;
 *  - pipelined greedy generation of 5 sequences in flight: the logits of every step;
 *  - a steering hook at one layer, called only by the stage that owns that layer;
 *  - a truncated pipeline (layers 0..2 of 5, no logits) whose stages hold only their own
 *    layers' weights (NULL elsewhere, so a touch of another layer would crash).
 * Exit status 0 on success; failures print the check and the rank.
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../mpi/dist.h"
#include "../../mpi/pipe.h"
#include "../../mpi/plan.h"
#include "../../src/rng.h"

static int n_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            n_failed++;                                                                            \
        }                                                                                          \
    } while (0)

#define CHECK_OK(call)                                                                             \
    do {                                                                                           \
        struct gsae_error e_ = {0};                                                                \
        enum gsae_status st_ = (call);                                                             \
        (void)e_;                                                                                  \
        if (st_ != GSAE_OK) {                                                                      \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, err.msg);         \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                          \
        }                                                                                          \
    } while (0)

enum { N_LAYERS = 5, D = 32, HOOK_LAYER = 2 };

/* A tiny random model held in memory (every rank builds all of it from the same seed). */
struct fake_model {
    struct gemma_config cfg;
    struct gemma_weights w;
    struct gemma_layer_weights layers[N_LAYERS];
    float *blocks[N_LAYERS * 11 + 2];
    int n_blocks;
};

static struct gsae_tensor fake_tensor(struct fake_model *m, struct rng *r, int64_t d0, int64_t d1,
                                      double sd, double mean)
{
    int64_t n = d0 * (d1 > 0 ? d1 : 1);
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(mean + sd * rng_normal(r));
    m->blocks[m->n_blocks++] = p;
    struct gsae_tensor t = {.data = p, .dtype = GSAE_DTYPE_F32, .n_dims = d1 > 0 ? 2 : 1};
    t.shape[0] = d0;
    t.shape[1] = d1;
    return t;
}

static void fake_init(struct fake_model *m)
{
    memset(m, 0, sizeof *m);
    struct gemma_config c = {.n_layers = N_LAYERS,
                             .d_model = D,
                             .n_heads = 4,
                             .n_kv_heads = 2,
                             .d_head = 8,
                             .d_ff = 48,
                             .n_vocab = 97,
                             .window_local = 4,
                             .max_pos = 512,
                             .query_pre_attn_scalar = 8.0f,
                             .softcap_attn = 50.0f,
                             .softcap_final = 30.0f,
                             .rms_eps = 1e-6f,
                             .rope_theta = 10000.0f,
                             .bos_id = 2,
                             .eos_id = 1};
    m->cfg = c;
    struct rng r;
    rng_seed(&r, 1234);
    int64_t q = c.n_heads * c.d_head, kv = c.n_kv_heads * c.d_head;
    m->w.embed = fake_tensor(m, &r, c.n_vocab, D, 1.0, 0.0);
    m->w.norm_final = fake_tensor(m, &r, D, 0, 0.1, 0.0);
    for (int l = 0; l < N_LAYERS; l++) {
        struct gemma_layer_weights *lw = &m->layers[l];
        lw->attn_q = fake_tensor(m, &r, q, D, 1.0 / sqrt(D), 0.0);
        lw->attn_k = fake_tensor(m, &r, kv, D, 1.0 / sqrt(D), 0.0);
        lw->attn_v = fake_tensor(m, &r, kv, D, 1.0 / sqrt(D), 0.0);
        lw->attn_o = fake_tensor(m, &r, D, q, 1.0 / sqrt((double)q), 0.0);
        lw->ffn_gate = fake_tensor(m, &r, c.d_ff, D, 1.0 / sqrt(D), 0.0);
        lw->ffn_up = fake_tensor(m, &r, c.d_ff, D, 1.0 / sqrt(D), 0.0);
        lw->ffn_down = fake_tensor(m, &r, D, c.d_ff, 1.0 / sqrt((double)c.d_ff), 0.0);
        lw->norm_attn_in = fake_tensor(m, &r, D, 0, 0.1, 0.0);
        lw->norm_attn_post = fake_tensor(m, &r, D, 0, 0.1, 0.0);
        lw->norm_ffn_pre = fake_tensor(m, &r, D, 0, 0.1, 0.0);
        lw->norm_ffn_post = fake_tensor(m, &r, D, 0, 0.1, 0.0);
    }
    m->w.layers = m->layers;
}

static void fake_free(struct fake_model *m)
{
    for (int i = 0; i < m->n_blocks; i++)
        free(m->blocks[i]);
    memset(m, 0, sizeof *m);
}

/* Steering-like hook: resid_post[HOOK_LAYER] += strength(seq) * direction. Counts its calls and
 * notes any call for a layer outside the calling stage. */
struct steer {
    int64_t layer_begin, layer_end; /* of the calling stage (-1 for the reference) */
    int64_t calls, misplaced;
    float direction[D];
};

static float strength_of(int64_t seq)
{
    return 0.25f * (float)(seq % 5) - 0.5f;
}

static void steer_rows(struct steer *s, const struct gemma_batch *b, const int64_t *seq, float *x)
{
    int64_t row = 0;
    for (int64_t k = 0; k < b->n_seq; k++)
        for (int64_t t = 0; t < b->n_tok[k]; t++, row++)
            for (int j = 0; j < D; j++)
                x[row * D + j] += strength_of(seq[k]) * s->direction[j];
}

static enum gsae_status pipe_steer(void *ctx, const struct pipe_rows *rows, const char *name,
                                   int64_t layer, float *x, int64_t d_model, struct gsae_error *err)
{
    (void)err;
    (void)d_model;
    struct steer *s = ctx;
    if (strcmp(name, "resid_post") != 0 || layer != HOOK_LAYER) return GSAE_OK;
    s->calls++;
    if (layer < s->layer_begin || layer >= s->layer_end) s->misplaced++;
    steer_rows(s, rows->batch, rows->seq, x);
    return GSAE_OK;
}

/* The reference side of the same hook, through gemma_forward's own hook. */
struct ref_steer {
    struct steer *s;
    const int64_t *seq;
};

static enum gsae_status ref_hook(void *ctx, const char *name, int64_t layer, float *x,
                                 const struct gemma_batch *batch, int64_t d_model,
                                 struct gsae_error *err)
{
    (void)err;
    (void)d_model;
    struct ref_steer *r = ctx;
    if (strcmp(name, "resid_post") == 0 && layer == HOOK_LAYER) steer_rows(r->s, batch, r->seq, x);
    return GSAE_OK;
}

/* Work: n sequences of lengths 3 + (7 s mod 6), tokens from a seeded stream. */
struct test_work {
    struct pipe_work w;
    int32_t *tok[8];
    int64_t n_tok[8];
    int64_t mb_first[9];
};

static void work_init(struct test_work *t, int64_t n_seq, int64_t per_mb, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    struct rng r;
    rng_seed(&r, seed);
    for (int64_t s = 0; s < n_seq; s++) {
        t->n_tok[s] = 3 + (7 * s) % 6;
        t->tok[s] = malloc((size_t)t->n_tok[s] * sizeof(int32_t));
        for (int64_t i = 0; i < t->n_tok[s]; i++)
            t->tok[s][i] = (int32_t)rng_below(&r, 97);
    }
    int64_t m = 0;
    for (int64_t s = 0; s < n_seq; s += per_mb)
        t->mb_first[m++] = s;
    t->mb_first[m] = n_seq;
    t->w.n_seq = n_seq;
    t->w.tokens = (const int32_t *const *)t->tok;
    t->w.n_tok = t->n_tok;
    t->w.n_mb = m;
    t->w.mb_first = t->mb_first;
}

static void work_free(struct test_work *t)
{
    for (int s = 0; s < 8; s++)
        free(t->tok[s]);
}

/* Blobs recorded on this rank: sink outputs and sampler logits. */
struct record {
    struct dist_blob blobs[128];
    int64_t n;
};

static void record_add(struct record *r, const char *name, const float *x, int64_t n)
{
    struct dist_blob *b = &r->blobs[r->n++];
    snprintf(b->name, sizeof b->name, "%s", name);
    b->n = n;
    b->data = malloc((size_t)n * sizeof(float));
    memcpy(b->data, x, (size_t)n * sizeof(float));
}

static enum gsae_status sink_fn(void *ctx, struct pipe *p, const struct pipe_rows *rows,
                                const float *x, int64_t d_model, struct gsae_error *err)
{
    (void)p;
    (void)err;
    struct record *r = ctx;
    int64_t row = 0;
    for (int64_t k = 0; k < rows->batch->n_seq; k++) {
        char name[32];
        snprintf(name, sizeof name, "seq.%lld", (long long)rows->seq[k]);
        record_add(r, name, x + row * d_model, rows->batch->n_tok[k] * d_model);
        row += rows->batch->n_tok[k];
    }
    return GSAE_OK;
}

static int32_t argmax(const float *v, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return (int32_t)best;
}

static enum gsae_status sampler_fn(void *ctx, const struct pipe_rows *rows, int64_t i,
                                   const float *logits, int64_t n_vocab, int32_t *token,
                                   struct gsae_error *err)
{
    (void)err;
    struct record *r = ctx;
    char name[32];
    snprintf(name, sizeof name, "gen.%lld.%lld", (long long)rows->seq[i], (long long)rows->step);
    record_add(r, name, logits, n_vocab);
    *token = argmax(logits, n_vocab);
    return GSAE_OK;
}

static const struct dist_blob *find_blob(const struct dist_blob *b, int64_t n, const char *name)
{
    for (int64_t i = 0; i < n; i++)
        if (strcmp(b[i].name, name) == 0) return &b[i];
    return NULL;
}

static void check_blob(const struct dist_blob *all, int64_t n_all, const char *name,
                       const float *want, int64_t n)
{
    const struct dist_blob *b = find_blob(all, n_all, name);
    if (!b || b->n != n || memcmp(b->data, want, (size_t)n * sizeof(float)) != 0) {
        fprintf(stderr, "blob %s: %s\n", name, b ? "differs from the direct forward" : "missing");
        n_failed++;
    }
}

/* Rank 0: the same prefill micro-batches through gemma_forward directly. */
static void reference_prefill(const struct fake_model *m, const struct test_work *t,
                              int64_t n_layers, struct steer *s, const struct dist_blob *all,
                              int64_t n_all)
{
    struct gemma_state st;
    struct gsae_error err = {0};
    CHECK_OK(gemma_state_init(&st, &m->cfg, 0, N_LAYERS, 4, 16, 32, &err));
    float *x = malloc(32 * D * sizeof(float));
    int32_t tok[32];
    for (int64_t mb = 0; mb < t->w.n_mb; mb++) {
        int64_t first = t->mb_first[mb], n = t->mb_first[mb + 1] - first, rows = 0;
        int64_t slot[4], pos0[4] = {0}, seq[4];
        for (int64_t k = 0; k < n; k++) {
            slot[k] = k;
            seq[k] = first + k;
            memcpy(tok + rows, t->tok[first + k], (size_t)t->n_tok[first + k] * sizeof(int32_t));
            rows += t->n_tok[first + k];
        }
        struct gemma_batch b = {n, rows, slot, pos0, t->n_tok + first};
        struct ref_steer rs = {s, seq};
        struct gemma_hook h = {ref_hook, &rs};
        CHECK_OK(gemma_embed(&m->cfg, &m->w, tok, rows, x, &err));
        CHECK_OK(gemma_forward(&m->w, &st, &b, x, 0, n_layers, &h, &err));
        int64_t row = 0;
        for (int64_t k = 0; k < n; k++) {
            char name[32];
            snprintf(name, sizeof name, "seq.%lld", (long long)(first + k));
            check_blob(all, n_all, name, x + row * D, t->n_tok[first + k] * D);
            row += t->n_tok[first + k];
        }
    }
    free(x);
    gemma_state_free(&st);
}

/* Rank 0: greedy generation of each sequence alone (one sequence per micro-batch). */
static void reference_generate(const struct fake_model *m, const struct test_work *t, int64_t n_new,
                               struct steer *s, const struct dist_blob *all, int64_t n_all,
                               const int32_t *tokens)
{
    struct gemma_state st;
    struct gsae_error err = {0};
    CHECK_OK(gemma_state_init(&st, &m->cfg, 0, N_LAYERS, 1, 16, 16, &err));
    float *x = malloc(16 * D * sizeof(float)), *logits = malloc(97 * sizeof(float));
    for (int64_t q = 0; q < t->w.n_seq; q++) {
        int64_t slot = 0, pos0 = 0, n_tok = t->n_tok[q];
        struct ref_steer rs = {s, &q};
        struct gemma_hook h = {ref_hook, &rs};
        int32_t next = 0;
        for (int64_t step = 0; step < n_new; step++) {
            struct gemma_batch b = {1, n_tok, &slot, &pos0, &n_tok};
            CHECK_OK(gemma_embed(&m->cfg, &m->w, step == 0 ? t->tok[q] : &next, n_tok, x, &err));
            CHECK_OK(gemma_forward(&m->w, &st, &b, x, 0, N_LAYERS, &h, &err));
            CHECK_OK(gemma_logits(&m->w, &st, x + (n_tok - 1) * D, 1, logits, &err));
            char name[32];
            snprintf(name, sizeof name, "gen.%lld.%lld", (long long)q, (long long)step);
            check_blob(all, n_all, name, logits, 97);
            next = argmax(logits, 97);
            CHECK(tokens[q * n_new + step] == next);
            pos0 += n_tok;
            n_tok = 1;
        }
    }
    free(x);
    free(logits);
    gemma_state_free(&st);
}

/* One layout: n_stages stages on all ranks. */
static void run_layout(const struct fake_model *m, int n_stages)
{
    struct gsae_error err = {0};
    int size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    struct plan_options o = {.n_ranks = size,
                             .n_stages = n_stages,
                             .with_logits = true,
                             .dtype = GSAE_DTYPE_F32,
                             .ctx_len = 8};
    struct plan plan;
    struct dist d;
    CHECK_OK(plan_make(&plan, &m->cfg, &o, &err));
    CHECK_OK(dist_open(&d, MPI_COMM_WORLD, plan.n_stages, &err));
    struct plan_stage ps = plan.stages[d.stage_index];
    struct steer s = {ps.layer_begin, ps.layer_end, 0, 0, {0}};
    for (int j = 0; j < D; j++)
        s.direction[j] = (float)((j % 7) - 3) * 0.1f;

    struct test_work pre, gen;
    work_init(&pre, 7, 2, 11);
    work_init(&gen, 5, 1, 22);
    struct pipe_limits lim_pre, lim_gen, lim;
    pipe_limits_of_work(&pre.w, 0, d.n_replicas, &lim_pre);
    pipe_limits_of_work(&gen.w, 6, d.n_replicas, &lim_gen);
    lim = lim_pre;
    lim.max_group = lim_pre.max_group > lim_gen.max_group ? lim_pre.max_group : lim_gen.max_group;
    lim.max_rows = lim_pre.max_rows > lim_gen.max_rows ? lim_pre.max_rows : lim_gen.max_rows;
    lim.n_slots = lim_pre.n_slots > lim_gen.n_slots ? lim_pre.n_slots : lim_gen.n_slots;
    lim.max_seq = lim_pre.max_seq > lim_gen.max_seq ? lim_pre.max_seq : lim_gen.max_seq;

    struct pipe p;
    CHECK_OK(pipe_open(&p, &d, &plan, &m->cfg, &m->w, &lim, 1, &err));
    struct record rec = {0};
    struct pipe_hook hook = {pipe_steer, &s};
    struct pipe_sink sink = {sink_fn, &rec};
    struct pipe_sampler sampler = {sampler_fn, &rec};
    CHECK_OK(pipe_prefill(&p, &pre.w, &hook, &sink, &err));
    int32_t tokens[5 * 6];
    CHECK_OK(pipe_generate(&p, &gen.w, 6, &hook, &sampler, tokens, &err));
    CHECK(s.misplaced == 0);
    /* The hook layer's owner in each replica saw every row of its replica's micro-batches. */
    int64_t calls = 0;
    MPI_Allreduce(&s.calls, &calls, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    CHECK(calls == pre.w.n_mb + gen.w.n_mb * 6);
    CHECK(s.calls == 0 || (HOOK_LAYER >= ps.layer_begin && HOOK_LAYER < ps.layer_end));

    struct dist_blob *all = NULL;
    int64_t n_all = 0;
    CHECK_OK(dist_collect(&d, rec.blobs, rec.n, &all, &n_all, &err));
    if (d.rank == 0) {
        struct steer ref = s;
        CHECK(n_all == pre.w.n_seq + gen.w.n_seq * 6);
        reference_prefill(m, &pre, N_LAYERS, &ref, all, n_all);
        reference_generate(m, &gen, 6, &ref, all, n_all, tokens);
    }
    /* Every rank got the same tokens. */
    int32_t first[5 * 6];
    memcpy(first, tokens, sizeof first);
    MPI_Bcast(first, 5 * 6, MPI_INT, 0, MPI_COMM_WORLD);
    CHECK(memcmp(first, tokens, sizeof first) == 0);

    dist_blobs_free(all, n_all);
    for (int64_t i = 0; i < rec.n; i++)
        free(rec.blobs[i].data);
    pipe_close(&p);
    work_free(&pre);
    work_free(&gen);
    dist_close(&d);
    plan_free(&plan);
}

/* A truncated pipeline (layers 0..HOOK_LAYER, no logits): the last stage owns the hooked layer
 * and hands resid_post.HOOK_LAYER to the sink; stages see no weights of later layers. */
static void run_truncated(const struct fake_model *m, int n_stages)
{
    struct gsae_error err = {0};
    int size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    struct plan_options o = {.n_ranks = size,
                             .n_stages = n_stages,
                             .n_layers = HOOK_LAYER + 1,
                             .dtype = GSAE_DTYPE_F32,
                             .ctx_len = 8};
    struct plan plan;
    struct dist d;
    CHECK_OK(plan_make(&plan, &m->cfg, &o, &err));
    CHECK_OK(dist_open(&d, MPI_COMM_WORLD, plan.n_stages, &err));
    struct plan_stage ps = plan.stages[d.stage_index];
    CHECK(plan.stages[plan.n_stages - 1].layer_end == HOOK_LAYER + 1);
    /* This stage's view of the model: its layers only (and the embedding on the first). */
    struct gemma_layer_weights layers[N_LAYERS];
    memset(layers, 0, sizeof layers);
    for (int64_t l = ps.layer_begin; l < ps.layer_end; l++)
        layers[l] = m->layers[l];
    struct gemma_weights w = {.layers = layers};
    if (ps.has_embed) w.embed = m->w.embed;
    struct steer s = {ps.layer_begin, ps.layer_end, 0, 0, {0}};
    for (int j = 0; j < D; j++)
        s.direction[j] = (float)((j % 5) - 2) * 0.2f;
    struct test_work pre;
    work_init(&pre, 7, 3, 33);
    struct pipe_limits lim;
    pipe_limits_of_work(&pre.w, 0, d.n_replicas, &lim);
    struct pipe p;
    CHECK_OK(pipe_open(&p, &d, &plan, &m->cfg, &w, &lim, 1, &err));
    struct record rec = {0};
    struct pipe_hook hook = {pipe_steer, &s};
    struct pipe_sink sink = {sink_fn, &rec};
    CHECK_OK(pipe_prefill(&p, &pre.w, &hook, &sink, &err));
    CHECK(s.misplaced == 0);
    struct dist_blob *all = NULL;
    int64_t n_all = 0;
    CHECK_OK(dist_collect(&d, rec.blobs, rec.n, &all, &n_all, &err));
    if (d.rank == 0) {
        CHECK(n_all == pre.w.n_seq);
        reference_prefill(m, &pre, HOOK_LAYER + 1, &s, all, n_all);
    }
    dist_blobs_free(all, n_all);
    for (int64_t i = 0; i < rec.n; i++)
        free(rec.blobs[i].data);
    pipe_close(&p);
    work_free(&pre);
    dist_close(&d);
    plan_free(&plan);
}

/* dist_agree: one failing rank's message reaches every rank; when all fail each keeps its own;
 * when none fails nothing changes. */
static void check_agree(void)
{
    int rank = 0, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    struct gsae_error err = {0};
    CHECK(dist_agree(MPI_COMM_WORLD, GSAE_OK, &err) == GSAE_OK);
    int culprit = size - 1;
    enum gsae_status mine = GSAE_OK;
    if (rank == culprit) mine = gsae_fail(&err, GSAE_ENOTFOUND, "shard %d missing", rank);
    CHECK(dist_agree(MPI_COMM_WORLD, mine, &err) == GSAE_ENOTFOUND);
    char want[128];
    if (rank == culprit)
        snprintf(want, sizeof want, "shard %d missing", culprit);
    else
        snprintf(want, sizeof want, "rank %d failed: shard %d missing", culprit, culprit);
    CHECK(strcmp(err.msg, want) == 0);
    gsae_fail(&err, GSAE_EINVAL, "bad option on rank %d", rank);
    CHECK(dist_agree(MPI_COMM_WORLD, GSAE_EINVAL, &err) == GSAE_EINVAL);
    snprintf(want, sizeof want, "bad option on rank %d", rank);
    CHECK(strcmp(err.msg, want) == 0);
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
    int size = 0, rank = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    check_agree();
    struct fake_model m;
    fake_init(&m);
    for (int s = 1; s <= size; s++) {
        if (size % s != 0 || s > N_LAYERS + 1) continue;
        run_layout(&m, s);
        if (s <= HOOK_LAYER + 1) run_truncated(&m, s);
        if (rank == 0)
            printf("%d ranks, %d stages x %d replicas: %s\n", size, s, size / s,
                   n_failed ? "FAIL" : "ok");
    }
    int failed = 0;
    MPI_Allreduce(&n_failed, &failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    fake_free(&m);
    MPI_Finalize();
    return failed ? 1 : 0;
}
