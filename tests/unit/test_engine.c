/* test_engine.c: engine_open with several SAEs, each applied on the stage owning its layer.
 *
 * Runs alone (one rank) in the unit suite and under mpirun from tests/mpi/t_engine.sh (2 ranks:
 * 2 stages; 4 ranks: 2 replicas x 2 stages). On the golden case tiny-gqa-bf16 (6 layers) with
 * its SAE hooked at layers 1, 2 and 3 of one truncated engine:
 *  - each hook's last-token features (mpi/promptset.h) equal, bit for bit, those of an engine
 *    opened with that SAE alone (its own plan, truncated after its own layer), and differ
 *    between hooks (so the comparison can fail);
 *  - one prefill calls every hook's subscribers, in subscription order, on the owning stage
 *    only, once per micro-batch;
 *  - a hook at a layer the model does not have fails on every rank with the same message.
 * Exit status 0 on success; failures print the check and the rank.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../mpi/engine.h"
#include "../../mpi/promptset.h"

static int n_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            n_failed++;                                                                            \
        }                                                                                          \
    } while (0)

#define N_SEQ   3
#define N_HOOKS 3
static const int64_t hook_layers[N_HOOKS] = {1, 2, 3};

struct work {
    int32_t ids[N_SEQ][12];
    const int32_t *tokens[N_SEQ];
    int64_t n_tok[N_SEQ], mb_first[N_SEQ + 1];
    struct pipe_work w;
};

static void work_init(struct work *k)
{
    for (int64_t s = 0; s < N_SEQ; s++) {
        k->n_tok[s] = 5 + 3 * s;
        for (int64_t t = 0; t < k->n_tok[s]; t++)
            k->ids[s][t] = t == 0 ? 2 : (int32_t)((37 * s + 11 * t) % 200 + 3);
        k->tokens[s] = k->ids[s];
        k->mb_first[s] = s;
    }
    k->mb_first[N_SEQ] = N_SEQ;
    k->w = (struct pipe_work){N_SEQ, k->tokens, k->n_tok, N_SEQ, k->mb_first};
}

static enum gsae_status open_engine(struct engine *e, const char *dir, const struct engine_sae *s,
                                    int64_t n, int n_stages, const struct work *k,
                                    struct gsae_error *err)
{
    struct engine_config c = {.model_dir = dir,
                              .n_stages = n_stages,
                              .n_threads = 1,
                              .truncate = true,
                              .dtype = GSAE_DTYPE_BF16,
                              .ctx_len = 16,
                              .saes = s,
                              .n_saes = n,
                              .shape = &k->w};
    return engine_open(MPI_COMM_WORLD, &c, e, err);
}

struct calls {
    int64_t n, wrong, out_of_order, n_second;
    int64_t last_layer; /* the layer of the last `count` call */
};

static enum gsae_status count(void *ctx, const struct engine_hook *hook,
                              const struct pipe_rows *rows, float *x, int64_t d_model,
                              struct gsae_error *err)
{
    (void)rows, (void)x, (void)d_model, (void)err;
    struct calls *c = ctx;
    if (!hook->owned) c->wrong++;
    c->last_layer = hook->layer;
    c->n++;
    return GSAE_OK;
}

/* Subscribed after `count` on every hook: `count` of the same hook must have just run. */
static enum gsae_status second(void *ctx, const struct engine_hook *hook,
                               const struct pipe_rows *rows, float *x, int64_t d_model,
                               struct gsae_error *err)
{
    (void)rows, (void)x, (void)d_model, (void)err;
    struct calls *c = ctx;
    if (c->last_layer != hook->layer) c->out_of_order++;
    c->last_layer = -1;
    c->n_second++;
    return GSAE_OK;
}

/* One prefill reaches every hook's subscribers once per micro-batch, in subscription order,
 * only where owned. */
static void check_subscribers(struct engine *e, const struct work *k)
{
    struct calls c = {.last_layer = -1};
    struct gsae_error err = {0};
    for (int64_t i = 0; i < e->n_hooks; i++) {
        CHECK(engine_subscribe(e, i, (struct engine_sub){count, &c}, &err) == GSAE_OK);
        CHECK(engine_subscribe(e, i, (struct engine_sub){second, &c}, &err) == GSAE_OK);
    }
    CHECK(engine_prefill(e, &k->w, NULL, &err) == GSAE_OK);
    engine_unsubscribe_all(e);
    CHECK(c.wrong == 0 && c.out_of_order == 0 && c.n_second == c.n);
    long long mine = c.n, total = 0;
    MPI_Allreduce(&mine, &total, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    CHECK(total == (long long)N_HOOKS * N_SEQ);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int size = 0, rank = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int n_stages = size == 1 ? 1 : 2;
    const char *data = getenv("TESTDATA");
    char dir[4096], sae[4200];
    snprintf(dir, sizeof dir, "%s/gemma2/tiny-gqa-bf16", data ? data : "tests/data");
    snprintf(sae, sizeof sae, "%s/sae/params.npz", dir);
    struct work k;
    work_init(&k);
    struct engine_sae saes[N_HOOKS];
    for (int i = 0; i < N_HOOKS; i++)
        saes[i] = (struct engine_sae){sae, hook_layers[i]};
    struct gsae_error err = {0};
    struct engine all;
    enum gsae_status st = open_engine(&all, dir, saes, N_HOOKS, n_stages, &k, &err);
    CHECK(st == GSAE_OK);
    if (st != GSAE_OK) fprintf(stderr, "rank %d: %s\n", rank, err.msg);
    float *acts[N_HOOKS] = {0};
    int64_t d_sae = 0;
    for (int i = 0; st == GSAE_OK && i < N_HOOKS; i++) {
        CHECK(all.hooks[i].layer == hook_layers[i] && all.hooks[i].d_sae > 0);
        CHECK(promptset_last_acts(&all, i, &k.w, &acts[i], &d_sae, &err) == GSAE_OK);
    }
    if (st == GSAE_OK) check_subscribers(&all, &k);
    engine_close(&all, true);
    for (int i = 0; st == GSAE_OK && i < N_HOOKS; i++) {
        struct engine one;
        float *ref = NULL;
        int64_t d_ref = 0;
        CHECK(open_engine(&one, dir, &saes[i], 1, n_stages, &k, &err) == GSAE_OK);
        CHECK(promptset_last_acts(&one, 0, &k.w, &ref, &d_ref, &err) == GSAE_OK);
        if (rank == 0) {
            size_t bytes = (size_t)(N_SEQ * d_sae) * sizeof(float);
            CHECK(d_ref == d_sae && ref && acts[i] && memcmp(ref, acts[i], bytes) == 0);
            /* the comparison can fail: another hook's features are not these */
            CHECK(acts[i] && acts[(i + 1) % N_HOOKS] &&
                  memcmp(acts[i], acts[(i + 1) % N_HOOKS], bytes) != 0);
        }
        free(ref);
        engine_close(&one, true);
    }
    struct engine bad;
    struct engine_sae missing = {sae, 9};
    CHECK(open_engine(&bad, dir, &missing, 1, n_stages, &k, &err) == GSAE_EINVAL);
    CHECK(strstr(err.msg, "hook layer 9 does not exist") != NULL);
    engine_close(&bad, true);
    for (int i = 0; i < N_HOOKS; i++)
        free(acts[i]);
    int failed = 0;
    MPI_Allreduce(&n_failed, &failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("%d ranks, %d stages: %d hooks %s\n", size, n_stages, N_HOOKS,
               failed ? "FAIL" : "each equal to its single-SAE engine");
    MPI_Finalize();
    return failed ? 1 : 0;
}
