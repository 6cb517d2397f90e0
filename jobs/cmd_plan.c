/* cmd_plan.c: `gsae plan`: print the stage plan a pipelined job would use (mpi/plan.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/ckpt.h"
#include "../io/hfhub.h"
#include "../mpi/plan.h"
#include "cli.h"
#include "commands.h"
#include "hub_cli.h"
#include "sae_cli.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: [mpirun -np N] gsae plan (MODEL | --model MODEL | --preset 2b|9b|27b|tiny)\n"
        "                 [--ranks N] [--stages S] [--layers A-B,C-D,...] [--layer L]\n"
        "                 [--upto L] [--no-logits] [--ctx T] [--dtype bf16|f16|f32]\n"
        "                 [--model-layers N] [--revision REV]\n"
        "\n"
        "Print how `mpirun -np N gsae ...` splits the model: N / S replicas of an S-stage\n"
        "pipeline, each stage a contiguous layer range balanced by estimated FLOPs (the\n"
        "embedding lookup on the first stage, final norm and unembedding on the last), with\n"
        "per stage the layers, bytes of weights it maps, activations and KV cache for one\n"
        "sequence of --ctx tokens, and GFLOP per token. Under mpirun the job's ranks are the\n"
        "ranks planned and rank 0 prints.\n"
        "\n"
        "  MODEL            a checkpoint (config.json; weights give the dtype), see below\n"
        "  --model MODEL    the same, as the SAE commands name it\n"
        "  --preset P       Gemma-2 sizes instead of a checkpoint (--model-layers N resizes)\n"
        "  --ranks N        ranks in the job (default: mpirun's, else one per stage)\n"
        "  --stages S       stages per replica (default N)\n"
        "  --layers SPEC    explicit stages as inclusive ranges, e.g. 0-6,7-13,14-20\n"
        "  --layer L        the SAE's hooked layer (resid_post.L): which stage runs the SAE\n"
        "  --upto L         truncated pipeline: run layers 0..L only (resid_post.L), no logits\n"
        "  --no-logits      no unembedding on the last stage\n"
        "  --ctx T          sequence length for attention costs (default 1024)\n"
        "  --dtype D        weight dtype for a preset (default bf16)\n"
        "  --model-layers N layers of a preset (default the preset's)\n"
        "\n%s",
        HUB_CLI_MODEL_USAGE);
}

struct options {
    const char *dir, *preset, *layers, *revision;
    int n_ranks, n_stages;
    int64_t upto, ctx_len, model_layers, hook_layer;
    bool no_logits, has_dtype;
    enum gsae_dtype dtype;
};

/* Parse the options; on a bad one print why (rank 0) and return false. */
static bool parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->upto = -1;
    o->hook_layer = -1;
    o->ctx_len = 1024;
    o->dtype = GSAE_DTYPE_BF16;
    bool quiet = cli_world_rank() != 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-logits") == 0) {
            o->no_logits = true;
            continue;
        }
        if (a[0] != '-') {
            if (o->dir) {
                if (!quiet)
                    fprintf(stderr, "gsae plan: one model only ('%s' and '%s')\n", o->dir, a);
                return false;
            }
            o->dir = a;
            continue;
        }
        if (!v) {
            if (!quiet) fprintf(stderr, "gsae plan: unknown option or missing value: %s\n", a);
            return false;
        }
        i++;
        int64_t n = 0;
        bool ok = true;
        if (strcmp(a, "--model") == 0) {
            ok = o->dir == NULL;
            o->dir = v;
        } else if (strcmp(a, "--preset") == 0)
            o->preset = v;
        else if (strcmp(a, "--revision") == 0)
            o->revision = v;
        else if (strcmp(a, "--layers") == 0)
            o->layers = v;
        else if (strcmp(a, "--ranks") == 0 && (ok = sae_cli_i64(v, 1, 1 << 24, &n)))
            o->n_ranks = (int)n;
        else if (strcmp(a, "--stages") == 0 && (ok = sae_cli_i64(v, 1, 1 << 24, &n)))
            o->n_stages = (int)n;
        else if (strcmp(a, "--upto") == 0)
            ok = sae_cli_i64(v, 0, 1 << 20, &o->upto);
        else if (strcmp(a, "--layer") == 0)
            ok = sae_cli_i64(v, 0, 1 << 20, &o->hook_layer);
        else if (strcmp(a, "--ctx") == 0)
            ok = sae_cli_i64(v, 1, INT64_C(1) << 32, &o->ctx_len);
        else if (strcmp(a, "--model-layers") == 0)
            ok = sae_cli_i64(v, 1, 1 << 20, &o->model_layers);
        else if (strcmp(a, "--dtype") == 0) {
            o->dtype = strcmp(v, "bf16") == 0  ? GSAE_DTYPE_BF16
                       : strcmp(v, "f16") == 0 ? GSAE_DTYPE_F16
                       : strcmp(v, "f32") == 0 ? GSAE_DTYPE_F32
                                               : GSAE_DTYPE_INVALID;
            ok = o->dtype != GSAE_DTYPE_INVALID;
            o->has_dtype = true;
        } else if (strcmp(a, "--ranks") != 0 && strcmp(a, "--stages") != 0) {
            if (!quiet) fprintf(stderr, "gsae plan: unknown option %s\n", a);
            return false;
        }
        if (!ok) {
            if (!quiet) fprintf(stderr, "gsae plan: %s '%s' is not valid\n", a, v);
            return false;
        }
    }
    const char *bad = NULL;
    if ((o->dir != NULL) == (o->preset != NULL))
        bad = "give a checkpoint (MODEL_DIR or --model DIR) or --preset, one of them";
    else if (o->dir && (o->has_dtype || o->model_layers))
        bad = "--dtype and --model-layers apply to --preset only (a checkpoint has its own)";
    if (bad) {
        if (!quiet) fprintf(stderr, "gsae plan: %s\n", bad);
        return false;
    }
    if (o->n_ranks == 0 && cli_world_size() > 1) o->n_ranks = cli_world_size();
    if (o->n_ranks == 0) { /* as many as the stages, or one */
        o->n_ranks = o->n_stages > 0 ? o->n_stages : 1;
        for (const char *c = o->layers; c && o->n_stages == 0 && *c; c++)
            o->n_ranks += *c == ',';
    }
    return true;
}

