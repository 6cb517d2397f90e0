/* pipe_attrib.c: metric gradients through the pipeline in reverse (see pipe_attrib.h). */
#include "pipe_attrib.h"

#include "../src/attrib.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TAG_ATTRIB_INPUT = 201, TAG_ATTRIB_GRAD = 202 };

enum gsae_status pipe_attrib_open(struct pipe_attrib *a, const struct pipe *p, int64_t layer,
                                  int64_t n_rows, struct gsae_error *err)
{
    memset(a, 0, sizeof *a);
    const struct plan_stage *s = &p->stage;
    if (layer < 0 || layer >= p->cfg.n_layers)
        return gsae_fail(err, GSAE_ERANGE, "attribution: layer %lld outside [0, %lld)",
                         (long long)layer, (long long)p->cfg.n_layers);
    if (n_rows < 1 || n_rows * p->cfg.d_model > INT_MAX)
        return gsae_fail(err, GSAE_ERANGE, "attribution: %lld rows", (long long)n_rows);
    a->layer = layer;
    a->n_rows = n_rows;
    a->active = p->replica == 0 && (s->layer_end > layer || s->has_unembed);
    a->owner = p->replica == 0 && s->layer_begin <= layer && layer < s->layer_end;
    a->bwd_begin = s->layer_begin > layer + 1 ? s->layer_begin : layer + 1;
    a->bwd_end = s->layer_end > a->bwd_begin ? s->layer_end : a->bwd_begin;
    if (!a->active) return GSAE_OK;
    if (p->stage_index + 1 == p->n_stages && !s->has_unembed)
        return gsae_fail(err, GSAE_EINVAL,
                         "attribution: the last stage has no unembedding (plan without logits)");
    size_t bytes = (size_t)(n_rows * p->cfg.d_model) * sizeof(float);
    enum gsae_status st =
        gemma_bwd_init(&a->bwd, &p->cfg, a->bwd_begin, a->bwd_end, n_rows, s->has_unembed, err);
    if (st) return st;
    a->bwd.n_threads = p->state.n_threads;
    a->resid = malloc(bytes);
    a->out = malloc(bytes);
    a->final_x = malloc(bytes);
    a->g = malloc(bytes);
    if (!a->resid || !a->out || !a->final_x || !a->g) {
        pipe_attrib_close(a);
        return gsae_fail(err, GSAE_ENOMEM, "attribution: no memory for %lld rows",
                         (long long)n_rows);
    }
    return GSAE_OK;
}

void pipe_attrib_close(struct pipe_attrib *a)
{
    gemma_bwd_free(&a->bwd);
    free(a->resid);
    free(a->out);
    free(a->final_x);
    free(a->g);
    memset(a, 0, sizeof *a);
}

struct fwd_ctx {
    struct pipe_attrib *a;
    const struct plan_stage *s;
};

/* Records resid_post[l] where this stage needs it. */
static enum gsae_status record(void *ctx, const struct pipe_rows *rows, const char *name,
                               int64_t layer, float *x, int64_t d_model, struct gsae_error *err)
{
    struct fwd_ctx *c = ctx;
    struct pipe_attrib *a = c->a;
    if (!a->active || strcmp(name, "resid_post") != 0) return GSAE_OK;
    int64_t n = rows->batch->n_rows;
    if (n != a->n_rows)
        return gsae_fail(err, GSAE_EINVAL, "attribution: %lld rows recorded, expected %lld",
                         (long long)n, (long long)a->n_rows);
    size_t bytes = (size_t)(n * d_model) * sizeof(float);
    if (layer == a->layer) memcpy(a->resid, x, bytes);
    if (layer == c->s->layer_end - 1) memcpy(a->out, x, bytes);
    if (layer + 1 >= a->bwd_begin && layer + 1 < a->bwd_end)
        return gemma_bwd_save(&a->bwd, layer + 1, x, n, err);
    return GSAE_OK;
}

static enum gsae_status keep_final(void *ctx, struct pipe *p, const struct pipe_rows *rows,
                                   const float *x, int64_t d_model, struct gsae_error *err)
{
    (void)p, (void)err;
    struct fwd_ctx *c = ctx;
    if (c->a->active)
        memcpy(c->a->final_x, x, (size_t)(rows->batch->n_rows * d_model) * sizeof(float));
    return GSAE_OK;
}

