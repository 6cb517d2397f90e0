/* pipe.c: streaming prefill and pipelined generation over a replica's stages (see pipe.h). */
#include "pipe.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(int) == sizeof(int32_t), "tokens travel as MPI_INT");

enum { TAG_HIDDEN = 101, TAG_TOKENS = 102 };
#define N_BUF 3

/* One prefill or generation call: which tasks this replica runs and the requests in flight. */
struct stream {
    const struct pipe_work *work;
    int64_t n_new;   /* 0 for prefill */
    int64_t n_my;    /* micro-batches of this replica */
    int64_t *my_mb;  /* (n_my) their indices in the work */
    int64_t *slot0;  /* (n_my) first KV slot of each (generation) */
    int64_t n_tasks; /* n_my for prefill, n_my * n_new for generation */
    int32_t *gen;    /* (n_new, n_seq) tokens chosen so far, -1 where unknown here */
    MPI_Request recv[N_BUF], send[N_BUF];
    MPI_Request *tok_send; /* (n_tasks) token messages of the last stage */
    const struct pipe_hook *hook;
    const struct pipe_sink *sink;
    const struct pipe_sampler *sampler;
};

/* Called by gemma_forward after each layer: drives MPI progress on the messages in flight
 * (Open MPI moves a large message in fragments only while its sender or receiver is inside an
 * MPI call, so a stage computing four layers would otherwise hold its neighbour's data back),
 * then the caller's hook. */
struct hook_bridge {
    const struct pipe_hook *hook;
    const struct pipe_rows *rows;
    struct stream *s;
};

static void progress(struct stream *s)
{
    int done = 0;
    for (int k = 0; k < N_BUF; k++) {
        if (s->recv[k] != MPI_REQUEST_NULL)
            MPI_Request_get_status(s->recv[k], &done, MPI_STATUS_IGNORE);
        if (s->send[k] != MPI_REQUEST_NULL)
            MPI_Request_get_status(s->send[k], &done, MPI_STATUS_IGNORE);
    }
}

static enum gsae_status hook_bridge_fn(void *ctx, const char *name, int64_t layer, float *x,
                                       const struct gemma_batch *batch, int64_t d_model,
                                       struct gsae_error *err)
{
    const struct hook_bridge *b = ctx;
    (void)batch; /* the same as b->rows->batch */
    progress(b->s);
    if (!b->hook || !b->hook->fn) return GSAE_OK;
    return b->hook->fn(b->hook->ctx, b->rows, name, layer, x, d_model, err);
}

void pipe_limits_of_work(const struct pipe_work *work, int64_t n_new, int n_replicas,
                         struct pipe_limits *lim)
{
    memset(lim, 0, sizeof *lim);
    int64_t *per_replica = calloc((size_t)n_replicas, sizeof *per_replica);
    for (int64_t m = 0; m < work->n_mb; m++) {
        int64_t group = work->mb_first[m + 1] - work->mb_first[m], rows = 0;
        for (int64_t s = work->mb_first[m]; s < work->mb_first[m + 1]; s++) {
            rows += work->n_tok[s];
            if (work->n_tok[s] + n_new > lim->max_seq) lim->max_seq = work->n_tok[s] + n_new;
        }
        if (group > lim->max_group) lim->max_group = group;
        if (rows > lim->max_rows) lim->max_rows = rows;
        if (per_replica) per_replica[m % n_replicas] += group;
    }
    lim->n_slots = lim->max_group;
    for (int r = 0; n_new > 0 && per_replica && r < n_replicas; r++)
        if (per_replica[r] > lim->n_slots) lim->n_slots = per_replica[r];
    free(per_replica);
}

void pipe_close(struct pipe *p)
{
    if (!p) return;
    gemma_state_free(&p->state);
    for (int i = 0; i < N_BUF; i++)
        free(p->buf[i]);
    free(p->last_rows);
    free(p->logits);
    free(p->batch_ints);
    free(p->tok_in);
    memset(p, 0, sizeof *p);
}

