/* cmd_version.c: `gsae version`: this build and the libraries behind it. */
#include <archive.h>
#include <jansson.h>
#include <netcdf.h>
#include <stdio.h>

#include "../mpi/dist.h"
#include "../src/gsae.h"
#include "cli.h"
#include "commands.h"

int cmd_version(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        puts("usage: gsae version   (or gsae --version)\n"
             "\n"
             "Print gsae's version (git describe) and those of the libraries it was built with:\n"
             "netCDF, libarchive, jansson and MPI.");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "gsae version: unexpected argument '%s'\nusage: gsae version\n", argv[1]);
        return 2;
    }
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