enum gsae_status pipe_attrib_forward(struct pipe_attrib *a, struct pipe *p,
                                     const struct pipe_work *work, struct gsae_error *err)
{
    struct fwd_ctx c = {a, &p->stage};
    struct pipe_hook hook = {record, &c};
    struct pipe_sink sink = {keep_final, &c};
    enum gsae_status st = pipe_prefill(p, work, &hook, &sink, err);
    if (st || !a->active) return st;
    /* Hand each stage whose first layer comes after L its input: the previous stage's output. */
    const struct plan_stage *s = &p->stage;
    int count = (int)(a->n_rows * p->cfg.d_model);
    bool send = p->stage_index + 1 < p->n_stages && s->layer_end < p->cfg.n_layers &&
                s->layer_end >= a->layer + 1;
    bool recv =
        p->stage_index > 0 && s->layer_begin < s->layer_end && s->layer_begin >= a->layer + 1;
    MPI_Request req = MPI_REQUEST_NULL;
    if (send)
        st = GSAE_MPI(MPI_Isend(a->out, count, MPI_FLOAT, p->stage_index + 1, TAG_ATTRIB_INPUT,
                                p->dist->pipe, &req),
                      err);
    if (st == GSAE_OK && recv) {
        st = GSAE_MPI(MPI_Recv(a->g, count, MPI_FLOAT, p->stage_index - 1, TAG_ATTRIB_INPUT,
                               p->dist->pipe, MPI_STATUS_IGNORE),
                      err);
        if (st == GSAE_OK) st = gemma_bwd_save(&a->bwd, s->layer_begin, a->g, a->n_rows, err);
    }
    if (send) {
        enum gsae_status st2 = GSAE_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE), err);
        st = st ? st : st2;
    }
    return st;
}

enum gsae_status pipe_attrib_backward(struct pipe_attrib *a, struct pipe *p,
                                      const struct gemma_metric *m, double *metric,
                                      bool *have_metric, struct gsae_error *err)
{
    *have_metric = false;
    if (!a->active) return GSAE_OK;
    const struct plan_stage *s = &p->stage;
    int count = (int)(a->n_rows * p->cfg.d_model);
    enum gsae_status st = gemma_metric_check(m, a->n_rows, p->cfg.n_vocab, err);
    if (st) return st;
    if (s->has_unembed) {
        st = gemma_bwd_head(p->w, &a->bwd, a->final_x, a->n_rows, m, metric, a->g, err);
        *have_metric = st == GSAE_OK;
    } else {
        st = GSAE_MPI(MPI_Recv(a->g, count, MPI_FLOAT, p->stage_index + 1, TAG_ATTRIB_GRAD,
                               p->dist->pipe, MPI_STATUS_IGNORE),
                      err);
    }
    /* Causal: rows after the last one the metric reads stay zero. */
    if (st == GSAE_OK)
        st = gemma_bwd_layers(p->w, &a->bwd, a->g, gemma_metric_rows(m), a->bwd_begin, a->bwd_end,
                              err);
    if (st == GSAE_OK && !a->owner && p->stage_index > 0)
        st = GSAE_MPI(
            MPI_Send(a->g, count, MPI_FLOAT, p->stage_index - 1, TAG_ATTRIB_GRAD, p->dist->pipe),
            err);
    return st;
}

/* On the stage owning L: encode resid_post.L, combine with g into blobs (counts per row,
 * feature ids, activations, attributions: all exact in f32; error). */
enum gsae_status pipe_attrib_blobs(const struct pipe_attrib *a, const struct sae_params *sp,
                                   struct dist_blob *b, struct gsae_error *err)
{
    int64_t n = a->n_rows, d = sp->d_model;
    struct sae_encoder enc = {0};
    struct sae_acts acts = {0};
    float *work = malloc((size_t)(n * d) * sizeof(float));
    enum gsae_status st = work ? GSAE_OK : gsae_fail(err, GSAE_ENOMEM, "out of memory");
    if (st == GSAE_OK) st = sae_encoder_init(&enc, sp, 0, err);
    if (st == GSAE_OK) st = sae_acts_init(&acts, n, 0, err);
    if (st == GSAE_OK) st = sae_encode(&enc, a->resid, n, &acts, err);
    const char *names[5] = {"count", "feature", "act", "attr", "error"};
    int64_t lens[5] = {n, acts.nnz, acts.nnz, acts.nnz, n};
    for (int k = 0; k < 5 && st == GSAE_OK; k++) {
        snprintf(b[k].name, sizeof b[k].name, "%s", names[k]);
        b[k].n = lens[k];
        if (!(b[k].data = malloc((size_t)(lens[k] + 1) * sizeof(float))))
            st = gsae_fail(err, GSAE_ENOMEM, "out of memory");
    }
    if (st == GSAE_OK) {
        attrib_combine(sp, a->resid, &acts, a->g, b[3].data, b[4].data, work);
        for (int64_t r = 0; r < n; r++)
            b[0].data[r] = (float)(acts.row_ptr[r + 1] - acts.row_ptr[r]);
        for (int64_t e = 0; e < acts.nnz; e++) {
            b[1].data[e] = (float)acts.feature[e];
            b[2].data[e] = acts.value[e];
        }
    }
    free(work);
    sae_acts_free(&acts);
    sae_encoder_free(&enc);
    return st;
}
