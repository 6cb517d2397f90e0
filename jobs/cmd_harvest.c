/* cmd_harvest.c: `gsae harvest`: run Gemma-2 up to resid_post.L over a corpus, encode every
 * token with the SAE and write a NetCDF-4 activation store with per-feature statistics.
 *
 * The model stands up through mpi/engine.h, truncated after layer L (no logits), with the SAE
 * on the stage owning L. The store layers (mpi/pstore.h) stream and window the corpus on every
 * rank and run it in harvest rounds through mpi/harvest.h, whose recorder (a subscriber of the
 * hook at resid_post.L) hands each window's activations to the store's writer. This file holds
 * the options, the store's identity (hashes, settings), progress and the closing summary.
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
#include "../io/job.h"
#include "../io/results_schema.h"
#include "../io/sae_io.h"
#include "../io/store.h"
#include "../io/store_id.h"
#include "../io/tokenizer_load.h"
#include "../mpi/dist.h"
#include "../mpi/dist_engine.h"
#include "../mpi/engine.h"
#include "../mpi/harvest.h"
#include "../mpi/pstore.h"
#include "../src/sae.h"
#include "../src/tokenizer.h"
#include "cli.h"
#include "commands.h"
#include "harvest_summary.h"
#include "hub_cli.h"
#include "runctl.h"
#include "sae_cli.h"
#include "sae_session.h"

struct harvest_opts {
    struct sae_session_opts s;
    const char *saes[HARVEST_MAX_HOOKS];   /* every --sae, in order (s.sae_path is the first) */
    int64_t sae_layers[HARVEST_MAX_HOOKS]; /* their L of --sae L:PATH, else -1 */
    int n_saes;
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
        "Windows follow SAELens (prepend_bos): see src/window.h. --sae may be given several\n"
        "times (SAEs that record their layer): one pass over the model writes one store per SAE,\n"
        "STORE/resid_post.L, each identical to a harvest with that SAE alone.\n",
    .size = sizeof(struct harvest_opts),
    .groups = {{sae_session_model_opts, offsetof(struct harvest_opts, s)}, {harvest_table, 0}},
};

/* Everything one rank holds. */
struct harvest {
    struct engine e;            /* the model to resid_post.L, the SAE on the stage owning L */
    struct harvest_encoder enc; /* rounds through e; the recorder at the hook (mpi/harvest.h) */
    struct tokenizer tk;
    struct tokenizer_work tk_work; /* zeroed is ready; caches pieces across documents */
    bool has_tk;
    uint64_t tok_hash;
    struct runctl_progress progress;
    struct csv_writer progress_csv;
    int64_t max_tokens; /* the stream's end when --max-tokens is given (whole windows), else 0 */
};

/* --sae may be given several times (PATH or L:PATH): one store per SAE, all in one pass. */
static bool add_sae(struct harvest_opts *o, const char *path)
{
    if (o->n_saes == HARVEST_MAX_HOOKS) {
        fprintf(stderr, "gsae harvest: at most %d --sae\n", HARVEST_MAX_HOOKS);
        return false;
    }
    sae_cli_layer_path(path, &o->sae_layers[o->n_saes], &o->saes[o->n_saes]);
    o->n_saes++;
    o->s.sae_path = o->saes[0];
    return true;
}

static bool saes_fit(const struct harvest_opts *o)
{
    if (o->n_saes <= 1 || (!o->freq_csv && o->s.layer < 0)) return true;
    fprintf(stderr, "gsae harvest: with several --sae, each SAE names its layer (no --layer) "
                    "and --freq is not available\n");
    return false;
}

