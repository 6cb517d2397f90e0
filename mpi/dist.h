/* dist.h: communicators of a pipelined job, agreement on failures, MPI error translation.
 *
 * A job of `size` ranks runs n_replicas = size / n_stages replicas of an n_stages-stage
 * pipeline; world rank r is stage r % n_stages of replica r / n_stages (as in plan.h).
 * dist_open duplicates the communicator it is given (gsae never uses MPI_COMM_WORLD in library
 * code), sets MPI_ERRORS_RETURN on every communicator it creates, and splits:
 *   pipe:  the ranks of one replica, rank = stage (hidden states and tokens flow here)
 *   stage: the ranks holding the same stage in every replica, rank = replica
 *
 * Failures: a fallible local step (open, parse, allocate) is followed by dist_agree before the
 * next collective, so all ranks fail together with the failing rank's message and none waits
 * alone in a collective. An error during a point-to-point stream cannot be agreed on (the
 * partners are blocked in receives); the caller in jobs/ reports it, and main() calls MPI_Abort
 * when the other ranks do not reach its exit agreement (jobs/main.c).
 */
#pragma once

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/gsae.h"

struct dist {
    MPI_Comm world; /* dup of the job's communicator */
    MPI_Comm pipe;  /* this replica's ranks, ordered by stage */
    MPI_Comm stage; /* this stage's ranks across replicas, ordered by replica */
    int rank, size; /* in world */
    int n_stages, n_replicas;
    int stage_index, replica; /* this rank's place */
};

/* Translate an MPI return code: GSAE_OK for MPI_SUCCESS, else GSAE_EMPI with "call: MPI's
 * error string" in err. */
enum gsae_status dist_check(int mpi_rc, const char *call, struct gsae_error *err);

/* Run an MPI call on a communicator with MPI_ERRORS_RETURN and translate its result. */
#define GSAE_MPI(call, err) dist_check((call), #call, (err))

/* Duplicate comm and split it into replicas of n_stages stages. Collective on comm;
 * n_stages must be equal on all ranks and divide comm's size. Release with dist_close. */
enum gsae_status dist_open(struct dist *d, MPI_Comm comm, int n_stages, struct gsae_error *err);

/* Free the communicators and zero the struct; safe on a zeroed struct and twice. Collective on
 * the communicators (MPI_Comm_free), so call it on every rank or not at all. */
void dist_close(struct dist *d);

/* Agree on the outcome of a local step. Collective on comm. status is this rank's result
 * (with its message in err when failed). Returns GSAE_OK when every rank succeeded, and each
 * rank's own status and message when every rank failed. Otherwise every rank returns the status
 * of the lowest failing rank and err holds that rank's message; on the other ranks it is
 * prefixed with "rank N failed". A failure of the agreement itself returns GSAE_EMPI (the ranks
 * can then no longer agree). */
enum gsae_status dist_agree(MPI_Comm comm, enum gsae_status status, struct gsae_error *err);

/* Threads per rank for BLAS and gsae's own loops: requested when > 0, else
 * OPENBLAS_NUM_THREADS from the environment when set, else this node's cores divided by the
 * ranks on this node (at least 1). Collective on d->world (counts ranks per node). */
enum gsae_status dist_threads_choose(const struct dist *d, int requested, int *n_threads,
                                     struct gsae_error *err);

/* Set the BLAS (openblas_set_num_threads) and OpenMP thread counts of this process. Local. */
void dist_threads_apply(int n_threads);

/* Gather one line of text (at most DIST_LINE_LEN - 1 bytes) from every rank to rank 0 of
 * world, in rank order, into lines (size * DIST_LINE_LEN bytes, used on rank 0 only; may be
 * NULL elsewhere). Collective on d->world. */
#define DIST_LINE_LEN 256
enum gsae_status dist_gather_lines(const struct dist *d, const char *line, char *lines,
                                   struct gsae_error *err);

/* A named array of floats travelling to rank 0 (results of the stage that computed them). */
#define DIST_NAME_LEN 64
struct dist_blob {
    char name[DIST_NAME_LEN];
    int64_t n;   /* floats */
    float *data; /* owned by whoever built the array */
};

/* Collect every rank's blobs on rank 0 of world: *all (allocated, rank 0 only; NULL elsewhere)
 * receives n_all blobs in rank order, each with its own copy of the data. Collective on
 * d->world. Release with dist_blobs_free. */
enum gsae_status dist_collect(const struct dist *d, const struct dist_blob *mine, int64_t n_mine,
                              struct dist_blob **all, int64_t *n_all, struct gsae_error *err);

/* Free n blobs' data and the array; safe with NULL. */
void dist_blobs_free(struct dist_blob *blobs, int64_t n);
