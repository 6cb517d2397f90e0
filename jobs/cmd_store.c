/* cmd_store.c: `gsae store info|dump|verify|synth`: inspect, check and (for tests) write
 * activation stores.
 *
 * `synth` runs the real harvest machinery (corpus, windowing, parts, manifest, resume, stop
 * signals, statistics reduction) with stand-ins for the model: a byte tokenizer (id = byte + 3,
 * <bos> = 2) and deterministic pseudo-activations computed from each token and its predecessor
 * in the window. It exists to test and benchmark the store layers without a checkpoint.
 */
#include <dirent.h>
#include <mpi.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../io/corpus.h"
#include "../io/featstats_nc.h"
#include "../io/manifest.h"
#include "../io/store.h"
#include "../mpi/pstore.h"
#include "cli.h"
#include "commands.h"
#include "opt.h"
#include "runctl.h"

struct store_opts {
    const char *dir, *corpus, *out;
    int64_t part, limit, ctx, wpp, d_sae, d_model, max_windows, sleep_ms;
    bool bf16;
    int on_bad;
};

#define O(f) offsetof(struct store_opts, f)
static const struct opt store_dir_table[] = {
    {NULL, OPT_STR, O(dir), .flags = OPT_POS | OPT_REQUIRED, .meta = "STORE", .help = "the store"},
    {0},
};
static const struct opt store_dump_table[] = {
    {"part", OPT_I64, O(part), "-1", 0, INT32_MAX, .meta = "N", .help = "only part N"},
    {"limit", OPT_I64, O(limit), "-1", 0, 1e18, .meta = "TOKENS", .help = "at most TOKENS tokens"},
    {0},
};
static const struct opt_choice on_bad_docs[] = {
    {"skip", CORPUS_ON_BAD_SKIP}, {"fail", CORPUS_ON_BAD_FAIL}, {0}};
