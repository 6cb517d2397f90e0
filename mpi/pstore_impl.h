/* pstore_impl.h: the harvest driver's state, shared by pstore.c (streaming, rounds, commits)
 * and pstore_plan.c (loading the manifest and the resume point). Not for other modules. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "pstore.h"

/* What a writer reports to rank 0 at the end of a round. */
struct part_record {
    int64_t has;
    struct store_part_info info;
    struct manifest_state end;
};

struct run;

/* One store of the pass and what its writer holds (see pstore_lane). */
struct lane {
    struct pstore_lane cfg;
    struct run *r;
    bool writer;       /* this rank writes the store's parts */
    struct manifest m; /* rank 0 */
    struct store_part_writer *pw;
    int64_t put_next; /* next window (of the part) the sink expects */
    struct featstats fs;
    struct part_record rec;
};

struct run {
    const struct pstore_config *cfg;
    struct lane *lanes; /* (n_lanes) lanes[0] is the main store: progress and results are its */
    int64_t n_lanes;
    const struct pstore_encoder *enc;
    MPI_Comm comm;
    int rank, size, n_replicas, replica;
    int64_t W, ctx, q; /* windows per part, context size, first part to write */
    int64_t *listed;   /* parts listed before this run (sorted) */
    int64_t n_listed;
    struct manifest_state at; /* the pending document: number, shard, line */
    /* the round being collected: part first_part + k in slot k (k < n_replicas) */
    int64_t first_part, n_parts;
    int32_t **b_tok;
    int64_t **b_doc, **b_pos;
    int64_t *b_windows;
    bool *b_listed;
    struct manifest_state *b_end;
    /* harvest rounds: the encoder runs windows [lo, lo + c_windows[k]) of each part k */
    int64_t chunk;                 /* windows of each part per encoder call */
    int64_t *b_done;               /* (n_replicas) windows of a partial part already stored */
    struct manifest_state *b_wend; /* (n_replicas * W) the stream after each window */
    int64_t *c_windows;            /* (n_replicas) */
    const int32_t **c_tok;         /* (n_replicas) */
    const int64_t **c_doc, **c_pos;
    int64_t *partial; /* (n_partial, 6): index, n_windows, end doc, offset, shard, line */
    int64_t n_partial;
    int64_t put_first; /* the window the encoder's window 0 of this call stands for */
    struct pstore_result *res;
    double t0, enc_seconds, read_seconds, store_seconds, stats_seconds, commit_seconds;
    double manifest_seconds, wait_seconds;
    int64_t tokens_done, parts_this_run, tokens_before, tokens_encoded, rounds;
    double fraction;
    bool stop_agreed, cut; /* cut: a round stopped before its parts were done */
};

/* The clock of MPI_Wtime, which the pipeline's own timings use too, so that intervals measured
 * here and inside the encoder compare. */
static inline double pstore_now(void)
{
    return MPI_Wtime();
}

/* Rank 0 reads or creates the manifest; everyone learns q, the start state and the parts
 * already listed. Collective. */
enum gsae_status pstore_load_plan(struct run *r, struct manifest_state *start, bool *complete,
                                  struct gsae_error *err);

/* Everyone learns the partial parts (index, windows, end state) from rank 0. Collective. */
enum gsae_status pstore_load_partial(struct run *r, struct gsae_error *err);

/* Open this writer's part of lane l; for a partial part, copy the windows an earlier run stored
 * (and add their statistics) so that only the rest is encoded. Local. */
enum gsae_status pstore_part_start(struct run *r, struct lane *l, int64_t part,
                                   struct gsae_error *err);
