/* harvest_summary.c: what `gsae harvest` prints and writes at the end (harvest_summary.h). */
#include "harvest_summary.h"

#include <stdio.h>

#include "../io/csv.h"
#include "../io/featstats_nc.h"
#include "../io/results_schema.h"
#include "../mpi/dist_engine.h"

/* Where the time of pstore_harvest went on the writer of replica 0 (the last stage of the first
 * pipeline: it alone sees the model, the SAE and the store), as shares of its own wall time.
 * The parts are disjoint intervals of that rank's thread, so they add up to its wall time with
 * "other" (set-up, buffering, bookkeeping) the rest. Printed by rank 0. Collective; returns st,
 * or an MPI failure. */
enum gsae_status harvest_summary(const struct harvest_encoder *enc, const struct dist *d,
                                 const struct pstore_result *res, int writer0, enum gsae_status st,
                                 struct gsae_error *err)
{
    enum { WALL, FORWARD, SAE, WAIT, STORE, COMMIT, MANIFEST, STATS, READ, ROUNDS, ENCODE, N_T };
    double t[N_T] = {
        [WALL] = res->seconds,
        [FORWARD] = enc->t_compute - enc->t_sink,
        [SAE] = enc->t_sae,
        [WAIT] = enc->t_pipe_wait + res->wait_seconds,
        [STORE] = res->store_seconds,
        [COMMIT] = res->commit_seconds,
        [MANIFEST] = res->manifest_seconds,
        [STATS] = res->stats_seconds,
        [READ] = res->read_seconds,
        [ROUNDS] = (double)res->rounds,
        [ENCODE] = res->encode_seconds,
    };
    /* parts: the store's when complete, else those this run committed (the last ones partial) */
    int64_t mine[2] = {res->tokens_written, res->parts_written}, sum[2] = {0, 0};
    struct gsae_error mpi_err;
    if (dist_fetch_f64(d, writer0, t, N_T, &mpi_err) != GSAE_OK ||
        dist_sum_i64(d, mine, sum, 2, &mpi_err) != GSAE_OK)
        return gsae_fail(err, GSAE_EMPI, "harvest: gathering the timings failed");
    long long written = sum[0], parts = st == GSAE_OK ? (long long)res->parts_total : sum[1];
    if (d->rank != 0) return st;
    double named = 0.0, wall = t[WALL] > 0 ? t[WALL] : 1.0;
    for (int i = FORWARD; i <= READ; i++)
        named += t[i];
    double rounds = t[ROUNDS] > 0 ? t[ROUNDS] : 1.0;
    fprintf(stderr,
            "harvest: %s: %lld parts, %lld tokens written by this run, %.2f s, %.0f harvest "
            "rounds (%.3f s each on average)\n",
            st == GSAE_OK ? "complete" : "stopped", (long long)parts, written, t[WALL], t[ROUNDS],
            t[ENCODE] / rounds);
    fprintf(stderr,
            "harvest: time on rank %d (replica 0's writer), shares of its %.2f s: model forward "
            "%.1f%%, SAE encode %.1f%%, waiting on other stages %.1f%%, store write %.1f%%, "
            "commit+fsync %.1f%%, manifest %.1f%%, statistics %.1f%%, corpus+tokenizer %.1f%%, "
            "other %.1f%%\n",
            writer0, t[WALL], 100.0 * t[FORWARD] / wall, 100.0 * t[SAE] / wall,
            100.0 * t[WAIT] / wall, 100.0 * t[STORE] / wall, 100.0 * t[COMMIT] / wall,
            100.0 * t[MANIFEST] / wall, 100.0 * t[STATS] / wall, 100.0 * t[READ] / wall,
            100.0 * (t[WALL] - named) / wall);
    return st;
}

enum gsae_status harvest_write_freq(const char *store, const char *path, struct gsae_error *err)
{
    char fs_path[4200];
    snprintf(fs_path, sizeof fs_path, "%s/feature_stats.nc", store);
    struct featstats fs;
    enum gsae_status st = featstats_nc_read(fs_path, &fs, err);
    if (st != GSAE_OK) return st;
    struct csv_writer w;
    st = csv_writer_open(&w, path, &results_feature_freq, NULL, 0, false, err);
    for (int64_t i = 0; st == GSAE_OK && i < fs.cfg.d_sae; i++) {
        csv_put_int(&w, i);
        csv_put_double(&w, fs.n_tokens ? (double)fs.fire_count[i] / (double)fs.n_tokens : 0.0);
        csv_end_row(&w, false);
    }
    if (st == GSAE_OK) st = csv_writer_close(&w, err);
    featstats_free(&fs);
    return st;
}
