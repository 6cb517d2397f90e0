/* pstore.h: the harvest driver and cross-rank store coordination.
 *
 * Ranks form replicas of ranks_per_replica consecutive ranks (one pipeline each); the last rank
 * of a replica is its writer. Every rank reads the whole corpus stream and windows it the same
 * way (tokenizing is cheap next to a forward pass), so all ranks agree on every window without
 * talking. The stream is cut into parts of windows_per_part windows (store.h); parts are dealt
 * to replicas round-robin from the first part this run writes: in round j, replica r writes
 * part q + j*R + r (q: the first part missing from the manifest, R: number of replicas). Every
 * rank buffers the windows of the whole round and the encoder is called once per round on all
 * ranks (pipelines take work that is the same on every rank, see mpi/pipe.h). A
 * part's content depends only on the corpus and the settings, never on R, so stores written
 * with 1 or N replicas hold the same parts (byte for byte in their variables; `gsae store dump`
 * prints the same text).
 *
 * The encoder runs a round in steps of at most round_windows windows of each part: one
 * encoder call is a harvest round, the unit of work between two stop checks. After the
 * replicas' parts are done, the writers' part summaries are gathered to rank 0, which adds them
 * to the manifest and saves it atomically (after the parts were renamed into place).
 *
 * Stopping: a stop request (*stop set by the command's SIGTERM/SIGUSR1 handler on any rank) is
 * agreed before every encoder call, so a stop takes at most the harvest round in flight. The
 * windows encoded so far are committed as shorter parts ("partial parts": listed in the
 * manifest with n_windows < windows_per_part, their end state after their last window), the
 * manifest is saved and pstore_harvest returns GSAE_EINTR on all ranks. A rerun resumes the
 * stream after the lowest partial (or missing) part; the writer of a partial part copies its
 * windows (and their statistics) into a new part-NNNNN.nc.tmp, encodes only the rest, and
 * replaces the file at commit, so the finished part holds exactly what an uninterrupted run
 * writes. A store's last part is shorter too; a rerun of a store whose stream ended treats it
 * as partial and rewrites it unchanged. A killed run (SIGKILL) loses at most its unlisted work;
 * a rerun starts from the first missing or partial part at the stream state the manifest
 * recorded, skipping parts that are listed complete. A rerun on a store whose parts have
 * another schema_version than this gsae writes (io/store.h) is refused (GSAE_EINVAL), so a
 * store never mixes versions.
 *
 * Statistics: writers accumulate featstats for the parts they write; when the stream ends,
 * parts written by earlier runs are read back from disk (dealt to writers the same way), all
 * statistics are reduced to rank 0 (order-independent, so bit-identical for any R), written to
 * feature_stats.nc, and the manifest is marked complete.
 */
#pragma once

#include <mpi.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "../io/corpus.h"
#include "../io/manifest.h"
#include "../io/store.h"
#include "../src/featstats.h"
#include "../src/gsae.h"
#include "../src/window.h"

/* The windows of one round: parts first_part .. first_part + n_parts - 1, where part
 * first_part + k belongs to replica k (n_parts <= n_replicas; fewer only at the end of the
 * stream). Part k's windows are token[k] (n_windows[k], context_size), row-major, with doc[k]
 * and pos[k] alike. listed[k] is true for a part an earlier run already wrote: its results are
 * not needed (an encoder may skip it or compute it anyway). */
struct pstore_round {
    int64_t first_part, n_parts, context_size;
    const int64_t *n_windows;    /* (n_parts) */
    const bool *listed;          /* (n_parts) */
    const int32_t *const *token; /* (n_parts) */
    const int64_t *const *doc;   /* (n_parts) */
    const int64_t *const *pos;   /* (n_parts) */
    int replica, n_replicas;     /* the calling rank's replica */
};

/* SAE activations of one window (context_size tokens) in CSR form, plus residuals when the
 * store keeps them (context_size * d_model f32), else NULL. Borrowed for the call. */
struct pstore_acts {
    const int64_t *row_ptr; /* (context_size + 1), from 0 */
    const uint32_t *index;  /* increasing within a token, < d_sae */
    const float *value;
    const float *resid;
};

/* Where the encoder delivers results: put(ctx, i, acts) for window i of the calling rank's
 * replica's part, in order (i = 0, 1, ...), on the replica's writer rank only. With several
 * stores (pstore_config.lanes) the encoder gets one sink per store, sink[j] for store j,
 * valid on that store's writer ranks. */
struct pstore_sink {
    enum gsae_status (*put)(void *ctx, int64_t i, const struct pstore_acts *acts,
                            struct gsae_error *err);
    void *ctx;
};

/* The model + SAE: encode runs a round (collectively: every rank of the job calls it with the
 * same round) and, on each replica's writer rank, hands that replica's part's windows to sink
 * in order. How the windows flow through pipeline stages is the encoder's business. */
struct pstore_encoder {
    enum gsae_status (*encode)(void *ctx, const struct pstore_round *round,
                               const struct pstore_sink *sink, struct gsae_error *err);
    void *ctx;
};

