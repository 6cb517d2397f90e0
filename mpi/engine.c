/* engine.c (mpi): the start-up sequence of a pipelined model with SAE hooks, and the hooks'
 * subscribers (see engine.h). */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/store_id.h"
#include "../src/hash.h"

MPI_Comm engine_job_comm(void)
{
    return MPI_COMM_WORLD;
}

/* Every rank: each SAE's layer from the request or the file's metadata (weights not read). */
static enum gsae_status probe_saes(struct engine *e, const struct engine_config *c,
                                   struct gsae_error *err)
{
    if (c->n_saes > 0 && !(e->hooks = calloc((size_t)c->n_saes, sizeof *e->hooks)))
        return gsae_fail(err, GSAE_ENOMEM, "out of memory");
    e->n_hooks = c->n_saes;
    for (int64_t i = 0; i < c->n_saes; i++) {
        struct engine_hook *h = &e->hooks[i];
        h->path = c->saes[i].path;
        enum gsae_status st = sae_probe(h->path, &h->info, err);
        if (st == GSAE_OK) st = sae_check_layer(&h->info, c->saes[i].layer, err);
        if (st != GSAE_OK) return st;
        h->layer = c->saes[i].layer >= 0 ? c->saes[i].layer : h->info.layer;
        if (h->layer < 0)
            return gsae_fail(
                err, GSAE_EINVAL,
                "%s: the file does not say which layer it hooks; give --layer or --sae L:PATH",
                h->info.path);
        if (h->layer >= e->cfg.n_layers)
            return gsae_fail(err, GSAE_EINVAL, "%s: hook layer %lld does not exist (%lld layers)",
                             h->info.path, (long long)h->layer, (long long)e->cfg.n_layers);
    }
    return GSAE_OK;
}

/* Configuration, SAE layers and the plan: local and deterministic, the same on every rank. */
static enum gsae_status open_local(struct engine *e, MPI_Comm comm, const struct engine_config *c,
                                   struct gsae_error *err)
{
    enum gsae_status st = ckpt_config_load(c->model_dir, &e->cfg, err);
    if (st == GSAE_OK) st = probe_saes(e, c, err);
    if (st != GSAE_OK) return st;
    int64_t deepest = -1;
    for (int64_t i = 0; i < e->n_hooks; i++)
        deepest = e->hooks[i].layer > deepest ? e->hooks[i].layer : deepest;
    int size = 1;
    st = GSAE_MPI(MPI_Comm_size(comm, &size), err);
    struct plan_options po = {.n_ranks = size,
                              .n_stages = c->n_stages,
                              .n_layers = c->truncate ? deepest + 1 : 0,
                              .with_logits = !c->truncate,
                              .dtype = c->dtype,
                              .ctx_len = c->ctx_len,
                              .layers = c->layers};
    if (st == GSAE_OK && c->truncate && deepest < 0)
        st = gsae_fail(err, GSAE_EINTERNAL, "a truncated plan needs an SAE hook");
    if (st == GSAE_OK) st = plan_make(&e->plan, &e->cfg, &po, err);
    return st;
}

/* The SAE of hook h on the stage that runs its layer: loaded, checked against the model and
 * hashed. Local. */
static enum gsae_status load_sae(struct engine *e, const struct engine_config *c,
                                 struct engine_hook *h, int64_t requested, struct gsae_error *err)
{
    sae_info_free(&h->info);
    int64_t layer = -1;
    enum gsae_status st = sae_load(h->path, &h->sae, &h->info, err);
    if (st == GSAE_OK)
        st = sae_check_model(&h->info, &h->sae, &e->cfg,
                             c->warn_model_name ? e->ck.model_name : NULL, requested, &layer,
                             h->warning, sizeof h->warning, err);
    if (st != GSAE_OK) return st;
    h->d_sae = h->sae.d_sae;
    h->sae_hash = store_id_sae(&h->sae);
    return GSAE_OK;
}

/* This stage's checkpoint tensors and the SAEs whose layer it runs. Local. */
static enum gsae_status open_stage(struct engine *e, const struct engine_config *c,
                                   struct gsae_error *err)
{
    const struct plan_stage *ps = &e->plan.stages[e->d.stage_index];
    struct ckpt_select sel = {ps->layer_begin, ps->layer_end, ps->has_embed || ps->has_unembed,
                              ps->has_unembed};
    enum gsae_status st = ckpt_open(&e->ck, c->stage_dir ? c->stage_dir : c->model_dir, &sel, err);
    if (st == GSAE_OK)
        st = gemma_weights_check(&e->ck.cfg, &e->ck.w, ps->layer_begin, ps->layer_end,
                                 ps->has_unembed, err);
    for (int64_t i = 0; st == GSAE_OK && i < e->n_hooks; i++) {
        struct engine_hook *h = &e->hooks[i];
        h->owned = ps->layer_begin <= h->layer && h->layer < ps->layer_end;
        if (h->owned) st = load_sae(e, c, h, c->saes[i].layer, err);
    }
    return st;
}

