/* cli.c: shared pieces of the gsae subcommands (see cli.h). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "../mpi/dist.h"

int cli_world_rank(void)
{
    return dist_world_rank();
}

int cli_world_size(void)
{
    return dist_world_size();
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