size_t pipe_bytes(const struct pipe *p)
{
    size_t d = (size_t)p->cfg.d_model, rows = (size_t)p->lim.max_rows;
    size_t g = (size_t)p->lim.max_group;
    size_t n = gemma_state_bytes(&p->cfg, p->stage.layer_end - p->stage.layer_begin, p->lim.n_slots,
                                 p->lim.max_seq, p->lim.max_rows);
    n += N_BUF * rows * d * sizeof(float) + g * d * sizeof(float);
    if (p->logits) n += g * (size_t)p->cfg.n_vocab * sizeof(float);
    n += 4 * g * sizeof(int64_t) + rows * sizeof(int32_t);
    return n;
}

enum gsae_status pipe_open(struct pipe *p, const struct dist *d, const struct plan *plan,
                           const struct gemma_config *cfg, const struct gemma_weights *w,
                           const struct pipe_limits *lim, int n_threads, struct gsae_error *err)
{
    memset(p, 0, sizeof *p);
    enum gsae_status st = GSAE_OK;
    if (plan->n_stages != d->n_stages || lim->max_group < 1 || lim->max_rows < lim->max_group ||
        lim->n_slots < lim->max_group || lim->max_seq < 1) {
        return gsae_fail(err, GSAE_EINVAL,
                         "pipeline: plan of %d stages on %d-stage communicators, or empty "
                         "limits (group %lld, rows %lld, slots %lld, positions %lld)",
                         plan->n_stages, d->n_stages, (long long)lim->max_group,
                         (long long)lim->max_rows, (long long)lim->n_slots,
                         (long long)lim->max_seq);
    }
    p->dist = d;
    p->w = w;
    p->cfg = *cfg;
    p->stage_index = d->stage_index;
    p->n_stages = d->n_stages;
    p->replica = d->replica;
    p->n_replicas = d->n_replicas;
    p->stage = plan->stages[d->stage_index];
    p->lim = *lim;
    st = gemma_state_init(&p->state, cfg, p->stage.layer_begin, p->stage.layer_end, lim->n_slots,
                          lim->max_seq, lim->max_rows, err);
    if (st != GSAE_OK) goto fail;
    p->state.n_threads = n_threads > 0 ? n_threads : 1;
    st = gemma_state_set_compute(&p->state, w, lim->compute, p->stage.has_unembed, err);
    if (st != GSAE_OK) goto fail;
    size_t dm = (size_t)cfg->d_model, rows = (size_t)lim->max_rows, g = (size_t)lim->max_group;
    for (int i = 0; i < N_BUF; i++)
        if (!(p->buf[i] = malloc(rows * dm * sizeof(float)))) goto oom;
    p->last_rows = malloc(g * dm * sizeof(float));
    p->batch_ints = malloc(4 * g * sizeof(int64_t));
    p->tok_in = malloc(rows * sizeof(int32_t));
    if (!p->last_rows || !p->batch_ints || !p->tok_in) goto oom;
    if (p->stage.has_unembed && !(p->logits = malloc(g * (size_t)cfg->n_vocab * sizeof(float))))
        goto oom;
    return GSAE_OK;
oom:
    st = gsae_fail(err, GSAE_ENOMEM, "pipeline stage %d: out of memory for %lld rows of %lld",
                   d->stage_index, (long long)lim->max_rows, (long long)cfg->d_model);
fail:
    pipe_close(p);
    return st;
}

enum gsae_status pipe_logits(struct pipe *p, const float *x, int64_t n_rows, float *logits,
                             struct gsae_error *err)
{
    if (!p->stage.has_unembed)
        return gsae_fail(err, GSAE_EINVAL, "pipeline stage %d has no unembedding", p->stage_index);
    return gemma_logits(p->w, &p->state, x, n_rows, logits, err);
}

/* Micro-batch, step and index among this replica's micro-batches of task i. */
static void task_of(const struct stream *s, int64_t i, int64_t *mb, int64_t *step, int64_t *j)
{
    *j = i % s->n_my;
    *step = s->n_new > 0 ? i / s->n_my : 0;
    *mb = s->my_mb[*j];
}

