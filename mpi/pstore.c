/* pstore.c: the harvest driver: stream, window, deal parts to replicas, commit, reduce
 * statistics (see pstore.h). */
#include "pstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../io/featstats_nc.h"
#include "dist.h"
#include "pstore_impl.h"

/* ---- the harvest ---- */

static bool listed(const struct run *r, int64_t part)
{
    int64_t lo = 0, hi = r->n_listed;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (r->listed[mid] < part)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->n_listed && r->listed[lo] == part;
}

static enum gsae_status sink_put(void *ctx, int64_t i, const struct pstore_acts *a,
                                 struct gsae_error *err)
{
    struct lane *l = ctx;
    struct run *r = l->r;
    int64_t k = r->replica;
    i += r->put_first; /* the window in the part */
    GSAE_ASSERT(l->writer && k < r->n_parts && i == l->put_next && i < r->b_windows[k] && l->pw);
    l->put_next++;
    double t_start = pstore_now();
    int64_t t0 = i * r->ctx;
    const int32_t *tok = r->b_tok[k] + t0;
    const int64_t *doc = r->b_doc[k] + t0, *pos = r->b_pos[k] + t0;
    enum gsae_status st = store_part_append(l->pw, r->ctx, tok, doc, pos, a->row_ptr, a->index,
                                            a->value, a->resid, err);
    double t_stats = pstore_now();
    r->store_seconds += t_stats - t_start;
    if (st == GSAE_OK)
        featstats_add_window(&l->fs, (r->first_part + k) * r->W + i, r->ctx, tok, doc, pos,
                             a->row_ptr, a->index, a->value);
    r->stats_seconds += pstore_now() - t_stats;
    return st;
}

/* The windows a partial part (written by an earlier run) already holds, or 0. */
static const int64_t *partial_of(const struct run *r, int64_t part)
{
    for (int64_t i = 0; i < r->n_partial; i++)
        if (r->partial[6 * i] == part) return &r->partial[6 * i];
    return NULL;
}

/* Agree before an encoder call that every rank is fine and none was asked to stop: *go.
 * Collective. */
static enum gsae_status round_go(struct run *r, enum gsae_status st, bool *go,
                                 struct gsae_error *err)
{
    int mine[2] = {r->cfg->stop && *r->cfg->stop, st != GSAE_OK}, any[2] = {0, 0};
    double t = pstore_now();
    struct gsae_error mpi_err;
    enum gsae_status mpi_st =
        GSAE_MPI(MPI_Allreduce(mine, any, 2, MPI_INT, MPI_MAX, r->comm), &mpi_err);
    r->wait_seconds += pstore_now() - t;
    *go = mpi_st == GSAE_OK && !any[0] && !any[1];
    if (mpi_st != GSAE_OK && st == GSAE_OK) {
        if (err) *err = mpi_err;
        st = mpi_st;
    }
    return st;
}

/* The windows of harvest round a (windows [a, a + chunk) of each part, less those a partial
 * part holds already, none of a listed part) into c_*; returns how many in all, the same on
 * every rank. */
static int64_t step_plan(struct run *r, int64_t a)
{
    int64_t any = 0;
    for (int64_t j = 0; j < r->n_parts; j++) {
        int64_t lo = a > r->b_done[j] ? a : r->b_done[j], hi = a + r->chunk;
        if (hi > r->b_windows[j]) hi = r->b_windows[j];
        r->c_windows[j] = r->b_listed[j] || hi < lo ? 0 : hi - lo;
        r->c_tok[j] = r->b_tok[j] + lo * r->ctx;
        r->c_doc[j] = r->b_doc[j] + lo * r->ctx;
        r->c_pos[j] = r->b_pos[j] + lo * r->ctx;
        if (j == r->replica) r->put_first = lo;
        any += r->c_windows[j];
    }
    return any;
}