static const struct opt store_synth_table[] = {
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

#define STORE_ABOUT                                                                                \
    "info    the manifest, the parts' attributes, sizes and bytes per token\n"                     \
    "dump    per token: window, document, position, token id, then index:value of its\n"           \
    "        non-zero features, parts in order (identical for any number of writers)\n"            \
    "verify  every listed part against its checksum and the manifest; stray files; exit 1 on\n"    \
    "        any problem\n"                                                                        \
    "synth   harvest with a byte tokenizer and pseudo-activations (tests, benchmarks)\n"
#define STORE_CMD(nm, syn, ...)                                                                    \
    {                                                                                              \
        nm, .synopsis = syn, .about = STORE_ABOUT, .size = sizeof(struct store_opts), .groups = {  \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }
static const char store_synopsis[] =
    "info STORE\n"
    "       gsae store dump STORE [--part N] [--limit TOKENS]\n"
    "       gsae store verify STORE\n"
    "       [mpirun -np N] gsae store synth --corpus SHARDS --out STORE [--context 64]\n"
    "              [--windows-per-part 4] [--d-sae 300] [--d-model 0] [--bf16]\n"
    "              [--on-bad-doc skip|fail] [--max-windows N] [--sleep-ms MS]";
static const struct opt_cmd store_info_cmd = STORE_CMD("store info", "STORE", {store_dir_table, 0});
static const struct opt_cmd store_verify_cmd =
    STORE_CMD("store verify", "STORE", {store_dir_table, 0});
static const struct opt_cmd store_dump_cmd = STORE_CMD(
    "store dump", "STORE [--part N] [--limit TOKENS]", {store_dir_table, 0}, {store_dump_table, 0});
static const struct opt_cmd store_synth_cmd =
    STORE_CMD("store synth",
              "--corpus SHARDS --out STORE [--context 64] [--windows-per-part 4] [--d-sae 300]\n"
              "              [--d-model 0] [--bf16] [--on-bad-doc skip|fail] [--max-windows N]\n"
              "              [--sleep-ms MS]   (under [mpirun -np N])",
              {store_synth_table, 0});
static const struct opt_cmd store_cmd = STORE_CMD("store", store_synopsis, {NULL, 0});

static int fail(const struct gsae_error *err)
{
    cli_report("store", err);
    return 1;
}

static char *part_path(const char *dir, const struct store_part_info *info)
{
    size_t n = strlen(dir) + strlen(info->file) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, info->file);
    return p;
}

static int64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

static int store_info(const char *dir)
{
    struct gsae_error err;
    struct manifest m;
    if (manifest_load(dir, &m, &err) != GSAE_OK) return fail(&err);
    int64_t tokens = 0, nnz = 0, bytes = 0;
    for (int64_t i = 0; i < m.n_parts; i++) {
        char *p = part_path(dir, &m.parts[i].info);
        tokens += m.parts[i].info.n_tokens;
        nnz += m.parts[i].info.nnz;
        bytes += p ? file_size(p) : 0;
        free(p);
    }
    printf("store %s\n  job_hash %s\n  complete %s\n  parts %lld (total %lld)\n"
           "  context_size %lld, windows_per_part %lld\n  tokens %lld, non-zero activations %lld "
           "(%.2f per token)\n  part bytes %lld (%.2f per token)\n",
           dir, m.job_hash, m.complete ? "yes" : "no", (long long)m.n_parts,
           (long long)m.n_parts_total, (long long)m.context_size, (long long)m.windows_per_part,
           (long long)tokens, (long long)nnz, tokens ? (double)nnz / (double)tokens : 0.0,
           (long long)bytes, tokens ? (double)bytes / (double)tokens : 0.0);
    if (m.n_parts > 0) {
        char *p = part_path(dir, &m.parts[0].info), *text = NULL;
        if (p && store_part_describe(p, &text, &err) == GSAE_OK)
            printf("attributes of %s:\n%s", m.parts[0].info.file, text);
        free(text);
        free(p);
    }
    char fs[4200];
    snprintf(fs, sizeof fs, "%s/feature_stats.nc", dir);
    printf("feature_stats.nc: %s\n", file_size(fs) >= 0 ? "present" : "absent");
    manifest_free(&m);
    return 0;
}

static void dump_part(const struct store_part *p, int64_t *limit)
{
    for (int64_t t = 0; t < p->n_tokens && *limit != 0; t++, (*limit)--) {
        printf("%lld %lld %lld %d", (long long)(p->first_window + t / p->context_size),
               (long long)p->doc[t], (long long)p->pos[t], p->token_id[t]);
        for (int64_t k = p->row_ptr[t]; k < p->row_ptr[t + 1]; k++)
            printf(" %u:%.9g", p->index[k], (double)p->value[k]);
        putchar('\n');
    }
}

static int store_dump(const char *dir, int64_t only_part, int64_t limit)
{
    struct gsae_error err;
    struct manifest m;
    if (manifest_load(dir, &m, &err) != GSAE_OK) return fail(&err);
    printf("# window doc pos token_id index:value ...\n");
    int rc = 0;
    for (int64_t i = 0; i < m.n_parts && limit != 0 && rc == 0; i++) {
        if (only_part >= 0 && m.parts[i].info.index != only_part) continue;
        char *path = part_path(dir, &m.parts[i].info);
        struct store_part p;
        if (!path || store_part_read(path, false, &p, &err) != GSAE_OK) {
            rc = fail(&err);
        } else {
            dump_part(&p, &limit);
            store_part_free(&p);
        }
        free(path);
    }
    manifest_free(&m);
    return rc;
}

static int64_t verify_part(const char *dir, const struct manifest *m,
                           const struct manifest_part *mp)
{
    struct gsae_error err;
    char *path = part_path(dir, &mp->info);
    struct store_part p;
    int64_t problems = 0;
    if (!path || store_part_read(path, true, &p, &err) != GSAE_OK) {
        printf("BAD   %s: %s\n", mp->info.file, path ? err.msg : "out of memory");
        free(path);
        return 1;
    }
    if (p.checksum != p.checksum_attr || p.checksum != mp->info.checksum) {
        printf("BAD   %s: content checksum %016llx, part says %016llx, manifest %016llx\n",
               mp->info.file, (unsigned long long)p.checksum, (unsigned long long)p.checksum_attr,
               (unsigned long long)mp->info.checksum);
        problems++;
    }
    if (p.part_index != mp->info.index || p.n_windows != mp->info.n_windows ||
        p.n_tokens != mp->info.n_tokens || p.nnz != mp->info.nnz ||
        p.first_window != mp->info.index * m->windows_per_part ||
        p.context_size != m->context_size) {
        printf("BAD   %s: sizes differ from the manifest\n", mp->info.file);
        problems++;
    }
    if (!problems)
        printf("OK    %s  %lld windows, %lld tokens, %lld non-zeros\n", mp->info.file,
               (long long)p.n_windows, (long long)p.n_tokens, (long long)p.nnz);
    store_part_free(&p);
    free(path);
    return problems;
}

static int64_t verify_strays(const char *dir, const struct manifest *m)
{
    DIR *d = opendir(dir);
    int64_t strays = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        long long idx = -1;
        int used = 0;
        if (sscanf(de->d_name, "part-%lld.nc%n", &idx, &used) == 1 && de->d_name[used] == '\0') {
            if (!manifest_find(m, idx)) {
                printf("WARN  %s: not in the manifest (left by an interrupted run; ignored)\n",
                       de->d_name);
                strays++;
            }
        } else if (strstr(de->d_name, ".tmp")) {
            printf("WARN  %s: unfinished temporary file (ignored)\n", de->d_name);
            strays++;
        }
    }
    if (d) closedir(d);
    return strays;
}

