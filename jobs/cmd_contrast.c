/* cmd_contrast.c: `[mpirun -np N] gsae contrast`: SAE features at the last token of a set of
 * prompts, differences between pairs of prompts, and the contrast of successful against failed
 * prompts.
 *
 * The prompts (io/promptset.h: ARC tasks with an outcomes CSV, or JSON lines) run through the
 * model truncated after the SAE's layer L (mpi/plan.h); the stage that owns L encodes each
 * prompt's last token and rank 0 gathers the (prompt, feature) matrix (mpi/promptset.h). Rank 0
 * then computes, with src/stats.h:
 *   - for each requested pair a-b (indices into the prompt list), the top features by
 *     |acts[a] - acts[b]|;
 *   - when every prompt is labelled and each group has at least two prompts: per feature the
 *     mean difference (success minus failure), Cohen's d and Hedges' g, a seeded two-sided
 *     permutation p-value and the Benjamini-Hochberg q-value; the top features by |difference|.
 * and writes OUT/contrast.nc (io/contrast_nc.h), acts_last_token.csv, feature_diff.csv,
 * table_pair_top.csv and table_group_contrast.csv (io/contrast_csv.h), and prints the tables.
 * Every prompt is its own micro-batch, so the outputs are identical on any number of ranks.
 *
 * Settings come as flags or from a job file (--job): the keys of the step's section are the
 * flags' names (jobs/README.md); flags given as well override the job's.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../io/ckpt.h"
#include "../io/contrast_csv.h"
#include "../io/contrast_nc.h"
#include "../io/job.h"
#include "../io/promptset.h"
#include "../io/sae_io.h"
#include "../io/tokenizer_load.h"
#include "../mpi/dist.h"
#include "../mpi/dist_engine.h"
#include "../mpi/engine.h"
#include "../mpi/promptset.h"
#include "../src/rng.h"
#include "../src/stats.h"
#include "cli.h"
#include "commands.h"
#include "contrast_stats.h"
#include "hub_cli.h"
#include "opt.h"
#include "sae_cli.h"

#define CONTRAST_PATH_MAX 4096
#define CONTRAST_MAX_SAES 16

struct options {
    const char *job, *step;
    const char *model, *sae, *tokenizer, *tasks, *arc, *outcomes, *prompts, *pairs;
    const char *out, *acts, *diff, *layers, *revision;
    char *model_path, *sae_path;           /* owned: --model and --sae resolved (hub_cli.h) */
    const char *saes[CONTRAST_MAX_SAES];   /* every --sae (saes[0] is sae): one report per hook */
    int64_t sae_layers[CONTRAST_MAX_SAES]; /* L of --sae L:PATH, else -1 */
    char *sae_paths[CONTRAST_MAX_SAES];    /* owned: saes[1..] resolved */
    int n_saes, n_sae_flags;
    int64_t layer, n_perm, top;
    uint64_t seed;
    int n_stages, n_threads, position;
    bool no_bos;
    enum gemma_compute compute; /* --compute f32|bf16 (default f32) */
};

static const struct opt_choice computes[] = {
    {"f32", GEMMA_COMPUTE_F32}, {"bf16", GEMMA_COMPUTE_BF16}, {0}};
static const struct opt_choice auto_stages[] = {{"auto", 0}, {0}};
static const struct opt_choice positions[] = {{"last", 0}, {0}};

