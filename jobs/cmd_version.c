/* cmd_version.c: `gsae version`: this build and the libraries behind it. */
#include <archive.h>
#include <jansson.h>
#include <netcdf.h>
#include <stddef.h>
#include <stdio.h>

#include "../mpi/dist.h"
#include "../src/gsae.h"
#include "cli.h"
#include "commands.h"
#include "opt.h"

struct version_opts {
    int unused;
};

static const struct opt version_table[] = {{0}};

const struct opt_cmd version_cmd = {
    "version",
    .synopsis = "  (or gsae --version)",
    .about = "Print gsae's version (git describe) and those of the libraries it was built with:\n"
             "netCDF, libarchive, jansson and MPI.\n",
    .size = sizeof(struct version_opts),
    .groups = {{version_table, 0}},
};

int cmd_version(int argc, char **argv)
{
    struct version_opts o;
    int rc = opt_parse(&version_cmd, argc, argv, &o);
    if (rc != OPT_RUN) return rc;
    char mpi[1024];
    dist_library_version(mpi, sizeof mpi);
    for (size_t i = 0; mpi[i]; i++)
        if (mpi[i] == '\n' || mpi[i] == ',') mpi[i] = '\0';
    printf("gsae %s\n", gsae_version());
    printf("  netCDF %s\n", nc_inq_libvers());
    printf("  %s\n", archive_version_details());
    printf("  jansson %s\n", JANSSON_VERSION);
    printf("  %s\n", mpi);
    return 0;
}
