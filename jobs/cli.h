/* cli.h: what every gsae subcommand shares: the command table, MPI start-up, error printing. */
#pragma once

#include <stdbool.h>

#include "../src/gsae.h"

/* A subcommand: run(argc, argv) gets argv[0] = its own name. Returns the process exit code. */
struct gsae_command {
    const char *name;
    int (*run)(int argc, char **argv);
    bool uses_mpi;       /* main() starts and ends MPI around it (mpi/dist.h dist_proc_*) */
    const char *summary; /* one line for `gsae --help` */
};

/* Print "gsae CMD: message" (one rank) or "rank N: message" (under mpirun) to stderr. */
void cli_report(const char *cmd, const struct gsae_error *err);

/* The world rank and size when MPI is running, else 0 and 1. */
int cli_world_rank(void);
int cli_world_size(void);

/* True when the option list has -h or --help. */
bool cli_wants_help(int argc, char **argv);
