/* intervene.c: the SAE hook at resid_post.L (see intervene.h). */
#include "intervene.h"

#include <stdlib.h>
#include <string.h>

static enum gsae_status check_spec(const struct intervene_spec *s, const struct sae_params *sae,
                                   struct gsae_error *err)
{
    if (s->layer < 0)
        return gsae_fail(err, GSAE_EINVAL, "intervention layer %lld is negative",
                         (long long)s->layer);
    if (s->op == INTERVENE_STEER && (s->steer_feature < 0 || s->steer_feature >= sae->d_sae))
        return gsae_fail(err, GSAE_EINVAL, "steering feature %lld is outside [0, %lld)",
                         (long long)s->steer_feature, (long long)sae->d_sae);
    if (s->op == INTERVENE_ABLATE && (s->n_ablate < 0 || (s->n_ablate > 0 && !s->ablate)))
        return gsae_fail(err, GSAE_EINVAL, "ablation feature list is malformed");
    for (int64_t i = 0; s->op == INTERVENE_ABLATE && i < s->n_ablate; i++)
        if (s->ablate[i] < 0 || s->ablate[i] >= sae->d_sae)
            return gsae_fail(err, GSAE_EINVAL, "ablated feature %d is outside [0, %lld)",
                             s->ablate[i], (long long)sae->d_sae);
    if (s->positions && s->n_positions < 0)
        return gsae_fail(err, GSAE_EINVAL, "position list is malformed");
    for (int64_t i = 0; s->positions && i < s->n_positions; i++)
        if (s->positions[i] < 0)
            return gsae_fail(err, GSAE_EINVAL, "position %lld is negative",
                             (long long)s->positions[i]);
    return GSAE_OK;
}

/* Make room for n gathered rows. */
static enum gsae_status reserve_rows(struct intervene *iv, int64_t n, struct gsae_error *err)
{
    if (n <= iv->rows_cap && iv->rows) return GSAE_OK;
    int64_t cap = iv->rows_cap > 0 ? iv->rows_cap : 1;
    while (cap < n)
        cap *= 2;
    float *rows = realloc(iv->rows, (size_t)(cap * iv->sae->d_model) * sizeof *rows);
    if (rows) iv->rows = rows;
    int64_t *idx = rows ? realloc(iv->row_index, (size_t)cap * sizeof *idx) : NULL;
    if (idx) iv->row_index = idx;
    int64_t *slot = idx ? realloc(iv->row_slot, (size_t)cap * sizeof *slot) : NULL;
    if (slot) iv->row_slot = slot;
    int64_t *pos = slot ? realloc(iv->row_pos, (size_t)cap * sizeof *pos) : NULL;
    if (!pos)
        return gsae_fail(err, GSAE_ENOMEM, "out of memory for %lld hooked rows", (long long)n);
    iv->row_pos = pos;
    iv->rows_cap = cap;
    return GSAE_OK;
}

enum gsae_status intervene_init(struct intervene *iv, const struct intervene_spec *spec,
                                const struct sae_params *sae, int64_t max_rows,
                                struct gsae_error *err)
{
    memset(iv, 0, sizeof *iv);
    enum gsae_status st = check_spec(spec, sae, err);
    if (st != GSAE_OK) return st;
    iv->spec = *spec;
    iv->sae = sae;
    /* steering and error-term ablation never run the full encoder: no buffer for them */
    bool encodes = spec->record || spec->op == INTERVENE_SPLICE ||
                   (spec->op == INTERVENE_ABLATE && !spec->error_term);
    if ((encodes && (st = sae_encoder_init(&iv->enc, sae, 0, err)) != GSAE_OK) ||
        (encodes && spec->sae_bf16 && (st = sae_encoder_set_bf16(&iv->enc, err)) != GSAE_OK) ||
        (st = sae_acts_init(&iv->acts, max_rows, 0, err)) != GSAE_OK ||
        (st = sae_acts_init(&iv->rec, spec->record ? max_rows : 0, 0, err)) != GSAE_OK ||
        (st = reserve_rows(iv, max_rows > 0 ? max_rows : 1, err)) != GSAE_OK)
        intervene_free(iv);
    return st;
}

void intervene_free(struct intervene *iv)
{
    sae_encoder_free(&iv->enc);
    sae_acts_free(&iv->acts);
    sae_acts_free(&iv->rec);
    free(iv->rows);
    free(iv->row_index);
    free(iv->row_slot);
    free(iv->row_pos);
    free(iv->rec_slot);
    free(iv->rec_pos);
    memset(iv, 0, sizeof *iv);
}

struct gemma_hook intervene_hook(struct intervene *iv)
{
    return (struct gemma_hook){.fn = intervene_apply, .ctx = iv};
}

void intervene_record_clear(struct intervene *iv)
{
    sae_acts_clear(&iv->rec);
}

static bool position_selected(const struct intervene_spec *s, int64_t pos)
{
    if (!s->positions) return true;
    for (int64_t i = 0; i < s->n_positions; i++)
        if (s->positions[i] == pos) return true;
    return false;
}

