/* cmd_store_synth.c: `gsae store synth`: a store written by the real harvest machinery
 * (corpus, windowing, parts, manifest, resume, stop signals, statistics reduction) with
 * stand-ins for the model: a byte tokenizer (id = byte + 3, <bos> = 2) and deterministic
 * pseudo-activations computed from each token and its predecessor in the window. It exists to
 * test and benchmark the store layers without a checkpoint.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../io/corpus.h"
#include "../io/store.h"
#include "../io/store_id.h"
#include "../jobs/cli.h"
#include "../jobs/commands.h"
#include "../jobs/opt.h"
#include "../jobs/runctl.h"
#include "../mpi/dist.h"
#include "../mpi/pstore.h"
#include "../src/hash.h"

/* ---- synth: byte tokenizer and pseudo-activations ---- */

static enum gsae_status byte_encode(void *ctx, const char *text, size_t len, int32_t **ids,
                                    int64_t *n, int64_t *cap, struct gsae_error *err)
{
    (void)ctx;
    if ((int64_t)len > *cap) {
        int32_t *grown = realloc(*ids, (len + 1) * sizeof *grown);
        if (!grown) return gsae_fail(err, GSAE_ENOMEM, "byte tokenizer: out of memory");
        *ids = grown;
        *cap = (int64_t)len + 1;
    }
    for (size_t i = 0; i < len; i++)
        (*ids)[i] = (int32_t)(unsigned char)text[i] + 3;
    *n = (int64_t)len;
    return GSAE_OK;
}

