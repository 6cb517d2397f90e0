/* golden_sae.c: SAE tensors of a golden case (see golden_sae.h). */
#include "golden_sae.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/intervene.h"
#include "../src/sampler.h"

void golden_sae_free(struct golden_sae *s)
{
    sae_params_free(&s->sae);
    sae_info_free(&s->info);
    free(s->strengths);
    free(s->steer_tokens);
    free(s->ablate);
    free(s->positions);
    memset(s, 0, sizeof *s);
}

int64_t golden_sae_n_new(const struct golden_sae *s)
{
    return s->enabled && s->n_strengths > 0 ? s->steer_n_new : 0;
}

/* An integer >= 0 at obj.key, or a failure naming meta.json and the key. */
static enum gsae_status get_int(const json_t *obj, const char *sect, const char *key,
                                const char *path, int64_t *out, struct gsae_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return gsae_fail(err, GSAE_EFORMAT, "%s: '%s.%s' missing or not an integer >= 0", path,
                         sect, key);
    *out = (int64_t)json_integer_value(v);
    return GSAE_OK;
}

/* An integer or a list of integers, as a malloc'd array. */
static enum gsae_status get_int_list(const json_t *v, const char *what, const char *path,
                                     int64_t max, int64_t **out, int64_t *n, struct gsae_error *err)
{
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    *out = malloc((count ? count : 1) * sizeof **out);
    if (!*out) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
    *n = (int64_t)count;
    for (size_t i = 0; i < count; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= max)
            return gsae_fail(err, GSAE_EFORMAT, "%s: '%s' must be integers in [0, %lld)", path,
                             what, (long long)max);
        (*out)[i] = (int64_t)json_integer_value(e);
    }
    return GSAE_OK;
}

static enum gsae_status read_steer(struct golden_sae *s, const json_t *st_j, const char *path,
                                   struct gsae_error *err)
{
    enum gsae_status st;
    if ((st = get_int(st_j, "steer", "feature", path, &s->steer_feature, err)) ||
        (st = get_int(st_j, "steer", "n_new", path, &s->steer_n_new, err)))
        return st;
    json_t *ma = json_object_get(st_j, "max_act"), *str = json_object_get(st_j, "strengths");
    if (!json_is_number(ma) || !json_is_array(str))
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: 'steer.max_act' (number) and 'steer.strengths' (list) are required",
                         path);
    if (s->steer_feature >= s->sae.d_sae)
        return gsae_fail(err, GSAE_EFORMAT, "%s: 'steer.feature' %lld is outside [0, %lld)", path,
                         (long long)s->steer_feature, (long long)s->sae.d_sae);
    s->steer_max_act = json_number_value(ma);
    s->n_strengths = (int64_t)json_array_size(str);
    s->strengths = malloc((size_t)(s->n_strengths + 1) * sizeof *s->strengths);
    s->steer_tokens =
        calloc((size_t)(s->n_strengths * s->steer_n_new + 1), sizeof *s->steer_tokens);
    if (!s->strengths || !s->steer_tokens)
        return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
    for (int64_t i = 0; i < s->n_strengths; i++) {
        json_t *v = json_array_get(str, (size_t)i);
        if (!json_is_number(v))
            return gsae_fail(err, GSAE_EFORMAT, "%s: 'steer.strengths' must be numbers", path);
        s->strengths[i] = json_number_value(v);
    }
    return GSAE_OK;
}

static enum gsae_status read_ablate(struct golden_sae *s, const json_t *ab, const char *path,
                                    struct gsae_error *err)
{
    json_t *f = json_object_get(ab, "features");
    if (!f) f = json_object_get(ab, "feature");
    int64_t *feats = NULL;
    enum gsae_status st =
        get_int_list(f, "ablate.feature", path, s->sae.d_sae, &feats, &s->n_ablate, err);
    if (st == GSAE_OK && !(s->ablate = malloc((size_t)s->n_ablate * sizeof *s->ablate + 1)))
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
    for (int64_t i = 0; st == GSAE_OK && i < s->n_ablate; i++)
        s->ablate[i] = (int32_t)feats[i];
    free(feats);
    json_t *pos = json_object_get(ab, "positions");
    if (st == GSAE_OK && pos && !(json_is_string(pos) && !strcmp(json_string_value(pos), "all")))
        st = get_int_list(pos, "ablate.positions", path, INT64_MAX, &s->positions, &s->n_positions,
                          err);
    return st;
}

