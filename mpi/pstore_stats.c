/* pstore_stats.c: agreement on a status and the statistics of a harvest: reduction over ranks
 * and reading back parts written by earlier runs (see pstore.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "pstore.h"

/* ---- agreement and statistics reduction ---- */

/* A failed MPI call while agreeing: the ranks can no longer agree, and this rank's own failure
 * (if any) is kept in front of the MPI error so neither is lost. */
static enum gsae_status agree_failed(enum gsae_status st, const struct gsae_error *mpi_err,
                                     struct gsae_error *err)
{
    if (st != GSAE_OK && err) {
        char own[GSAE_ERROR_MSG_LEN];
        memcpy(own, err->msg, sizeof own);
        return gsae_fail(err, GSAE_EMPI, "%s; then, agreeing on it: %s", own, mpi_err->msg);
    }
    if (err) *err = *mpi_err;
    return GSAE_EMPI;
}

enum gsae_status pstore_agree(MPI_Comm comm, enum gsae_status st, struct gsae_error *err)
{
    struct gsae_error e;
    int rank = 0, size = 1, mine = (int)st, worst = 0;
    if (GSAE_MPI(MPI_Comm_rank(comm, &rank), &e) != GSAE_OK ||
        GSAE_MPI(MPI_Comm_size(comm, &size), &e) != GSAE_OK ||
        GSAE_MPI(MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, comm), &e) != GSAE_OK)
        return agree_failed(st, &e, err);
    if (worst == GSAE_OK) return GSAE_OK;
    int who = st != GSAE_OK ? rank : size, first = size;
    if (GSAE_MPI(MPI_Allreduce(&who, &first, 1, MPI_INT, MPI_MIN, comm), &e) != GSAE_OK)
        return agree_failed(st, &e, err);
    char msg[GSAE_ERROR_MSG_LEN] = {0};
    if (err) memcpy(msg, err->msg, sizeof msg);
    int code = worst;
    if (GSAE_MPI(MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm), &e) != GSAE_OK ||
        GSAE_MPI(MPI_Bcast(&code, 1, MPI_INT, first, comm), &e) != GSAE_OK)
        return agree_failed(st, &e, err);
    msg[sizeof msg - 1] = '\0';
    if (rank == first) return st;
    return gsae_fail(err, (enum gsae_status)code, "rank %d failed: %s", first, msg);
}

/* The statistics as one byte buffer (same layout on every rank of a homogeneous job). */
static size_t stats_bytes(const struct featstats *fs)
{
    size_t d = (size_t)fs->cfg.d_sae, k = (size_t)fs->cfg.top_k, c = (size_t)fs->ctx_len;
    return sizeof(int64_t) +
           d * (3 * sizeof(int64_t) + FEATSTATS_HIST_BINS * sizeof(int64_t) + sizeof(int64_t)) +
           d * k * (sizeof(struct featstats_example) + c * sizeof(int32_t));
}

static void stats_copy(const struct featstats *fs, char *buf, bool pack)
{
    size_t d = (size_t)fs->cfg.d_sae, k = (size_t)fs->cfg.top_k, c = (size_t)fs->ctx_len;
    struct {
        void *p;
        size_t n;
    } fields[] = {
        {(void *)&fs->n_tokens, sizeof(int64_t)},
        {fs->fire_count, d * sizeof(int64_t)},
        {fs->sum_hi, d * sizeof(uint64_t)},
        {fs->sum_lo, d * sizeof(uint64_t)},
        {fs->hist, d * FEATSTATS_HIST_BINS * sizeof(int64_t)},
        {fs->top_n, d * sizeof(int64_t)},
        {fs->top, d * k * sizeof(struct featstats_example)},
        {fs->top_ctx, d * k * c * sizeof(int32_t)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (pack)
            memcpy(buf, fields[i].p, fields[i].n);
        else
            memcpy(fields[i].p, buf, fields[i].n);
        buf += fields[i].n;
    }
}

enum gsae_status pstore_stats_reduce(MPI_Comm comm, struct featstats *fs, int root,
                                     struct gsae_error *err)
{
    int rank = 0, size = 1, count = 0;
    enum gsae_status st = GSAE_MPI(MPI_Comm_rank(comm, &rank), err);
    if (st == GSAE_OK) st = GSAE_MPI(MPI_Comm_size(comm, &size), err);
    if (st != GSAE_OK) return st;
    size_t bytes = stats_bytes(fs);
    st = gsae_narrow_int((int64_t)bytes, &count, err);
    char *buf = st == GSAE_OK ? malloc(bytes) : NULL;
    struct featstats other = {0};
    if (st == GSAE_OK && !buf)
        st = gsae_fail(err, GSAE_ENOMEM, "stats reduce: out of memory for %zu bytes", bytes);
    if (st == GSAE_OK) st = featstats_init(&other, &fs->cfg, err);
    if ((st = pstore_agree(comm, st, err)) != GSAE_OK) goto done;
    /* binomial tree on ranks relative to root; merging is exact, so the shape is irrelevant */
    int vr = (rank - root + size) % size;
    for (int step = 1; step < size; step *= 2) {
        if (vr % (2 * step) == step) {
            stats_copy(fs, buf, true);
            st =
                GSAE_MPI(MPI_Send(buf, count, MPI_BYTE, (rank - step + size) % size, 7, comm), err);
            break;
        }
        if (vr % (2 * step) == 0 && vr + step < size) {
            st = GSAE_MPI(
                MPI_Recv(buf, count, MPI_BYTE, (rank + step) % size, 7, comm, MPI_STATUS_IGNORE),
                err);
            if (st != GSAE_OK) break;
            stats_copy(&other, buf, false);
            if ((st = featstats_merge(fs, &other, err)) != GSAE_OK) break;
        }
    }
    st = pstore_agree(comm, st, err);
done:
    featstats_free(&other);
    free(buf);
    return st;
}

enum gsae_status pstore_stats_from_parts(const char *dir, const int64_t *parts, int64_t n_parts,
                                         int reader, int n_readers, struct featstats *fs,
                                         struct gsae_error *err)
{
    for (int64_t i = reader; i < n_parts; i += n_readers) {
        char name[32], path[4200];
        store_part_name(parts[i], name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        struct store_part p;
        enum gsae_status st = store_part_read(path, false, &p, err);
        if (st != GSAE_OK) return st;
        if (p.resid == STORE_RESID_NONE && p.checksum != p.checksum_attr) {
            store_part_free(&p);
            return gsae_fail(err, GSAE_EFORMAT, "%s: content does not match its checksum", path);
        }
        if (p.d_sae != fs->cfg.d_sae) {
            store_part_free(&p);
            return gsae_fail(err, GSAE_EFORMAT, "%s: d_sae %lld, expected %lld", path,
                             (long long)p.d_sae, (long long)fs->cfg.d_sae);
        }
        for (int64_t w = 0; w < p.n_windows; w++) {
            int64_t t0 = w * p.context_size;
            /* row pointers are absolute into the part's index/value arrays */
            featstats_add_window(fs, p.first_window + w, p.context_size, p.token_id + t0,
                                 p.doc + t0, p.pos + t0, p.row_ptr + t0, p.index, p.value);
        }
        store_part_free(&p);
    }
    return GSAE_OK;
}