/* Progress after each round (rank 0 only). */
struct pstore_progress {
    int64_t tokens_done; /* tokens in parts written by this run */
    int64_t parts_done;  /* parts in the manifest */
    int64_t parts_this_run;
    double corpus_fraction;         /* how far the stream is through the corpus, 0..1 */
    double seconds, encode_seconds; /* wall time of this run; of it, inside encode (rank 0) */
    int64_t tokens_encoded;         /* tokens this run has encoded so far (committed or not) */
    int64_t tokens_before;          /* tokens in the store's parts when this run started */
    int64_t rounds;                 /* harvest rounds (encoder calls) this run */
};

/* A store written in the same pass as others (one per SAE hook): the stream, its windows, parts
 * and rounds are shared; directory, metadata, identity and statistics are the store's own.
 * writer is the rank within a replica (a pipeline stage) whose sink receives its windows. */
#define PSTORE_MAX_LANES 16
struct pstore_lane {
    const char *dir;
    const struct store_meta *meta; /* windows_per_part and context_size equal in every lane */
    const char *job_hash;
    struct featstats_config stats;
    int writer;
};

struct pstore_config {
    /* Several stores: lanes (n_lanes >= 1; dir, meta, job_hash and stats below are then
     * unused). n_lanes 0: the one store below, written by each replica's last rank. The stores
     * of one pass must list the same parts (a rerun refuses stores left at different points). */
    const struct pstore_lane *lanes;
    int64_t n_lanes;
    const char *dir;               /* the store directory (created with its parents) */
    const struct store_meta *meta; /* windows_per_part and context_size included */
    const char *job_hash;          /* identity of the settings; the manifest must match */
    struct corpus_config corpus;
    struct window_tokenizer tokenizer;
    struct featstats_config stats;
    int ranks_per_replica;       /* ranks in one replica (pipeline stages); size % it == 0 */
    int64_t max_windows;         /* stop the stream after this many windows (0: no limit) */
    int64_t round_windows;       /* windows of each part per encoder call; 0: the whole part */
    volatile sig_atomic_t *stop; /* set asynchronously to request a clean stop; may be NULL */
    void (*progress)(void *ctx, const struct pstore_progress *p); /* rank 0; may be NULL */
    void *progress_ctx;
};

struct pstore_result {
    int64_t parts_total, parts_written, windows_written, tokens_written, docs_skipped;
    int64_t rounds; /* encoder calls */
    /* Where this rank's time went: disjoint intervals of its one thread, so they add up to at
     * most seconds (the rest is set-up, buffering and bookkeeping). encode_seconds contains
     * store_seconds and the sink's part of stats_seconds (the sink runs inside the encoder). */
    double seconds;          /* pstore_harvest, all of it */
    double encode_seconds;   /* inside the encoder */
    double read_seconds;     /* corpus reading, tokenizing and windowing */
    double store_seconds;    /* store appends (and copying a partial part's windows) */
    double stats_seconds;    /* statistics: per window in the sink, and the final reduction */
    double commit_seconds;   /* closing, fsync and rename of parts */
    double manifest_seconds; /* loading and saving the manifest (rank 0) */
    double wait_seconds;     /* waiting on other ranks at round ends and stop checks */
    bool complete;
};

/* Run (or resume) a harvest into cfg->dir. Collective on comm: every rank passes the same
 * settings. Returns GSAE_OK when the store is complete, GSAE_EINTR after a requested stop
 * (work so far committed), or the first error of any rank (all ranks return it). A failed MPI
 * call (comm and the driver's duplicate of it return errors) is GSAE_EMPI with the call and
 * MPI's error string; after one the ranks may no longer agree (the caller then aborts). */
enum gsae_status pstore_harvest(MPI_Comm comm, const struct pstore_config *cfg,
                                const struct pstore_encoder *enc, struct pstore_result *res,
                                struct gsae_error *err);

/* Reduce statistics to root: afterwards root's fs holds the merge of all ranks' (others' are
 * unchanged). Collective; every rank's fs has the same configuration. The result does not
 * depend on the number of ranks or the reduction order. */
enum gsae_status pstore_stats_reduce(MPI_Comm comm, struct featstats *fs, int root,
                                     struct gsae_error *err);

/* Accumulate into fs the statistics of parts[i] for i % n_readers == reader, read from dir
 * (each part's checksum is checked against its content). Local. Errors: GSAE_EIO,
 * GSAE_EFORMAT. */
enum gsae_status pstore_stats_from_parts(const char *dir, const int64_t *parts, int64_t n_parts,
                                         int reader, int n_readers, struct featstats *fs,
                                         struct gsae_error *err);

/* Agree on a status: the worst (largest) over comm; a local failure's message is sent to all
 * ranks from the lowest failing rank. Collective. */
enum gsae_status pstore_agree(MPI_Comm comm, enum gsae_status st, struct gsae_error *err);
