/* dist_proc.c: MPI start-up and the exit agreement of the gsae process (see dist.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dist.h"

enum gsae_status dist_proc_init(struct dist_proc *p, int *argc, char ***argv,
                                struct gsae_error *err)
{
    memset(p, 0, sizeof *p);
    p->exit_comm = MPI_COMM_NULL;
    int provided = 0;
    enum gsae_status st =
        GSAE_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), err);
    if (st != GSAE_OK) return st;
    p->initialized = 1;
    st = GSAE_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &p->exit_comm), err);
    if (st == GSAE_OK) st = GSAE_MPI(MPI_Comm_set_errhandler(p->exit_comm, MPI_ERRORS_RETURN), err);
    return st;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* exit_comm is a duplicate that nothing else uses, so the agreement cannot match a collective
 * of the command; a rank that succeeded waits for the others as MPI_Finalize would. */
enum gsae_status dist_proc_exit(struct dist_proc *p, int rc, double wait_seconds, int *agreed,
                                struct gsae_error *err)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(p->exit_comm, &rank);
    MPI_Comm_size(p->exit_comm, &size);
    /* MINLOC on (rank if failed else size, status): the lowest failing rank and its status */
    int mine[2] = {rc != 0 ? rank : size, rc}, first[2] = {size, 0};
    MPI_Request req = MPI_REQUEST_NULL;
    enum gsae_status st =
        GSAE_MPI(MPI_Iallreduce(mine, first, 1, MPI_2INT, MPI_MINLOC, p->exit_comm, &req), err);
    double deadline = seconds_now() + wait_seconds;
    const struct timespec pause = {0, 2000000}; /* 2 ms: a waiting rank leaves the core */
    while (st == GSAE_OK) {
        int done = 0;
        st = GSAE_MPI(MPI_Test(&req, &done, MPI_STATUS_IGNORE), err);
        if (st != GSAE_OK || done) break;
        if (rc != 0 && seconds_now() > deadline)
            st = gsae_fail(err, GSAE_EMPI, "the other ranks did not reach the exit within %.0f s",
                           wait_seconds);
        else
            nanosleep(&pause, NULL);
    }
    if (st != GSAE_OK) return st;
    MPI_Comm_free(&p->exit_comm);
    MPI_Finalize();
    *agreed = first[1];
    return GSAE_OK;
}

void dist_abort(int code)
{
    MPI_Abort(MPI_COMM_WORLD, code);
}

MPI_Comm dist_world(void)
{
    return MPI_COMM_WORLD;
}

static int mpi_running(void)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
}

int dist_world_rank(void)
{
    int rank = 0;
    if (mpi_running()) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

int dist_world_size(void)
{
    int size = 1;
    if (mpi_running()) MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}

void dist_library_version(char *buf, size_t size)
{
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(v, &len);
    snprintf(buf, size, "%s", v);
}