/* Run harvest round a (step_plan) through the encoder. Collective. */
static enum gsae_status encode_step(struct run *r, int64_t any, struct gsae_error *err)
{
    struct pstore_round round = {
        r->first_part, r->n_parts, r->ctx,   r->c_windows, r->b_listed,
        r->c_tok,      r->c_doc,   r->c_pos, r->replica,   r->n_replicas,
    };
    struct pstore_sink sinks[PSTORE_MAX_LANES];
    for (int64_t j = 0; j < r->n_lanes; j++)
        sinks[j] = (struct pstore_sink){sink_put, &r->lanes[j]};
    double t = pstore_now();
    enum gsae_status st = r->enc->encode(r->enc->ctx, &round, sinks, err);
    r->enc_seconds += pstore_now() - t;
    r->rounds++;
    r->tokens_encoded += any * r->ctx;
    if (r->rank == 0 && r->cfg->progress) {
        struct pstore_progress p = {r->tokens_done,    r->lanes[0].m.n_parts, r->parts_this_run,
                                    r->fraction,       pstore_now() - r->t0,  r->enc_seconds,
                                    r->tokens_encoded, r->tokens_before,      r->rounds};
        r->cfg->progress(r->cfg->progress_ctx, &p);
    }
    return st;
}

/* Encode the collected round in harvest rounds of r->chunk windows per part; each writer
 * commits its replica's part, or on an agreed stop the windows it has so far (a partial part;
 * nothing when it has no new window). st is the rank's status so far: a failure is agreed
 * (collectively) before any encoder call. */
/* This rank's part of lane l after the round's encoder calls: commit it (or, after a stop, the
 * windows it has so far). */
static enum gsae_status lane_commit(struct run *r, struct lane *l, bool go, enum gsae_status st,
                                    struct gsae_error *err)
{
    int64_t k = r->replica, part = r->first_part + k, n = l->put_next;
    if (st == GSAE_OK && go && n != r->b_windows[k])
        st = gsae_fail(err, GSAE_EINTERNAL, "part %lld: encoder delivered %lld of %lld windows",
                       (long long)part, (long long)n, (long long)r->b_windows[k]);
    if (st == GSAE_OK && n > r->b_done[k]) {
        struct store_part_writer *pw = l->pw;
        l->pw = NULL;
        double tc = pstore_now();
        st = store_part_commit(pw, &l->rec.info, err);
        r->commit_seconds += pstore_now() - tc;
        if (st == GSAE_OK) {
            l->rec.has = 1;
            l->rec.end = n == r->b_windows[k] ? r->b_end[k] : r->b_wend[k * r->W + n - 1];
        }
        if (st == GSAE_OK && l == &r->lanes[0]) {
            r->res->parts_written++;
            r->res->windows_written += n - r->b_done[k];
            r->res->tokens_written += (n - r->b_done[k]) * r->ctx;
        }
    }
    store_part_abort(l->pw);
    l->pw = NULL;
    return st;
}

/* Encode the collected round in harvest rounds of r->chunk windows per part; each writer
 * commits its replica's part, or on an agreed stop the windows it has so far (a partial part;
 * nothing when it has no new window). st is the rank's status so far: a failure is agreed
 * (collectively) before any encoder call. */
static enum gsae_status run_round(struct run *r, enum gsae_status st, struct gsae_error *err)
{
    int64_t k = r->replica, part = r->first_part + k, longest = 0;
    bool ours = k < r->n_parts && !r->b_listed[k], go = true;
    /* every rank comes here once per round, also after a local failure in the stream */
    if ((st = round_go(r, st, &go, err)) != GSAE_OK || !go) {
        r->cut = true;
        return st;
    }
    for (int64_t j = 0; ours && st == GSAE_OK && j < r->n_lanes; j++)
        if (r->lanes[j].writer) st = pstore_part_start(r, &r->lanes[j], part, err);
    for (int64_t j = 0; j < r->n_parts; j++)
        if (r->b_windows[j] > longest) longest = r->b_windows[j];
    for (int64_t a = 0; a < longest && go; a += r->chunk) {
        int64_t any = step_plan(r, a);
        if (any == 0) continue;
        if ((st = round_go(r, st, &go, err)) != GSAE_OK || !go) {
            r->cut = true;
            break;
        }
        st = encode_step(r, any, err);
    }
    for (int64_t j = 0; ours && j < r->n_lanes; j++)
        if (r->lanes[j].writer) st = lane_commit(r, &r->lanes[j], go, st, err);
    return st;
}

