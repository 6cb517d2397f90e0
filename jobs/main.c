/* main.c: the gsae command: dispatch to a subcommand, with MPI around those that use it.
 *
 * Exit under MPI (mpi/dist.h dist_proc_exit): every rank's command returns an exit status, and
 * the ranks agree on one before they leave (the status of the lowest rank that failed, 0 when
 * none did), then finalize MPI and exit with it. A failure the command already agreed on (a bad
 * option, a missing file, a stop requested by SIGUSR1/SIGTERM: 1, 2, GSAE_EXIT_RESUMABLE) thus
 * ends the job quietly with that status on every rank. A rank that failed alone finds no partner
 * at the exit (the others wait in a receive or a collective of the command) and ends the job
 * (dist_abort) after EXIT_AGREE_SECONDS. */
#include <stdio.h>
#include <string.h>

#include "../mpi/dist.h"
#include "cli.h"
#include "commands.h"
#include "hub_cli.h"

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
    {"attribute", cmd_attribute, true,
     "SAE features that drive a logit difference or an answer's log-probability, by gradient"},
    {"tokenize", cmd_tokenize, false, "text (stdin) to Gemma-2 token ids"},
    {"detokenize", cmd_detokenize, false, "token ids (stdin) to text"},
    {"arc-prompt", cmd_arc_prompt, false, "the notebook's prompt (or target) for an ARC task"},
    {"harvest", cmd_harvest, true,
     "harvest SAE features over a corpus into a NetCDF-4 store (resumable)"},
    {"maxact", cmd_maxact, true, "max-activating examples of SAE features from a harvested store"},
    {"export", cmd_export, true,
     "features as SAEDashboard or Neuronpedia data: examples, histogram, logit effects"},
    {"store", cmd_store, true,
     "inspect, dump or verify an activation store (info|dump|verify|synth)"},
    {"pca", cmd_pca, true,
     "distributed PCA (ScaLAPACK) of a case's rows or feature reconstructions"},
    {"contrast", cmd_contrast, true,
     "SAE features at the last token of prompts: pair differences, success vs failure"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* Run c with its --model and --sae names resolved to paths (hub_cli.h). */
static int run_command(const struct gsae_command *c, int argc, char **argv)
{
    struct hub_cli_args a;
    int rc = hub_cli_args_resolve(c->name, argc, argv, &a) ? c->run(a.argc, a.argv) : 2;
    hub_cli_args_free(&a);
    return rc;
}

/* How long a failed rank waits at the exit for the others before it concludes that it failed
 * alone. Ranks that agreed on a failure reach the exit within milliseconds of each other. */
#define EXIT_AGREE_SECONDS 5.0

/* Run command c under MPI and agree on its exit status with the other ranks (dist.h); abort the
 * job when this rank failed and the others do not arrive. */
static int run_mpi(const struct gsae_command *c, int argc, char **argv)
{
    struct dist_proc p;
    struct gsae_error err = {0};
    if (dist_proc_init(&p, &argc, &argv, &err) != GSAE_OK) {
        fprintf(stderr, "gsae %s: %s\n", c->name, err.msg);
        if (!p.initialized) return 1;
        dist_abort(1);
    }
    int rc = run_command(c, argc - 1, argv + 1), agreed = rc;
    if (dist_proc_exit(&p, rc, EXIT_AGREE_SECONDS, &agreed, &err) != GSAE_OK) {
        fprintf(stderr, "rank %d: gsae %s: %s; aborting the job\n", dist_world_rank(), c->name,
                err.msg);
        fflush(stderr);
        dist_abort(rc != 0 ? rc : 1);
    }
    return agreed;
}

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
        if (!commands[i].uses_mpi) return run_command(&commands[i], argc - 1, argv + 1);
        return run_mpi(&commands[i], argc, argv);
    }
    fprintf(stderr, "gsae: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