/* Describe task i's rows: the batch (in p->batch_ints) and what hooks are told. */
static void task_batch(struct pipe *p, const struct stream *s, int64_t i, struct gemma_batch *b,
                       struct pipe_rows *rows)
{
    int64_t mb, step, j;
    task_of(s, i, &mb, &step, &j);
    const struct pipe_work *w = s->work;
    int64_t first = w->mb_first[mb], n = w->mb_first[mb + 1] - first, g = p->lim.max_group;
    int64_t *slot = p->batch_ints, *pos0 = slot + g, *n_tok = pos0 + g, *seq = n_tok + g;
    b->n_seq = n;
    b->n_rows = 0;
    for (int64_t k = 0; k < n; k++) {
        seq[k] = first + k;
        /* Prefill reuses slots per micro-batch; generation keeps one per sequence. */
        slot[k] = (s->n_new > 0 ? s->slot0[j] : 0) + k;
        pos0[k] = step == 0 ? 0 : w->n_tok[first + k] + step - 1;
        n_tok[k] = step == 0 ? w->n_tok[first + k] : 1;
        b->n_rows += n_tok[k];
    }
    b->slot = slot;
    b->pos0 = pos0;
    b->n_tok = n_tok;
    rows->mb = mb;
    rows->step = step;
    rows->seq = seq;
    rows->batch = b;
}

static enum gsae_status wait_req(MPI_Request *r, struct gsae_error *err)
{
    return GSAE_MPI(MPI_Wait(r, MPI_STATUS_IGNORE), err);
}

/* First stage: the embedding of task i's tokens into x (waiting for the tokens of the previous
 * decode step when they come from another rank), then the "embed" hook. */
static enum gsae_status embed_task(struct pipe *p, struct stream *s, const struct pipe_rows *rows,
                                   float *x, struct gsae_error *err)
{
    const struct pipe_work *w = s->work;
    const struct gemma_batch *b = rows->batch;
    int64_t first = rows->seq[0], n_seq = w->n_seq;
    enum gsae_status st = GSAE_OK;
    if (rows->step == 0) {
        int64_t at = 0;
        for (int64_t k = 0; k < b->n_seq; k++) {
            memcpy(p->tok_in + at, w->tokens[first + k], (size_t)b->n_tok[k] * sizeof(int32_t));
            at += b->n_tok[k];
        }
    } else {
        int32_t *prev = s->gen + (rows->step - 1) * n_seq + first;
        if (p->n_stages > 1) {
            int count = 0;
            if ((st = gsae_narrow_int(b->n_seq, &count, err)) != GSAE_OK) return st;
            st = GSAE_MPI(MPI_Recv(prev, count, MPI_INT, p->n_stages - 1, TAG_TOKENS, p->dist->pipe,
                                   MPI_STATUS_IGNORE),
                          err);
            if (st != GSAE_OK) return st;
        }
        memcpy(p->tok_in, prev, (size_t)b->n_seq * sizeof(int32_t));
    }
    if ((st = gemma_embed(&p->cfg, p->w, p->tok_in, b->n_rows, x, err)) != GSAE_OK) return st;
    if (s->hook && s->hook->fn)
        st = s->hook->fn(s->hook->ctx, rows, "embed", -1, x, p->cfg.d_model, err);
    return st;
}

/* Last stage of a generation: logits of each sequence's last row, the sampler's choice, and
 * the tokens sent back to the first stage. */
static enum gsae_status sample_task(struct pipe *p, struct stream *s, int64_t i,
                                    const struct pipe_rows *rows, const float *x,
                                    struct gsae_error *err)
{
    const struct gemma_batch *b = rows->batch;
    int64_t d = p->cfg.d_model, V = p->cfg.n_vocab, row = 0;
    for (int64_t k = 0; k < b->n_seq; k++) {
        row += b->n_tok[k];
        memcpy(p->last_rows + k * d, x + (row - 1) * d, (size_t)d * sizeof(float));
    }
    enum gsae_status st = pipe_logits(p, p->last_rows, b->n_seq, p->logits, err);
    if (st != GSAE_OK) return st;
    int32_t *out = s->gen + rows->step * s->work->n_seq + rows->seq[0];
    for (int64_t k = 0; k < b->n_seq && st == GSAE_OK; k++)
        st = s->sampler->fn(s->sampler->ctx, rows, k, p->logits + k * V, V, &out[k], err);
    if (st != GSAE_OK || p->n_stages == 1 || rows->step + 1 >= s->n_new)
        return st; /* the first stage needs no token it will not feed */
    int count = 0;
    if ((st = gsae_narrow_int(b->n_seq, &count, err)) != GSAE_OK) return st;
    return GSAE_MPI(MPI_Isend(out, count, MPI_INT, 0, TAG_TOKENS, p->dist->pipe, &s->tok_send[i]),
                    err);
}

