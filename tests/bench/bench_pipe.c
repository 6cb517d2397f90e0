/* bench_pipe.c: streaming prefill throughput of the pipeline on a real checkpoint.
 *
 *   mpirun -np N bench_pipe MODEL_DIR [--seqs 64] [--tokens 32] [--per-mb 1] [--stages S]
 *                                     [--threads T] [--repeat 3] [--label NAME]
 *
 * Runs every layer of the checkpoint as a truncated pipeline (prefill only, no logits: the
 * harvest workload) over --seqs random sequences of --tokens tokens, --per-mb sequences per
 * micro-batch, after a warm-up micro-batch per replica (first touch of the weights). The timed
 * part runs --repeat times; rank 0 prints the median tokens/s with its spread (min-max over the
 * repeats), and from the last repeat the per-rank compute / wait / bubble (fill + drain) shares,
 * and per rank the checkpoint bytes it mapped, selected, and touched inside and outside its own
 * tensors (pages present in this process's page table, from /proc/self/pagemap). A fingerprint of
 * the final activations shows the layouts compute the same bits. The last line, "BENCH key=value
 * ...", is for tests/bench/pipe.sh. With --generate N the plan has logits (last stage unembeds) and
 * the timed part is greedy generation of N tokens for every sequence, all micro-batches in flight.
 * Run with no arguments (as tests/bench/run.sh does) it runs tests/bench/pipe.sh, which makes the
 * checkpoint and runs every layout.
 */
#include <fcntl.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../io/ckpt.h"
#include "../../mpi/dist.h"
#include "../../mpi/pipe.h"
#include "../../mpi/plan.h"
#include "../../src/hash.h"
#include "../../src/rng.h"
#include "../../src/sampler.h"

struct options {
    const char *dir, *label;
    int64_t n_seq, n_tok, per_mb, n_new;
    int n_stages, n_threads, repeat;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int parse(int argc, char **argv, struct options *o)
{
    *o = (struct options){NULL, "run", 64, 32, 1, 0, 0, 1, 3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            o->dir = a;
            continue;
        }
        if (!v) return 0;
        i++;
        if (!strcmp(a, "--seqs"))
            o->n_seq = atoll(v);
        else if (!strcmp(a, "--tokens"))
            o->n_tok = atoll(v);
        else if (!strcmp(a, "--per-mb"))
            o->per_mb = atoll(v);
        else if (!strcmp(a, "--stages"))
            o->n_stages = atoi(v);
        else if (!strcmp(a, "--threads"))
            o->n_threads = atoi(v);
        else if (!strcmp(a, "--generate"))
            o->n_new = atoll(v);
        else if (!strcmp(a, "--repeat"))
            o->repeat = atoi(v);
        else if (!strcmp(a, "--label"))
            o->label = v;
        else
            return 0;
    }
    return o->dir && o->n_seq > 0 && o->n_tok > 0 && o->per_mb > 0 && o->n_new >= 0 &&
           o->repeat >= 1 && o->repeat <= 100;
}

static void die(const char *what, const struct gsae_error *err)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fprintf(stderr, "rank %d: %s: %s\n", rank, what, err->msg);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

/* Pages of [base, base + len) present in this process's page table, as a byte array (1 =
 * present); NULL when /proc/self/pagemap cannot be read. */
static unsigned char *present_pages(const unsigned char *base, size_t len, size_t *n_pages)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), first = (size_t)base / page;
    size_t n = ((size_t)base + len + page - 1) / page - first;
    unsigned char *out = calloc(n + 1, 1);
    uint64_t *buf = malloc(4096 * sizeof *buf);
    int fd = open("/proc/self/pagemap", O_RDONLY);
    *n_pages = n;
    for (size_t at = 0; fd >= 0 && out && buf && at < n; at += 4096) {
        size_t m = n - at < 4096 ? n - at : 4096;
        ssize_t got = pread(fd, buf, m * 8, (off_t)((first + at) * 8));
        if (got != (ssize_t)(m * 8)) break;
        for (size_t k = 0; k < m; k++)
            out[at + k] = (unsigned char)(buf[k] >> 63);
    }
    if (fd >= 0) close(fd);
    free(buf);
    return out;
}