#define O(f) offsetof(struct options, f)
static const struct opt contrast_table[] = {
    {"model", OPT_STR, O(model), .meta = "MODEL", .help = "the checkpoint (required)"},
    {"sae", OPT_STR, O(sae), .meta = "SAE",
     .help = "the SAE (required; several: one report per SAE, each at its own layer)"},
    {"layer", OPT_I64, O(layer), "-1", 0, 1 << 20, .meta = "L",
     .help = "hooked layer, resid_post.L (required)"},
    {"tokenizer", OPT_STR, O(tokenizer), .meta = "PATH", .help = "tokenizer.json(.zst) (required)"},
    {"revision", OPT_STR, O(revision), .meta = "REV",
     .help = "branch, tag or commit of a hub MODEL"},
    {"tasks", OPT_STR, O(tasks), .meta = "DIR|NAME,...",
     .help = "ARC tasks (DIR, DIR/training, DIR/evaluation) with --outcomes, or names in --arc"},
    {"arc", OPT_STR, O(arc), .meta = "DIR", .help = "ARC tasks directory, with --tasks NAME,..."},
    {"outcomes", OPT_STR, O(outcomes), .meta = "CSV",
     .help = "filename,confidence,len_prompt,outcome in the CSV's order"},
    {"prompts", OPT_STR, O(prompts), .meta = "JSONL",
     .help = "{\"prompt\", \"name\", \"label\", \"confidence\", \"len_prompt\"} per line"},
    {"pairs", OPT_STR, O(pairs), .meta = "A-B,...", .help = "prompt index pairs (0-based)"},
    {"permutations", OPT_I64, O(n_perm), "1000", 1, 1099511627776.0, .meta = "N",
     .help = "label permutations for the p-values"},
    {"seed", OPT_U64, O(seed), "0", .meta = "S", .help = "permutation seed"},
    {"top", OPT_I64, O(top), "10", 1, 1 << 20, .meta = "K",
     .help = "top features per pair and for the group"},
    {"out", OPT_STR, O(out), .meta = "DIR",
     .help = "output directory (default: [job] out, else the directory of --acts)"},
    {"acts", OPT_STR, O(acts), .meta = "CSV", .help = "acts_last_token.csv path (default in OUT)"},
    {"diff", OPT_STR, O(diff), .meta = "CSV", .help = "feature_diff.csv path (default in OUT)"},
    {"stages", OPT_INT, O(n_stages), .min = 1, .max = 1 << 20, .choices = auto_stages,
     .meta = "S|auto", .help = "pipeline stages per replica (default all ranks)"},
    {"layers", OPT_STR, O(layers), .meta = "SPEC", .help = "explicit stages, e.g. 0-1,2-2"},
    {"threads", OPT_INT, O(n_threads), .min = 0, .max = 4096, .meta = "T",
     .help = "BLAS and loop threads per rank"},
    {"compute", OPT_ENUM, O(compute), "f32", .choices = computes, .meta = "f32|bf16",
     .help = "GEMM arithmetic (bf16: f32 accumulation, oneDNN; SAE thresholds in f32)"},
    {"no-bos", OPT_FLAG, O(no_bos), .help = "do not put <bos> before each prompt"},
    {"position", OPT_ENUM, O(position), .choices = positions, .flags = OPT_HIDDEN, .meta = "last"},
    {"job", OPT_STR, O(job), .meta = "FILE",
     .help = "read the settings from a job file's section --step (else its first contrast step)"},
    {"step", OPT_STR, O(step), .meta = "SECTION", .help = "the job file's section"},
    {0},
};
#undef O

const struct opt_cmd contrast_cmd = {
    "contrast",
    .synopsis =
        "--model MODEL --sae SAE --layer L --tokenizer PATH   (under [mpirun -np N])\n"
        "           (--tasks DIR --outcomes CSV | --arc DIR --tasks NAME,... [--outcomes CSV]\n"
        "            | --prompts JSONL) [--pairs A-B,...] [--permutations N] [--seed S]\n"
        "           [--top K] [--out DIR] [--acts CSV] [--diff CSV] [--stages S|auto]\n"
        "           [--layers SPEC] [--threads T] [--compute f32|bf16] [--no-bos]\n"
        "           [--revision REV]\n"
        "       gsae contrast --job FILE [--step SECTION] [flags overriding the job's]",
    .about = "SAE features at each prompt's last token (resid_post.L, the model run up to layer L\n"
             "only), the top features by difference for pairs of prompts, and the group contrast\n"
             "of successful against failed prompts (mean difference, Cohen's d, Hedges' g,\n"
             "permutation p-value, Benjamini-Hochberg q-value).\n"
             "\n" HUB_CLI_MODEL_USAGE HUB_CLI_SAE_USAGE,
    .size = sizeof(struct options),
    .groups = {{contrast_table, 0}},
};

