/* pstore_plan.c: where a harvest starts: the manifest, its checks and the resume point (see
 * pstore.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dist.h"
#include "pstore_impl.h"

/* mkdir -p: the directory and its missing parents. */
static int make_dirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) return -1;
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0777) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(path, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* Rank 0: where a rerun resumes when the manifest lists partial parts (n_windows <
 * windows_per_part, complete store or not): after the lowest of them when it comes before the
 * first missing part *q (then *q and *start become its index and end state); their count. */
static void resume_point(struct run *r, int64_t *q, struct manifest_state *start,
                         int64_t *n_partial)
{
    for (int64_t i = 0; i < r->m.n_parts; i++) {
        const struct manifest_part *p = &r->m.parts[i];
        if (p->info.n_windows >= r->W) continue;
        if (*n_partial == 0 && p->info.index < *q) {
            *q = p->info.index;
            *start = p->end;
        }
        ++*n_partial;
    }
}

enum gsae_status pstore_load_partial(struct run *r, struct gsae_error *err)
{
    int n = 0;
    enum gsae_status st = gsae_narrow_int(6 * r->n_partial, &n, err);
    r->partial = malloc((size_t)(6 * r->n_partial + 1) * sizeof *r->partial);
    if (st == GSAE_OK && !r->partial) st = gsae_fail(err, GSAE_ENOMEM, "out of memory");
    if ((st = pstore_agree(r->comm, st, err)) != GSAE_OK) return st;
    for (int64_t i = 0, j = 0; r->rank == 0 && i < r->m.n_parts; i++) {
        const struct manifest_part *p = &r->m.parts[i];
        r->tokens_before += p->info.n_tokens;
        if (p->info.n_windows >= r->W) continue;
        int64_t row[6] = {p->info.index, p->info.n_windows, p->end.doc,
                          p->end.offset, p->end.shard,      p->end.line};
        memcpy(&r->partial[6 * j++], row, sizeof row);
    }
    if (n > 0) st = GSAE_MPI(MPI_Bcast(r->partial, n, MPI_INT64_T, 0, r->comm), err);
    return pstore_agree(r->comm, st, err);
}

/* A run extends a store only with parts of the schema_version already there, so that a
 * store's parts always share one (store.h): the listed parts were all written by one version,
 * and the first stands for them. */
static enum gsae_status check_version(const char *dir, const struct manifest *m,
                                      struct gsae_error *err)
{
    char path[4200];
    int64_t version = 0;
    snprintf(path, sizeof path, "%s/%s", dir, m->parts[0].info.file);
    enum gsae_status st = store_part_version(path, &version, err);
    if (st == GSAE_OK && version != STORE_SCHEMA_VERSION)
        st = gsae_fail(err, GSAE_EINVAL,
                       "%s: the store's parts have schema_version %lld (%s); this gsae writes "
                       "version %d and does not mix versions in one store: harvest into a new "
                       "output directory (the old store stays readable)",
                       dir, (long long)version, m->parts[0].info.file, STORE_SCHEMA_VERSION);
    return st;
}

enum gsae_status pstore_load_plan(struct run *r, struct manifest_state *start, bool *complete,
                                  struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    const struct pstore_config *cfg = r->cfg;
    int64_t head[8] = {0};
    if (r->rank == 0) {
        if (make_dirs(cfg->dir) != 0)
            st = gsae_fail(err, GSAE_EIO, "%s: cannot create: %s", cfg->dir, strerror(errno));
        if (st == GSAE_OK) {
            st = manifest_load(cfg->dir, &r->m, err);
            if (st == GSAE_ENOTFOUND) {
                manifest_init(&r->m, cfg->job_hash, r->ctx, r->W);
                st = GSAE_OK;
            } else if (st == GSAE_OK &&
                       (strcmp(r->m.job_hash, cfg->job_hash) != 0 || r->m.context_size != r->ctx ||
                        r->m.windows_per_part != r->W)) {
                st = gsae_fail(err, GSAE_EINVAL,
                               "%s: the store was written by another job (job_hash %s, context "
                               "%lld, windows_per_part %lld; this run: %s, %lld, %lld); use a new "
                               "output directory",
                               cfg->dir, r->m.job_hash, (long long)r->m.context_size,
                               (long long)r->m.windows_per_part, cfg->job_hash, (long long)r->ctx,
                               (long long)r->W);
            }
        }
        if (st == GSAE_OK && r->m.n_parts > 0) st = check_version(cfg->dir, &r->m, err);
        if (st == GSAE_OK) {
            int64_t q = manifest_first_missing(&r->m), n_partial = 0;
            struct manifest_state s = manifest_start_of(&r->m, q);
            resume_point(r, &q, &s, &n_partial);
            int64_t h[8] = {q,      s.doc,         s.offset,     s.shard,
                            s.line, r->m.complete, r->m.n_parts, n_partial};
            memcpy(head, h, sizeof h);
        }
    }
    if ((st = pstore_agree(r->comm, st, err)) != GSAE_OK) return st;
    if ((st = GSAE_MPI(MPI_Bcast(head, 8, MPI_INT64_T, 0, r->comm), err)) != GSAE_OK) return st;
    r->q = head[0];
    *start = (struct manifest_state){head[1], head[2], head[3], head[4]};
    *complete = head[5] != 0;
    r->n_listed = head[6];
    r->n_partial = head[7];
    r->listed = malloc((size_t)(r->n_listed + 1) * sizeof *r->listed);
    if (!r->listed)
        st = gsae_fail(err, GSAE_ENOMEM, "out of memory for %lld part numbers",
                       (long long)r->n_listed);
    if ((st = pstore_agree(r->comm, st, err)) != GSAE_OK) return st;
    if (r->rank == 0)
        for (int64_t i = 0; i < r->n_listed; i++)
            r->listed[i] = r->m.parts[i].info.index;
    int n = 0;
    if ((st = gsae_narrow_int(r->n_listed, &n, err)) == GSAE_OK)
        st = GSAE_MPI(MPI_Bcast(r->listed, n, MPI_INT64_T, 0, r->comm), err);
    return st;
}