struct synth {
    int64_t d_sae, d_model, ctx;
    long sleep_ms;
    int64_t *rows;
    uint32_t *index;
    float *value, *resid;
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static enum gsae_status synth_encode(void *ctx, const struct pstore_round *round,
                                     const struct pstore_sink *sink, struct gsae_error *err)
{
    struct synth *s = ctx;
    int64_t k = round->replica; /* one rank per replica: this rank writes part k */
    if (k >= round->n_parts) return GSAE_OK;
    for (int64_t w = 0; w < round->n_windows[k]; w++) {
        const int32_t *tok = round->token[k] + w * round->context_size;
        int64_t z = 0;
        s->rows[0] = 0;
        for (int64_t t = 0; t < round->context_size; t++) {
            uint64_t h = gsae_hash_mix64((uint64_t)tok[t] * 1000003u +
                                         (uint64_t)(t ? tok[t - 1] : 0) * 7919u);
            int64_t nz = (int64_t)(h % 6), start = z;
            for (int64_t j = 0; j < nz; j++) {
                uint64_t g = gsae_hash_mix64(h + (uint64_t)j + 1);
                s->index[z] = (uint32_t)(g % (uint64_t)s->d_sae);
                s->value[z++] = 0.05f + (float)(g >> 40 & 1023) / 64.0f;
            }
            qsort(s->index + start, (size_t)nz, sizeof *s->index, cmp_u32);
            int64_t u = start; /* drop repeated indices */
            for (int64_t j = start; j < z; j++)
                if (j == start || s->index[j] != s->index[u - 1]) {
                    s->index[u] = s->index[j];
                    s->value[u++] = s->value[j];
                }
            z = u;
            s->rows[t + 1] = z;
            for (int64_t i = 0; i < s->d_model; i++)
                s->resid[t * s->d_model + i] =
                    (float)((int64_t)(gsae_hash_mix64(h ^ (uint64_t)i) % 2001) - 1000) / 100.0f;
        }
        if (s->sleep_ms > 0) {
            struct timespec ts = {s->sleep_ms / 1000, (s->sleep_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        struct pstore_acts a = {s->rows, s->index, s->value, s->d_model ? s->resid : NULL};
        enum gsae_status st = sink->put(sink->ctx, w, &a, err);
        if (st != GSAE_OK) return st;
    }
    return GSAE_OK;
}

struct progress_ctx {
    struct runctl_progress p;
};

static void on_progress(void *ctx, const struct pstore_progress *p)
{
    struct progress_ctx *c = ctx;
    runctl_progress_print(&c->p, "store synth", p->tokens_done, p->parts_done, p->corpus_fraction,
                          p->seconds, false);
}

static void on_warning(void *ctx, const char *msg)
{
    (void)ctx;
    if (cli_world_rank() == 0) fprintf(stderr, "warning: skipped: %s\n", msg);
}

/* The options of `gsae store synth`. */
struct synth_opts {
    const char *corpus, *out;
    int64_t ctx, wpp, d_sae, d_model, max_windows, sleep_ms;
    bool bf16;
    int on_bad; /* enum corpus_on_bad */
};

static const struct opt_choice on_bad_docs[] = {
    {"skip", CORPUS_ON_BAD_SKIP}, {"fail", CORPUS_ON_BAD_FAIL}, {0}};
#define O(f) offsetof(struct synth_opts, f)
static const struct opt synth_table[] = {
    {"corpus", OPT_STR, O(corpus), .flags = OPT_REQUIRED, .meta = "SHARDS", .help = "the corpus"},
    {"out", OPT_STR, O(out), .flags = OPT_REQUIRED, .meta = "STORE", .help = "the store to write"},
    {"context", OPT_I64, O(ctx), "64", 2, 1 << 20, .meta = "C", .help = "tokens per window"},
    {"windows-per-part", OPT_I64, O(wpp), "4", 1, 1 << 30, .meta = "W", .help = "part size"},
    {"d-sae", OPT_I64, O(d_sae), "300", 1, 1 << 30, .meta = "S", .help = "features"},
    {"d-model", OPT_I64, O(d_model), "0", 0, 1 << 20, .meta = "D",
     .help = "residual width (0: no residuals)"},
    {"bf16", OPT_FLAG, O(bf16), .help = "residuals in bf16"},
    {"on-bad-doc", OPT_ENUM, O(on_bad), "fail", .choices = on_bad_docs, .meta = "skip|fail",
     .help = "what a malformed document does"},
    {"max-windows", OPT_I64, O(max_windows), "0", 0, 1e18, .meta = "N",
     .help = "stop after N windows (0: all)"},
    {"sleep-ms", OPT_I64, O(sleep_ms), "0", 0, 1 << 30, .meta = "MS",
     .help = "sleep per round (tests)"},
    {0},
};
#undef O

const struct opt_cmd store_synth_cmd = {
    "store synth",
    .synopsis = "--corpus SHARDS --out STORE [--context 64] [--windows-per-part 4] [--d-sae 300]\n"
                "              [--d-model 0] [--bf16] [--on-bad-doc skip|fail] [--max-windows N]\n"
                "              [--sleep-ms MS]   (under [mpirun -np N])",
    .about = "A store written by the real harvest machinery with a byte tokenizer (id = byte + 3)\n"
             "and deterministic pseudo-activations: tests and benchmarks of the store layers.\n",
    .size = sizeof(struct synth_opts),
    .groups = {{synth_table, 0}},
};

/* Harvest the corpus (shards, listed in corpus_lines) into o->out with the synthetic encoder.
 * Collective on dist_world(). */
static enum gsae_status run_synth(const struct synth_opts *o, char **shards, int64_t n_shards,
                                  const char *corpus_lines, struct pstore_result *res,
                                  struct gsae_error *err)
{
    long long ctx = o->ctx, wpp = o->wpp, d_sae = o->d_sae, d_model = o->d_model;
    char job_hash[128];
    store_id_synth_job(corpus_lines, ctx, wpp, d_sae, d_model, o->bf16, o->max_windows, job_hash,
                       sizeof job_hash);
    struct store_meta meta = {
        .model = "synthetic (byte tokenizer, pseudo-activations)",
        .model_config_hash = "none",
        .sae_source = "synthetic",
        .sae_hash = "none",
        .tokenizer_hash = "bytes+3",
        .corpus = corpus_lines,
        .job = "gsae store synth",
        .layer = 0,
        .context_size = ctx,
        .bos_token_id = 2,
        .d_sae = d_sae,
        .d_model = d_model,
        .windows_per_part = wpp,
        .resid = d_model == 0 ? STORE_RESID_NONE
                 : o->bf16    ? STORE_RESID_BF16
                              : STORE_RESID_F32,
    };
    struct synth s = {d_sae, d_model, ctx, (long)o->sleep_ms, NULL, NULL, NULL, NULL};
    s.rows = malloc((size_t)(ctx + 1) * sizeof *s.rows);
    s.index = malloc((size_t)ctx * 6 * sizeof *s.index);
    s.value = malloc((size_t)ctx * 6 * sizeof *s.value);
    s.resid = malloc((size_t)(ctx * (d_model + 1)) * sizeof *s.resid);
    struct progress_ctx pc = {{5.0, 0, false}};
    struct pstore_config cfg = {
        .dir = o->out,
        .meta = &meta,
        .job_hash = job_hash,
        .corpus = {(const char *const *)shards, n_shards, o->on_bad, 0, on_warning, NULL},
        .tokenizer = {byte_encode, NULL},
        .stats = {d_sae, 8, 8, 4, false},
        .ranks_per_replica = 1,
        .max_windows = o->max_windows,
        .stop = runctl_stop_flag_install(),
        .progress = on_progress,
        .progress_ctx = &pc,
    };
    struct pstore_encoder enc = {synth_encode, &s};
    enum gsae_status st = GSAE_ENOMEM;
    if (s.rows && s.index && s.value && s.resid)
        st = pstore_harvest(dist_world(), &cfg, &enc, res, err);
    free(s.rows);
    free(s.index);
    free(s.value);
    free(s.resid);
    return st;
}

int cmd_store_synth(int argc, char **argv)
{
    struct synth_opts o;
    int rc = opt_parse(&store_synth_cmd, argc, argv, &o);
    if (rc != OPT_RUN) return rc;
    rc = 0;
    struct gsae_error err = {0};
    char **shards = NULL;
    int64_t n_shards = 0;
    if (corpus_expand(o.corpus, &shards, &n_shards, &err) != GSAE_OK) {
        cli_report("store", &err);
        return 1;
    }
    char corpus_lines[8192] = "";
    for (int64_t i = 0; i < n_shards; i++) {
        size_t used = strlen(corpus_lines);
        snprintf(corpus_lines + used, sizeof corpus_lines - used, "%s%s", i ? "\n" : "", shards[i]);
    }
    struct pstore_result res;
    enum gsae_status st = run_synth(&o, shards, n_shards, corpus_lines, &res, &err);
    if (st == GSAE_EINTR) {
        if (cli_world_rank() == 0)
            fprintf(stderr, "store synth: stopped on request; rerun to continue\n");
        rc = GSAE_EXIT_RESUMABLE;
    } else if (st != GSAE_OK) {
        cli_report("store", &err);
        rc = 1;
    } else if (cli_world_rank() == 0) {
        fprintf(stderr,
                "store synth: complete: %lld parts (%lld written now), %.2f s, %.1f%% "
                "in the encoder\n",
                (long long)res.parts_total, (long long)res.parts_written, res.seconds,
                res.seconds > 0 ? 100.0 * res.encode_seconds / res.seconds : 0.0);
    }
    corpus_paths_free(shards, n_shards);
    return rc;
}