/* Rows of task i (without building its batch). */
static int64_t task_rows(const struct stream *s, int64_t i)
{
    int64_t mb, step, j, n = 0;
    task_of(s, i, &mb, &step, &j);
    for (int64_t q = s->work->mb_first[mb]; q < s->work->mb_first[mb + 1]; q++)
        n += step == 0 ? s->work->n_tok[q] : 1;
    return n;
}

static enum gsae_status post_recv(struct pipe *p, struct stream *s, int64_t i,
                                  struct gsae_error *err)
{
    int slot = (int)(i % N_BUF), count = 0;
    enum gsae_status st = wait_req(&s->send[slot], err); /* buffer still sending? */
    if (st == GSAE_OK) st = gsae_narrow_int(task_rows(s, i) * p->cfg.d_model, &count, err);
    if (st == GSAE_OK)
        st = GSAE_MPI(MPI_Irecv(p->buf[slot], count, MPI_FLOAT, p->stage_index - 1, TAG_HIDDEN,
                                p->dist->pipe, &s->recv[slot]),
                      err);
    return st;
}

/* Compute task i on the rows in x: embedding (first stage), the stage's layers with hooks,
 * then the sink or the sampler (last stage). */
static enum gsae_status compute_task(struct pipe *p, struct stream *s, int64_t i, float *x,
                                     struct gsae_error *err)
{
    struct gemma_batch b;
    struct pipe_rows rows;
    task_batch(p, s, i, &b, &rows);
    enum gsae_status st = GSAE_OK;
    bool first = p->stage_index == 0, last = p->stage_index == p->n_stages - 1;
    double t0 = MPI_Wtime(); /* compute includes the embedding lookup */
    if (first && (st = embed_task(p, s, &rows, x, err)) != GSAE_OK) return st;
    if (p->stage.layer_end > p->stage.layer_begin) {
        struct hook_bridge bridge = {s->hook, &rows, s};
        struct gemma_hook gh = {hook_bridge_fn, &bridge};
        st = gemma_forward(p->w, &p->state, &b, x, p->stage.layer_begin, p->stage.layer_end, &gh,
                           err);
    }
    if (st == GSAE_OK && last && s->n_new > 0)
        st = sample_task(p, s, i, &rows, x, err);
    else if (st == GSAE_OK && last && s->sink && s->sink->fn)
        st = s->sink->fn(s->sink->ctx, p, &rows, x, p->cfg.d_model, err);
    p->stats.compute_s += MPI_Wtime() - t0;
    p->stats.n_rows += b.n_rows;
    return st;
}

