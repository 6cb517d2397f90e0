/* cmd_sae_info.c: `gsae sae-info`: load an SAE, validate it (and against a model), describe it.
 *
 * Output, one "key: value" per line: path, layout, dtype, d_in, d_sae, layer, model_name,
 * memory_bytes, and with --model the checkpoint's name and "compatible: yes". Any problem with
 * the files is one line on stderr naming the file and the key, and exit status 1.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "hub_cli.h"
#include "opt.h"
#include "sae_cli.h"

struct sae_info_opts {
    const char *sae, *model;
    int64_t layer;
};

#define O(f) offsetof(struct sae_info_opts, f)
static const struct opt sae_info_table[] = {
    {"sae", OPT_STR, O(sae), .flags = OPT_REQUIRED, .meta = "SAE", .help = "the SAE"},
    {"model", OPT_STR, O(model), .meta = "MODEL", .help = "check the SAE against this model"},
    {"layer", OPT_I64, O(layer), "-1", 0, 100000, .meta = "L",
     .help = "the hook layer (default: the SAE file's)"},
    {0},
};
#undef O

const struct opt_cmd sae_info_cmd = {
    "sae-info",
    .synopsis = "--sae SAE [--model MODEL [--revision REV]] [--layer L]",
    .about = "Load the SAE (Gemma Scope params.npz, or a SAELens directory with cfg.json and\n"
             "sae_weights.safetensors), check its tensors, and print what it is. With --model,\n"
             "also check it against the checkpoint's config (d_in = hidden_size, the hook layer\n"
             "exists) and warn when the recorded model names differ.\n"
             "\n" HUB_CLI_SAE_USAGE HUB_CLI_MODEL_USAGE,
    .size = sizeof(struct sae_info_opts),
    .groups = {{sae_info_table, 0}},
};

int cmd_sae_info(int argc, char **argv)
{
    struct sae_info_opts o;
    int prc = opt_parse(&sae_info_cmd, argc, argv, &o);
    if (prc != OPT_RUN) return prc;
    const char *sae_path = o.sae, *model_dir = o.model;
    int64_t layer_req = o.layer;
    struct gsae_error err = {0};
    struct ckpt c = {0};
    struct ckpt_select none = {0};
    if (model_dir && ckpt_open(&c, model_dir, &none, &err) != GSAE_OK) {
        cli_report("sae-info", &err);
        ckpt_close(&c);
        return 1;
    }
    struct sae_params p;
    struct sae_info info;
    int64_t layer;
    if (!sae_cli_load("sae-info", sae_path, model_dir ? &c.cfg : NULL, c.model_name, layer_req,
                      false, &p, &info, &layer)) {
        ckpt_close(&c);
        return 1;
    }
    printf("path: %s\nlayout: %s\ndtype: %s\nd_in: %lld\nd_sae: %lld\n", info.path,
           info.layout == SAE_LAYOUT_NPZ ? "npz" : "saelens", gsae_dtype_name(info.dtype),
           (long long)p.d_model, (long long)p.d_sae);
    if (layer >= 0)
        printf("layer: %lld\n", (long long)layer);
    else
        printf("layer: unknown\n");
    printf("model_name: %s\nmemory_bytes: %zu\n", info.model_name ? info.model_name : "unknown",
           sae_params_bytes(p.d_model, p.d_sae));
    if (model_dir)
        printf("checkpoint: %s\ncompatible: yes\n", c.model_name ? c.model_name : model_dir);
    sae_params_free(&p);
    sae_info_free(&info);
    ckpt_close(&c);
    return 0;
}