/* ---- options ------------------------------------------------------------------------------ */

static bool is_flag(const char *key)
{
    return strcmp(key, "no-bos") == 0;
}

/* An SAE of the run: the job's replaces the list, the first flag too, later flags add. */
static bool add_sae(struct options *o, const char *v, bool flag)
{
    if (!flag || o->n_sae_flags++ == 0) o->n_saes = 0;
    if (o->n_saes == CONTRAST_MAX_SAES) return false;
    sae_cli_layer_path(v, &o->sae_layers[o->n_saes], &o->saes[o->n_saes]);
    o->n_saes++;
    o->sae = o->saes[0];
    return true;
}

/* Set option key (a flag's name without "--") to value; from names the source for messages. */
static enum gsae_status set_option(struct options *o, const char *key, const char *v,
                                   const char *from, struct gsae_error *err)
{
    if (strcmp(key, "sae") == 0) { /* several --sae: one report per SAE (add_sae) */
        if (add_sae(o, v, strcmp(from, "option") == 0)) return GSAE_OK;
        return gsae_fail(err, GSAE_EINVAL, "%s: more than %d SAEs", from, CONTRAST_MAX_SAES);
    }
    enum gsae_status st = opt_set(&contrast_cmd, o, key, v, err);
    if (st == GSAE_ENOTFOUND)
        return gsae_fail(err, GSAE_EINVAL, "%s: unknown setting '%s'", from, key);
    if (st != GSAE_OK)
        return gsae_fail(err, GSAE_EINVAL, "%s: %s = '%s' is not valid (see gsae contrast --help)",
                         from, key, v);
    return GSAE_OK;
}

/* The step section of a job: --step, else the first step of [job] steps with command
 * `contrast`, else one with command `features` (the same settings under another name). A step
 * without a command key runs the command named like the step (as `gsae run` does). */
static enum gsae_status find_step(const struct job *job, const char *want, const char **step,
                                  struct gsae_error *err)
{
    static const char *const commands[] = {"contrast", "features"};
    char **steps = NULL;
    int64_t n = 0;
    const char *found = want;
    enum gsae_status st = want ? GSAE_OK : job_get_list(job, "job", "steps", &steps, &n, err);
    for (size_t c = 0; st == GSAE_OK && !found && c < 2; c++)
        for (int64_t i = 0; i < n && !found; i++) {
            const char *cmd = job_get(job, steps[i], "command");
            if (strcmp(cmd ? cmd : steps[i], commands[c]) == 0) found = steps[i];
        }
    /* the section's name as stored in the job (the list is freed below) */
    *step = NULL;
    for (int64_t i = 0; found && i < job->n_entries && !*step; i++)
        if (strcmp(job->entries[i].section, found) == 0) *step = job->entries[i].section;
    if (st == GSAE_OK && !*step)
        st = found ? gsae_fail(err, GSAE_ENOTFOUND, "%s: no section [%s]", job->path, found)
                   : gsae_fail(err, GSAE_ENOTFOUND,
                               "%s: no step with command contrast or features in [job] steps; "
                               "name the section with --step",
                               job->path);
    job_list_free(steps);
    return st;
}

/* Load the job file, give it an output directory, and take the step's settings. */
static enum gsae_status apply_job(struct options *o, const char *out_flag, struct job *job,
                                  struct gsae_error *err)
{
    enum gsae_status st = job_load(job, o->job, err);
    if (st == GSAE_OK && out_flag)
        st = job_put(job, "job", "out", out_flag, "--out", err);
    else if (st == GSAE_OK && !job_get(job, "job", "out")) {
        const char *base = strrchr(o->job, '/');
        char def[CONTRAST_PATH_MAX];
        snprintf(def, sizeof def, "results/%s", base ? base + 1 : o->job);
        char *dot = strrchr(def, '.');
        if (dot && strcmp(dot, ".ini") == 0) *dot = '\0';
        st = job_put(job, "job", "out", def, "gsae contrast", err);
    }
    if (st == GSAE_OK) st = job_resolve(job, err);
    const char *step = NULL;
    if (st == GSAE_OK) st = find_step(job, o->step, &step, err);
    for (int64_t i = 0; st == GSAE_OK && i < job->n_entries; i++) {
        const struct job_entry *e = &job->entries[i];
        if (strcmp(e->section, step) != 0) continue;
        if (strcmp(e->key, "command") == 0 || strcmp(e->key, "ranks") == 0 ||
            strcmp(e->key, "launcher") == 0 || strcmp(e->key, "args") == 0)
            continue;
        st = set_option(o, e->key, e->value, e->origin, err);
    }
    if (st == GSAE_OK && !o->out) o->out = job_get(job, "job", "out");
    return st;
}

