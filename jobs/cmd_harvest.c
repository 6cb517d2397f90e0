/* cmd_harvest.c: `gsae harvest`: run Gemma-2 up to resid_post.L over a corpus, encode every
 * token with the SAE and write a NetCDF-4 activation store with per-feature statistics.
 *
 * Set-up follows sae_session (config, plan, communicators, this stage's tensors, the SAE on
 * the stage owning the layer) with a truncated plan: layers 0..L only, no logits, so the last
 * stage's output is resid_post.L. The store layers (mpi/pstore.h) stream and window the corpus
 * on every rank and call the encoder once per round of parts: the round's windows become a
 * pipe_work whose micro-batches (windows_per_mb windows each) are interleaved so that
 * micro-batch m = j * R + k is the j-th group of replica k's part (the pipeline deals
 * micro-batch m to replica m % R). A replica with fewer groups in a round gets one-token
 * filler micro-batches whose output is dropped. The grouping depends on neither the number of
 * ranks nor the replica count, so the store does not either.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/ckpt.h"
#include "../io/corpus.h"
#include "../io/featstats_nc.h"
#include "../io/results_schema.h"
#include "../io/sae_io.h"
#include "../io/store.h"
#include "../io/store_id.h"
#include "../io/tokenizer_load.h"
#include "../mpi/dist.h"
#include "../mpi/pipe.h"
#include "../mpi/plan.h"
#include "../mpi/pstore.h"
#include "../src/sae.h"
#include "../src/tokenizer.h"
#include "cli.h"
#include "commands.h"
#include "hub_cli.h"
#include "job.h"
#include "runctl.h"
#include "sae_cli.h"
#include "sae_session.h"

struct harvest_opts {
    struct sae_session_opts s;
    const char *corpus, *out, *progress_csv, *freq_csv;
    int64_t context, wpp, wpmb, wpr, max_tokens, top_k;
    enum store_resid resid;
    enum corpus_on_bad on_bad;
};

static const struct opt_choice resids[] = {
    {"none", STORE_RESID_NONE}, {"f32", STORE_RESID_F32}, {"bf16", STORE_RESID_BF16}, {0}};
static const struct opt_choice on_bad_docs[] = {
    {"skip", CORPUS_ON_BAD_SKIP}, {"fail", CORPUS_ON_BAD_FAIL}, {0}};

#define O(f) offsetof(struct harvest_opts, f)
#define BIG  1125899906842624.0 /* 2^50 */
static const struct opt harvest_table[] = {
    {"corpus", OPT_STR, O(corpus), .flags = OPT_REQUIRED, .meta = "SHARDS",
     .help = "comma-separated paths or globs of .jsonl(.zst|.gz) or .txt"},
    {"out", OPT_STR, O(out), .flags = OPT_REQUIRED, .meta = "STORE", .help = "the store directory"},
    {"store", OPT_STR, O(out), .flags = OPT_HIDDEN, .meta = "STORE"},
    {"context", OPT_I64, O(context), "1024", 2, 1 << 20, .meta = "C", .help = "tokens per window"},
    {"windows-per-part", OPT_I64, O(wpp), "16", 1, BIG, .meta = "W", .help = "store part size"},
    {"windows-per-mb", OPT_I64, O(wpmb), "1", 1, BIG, .meta = "W",
     .help = "windows per micro-batch"},
    {"windows-per-round", OPT_I64, O(wpr), "0", 1, BIG, .meta = "N",
     .help = "windows per replica and round (default 2 x stages x windows-per-mb)"},
    {"max-tokens", OPT_I64, O(max_tokens), "0", 0, BIG, .meta = "N",
     .help = "stop after N tokens (whole windows; 0: the corpus)"},
    {"resid", OPT_ENUM, O(resid), "none", .choices = resids, .meta = "none|f32|bf16",
     .help = "also store the residuals"},
    {"on-bad-doc", OPT_ENUM, O(on_bad), "fail", .choices = on_bad_docs, .meta = "skip|fail",
     .help = "what a malformed document does"},
    {"top-k", OPT_I64, O(top_k), "32", 1, 1024, .meta = "K",
     .help = "max-activating examples kept per feature"},
    {"progress", OPT_STR, O(progress_csv), .meta = "CSV",
     .help = "append seconds,tokens,rounds after every round"},
    {"freq", OPT_STR, O(freq_csv), .meta = "CSV", .help = "write feature,frequency at the end"},
    {0},
};
#undef BIG
#undef O