/* Every rank learns each hook's width and weights' hash from the stages that loaded it. */
static enum gsae_status share_hooks(struct engine *e, struct gsae_error *err)
{
    if (e->n_hooks == 0) return GSAE_OK;
    int n = 0;
    enum gsae_status st = gsae_narrow_int(2 * e->n_hooks, &n, err);
    uint64_t *v = calloc((size_t)(2 * e->n_hooks), sizeof *v);
    if (st == GSAE_OK && !v) st = gsae_fail(err, GSAE_ENOMEM, "out of memory");
    for (int64_t i = 0; st == GSAE_OK && i < e->n_hooks; i++) {
        v[2 * i] = (uint64_t)e->hooks[i].d_sae;
        v[2 * i + 1] = e->hooks[i].sae_hash;
    }
    if (st == GSAE_OK)
        st = GSAE_MPI(MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_UINT64_T, MPI_MAX, e->d.world), err);
    for (int64_t i = 0; st == GSAE_OK && i < e->n_hooks; i++) {
        e->hooks[i].d_sae = (int64_t)v[2 * i];
        e->hooks[i].sae_hash = v[2 * i + 1];
        if (e->hooks[i].d_sae == 0)
            st = gsae_fail(err, GSAE_EINVAL, "no pipeline stage runs layer %lld (see --layers)",
                           (long long)e->hooks[i].layer);
    }
    free(v);
    return st;
}

static enum gsae_status open_pipe(struct engine *e, const struct engine_config *c,
                                  struct gsae_error *err)
{
    enum gsae_status st = dist_threads_choose(&e->d, c->n_threads, &e->n_threads, err);
    if (st != GSAE_OK) return st;
    dist_threads_apply(e->n_threads);
    struct pipe_limits lim;
    pipe_limits_of_work(c->shape, c->n_new, e->d.n_replicas, &lim);
    lim.compute = c->compute;
    st = pipe_open(&e->p, &e->d, &e->plan, &e->cfg, &e->ck.w, &lim, e->n_threads, err);
    return dist_agree(e->d.world, st, err);
}

enum gsae_status engine_open(MPI_Comm comm, const struct engine_config *c, struct engine *e,
                             struct gsae_error *err)
{
    memset(e, 0, sizeof *e);
    enum gsae_status st = c->local;
    if (st == GSAE_OK && !c->model_dir)
        st = gsae_fail(err, GSAE_EINVAL, "no model given (--model)");
    if (st == GSAE_OK) st = open_local(e, comm, c, err);
    st = dist_agree(comm, st, err);
    if (st == GSAE_OK) st = dist_open(&e->d, comm, e->plan.n_stages, err);
    if (st == GSAE_OK) st = dist_agree(e->d.world, open_stage(e, c, err), err);
    if (st == GSAE_OK) st = share_hooks(e, err);
    if (st == GSAE_OK) st = open_pipe(e, c, err);
    return st;
}

void engine_close(struct engine *e, bool with_comms)
{
    pipe_close(&e->p);
    ckpt_close(&e->ck);
    if (with_comms) dist_close(&e->d);
    plan_free(&e->plan);
    for (int64_t i = 0; i < e->n_hooks; i++) {
        sae_params_free(&e->hooks[i].sae);
        sae_info_free(&e->hooks[i].info);
    }
    free(e->hooks);
    memset(e, 0, sizeof *e);
}

enum gsae_status engine_subscribe(struct engine *e, int64_t i, struct engine_sub sub,
                                  struct gsae_error *err)
{
    GSAE_ASSERT(i >= 0 && i < e->n_hooks);
    struct engine_hook *h = &e->hooks[i];
    if (h->n_subs == ENGINE_MAX_SUBS)
        return gsae_fail(err, GSAE_EINVAL, "resid_post.%lld: more than %d subscribers",
                         (long long)h->layer, ENGINE_MAX_SUBS);
    h->subs[h->n_subs++] = sub;
    return GSAE_OK;
}

void engine_unsubscribe_all(struct engine *e)
{
    for (int64_t i = 0; i < e->n_hooks; i++)
        e->hooks[i].n_subs = 0;
}

int64_t engine_hook_of_layer(const struct engine *e, int64_t layer)
{
    for (int64_t i = 0; i < e->n_hooks; i++)
        if (e->hooks[i].layer == layer) return i;
    return -1;
}

/* The pipe's hook: every subscriber of every hook at resid_post.layer, in order. */
static enum gsae_status dispatch(void *ctx, const struct pipe_rows *rows, const char *name,
                                 int64_t layer, float *x, int64_t d_model, struct gsae_error *err)
{
    struct engine *e = ctx;
    if (strcmp(name, "resid_post") != 0) return GSAE_OK;
    enum gsae_status st = GSAE_OK;
    for (int64_t i = 0; st == GSAE_OK && i < e->n_hooks; i++) {
        const struct engine_hook *h = &e->hooks[i];
        if (h->layer != layer || !h->owned) continue;
        for (int k = 0; st == GSAE_OK && k < h->n_subs; k++)
            st = h->subs[k].fn(h->subs[k].ctx, h, rows, x, d_model, err);
    }
    return st;
}

/* The pipe hook when this stage has a subscriber, else NULL (the pipe then skips the calls). */
static const struct pipe_hook *hook_of(struct engine *e, struct pipe_hook *buf)
{
    for (int64_t i = 0; i < e->n_hooks; i++)
        if (e->hooks[i].owned && e->hooks[i].n_subs > 0) {
            *buf = (struct pipe_hook){dispatch, e};
            return buf;
        }
    return NULL;
}

enum gsae_status engine_prefill(struct engine *e, const struct pipe_work *work,
                                const struct pipe_sink *sink, struct gsae_error *err)
{
    struct pipe_hook buf;
    return pipe_prefill(&e->p, work, hook_of(e, &buf), sink, err);
}

enum gsae_status engine_generate(struct engine *e, const struct pipe_work *work, int64_t n_new,
                                 const struct pipe_sampler *sampler, int32_t *tokens,
                                 struct gsae_error *err)
{
    struct pipe_hook buf;
    return pipe_generate(&e->p, work, n_new, hook_of(e, &buf), sampler, tokens, err);
}