enum gsae_status golden_sae_read(struct golden_sae *s, const char *case_dir,
                                 const struct gemma_config *cfg, int64_t n_tok,
                                 struct gsae_error *err)
{
    memset(s, 0, sizeof *s);
    s->n_tok = n_tok;
    char path[4096], sae_path[8192];
    snprintf(path, sizeof path, "%s/meta.json", case_dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) return gsae_fail(err, GSAE_EFORMAT, "%s: line %d: %s", path, jerr.line, jerr.text);
    enum gsae_status st = GSAE_OK;
    json_t *sae = json_object_get(root, "sae");
    const char *rel = json_string_value(json_object_get(sae, "path"));
    const char *fmt = json_string_value(json_object_get(sae, "format"));
    if (!sae) goto done;
    s->enabled = true;
    if (!rel) {
        st = gsae_fail(err, GSAE_EFORMAT, "%s: 'sae.path' missing", path);
        goto done;
    }
    if ((st = get_int(sae, "sae", "layer", path, &s->layer, err))) goto done;
    snprintf(sae_path, sizeof sae_path, "%s/%s", case_dir, rel);
    if ((st = sae_load(sae_path, &s->sae, &s->info, err))) goto done;
    if (fmt && strcmp(fmt, s->info.layout == SAE_LAYOUT_NPZ ? "npz" : "saelens") != 0) {
        st = gsae_fail(err, GSAE_EFORMAT, "%s: 'sae.format' is \"%s\", %s is %s", path, fmt,
                       sae_path, s->info.layout == SAE_LAYOUT_NPZ ? "an npz" : "a SAELens SAE");
        goto done;
    }
    int64_t layer;
    char warning[8];
    if ((st = sae_check_model(&s->info, &s->sae, cfg, NULL, s->layer, &layer, warning,
                              sizeof warning, err)))
        goto done;
    json_t *steer = json_object_get(root, "steer"), *ablate = json_object_get(root, "ablate");
    if (steer && (st = read_steer(s, steer, path, err))) goto done;
    if (ablate) st = read_ablate(s, ablate, path, err);
done:
    json_decref(root);
    return st;
}

/* The pipeline calls this on the stage owning the layer; the intervention filters by name. */
static enum gsae_status hook_adapter(void *ctx, const struct pipe_rows *rows, const char *name,
                                     int64_t layer, float *x, int64_t d_model,
                                     struct gsae_error *err)
{
    return intervene_apply(ctx, name, layer, x, rows->batch, d_model, err);
}

struct logits_sink {
    const struct golden_sae_keep *keep;
    const char *name;
    int64_t n_vocab;
};

/* Prefill sink: logits of every row, kept under the run's name. */
static enum gsae_status keep_logits(void *ctx, struct pipe *p, const struct pipe_rows *rows,
                                    const float *x, int64_t d_model, struct gsae_error *err)
{
    (void)d_model;
    const struct logits_sink *ls = ctx;
    int64_t n = rows->batch->n_rows;
    float *logits = malloc(((size_t)(n * ls->n_vocab) + 1) * sizeof *logits);
    if (!logits)
        return gsae_fail(err, GSAE_ENOMEM, "golden: no memory for %lld rows of logits",
                         (long long)n);
    enum gsae_status st = pipe_logits(p, x, n, logits, err);
    if (st == GSAE_OK) st = ls->keep->fn(ls->keep->ctx, ls->name, logits, n * ls->n_vocab, err);
    free(logits);
    return st;
}

static enum gsae_status argmax_pick(void *ctx, const struct pipe_rows *rows, int64_t i,
                                    const float *logits, int64_t n_vocab, int32_t *token,
                                    struct gsae_error *err)
{
    (void)ctx, (void)rows, (void)i, (void)err;
    *token = sampler_argmax(logits, n_vocab);
    return GSAE_OK;
}

/* One prefill with an intervention; logits kept as name. With record, also sae.acts and
 * sae.recon from the rows the hook saw (only the owning stage sees any). */
