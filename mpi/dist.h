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
#include "../src/tensor.h"

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

/* ---- the process: MPI start-up and exit (mpi/dist_proc.c), for jobs/main.c ----
 *
 * These are the only functions that touch MPI_COMM_WORLD: they stand for the job as a whole.
 * Commands pass dist_world() to the library functions that take a communicator. */

/* MPI state of the process between dist_proc_init and dist_proc_exit. */
struct dist_proc {
    MPI_Comm exit_comm; /* dup of MPI_COMM_WORLD used only by dist_proc_exit */
    int initialized;    /* MPI_Init_thread succeeded */
};

/* MPI_Init_thread (funneled) and a private communicator for the exit agreement. On failure
 * p->initialized says whether MPI is up (then end the job with dist_abort). */
enum gsae_status dist_proc_init(struct dist_proc *p, int *argc, char ***argv,
                                struct gsae_error *err);

/* Agree on the process exit status over p->exit_comm: *agreed gets the status of the lowest
 * rank whose rc is non-zero (0 when none is). A rank with rc != 0 waits at most wait_seconds
 * for the others (a rank that failed alone finds no partner); a rank with rc == 0 waits as
 * long as it takes. On agreement frees the communicator, calls MPI_Finalize and returns
 * GSAE_OK; otherwise GSAE_EMPI, and the caller ends the job with dist_abort. Collective. */
enum gsae_status dist_proc_exit(struct dist_proc *p, int rc, double wait_seconds, int *agreed,
                                struct gsae_error *err);

/* End every rank of the job with status code (MPI_Abort on MPI_COMM_WORLD). Does not return. */
void dist_abort(int code);

/* The job's communicator (MPI_COMM_WORLD) for commands to pass to library calls. */
MPI_Comm dist_world(void);

/* This process's rank and the job's size in dist_world() when MPI is running, else 0 and 1.
 * Local. */
int dist_world_rank(void);
int dist_world_size(void);

/* The MPI library's version string into buf. Local; MPI need not be initialized. */
void dist_library_version(char *buf, size_t size);

/* ---- agreement and gathers for a command's results (mpi/dist_gather.c) ---- */

/* Agree on the worst status over comm: every rank returns the highest status code. A rank whose
 * own step succeeded reports others_msg (NULL: "another rank failed (STATUS)") with it. A failed
 * agreement returns GSAE_EMPI with MPI's error string. Collective on comm. */
enum gsae_status dist_agree_worst(MPI_Comm comm, enum gsae_status local, const char *others_msg,
                                  struct gsae_error *err);

/* Gather each rank's n_local x width block of dtype elements on rank 0 of comm, in rank order:
 * *all (rank 0 only, malloc'd, caller frees; NULL elsewhere) gets *n_all rows (set on every
 * rank). The gathered block must have fewer than 2^31 elements. dtype: F64, I64 or I32.
 * Collective on comm. */
enum gsae_status dist_gather_rows(MPI_Comm comm, const void *local, int64_t n_local, int64_t width,
                                  enum gsae_dtype dtype, void **all, int64_t *n_all,
                                  struct gsae_error *err);