/* Rank 0: lane l's records of the round (all, one per rank) into its manifest, saved. */
static enum gsae_status lane_add(struct run *r, struct lane *l, const struct part_record *all,
                                 int64_t n_parts_total, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    int64_t added = 0;
    for (int i = 0; i < r->size && st == GSAE_OK; i++)
        if (all[i].has) {
            struct manifest_part p = {all[i].info, all[i].end};
            st = manifest_add(&l->m, &p, err);
            if (l == &r->lanes[0]) r->tokens_done += p.info.n_tokens;
            added++;
        }
    if (l == &r->lanes[0]) r->parts_this_run += added;
    double tm = pstore_now();
    if (st == GSAE_OK && (added > 0 || n_parts_total >= 0))
        st = manifest_save(&l->m, l->cfg.dir, err);
    r->manifest_seconds += pstore_now() - tm;
    return st;
}

/* End of a round: gather the writers' records, extend and save the manifests, agree on errors
 * and on stopping. */
static enum gsae_status round_end(struct run *r, enum gsae_status st, int64_t n_parts_total,
                                  struct gsae_error *err)
{
    struct part_record *all = NULL;
    int bytes = (int)sizeof(struct part_record);
    if (r->rank == 0 && !(all = calloc((size_t)r->size, sizeof *all)))
        st = gsae_fail(err, GSAE_ENOMEM, "out of memory gathering part records");
    if ((st = pstore_agree(r->comm, st, err)) != GSAE_OK) {
        free(all);
        return st;
    }
    for (int64_t j = 0; st == GSAE_OK && j < r->n_lanes; j++) {
        struct lane *l = &r->lanes[j];
        st = GSAE_MPI(MPI_Gather(&l->rec, bytes, MPI_BYTE, all, bytes, MPI_BYTE, 0, r->comm), err);
        memset(&l->rec, 0, sizeof l->rec);
        if (st == GSAE_OK && r->rank == 0) st = lane_add(r, l, all, n_parts_total, err);
    }
    if (st == GSAE_OK && r->rank == 0 && r->cfg->progress) {
        struct pstore_progress p = {r->tokens_done,    r->lanes[0].m.n_parts, r->parts_this_run,
                                    r->fraction,       pstore_now() - r->t0,  r->enc_seconds,
                                    r->tokens_encoded, r->tokens_before,      r->rounds};
        r->cfg->progress(r->cfg->progress_ctx, &p);
    }
    free(all);
    if ((st = pstore_agree(r->comm, st, err)) != GSAE_OK) return st;
    int stop = r->cfg->stop && *r->cfg->stop, any = 0;
    if ((st = GSAE_MPI(MPI_Allreduce(&stop, &any, 1, MPI_INT, MPI_MAX, r->comm), err)) != GSAE_OK)
        return st;
    r->stop_agreed = any != 0;
    return GSAE_OK;
}

/* Start collecting the round whose first part is first. A partial part keeps its stored
 * windows (b_done) and its end state, where a part that gets no new window ends. */
static void round_begin(struct run *r, int64_t first)
{
    r->first_part = first;
    r->n_parts = 0;
    for (int k = 0; k < r->n_replicas; k++) {
        const int64_t *p = partial_of(r, first + k);
        r->b_windows[k] = 0;
        r->b_done[k] = p ? p[1] : 0;
        r->b_listed[k] = !p && listed(r, first + k);
        if (p) {
            r->b_end[k] = (struct manifest_state){p[2], p[3], p[4], p[5]};
            r->b_wend[k * r->W + p[1] - 1] = r->b_end[k];
        }
    }
}

/* Run the collected round and end it (round_end); the time waiting on other ranks, less the
 * manifest's, counts as waiting. Collective. */