/* Bytes of the checkpoint mappings touched inside and outside this rank's selected tensors. */
static void touched(const struct ckpt *ck, double *mapped, double *inside, double *outside)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    *mapped = *inside = *outside = 0.0;
    for (int64_t f = 0; f < ck->n_files; f++) {
        const unsigned char *base = ck->files[f].map;
        size_t n = 0, first = (size_t)base / page;
        unsigned char *present = present_pages(base, ck->files[f].map_size, &n);
        unsigned char *own = calloc(n + 1, 1);
        if (!present || !own) {
            free(present);
            free(own);
            continue;
        }
        for (int64_t t = 0; t < ck->n_tensors; t++) {
            const unsigned char *d = ck->tensors[t].t.data;
            if (d < base || d >= base + ck->files[f].map_size || ck->tensors[t].bytes == 0)
                continue;
            size_t p0 = (size_t)d / page - first;
            size_t p1 = ((size_t)d + ck->tensors[t].bytes - 1) / page - first;
            memset(own + p0, 1, p1 - p0 + 1);
        }
        for (size_t k = 0; k < n; k++) {
            if (present[k] && own[k])
                *inside += (double)page;
            else if (present[k])
                *outside += (double)page;
        }
        *mapped += (double)ck->files[f].map_size;
        free(present);
        free(own);
    }
}

/* CPU time of this process (all its threads), seconds. */
static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static enum gsae_status argmax_pick(void *ctx, const struct pipe_rows *rows, int64_t i,
                                    const float *logits, int64_t n_vocab, int32_t *token,
                                    struct gsae_error *err)
{
    (void)ctx, (void)rows, (void)i, (void)err;
    *token = sampler_argmax(logits, n_vocab);
    return GSAE_OK;
}

struct fingerprint {
    double *sums; /* (n_seq) sum of each sequence's final activations */
};

static enum gsae_status sink_sum(void *ctx, struct pipe *p, const struct pipe_rows *rows,
                                 const float *x, int64_t d_model, struct gsae_error *err)
{
    (void)p;
    (void)err;
    struct fingerprint *f = ctx;
    int64_t row = 0;
    for (int64_t k = 0; k < rows->batch->n_seq; k++) {
        double s = 0.0;
        for (int64_t i = 0; i < rows->batch->n_tok[k] * d_model; i++)
            s += (double)x[row * d_model + i];
        f->sums[rows->seq[k]] = s;
        row += rows->batch->n_tok[k];
    }
    return GSAE_OK;
}

/* Called bare by tests/bench/run.sh (`make bench`): run the whole comparison script, which
 * makes the checkpoint and calls this program under mpirun in each layout. Returns only on
 * failure. */
static int exec_script(const char *top, const char *argv0)
{
    char script[4096], build[4096];
    snprintf(script, sizeof script, "%s/tests/bench/pipe.sh", top);
    snprintf(build, sizeof build, "%s", argv0);
    char *slash = strrchr(build, '/');
    for (int up = 0; up < 2 && slash; up++) { /* BUILD/tests/bench_pipe -> BUILD */
        *slash = '\0';
        slash = strrchr(build, '/');
    }
    execl("/bin/bash", "bash", script, build, (char *)NULL);
    perror(script);
    return 1;
}

/* The model of one layout: plan, communicators, this stage's tensors, the pipe. */
struct setup {
    struct gemma_config cfg;
    struct plan plan;
    struct dist d;
    struct ckpt ck;
    struct pipe p;
};

/* The random sequences and their micro-batches (all of them, and a warm-up of one per
 * replica); arrays malloc'd into w (freed by work_free). */
struct work {
    int32_t *ids;
    const int32_t **tok;
    int64_t *n_tok, *mb_first, n_mb;
    struct pipe_work all, warm;
};

static void work_make(struct work *w, const struct options *o, const struct gemma_config *cfg,
                      int n_replicas)
{
    struct rng r;
    rng_seed(&r, 7);
    w->ids = malloc((size_t)(o->n_seq * o->n_tok) * sizeof *w->ids);
    w->tok = malloc((size_t)o->n_seq * sizeof *w->tok);
    w->n_tok = malloc((size_t)o->n_seq * sizeof *w->n_tok);
    w->n_mb = (o->n_seq + o->per_mb - 1) / o->per_mb;
    w->mb_first = malloc((size_t)(w->n_mb + 1) * sizeof *w->mb_first);
    for (int64_t i = 0; i < o->n_seq * o->n_tok; i++)
        w->ids[i] = (int32_t)rng_below(&r, (uint64_t)cfg->n_vocab);
    for (int64_t q = 0; q < o->n_seq; q++) {
        w->tok[q] = w->ids + q * o->n_tok;
        w->n_tok[q] = o->n_tok;
    }
    for (int64_t m = 0; m <= w->n_mb; m++)
        w->mb_first[m] = m * o->per_mb < o->n_seq ? m * o->per_mb : o->n_seq;
    w->all = (struct pipe_work){o->n_seq, w->tok, w->n_tok, w->n_mb, w->mb_first};
    int64_t n_warm = w->n_mb < n_replicas ? w->n_mb : n_replicas;
    w->warm = (struct pipe_work){w->mb_first[n_warm], w->tok, w->n_tok, n_warm, w->mb_first};
}

