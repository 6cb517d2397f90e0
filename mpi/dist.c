/* dist.c: communicators, agreement on failures, thread counts (see dist.h). */
#include "dist.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum gsae_status dist_check(int mpi_rc, const char *call, struct gsae_error *err)
{
    if (mpi_rc == MPI_SUCCESS) return GSAE_OK;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(mpi_rc, text, &len) != MPI_SUCCESS) strcpy(text, "unknown MPI error");
    return gsae_fail(err, GSAE_EMPI, "%s: %s", call, text);
}

static void comm_free(MPI_Comm *c)
{
    if (*c != MPI_COMM_NULL && *c != 0) MPI_Comm_free(c);
    *c = MPI_COMM_NULL;
}

void dist_close(struct dist *d)
{
    if (!d) return;
    comm_free(&d->stage);
    comm_free(&d->pipe);
    comm_free(&d->world);
    memset(d, 0, sizeof *d);
    d->world = d->pipe = d->stage = MPI_COMM_NULL;
}

enum gsae_status dist_open(struct dist *d, MPI_Comm comm, int n_stages, struct gsae_error *err)
{
    memset(d, 0, sizeof *d);
    d->world = d->pipe = d->stage = MPI_COMM_NULL;
    enum gsae_status st = GSAE_OK;
    if ((st = GSAE_MPI(MPI_Comm_dup(comm, &d->world), err)) != GSAE_OK) goto fail;
    if ((st = GSAE_MPI(MPI_Comm_set_errhandler(d->world, MPI_ERRORS_RETURN), err)) != GSAE_OK)
        goto fail;
    MPI_Comm_rank(d->world, &d->rank);
    MPI_Comm_size(d->world, &d->size);
    if (n_stages < 1 || d->size % n_stages != 0) {
        st = gsae_fail(err, GSAE_EINVAL, "%d stages do not divide %d ranks", n_stages, d->size);
        goto fail;
    }
    d->n_stages = n_stages;
    d->n_replicas = d->size / n_stages;
    d->stage_index = d->rank % n_stages;
    d->replica = d->rank / n_stages;
    if ((st = GSAE_MPI(MPI_Comm_split(d->world, d->replica, d->stage_index, &d->pipe), err)) !=
        GSAE_OK)
        goto fail;
    if ((st = GSAE_MPI(MPI_Comm_split(d->world, d->stage_index, d->replica, &d->stage), err)) !=
        GSAE_OK)
        goto fail;
    if ((st = GSAE_MPI(MPI_Comm_set_errhandler(d->pipe, MPI_ERRORS_RETURN), err)) != GSAE_OK)
        goto fail;
    if ((st = GSAE_MPI(MPI_Comm_set_errhandler(d->stage, MPI_ERRORS_RETURN), err)) != GSAE_OK)
        goto fail;
    return GSAE_OK;
fail:
    dist_close(d);
    return st;
}

enum gsae_status dist_agree(MPI_Comm comm, enum gsae_status status, struct gsae_error *err)
{
    struct gsae_error local;
    int rank = 0, size = 0;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &size) != MPI_SUCCESS)
        return gsae_fail(err, GSAE_EMPI, "dist_agree: invalid communicator");
    int mine = status != GSAE_OK ? rank : size, first = size;
    enum gsae_status st = GSAE_MPI(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm), &local);
    if (st != GSAE_OK) {
        if (err) *err = local;
        return st;
    }
    if (first == size) return GSAE_OK;
    /* When every rank failed (a deterministic failure such as a bad option), each keeps its own
     * message. Otherwise everyone learns the first failing rank's code and message. */
    int failed = status != GSAE_OK, n_failed = 0;
    st = GSAE_MPI(MPI_Allreduce(&failed, &n_failed, 1, MPI_INT, MPI_SUM, comm), &local);
    if (st == GSAE_OK && n_failed == size) return status;
    struct gsae_error shared;
    memset(&shared, 0, sizeof shared);
    if (rank == first && err)
        shared = *err;
    else if (rank == first)
        shared.code = status;
    int code = (int)shared.code;
    st = GSAE_MPI(MPI_Bcast(&code, 1, MPI_INT, first, comm), &local);
    if (st == GSAE_OK)
        st = GSAE_MPI(MPI_Bcast(shared.msg, GSAE_ERROR_MSG_LEN, MPI_CHAR, first, comm), &local);
    if (st != GSAE_OK) {
        if (err) *err = local;
        return st;
    }
    shared.msg[GSAE_ERROR_MSG_LEN - 1] = '\0';
    if (rank != first) {
        if (err) {
            *err = shared;
            err->code = (enum gsae_status)code;
            gsae_error_prefix(err, "rank %d failed", first);
        }
    }
    return code == GSAE_OK ? GSAE_EINTERNAL : (enum gsae_status)code;
}