const struct opt_cmd harvest_cmd = {
    "harvest",
    .synopsis =
        "--job FILE [OPTIONS]   (the [harvest] section's keys; under [mpirun -np N])\n"
        "       gsae harvest --model MODEL --sae SAE --corpus SHARDS --out STORE\n"
        "           [--layer L] [--tokenizer PATH] [--stages S] [--layers SPEC] [--threads T]\n"
        "           [--context 1024] [--windows-per-part 16] [--windows-per-mb 1]\n"
        "           [--windows-per-round N] [--max-tokens N] [--resid none|f32|bf16]\n"
        "           [--on-bad-doc skip|fail] [--top-k 32] [--progress CSV] [--freq CSV]",
    .about =
        "Run the model to resid_post.L over the corpus (comma-separated paths or globs of .jsonl,\n"
        ".jsonl.zst, .jsonl.gz or .txt), encode each token with the SAE and write the store\n"
        "directory STORE (io/store.h; --store is the same as --out). Resumable: a rerun continues\n"
        "where a killed or stopped run left off. The model runs in harvest rounds of\n"
        "--windows-per-round windows per replica (default 2 x stages x windows-per-mb, at most a\n"
        "part; the store does not depend on it). SIGTERM/SIGUSR1 finish the round in flight, "
        "commit\n"
        "the windows done (a partial part, completed by the rerun) and exit 75. --progress "
        "appends\n"
        "seconds,tokens,rounds rows (after every round); --freq writes feature,frequency at the "
        "end.\n"
        "Windows follow SAELens (prepend_bos): see src/window.h.\n",
    .size = sizeof(struct harvest_opts),
    .groups = {{sae_session_model_opts, offsetof(struct harvest_opts, s)}, {harvest_table, 0}},
};

/* Everything one rank holds. */
struct harvest {
    struct dist d;
    struct plan plan;
    struct ckpt ck;
    struct pipe p;
    struct gemma_config cfg;
    struct tokenizer tk;
    struct tokenizer_work tk_work; /* zeroed is ready; caches pieces across documents */
    bool has_tk, last_stage;
    struct sae_params sae;
    struct sae_info info;
    struct sae_encoder enc;
    struct sae_acts acts;
    int64_t layer, d_sae;
    uint64_t sae_hash, tok_hash;
    int n_threads;
    int64_t context, wpmb;
    enum store_resid resid;
    /* per round */
    const struct pstore_round *round;
    const struct pstore_sink *sink;
    int64_t *mb_part, *mb_first_window; /* (n_mb): replica slot k and first window; -1: filler */
    uint32_t *index;                    /* (context * d_sae) worst case, grown */
    int64_t *rows;                      /* (context + 1) */
    int64_t index_cap;
    struct runctl_progress progress;
    struct csv_writer progress_csv;
    int64_t max_tokens; /* the stream's end when --max-tokens is given (whole windows), else 0 */
    /* where the encoder's time went on this rank (pipe_stats, summed over rounds) */
    double t_compute, t_pipe_wait; /* inside stage tasks (incl. the sink); blocked or idle */
    double t_sink, t_sae;          /* the sink; of it, the SAE encode */
};

static int parse(int argc, char **argv, struct harvest_opts *o)
{
    int rc = opt_parse(&harvest_cmd, argc, argv, o);
    return rc == OPT_RUN ? 0 : rc;
}

static enum gsae_status tok_encode(void *ctx, const char *text, size_t len, int32_t **ids,
                                   int64_t *n, int64_t *cap, struct gsae_error *err)
{
    struct harvest *h = ctx;
    struct tokenizer_ids out = {*ids, 0, (size_t)*cap};
    enum gsae_status st = tokenizer_encode(&h->tk, text, len, false, &h->tk_work, &out, err);
    *ids = out.ids;
    *cap = (int64_t)out.cap;
    *n = (int64_t)out.n;
    return st;
}