/* The task loop shared by prefill and generation. */
static enum gsae_status run_stream(struct pipe *p, struct stream *s, struct gsae_error *err)
{
    bool first = p->stage_index == 0, last = p->stage_index == p->n_stages - 1;
    enum gsae_status st = GSAE_OK;
    double start = MPI_Wtime(), first_compute = -1.0, last_compute = start;
    if (!first && s->n_tasks > 0 && (st = post_recv(p, s, 0, err)) != GSAE_OK) return st;
    for (int64_t i = 0; i < s->n_tasks; i++) {
        int slot = (int)(i % N_BUF);
        float *x = p->buf[slot];
        if (first) {
            if ((st = wait_req(&s->send[slot], err)) != GSAE_OK) return st;
        } else {
            if ((st = wait_req(&s->recv[slot], err)) != GSAE_OK) return st;
            if (i + 1 < s->n_tasks && (st = post_recv(p, s, i + 1, err)) != GSAE_OK) return st;
        }
        double t = MPI_Wtime();
        if (first_compute < 0.0) first_compute = t;
        if ((st = compute_task(p, s, i, x, err)) != GSAE_OK) return st;
        last_compute = MPI_Wtime();
        if (!last) {
            int count = 0;
            if ((st = gsae_narrow_int(task_rows(s, i) * p->cfg.d_model, &count, err)) != GSAE_OK)
                return st;
            st = GSAE_MPI(MPI_Isend(x, count, MPI_FLOAT, p->stage_index + 1, TAG_HIDDEN,
                                    p->dist->pipe, &s->send[slot]),
                          err);
            if (st != GSAE_OK) return st;
        }
    }
    for (int k = 0; k < N_BUF && st == GSAE_OK; k++)
        st = wait_req(&s->send[k], err);
    if (st == GSAE_OK && s->tok_send)
        st = GSAE_MPI(MPI_Waitall((int)s->n_tasks, s->tok_send, MPI_STATUSES_IGNORE), err);
    double end = MPI_Wtime();
    p->stats.total_s = end - start;
    p->stats.fill_s = first_compute < 0.0 ? end - start : first_compute - start;
    p->stats.drain_s = end - last_compute;
    p->stats.wait_s = p->stats.total_s - p->stats.compute_s - p->stats.fill_s - p->stats.drain_s;
    if (p->stats.wait_s < 0.0) p->stats.wait_s = 0.0;
    p->stats.n_tasks = s->n_tasks;
    return st;
}

/* Requests left by a failed stream: receives are cancelled, sends left to complete (the job
 * is about to abort; see pipe.h). */
static void stream_free(struct stream *s)
{
    for (int k = 0; k < N_BUF; k++) {
        if (s->recv[k] != MPI_REQUEST_NULL) {
            MPI_Cancel(&s->recv[k]);
            MPI_Request_free(&s->recv[k]);
        }
        if (s->send[k] != MPI_REQUEST_NULL) MPI_Request_free(&s->send[k]);
    }
    for (int64_t i = 0; s->tok_send && i < s->n_tasks; i++)
        if (s->tok_send[i] != MPI_REQUEST_NULL) MPI_Request_free(&s->tok_send[i]);
    free(s->my_mb);
    free(s->slot0);
    free(s->gen);
    free(s->tok_send);
    memset(s, 0, sizeof *s);
}

static enum gsae_status check_work(const struct pipe *p, const struct pipe_work *w, int64_t n_new,
                                   struct gsae_error *err)
{
    if (w->n_mb < 0 || w->mb_first[0] != 0 || w->mb_first[w->n_mb] != w->n_seq)
        return gsae_fail(err, GSAE_EINVAL,
                         "pipeline work: micro-batches cover sequences %lld..%lld, expected "
                         "0..%lld",
                         (long long)w->mb_first[0], (long long)w->mb_first[w->n_mb],
                         (long long)w->n_seq);
    int64_t per_replica = 0;
    for (int64_t m = 0; m < w->n_mb; m++) {
        int64_t group = w->mb_first[m + 1] - w->mb_first[m], rows = 0;
        for (int64_t q = w->mb_first[m]; q < w->mb_first[m + 1]; q++) {
            if (w->n_tok[q] < 1 || w->n_tok[q] + n_new > p->lim.max_seq)
                return gsae_fail(err, GSAE_EINVAL,
                                 "pipeline work: sequence %lld has %lld tokens (+%lld new), "
                                 "expected 1..%lld",
                                 (long long)q, (long long)w->n_tok[q], (long long)n_new,
                                 (long long)p->lim.max_seq);
            rows += w->n_tok[q];
        }
        if (group < 1 || group > p->lim.max_group || rows > p->lim.max_rows)
            return gsae_fail(err, GSAE_EINVAL,
                             "pipeline work: micro-batch %lld has %lld sequences and %lld rows, "
                             "limits are %lld and %lld",
                             (long long)m, (long long)group, (long long)rows,
                             (long long)p->lim.max_group, (long long)p->lim.max_rows);
        if (m % p->n_replicas == p->replica) per_replica += group;
    }
    if (n_new > 0 && per_replica > p->lim.n_slots)
        return gsae_fail(err, GSAE_EINVAL,
                         "pipeline work: replica %d generates %lld sequences, %lld KV slots",
                         p->replica, (long long)per_replica, (long long)p->lim.n_slots);
    return GSAE_OK;
}

