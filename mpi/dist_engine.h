/* dist_engine.h (mpi): the few transfers commands need beside a pipeline's own traffic: a
 * rank's figures to rank 0, sums to rank 0, a barrier before an agreed failure's exit, and the
 * abort after a failure the ranks cannot agree on. */
#pragma once

#include <stdint.h>

#include "../src/gsae.h"
#include "dist.h"

/* Rank `from` of d->world sends n doubles v to rank 0, which receives them into v (others'
 * v are unchanged). Collective on the two ranks (a no-op when from is 0). */
enum gsae_status dist_fetch_f64(const struct dist *d, int from, double *v, int64_t n,
                                struct gsae_error *err);

/* Sum n int64 values over d->world into sum on rank 0 (others' sum unchanged). Collective. */
enum gsae_status dist_sum_i64(const struct dist *d, const int64_t *mine, int64_t *sum, int64_t n,
                              struct gsae_error *err);

/* Wait for every rank of d->world (all have printed their message of an agreed failure before
 * the job ends). Collective; failures are ignored (the job is ending). */
void dist_barrier(const struct dist *d);

/* Stop the whole job after an error the ranks cannot agree on (a failure inside a stream,
 * while partners wait in receives): MPI_Abort on d->world, or on the job when d is not open.
 * Does not return. */
_Noreturn void dist_abort_job(const struct dist *d, int code);