static enum gsae_status open_local(struct harvest *h, const struct harvest_opts *o,
                                   struct gsae_error *err)
{
    enum gsae_status st = ckpt_config_load(o->s.model_dir, &h->cfg, err);
    char guess[4200];
    const char *tpath = o->s.tokenizer_path;
    struct stat sb;
    if (!tpath) {
        snprintf(guess, sizeof guess, "%s/tokenizer.json", o->s.model_dir);
        tpath = stat(guess, &sb) == 0 ? guess : NULL;
    }
    if (st == GSAE_OK && !tpath)
        st = gsae_fail(err, GSAE_EINVAL, "%s has no tokenizer.json: give --tokenizer PATH",
                       o->s.model_dir);
    if (st == GSAE_OK && (st = tokenizer_load(&h->tk, tpath, err)) == GSAE_OK) h->has_tk = true;
    if (st == GSAE_OK && h->tk.bos_id < 0)
        st = gsae_fail(err, GSAE_EINVAL, "%s: the tokenizer has no <bos> token", tpath);
    if (st == GSAE_OK) h->tok_hash = store_id_tokenizer(&h->tk);
    /* the layer comes from --layer or the SAE file; every rank reads the SAE's header data */
    if (st == GSAE_OK) st = sae_load(o->s.sae_path, &h->sae, &h->info, err);
    char warning[1024] = "";
    if (st == GSAE_OK)
        st = sae_check_model(&h->info, &h->sae, &h->cfg, NULL, o->s.layer, &h->layer, warning,
                             sizeof warning, err);
    if (st == GSAE_OK && h->layer < 0)
        st = gsae_fail(err, GSAE_EINVAL,
                       "%s: the file does not say which layer it hooks; give "
                       "--layer",
                       h->info.path);
    if (st != GSAE_OK) return st;
    if (warning[0] && cli_world_rank() == 0)
        fprintf(stderr, "gsae harvest: warning: %s\n", warning);
    h->d_sae = h->sae.d_sae;
    h->sae_hash = store_id_sae(&h->sae);
    struct plan_options po = {.n_ranks = cli_world_size(),
                              .n_stages = o->s.n_stages,
                              .n_layers = h->layer + 1,
                              .with_logits = false,
                              .dtype = GSAE_DTYPE_BF16,
                              .ctx_len = o->context,
                              .layers = o->s.layers};
    return plan_make(&h->plan, &h->cfg, &po, err);
}

static enum gsae_status open_stage(struct harvest *h, const struct harvest_opts *o,
                                   struct gsae_error *err)
{
    const struct plan_stage *ps = &h->plan.stages[h->d.stage_index];
    struct ckpt_select sel = {ps->layer_begin, ps->layer_end, ps->has_embed, false};
    enum gsae_status st = ckpt_open(&h->ck, o->s.model_dir, &sel, err);
    if (st == GSAE_OK)
        st = gemma_weights_check(&h->ck.cfg, &h->ck.w, ps->layer_begin, ps->layer_end, false, err);
    h->last_stage = h->d.stage_index == h->d.n_stages - 1;
    if (st == GSAE_OK && h->last_stage) {
        GSAE_ASSERT(ps->layer_end == h->layer + 1);
        st = sae_encoder_init(&h->enc, &h->sae, 0, err);
        if (st == GSAE_OK && o->s.sae_compute == GEMMA_COMPUTE_BF16)
            st = sae_encoder_set_bf16(&h->enc, err);
        if (st == GSAE_OK) st = sae_acts_init(&h->acts, o->wpmb * o->context, 0, err);
        h->rows = malloc((size_t)(o->context + 1) * sizeof *h->rows);
        if (st == GSAE_OK && !h->rows) st = gsae_fail(err, GSAE_ENOMEM, "harvest: out of memory");
    } else if (st == GSAE_OK) {
        sae_params_free(&h->sae);
    }
    if (st != GSAE_OK) return st;
    int64_t g = o->wpmb, mb_first[2] = {0, g};
    int64_t *n_tok = malloc((size_t)g * sizeof *n_tok);
    if (!n_tok) return gsae_fail(err, GSAE_ENOMEM, "harvest: out of memory");
    for (int64_t i = 0; i < g; i++)
        n_tok[i] = o->context;
    struct pipe_work work = {g, NULL, n_tok, 1, mb_first};
    struct pipe_limits lim;
    pipe_limits_of_work(&work, 0, h->d.n_replicas, &lim);
    lim.compute = o->s.compute;
    free(n_tok);
    return pipe_open(&h->p, &h->d, &h->plan, &h->cfg, &h->ck.w, &lim, h->n_threads, err);
}