static enum gsae_status close_round(struct run *r, enum gsae_status local, int64_t n_parts_total,
                                    struct gsae_error *err)
{
    local = run_round(r, local, err);
    double m0 = r->manifest_seconds, tw = pstore_now();
    enum gsae_status st = round_end(r, local, n_parts_total, err);
    r->wait_seconds += pstore_now() - tw - (r->manifest_seconds - m0);
    return st;
}

/* Buffer window w of the stream in its part's slot; true when it completes the round. */
static bool buffer_window(struct run *r, const struct window_builder *wb, const struct window *w)
{
    int64_t k = w->index / r->W - r->first_part, i = w->index % r->W;
    GSAE_ASSERT(k >= 0 && k < r->n_replicas && i == r->b_windows[k]);
    size_t at = (size_t)(i * r->ctx), n = (size_t)r->ctx;
    memcpy(r->b_tok[k] + at, w->token, n * sizeof *w->token);
    memcpy(r->b_doc[k] + at, w->doc, n * sizeof *w->doc);
    memcpy(r->b_pos[k] + at, w->pos, n * sizeof *w->pos);
    r->b_windows[k]++;
    r->n_parts = k + 1;
    struct manifest_state end = r->at; /* the stream right after the window */
    int64_t partial;
    window_builder_position(wb, &end.doc, &end.offset, &partial);
    r->b_wend[k * r->W + i] = end;
    if (i + 1 < r->W) return false;
    r->b_end[k] = end;
    return k + 1 == r->n_replicas;
}

/* Stream the corpus from start, writing this replica's parts; returns at the end of the
 * stream (*n_parts_total set), on an agreed stop (GSAE_EINTR) or on an agreed error. */
static enum gsae_status stream(struct run *r, const struct manifest_state *start,
                               int64_t *n_parts_total, struct gsae_error *err)
{
    const struct pstore_config *cfg = r->cfg;
    struct corpus_position from = {start->doc, start->shard, start->line};
    struct corpus_reader *cr = NULL;
    struct window_builder wb = {0};
    int32_t *ids = NULL;
    int64_t n_ids = 0, cap_ids = 0;
    const int64_t *resumed = partial_of(r, r->q); /* the stream starts inside part q */
    int64_t q_done = resumed ? resumed[1] : 0;
    enum gsae_status st = corpus_open(&cfg->corpus, &from, &cr, err);
    if (st == GSAE_OK)
        st = window_builder_init(&wb, r->ctx, (int32_t)r->lanes[0].cfg.meta->bos_token_id,
                                 r->q * r->W + q_done, err);
    if ((st = pstore_agree(r->comm, st, err)) != GSAE_OK) goto done;
    enum gsae_status local = GSAE_OK; /* a local failure is carried to the next round end */
    bool first = true, ended = false;
    round_begin(r, r->q);
    if (q_done > 0) { /* rewritten even when the stream has no more windows */
        r->b_windows[0] = q_done;
        r->n_parts = 1;
    }
    while (!ended) {
        struct corpus_doc doc;
        bool got = false;
        double tr = pstore_now();
        local = corpus_next(cr, &doc, &got, err);
        r->read_seconds += pstore_now() - tr;
        if (local != GSAE_OK || !got) break;
        tr = pstore_now();
        r->fraction = corpus_fraction(cr);
        if ((local = cfg->tokenizer.encode(cfg->tokenizer.ctx, doc.text, doc.len, &ids, &n_ids,
                                           &cap_ids, err)) != GSAE_OK) {
            gsae_error_prefix(err, "%s:%lld", cfg->corpus.shards[doc.shard], (long long)doc.line);
            break;
        }
        r->at = (struct manifest_state){doc.index, 0, doc.shard, doc.line};
        if ((local = window_builder_push_doc(&wb, doc.index, ids, n_ids, first ? start->offset : 0,
                                             err)) != GSAE_OK)
            break;
        first = false;
        r->read_seconds += pstore_now() - tr;
        struct window w;
        while (window_builder_next(&wb, &w)) {
            if (cfg->max_windows > 0 && w.index >= cfg->max_windows) {
                ended = true;
                break;
            }
            if (!buffer_window(r, &wb, &w)) continue;
            if ((st = close_round(r, local, -1, err)) != GSAE_OK) goto done;
            if (r->stop_agreed) {
                st = GSAE_EINTR;
                goto done;
            }
            round_begin(r, r->first_part + r->n_replicas);
        }
    }
    int64_t total = wb.next_index; /* windows in the stream */
    if (cfg->max_windows > 0 && total > cfg->max_windows) total = cfg->max_windows;
    if (r->n_parts > 0) { /* the last round: some parts, the last maybe short */
        int64_t k = r->n_parts - 1, partial;
        struct manifest_state end = r->at;
        window_builder_position(&wb, &end.doc, &end.offset, &partial);
        if (r->b_windows[k] < r->W && r->b_windows[k] > r->b_done[k]) r->b_end[k] = end;
    }
    *n_parts_total = (total + r->W - 1) / r->W;
    st = close_round(r, local, *n_parts_total, err); /* also with no parts: the agreement */
    if (st == GSAE_OK && r->cut) st = GSAE_EINTR;
done:
    free(ids);
    window_builder_free(&wb);
    corpus_close(cr);
    return st;
}