/* Without --out: the directory of --acts (as `gsae run` passes a job's outputs), else
 * results/contrast. */
static const char *default_out(const char *acts, char *buf, size_t cap)
{
    const char *slash = acts ? strrchr(acts, '/') : NULL;
    if (!acts) return "results/contrast";
    if (!slash) return ".";
    snprintf(buf, cap, "%.*s", (int)(slash - acts), acts);
    return buf[0] ? buf : "/";
}

/* Flags: a first pass for --job, --step and --out, the job's settings, then every flag. */
static int parse_args(int argc, char **argv, struct options *o, struct job *job, char *out_buf,
                      size_t out_cap)
{
    opt_defaults(&contrast_cmd, o);
    struct gsae_error err = {0};
    const char *out_flag = NULL;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 1; i < argc; i++) {
            const char *a = argv[i], *eq = strchr(a, '='), *v = NULL;
            size_t key_len = eq ? (size_t)(eq - a) : strlen(a);
            char key[64];
            if (strncmp(a, "--", 2) != 0 || key_len - 2 >= sizeof key) {
                fprintf(stderr, "gsae contrast: unexpected argument '%s'\n", a);
                return 2;
            }
            snprintf(key, sizeof key, "%.*s", (int)(key_len - 2), a + 2);
            if (eq)
                v = eq + 1;
            else if (is_flag(key))
                v = "true";
            else if (i + 1 < argc)
                v = argv[++i];
            else {
                fprintf(stderr, "gsae contrast: --%s needs a value\n", key);
                return 2;
            }
            bool early = strcmp(key, "job") == 0 || strcmp(key, "step") == 0;
            if (pass == 0 && early)
                *(key[0] == 'j' ? &o->job : &o->step) = v;
            else if (pass == 0 && strcmp(key, "out") == 0)
                out_flag = v;
            else if (pass == 1 && !early && set_option(o, key, v, "option", &err) != GSAE_OK) {
                cli_report("contrast", &err);
                return 2;
            }
        }
        if (pass == 0 && o->job && apply_job(o, out_flag, job, &err) != GSAE_OK) {
            cli_report("contrast", &err);
            return 2;
        }
    }
    if (!o->model || !o->sae || !o->tokenizer ||
        (o->layer < 0 && o->n_saes < 2 && o->sae_layers[0] < 0) ||
        !(o->prompts || o->outcomes || o->tasks)) {
        fprintf(stderr, "gsae contrast: needs --model, --sae, --layer, --tokenizer and prompts "
                        "(--tasks DIR --outcomes CSV, --arc DIR --tasks NAMES or --prompts)\n");
        return 2;
    }
    if (!o->out) o->out = default_out(o->acts, out_buf, out_cap);
    /* Hub names (also those of a job file read here) become paths. */
    if (!(o->model_path = hub_cli_model("contrast", o->model, o->revision)) ||
        !(o->sae_path = hub_cli_sae("contrast", o->sae)))
        return 2;
    o->model = o->model_path;
    o->sae = o->saes[0] = o->sae_path;
    for (int j = 1; j < o->n_saes; j++)
        if (!(o->sae_paths[j] = hub_cli_sae("contrast", o->saes[j])) || o->acts || o->diff) {
            if (o->sae_paths[j])
                fprintf(stderr, "gsae contrast: with several --sae the outputs go to "
                                "OUT/resid_post.L (no --acts, --diff)\n");
            return 2;
        } else
            o->saes[j] = o->sae_paths[j];
    return 0;
}

