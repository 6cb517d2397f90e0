/* cli.c: shared pieces of the gsae subcommands (see cli.h). */
#include "cli.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>

static bool mpi_running(void)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
}

int cli_world_rank(void)
{
    int rank = 0;
    if (mpi_running()) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

int cli_world_size(void)
{
    int size = 1;
    if (mpi_running()) MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}

void cli_report(const char *cmd, const struct gsae_error *err)
{
    const char *msg = err && err->msg[0] ? err->msg : "failed";
    if (cli_world_size() > 1)
        fprintf(stderr, "rank %d: %s\n", cli_world_rank(), msg);
    else
        fprintf(stderr, "gsae %s: %s\n", cmd, msg);
    fflush(stderr);
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return true;
    return false;
}