/* Lane l's statistics of every part (this run's are in l->fs; earlier runs' complete parts,
 * whole[0 .. n_whole), are read back), feature_stats.nc and the manifest marked complete. */
static enum gsae_status lane_finish(struct run *r, struct lane *l, const int64_t *whole,
                                    int64_t n_whole, int64_t n_parts_total, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    double t = pstore_now();
    if (l->writer)
        st = pstore_stats_from_parts(l->cfg.dir, whole, n_whole, r->replica, r->n_replicas, &l->fs,
                                     err);
    if ((st = pstore_agree(r->comm, st, err)) == GSAE_OK)
        st = pstore_stats_reduce(r->comm, &l->fs, 0, err);
    r->stats_seconds += pstore_now() - t;
    if (st != GSAE_OK) return st;
    if (r->rank == 0) {
        l->m.n_parts_total = n_parts_total;
        if (manifest_first_missing(&l->m) < n_parts_total || l->m.n_parts != n_parts_total)
            st = gsae_fail(err, GSAE_EINTERNAL, "%s: %lld parts listed, expected 0..%lld",
                           l->cfg.dir, (long long)l->m.n_parts, (long long)n_parts_total - 1);
        char path[4200];
        snprintf(path, sizeof path, "%s/feature_stats.nc", l->cfg.dir);
        double ts = pstore_now();
        if (st == GSAE_OK) st = featstats_nc_write(path, &l->fs, err);
        l->m.complete = true;
        double tm = pstore_now();
        r->stats_seconds += tm - ts;
        if (st == GSAE_OK) st = manifest_save(&l->m, l->cfg.dir, err);
        r->manifest_seconds += pstore_now() - tm;
    }
    return pstore_agree(r->comm, st, err);
}

/* Statistics of every part of every lane. */
static enum gsae_status finish(struct run *r, int64_t n_parts_total, struct gsae_error *err)
{
    int64_t n_whole = 0; /* parts listed complete; a partial part's statistics were copied */
    for (int64_t i = 0; i < r->n_listed; i++)
        if (!partial_of(r, r->listed[i])) r->listed[n_whole++] = r->listed[i];
    enum gsae_status st = GSAE_OK;
    for (int64_t j = 0; st == GSAE_OK && j < r->n_lanes; j++)
        st = lane_finish(r, &r->lanes[j], r->listed, n_whole, n_parts_total, err);
    return st;
}