/* ---- inputs ------------------------------------------------------------------------------- */

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The prompt set the options name. Local. */
static enum gsae_status load_prompts(const struct options *o, struct promptset *ps,
                                     struct gsae_error *err)
{
    if (o->prompts) return promptset_load_jsonl(ps, o->prompts, err);
    if (o->tasks && is_dir(o->tasks))
        return promptset_load_arc(ps, o->tasks, o->outcomes, NULL, 0, err);
    if (!o->tasks) return promptset_load_arc(ps, o->arc, o->outcomes, NULL, 0, err);
    if (!o->arc)
        return gsae_fail(err, GSAE_EINVAL, "--tasks '%s' is not a directory; task names need --arc",
                         o->tasks);
    char *names_buf = strdup(o->tasks);
    const char **names = calloc(strlen(o->tasks) / 2 + 1, sizeof *names);
    int64_t n = 0;
    enum gsae_status st = GSAE_OK;
    if (!names_buf || !names) st = gsae_fail(err, GSAE_ENOMEM, "--tasks: no memory");
    char *save = NULL;
    for (char *t = st == GSAE_OK ? strtok_r(names_buf, ", \t\n", &save) : NULL; t;
         t = strtok_r(NULL, ", \t\n", &save))
        names[n++] = t;
    if (st == GSAE_OK && n == 0) st = gsae_fail(err, GSAE_EINVAL, "--tasks: no task names");
    if (st == GSAE_OK) st = promptset_load_arc(ps, o->arc, o->outcomes, names, n, err);
    free(names);
    free(names_buf);
    return st;
}

/* ---- outputs (rank 0; the analysis is contrast_stats.h) --------------------------------- */

static enum gsae_status make_dirs(const char *path, struct gsae_error *err)
{
    char buf[CONTRAST_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p && *p != '/') continue;
        char was = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", buf, strerror(errno));
        if (!(*p = was)) break;
    }
    return GSAE_OK;
}

static enum gsae_status write_outputs(const struct contrast *c, const struct promptset *ps,
                                      const struct options *o, struct gsae_error *err)
{
    char nc[CONTRAST_PATH_MAX], acts[CONTRAST_PATH_MAX], diff[CONTRAST_PATH_MAX];
    char pairs[CONTRAST_PATH_MAX], group[CONTRAST_PATH_MAX];
    snprintf(nc, sizeof nc, "%s/contrast.nc", o->out);
    snprintf(acts, sizeof acts, "%s", o->acts ? o->acts : "");
    if (!o->acts) snprintf(acts, sizeof acts, "%s/acts_last_token.csv", o->out);
    snprintf(diff, sizeof diff, "%s", o->diff ? o->diff : "");
    if (!o->diff) snprintf(diff, sizeof diff, "%s/feature_diff.csv", o->out);
    snprintf(pairs, sizeof pairs, "%s/table_pair_top.csv", o->out);
    snprintf(group, sizeof group, "%s/table_group_contrast.csv", o->out);
    struct contrast_nc_meta meta = {o->model, o->sae,
                                    o->prompts    ? o->prompts
                                    : o->outcomes ? o->outcomes
                                                  : o->tasks,
                                    o->layer};
    struct contrast_nc_pairs pp = {c->n_pairs, c->k_pair, c->pair_a, c->pair_b, c->pair_top};
    enum gsae_status st = make_dirs(o->out, err);
    if (st == GSAE_OK)
        st = contrast_nc_write(nc, &meta, ps, c->acts, c->d_sae, &pp, &c->group, err);
    if (st == GSAE_OK) st = contrast_csv_acts(acts, ps, c->acts, c->d_sae, err);
    bool has_diff = c->n_pairs > 0 || c->group.present;
    if (st == GSAE_OK && has_diff)
        st = contrast_csv_diff(diff, c->acts, c->d_sae, &pp, c->group.present ? c->s.diff : NULL,
                               err);
    if (st == GSAE_OK && c->n_pairs > 0)
        st = contrast_csv_pair_top(pairs, ps, c->acts, c->d_sae, &pp, err);
    if (st == GSAE_OK && c->group.present) st = contrast_csv_group_top(group, &c->group, err);
    if (st == GSAE_OK)
        printf("\nwrote %s, %s%s%s%s%s\n", nc, acts, has_diff ? ", " : "", has_diff ? diff : "",
               c->n_pairs ? ", " : "", c->n_pairs ? pairs : "");
    if (st == GSAE_OK && c->group.present) printf("wrote %s\n", group);
    return st;
}