/* Gather the selected rows of x into iv->rows; returns how many. */
static enum gsae_status gather(struct intervene *iv, const float *x,
                               const struct gemma_batch *batch, int64_t *n_out,
                               struct gsae_error *err)
{
    const int64_t d = iv->sae->d_model;
    enum gsae_status st = reserve_rows(iv, batch->n_rows, err);
    if (st != GSAE_OK) return st;
    int64_t n = 0, row = 0;
    for (int64_t s = 0; s < batch->n_seq; s++)
        for (int64_t i = 0; i < batch->n_tok[s]; i++, row++) {
            int64_t pos = batch->pos0[s] + i;
            if (!position_selected(&iv->spec, pos)) continue;
            iv->row_index[n] = row;
            iv->row_slot[n] = batch->slot[s];
            iv->row_pos[n] = pos;
            memcpy(iv->rows + n * d, x + row * d, (size_t)d * sizeof *x);
            n++;
        }
    GSAE_ASSERT(row == batch->n_rows);
    *n_out = n;
    return GSAE_OK;
}

static enum gsae_status record_rows(struct intervene *iv, int64_t n, struct gsae_error *err)
{
    int64_t base = iv->rec.n_rows;
    if (base + n > iv->rec_cap) {
        int64_t cap = iv->rec_cap > 0 ? iv->rec_cap : 64;
        while (cap < base + n)
            cap *= 2;
        int64_t *slot = realloc(iv->rec_slot, (size_t)cap * sizeof *slot);
        if (slot) iv->rec_slot = slot;
        int64_t *pos = slot ? realloc(iv->rec_pos, (size_t)cap * sizeof *pos) : NULL;
        if (!pos)
            return gsae_fail(err, GSAE_ENOMEM, "out of memory recording %lld rows",
                             (long long)(base + n));
        iv->rec_pos = pos;
        iv->rec_cap = cap;
    }
    enum gsae_status st = sae_acts_append(&iv->rec, &iv->acts, 0, n, err);
    if (st != GSAE_OK) return st;
    memcpy(iv->rec_slot + base, iv->row_slot, (size_t)n * sizeof *iv->rec_slot);
    memcpy(iv->rec_pos + base, iv->row_pos, (size_t)n * sizeof *iv->rec_pos);
    return GSAE_OK;
}

/* Activation of feature f in gathered row j: from the encoded rows when there, else computed. */
static float ablated_act(const struct intervene *iv, bool encoded, int64_t j, int32_t f)
{
    if (!encoded) return sae_feature_act(iv->sae, iv->rows + j * iv->sae->d_model, f);
    const struct sae_acts *a = &iv->acts;
    for (int64_t k = a->row_ptr[j]; k < a->row_ptr[j + 1]; k++)
        if (a->feature[k] == f) return a->value[k];
    return 0.0f;
}

/* x := x - sum over ablated f of acts[f] W_dec[f] on the gathered rows (error-term ablation). */
static void ablate_keep_error(struct intervene *iv, float *x, int64_t n, bool encoded)
{
    const int64_t d = iv->sae->d_model;
    for (int64_t j = 0; j < n; j++) {
        float *xr = x + iv->row_index[j] * d;
        for (int64_t k = 0; k < iv->spec.n_ablate; k++) {
            int32_t f = iv->spec.ablate[k];
            float a = ablated_act(iv, encoded, j, f);
            if (a == 0.0f) continue;
            const float *w = iv->sae->w_dec + (int64_t)f * d;
            for (int64_t i = 0; i < d; i++)
                xr[i] -= a * w[i];
        }
    }
}

enum gsae_status intervene_apply(void *ctx, const char *name, int64_t layer, float *x,
                                 const struct gemma_batch *batch, int64_t d_model,
                                 struct gsae_error *err)
{
    struct intervene *iv = ctx;
    const struct intervene_spec *s = &iv->spec;
    if (layer != s->layer || strcmp(name, "resid_post") != 0) return GSAE_OK;
    if (d_model != iv->sae->d_model)
        return gsae_fail(err, GSAE_EINVAL, "resid_post.%lld has width %lld, the SAE's d_in is %lld",
                         (long long)layer, (long long)d_model, (long long)iv->sae->d_model);
    int64_t n;
    enum gsae_status st = gather(iv, x, batch, &n, err);
    if (st != GSAE_OK || n == 0) return st;
    bool encode =
        s->record || s->op == INTERVENE_SPLICE || (s->op == INTERVENE_ABLATE && !s->error_term);
    if (encode && (st = sae_encode(&iv->enc, iv->rows, n, &iv->acts, err)) != GSAE_OK) return st;
    if (s->record && (st = record_rows(iv, n, err)) != GSAE_OK) return st;

    const int64_t d = d_model;
    switch (s->op) {
    case INTERVENE_NONE:
        break;
    case INTERVENE_STEER:
        for (int64_t j = 0; j < n; j++)
            sae_steer(iv->sae, x + iv->row_index[j] * d, 1, s->steer_feature, s->steer_coef);
        break;
    case INTERVENE_SPLICE:
    case INTERVENE_ABLATE:
        if (s->op == INTERVENE_ABLATE && s->error_term) {
            ablate_keep_error(iv, x, n, encode);
            break;
        }
        sae_decode_without(iv->sae, &iv->acts, s->op == INTERVENE_ABLATE ? s->ablate : NULL,
                           s->op == INTERVENE_ABLATE ? s->n_ablate : 0, iv->rows);
        for (int64_t j = 0; j < n; j++)
            memcpy(x + iv->row_index[j] * d, iv->rows + j * d, (size_t)d * sizeof *x);
        break;
    }
    return GSAE_OK;
}
