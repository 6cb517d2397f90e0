/* cmd_store.c: `gsae store info|dump|verify|synth`: inspect, check and (for tests) write
 * activation stores.
 *
 * `synth` is test tooling and lives in tools/cmd_store_synth.c.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/corpus.h"
#include "../io/featstats_nc.h"
#include "../io/manifest.h"
#include "../io/store.h"
#include "cli.h"
#include "commands.h"
#include "opt.h"

struct store_opts {
    const char *dir;
    int64_t part, limit;
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

int cmd_store(int argc, char **argv)
{
    if (argc < 2 || (cli_wants_help(argc, argv) && argv[1][0] == '-')) {
        opt_usage(&store_cmd, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "synth") == 0) return cmd_store_synth(argc - 1, argv + 1);
    const struct opt_cmd *c = strcmp(sub, "info") == 0     ? &store_info_cmd
                              : strcmp(sub, "verify") == 0 ? &store_verify_cmd
                              : strcmp(sub, "dump") == 0   ? &store_dump_cmd
                                                           : NULL;
    if (!c) {
        fprintf(stderr, "gsae store: unknown subcommand '%s'\n", sub);
        opt_usage(&store_cmd, stderr);
        return 2;
    }
    struct store_opts o;
    int rc = opt_parse(c, argc - 1, argv + 1, &o);
    if (rc != OPT_RUN) return rc;
    if (c == &store_info_cmd) return store_info(o.dir);
    if (c == &store_verify_cmd) return store_verify(o.dir);
    return store_dump(o.dir, o.part, o.limit);
}