/* Rank 0: the analysis and every output, given the gathered matrix. */
static enum gsae_status analyse(struct contrast *c, const struct promptset *ps,
                                const struct options *o, struct gsae_error *err)
{
    enum gsae_status st = pair_tops(c, o->top, err);
    if (st == GSAE_OK) st = group_contrast(c, ps, o->top, o->n_perm, o->seed, err);
    if (st == GSAE_OK) {
        print_tables(c, ps);
        st = write_outputs(c, ps, o, err);
    }
    return st;
}

/* ---- the pipeline ------------------------------------------------------------------------- */

/* Everything every rank holds. */
struct run {
    struct promptset ps;
    struct tokenizer tk;
    struct gemma_config cfg;
    struct promptset_work work;
    struct engine e; /* the model to resid_post.L, the SAE on the stage owning L */
};

/* Prompts, tokens and the model's configuration: deterministic, the same on every
 * rank. Warns (rank 0) where a prompt's length differs from the recorded len_prompt. */
static enum gsae_status prepare(const struct options *o, struct run *r, struct contrast *c,
                                struct gsae_error *err)
{
    enum gsae_status st = load_prompts(o, &r->ps, err);
    if (st == GSAE_OK)
        st = contrast_pairs_parse(o->pairs, r->ps.n, &c->pair_a, &c->pair_b, &c->n_pairs, err);
    if (st == GSAE_OK) st = ckpt_config_load(o->model, &r->cfg, err);
    if (st == GSAE_OK && o->layer >= r->cfg.n_layers)
        st = gsae_fail(err, GSAE_EINVAL, "--layer %lld: the model has layers 0..%lld",
                       (long long)o->layer, (long long)r->cfg.n_layers - 1);
    if (st == GSAE_OK) st = tokenizer_load(&r->tk, o->tokenizer, err);
    if (st == GSAE_OK) st = promptset_tokenize(&r->ps, &r->tk, !o->no_bos, err);
    for (int64_t i = 0; i < r->ps.n; i++) {
        const struct promptset_item *it = &r->ps.items[i];
        if (it->len_prompt >= 0 && it->len_prompt != it->n_chars && cli_world_rank() == 0)
            fprintf(stderr,
                    "gsae contrast: warning: %s: the prompt has %lld characters, "
                    "len_prompt says %lld\n",
                    it->name, (long long)it->n_chars, (long long)it->len_prompt);
    }
    if (st == GSAE_OK) st = promptset_work_init(&r->work, &r->ps, err);
    return st;
}

static void run_free(struct run *r, bool close_dist)
{
    engine_close(&r->e, close_dist);
    promptset_work_free(&r->work);
    tokenizer_free(&r->tk);
    promptset_free(&r->ps);
}

/* The prompts, then the engine truncated after layer L (its last stage's output is
 * resid_post.L), agreeing on failures. */
