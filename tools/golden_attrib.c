/* golden_attrib.c: attribution tensors of a golden case (see golden_attrib.h). */
#include "golden_attrib.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../mpi/pipe_attrib.h"
#include "../src/attrib.h"

/* An integer at obj.key (or def when absent and def >= 0). */
static enum gsae_status get_int(const json_t *obj, const char *key, int64_t def, const char *path,
                                int64_t *out, struct gsae_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v && def >= 0) {
        *out = def;
        return GSAE_OK;
    }
    if (!json_is_integer(v))
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: 'attribute.metrics.*.%s' missing or not an integer", path, key);
    *out = (int64_t)json_integer_value(v);
    return GSAE_OK;
}

enum gsae_status golden_attrib_read(struct golden_attrib *s, const char *case_dir,
                                    const struct golden_sae *sae, const int32_t *tokens,
                                    int64_t n_tok, int64_t n_vocab, struct gsae_error *err)
{
    memset(s, 0, sizeof *s);
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", case_dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) return gsae_fail(err, GSAE_EFORMAT, "%s: line %d: %s", path, jerr.line, jerr.text);
    enum gsae_status st = GSAE_OK;
    json_t *ms = json_object_get(json_object_get(root, "attribute"), "metrics");
    if (!ms) goto done;
    if (!sae->enabled) {
        st = gsae_fail(err, GSAE_EFORMAT, "%s: 'attribute' needs an 'sae' section", path);
        goto done;
    }
    json_t *ld = json_object_get(ms, "logit_diff"), *al = json_object_get(ms, "answer_logprob");
    if (ld) {
        int64_t target = 0, baseline = 0, pos = 0;
        if ((st = get_int(ld, "target", -1, path, &target, err)) ||
            (st = get_int(ld, "baseline", -1, path, &baseline, err)) ||
            (st = get_int(ld, "position", n_tok - 1, path, &pos, err)))
            goto done;
        s->metric[s->n_metrics] = (struct gemma_metric){.kind = GEMMA_METRIC_LOGIT_DIFF,
                                                        .position = pos,
                                                        .target = (int32_t)target,
                                                        .baseline = (int32_t)baseline};
        s->name[s->n_metrics++] = "logit_diff";
    }
    if (al) {
        json_t *ap = json_object_get(al, "answer_positions");
        json_t *a0 = json_array_get(ap, 0), *a1 = json_array_get(ap, 1);
        if (json_array_size(ap) != 2 || !json_is_integer(a0) || !json_is_integer(a1)) {
            st = gsae_fail(err, GSAE_EFORMAT,
                           "%s: 'attribute.metrics.answer_logprob.answer_positions' must be "
                           "[first, last]",
                           path);
            goto done;
        }
        s->metric[s->n_metrics] = (struct gemma_metric){.kind = GEMMA_METRIC_ANSWER_LOGPROB,
                                                        .first = json_integer_value(a0),
                                                        .last = json_integer_value(a1),
                                                        .tokens = tokens};
        s->name[s->n_metrics++] = "answer_logprob";
    }
    for (int i = 0; i < s->n_metrics && st == GSAE_OK; i++)
        if ((st = gemma_metric_check(&s->metric[i], n_tok, n_vocab, err))) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            st = gsae_fail(err, st, "%s: attribute.metrics.%s: %s", path, s->name[i], msg);
        }
    s->enabled = s->n_metrics > 0;
done:
    json_decref(root);
    return st;
}

