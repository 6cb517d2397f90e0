/* cmd_version.c: `gsae version`: this build and the libraries behind it. */
#include <archive.h>
#include <jansson.h>
#include <mpi.h>
#include <netcdf.h>
#include <stdio.h>

#include "../src/gsae.h"
#include "commands.h"

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(mpi, &len);
    for (int i = 0; i < len; i++)
        if (mpi[i] == '\n' || mpi[i] == ',') mpi[i] = '\0';
    printf("gsae %s\n", gsae_version());
    printf("  netCDF %s\n", nc_inq_libvers());
    printf("  %s\n", archive_version_details());
    printf("  jansson %s\n", JANSSON_VERSION);
    printf("  %s\n", mpi);
    return 0;
}