static void harvest_close(struct harvest *h)
{
    pipe_close(&h->p);
    ckpt_close(&h->ck);
    dist_close(&h->d);
    plan_free(&h->plan);
    sae_encoder_free(&h->enc);
    sae_acts_free(&h->acts);
    sae_params_free(&h->sae);
    sae_info_free(&h->info);
    if (h->has_tk) tokenizer_free(&h->tk);
    tokenizer_work_free(&h->tk_work);
    free(h->mb_part);
    free(h->mb_first_window);
    free(h->index);
    free(h->rows);
    csv_writer_close(&h->progress_csv, NULL);
}

/* The encoded windows of one micro-batch (h->acts), window by window, to the store's sink. */
static enum gsae_status sink_windows(struct harvest *h, const struct pipe_rows *rows,
                                     const float *x, int64_t d_model, int64_t w0,
                                     struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    int64_t ctxn = h->context;
    for (int64_t s = 0; s < rows->batch->n_seq; s++) {
        int64_t r0 = s * ctxn, base = h->acts.row_ptr[r0], nnz = h->acts.row_ptr[r0 + ctxn] - base;
        if (nnz > h->index_cap) {
            uint32_t *grown = realloc(h->index, (size_t)nnz * sizeof *grown);
            if (!grown)
                return gsae_fail(err, GSAE_ENOMEM, "harvest: out of memory for %lld activations",
                                 (long long)nnz);
            h->index = grown;
            h->index_cap = nnz;
        }
        for (int64_t t = 0; t <= ctxn; t++)
            h->rows[t] = h->acts.row_ptr[r0 + t] - base;
        for (int64_t z = 0; z < nnz; z++)
            h->index[z] = (uint32_t)h->acts.feature[base + z];
        struct pstore_acts a = {h->rows, h->index, h->acts.value + base,
                                h->resid != STORE_RESID_NONE ? x + r0 * d_model : NULL};
        if ((st = h->sink->put(h->sink->ctx, w0 + s, &a, err)) != GSAE_OK) return st;
    }
    return GSAE_OK;
}

/* Last stage: resid_post.L of one micro-batch -> SAE -> the store's sink, window by window. */
static enum gsae_status pipe_sink_fn(void *ctx, struct pipe *p, const struct pipe_rows *rows,
                                     const float *x, int64_t d_model, struct gsae_error *err)
{
    (void)p;
    struct harvest *h = ctx;
    int64_t m = rows->mb, k = h->mb_part[m], w0 = h->mb_first_window[m];
    if (k < 0) return GSAE_OK; /* filler */
    GSAE_ASSERT(k == h->round->replica);
    double t0 = MPI_Wtime();
    enum gsae_status st = sae_encode(&h->enc, x, rows->batch->n_rows, &h->acts, err);
    h->t_sae += MPI_Wtime() - t0;
    if (st == GSAE_OK) st = sink_windows(h, rows, x, d_model, w0, err);
    h->t_sink += MPI_Wtime() - t0;
    return st;
}