enum gsae_status dist_threads_choose(const struct dist *d, int requested, int *n_threads,
                                     struct gsae_error *err)
{
    MPI_Comm node = MPI_COMM_NULL;
    int on_node = 1;
    enum gsae_status st = GSAE_MPI(
        MPI_Comm_split_type(d->world, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node), err);
    if (st != GSAE_OK) return st;
    MPI_Comm_size(node, &on_node);
    MPI_Comm_free(&node);
    if (requested > 0) {
        *n_threads = requested;
        return GSAE_OK;
    }
    const char *env = getenv("OPENBLAS_NUM_THREADS");
    int64_t from_env = 0;
    if (env && gsae_parse_i64(env, 1, INT32_MAX, &from_env)) {
        *n_threads = (int)from_env;
        return GSAE_OK;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cores > 0 ? (int)(cores / on_node) : 1;
    *n_threads = n > 0 ? n : 1;
    return GSAE_OK;
}

void dist_threads_apply(int n_threads)
{
    openblas_set_num_threads(n_threads);
    omp_set_num_threads(n_threads);
}

enum gsae_status dist_gather_lines(const struct dist *d, const char *line, char *lines,
                                   struct gsae_error *err)
{
    char mine[DIST_LINE_LEN];
    memset(mine, 0, sizeof mine);
    strncpy(mine, line, sizeof mine - 1);
    return GSAE_MPI(
        MPI_Gather(mine, DIST_LINE_LEN, MPI_CHAR, lines, DIST_LINE_LEN, MPI_CHAR, 0, d->world),
        err);
}

void dist_blobs_free(struct dist_blob *blobs, int64_t n)
{
    for (int64_t i = 0; blobs && i < n; i++)
        free(blobs[i].data);
    free(blobs);
}

enum { TAG_BLOB_HEAD = 201, TAG_BLOB_DATA = 202 };

/* Chunks of at most 2^30 floats keep every count within int. */
#define BLOB_CHUNK ((int64_t)1 << 30)

static enum gsae_status blob_send(const struct dist *d, const struct dist_blob *b,
                                  struct gsae_error *err)
{
    char head[DIST_NAME_LEN + sizeof(int64_t)];
    memcpy(head, b->name, DIST_NAME_LEN);
    memcpy(head + DIST_NAME_LEN, &b->n, sizeof(int64_t));
    enum gsae_status st =
        GSAE_MPI(MPI_Send(head, (int)sizeof head, MPI_BYTE, 0, TAG_BLOB_HEAD, d->world), err);
    for (int64_t at = 0; st == GSAE_OK && at < b->n; at += BLOB_CHUNK) {
        int64_t left = b->n - at;
        int count = (int)(left < BLOB_CHUNK ? left : BLOB_CHUNK);
        st = GSAE_MPI(MPI_Send(b->data + at, count, MPI_FLOAT, 0, TAG_BLOB_DATA, d->world), err);
    }
    return st;
}

static enum gsae_status blob_recv(const struct dist *d, int from, struct dist_blob *b,
                                  struct gsae_error *err)
{
    char head[DIST_NAME_LEN + sizeof(int64_t)];
    enum gsae_status st = GSAE_MPI(MPI_Recv(head, (int)sizeof head, MPI_BYTE, from, TAG_BLOB_HEAD,
                                            d->world, MPI_STATUS_IGNORE),
                                   err);
    if (st != GSAE_OK) return st;
    memcpy(b->name, head, DIST_NAME_LEN);
    b->name[DIST_NAME_LEN - 1] = '\0';
    memcpy(&b->n, head + DIST_NAME_LEN, sizeof(int64_t));
    if (b->n < 0)
        return gsae_fail(err, GSAE_EINTERNAL, "dist_collect: rank %d sent %lld floats", from,
                         (long long)b->n);
    b->data = malloc(((size_t)b->n + 1) * sizeof(float));
    if (!b->data)
        return gsae_fail(err, GSAE_ENOMEM, "dist_collect: no memory for '%s' (%lld floats)",
                         b->name, (long long)b->n);
    for (int64_t at = 0; st == GSAE_OK && at < b->n; at += BLOB_CHUNK) {
        int64_t left = b->n - at;
        int count = (int)(left < BLOB_CHUNK ? left : BLOB_CHUNK);
        st = GSAE_MPI(MPI_Recv(b->data + at, count, MPI_FLOAT, from, TAG_BLOB_DATA, d->world,
                               MPI_STATUS_IGNORE),
                      err);
    }
    return st;
}

enum gsae_status dist_collect(const struct dist *d, const struct dist_blob *mine, int64_t n_mine,
                              struct dist_blob **all, int64_t *n_all, struct gsae_error *err)
{
    *all = NULL;
    *n_all = 0;
    int64_t *counts = NULL;
    struct dist_blob *out = NULL;
    int64_t total = 0;
    enum gsae_status st = GSAE_OK;
    if (d->rank == 0 && !(counts = calloc((size_t)d->size, sizeof *counts)))
        return gsae_fail(err, GSAE_ENOMEM, "dist_collect: out of memory");
    st = GSAE_MPI(MPI_Gather(&n_mine, 1, MPI_INT64_T, counts, 1, MPI_INT64_T, 0, d->world), err);
    if (st != GSAE_OK) goto done;
    if (d->rank != 0) {
        for (int64_t i = 0; st == GSAE_OK && i < n_mine; i++)
            st = blob_send(d, &mine[i], err);
        goto done;
    }
    for (int r = 0; r < d->size; r++)
        total += counts[r];
    if (!(out = calloc((size_t)total + 1, sizeof *out))) {
        st = gsae_fail(err, GSAE_ENOMEM, "dist_collect: out of memory");
        goto done;
    }
    int64_t at = 0;
    for (int64_t i = 0; i < n_mine; i++, at++) {
        out[at] = mine[i];
        out[at].data = malloc(((size_t)mine[i].n + 1) * sizeof(float));
        if (!out[at].data) {
            st = gsae_fail(err, GSAE_ENOMEM, "dist_collect: out of memory");
            goto done;
        }
        memcpy(out[at].data, mine[i].data, (size_t)mine[i].n * sizeof(float));
    }
    for (int r = 1; r < d->size; r++)
        for (int64_t i = 0; i < counts[r] && st == GSAE_OK; i++, at++)
            st = blob_recv(d, r, &out[at], err);
done:
    free(counts);
    if (st != GSAE_OK) {
        dist_blobs_free(out, total);
        return st;
    }
    *all = out;
    *n_all = total;
    return GSAE_OK;
}
