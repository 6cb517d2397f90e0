/* pstore_plan.c: where a harvest starts: the manifest, its checks and the resume point (see
 * pstore.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/dirs.h"
#include "dist.h"
#include "pstore_impl.h"

/* Rank 0: where a rerun resumes when the manifest lists partial parts (n_windows <
 * windows_per_part, complete store or not): after the lowest of them when it comes before the
 * first missing part *q (then *q and *start become its index and end state); their count. */
static void resume_point(const struct run *r, const struct manifest *m, int64_t *q,
                         struct manifest_state *start, int64_t *n_partial)
{
    for (int64_t i = 0; i < m->n_parts; i++) {
        const struct manifest_part *p = &m->parts[i];
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
    for (int64_t i = 0, j = 0; r->rank == 0 && i < r->lanes[0].m.n_parts; i++) {
        const struct manifest_part *p = &r->lanes[0].m.parts[i];
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

/* Rank 0: lane l's manifest read (or created) and checked against this run; its head: q, the
 * start state, complete, parts listed, partial parts. */
static enum gsae_status lane_head(struct run *r, struct lane *l, int64_t head[8],
                                  struct gsae_error *err)
{
    const struct pstore_lane *cfg = &l->cfg;
    enum gsae_status st = dirs_make(cfg->dir, err);
    if (st != GSAE_OK) return st;
    st = manifest_load(cfg->dir, &l->m, err);
    if (st == GSAE_ENOTFOUND) {
        manifest_init(&l->m, cfg->job_hash, r->ctx, r->W);
        st = GSAE_OK;
    } else if (st == GSAE_OK && (strcmp(l->m.job_hash, cfg->job_hash) != 0 ||
                                 l->m.context_size != r->ctx || l->m.windows_per_part != r->W)) {
        st = gsae_fail(err, GSAE_EINVAL,
                       "%s: the store was written by another job (job_hash %s, context "
                       "%lld, windows_per_part %lld; this run: %s, %lld, %lld); use a new "
                       "output directory",
                       cfg->dir, l->m.job_hash, (long long)l->m.context_size,
                       (long long)l->m.windows_per_part, cfg->job_hash, (long long)r->ctx,
                       (long long)r->W);
    }
    if (st == GSAE_OK && l->m.n_parts > 0) st = check_version(cfg->dir, &l->m, err);
    if (st != GSAE_OK) return st;
    int64_t q = manifest_first_missing(&l->m), n_partial = 0;
    struct manifest_state s = manifest_start_of(&l->m, q);
    resume_point(r, &l->m, &q, &s, &n_partial);
    int64_t h[8] = {q, s.doc, s.offset, s.shard, s.line, l->m.complete, l->m.n_parts, n_partial};
    memcpy(head, h, sizeof h);
    return GSAE_OK;
}

/* Rank 0: every lane's manifest lists the same parts, with the same windows, as the first's. */
static enum gsae_status lanes_agree(const struct run *r, const int64_t *head0, const int64_t *head,
                                    const struct lane *l, struct gsae_error *err)
{
    const struct manifest *m0 = &r->lanes[0].m, *m = &l->m;
    bool same = memcmp(head0, head, 8 * sizeof *head) == 0 && m->n_parts == m0->n_parts;
    for (int64_t i = 0; same && i < m->n_parts; i++)
        same = m->parts[i].info.index == m0->parts[i].info.index &&
               m->parts[i].info.n_windows == m0->parts[i].info.n_windows;
    if (same) return GSAE_OK;
    return gsae_fail(err, GSAE_EINVAL,
                     "%s: the store lists other parts than %s (%lld and %lld parts): the stores "
                     "of one harvest were left at different points; harvest them into new "
                     "directories",
                     l->cfg.dir, r->lanes[0].cfg.dir, (long long)m->n_parts,
                     (long long)m0->n_parts);
}

enum gsae_status pstore_load_plan(struct run *r, struct manifest_state *start, bool *complete,
                                  struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    int64_t head[8] = {0}, other[8] = {0};
    for (int64_t j = 0; r->rank == 0 && st == GSAE_OK && j < r->n_lanes; j++) {
        st = lane_head(r, &r->lanes[j], j == 0 ? head : other, err);
        if (st == GSAE_OK && j > 0) st = lanes_agree(r, head, other, &r->lanes[j], err);
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
            r->listed[i] = r->lanes[0].m.parts[i].info.index;
    int n = 0;
    if ((st = gsae_narrow_int(r->n_listed, &n, err)) == GSAE_OK)
        st = GSAE_MPI(MPI_Bcast(r->listed, n, MPI_INT64_T, 0, r->comm), err);
    return st;
}

/* Open this writer's part; for a partial part, copy the windows an earlier run stored (and add
 * their statistics) so that only the rest is encoded. */
enum gsae_status pstore_part_start(struct run *r, struct lane *l, int64_t part,
                                   struct gsae_error *err)
{
    int64_t k = r->replica, done = r->b_done[k];
    double t = pstore_now();
    enum gsae_status st = store_part_open(l->cfg.dir, part, l->cfg.meta, &l->pw, err);
    l->put_next = 0;
    if (st != GSAE_OK || done == 0) {
        r->store_seconds += pstore_now() - t;
        return st;
    }
    char name[32], path[4200];
    store_part_name(part, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", l->cfg.dir, name);
    struct store_part p;
    bool resid = l->cfg.meta->resid != STORE_RESID_NONE;
    if ((st = store_part_read(path, resid, &p, err)) != GSAE_OK) return st;
    int64_t *rows = malloc((size_t)(r->ctx + 1) * sizeof *rows);
    if (!rows)
        st = gsae_fail(err, GSAE_ENOMEM, "out of memory");
    else if (p.checksum != p.checksum_attr || p.n_windows != done || p.context_size != r->ctx ||
             p.first_window != part * r->W)
        st = gsae_fail(err, GSAE_EFORMAT,
                       "%s: a partial part of %lld windows from window %lld was expected, with "
                       "content matching its checksum",
                       path, (long long)done, (long long)(part * r->W));
    for (int64_t w = 0; st == GSAE_OK && w < done; w++) {
        int64_t t0 = w * r->ctx, base = p.row_ptr[t0];
        for (int64_t j = 0; j <= r->ctx; j++)
            rows[j] = p.row_ptr[t0 + j] - base;
        st = store_part_append(l->pw, r->ctx, p.token_id + t0, p.doc + t0, p.pos + t0, rows,
                               p.index + base, p.value + base,
                               resid ? p.resid_post + t0 * p.d_model : NULL, err);
        if (st == GSAE_OK)
            featstats_add_window(&l->fs, part * r->W + w, r->ctx, p.token_id + t0, p.doc + t0,
                                 p.pos + t0, p.row_ptr + t0, p.index, p.value);
        l->put_next++;
    }
    free(rows);
    store_part_free(&p);
    r->store_seconds += pstore_now() - t;
    return st;
}