static enum gsae_status load_config(const struct options *o, struct gemma_config *cfg,
                                    enum gsae_dtype *dtype, struct gsae_error *err)
{
    *dtype = o->dtype;
    if (o->preset) {
        if (strcmp(o->preset, "2b") == 0)
            *cfg = gemma_config_2b();
        else if (strcmp(o->preset, "9b") == 0)
            *cfg = gemma_config_9b();
        else if (strcmp(o->preset, "27b") == 0)
            *cfg = gemma_config_27b();
        else if (strcmp(o->preset, "tiny") == 0)
            *cfg = gemma_config_tiny();
        else
            return gsae_fail(err, GSAE_EINVAL, "--preset '%s': expected 2b, 9b, 27b or tiny",
                             o->preset);
        if (o->model_layers > 0) cfg->n_layers = o->model_layers;
        return GSAE_OK;
    }
    struct ckpt ck = {0};
    char *dir = NULL;
    enum gsae_status st = hfhub_model_path(o->dir, o->revision, &dir, err);
    if (st == GSAE_OK) st = ckpt_open(&ck, dir, NULL, err);
    if (st == GSAE_OK) {
        *cfg = ck.cfg;
        *dtype = ck.w.embed.dtype;
    }
    ckpt_close(&ck);
    free(dir);
    return st;
}

/* The ranks of stage k, "k,k+S,..." (cut short when long). */
static void stage_ranks(const struct plan *p, int k, char *out, size_t size)
{
    out[0] = '\0';
    for (int r = k; r < p->n_ranks && strlen(out) < 50; r += p->n_stages)
        snprintf(out + strlen(out), size - strlen(out), "%s%d", r == k ? "" : ",", r);
}