static enum gsae_status harvest_run(struct run *r, struct gsae_error *err)
{
    struct manifest_state start;
    bool complete = false;
    double t = pstore_now();
    enum gsae_status st = pstore_load_plan(r, &start, &complete, err);
    r->manifest_seconds += pstore_now() - t;
    if (st == GSAE_OK) st = pstore_load_partial(r, err);
    if (st != GSAE_OK) return st;
    size_t n = (size_t)(r->W * r->ctx), R = (size_t)r->n_replicas;
    r->chunk =
        r->cfg->round_windows > 0 && r->cfg->round_windows < r->W ? r->cfg->round_windows : r->W;
    r->b_done = calloc(R, sizeof *r->b_done);
    r->b_wend = calloc(R * (size_t)r->W, sizeof *r->b_wend);
    r->c_windows = calloc(R, sizeof *r->c_windows);
    r->c_tok = calloc(R, sizeof *r->c_tok);
    r->c_doc = calloc(R, sizeof *r->c_doc);
    r->c_pos = calloc(R, sizeof *r->c_pos);
    r->b_tok = calloc(R, sizeof *r->b_tok);
    r->b_doc = calloc(R, sizeof *r->b_doc);
    r->b_pos = calloc(R, sizeof *r->b_pos);
    r->b_windows = calloc(R, sizeof *r->b_windows);
    r->b_listed = calloc(R, sizeof *r->b_listed);
    r->b_end = calloc(R, sizeof *r->b_end);
    bool ok = r->b_tok && r->b_doc && r->b_pos && r->b_windows && r->b_listed && r->b_end &&
              r->b_done && r->b_wend && r->c_windows && r->c_tok && r->c_doc && r->c_pos;
    for (size_t k = 0; ok && k < R; k++) {
        r->b_tok[k] = malloc(n * sizeof **r->b_tok);
        r->b_doc[k] = malloc(n * sizeof **r->b_doc);
        r->b_pos[k] = malloc(n * sizeof **r->b_pos);
        ok = r->b_tok[k] && r->b_doc[k] && r->b_pos[k];
    }
    if (!ok)
        st = gsae_fail(err, GSAE_ENOMEM, "out of memory for a round of %zu parts of %zu tokens", R,
                       n);
    for (int64_t j = 0; st == GSAE_OK && j < r->n_lanes; j++)
        st = featstats_init(&r->lanes[j].fs, &r->lanes[j].cfg.stats, err);
    if ((st = pstore_agree(r->comm, st, err)) != GSAE_OK) return st;
    int64_t n_parts_total = 0;
    if (complete) {
        r->res->complete = true;
        r->res->parts_total = r->n_listed;
        return GSAE_OK;
    }
    if ((st = stream(r, &start, &n_parts_total, err)) != GSAE_OK) return st;
    r->res->parts_total = n_parts_total;
    if ((st = finish(r, n_parts_total, err)) == GSAE_OK) r->res->complete = true;
    return st;
}

/* The stores of the pass as lanes (one from the config's own fields when it has none), each
 * checked to share the first's windowing; which of them this rank writes. Local. */
static enum gsae_status lanes_init(struct run *r, int per, struct gsae_error *err)
{
    const struct pstore_config *cfg = r->cfg;
    int64_t n = cfg->n_lanes > 0 ? cfg->n_lanes : 1;
    if (n > PSTORE_MAX_LANES)
        return gsae_fail(err, GSAE_EINVAL, "harvest: %lld stores in one pass, at most %d",
                         (long long)n, PSTORE_MAX_LANES);
    if (!(r->lanes = calloc((size_t)n, sizeof *r->lanes)))
        return gsae_fail(err, GSAE_ENOMEM, "out of memory");
    r->n_lanes = n;
    for (int64_t j = 0; j < n; j++) {
        struct lane *l = &r->lanes[j];
        l->r = r;
        l->cfg = cfg->n_lanes > 0 ? cfg->lanes[j]
                                  : (struct pstore_lane){cfg->dir, cfg->meta, cfg->job_hash,
                                                         cfg->stats, per - 1};
        const struct store_meta *m = l->cfg.meta;
        if (m->windows_per_part != r->lanes[0].cfg.meta->windows_per_part ||
            m->context_size != r->lanes[0].cfg.meta->context_size || l->cfg.writer < 0 ||
            l->cfg.writer >= per || l->cfg.stats.d_sae != m->d_sae)
            return gsae_fail(err, GSAE_EINVAL,
                             "harvest: %s: windows_per_part, context, writer %d or statistics "
                             "d_sae %lld do not fit (store d_sae %lld)",
                             l->cfg.dir, l->cfg.writer, (long long)l->cfg.stats.d_sae,
                             (long long)m->d_sae);
        l->writer = r->rank % per == l->cfg.writer;
    }
    r->W = r->lanes[0].cfg.meta->windows_per_part;
    r->ctx = r->lanes[0].cfg.meta->context_size;
    if (r->W < 1 || r->ctx < 2)
        return gsae_fail(err, GSAE_EINVAL, "harvest: windows_per_part %lld, context %lld",
                         (long long)r->W, (long long)r->ctx);
    return GSAE_OK;
}

