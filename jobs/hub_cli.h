/* hub_cli.h: model and SAE names as researchers write them (io/hfhub.h), for every command.
 *
 * main() passes each command's arguments through hub_cli_args_resolve before the command
 * runs, so every --model and --sae value (also --model=V, --sae=V), typed or built by
 * `gsae run` from a job file, reaches the command as a path: a Hugging Face repo id or cache
 * folder becomes the snapshot directory, a Gemma Scope id the SAE folder in the cache. A
 * `--revision REV` applies to --model and is consumed with it; without a --model option it is
 * left for the command (inspect, generate and plan take the model as their first argument and
 * resolve it themselves; contrast and harvest resolve the names of a job file they read).
 * Resolution is idempotent: a path is returned unchanged.
 */
#pragma once

#include <stdbool.h>

/* Help lines on the accepted forms, for the commands' usage texts. */
#define HUB_CLI_MODEL_USAGE                                                                        \
    "  MODEL is a checkpoint directory, a Hugging Face repo id (google/gemma-2-9b-it) found in\n"  \
    "  the local hub cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub),\n"   \
    "  or a cache folder (.../models--google--gemma-2-9b-it); nothing is downloaded.\n"            \
    "  --revision REV     branch, tag or commit of a hub MODEL (default main)\n"
#define HUB_CLI_SAE_USAGE                                                                          \
    "  SAE is a params.npz, a folder holding one, a SAELens folder, or a Gemma Scope id\n"         \
    "  RELEASE/layer_L/width_W/average_l0_N (gemma-scope-9b-it-res/layer_20/width_16k/\n"          \
    "  average_l0_14: repo google/RELEASE in the hub cache); a layer_L in its path must agree\n"   \
    "  with --layer.\n"

/* argv with the names resolved; owns what it allocated. */
struct hub_cli_args {
    int argc;
    char **argv; /* NULL-terminated; words point into the input argv or owned */
    char **owned;
    int n_owned;
};

/* Resolve argv[1..argc) into a (argv[0] kept). On failure prints "gsae CMD: message" (rank 0
 * only under mpirun) and returns false; a may always be passed to hub_cli_args_free. With -h
 * or --help anywhere, nothing is resolved. */
bool hub_cli_args_resolve(const char *cmd, int argc, char **argv, struct hub_cli_args *a);
void hub_cli_args_free(struct hub_cli_args *a);

/* One model name at revision (NULL: main) or SAE name: a malloc'd path, or NULL after
 * printing "gsae CMD: message". */
char *hub_cli_model(const char *cmd, const char *name, const char *revision);
char *hub_cli_sae(const char *cmd, const char *name);
