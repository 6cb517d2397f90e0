/* harvest.c (mpi): harvest rounds through the engine and the store's recorder (harvest.h). */
#include "harvest.h"

#include <stdlib.h>
#include <string.h>

#include "dist_engine.h"

/* The encoded windows of one micro-batch (h->acts), window by window, to the store's sink. */
static enum gsae_status sink_windows(struct harvest_recorder *rc, const struct pipe_rows *rows,
                                     const float *x, int64_t d_model, int64_t w0,
                                     struct gsae_error *err)
{
    const struct harvest_encoder *h = rc->h;
    const struct pstore_sink *sink = &h->sinks[rc->hook];
    int64_t ctxn = h->context;
    for (int64_t s = 0; s < rows->batch->n_seq; s++) {
        int64_t r0 = s * ctxn, base = rc->acts.row_ptr[r0],
                nnz = rc->acts.row_ptr[r0 + ctxn] - base;
        if (nnz > rc->index_cap) {
            uint32_t *grown = realloc(rc->index, (size_t)nnz * sizeof *grown);
            if (!grown)
                return gsae_fail(err, GSAE_ENOMEM, "harvest: out of memory for %lld activations",
                                 (long long)nnz);
            rc->index = grown;
            rc->index_cap = nnz;
        }
        for (int64_t t = 0; t <= ctxn; t++)
            rc->rows[t] = rc->acts.row_ptr[r0 + t] - base;
        for (int64_t z = 0; z < nnz; z++)
            rc->index[z] = (uint32_t)rc->acts.feature[base + z];
        struct pstore_acts a = {rc->rows, rc->index, rc->acts.value + base,
                                h->keep_resid ? x + r0 * d_model : NULL};
        enum gsae_status st = sink->put(sink->ctx, w0 + s, &a, err);
        if (st != GSAE_OK) return st;
    }
    return GSAE_OK;
}

/* A recorder, subscribed to its hook: resid_post.L of one micro-batch -> SAE -> the hook's
 * store's sink, window by window. */
static enum gsae_status record(void *ctx, const struct engine_hook *hook,
                               const struct pipe_rows *rows, float *x, int64_t d_model,
                               struct gsae_error *err)
{
    (void)hook;
    struct harvest_recorder *rc = ctx;
    struct harvest_encoder *h = rc->h;
    int64_t m = rows->mb, k = h->mb_part[m], w0 = h->mb_first_window[m];
    if (k < 0) return GSAE_OK; /* filler */
    GSAE_ASSERT(k == h->round->replica);
    double t0 = MPI_Wtime();
    enum gsae_status st = sae_encode(&rc->enc, x, rows->batch->n_rows, &rc->acts, err);
    h->t_sae += MPI_Wtime() - t0;
    if (st == GSAE_OK) st = sink_windows(rc, rows, x, d_model, w0, err);
    h->t_sink += MPI_Wtime() - t0;
    return st;
}

int harvest_writer_stage(const struct engine *e, int64_t j)
{
    return plan_stage_of_layer(&e->plan, e->hooks[j].layer);
}

static enum gsae_status recorder_init(struct harvest_recorder *rc, const struct engine_hook *hk,
                                      bool bf16, struct gsae_error *err)
{
    const struct harvest_encoder *h = rc->h;
    enum gsae_status st = sae_encoder_init(&rc->enc, &hk->sae, 0, err);
    if (st == GSAE_OK && bf16) st = sae_encoder_set_bf16(&rc->enc, err);
    if (st == GSAE_OK) st = sae_acts_init(&rc->acts, h->wpmb * h->context, 0, err);
    rc->rows = malloc((size_t)(h->context + 1) * sizeof *rc->rows);
    if (st == GSAE_OK && !rc->rows) st = gsae_fail(err, GSAE_ENOMEM, "harvest: out of memory");
    return st;
}