static enum gsae_status stream_init(struct stream *s, const struct pipe *p,
                                    const struct pipe_work *work, int64_t n_new,
                                    struct gsae_error *err)
{
    memset(s, 0, sizeof *s);
    for (int k = 0; k < N_BUF; k++)
        s->recv[k] = s->send[k] = MPI_REQUEST_NULL;
    enum gsae_status st = check_work(p, work, n_new, err);
    if (st != GSAE_OK) return st;
    s->work = work;
    s->n_new = n_new;
    size_t n_mb = (size_t)work->n_mb + 1;
    s->my_mb = calloc(n_mb, sizeof *s->my_mb);
    s->slot0 = calloc(n_mb, sizeof *s->slot0);
    if (!s->my_mb || !s->slot0) return gsae_fail(err, GSAE_ENOMEM, "pipeline: out of memory");
    int64_t next_slot = 0;
    for (int64_t m = p->replica; m < work->n_mb; m += p->n_replicas) {
        s->my_mb[s->n_my] = m;
        s->slot0[s->n_my++] = next_slot;
        next_slot += work->mb_first[m + 1] - work->mb_first[m];
    }
    s->n_tasks = n_new > 0 ? s->n_my * n_new : s->n_my;
    if (n_new > 0) {
        size_t n_gen = (size_t)(n_new * work->n_seq);
        s->gen = malloc((n_gen > 0 ? n_gen : 1) * sizeof *s->gen);
        s->tok_send = malloc(((size_t)s->n_tasks + 1) * sizeof *s->tok_send);
        if (!s->gen || !s->tok_send) return gsae_fail(err, GSAE_ENOMEM, "pipeline: out of memory");
        for (size_t k = 0; k < n_gen; k++)
            s->gen[k] = -1;
        for (int64_t i = 0; i < s->n_tasks; i++)
            s->tok_send[i] = MPI_REQUEST_NULL;
    }
    return GSAE_OK;
}

enum gsae_status pipe_prefill(struct pipe *p, const struct pipe_work *work,
                              const struct pipe_hook *hook, const struct pipe_sink *sink,
                              struct gsae_error *err)
{
    struct stream s;
    memset(&p->stats, 0, sizeof p->stats);
    enum gsae_status st = stream_init(&s, p, work, 0, err);
    s.hook = hook;
    s.sink = sink;
    if (st == GSAE_OK) st = run_stream(p, &s, err);
    stream_free(&s);
    return st;
}

enum gsae_status pipe_generate(struct pipe *p, const struct pipe_work *work, int64_t n_new,
                               const struct pipe_hook *hook, const struct pipe_sampler *sampler,
                               int32_t *tokens, struct gsae_error *err)
{
    struct stream s;
    memset(&p->stats, 0, sizeof p->stats);
    if (n_new < 1 || !sampler || !sampler->fn)
        return gsae_fail(err, GSAE_EINVAL, "pipeline: generate %lld tokens without a sampler",
                         (long long)n_new);
    if (p->stage_index == p->n_stages - 1 && !p->stage.has_unembed)
        return gsae_fail(err, GSAE_EINVAL, "pipeline: generation needs a plan with logits");
    enum gsae_status st = stream_init(&s, p, work, n_new, err);
    s.hook = hook;
    s.sampler = sampler;
    if (st == GSAE_OK) st = run_stream(p, &s, err);
    int count = 0;
    if (st == GSAE_OK) st = gsae_narrow_int(n_new * work->n_seq, &count, err);
    /* Every rank learns every token: unknown entries are -1, MAX picks the real ones. */
    if (st == GSAE_OK)
        st = GSAE_MPI(MPI_Allreduce(MPI_IN_PLACE, s.gen, count, MPI_INT, MPI_MAX, p->dist->world),
                      err);
    for (int64_t q = 0; st == GSAE_OK && q < work->n_seq; q++)
        for (int64_t t = 0; t < n_new; t++)
            tokens[q * n_new + t] = s.gen[t * work->n_seq + q];
    stream_free(&s);
    return st;
}
