/* test_pstore.c: the harvest driver's agreement, statistics reduction and MPI error paths.
 *
 * Runs alone (one rank) in the unit suite and under mpirun from tests/mpi/t_pstore.sh with
 * several ranks. Checked on every rank:
 *  - pstore_agree: success; one failing rank's status and message reach every rank;
 *  - pstore_stats_reduce: the root's statistics count every rank's tokens;
 *  - a failed MPI call is an error, never ignored: an invalid communicator given to
 *    pstore_agree, pstore_stats_reduce and pstore_harvest returns GSAE_EMPI naming the call and
 *    MPI's error string (a local failure before it is kept in the message); and, on two or more
 *    ranks, statistics of different sizes make the root's receive fail (message truncated),
 *    which every rank then reports.
 * Exit status 0 on success; failures print the check and the rank.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK_RANKS
#include "../../mpi/pstore.h"
#include "../common/check.h"

static int rank, size;

static void check_agree(void)
{
    struct gsae_error err = {0};
    CHECK(pstore_agree(MPI_COMM_WORLD, GSAE_OK, &err) == GSAE_OK);
    int culprit = size - 1;
    enum gsae_status mine = GSAE_OK;
    if (rank == culprit) mine = gsae_fail(&err, GSAE_EIO, "part %d: disk full", rank);
    CHECK(pstore_agree(MPI_COMM_WORLD, mine, &err) == GSAE_EIO);
    char want[128];
    if (rank == culprit)
        snprintf(want, sizeof want, "part %d: disk full", culprit);
    else
        snprintf(want, sizeof want, "rank %d failed: part %d: disk full", culprit, culprit);
    CHECK(strcmp(err.msg, want) == 0);
}

static void check_reduce(void)
{
    struct featstats_config cfg = {.d_sae = 8, .top_k = 2, .ctx_before = 1, .ctx_after = 1};
    struct featstats fs = {0};
    struct gsae_error err = {0};
    CHECK(featstats_init(&fs, &cfg, &err) == GSAE_OK);
    fs.n_tokens = rank + 1;
    CHECK(pstore_stats_reduce(MPI_COMM_WORLD, &fs, 0, &err) == GSAE_OK);
    if (rank == 0) CHECK(fs.n_tokens == (int64_t)size * (size + 1) / 2);
    featstats_free(&fs);
}

/* The invalid communicator's error goes to MPI_COMM_WORLD's handler, set to return. */
static void check_invalid_comm(void)
{
    struct gsae_error err = {0};
    CHECK(pstore_agree(MPI_COMM_NULL, GSAE_OK, &err) == GSAE_EMPI);
    CHECK(strstr(err.msg, "MPI_Comm_rank") && strstr(err.msg, "MPI_ERR_COMM"));

    gsae_fail(&err, GSAE_EIO, "part 3: disk full");
    CHECK(pstore_agree(MPI_COMM_NULL, GSAE_EIO, &err) == GSAE_EMPI);
    CHECK(strncmp(err.msg, "part 3: disk full; then, agreeing on it: MPI_Comm_rank", 54) == 0);

    struct featstats fs = {0};
    memset(&err, 0, sizeof err);
    CHECK(pstore_stats_reduce(MPI_COMM_NULL, &fs, 0, &err) == GSAE_EMPI);
    CHECK(strstr(err.msg, "MPI_Comm_rank") && strstr(err.msg, "MPI_ERR_COMM"));

    struct store_meta meta = {.windows_per_part = 2, .context_size = 4, .d_sae = 8};
    struct pstore_config cfg = {.dir = "unused", .meta = &meta, .ranks_per_replica = 1};
    struct pstore_result res;
    memset(&err, 0, sizeof err);
    CHECK(pstore_harvest(MPI_COMM_NULL, &cfg, NULL, &res, &err) == GSAE_EMPI);
    CHECK(strstr(err.msg, "MPI_Comm_dup") && strstr(err.msg, "MPI_ERR_COMM"));
}

/* Ranks 0 and 1 reduce statistics of different sizes: rank 1 sends more bytes than rank 0
 * receives. */
static void check_truncated(void)
{
    MPI_Comm pair = MPI_COMM_NULL;
    MPI_Comm_split(MPI_COMM_WORLD, rank < 2 ? 0 : MPI_UNDEFINED, rank, &pair);
    if (pair == MPI_COMM_NULL) return;
    MPI_Comm_set_errhandler(pair, MPI_ERRORS_RETURN);
    struct featstats_config cfg = {.d_sae = rank == 0 ? 8 : 16, .top_k = 2};
    struct featstats fs = {0};
    struct gsae_error err = {0};
    CHECK(featstats_init(&fs, &cfg, &err) == GSAE_OK);
    CHECK(pstore_stats_reduce(pair, &fs, 0, &err) == GSAE_EMPI);
    CHECK(strstr(err.msg, "MPI_Recv") && strstr(err.msg, "MPI_ERR_TRUNCATE"));
    if (rank == 1) CHECK(strncmp(err.msg, "rank 0 failed: ", 15) == 0);
    featstats_free(&fs);
    MPI_Comm_free(&pair);
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
    check_agree();
    check_reduce();
    check_invalid_comm();
    if (size >= 2) check_truncated();
    int status = check_ranks_finish();
    MPI_Finalize();
    return status;
}