enum gsae_status harvest_encoder_init(struct harvest_encoder *h, struct engine *e, int64_t context,
                                      int64_t wpmb, bool bf16, bool keep_resid, int32_t bos,
                                      void (*report)(const struct gsae_error *),
                                      struct gsae_error *err)
{
    memset(h, 0, sizeof *h);
    h->e = e, h->context = context, h->wpmb = wpmb, h->bos = bos;
    h->keep_resid = keep_resid, h->report = report;
    if (e->n_hooks > HARVEST_MAX_HOOKS)
        return gsae_fail(err, GSAE_EINVAL, "harvest: %lld SAEs, at most %d in one pass",
                         (long long)e->n_hooks, HARVEST_MAX_HOOKS);
    h->n_rec = e->n_hooks;
    enum gsae_status st = GSAE_OK;
    for (int64_t j = 0; st == GSAE_OK && j < e->n_hooks; j++) {
        struct harvest_recorder *rc = &h->rec[j];
        rc->h = h, rc->hook = j;
        if (!e->hooks[j].owned) continue;
        st = recorder_init(rc, &e->hooks[j], bf16, err);
        if (st == GSAE_OK) st = engine_subscribe(e, j, (struct engine_sub){record, rc}, err);
    }
    return st;
}

void harvest_encoder_free(struct harvest_encoder *h)
{
    for (int64_t j = 0; j < h->n_rec; j++) {
        struct harvest_recorder *rc = &h->rec[j];
        sae_encoder_free(&rc->enc);
        sae_acts_free(&rc->acts);
        free(rc->index);
        free(rc->rows);
    }
    free(h->mb_part);
    free(h->mb_first_window);
    memset(h, 0, sizeof *h);
}

/* The round's micro-batches (see harvest.h) into tokens/n_tok/mb_first; *n_seq sequences. */
static void deal(struct harvest_encoder *h, const struct pstore_round *round, int64_t n_mb,
                 const int32_t **tokens, int64_t *n_tok, int64_t *mb_first, int64_t *n_seq)
{
    int64_t R = round->n_replicas, g = h->wpmb, n = 0;
    for (int64_t m = 0; m < n_mb; m++) {
        int64_t k = m % R, j = m / R, w0 = j * g;
        mb_first[m] = n;
        if (k < round->n_parts && w0 < round->n_windows[k]) {
            h->mb_part[m] = k;
            h->mb_first_window[m] = w0;
            for (int64_t w = w0; w < w0 + g && w < round->n_windows[k]; w++) {
                tokens[n] = round->token[k] + w * round->context_size;
                n_tok[n++] = round->context_size;
            }
        } else {
            h->mb_part[m] = -1;
            h->mb_first_window[m] = -1;
            tokens[n] = &h->bos;
            n_tok[n++] = 1;
        }
    }
    mb_first[n_mb] = n;
    *n_seq = n;
}

enum gsae_status harvest_encode_round(void *ctx, const struct pstore_round *round,
                                      const struct pstore_sink *sink, struct gsae_error *err)
{
    struct harvest_encoder *h = ctx;
    int64_t R = round->n_replicas, g = h->wpmb, J = 0;
    for (int64_t k = 0; k < round->n_parts; k++)
        if ((round->n_windows[k] + g - 1) / g > J) J = (round->n_windows[k] + g - 1) / g;
    int64_t n_mb = J * R, n_seq = 0;
    free(h->mb_part);
    free(h->mb_first_window);
    h->mb_part = malloc((size_t)(n_mb + 1) * sizeof *h->mb_part);
    h->mb_first_window = malloc((size_t)(n_mb + 1) * sizeof *h->mb_first_window);
    const int32_t **tokens = malloc((size_t)(n_mb * g + 1) * sizeof *tokens);
    int64_t *n_tok = malloc((size_t)(n_mb * g + 1) * sizeof *n_tok);
    int64_t *mb_first = malloc((size_t)(n_mb + 1) * sizeof *mb_first);
    enum gsae_status st = GSAE_OK;
    if (!h->mb_part || !h->mb_first_window || !tokens || !n_tok || !mb_first)
        st = gsae_fail(err, GSAE_ENOMEM, "harvest: out of memory for a round");
    if (st == GSAE_OK) {
        deal(h, round, n_mb, tokens, n_tok, mb_first, &n_seq);
        h->round = round;
        h->sinks = sink;
        struct pipe_work work = {n_seq, tokens, n_tok, n_mb, mb_first};
        st = engine_prefill(h->e, &work, NULL, err);
        h->t_compute += h->e->p.stats.compute_s;
        h->t_pipe_wait += h->e->p.stats.total_s - h->e->p.stats.compute_s;
    }
    free(tokens);
    free(n_tok);
    free(mb_first);
    if (st != GSAE_OK) {
        /* a failure inside the stream cannot be agreed on: partners wait in receives */
        if (h->report) h->report(err);
        dist_abort_job(&h->e->d, 1);
    }
    return st;
}