static int parse(int argc, char **argv, struct harvest_opts *o)
{
    int rc = opt_parse(&harvest_cmd, argc, argv, o);
    if (rc != OPT_RUN) return rc;
    struct opt_list *l = &o->s.sae_list;
    bool ok = true;
    for (int i = 0; ok && i < l->n; i++)
        ok = add_sae(o, l->v[i]);
    free(l->v);
    *l = (struct opt_list){0};
    return ok && saes_fit(o) ? 0 : 2;
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

/* The tokenizer (DIR/tokenizer.json unless given). Local. */
static enum gsae_status load_tokenizer(struct harvest *h, const struct harvest_opts *o,
                                       struct gsae_error *err)
{
    char guess[4200];
    const char *tpath = o->s.tokenizer_path;
    struct stat sb;
    if (!tpath) {
        snprintf(guess, sizeof guess, "%s/tokenizer.json", o->s.model_dir);
        tpath = stat(guess, &sb) == 0 ? guess : NULL;
    }
    if (!tpath)
        return gsae_fail(err, GSAE_EINVAL, "%s has no tokenizer.json: give --tokenizer PATH",
                         o->s.model_dir);
    enum gsae_status st = tokenizer_load(&h->tk, tpath, err);
    if (st == GSAE_OK) h->has_tk = true;
    if (st == GSAE_OK && h->tk.bos_id < 0)
        st = gsae_fail(err, GSAE_EINVAL, "%s: the tokenizer has no <bos> token", tpath);
    if (st == GSAE_OK) h->tok_hash = store_id_tokenizer(&h->tk);
    return st;
}

static void report_stream_error(const struct gsae_error *err)
{
    cli_report("harvest", err);
}

/* The engine truncated after the SAE's layer (no logits: the last stage's output is
 * resid_post.L) and the recorder on its stage. Collective; local is the caller's status. */
static enum gsae_status harvest_open(struct harvest *h, const struct harvest_opts *o,
                                     enum gsae_status local, struct gsae_error *err)
{
    if (local == GSAE_OK) local = load_tokenizer(h, o, err);
    int64_t g = o->wpmb, mb_first[2] = {0, g};
    int64_t *n_tok = malloc((size_t)g * sizeof *n_tok);
    if (local == GSAE_OK && !n_tok) local = gsae_fail(err, GSAE_ENOMEM, "harvest: out of memory");
    for (int64_t i = 0; n_tok && i < g; i++)
        n_tok[i] = o->context;
    struct pipe_work shape = {g, NULL, n_tok, 1, mb_first};
    struct engine_sae saes[HARVEST_MAX_HOOKS];
    for (int j = 0; j < o->n_saes; j++)
        saes[j] =
            (struct engine_sae){o->saes[j], o->sae_layers[j] >= 0 ? o->sae_layers[j] : o->s.layer};
    struct engine_config cfg = {.model_dir = o->s.model_dir,
                                .n_stages = o->s.n_stages,
                                .layers = o->s.layers,
                                .n_threads = o->s.n_threads,
                                .truncate = true,
                                .dtype = GSAE_DTYPE_BF16,
                                .ctx_len = o->context,
                                .saes = saes,
                                .n_saes = o->n_saes,
                                .shape = &shape,
                                .compute = o->s.compute,
                                .local = local};
    enum gsae_status st = engine_open(engine_job_comm(), &cfg, &h->e, err);
    free(n_tok);
    if (st == GSAE_OK)
        st = dist_agree(h->e.d.world,
                        harvest_encoder_init(&h->enc, &h->e, o->context, o->wpmb,
                                             o->s.sae_compute == GEMMA_COMPUTE_BF16,
                                             o->resid != STORE_RESID_NONE, h->tk.bos_id,
                                             report_stream_error, err),
                        err);
    return st;
}

static void harvest_close(struct harvest *h)
{
    harvest_encoder_free(&h->enc);
    engine_close(&h->e, true);
    if (h->has_tk) tokenizer_free(&h->tk);
    tokenizer_work_free(&h->tk_work);
    csv_writer_close(&h->progress_csv, NULL);
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

/* One hook's store: where it goes and what identifies it. */
struct hook_store {
    char dir[4200];
    char job_hash[160], model_hash[32], sae_hash[32], tok_hash[32];
    struct store_meta meta;
};

/* The settings that make hook j's store (its manifest's job hash): the model, SAE and tokenizer
 * hashes, the layer, the windowing and the corpus; and its metadata. With one SAE the store is
 * --out itself, with several OUT/resid_post.L. */
static void hook_store_init(struct hook_store *hs, const struct harvest *h,
                            const struct harvest_opts *o, int64_t j, int64_t max_windows,
                            const char *corpus_lines)
{
    const struct engine_hook *hook = &h->e.hooks[j];
    if (h->e.n_hooks == 1)
        snprintf(hs->dir, sizeof hs->dir, "%s", o->out);
    else
        snprintf(hs->dir, sizeof hs->dir, "%s/resid_post.%lld", o->out, (long long)hook->layer);
    store_id_hex(h->e.ck.config_hash, hs->model_hash, sizeof hs->model_hash);
    store_id_hex(hook->sae_hash, hs->sae_hash, sizeof hs->sae_hash);
    store_id_hex(h->tok_hash, hs->tok_hash, sizeof hs->tok_hash);
    struct store_id_harvest id = {hs->model_hash,
                                  hs->sae_hash,
                                  hs->tok_hash,
                                  hook->layer,
                                  o->context,
                                  o->wpp,
                                  max_windows,
                                  o->top_k,
                                  o->resid,
                                  o->s.compute == GEMMA_COMPUTE_BF16,
                                  o->s.sae_compute == GEMMA_COMPUTE_BF16};
    store_id_harvest_job(&id, corpus_lines, hs->job_hash, sizeof hs->job_hash);
    hs->meta = (struct store_meta){
        .model = o->s.model_dir,
        .model_config_hash = hs->model_hash,
        .sae_source = hook->path,
        .sae_hash = hs->sae_hash,
        .tokenizer_hash = hs->tok_hash,
        .corpus = corpus_lines,
        .job = "gsae harvest",
        .layer = hook->layer,
        .context_size = o->context,
        .bos_token_id = h->tk.bos_id,
        .d_sae = hook->d_sae,
        .d_model = h->e.cfg.d_model,
        .windows_per_part = o->wpp,
        .resid = o->resid,
    };
}

/* The corpus shards as newline-separated lines (malloc'd), as the store records them. */
static char *corpus_lines_of(char **shards, int64_t n_shards)
{
    size_t cl = 1;
    for (int64_t i = 0; i < n_shards; i++)
        cl += strlen(shards[i]) + 1;
    char *lines = calloc(cl, 1);
    for (int64_t i = 0; lines && i < n_shards; i++) {
        strcat(lines, shards[i]);
        if (i + 1 < n_shards) strcat(lines, "\n");
    }
    return lines;
}

/* Run the store driver over the corpus (one store per hook, all in one pass), then the summary
 * and --freq. Collective. */
static enum gsae_status harvest_store(struct harvest *h, const struct harvest_opts *o,
                                      char **shards, int64_t n_shards, const char *corpus_lines,
                                      volatile sig_atomic_t *stop, struct gsae_error *err)
{
    int64_t max_windows = o->max_tokens > 0 ? (o->max_tokens + o->context - 1) / o->context : 0;
    h->max_tokens = max_windows * o->context;
    /* a round of at least two micro-batches per stage keeps the pipeline full for most of it */
    int64_t wpr = o->wpr > 0 ? o->wpr : 2 * h->e.plan.n_stages * o->wpmb;
    int64_t n = h->e.n_hooks;
    struct hook_store *hs = calloc((size_t)n, sizeof *hs);
    struct pstore_lane *lanes = calloc((size_t)n, sizeof *lanes);
    if (!hs || !lanes) {
        free(hs), free(lanes);
        return gsae_fail(err, GSAE_ENOMEM, "harvest: out of memory");
    }
    for (int64_t j = 0; j < n; j++) {
        hook_store_init(&hs[j], h, o, j, max_windows, corpus_lines);
        lanes[j] = (struct pstore_lane){hs[j].dir,
                                        &hs[j].meta,
                                        hs[j].job_hash,
                                        {h->e.hooks[j].d_sae, o->top_k, 16, 8, false},
                                        harvest_writer_stage(&h->e, j)};
    }
    struct pstore_config cfg = {
        .lanes = lanes,
        .n_lanes = n,
        .dir = hs[0].dir,
        .meta = &hs[0].meta,
        .job_hash = hs[0].job_hash,
        .corpus = {(const char *const *)shards, n_shards, o->on_bad, 0, on_warning, NULL},
        .tokenizer = {tok_encode, h},
        .stats = lanes[0].stats,
        .ranks_per_replica = h->e.d.n_stages,
        .max_windows = max_windows,
        .round_windows = wpr,
        .stop = stop,
        .progress = on_progress,
        .progress_ctx = h,
    };
    struct pstore_encoder enc = {harvest_encode_round, &h->enc};
    struct pstore_result res;
    enum gsae_status st = pstore_harvest(h->e.d.world, &cfg, &enc, &res, err);
    int writer0 = lanes[0].writer;
    if (st == GSAE_OK || st == GSAE_EINTR)
        st = harvest_summary(&h->enc, &h->e.d, &res, writer0, st, err);
    if (st == GSAE_OK && h->e.d.rank == 0 && o->freq_csv)
        st = harvest_write_freq(o->out, o->freq_csv, err);
    free(hs);
    free(lanes);
    return st;
}

static int run(const struct harvest_opts *o)
{
    /* from the start: a stop during set-up (loading a large model takes minutes) is honoured
     * before the first round */
    volatile sig_atomic_t *stop = runctl_stop_flag_install();
    struct harvest h;
    memset(&h, 0, sizeof h);
    h.progress.interval_s = 10.0;
    struct gsae_error err = {0};
    char **shards = NULL;
    int64_t n_shards = 0;
    enum gsae_status st = corpus_expand(o->corpus, &shards, &n_shards, &err);
    st = harvest_open(&h, o, st, &err);
    char *corpus_lines = corpus_lines_of(shards, n_shards);
    if (st == GSAE_OK && h.e.d.rank == 0 && o->progress_csv)
        /* best effort, as the progress lines on stderr: a failure leaves the writer closed */
        csv_writer_open(&h.progress_csv, o->progress_csv, &results_harvest_progress, NULL, 0, true,
                        NULL);
    if (st == GSAE_OK && corpus_lines)
        st = harvest_store(&h, o, shards, n_shards, corpus_lines, stop, &err);
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

/* Does the command line name an SAE (which then replaces the job's)? */
static bool has_sae_option(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--sae") || !strncmp(argv[i], "--sae=", 6)) return true;
    return false;
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
        if (!strcmp(e->key, "sae") && has_sae_option(argc, argv)) continue;
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
