/* featdash.c: example contexts, logit effects and token text for feature dashboards. */
#include "featdash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/ckpt.h"
#include "../io/sae_io.h"
#include "../io/store.h"
#include "../io/store_context.h"
#include "../src/utf8.h"
#include "cli.h"
#include "sae_cli.h"

struct ctx_req {
    int64_t part, token, feature, slot;
};

static int by_part(const void *a, const void *b)
{
    const struct ctx_req *p = a, *q = b;
    if (p->part != q->part) return p->part < q->part ? -1 : 1;
    return p->slot < q->slot ? -1 : p->slot > q->slot;
}

static int read_part(const char *cmd, const char *store, int64_t index, struct store_part *p)
{
    char name[32], path[4200];
    store_part_name(index, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", store, name);
    struct gsae_error err;
    if (store_part_read(path, false, p, &err) != GSAE_OK) {
        cli_report(cmd, &err);
        return 1;
    }
    return 0;
}

int featdash_contexts(const char *cmd, const char *store, const struct featstats *fs,
                      const int64_t *features, int64_t n, int64_t top, int64_t before,
                      int64_t after, int32_t **ids, float **acts)
{
    int64_t len = before + 1 + after;
    *ids = calloc((size_t)(n * top * len) + 1, sizeof **ids);
    *acts = calloc((size_t)(n * top * len) + 1, sizeof **acts);
    struct ctx_req *req = calloc((size_t)(n * top) + 1, sizeof *req);
    struct store_part part = {0};
    int rc = 0;
    if (!*ids || !*acts || !req) {
        fprintf(stderr, "gsae %s: out of memory for %lld example contexts\n", cmd,
                (long long)(n * top));
        rc = 1;
        goto done;
    }
    for (int64_t i = 0; i < n * top * len; i++)
        (*ids)[i] = -1;
    int64_t n_req = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < top && j < fs->top_n[features[i]]; j++)
            req[n_req++] = (struct ctx_req){.token = fs->top[features[i] * fs->cfg.top_k + j].token,
                                            .feature = features[i],
                                            .slot = (i * top + j) * len};
    if (n_req == 0) goto done;
    /* Part k holds windows [k * wpp, (k + 1) * wpp): wpp is part 0's window count (every part
     * but the last has wpp windows). */
    if ((rc = read_part(cmd, store, 0, &part)) != 0) goto done;
    int64_t wpp = part.n_windows, cs = part.context_size;
    if (wpp < 1 || cs < 1) {
        fprintf(stderr, "gsae %s: %s/part-00000.nc holds no windows\n", cmd, store);
        rc = 1;
        goto done;
    }
    for (int64_t r = 0; r < n_req; r++)
        req[r].part = req[r].token < 0 ? -1 : req[r].token / cs / wpp;
    qsort(req, (size_t)n_req, sizeof *req, by_part);
    struct gsae_error err;
    for (int64_t r = 0; r < n_req && rc == 0; r++) {
        if (req[r].part != part.part_index) {
            store_part_free(&part);
            if ((rc = read_part(cmd, store, req[r].part, &part)) != 0) break;
        }
        if (store_context_read(&part, req[r].token, req[r].feature, before, after,
                               *ids + req[r].slot, *acts + req[r].slot, &err) != GSAE_OK) {
            cli_report(cmd, &err);
            rc = 1;
        }
    }
done:
    store_part_free(&part);
    free(req);
    if (rc) {
        free(*ids);
        free(*acts);
        *ids = NULL;
        *acts = NULL;
    }
    return rc;
}

int64_t featdash_context_size(const char *cmd, const char *store)
{
    struct store_part part = {0};
    int64_t cs = 0;
    if (read_part(cmd, store, 0, &part) == 0) cs = part.context_size;
    store_part_free(&part);
    return cs;
}

int featdash_logits(const char *cmd, const char *model_dir, const char *sae_path,
                    const int64_t *features, int64_t n, int64_t k, struct logit_effects *le,
                    int64_t *layer_out)
{
    *le = (struct logit_effects){0};
    struct ckpt c = {0};
    struct ckpt_select sel = {.layer_begin = 0, .layer_end = 0, .embed = true, .norm_final = true};
    struct gsae_error err;
    struct sae_params p = {0};
    struct sae_info info = {0};
    const float **rows = NULL;
    float *norm = NULL;
    int rc = 1;
    int64_t layer = -1;
    if (ckpt_open(&c, model_dir, &sel, &err) != GSAE_OK) {
        cli_report(cmd, &err);
        goto done;
    }
    if (!sae_cli_load(cmd, sae_path, &c.cfg, c.model_name, -1, false, &p, &info, &layer)) goto done;
    const struct gsae_tensor *nf = &c.w.norm_final;
    if (!nf->data || nf->n_dims != 1 || nf->shape[0] != c.cfg.d_model ||
        p.d_model != c.cfg.d_model) {
        fprintf(stderr,
                "gsae %s: %s: the final norm or the SAE's d_in does not match d_model %lld\n", cmd,
                model_dir, (long long)c.cfg.d_model);
        goto done;
    }
    rows = malloc((size_t)n * sizeof *rows);
    norm = malloc((size_t)c.cfg.d_model * sizeof *norm);
    if (!rows || !norm) {
        fprintf(stderr, "gsae %s: out of memory\n", cmd);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        if (features[i] < 0 || features[i] >= p.d_sae) {
            fprintf(stderr, "gsae %s: feature %lld is not in the SAE (d_sae %lld)\n", cmd,
                    (long long)features[i], (long long)p.d_sae);
            goto done;
        }
        rows[i] = p.w_dec + features[i] * p.d_model;
    }
    gsae_to_f32(norm, nf->data, nf->dtype, c.cfg.d_model);
    if (logit_effects_init(le, rows, n, c.cfg.d_model, norm, k, &err) != GSAE_OK ||
        logit_effects_add_tensor(le, &c.w.embed, &err) != GSAE_OK) {
        cli_report(cmd, &err);
        logit_effects_free(le);
        goto done;
    }
    if (layer_out) *layer_out = info.layer;
    rc = 0;
done:
    free(rows);
    free(norm);
    sae_params_free(&p);
    sae_info_free(&info);
    ckpt_close(&c);
    return rc;
}

char *featdash_token_text(const struct tokenizer *tk, int32_t id)
{
    if (tk) {
        struct tokenizer_text t = {0};
        struct gsae_error err;
        char *out = NULL;
        if (tokenizer_decode(tk, &id, 1, false, &t, &err) == GSAE_OK)
            out = utf8_valid_copy(t.data ? t.data : "", t.len);
        tokenizer_text_free(&t);
        if (out) return out;
    }
    char *out = malloc(16);
    if (out) snprintf(out, 16, "%d", id);
    return out;
}