static void work_free(struct work *w)
{
    free(w->ids), free(w->tok), free(w->n_tok), free(w->mb_first);
}

static void setup_open(struct setup *su, const struct options *o, int size, struct work *w)
{
    struct gsae_error err = {0};
    if (ckpt_config_load(o->dir, &su->cfg, &err)) die("config", &err);
    struct plan_options po = {.n_ranks = size,
                              .n_stages = o->n_stages,
                              .with_logits = o->n_new > 0,
                              .dtype = GSAE_DTYPE_BF16,
                              .ctx_len = o->n_tok};
    if (plan_make(&su->plan, &su->cfg, &po, &err) ||
        dist_open(&su->d, MPI_COMM_WORLD, su->plan.n_stages, &err))
        die("plan", &err);
    const struct plan_stage *s = &su->plan.stages[su->d.stage_index];
    struct ckpt_select sel = {s->layer_begin, s->layer_end, s->has_embed || s->has_unembed,
                              s->has_unembed};
    if (dist_agree(su->d.world, ckpt_open(&su->ck, o->dir, &sel, &err), &err))
        die("checkpoint", &err);
    dist_threads_apply(o->n_threads);
    work_make(w, o, &su->cfg, su->d.n_replicas);
    struct pipe_limits lim;
    pipe_limits_of_work(&w->all, o->n_new, su->d.n_replicas, &lim);
    if (dist_agree(
            su->d.world,
            pipe_open(&su->p, &su->d, &su->plan, &su->cfg, &su->ck.w, &lim, o->n_threads, &err),
            &err))
        die("pipeline", &err);
}

/* o->repeat timed runs of the same work; rep_secs sorted ascending; *cpu: the last run's CPU
 * seconds on this rank. */
static void timed_runs(struct setup *su, const struct options *o, struct work *w,
                       const struct pipe_sink *sink, int32_t *gen, double *rep_secs, double *cpu)
{
    struct gsae_error err = {0};
    struct pipe_sampler sampler = {argmax_pick, NULL};
    for (int k = 0; k < o->repeat; k++) { /* the same work each time: same bits */
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime(), c0 = cpu_seconds();
        if (o->n_new > 0 && pipe_generate(&su->p, &w->all, o->n_new, NULL, &sampler, gen, &err))
            die("generate", &err);
        if (o->n_new == 0 && pipe_prefill(&su->p, &w->all, NULL, sink, &err)) die("prefill", &err);
        *cpu = cpu_seconds() - c0;
        MPI_Barrier(MPI_COMM_WORLD);
        rep_secs[k] = MPI_Wtime() - t0;
    }
    qsort(rep_secs, (size_t)o->repeat, sizeof *rep_secs, cmp_double);
}

/* Rank 0: the per-rank lines (all: 10 figures per rank, as gathered) and the totals. */
static void print_ranks(const struct options *o, const struct setup *su, const double *all,
                        int size, double *busy, double *core_share, double *worst_wait,
                        double *worst_bubble)
{
    printf("%s: %d ranks = %d replicas x %d stages, %lld layers, %lld seqs x %lld tokens, "
           "%lld micro-batches, %d threads/rank%s\n",
           o->label, size, su->d.n_replicas, su->d.n_stages, (long long)su->plan.n_layers,
           (long long)o->n_seq, (long long)o->n_tok,
           (long long)((o->n_seq + o->per_mb - 1) / o->per_mb), o->n_threads,
           o->n_new > 0 ? ", greedy generation (tokens/s counts generated tokens)" : "");
    for (int q = 0; q < size; q++) {
        const double *a = all + q * 10;
        printf("  rank %d: stage %d: compute %.2fs (%.1f%%), wait %.2fs (%.1f%%), bubble "
               "%.2fs (%.1f%%), CPU %.2fs (%.0f%% of a core); checkpoint mapped %.0f MiB, "
               "own tensors %.0f MiB, touched in own %.0f MiB, outside own %.2f MiB; "
               "activations+KV %.0f MiB\n",
               q, q % su->d.n_stages, a[1], 100 * a[1] / a[0], a[2], 100 * a[2] / a[0], a[3],
               100 * a[3] / a[0], a[9], 100 * a[9] / a[0], a[5] / 1048576, a[4] / 1048576,
               a[6] / 1048576, a[7] / 1048576, a[8] / 1048576);
        *core_share += a[9] / a[0] / size;
        *busy += a[1] / a[0] / size;
        if (a[2] / a[0] > *worst_wait) *worst_wait = a[2] / a[0];
        if (a[3] / a[0] > *worst_bubble) *worst_bubble = a[3] / a[0];
    }
}