static enum gsae_status encode_round(void *ctx, const struct pstore_round *round,
                                     const struct pstore_sink *sink, struct gsae_error *err)
{
    struct harvest *h = ctx;
    int64_t R = round->n_replicas, g = h->wpmb, J = 0;
    for (int64_t k = 0; k < round->n_parts; k++)
        if ((round->n_windows[k] + g - 1) / g > J) J = (round->n_windows[k] + g - 1) / g;
    int64_t n_mb = J * R, n_seq = 0;
    free(h->mb_part);
    free(h->mb_first_window);
    h->mb_part = malloc((size_t)(n_mb + 1) * sizeof *h->mb_part);
    h->mb_first_window = malloc((size_t)(n_mb + 1) * sizeof *h->mb_first_window);
    const int32_t **tokens = malloc((size_t)(n_mb * g + 1) * sizeof *tokens);
    int64_t *n_tok = malloc((size_t)(n_mb * g + 1) * sizeof *n_tok);
    int64_t *mb_first = malloc((size_t)(n_mb + 1) * sizeof *mb_first);
    if (!h->mb_part || !h->mb_first_window || !tokens || !n_tok || !mb_first) {
        free(tokens);
        free(n_tok);
        free(mb_first);
        return gsae_fail(err, GSAE_ENOMEM, "harvest: out of memory for a round");
    }
    const int32_t bos = h->tk.bos_id;
    for (int64_t m = 0; m < n_mb; m++) {
        int64_t k = m % R, j = m / R, w0 = j * g;
        mb_first[m] = n_seq;
        if (k < round->n_parts && w0 < round->n_windows[k]) {
            h->mb_part[m] = k;
            h->mb_first_window[m] = w0;
            for (int64_t w = w0; w < w0 + g && w < round->n_windows[k]; w++) {
                tokens[n_seq] = round->token[k] + w * round->context_size;
                n_tok[n_seq++] = round->context_size;
            }
        } else {
            h->mb_part[m] = -1;
            h->mb_first_window[m] = -1;
            tokens[n_seq] = &bos;
            n_tok[n_seq++] = 1;
        }
    }
    mb_first[n_mb] = n_seq;
    h->round = round;
    h->sink = sink;
    struct pipe_work work = {n_seq, tokens, n_tok, n_mb, mb_first};
    struct pipe_sink ps = {pipe_sink_fn, h};
    enum gsae_status st = pipe_prefill(&h->p, &work, NULL, h->last_stage ? &ps : NULL, err);
    h->t_compute += h->p.stats.compute_s;
    h->t_pipe_wait += h->p.stats.total_s - h->p.stats.compute_s;
    free(tokens);
    free(n_tok);
    free(mb_first);
    if (st != GSAE_OK) {
        /* a failure inside the stream cannot be agreed on: partners wait in receives */
        cli_report("harvest", err);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return st;
}

static void on_progress(void *ctx, const struct pstore_progress *p)
{
    struct harvest *h = ctx;
    /* the rate of this run; the ETA from what is left: up to --max-tokens when given, else the
     * corpus (the stream's fraction, assuming this run's pace since its start) */
    double rate = p->seconds > 0 ? (double)p->tokens_encoded / p->seconds : 0.0;
    if (h->max_tokens > 0) {
        double done = (double)(p->tokens_before + p->tokens_encoded);
        double left = done < (double)h->max_tokens ? (double)h->max_tokens - done : 0.0;
        runctl_progress_print_eta(&h->progress, "harvest", p->tokens_encoded, p->parts_done,
                                  done / (double)h->max_tokens, "max-tokens", p->seconds,
                                  left == 0.0 ? 0.0
                                  : rate > 0  ? left / rate
                                              : -1.0,
                                  false);
    } else {
        runctl_progress_print(&h->progress, "harvest", p->tokens_encoded, p->parts_done,
                              p->corpus_fraction, p->seconds, false);
    }
    if (h->progress_csv.f) {
        csv_put_double(&h->progress_csv, p->seconds);
        csv_put_int(&h->progress_csv, p->tokens_encoded);
        csv_put_int(&h->progress_csv, p->rounds);
        csv_end_row(&h->progress_csv, true);
    }
}

static void on_warning(void *ctx, const char *msg)
{
    (void)ctx;
    if (cli_world_rank() == 0) fprintf(stderr, "gsae harvest: skipped: %s\n", msg);
}

/* Where the time of pstore_harvest went on the writer of replica 0 (the last stage of the first
 * pipeline: it alone sees the model, the SAE and the store), as shares of its own wall time.
 * The parts are disjoint intervals of that rank's thread, so they add up to its wall time with
 * "other" (set-up, buffering, bookkeeping) the rest. Printed by rank 0. Collective; returns st,
 * or an MPI failure. */
static enum gsae_status summary(const struct harvest *h, const struct pstore_result *res,
                                int writer0, enum gsae_status st, struct gsae_error *err)
{
    enum { WALL, FORWARD, SAE, WAIT, STORE, COMMIT, MANIFEST, STATS, READ, ROUNDS, ENCODE, N_T };
    double t[N_T] = {
        [WALL] = res->seconds,
        [FORWARD] = h->t_compute - h->t_sink,
        [SAE] = h->t_sae,
        [WAIT] = h->t_pipe_wait + res->wait_seconds,
        [STORE] = res->store_seconds,
        [COMMIT] = res->commit_seconds,
        [MANIFEST] = res->manifest_seconds,
        [STATS] = res->stats_seconds,
        [READ] = res->read_seconds,
        [ROUNDS] = (double)res->rounds,
        [ENCODE] = res->encode_seconds,
    };
    int rc = MPI_SUCCESS;
    if (writer0 != 0 && h->d.rank == writer0)
        rc = MPI_Send(t, N_T, MPI_DOUBLE, 0, 11, MPI_COMM_WORLD);
    if (writer0 != 0 && h->d.rank == 0)
        rc = MPI_Recv(t, N_T, MPI_DOUBLE, writer0, 11, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    /* parts: the store's when complete, else those this run committed (the last ones partial) */
    long long mine[2] = {res->tokens_written, res->parts_written}, sum[2] = {0, 0};
    if (rc == MPI_SUCCESS) rc = MPI_Reduce(mine, sum, 2, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    long long written = sum[0], parts = st == GSAE_OK ? (long long)res->parts_total : sum[1];
    if (rc != MPI_SUCCESS)
        return gsae_fail(err, GSAE_EMPI, "harvest: gathering the timings failed");
    if (h->d.rank != 0) return st;
    double named = 0.0, wall = t[WALL] > 0 ? t[WALL] : 1.0;
    for (int i = FORWARD; i <= READ; i++)
        named += t[i];
    double rounds = t[ROUNDS] > 0 ? t[ROUNDS] : 1.0;
    fprintf(stderr,
            "harvest: %s: %lld parts, %lld tokens written by this run, %.2f s, %.0f harvest "
            "rounds (%.3f s each on average)\n",
            st == GSAE_OK ? "complete" : "stopped", (long long)parts, written, t[WALL], t[ROUNDS],
            t[ENCODE] / rounds);
    fprintf(stderr,
            "harvest: time on rank %d (replica 0's writer), shares of its %.2f s: model forward "
            "%.1f%%, SAE encode %.1f%%, waiting on other stages %.1f%%, store write %.1f%%, "
            "commit+fsync %.1f%%, manifest %.1f%%, statistics %.1f%%, corpus+tokenizer %.1f%%, "
            "other %.1f%%\n",
            writer0, t[WALL], 100.0 * t[FORWARD] / wall, 100.0 * t[SAE] / wall,
            100.0 * t[WAIT] / wall, 100.0 * t[STORE] / wall, 100.0 * t[COMMIT] / wall,
            100.0 * t[MANIFEST] / wall, 100.0 * t[STATS] / wall, 100.0 * t[READ] / wall,
            100.0 * (t[WALL] - named) / wall);
    return st;
}

static enum gsae_status write_freq(const char *store, const char *path, struct gsae_error *err)
{
    char fs_path[4200];
    snprintf(fs_path, sizeof fs_path, "%s/feature_stats.nc", store);
    struct featstats fs;
    enum gsae_status st = featstats_nc_read(fs_path, &fs, err);
    if (st != GSAE_OK) return st;
    struct csv_writer w;
    st = csv_writer_open(&w, path, &results_feature_freq, NULL, 0, false, err);
    for (int64_t i = 0; st == GSAE_OK && i < fs.cfg.d_sae; i++) {
        csv_put_int(&w, i);
        csv_put_double(&w, fs.n_tokens ? (double)fs.fire_count[i] / (double)fs.n_tokens : 0.0);
        csv_end_row(&w, false);
    }
    if (st == GSAE_OK) st = csv_writer_close(&w, err);
    featstats_free(&fs);
    return st;
}

static int run(const struct harvest_opts *o)
{
    /* from the start: a stop during set-up (loading a large model takes minutes) is honoured
     * before the first round */
    volatile sig_atomic_t *stop = runctl_stop_flag_install();
    struct harvest h;
    memset(&h, 0, sizeof h);
    h.context = o->context;
    h.wpmb = o->wpmb;
    h.resid = o->resid;
    h.progress.interval_s = 10.0;
    struct gsae_error err = {0};
    char **shards = NULL;
    int64_t n_shards = 0;
    enum gsae_status st = corpus_expand(o->corpus, &shards, &n_shards, &err);
    if (st == GSAE_OK) st = open_local(&h, o, &err);
    st = dist_agree(MPI_COMM_WORLD, st, &err);
    if (st == GSAE_OK) st = dist_open(&h.d, MPI_COMM_WORLD, h.plan.n_stages, &err);
    if (st == GSAE_OK) st = dist_threads_choose(&h.d, o->s.n_threads, &h.n_threads, &err);
    if (st == GSAE_OK) {
        dist_threads_apply(h.n_threads);
        st = open_stage(&h, o, &err);
        st = dist_agree(h.d.world, st, &err);
    }
    char *corpus_lines = NULL, job_hash[160] = "", model_hash[32], sae_hash[32], tok_hash[32];
    size_t cl = 1;
    for (int64_t i = 0; i < n_shards; i++)
        cl += strlen(shards[i]) + 1;
    corpus_lines = calloc(cl, 1);
    for (int64_t i = 0; corpus_lines && i < n_shards; i++) {
        strcat(corpus_lines, shards[i]);
        if (i + 1 < n_shards) strcat(corpus_lines, "\n");
    }
    if (st == GSAE_OK && h.d.rank == 0 && o->progress_csv) {
        /* best effort, as the progress lines on stderr: a failure leaves the writer closed */
        csv_writer_open(&h.progress_csv, o->progress_csv, &results_harvest_progress, NULL, 0, true,
                        NULL);
    }
    int64_t max_windows = o->max_tokens > 0 ? (o->max_tokens + o->context - 1) / o->context : 0;
    h.max_tokens = max_windows * o->context;
    /* a round of at least two micro-batches per stage keeps the pipeline full for most of it */
    int64_t wpr = o->wpr > 0 ? o->wpr : 2 * h.plan.n_stages * o->wpmb;
    if (st == GSAE_OK && corpus_lines) {
        store_id_hex(h.ck.config_hash, model_hash, sizeof model_hash);
        store_id_hex(h.sae_hash, sae_hash, sizeof sae_hash);
        store_id_hex(h.tok_hash, tok_hash, sizeof tok_hash);
        struct store_id_harvest id = {model_hash,
                                      sae_hash,
                                      tok_hash,
                                      h.layer,
                                      o->context,
                                      o->wpp,
                                      max_windows,
                                      o->top_k,
                                      o->resid,
                                      o->s.compute == GEMMA_COMPUTE_BF16,
                                      o->s.sae_compute == GEMMA_COMPUTE_BF16};
        store_id_harvest_job(&id, corpus_lines, job_hash, sizeof job_hash);
        struct store_meta meta = {
            .model = o->s.model_dir,
            .model_config_hash = model_hash,
            .sae_source = o->s.sae_path,
            .sae_hash = sae_hash,
            .tokenizer_hash = tok_hash,
            .corpus = corpus_lines,
            .job = "gsae harvest",
            .layer = h.layer,
            .context_size = o->context,
            .bos_token_id = h.tk.bos_id,
            .d_sae = h.d_sae,
            .d_model = h.cfg.d_model,
            .windows_per_part = o->wpp,
            .resid = o->resid,
        };
        struct pstore_config cfg = {
            .dir = o->out,
            .meta = &meta,
            .job_hash = job_hash,
            .corpus = {(const char *const *)shards, n_shards, o->on_bad, 0, on_warning, NULL},
            .tokenizer = {tok_encode, &h},
            .stats = {h.d_sae, o->top_k, 16, 8, false},
            .ranks_per_replica = h.d.n_stages,
            .max_windows = max_windows,
            .round_windows = wpr,
            .stop = stop,
            .progress = on_progress,
            .progress_ctx = &h,
        };
        struct pstore_encoder enc = {encode_round, &h};
        struct pstore_result res;
        st = pstore_harvest(MPI_COMM_WORLD, &cfg, &enc, &res, &err);
        int writer0 = h.d.n_stages - 1;
        if (st == GSAE_OK || st == GSAE_EINTR) st = summary(&h, &res, writer0, st, &err);
        if (st == GSAE_OK && h.d.rank == 0 && o->freq_csv)
            st = write_freq(o->out, o->freq_csv, &err);
    }
    int rc = 0;
    if (st == GSAE_EINTR) {
        if (cli_world_rank() == 0)
            fprintf(stderr, "harvest: stopped on request; rerun to continue\n");
        rc = GSAE_EXIT_RESUMABLE;
    } else if (st != GSAE_OK) {
        cli_report("harvest", &err);
        rc = 1;
    }
    free(corpus_lines);
    corpus_paths_free(shards, n_shards);
    harvest_close(&h);
    return rc;
}

/* argv with the [harvest] section of a job file in front of the command line's own options
 * (which therefore win): `--key value` per key, `--key` alone for true, nothing for false, as
 * `gsae run` passes them (jobs/README.md). */
static int job_argv(struct job *job, const char *path, int argc, char **argv, char ***out,
                    int *n_out, char ***owned, int *n_owned)
{
    struct gsae_error err;
    const char *slash = strrchr(path, '/');
    char name[256];
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : path);
    char *dot = strrchr(name, '.');
    if (dot) *dot = '\0';
    char def_out[512];
    snprintf(def_out, sizeof def_out, "results/%s", name);
    enum gsae_status st = job_load(job, path, &err);
    if (st == GSAE_OK) st = job_put(job, "job", "name", name, "gsae harvest", &err);
    if (st == GSAE_OK && !job_get(job, "job", "out"))
        st = job_put(job, "job", "out", def_out, "gsae harvest", &err);
    if (st == GSAE_OK) st = job_resolve(job, &err);
    if (st != GSAE_OK) {
        cli_report("harvest", &err);
        return 1;
    }
    char **words = calloc((size_t)(2 * job->n_entries + argc + 1), sizeof *words);
    char **names = calloc((size_t)(job->n_entries + 1), sizeof *names);
    if (!words || !names) {
        free(words);
        free(names);
        return 1;
    }
    *out = words;
    *owned = names;
    int n = 0;
    words[n++] = argv[0];
    for (int64_t i = 0; i < job->n_entries; i++) {
        const struct job_entry *e = &job->entries[i];
        if (strcmp(e->section, "harvest") != 0 || !strcmp(e->key, "command") ||
            !strcmp(e->key, "ranks") || !strcmp(e->key, "args") || !strcmp(e->key, "launcher") ||
            !strcmp(e->value, "false"))
            continue;
        size_t len = strlen(e->key) + 3;
        if (!(names[*n_owned] = malloc(len))) return 1;
        snprintf(names[*n_owned], len, "--%s", e->key);
        words[n++] = names[(*n_owned)++];
        if (strcmp(e->value, "true") != 0) words[n++] = e->value;
    }
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--job") == 0)
            i++;
        else
            words[n++] = argv[i];
    *n_out = n;
    return 0;
}

int cmd_harvest(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        opt_usage(&harvest_cmd, stdout);
        return 0;
    }
    const char *job_path = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--job") == 0) job_path = argv[i + 1];
    struct job job;
    memset(&job, 0, sizeof job);
    char **words = argv, **owned = NULL;
    int n_words = argc, n_owned = 0, rc = 0;
    if (job_path) rc = job_argv(&job, job_path, argc, argv, &words, &n_words, &owned, &n_owned);
    /* The job's model and SAE names become paths, as main() does for the command line. */
    struct hub_cli_args named = {0};
    if (rc == 0 && !hub_cli_args_resolve("harvest", n_words, words, &named)) rc = 2;
    struct harvest_opts o;
    if (rc == 0) rc = parse(named.argc, named.argv, &o);
    if (rc == 0) rc = run(&o);
    hub_cli_args_free(&named);
    for (int i = 0; i < n_owned; i++)
        free(owned[i]);
    free(owned);
    if (words != argv) free(words);
    job_free(&job);
    return rc;
}
