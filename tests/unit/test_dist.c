/* test_dist.c: communicators of a pipelined job, failure agreement, MPI error translation and
 * the gathers to rank 0 (mpi/dist.h).
 *
 * Runs alone (one rank) in the unit suite and under mpirun from tests/mpi/t_dist.sh on the
 * rank counts of GSAE_NP. Checked on every rank:
 *  - dist_open for every stage count dividing the size: replica r / S, stage r % S, the pipe and
 *    stage communicators ordered by stage and by replica, a duplicate of the given communicator
 *    with MPI_ERRORS_RETURN; a stage count that does not divide the size is refused;
 *  - dist_agree: success; one failing rank's status and message (prefixed "rank N failed" on the
 *    others) reach every rank; the lowest failing rank wins; when every rank fails each keeps its
 *    own; an invalid communicator is GSAE_EMPI;
 *  - dist_check: "call: MPI's error string";
 *  - dist_gather_lines and dist_collect: every rank's line and blobs on rank 0, in rank order.
 * Exit status 0 on success; failures print the check and the rank.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK_RANKS
#include "../../mpi/dist.h"
#include "../common/check.h"

static int rank, size;

static void check_open(int n_stages)
{
    struct dist d;
    struct gsae_error err = {0};
    CHECK(dist_open(&d, MPI_COMM_WORLD, n_stages, &err) == GSAE_OK);
    CHECK(d.rank == rank && d.size == size);
    CHECK(d.n_stages == n_stages && d.n_replicas == size / n_stages);
    CHECK(d.stage_index == rank % n_stages && d.replica == rank / n_stages);
    int cmp = MPI_UNEQUAL, r = -1, n = -1;
    MPI_Comm_compare(d.world, MPI_COMM_WORLD, &cmp);
    CHECK(cmp == MPI_CONGRUENT); /* a duplicate, not the communicator itself */
    MPI_Comm_rank(d.pipe, &r);
    MPI_Comm_size(d.pipe, &n);
    CHECK(r == d.stage_index && n == n_stages);
    MPI_Comm_rank(d.stage, &r);
    MPI_Comm_size(d.stage, &n);
    CHECK(r == d.replica && n == d.n_replicas);
    /* the pipe holds this replica's ranks, the stage communicator this stage's */
    int first = -1;
    MPI_Allreduce(&rank, &first, 1, MPI_INT, MPI_MIN, d.pipe);
    CHECK(first == d.replica * n_stages);
    MPI_Allreduce(&rank, &first, 1, MPI_INT, MPI_MIN, d.stage);
    CHECK(first == d.stage_index);
    /* errors are returned, not fatal */
    MPI_Comm comms[3] = {d.world, d.pipe, d.stage};
    for (int i = 0; i < 3; i++) {
        MPI_Errhandler h;
        MPI_Comm_get_errhandler(comms[i], &h);
        CHECK(h == MPI_ERRORS_RETURN);
        MPI_Errhandler_free(&h);
    }
    dist_close(&d);
    CHECK(d.world == MPI_COMM_NULL || d.world == 0);
    dist_close(&d); /* harmless twice */
}

static void check_open_refused(void)
{
    struct dist d;
    struct gsae_error err = {0};
    enum gsae_status st = dist_open(&d, MPI_COMM_WORLD, size + 1, &err);
    CHECK(st == GSAE_EINVAL);
    char want[64];
    snprintf(want, sizeof want, "%d stages do not divide %d ranks", size + 1, size);
    CHECK(strstr(err.msg, want) != NULL);
    dist_close(&d);
}

static void check_agree(void)
{
    struct gsae_error err = {0};
    CHECK(dist_agree(MPI_COMM_WORLD, GSAE_OK, &err) == GSAE_OK);
    /* the last rank fails */
    int culprit = size - 1;
    enum gsae_status mine = GSAE_OK;
    gsae_error_clear(&err);
    if (rank == culprit) mine = gsae_fail(&err, GSAE_EIO, "shard %d: short read", rank);
    enum gsae_status st = dist_agree(MPI_COMM_WORLD, mine, &err);
    CHECK(st == GSAE_EIO);
    char want[128];
    if (rank == culprit)
        snprintf(want, sizeof want, "shard %d: short read", culprit);
    else
        snprintf(want, sizeof want, "rank %d failed: shard %d: short read", culprit, culprit);
    CHECK(strcmp(err.msg, want) == 0);
    /* two fail with different statuses: the lowest failing rank's is everyone's */
    if (size >= 3) {
        gsae_error_clear(&err);
        mine = GSAE_OK;
        if (rank == 1) mine = gsae_fail(&err, GSAE_EFORMAT, "bad header on %d", rank);
        if (rank == 2) mine = gsae_fail(&err, GSAE_ENOMEM, "no memory on %d", rank);
        st = dist_agree(MPI_COMM_WORLD, mine, &err);
        CHECK(st == GSAE_EFORMAT);
        CHECK(strstr(err.msg, "bad header on 1") != NULL);
        CHECK((rank == 1) == (strstr(err.msg, "rank 1 failed") == NULL));
    }
    /* everyone fails: each keeps its own status and message */
    gsae_error_clear(&err);
    mine = gsae_fail(&err, rank % 2 ? GSAE_EINVAL : GSAE_ENOTFOUND, "own %d", rank);
    st = dist_agree(MPI_COMM_WORLD, mine, &err);
    CHECK(st == mine);
    snprintf(want, sizeof want, "own %d", rank);
    CHECK(strcmp(err.msg, want) == 0);
    /* an invalid communicator */
    gsae_error_clear(&err);
    CHECK(dist_agree(MPI_COMM_NULL, GSAE_OK, &err) == GSAE_EMPI);
    CHECK(strstr(err.msg, "dist_agree") != NULL);
}

