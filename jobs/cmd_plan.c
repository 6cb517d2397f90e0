/* cmd_plan.c: `gsae plan`: print the stage plan a pipelined job would use (mpi/plan.h). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/ckpt.h"
#include "../io/hfhub.h"
#include "../mpi/plan.h"
#include "cli.h"
#include "commands.h"
#include "hub_cli.h"
#include "opt.h"
#include "sae_cli.h"

struct options {
    const char *dir, *model, *preset, *layers, *revision;
    int n_ranks, n_stages;
    int64_t upto, ctx_len, model_layers, hook_layer;
    bool no_logits, has_dtype;
    enum gsae_dtype dtype;
};

static const struct opt_choice dtypes[] = {
    {"bf16", GSAE_DTYPE_BF16}, {"f16", GSAE_DTYPE_F16}, {"f32", GSAE_DTYPE_F32}, {0}};

#define O(f) offsetof(struct options, f)
static const struct opt plan_table[] = {
    {NULL, OPT_STR, O(dir), .flags = OPT_POS, .meta = "MODEL",
     .help = "a checkpoint (config.json; weights give the dtype), see below"},
    {"model", OPT_STR, O(model), .meta = "MODEL", .help = "the same, as the SAE commands name it"},
    {"revision", OPT_STR, O(revision), .meta = "REV",
     .help = "branch, tag or commit of a hub MODEL"},
    {"preset", OPT_STR, O(preset), .meta = "P",
     .help = "Gemma-2 sizes 2b|9b|27b|tiny instead of a checkpoint"},
    {"ranks", OPT_INT, O(n_ranks), .min = 1, .max = 1 << 24, .meta = "N",
     .help = "ranks in the job (default: mpirun's, else one per stage)"},
    {"stages", OPT_INT, O(n_stages), .min = 1, .max = 1 << 24, .meta = "S",
     .help = "stages per replica (default N)"},
    {"layers", OPT_STR, O(layers), .meta = "SPEC",
     .help = "explicit stages as inclusive ranges, e.g. 0-6,7-13,14-20"},
    {"layer", OPT_I64, O(hook_layer), "-1", 0, 1 << 20, .meta = "L",
     .help = "the SAE's hooked layer (resid_post.L): which stage runs the SAE"},
    {"upto", OPT_I64, O(upto), "-1", 0, 1 << 20, .meta = "L",
     .help = "truncated pipeline: run layers 0..L only (resid_post.L), no logits"},
    {"no-logits", OPT_FLAG, O(no_logits), .help = "no unembedding on the last stage"},
    {"ctx", OPT_I64, O(ctx_len), "1024", 1, 4294967296.0, .meta = "T",
     .help = "sequence length for attention costs"},
    {"dtype", OPT_ENUM, O(dtype), .choices = dtypes, .meta = "D",
     .help = "weight dtype for a preset, bf16|f16|f32 (default bf16)"},
    {"model-layers", OPT_I64, O(model_layers), .min = 1, .max = 1 << 20, .meta = "N",
     .help = "layers of a preset (default the preset's)"},
    {0},
};
#undef O

const struct opt_cmd plan_cmd = {
    "plan",
    .synopsis = "(MODEL | --model MODEL | --preset 2b|9b|27b|tiny)   (under [mpirun -np N])\n"
                "                 [--ranks N] [--stages S] [--layers A-B,C-D,...] [--layer L]\n"
                "                 [--upto L] [--no-logits] [--ctx T] [--dtype bf16|f16|f32]\n"
                "                 [--model-layers N] [--revision REV]",
    .about = "Print how `mpirun -np N gsae ...` splits the model: N / S replicas of an S-stage\n"
             "pipeline, each stage a contiguous layer range balanced by estimated FLOPs (the\n"
             "embedding lookup on the first stage, final norm and unembedding on the last), with\n"
             "per stage the layers, bytes of weights it maps, activations and KV cache for one\n"
             "sequence of --ctx tokens, and GFLOP per token. Under mpirun the job's ranks are the\n"
             "ranks planned and rank 0 prints.\n"
             "\n" HUB_CLI_MODEL_USAGE,
    .size = sizeof(struct options),
    .groups = {{plan_table, 0}},
};

/* Parse the options; returns OPT_RUN or the exit status (a bad one printed). */
static int parse_args(int argc, char **argv, struct options *o)
{
    int rc = opt_parse(&plan_cmd, argc, argv, o);
    if (rc != OPT_RUN) return rc;
    bool quiet = cli_world_rank() != 0;
    o->has_dtype = o->dtype != GSAE_DTYPE_INVALID;
    if (!o->has_dtype) o->dtype = GSAE_DTYPE_BF16;
    if (o->dir && o->model) {
        if (!quiet)
            fprintf(stderr, "gsae plan: one model only ('%s' and '%s')\n", o->dir, o->model);
        return 2;
    }
    if (o->model) o->dir = o->model;
    const char *bad = NULL;
    if ((o->dir != NULL) == (o->preset != NULL))
        bad = "give a checkpoint (MODEL_DIR or --model DIR) or --preset, one of them";
    else if (o->dir && (o->has_dtype || o->model_layers))
        bad = "--dtype and --model-layers apply to --preset only (a checkpoint has its own)";
    if (bad) {
        if (!quiet) fprintf(stderr, "gsae plan: %s\n", bad);
        return 2;
    }
    if (o->n_ranks == 0 && cli_world_size() > 1) o->n_ranks = cli_world_size();
    if (o->n_ranks == 0) { /* as many as the stages, or one */
        o->n_ranks = o->n_stages > 0 ? o->n_stages : 1;
        for (const char *c = o->layers; c && o->n_stages == 0 && *c; c++)
            o->n_ranks += *c == ',';
    }
    return OPT_RUN;
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
    int rc = parse_args(argc, argv, &o);
    if (rc != OPT_RUN) return rc;
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