/* Rank 0: the summary lines, with the fingerprint of the results (sums or generated ids). */
static void print_summary(const struct options *o, const struct setup *su, const double *all,
                          int size, const double *rep_secs, const void *bytes, size_t n_bytes)
{
    double busy = 0.0, core_share = 0.0, worst_wait = 0.0, worst_bubble = 0.0;
    print_ranks(o, su, all, size, &busy, &core_share, &worst_wait, &worst_bubble);
    uint64_t h = gsae_hash(bytes, n_bytes); /* FNV-1a over the results' bits */
    /* the median run (the lower middle one for an even count), and the fastest and slowest */
    double secs = rep_secs[(o->repeat - 1) / 2], fastest = rep_secs[0];
    double slowest = rep_secs[o->repeat - 1];
    double tokens = (double)(o->n_seq * (o->n_new > 0 ? o->n_new : o->n_tok));
    printf("  %.1f tokens/s median of %d runs (%.1f-%.1f; %.2f s), fingerprint %016llx\n",
           tokens / secs, o->repeat, tokens / slowest, tokens / fastest, secs,
           (unsigned long long)h);
    printf("BENCH label=%s ranks=%d stages=%d replicas=%d tok_s=%.3f tok_s_min=%.3f "
           "tok_s_max=%.3f repeats=%d secs=%.3f wait_share=%.4f bubble_share=%.4f busy=%.4f "
           "core_share=%.3f fingerprint=%016llx\n",
           o->label, size, su->d.n_stages, su->d.n_replicas, tokens / secs, tokens / slowest,
           tokens / fastest, o->repeat, secs, worst_wait, worst_bubble, busy, core_share,
           (unsigned long long)h);
}

int main(int argc, char **argv)
{
    const char *top = getenv("TOP");
    if (argc == 1 && top && !getenv("OMPI_COMM_WORLD_SIZE")) return exec_script(top, argv[0]);
    MPI_Init(&argc, &argv);
    struct options o;
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (!parse(argc, argv, &o)) {
        if (rank == 0)
            fprintf(stderr, "usage: bench_pipe MODEL_DIR [--seqs N] [--tokens T] [--per-mb G] "
                            "[--stages S] [--threads K] [--generate N] [--repeat R] "
                            "[--label NAME]\n");
        MPI_Finalize();
        return 2;
    }
    struct setup su = {0};
    struct work w = {0};
    setup_open(&su, &o, size, &w);
    struct gsae_error err = {0};
    struct fingerprint fp = {calloc((size_t)o.n_seq, sizeof(double))};
    struct pipe_sink sink = {sink_sum, &fp};
    if (pipe_prefill(&su.p, &w.warm, NULL, &sink, &err)) die("warm-up", &err);
    int32_t *gen = calloc((size_t)(o.n_seq * o.n_new) + 1, sizeof *gen);
    double rep_secs[100], cpu = 0.0;
    timed_runs(&su, &o, &w, &sink, gen, rep_secs, &cpu);

    double mine[10], *all = malloc((size_t)size * sizeof mine);
    touched(&su.ck, &mine[5], &mine[6], &mine[7]);
    mine[0] = su.p.stats.total_s;
    mine[1] = su.p.stats.compute_s;
    mine[2] = su.p.stats.wait_s;
    mine[3] = su.p.stats.fill_s + su.p.stats.drain_s;
    mine[4] = (double)ckpt_bytes_selected(&su.ck);
    mine[8] = (double)pipe_bytes(&su.p);
    mine[9] = cpu;
    MPI_Gather(mine, 10, MPI_DOUBLE, all, 10, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    double *sums = calloc((size_t)o.n_seq, sizeof(double));
    MPI_Reduce(fp.sums, sums, (int)o.n_seq, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        const void *bytes = o.n_new > 0 ? (const void *)gen : (const void *)sums;
        size_t n_bytes = o.n_new > 0 ? (size_t)(o.n_seq * o.n_new) * sizeof *gen
                                     : (size_t)o.n_seq * sizeof(double);
        print_summary(&o, &su, all, size, rep_secs, bytes, n_bytes);
    }
    free(sums), free(gen), free(all), free(fp.sums);
    pipe_close(&su.p);
    ckpt_close(&su.ck);
    work_free(&w);
    dist_close(&su.d);
    plan_free(&su.plan);
    MPI_Finalize();
    return 0;
}