static int store_verify(const char *dir)
{
    struct gsae_error err;
    struct manifest m;
    if (manifest_load(dir, &m, &err) != GSAE_OK) return fail(&err);
    int64_t problems = 0;
    for (int64_t i = 0; i < m.n_parts; i++)
        problems += verify_part(dir, &m, &m.parts[i]);
    if (m.complete &&
        (manifest_first_missing(&m) != m.n_parts_total || m.n_parts != m.n_parts_total)) {
        printf("BAD   manifest: complete, but parts 0..%lld are not all listed\n",
               (long long)m.n_parts_total - 1);
        problems++;
    }
    if (m.complete) {
        char path[4200];
        snprintf(path, sizeof path, "%s/feature_stats.nc", dir);
        struct featstats fs;
        if (featstats_nc_read(path, &fs, &err) != GSAE_OK) {
            printf("BAD   feature_stats.nc: %s\n", err.msg);
            problems++;
        } else {
            printf("OK    feature_stats.nc  %lld features over %lld tokens\n",
                   (long long)fs.cfg.d_sae, (long long)fs.n_tokens);
            featstats_free(&fs);
        }
    }
    int64_t strays = verify_strays(dir, &m);
    printf("%s: %lld parts, %lld problems, %lld stray files%s\n", dir, (long long)m.n_parts,
           (long long)problems, (long long)strays, m.complete ? "" : " (harvest not complete)");
    manifest_free(&m);
    return problems ? 1 : 0;
}

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

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
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
            uint64_t h = mix((uint64_t)tok[t] * 1000003u + (uint64_t)(t ? tok[t - 1] : 0) * 7919u);
            int64_t nz = (int64_t)(h % 6), start = z;
            for (int64_t j = 0; j < nz; j++) {
                uint64_t g = mix(h + (uint64_t)j + 1);
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
                    (float)((int64_t)(mix(h ^ (uint64_t)i) % 2001) - 1000) / 100.0f;
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

/* The exit status of a synth harvest that ended with st, and its closing line. */
static int synth_finish(enum gsae_status st, const struct pstore_result *res,
                        const struct gsae_error *err)
{
    int rc = 0;
    if (st == GSAE_EINTR) {
        if (cli_world_rank() == 0)
            fprintf(stderr, "store synth: stopped on request; rerun to continue\n");
        rc = RUNCTL_EXIT_RESUMABLE;
    } else if (st != GSAE_OK) {
        rc = fail(err);
    } else if (cli_world_rank() == 0) {
        fprintf(stderr,
                "store synth: complete: %lld parts (%lld written now), %.2f s, %.1f%% "
                "in the encoder\n",
                (long long)res->parts_total, (long long)res->parts_written, res->seconds,
                res->seconds > 0 ? 100.0 * res->encode_seconds / res->seconds : 0.0);
    }
    return rc;
}

static int store_synth(int argc, char **argv)
{
    struct store_opts o;
    int prc = opt_parse(&store_synth_cmd, argc, argv, &o);
    if (prc != OPT_RUN) return prc;
    int64_t ctx = o.ctx, d_sae = o.d_sae, d_model = o.d_model;
    struct gsae_error err = {0};
    char **shards = NULL;
    int64_t n_shards = 0;
    if (corpus_expand(o.corpus, &shards, &n_shards, &err) != GSAE_OK) return fail(&err);
    char job_hash[128], corpus_lines[8192] = "";
    for (int64_t i = 0; i < n_shards; i++) {
        size_t used = strlen(corpus_lines);
        snprintf(corpus_lines + used, sizeof corpus_lines - used, "%s%s", i ? "\n" : "", shards[i]);
    }
    snprintf(job_hash, sizeof job_hash, "synth-%016llx",
             (unsigned long long)store_fnv1a(STORE_FNV_BASIS, corpus_lines, strlen(corpus_lines)) ^
                 (unsigned long long)mix((uint64_t)(ctx * 131 + o.wpp * 17 + d_sae * 7 +
                                                    d_model * 3 + o.bf16 + o.max_windows * 101)));
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
        .windows_per_part = o.wpp,
        .resid = d_model == 0 ? STORE_RESID_NONE
                 : o.bf16     ? STORE_RESID_BF16
                              : STORE_RESID_F32,
    };
    struct synth s = {d_sae, d_model, ctx, (long)o.sleep_ms, NULL, NULL, NULL, NULL};
    s.rows = malloc((size_t)(ctx + 1) * sizeof *s.rows);
    s.index = malloc((size_t)ctx * 6 * sizeof *s.index);
    s.value = malloc((size_t)ctx * 6 * sizeof *s.value);
    s.resid = malloc((size_t)(ctx * (d_model + 1)) * sizeof *s.resid);
    struct progress_ctx pc = {{5.0, 0, false}};
    struct pstore_config cfg = {
        .dir = o.out,
        .meta = &meta,
        .job_hash = job_hash,
        .corpus = {(const char *const *)shards, n_shards, (enum corpus_on_bad)o.on_bad, 0,
                   on_warning, NULL},
        .tokenizer = {byte_encode, NULL},
        .stats = {d_sae, 8, 8, 4, false},
        .ranks_per_replica = 1,
        .max_windows = o.max_windows,
        .stop = runctl_stop_flag_install(),
        .progress = on_progress,
        .progress_ctx = &pc,
    };
    struct pstore_encoder enc = {synth_encode, &s};
    struct pstore_result res;
    enum gsae_status st = GSAE_ENOMEM;
    if (s.rows && s.index && s.value && s.resid)
        st = pstore_harvest(MPI_COMM_WORLD, &cfg, &enc, &res, &err);
    int rc = synth_finish(st, &res, &err);
    free(s.rows);
    free(s.index);
    free(s.value);
    free(s.resid);
    corpus_paths_free(shards, n_shards);
    return rc;
}

int cmd_store(int argc, char **argv)
{
    if (argc < 2 || (cli_wants_help(argc, argv) && argv[1][0] == '-')) {
        opt_usage(&store_cmd, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    const struct opt_cmd *c = strcmp(sub, "synth") == 0    ? &store_synth_cmd
                              : strcmp(sub, "info") == 0   ? &store_info_cmd
                              : strcmp(sub, "verify") == 0 ? &store_verify_cmd
                              : strcmp(sub, "dump") == 0   ? &store_dump_cmd
                                                           : NULL;
    if (!c) {
        fprintf(stderr, "gsae store: unknown subcommand '%s'\n", sub);
        opt_usage(&store_cmd, stderr);
        return 2;
    }
    if (c == &store_synth_cmd) return store_synth(argc - 1, argv + 1);
    struct store_opts o;
    int rc = opt_parse(c, argc - 1, argv + 1, &o);
    if (rc != OPT_RUN) return rc;
    if (c == &store_info_cmd) return store_info(o.dir);
    if (c == &store_verify_cmd) return store_verify(o.dir);
    return store_dump(o.dir, o.part, o.limit);
}