static enum gsae_status prefill_run(struct golden_sae *s, struct pipe *p,
                                    const struct pipe_work *work, const struct intervene_spec *spec,
                                    const char *name, const struct golden_sae_keep *keep,
                                    struct gsae_error *err)
{
    struct intervene iv;
    enum gsae_status st = intervene_init(&iv, spec, &s->sae, s->n_tok, err);
    if (st != GSAE_OK) return st;
    struct pipe_hook hook = {hook_adapter, &iv};
    struct logits_sink ls = {keep, name, p->cfg.n_vocab};
    struct pipe_sink sink = {keep_logits, &ls};
    st = pipe_prefill(p, work, &hook, &sink, err);
    float *buf = NULL;
    if (st == GSAE_OK && spec->record && iv.rec.n_rows > 0) {
        int64_t T = iv.rec.n_rows, S = s->sae.d_sae, d = s->sae.d_model;
        buf = malloc((size_t)(T * (S > d ? S : d)) * sizeof *buf);
        if (!buf) {
            st = gsae_fail(err, GSAE_ENOMEM, "golden: no memory for sae.acts");
        } else {
            sae_acts_to_dense(&iv.rec, S, buf);
            st = keep->fn(keep->ctx, "sae.acts", buf, T * S, err);
            sae_decode(&s->sae, &iv.rec, buf);
            if (st == GSAE_OK) st = keep->fn(keep->ctx, "sae.recon", buf, T * d, err);
        }
    }
    free(buf);
    intervene_free(&iv);
    return st;
}

enum gsae_status golden_sae_run(struct golden_sae *s, struct pipe *p, const struct pipe_work *work,
                                const struct golden_sae_keep *keep, struct gsae_error *err)
{
    if (!s->enabled) return GSAE_OK;
    struct intervene_spec splice = {.op = INTERVENE_SPLICE, .layer = s->layer, .record = true};
    enum gsae_status st = prefill_run(s, p, work, &splice, "splice.logits", keep, err);
    for (int with_err = 0; st == GSAE_OK && s->n_ablate > 0 && with_err < 2; with_err++) {
        struct intervene_spec ab = {.op = INTERVENE_ABLATE,
                                    .layer = s->layer,
                                    .ablate = s->ablate,
                                    .n_ablate = s->n_ablate,
                                    .error_term = with_err,
                                    .positions = s->positions,
                                    .n_positions = s->n_positions};
        st = prefill_run(s, p, work, &ab, with_err ? "ablate.err.logits" : "ablate.noerr.logits",
                         keep, err);
    }
    for (int64_t i = 0; st == GSAE_OK && i < s->n_strengths && s->steer_n_new > 0; i++) {
        struct intervene_spec sp = {
            .op = INTERVENE_STEER,
            .layer = s->layer,
            .steer_feature = s->steer_feature,
            /* the product in double, as the reference's Python scalars, then f32 */
            .steer_coef = (float)(s->steer_max_act * s->strengths[i])};
        struct intervene iv;
        if ((st = intervene_init(&iv, &sp, &s->sae, s->n_tok, err)) != GSAE_OK) break;
        struct pipe_hook hook = {hook_adapter, &iv};
        struct pipe_sampler sampler = {argmax_pick, NULL};
        st = pipe_generate(p, work, s->steer_n_new, &hook, &sampler,
                           s->steer_tokens + i * s->steer_n_new, err);
        intervene_free(&iv);
    }
    return st;
}

bool golden_sae_lookup(const struct golden_sae *s, const char *name, const struct dist_blob *all,
                       int64_t n_all, int64_t n_vocab, struct gsae_tensor *t)
{
    if (!s->enabled) return false;
    memset(t, 0, sizeof *t);
    char key[32];
    for (int64_t i = 0; i < s->n_strengths && s->steer_n_new > 0; i++) {
        snprintf(key, sizeof key, "steer.%+.1f", s->strengths[i]);
        if (strcmp(name, key) != 0) continue;
        *t = (struct gsae_tensor){.data = s->steer_tokens + i * s->steer_n_new,
                                  .dtype = GSAE_DTYPE_I32,
                                  .n_dims = 1,
                                  .shape = {s->steer_n_new}};
        return true;
    }
    int64_t width = strcmp(name, "sae.acts") == 0    ? s->sae.d_sae
                    : strcmp(name, "sae.recon") == 0 ? s->sae.d_model
                    : strcmp(name, "splice.logits") == 0 ||
                            strcmp(name, "ablate.err.logits") == 0 ||
                            strcmp(name, "ablate.noerr.logits") == 0
                        ? n_vocab
                        : 0;
    for (int64_t i = 0; width > 0 && i < n_all; i++)
        if (strcmp(all[i].name, name) == 0) {
            *t = (struct gsae_tensor){.data = all[i].data,
                                      .dtype = GSAE_DTYPE_F32,
                                      .n_dims = 2,
                                      .shape = {all[i].n / width, width}};
            return true;
        }
    return false;
}