/* On the SAE layer's stage: features (dense) and error from resid_post[L] and g. */
static enum gsae_status combine(const struct golden_sae *sae, const struct pipe_attrib *a,
                                const char *name, const struct golden_sae_keep *keep,
                                struct gsae_error *err)
{
    const struct sae_params *sp = &sae->sae;
    int64_t n = a->n_rows, d = sp->d_model, S = sp->d_sae;
    struct sae_encoder enc = {0};
    struct sae_acts acts = {0};
    float *dense = malloc((size_t)(n * (S > d ? S : d)) * sizeof(float));
    float *work = malloc((size_t)(n * d) * sizeof(float));
    float *fe = NULL, *error = malloc((size_t)n * sizeof(float));
    enum gsae_status st = !dense || !work || !error
                              ? gsae_fail(err, GSAE_ENOMEM, "golden: no memory for attribution")
                              : GSAE_OK;
    if (st == GSAE_OK) st = sae_encoder_init(&enc, sp, 0, err);
    if (st == GSAE_OK) st = sae_acts_init(&acts, n, 0, err);
    if (st == GSAE_OK) st = sae_encode(&enc, a->resid, n, &acts, err);
    if (st == GSAE_OK && !(fe = malloc((size_t)(acts.nnz + 1) * sizeof(float))))
        st = gsae_fail(err, GSAE_ENOMEM, "golden: no memory for attribution");
    char key[DIST_NAME_LEN];
    if (st == GSAE_OK) {
        attrib_combine(sp, a->resid, &acts, a->g, fe, error, work);
        memset(dense, 0, (size_t)(n * S) * sizeof(float));
        for (int64_t r = 0; r < n; r++)
            for (int64_t e = acts.row_ptr[r]; e < acts.row_ptr[r + 1]; e++)
                dense[r * S + acts.feature[e]] = fe[e];
        snprintf(key, sizeof key, "attrib.%s.grad", name);
        st = keep->fn(keep->ctx, key, a->g, n * d, err);
    }
    if (st == GSAE_OK) {
        snprintf(key, sizeof key, "attrib.%s.features", name);
        st = keep->fn(keep->ctx, key, dense, n * S, err);
    }
    if (st == GSAE_OK) {
        snprintf(key, sizeof key, "attrib.%s.error", name);
        st = keep->fn(keep->ctx, key, error, n, err);
    }
    free(dense), free(work), free(fe), free(error);
    sae_acts_free(&acts);
    sae_encoder_free(&enc);
    return st;
}

enum gsae_status golden_attrib_run(const struct golden_attrib *s, const struct golden_sae *sae,
                                   struct pipe *p, const struct pipe_work *work,
                                   const struct golden_sae_keep *keep, struct gsae_error *err)
{
    if (!s->enabled) return GSAE_OK;
    struct pipe_attrib a;
    enum gsae_status st = pipe_attrib_open(&a, p, sae->layer, work->n_tok[0], err);
    if (st == GSAE_OK) st = pipe_attrib_forward(&a, p, work, err);
    for (int i = 0; i < s->n_metrics && st == GSAE_OK; i++) {
        double metric = 0.0;
        bool have_metric = false;
        st = pipe_attrib_backward(&a, p, &s->metric[i], &metric, &have_metric, err);
        char key[DIST_NAME_LEN];
        if (st == GSAE_OK && have_metric) {
            float v = (float)metric;
            snprintf(key, sizeof key, "attrib.%s.metric", s->name[i]);
            st = keep->fn(keep->ctx, key, &v, 1, err);
        }
        if (st == GSAE_OK && a.owner) st = combine(sae, &a, s->name[i], keep, err);
    }
    pipe_attrib_close(&a);
    return st;
}

bool golden_attrib_lookup(const struct golden_attrib *s, const char *name,
                          const struct dist_blob *all, int64_t n_all, int64_t d_model,
                          int64_t d_sae, struct gsae_tensor *t)
{
    if (!s->enabled || strncmp(name, "attrib.", 7) != 0) return false;
    for (int i = 0; i < s->n_metrics; i++) {
        size_t len = strlen(s->name[i]);
        if (strncmp(name + 7, s->name[i], len) != 0 || name[7 + len] != '.') continue;
        const char *what = name + 8 + len;
        int64_t width = strcmp(what, "grad") == 0                                   ? d_model
                        : strcmp(what, "features") == 0                             ? d_sae
                        : strcmp(what, "error") == 0 || strcmp(what, "metric") == 0 ? -1
                                                                                    : 0;
        for (int64_t k = 0; width != 0 && k < n_all; k++) {
            if (strcmp(all[k].name, name) != 0) continue;
            *t = (struct gsae_tensor){.data = all[k].data, .dtype = GSAE_DTYPE_F32};
            if (width < 0) {
                t->n_dims = 1;
                t->shape[0] = all[k].n;
            } else {
                t->n_dims = 2;
                t->shape[0] = all[k].n / width;
                t->shape[1] = width;
            }
            return true;
        }
    }
    return false;
}
