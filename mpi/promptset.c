/* promptset.c (mpi): last-token SAE features of a prompt set through the pipeline (see
 * promptset.h). */
#include "promptset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void promptset_work_free(struct promptset_work *w)
{
    free(w->tokens);
    free(w->n_tok);
    free(w->mb_first);
    memset(w, 0, sizeof *w);
}

enum gsae_status promptset_work_init(struct promptset_work *w, const struct promptset *ps,
                                     struct gsae_error *err)
{
    memset(w, 0, sizeof *w);
    size_t n = (size_t)(ps->n > 0 ? ps->n : 1);
    w->tokens = malloc(n * sizeof *w->tokens);
    w->n_tok = malloc(n * sizeof *w->n_tok);
    w->mb_first = malloc((n + 1) * sizeof *w->mb_first);
    if (!w->tokens || !w->n_tok || !w->mb_first)
        return gsae_fail(err, GSAE_ENOMEM, "prompt set: no memory for %lld prompts",
                         (long long)ps->n);
    if (ps->n < 1) return gsae_fail(err, GSAE_EINVAL, "prompt set: no prompts");
    for (int64_t i = 0; i < ps->n; i++) {
        const struct promptset_item *it = &ps->items[i];
        if (!it->tokens || it->n_tokens < 1)
            return gsae_fail(err, GSAE_EINVAL, "prompt %lld (%s): not tokenized", (long long)i,
                             it->name);
        w->tokens[i] = it->tokens;
        w->n_tok[i] = it->n_tokens;
        w->mb_first[i] = i;
    }
    w->mb_first[ps->n] = ps->n;
    w->work = (struct pipe_work){ps->n, w->tokens, w->n_tok, ps->n, w->mb_first};
    return GSAE_OK;
}

/* What the hook keeps on the stage owning the layer. */
struct last_ctx {
    int64_t layer;
    const struct sae_params *sae;
    struct sae_encoder enc;
    struct sae_acts acts;
    float *rows;  /* (max_group, d_model) last rows of a micro-batch */
    float *dense; /* (max_group, d_sae) */
    struct dist_blob *blobs;
    int64_t n_blobs, cap_blobs;
};

static void last_ctx_free(struct last_ctx *c)
{
    sae_encoder_free(&c->enc);
    sae_acts_free(&c->acts);
    free(c->rows);
    free(c->dense);
    dist_blobs_free(c->blobs, c->n_blobs);
    memset(c, 0, sizeof *c);
}

/* Keep row i of c->dense as the features of work sequence seq. */
static enum gsae_status keep_row(struct last_ctx *c, int64_t i, int64_t seq, struct gsae_error *err)
{
    int64_t d_sae = c->sae->d_sae;
    if (c->n_blobs == c->cap_blobs) {
        int64_t cap = c->cap_blobs ? 2 * c->cap_blobs : 16;
        struct dist_blob *b = realloc(c->blobs, (size_t)cap * sizeof *b);
        if (!b) return gsae_fail(err, GSAE_ENOMEM, "last-token features: no memory");
        c->blobs = b, c->cap_blobs = cap;
    }
    struct dist_blob *b = &c->blobs[c->n_blobs];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "seq.%lld", (long long)seq);
    if (!(b->data = malloc((size_t)d_sae * sizeof(float))))
        return gsae_fail(err, GSAE_ENOMEM, "last-token features: no memory");
    memcpy(b->data, c->dense + i * d_sae, (size_t)d_sae * sizeof(float));
    b->n = d_sae;
    c->n_blobs++;
    return GSAE_OK;
}

/* Hook on the owning stage: encode the last row of every sequence of the micro-batch. */
static enum gsae_status last_rows_hook(void *ctx, const struct engine_hook *hook,
                                       const struct pipe_rows *rows, float *x, int64_t d_model,
                                       struct gsae_error *err)
{
    struct last_ctx *c = ctx;
    (void)hook;
    if (rows->step != 0) return GSAE_OK;
    const struct gemma_batch *b = rows->batch;
    int64_t end = 0;
    for (int64_t i = 0; i < b->n_seq; i++) {
        end += b->n_tok[i]; /* rows are packed: sequence i ends at row end - 1 */
        memcpy(c->rows + i * d_model, x + (end - 1) * d_model, (size_t)d_model * sizeof(float));
    }
    enum gsae_status st = sae_encode(&c->enc, c->rows, b->n_seq, &c->acts, err);
    if (st != GSAE_OK) return st;
    sae_acts_to_dense(&c->acts, c->sae->d_sae, c->dense);
    for (int64_t i = 0; st == GSAE_OK && i < b->n_seq; i++)
        st = keep_row(c, i, rows->seq[i], err);
    return st;
}

