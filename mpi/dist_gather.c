/* dist_gather.c: agreement on a command's outcome and row gathers to rank 0 (see dist.h). */
#include <stdlib.h>

#include "dist.h"

enum gsae_status dist_agree_worst(MPI_Comm comm, enum gsae_status local, const char *others_msg,
                                  struct gsae_error *err)
{
    int mine = (int)local, worst = 0;
    enum gsae_status st = GSAE_MPI(MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, comm), err);
    if (st != GSAE_OK || local != GSAE_OK || worst == GSAE_OK) return st != GSAE_OK ? st : local;
    if (others_msg) return gsae_fail(err, (enum gsae_status)worst, "%s", others_msg);
    return gsae_fail(err, (enum gsae_status)worst, "another rank failed (%s)",
                     gsae_status_name((enum gsae_status)worst));
}

static MPI_Datatype mpi_type(enum gsae_dtype dtype)
{
    switch (dtype) {
    case GSAE_DTYPE_F64:
        return MPI_DOUBLE;
    case GSAE_DTYPE_I64:
        return MPI_INT64_T;
    case GSAE_DTYPE_I32:
        return MPI_INT32_T;
    default:
        return MPI_DATATYPE_NULL;
    }
}

enum gsae_status dist_gather_rows(MPI_Comm comm, const void *local, int64_t n_local, int64_t width,
                                  enum gsae_dtype dtype, void **all, int64_t *n_all,
                                  struct gsae_error *err)
{
    int rank = 0, size = 1, mine = 0, end = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    MPI_Datatype type = mpi_type(dtype);
    size_t elem = gsae_dtype_size(dtype);
    int *counts = calloc((size_t)size, sizeof *counts);
    int *displs = calloc((size_t)size, sizeof *displs);
    int64_t *rows = calloc((size_t)size, sizeof *rows), total = 0;
    enum gsae_status st = GSAE_OK;
    *all = NULL;
    if (type == MPI_DATATYPE_NULL)
        st = gsae_fail(err, GSAE_EINVAL, "gathering rows: dtype %s is not supported",
                       gsae_dtype_name(dtype));
    else if (!counts || !displs || !rows)
        st = gsae_fail(err, GSAE_ENOMEM, "gathering results: no memory");
    else
        st = GSAE_MPI(MPI_Allgather(&n_local, 1, MPI_INT64_T, rows, 1, MPI_INT64_T, comm), err);
    /* Gatherv counts in int: the gathered block must have fewer than 2^31 elements. */
    for (int p = 0; st == GSAE_OK && p < size; p++) {
        displs[p] = end;
        st = gsae_narrow_int(rows[p] * width, &counts[p], err);
        total += rows[p];
        if (st == GSAE_OK) st = gsae_narrow_int(total * width, &end, err);
    }
    if (st == GSAE_OK) st = gsae_narrow_int(n_local * width, &mine, err);
    if (st == GSAE_OK && rank == 0 && !(*all = malloc((size_t)end * elem + 1)))
        st = gsae_fail(err, GSAE_ENOMEM, "gathering %lld rows: no memory", (long long)total);
    /* Every rank computed the same counts, so all reach (or skip) the Gatherv together, except
     * for rank 0's allocation, which is rare enough to fail by abort in main(). */
    if (st == GSAE_OK)
        st = GSAE_MPI(MPI_Gatherv(local, mine, type, *all, counts, displs, type, 0, comm), err);
    *n_all = total;
    free(counts);
    free(displs);
    free(rows);
    return st;
}