static void check_translate(void)
{
    struct gsae_error err = {0};
    CHECK(dist_check(MPI_SUCCESS, "MPI_Barrier", &err) == GSAE_OK);
    CHECK(dist_check(MPI_ERR_TRUNCATE, "MPI_Recv(x)", &err) == GSAE_EMPI);
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(MPI_ERR_TRUNCATE, text, &len);
    char want[MPI_MAX_ERROR_STRING + 32];
    snprintf(want, sizeof want, "MPI_Recv(x): %s", text);
    CHECK(strcmp(err.msg, want) == 0);
    /* GSAE_MPI names the call as written */
    int n = 0;
    CHECK(GSAE_MPI(MPI_Comm_size(MPI_COMM_NULL, &n), &err) == GSAE_EMPI);
    CHECK(strstr(err.msg, "MPI_Comm_size(MPI_COMM_NULL, &n): ") == err.msg);
}

static void check_gathers(void)
{
    struct dist d;
    struct gsae_error err = {0};
    CHECK(dist_open(&d, MPI_COMM_WORLD, 1, &err) == GSAE_OK);
    /* lines: rank 0 gets every rank's, in order; a long one is cut to DIST_LINE_LEN - 1 bytes */
    char line[DIST_LINE_LEN + 50];
    if (rank == size - 1) {
        memset(line, 'x', sizeof line - 1);
        line[sizeof line - 1] = '\0';
    } else {
        snprintf(line, sizeof line, "rank %d of %d", rank, size);
    }
    char *lines = rank == 0 ? calloc((size_t)size, DIST_LINE_LEN) : NULL;
    CHECK(dist_gather_lines(&d, line, lines, &err) == GSAE_OK);
    if (rank == 0) {
        for (int r = 0; r < size - 1; r++) {
            char want[64];
            snprintf(want, sizeof want, "rank %d of %d", r, size);
            CHECK(strcmp(lines + (size_t)r * DIST_LINE_LEN, want) == 0);
        }
        const char *last = lines + (size_t)(size - 1) * DIST_LINE_LEN;
        CHECK(strlen(last) == DIST_LINE_LEN - 1 && last[0] == 'x');
    }
    free(lines);

    /* blobs: rank r sends r + 1 of them ("r.k", k + 1 floats each, rank 1 sends none) */
    int n_mine = rank == 1 ? 0 : rank + 1;
    struct dist_blob mine[8];
    float values[8][8];
    for (int k = 0; k < n_mine && k < 8; k++) {
        snprintf(mine[k].name, sizeof mine[k].name, "%d.%d", rank, k);
        mine[k].n = k + 1;
        for (int i = 0; i <= k; i++)
            values[k][i] = (float)(100 * rank + 10 * k + i);
        mine[k].data = values[k];
    }
    struct dist_blob *all = (struct dist_blob *)1;
    int64_t n_all = -1;
    CHECK(dist_collect(&d, mine, n_mine < 8 ? n_mine : 8, &all, &n_all, &err) == GSAE_OK);
    if (rank != 0) {
        CHECK(all == NULL && n_all == 0);
    } else {
        int64_t at = 0;
        for (int r = 0; r < size; r++)
            for (int k = 0; k < (r == 1 ? 0 : r + 1) && k < 8; k++, at++) {
                if (at >= n_all) break;
                char want[DIST_NAME_LEN];
                snprintf(want, sizeof want, "%d.%d", r, k);
                CHECK(strcmp(all[at].name, want) == 0);
                CHECK(all[at].n == k + 1);
                for (int i = 0; i <= k && all[at].n == k + 1; i++)
                    CHECK(all[at].data[i] == (float)(100 * r + 10 * k + i));
                if (r == 0) CHECK(all[at].data != values[k]); /* a copy */
            }
        CHECK(at == n_all);
        dist_blobs_free(all, n_all);
    }
    dist_blobs_free(NULL, 0);

    /* threads: the request, else OPENBLAS_NUM_THREADS, else cores per rank on the node */
    int nt = 0;
    CHECK(dist_threads_choose(&d, 3, &nt, &err) == GSAE_OK && nt == 3);
    setenv("OPENBLAS_NUM_THREADS", "2", 1);
    CHECK(dist_threads_choose(&d, 0, &nt, &err) == GSAE_OK && nt == 2);
    unsetenv("OPENBLAS_NUM_THREADS");
    CHECK(dist_threads_choose(&d, 0, &nt, &err) == GSAE_OK && nt >= 1);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (size == 1) CHECK(nt == (cores > 0 ? (int)cores : 1)); /* alone on the node */
    dist_close(&d);
}

int main(int argc, char **argv)
{
    /* Under ASan (GSAE_SAN), MPI's leak suppressions need full malloc stacks: restart once with
     * fast_unwind_on_malloc=0 when the unit runner did not set it. */
    const char *asan = getenv("ASAN_OPTIONS");
    if (getenv("GSAE_SAN") && !(asan && strstr(asan, "fast_unwind_on_malloc=0"))) {
        char opts[4096];
        snprintf(opts, sizeof opts, "%s%sfast_unwind_on_malloc=0", asan ? asan : "",
                 asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        execv("/proc/self/exe", argv);
    }
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    for (int s = 1; s <= size; s++)
        if (size % s == 0) check_open(s);
    check_open_refused();
    check_agree();
    check_translate();
    check_gathers();
    int status = check_ranks_finish();
    MPI_Finalize();
    return status;
}