/* Rank 0: the collected blobs into a dense (n_seq, d_sae) matrix, each sequence exactly once. */
static enum gsae_status assemble(const struct dist_blob *all, int64_t n_all, int64_t n_seq,
                                 int64_t layer, float **acts, int64_t *d_sae,
                                 struct gsae_error *err)
{
    if (n_all != n_seq || n_all < 1)
        return gsae_fail(err, GSAE_EINTERNAL,
                         "last-token features: %lld of %lld prompts encoded; does the plan run "
                         "layer %lld?",
                         (long long)n_all, (long long)n_seq, (long long)layer);
    int64_t width = all[0].n;
    float *m = calloc((size_t)(n_seq * width), sizeof *m);
    uint8_t *seen = calloc((size_t)n_seq, 1);
    enum gsae_status st = GSAE_OK;
    if (!m || !seen) st = gsae_fail(err, GSAE_ENOMEM, "last-token features: no memory");
    for (int64_t k = 0; st == GSAE_OK && k < n_all; k++) {
        long long seq = -1;
        if (sscanf(all[k].name, "seq.%lld", &seq) != 1 || seq < 0 || seq >= n_seq || seen[seq] ||
            all[k].n != width)
            st = gsae_fail(err, GSAE_EINTERNAL, "last-token features: unexpected block '%s'",
                           all[k].name);
        else {
            seen[seq] = 1;
            memcpy(m + seq * width, all[k].data, (size_t)width * sizeof(float));
        }
    }
    free(seen);
    if (st != GSAE_OK) {
        free(m);
        return st;
    }
    *acts = m;
    *d_sae = width;
    return GSAE_OK;
}

/* Set up the hook's buffers on a stage that owns layer. */
static enum gsae_status last_ctx_init(struct last_ctx *c, const struct pipe *p,
                                      const struct sae_params *sae, struct gsae_error *err)
{
    if (!sae)
        return gsae_fail(err, GSAE_EINVAL, "stage %d runs layer %lld but has no SAE",
                         p->stage_index, (long long)c->layer);
    if (sae->d_model != p->cfg.d_model)
        return gsae_fail(err, GSAE_EINVAL, "SAE d_in %lld, the model's hidden size is %lld",
                         (long long)sae->d_model, (long long)p->cfg.d_model);
    c->sae = sae;
    int64_t g = p->lim.max_group;
    c->rows = malloc((size_t)(g * sae->d_model) * sizeof(float));
    c->dense = malloc((size_t)(g * sae->d_sae) * sizeof(float));
    if (!c->rows || !c->dense) return gsae_fail(err, GSAE_ENOMEM, "last-token features: no memory");
    enum gsae_status st = sae_encoder_init(&c->enc, sae, g, err);
    if (st == GSAE_OK) st = sae_acts_init(&c->acts, g, 0, err);
    return st;
}

enum gsae_status promptset_last_acts(struct engine *e, int64_t hook, const struct pipe_work *work,
                                     float **acts, int64_t *d_sae, struct gsae_error *err)
{
    *acts = NULL;
    *d_sae = 0;
    const struct engine_hook *h = &e->hooks[hook];
    struct last_ctx c = {.layer = h->layer};
    struct dist_blob *all = NULL;
    int64_t n_all = 0;
    enum gsae_status st = h->owned ? last_ctx_init(&c, &e->p, &h->sae, err) : GSAE_OK;
    if (st == GSAE_OK && h->owned)
        st = engine_subscribe(e, hook, (struct engine_sub){last_rows_hook, &c}, err);
    st = dist_agree(e->d.world, st, err);
    if (st == GSAE_OK) st = engine_prefill(e, work, NULL, err);
    engine_unsubscribe_all(e);
    if (st == GSAE_OK) st = dist_collect(&e->d, c.blobs, c.n_blobs, &all, &n_all, err);
    if (st == GSAE_OK && e->d.rank == 0)
        st = assemble(all, n_all, work->n_seq, h->layer, acts, d_sae, err);
    dist_blobs_free(all, n_all);
    last_ctx_free(&c);
    return st;
}