static void print_plan(const struct plan *p, const struct gemma_config *cfg,
                       const struct options *o, enum gsae_dtype dtype)
{
    printf("plan: %d ranks = %d replica%s x %d stage%s; layers 0-%lld of %lld%s; %s weights; "
           "context %lld\n",
           p->n_ranks, p->n_replicas, p->n_replicas == 1 ? "" : "s", p->n_stages,
           p->n_stages == 1 ? "" : "s", (long long)p->n_layers - 1, (long long)cfg->n_layers,
           p->with_logits ? "; logits on the last stage" : " (truncated: no logits)",
           gsae_dtype_name(dtype), (long long)o->ctx_len);
    double worst = 0.0, total = 0.0;
    for (int k = 0; k < p->n_stages; k++) {
        total += p->stages[k].flops_per_token;
        if (p->stages[k].flops_per_token > worst) worst = p->stages[k].flops_per_token;
    }
    printf("%-6s %-12s %-10s %-6s %-8s %12s %10s %12s %8s\n", "stage", "ranks", "layers", "embed",
           "unembed", "weights MiB", "state MiB", "GFLOP/token", "of max");
    for (int k = 0; k < p->n_stages; k++) {
        const struct plan_stage *s = &p->stages[k];
        char ranks[64], layers[48] = "-";
        stage_ranks(p, k, ranks, sizeof ranks);
        if (s->layer_end > s->layer_begin)
            snprintf(layers, sizeof layers, "%lld-%lld", (long long)s->layer_begin,
                     (long long)s->layer_end - 1);
        /* Activations and KV cache for one sequence of ctx tokens prefilled at once. */
        size_t state =
            gemma_state_bytes(cfg, s->layer_end - s->layer_begin, 1, o->ctx_len, o->ctx_len);
        printf("%-6d %-12s %-10s %-6s %-8s %12.1f %10.1f %12.3f %7.1f%%\n", k, ranks, layers,
               s->has_embed ? "yes" : "-", s->has_unembed ? "yes" : "-",
               (double)s->weight_bytes / 1048576.0, (double)state / 1048576.0,
               s->flops_per_token / 1e9, 100.0 * s->flops_per_token / worst);
    }
    printf("balance: the slowest stage sets the pace; ideal speed-up %.2f of %d stages\n",
           total / worst, p->n_stages);
    for (int k = 0; k < p->n_stages && o->hook_layer >= 0; k++)
        if (o->hook_layer >= p->stages[k].layer_begin && o->hook_layer < p->stages[k].layer_end) {
            char ranks[64];
            stage_ranks(p, k, ranks, sizeof ranks);
            printf("SAE at resid_post.%lld: stage %d, ranks %s\n", (long long)o->hook_layer, k,
                   ranks);
        }
}

int cmd_plan(int argc, char **argv)
{
    struct options o;
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (!parse_args(argc, argv, &o)) {
        if (cli_world_rank() == 0) usage(stderr);
        return 2;
    }
    struct gsae_error err = {0};
    struct gemma_config cfg;
    enum gsae_dtype dtype;
    struct plan p = {0};
    enum gsae_status st = load_config(&o, &cfg, &dtype, &err);
    struct plan_options po = {.n_ranks = o.n_ranks,
                              .n_stages = o.n_stages,
                              .n_layers = o.upto >= 0 ? o.upto + 1 : 0,
                              .with_logits = !o.no_logits && o.upto < 0,
                              .dtype = dtype,
                              .ctx_len = o.ctx_len,
                              .layers = o.layers};
    if (st == GSAE_OK) st = plan_make(&p, &cfg, &po, &err);
    if (st == GSAE_OK && o.hook_layer >= p.n_layers)
        st = gsae_fail(&err, GSAE_EINVAL, "--layer %lld: the plan runs layers 0-%lld",
                       (long long)o.hook_layer, (long long)p.n_layers - 1);
    /* Every rank computes the same plan (and the same failure); rank 0 speaks for all. */
    if (cli_world_rank() != 0)
        ;
    else if (st == GSAE_OK)
        print_plan(&p, &cfg, &o, dtype);
    else
        cli_report("plan", &err);
    plan_free(&p);
    return st == GSAE_OK ? 0 : 1;
}
