/* main.c: the gsae command: dispatch to a subcommand, with MPI around those that use it. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const struct gsae_command commands[] = {
    {"version", cmd_version, false, "print gsae's version and the libraries it was built with"},
    {"run", cmd_run, false, "run a job file's steps (jobs/README.md), resumable"},
    {"report", cmd_report, false, "write RESULTS_DIR/report.html from the result files there"},
    {"inspect", cmd_inspect, false, "validate a Gemma-2 checkpoint directory and describe it"},
    {"plan", cmd_plan, true,
     "print the stage plan (layers, weight bytes, FLOPs per stage) of a pipelined job"},
    {"generate", cmd_generate, false, "prefill a prompt and sample new tokens with the KV cache"},
    {"golden", cmd_golden, true, "compute a golden case's tensors (tests/data/gemma2/<case>)"},
    {"mkmodel", cmd_mkmodel, false,
     "write a random Gemma-2 checkpoint (HF layout) for tests and demos"},
    {"mksae", cmd_mksae, false, "write a random JumpReLU SAE (Gemma Scope npz or SAELens layout)"},
    {"sae-info", cmd_sae_info, false, "validate an SAE (and against a model) and describe it"},
    {"features", cmd_features, true,
     "top SAE features at a prompt's final token (and all positions)"},
    {"steer", cmd_steer, true,
     "greedy continuations with an SAE feature added at several strengths"},
    {"ablate", cmd_ablate, true,
     "an answer's next-token ranks and logits with SAE features ablated"},
    {"tokenize", cmd_tokenize, false, "text (stdin) to Gemma-2 token ids"},
    {"detokenize", cmd_detokenize, false, "token ids (stdin) to text"},
    {"arc-prompt", cmd_arc_prompt, false, "the notebook's prompt (or target) for an ARC task"},
    {"harvest", cmd_harvest, true,
     "harvest SAE features over a corpus into a NetCDF-4 store (resumable)"},
    {"maxact", cmd_maxact, true, "max-activating examples of SAE features from a harvested store"},
    {"store", cmd_store, true,
     "inspect, dump or verify an activation store (info|dump|verify|synth)"},
    {"pca", cmd_pca, true,
     "distributed PCA (ScaLAPACK) of a case's rows or feature reconstructions"},
    {"contrast", cmd_contrast, true,
     "SAE features at the last token of prompts: pair differences, success vs failure"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: [mpirun -np N] gsae COMMAND [OPTIONS]   (gsae COMMAND --help for more)\n"
                 "\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        if (!commands[i].uses_mpi) return commands[i].run(argc - 1, argv + 1);
        int provided = 0;
        if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            fprintf(stderr, "gsae %s: MPI_Init_thread failed\n", argv[1]);
            return 1;
        }
        int rc = commands[i].run(argc - 1, argv + 1);
        /* A rank that failed alone cannot finalize cleanly with others waiting in a
         * collective; commands agree on failure before collectives, so this is the rare
         * case of an unagreed local error. */
        if (rc != 0 && cli_world_size() > 1) MPI_Abort(MPI_COMM_WORLD, rc);
        MPI_Finalize();
        return rc;
    }
    fprintf(stderr, "gsae: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
