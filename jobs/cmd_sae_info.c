/* cmd_sae_info.c: `gsae sae-info`: load an SAE, validate it (and against a model), describe it.
 *
 * Output, one "key: value" per line: path, layout, dtype, d_in, d_sae, layer, model_name,
 * memory_bytes, and with --model the checkpoint's name and "compatible: yes". Any problem with
 * the files is one line on stderr naming the file and the key, and exit status 1.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "hub_cli.h"
#include "sae_cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gsae sae-info --sae SAE [--model MODEL [--revision REV]] [--layer L]\n"
            "\n"
            "Load the SAE (Gemma Scope params.npz, or a SAELens directory with cfg.json and\n"
            "sae_weights.safetensors), check its tensors, and print what it is. With --model,\n"
            "also check it against the checkpoint's config (d_in = hidden_size, the hook layer\n"
            "exists) and warn when the recorded model names differ.\n"
            "\n" HUB_CLI_SAE_USAGE HUB_CLI_MODEL_USAGE);
}

int cmd_sae_info(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    const char *sae_path = NULL, *model_dir = NULL;
    int64_t layer_req = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "gsae sae-info: unexpected or incomplete argument '%s'\n", a);
            return 2;
        }
        if (strcmp(a, "--sae") == 0)
            sae_path = v;
        else if (strcmp(a, "--model") == 0)
            model_dir = v;
        else if (strcmp(a, "--layer") == 0 && sae_cli_i64(v, 0, 100000, &layer_req))
            ;
        else {
            fprintf(stderr, "gsae sae-info: bad argument '%s %s' (see gsae sae-info --help)\n", a,
                    v);
            return 2;
        }
        i++;
    }
    if (!sae_path) {
        fprintf(stderr, "gsae sae-info: --sae is required\n");
        return 2;
    }
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