static enum gsae_status setup(const struct options *o, struct run *r, struct contrast *c,
                              struct gsae_error *err)
{
    enum gsae_status st = prepare(o, r, c, err);
    int64_t longest = 0;
    for (int64_t i = 0; i < r->ps.n; i++)
        longest = r->ps.items[i].n_tokens > longest ? r->ps.items[i].n_tokens : longest;
    struct engine_sae saes[CONTRAST_MAX_SAES];
    for (int j = 0; j < o->n_saes; j++)
        saes[j] = (struct engine_sae){o->saes[j], o->sae_layers[j] >= 0 ? o->sae_layers[j]
                                                  : o->n_saes == 1      ? o->layer
                                                                        : -1};
    struct engine_config cfg = {.model_dir = o->model,
                                .n_stages = o->n_stages,
                                .layers = o->layers,
                                .n_threads = o->n_threads,
                                .truncate = true,
                                .dtype = GSAE_DTYPE_BF16,
                                .ctx_len = longest,
                                .saes = saes,
                                .n_saes = o->n_saes,
                                .warn_model_name = true,
                                .shape = &r->work.work,
                                .compute = o->compute,
                                .local = st};
    st = engine_open(engine_job_comm(), &cfg, &r->e, err);
    for (int64_t i = 0; st == GSAE_OK && i < r->e.n_hooks; i++)
        if (r->e.hooks[i].warning[0] && r->e.d.replica == 0)
            fprintf(stderr, "gsae contrast: warning: %s\n", r->e.hooks[i].warning);
    return st;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Rank 0: the analysis and outputs of hook j, into OUT (one SAE) or OUT/resid_post.L. */
static enum gsae_status report_hook(const struct run *r, const struct options *o, int64_t j,
                                    struct contrast *c, double t0, struct gsae_error *err)
{
    if (r->e.d.rank != 0) return GSAE_OK;
    const struct engine_hook *h = &r->e.hooks[j];
    struct options oj = *o;
    char dir[CONTRAST_PATH_MAX / 2];
    if (r->e.n_hooks > 1) {
        snprintf(dir, sizeof dir, "%s/resid_post.%lld", o->out, (long long)h->layer);
        oj.out = dir, oj.sae = h->path, oj.layer = h->layer;
        printf("%sresid_post.%lld (%s):\n", j ? "\n" : "", (long long)h->layer, h->path);
    }
    int64_t n_tok = 0;
    for (int64_t i = 0; i < r->ps.n; i++)
        n_tok += r->ps.items[i].n_tokens;
    printf("gsae contrast: %lld prompts (%lld tokens) through layers 0-%lld on %d "
           "stage(s) x %d replica(s), %lld SAE features, %.2f s\n",
           (long long)r->ps.n, (long long)n_tok, (long long)oj.layer, r->e.d.n_stages,
           r->e.d.n_replicas, (long long)c->d_sae, now_s() - t0);
    return analyse(c, &r->ps, &oj, err);
}

int cmd_contrast(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        opt_usage(&contrast_cmd, stdout);
        return 0;
    }
    struct options o;
    struct job job = {0};
    char out_dir[CONTRAST_PATH_MAX];
    int rc = parse_args(argc, argv, &o, &job, out_dir, sizeof out_dir);
    if (rc != 0) {
        free(o.model_path);
        free(o.sae_path);
        for (int j = 1; j < o.n_saes; j++)
            free(o.sae_paths[j]);
        job_free(&job);
        return rc;
    }
    struct gsae_error err = {0};
    struct run r = {0};
    struct contrast c = {0};
    bool agreed = true;
    double t0 = now_s();
    enum gsae_status st = setup(&o, &r, &c, &err);
    for (int64_t j = 0; st == GSAE_OK && j < r.e.n_hooks; j++) {
        if (j > 0) contrast_reset(&c);
        /* a failure inside the stream is not agreed (see mpi/pipe.h) */
        st = promptset_last_acts(&r.e, j, &r.work.work, &c.acts, &c.d_sae, &err);
        agreed = st == GSAE_OK;
        if (st == GSAE_OK) st = dist_agree(r.e.d.world, report_hook(&r, &o, j, &c, t0, &err), &err);
    }
    if (st != GSAE_OK) cli_report("contrast", &err);
    fflush(stdout);
    if (st != GSAE_OK && agreed && st != GSAE_EMPI && cli_world_size() > 1) dist_barrier(&r.e.d);
    run_free(&r, agreed && st != GSAE_EMPI);
    contrast_free(&c);
    job_free(&job);
    free(o.model_path);
    free(o.sae_path);
    for (int j = 1; j < o.n_saes; j++)
        free(o.sae_paths[j]);
    return st == GSAE_OK ? 0 : 1;
}
