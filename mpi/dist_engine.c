/* dist_engine.c (mpi): transfers beside the pipeline (see dist_engine.h). */
#include "dist_engine.h"

#include <stdlib.h>

enum gsae_status dist_fetch_f64(const struct dist *d, int from, double *v, int64_t n,
                                struct gsae_error *err)
{
    int count = 0;
    enum gsae_status st = gsae_narrow_int(n, &count, err);
    if (st != GSAE_OK || from == 0) return st;
    if (d->rank == from)
        st = GSAE_MPI(MPI_Send(v, count, MPI_DOUBLE, 0, 11, d->world), err);
    else if (d->rank == 0)
        st = GSAE_MPI(MPI_Recv(v, count, MPI_DOUBLE, from, 11, d->world, MPI_STATUS_IGNORE), err);
    return st;
}

enum gsae_status dist_sum_i64(const struct dist *d, const int64_t *mine, int64_t *sum, int64_t n,
                              struct gsae_error *err)
{
    int count = 0;
    enum gsae_status st = gsae_narrow_int(n, &count, err);
    if (st == GSAE_OK)
        st = GSAE_MPI(MPI_Reduce(mine, sum, count, MPI_INT64_T, MPI_SUM, 0, d->world), err);
    return st;
}

void dist_barrier(const struct dist *d)
{
    MPI_Barrier(d->world != MPI_COMM_NULL && d->world ? d->world : MPI_COMM_WORLD);
}

_Noreturn void dist_abort_job(const struct dist *d, int code)
{
    MPI_Abort(d->world != MPI_COMM_NULL && d->world ? d->world : MPI_COMM_WORLD, code);
    abort(); /* MPI_Abort does not return */
}