static void run_free(struct run *r)
{
    for (int64_t j = 0; j < r->n_lanes; j++) {
        store_part_abort(r->lanes[j].pw);
        featstats_free(&r->lanes[j].fs);
        manifest_free(&r->lanes[j].m);
    }
    free(r->lanes);
    free(r->listed);
    for (int k = 0; k < r->n_replicas; k++) {
        if (r->b_tok) free(r->b_tok[k]);
        if (r->b_doc) free(r->b_doc[k]);
        if (r->b_pos) free(r->b_pos[k]);
    }
    free(r->b_tok);
    free(r->b_doc);
    free(r->b_pos);
    free(r->b_windows);
    free(r->b_listed);
    free(r->b_end);
    free(r->b_done);
    free(r->b_wend);
    free(r->c_windows);
    free(r->c_tok);
    free(r->c_doc);
    free(r->c_pos);
    free(r->partial);
}

enum gsae_status pstore_harvest(MPI_Comm comm, const struct pstore_config *cfg,
                                const struct pstore_encoder *enc, struct pstore_result *res,
                                struct gsae_error *err)
{
    memset(res, 0, sizeof *res);
    struct run r = {0};
    r.cfg = cfg;
    r.enc = enc;
    r.res = res;
    r.t0 = pstore_now();
    r.comm = MPI_COMM_NULL;
    enum gsae_status st = GSAE_MPI(MPI_Comm_dup(comm, &r.comm), err);
    if (st != GSAE_OK) return st;
    st = GSAE_MPI(MPI_Comm_set_errhandler(r.comm, MPI_ERRORS_RETURN), err);
    if (st == GSAE_OK) st = GSAE_MPI(MPI_Comm_rank(r.comm, &r.rank), err);
    if (st == GSAE_OK) st = GSAE_MPI(MPI_Comm_size(r.comm, &r.size), err);
    if (st != GSAE_OK) {
        MPI_Comm_free(&r.comm);
        return st;
    }
    int per = cfg->ranks_per_replica;
    if (per < 1 || r.size % per != 0)
        st = gsae_fail(err, GSAE_EINVAL, "harvest: %d ranks do not split into replicas of %d",
                       r.size, per);
    else
        st = lanes_init(&r, per, err);
    if (st == GSAE_OK) {
        r.n_replicas = r.size / per;
        r.replica = r.rank / per;
    }
    if ((st = pstore_agree(r.comm, st, err)) == GSAE_OK) st = harvest_run(&r, err);
    res->seconds = pstore_now() - r.t0;
    res->rounds = r.rounds;
    res->encode_seconds = r.enc_seconds;
    res->read_seconds = r.read_seconds;
    res->store_seconds = r.store_seconds;
    res->stats_seconds = r.stats_seconds;
    res->commit_seconds = r.commit_seconds;
    res->manifest_seconds = r.manifest_seconds;
    res->wait_seconds = r.wait_seconds;
    run_free(&r);
    struct gsae_error free_err;
    enum gsae_status free_st = GSAE_MPI(MPI_Comm_free(&r.comm), &free_err);
    if (st == GSAE_OK && free_st != GSAE_OK) {
        if (err) *err = free_err;
        st = free_st;
    }
    return st;
}
