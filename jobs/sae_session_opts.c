/* sae_session_opts.c: the option tables every SAE command shares (see sae_session.h). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "sae_cli.h"
#include "sae_session.h"

static const struct opt_choice computes[] = {
    {"f32", GEMMA_COMPUTE_F32}, {"bf16", GEMMA_COMPUTE_BF16}, {0}};
static const struct opt_choice auto_stages[] = {{"auto", 0}, {0}};

#define O(f) offsetof(struct sae_session_opts, f)
const struct opt sae_session_model_opts[] = {
    {"model", OPT_STR, O(model_dir), .flags = OPT_REQUIRED, .meta = "MODEL",
     .help = "Gemma-2 checkpoint: a directory, a hub repo id or a cache folder"},
    {"sae", OPT_LIST, O(sae_list), .flags = OPT_REQUIRED, .meta = "SAE",
     .help = "Gemma Scope params.npz, a SAELens directory or a Gemma Scope id; L:PATH hooks it "
             "at resid_post.L"},
    {"layer", OPT_I64, O(layer), "-1", 0, 100000, .meta = "L",
     .help = "hooked layer, resid_post.L (default: the SAE's own)"},
    {"tokenizer", OPT_STR, O(tokenizer_path), .meta = "PATH",
     .help = "tokenizer.json(.zst) (default: MODEL/tokenizer.json when present)"},
    {"stages", OPT_INT, O(n_stages), .min = 1, .max = 100000, .choices = auto_stages,
     .meta = "S|auto", .help = "pipeline stages per replica (default auto: all ranks in one)"},
    {"layers", OPT_STR, O(layers), .meta = "SPEC",
     .help = "explicit stages, inclusive layer ranges (e.g. 0-20,21-41)"},
    {"threads", OPT_INT, O(n_threads), .min = 1, .max = 100000, .meta = "T",
     .help = "BLAS and loop threads per rank"},
    {"compute", OPT_ENUM, O(compute), "f32", .choices = computes, .meta = "f32|bf16",
     .help = "GEMM arithmetic: f32 (the reference) or bf16 inputs, f32 accumulation"},
    {"sae-compute", OPT_ENUM, O(sae_compute), "f32", .choices = computes, .meta = "f32|bf16",
     .help = "the SAE encoder's x W_enc in f32 or bf16 (bias, threshold stay f32)"},
    {0},
};

const struct opt sae_session_prompt_opts[] = {
    {"prompt", OPT_STR, O(prompt), .meta = "TEXT",
     .help = "the prompt, tokenized with <bos> (with --arc DIR: a task id)"},
    {"arc", OPT_STR, O(arc_path), .meta = "TASK.json|DIR",
     .help = "the notebook's prompt for an ARC task (DIR: with --prompt/--prompts ids)"},
    {"prompts", OPT_STR, O(prompts), .meta = "ID,ID,...", .help = "task ids in the --arc DIR"},
    {"prompt-ids", OPT_STR, O(prompt_ids), .meta = "LIST",
     .help = "the prompt as comma-separated token ids"},
    {0},
};
#undef O

int sae_session_opts_saes(struct sae_session_opts *o, const char *cmd, bool several)
{
    struct opt_list *l = &o->sae_list;
    int rc = 0;
    if (l->n > (several ? SAE_SESSION_MAX_SAES : 1)) {
        fprintf(stderr, "gsae %s: %d --sae given; it takes %s\n", cmd, l->n,
                several ? "at most 16" : "one");
        rc = 2;
    }
    o->n_saes = 0;
    for (int i = 0; rc == 0 && i < l->n; i++, o->n_saes++)
        sae_cli_layer_path(l->v[i], &o->sae_layers[i], &o->sae_paths[i]);
    o->sae_path = o->n_saes > 0 ? o->sae_paths[0] : NULL;
    free(l->v);
    *l = (struct opt_list){0};
    return rc;
}
