/* ckpt.c: open a Hugging Face Gemma-2 checkpoint directory (see ckpt.h).
 *
 * Order of work: config.json (sizes) -> the list of tensors the selection needs, with the
 * shape each must have -> the files holding them (one file, or the shards the index names for
 * them) -> per tensor: present, float dtype, exact shape, aligned -> views in struct
 * gemma_weights. Data pages are never read here.
 */
#include "ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/hash.h"
#include "ckpt_impl.h"

#define SINGLE_FILE "model.safetensors"
#define INDEX_FILE  "model.safetensors.index.json"

/* ---- the tensors a selection needs ------------------------------------------------------ */

enum shape_kind { SHAPE_Q, SHAPE_KV, SHAPE_O, SHAPE_UP, SHAPE_DOWN, SHAPE_NORM, SHAPE_EMBED };

static const struct {
    const char *suffix;
    size_t offset; /* of the view in struct gemma_layer_weights */
    enum shape_kind kind;
} layer_tensors[] = {
    {"self_attn.q_proj.weight", offsetof(struct gemma_layer_weights, attn_q), SHAPE_Q},
    {"self_attn.k_proj.weight", offsetof(struct gemma_layer_weights, attn_k), SHAPE_KV},
    {"self_attn.v_proj.weight", offsetof(struct gemma_layer_weights, attn_v), SHAPE_KV},
    {"self_attn.o_proj.weight", offsetof(struct gemma_layer_weights, attn_o), SHAPE_O},
    {"mlp.gate_proj.weight", offsetof(struct gemma_layer_weights, ffn_gate), SHAPE_UP},
    {"mlp.up_proj.weight", offsetof(struct gemma_layer_weights, ffn_up), SHAPE_UP},
    {"mlp.down_proj.weight", offsetof(struct gemma_layer_weights, ffn_down), SHAPE_DOWN},
    {"input_layernorm.weight", offsetof(struct gemma_layer_weights, norm_attn_in), SHAPE_NORM},
    {"post_attention_layernorm.weight", offsetof(struct gemma_layer_weights, norm_attn_post),
     SHAPE_NORM},
    {"pre_feedforward_layernorm.weight", offsetof(struct gemma_layer_weights, norm_ffn_pre),
     SHAPE_NORM},
    {"post_feedforward_layernorm.weight", offsetof(struct gemma_layer_weights, norm_ffn_post),
     SHAPE_NORM},
};
#define N_LAYER_TENSORS ((int64_t)(sizeof layer_tensors / sizeof layer_tensors[0]))

/* A tensor the selection needs: where its view goes and the shape it must have. */
struct want {
    char name[96];
    struct gsae_tensor *slot;
    int n_dims;
    int64_t shape[2];
    int64_t file; /* index into c->files once located */
};

static void want_shape(const struct gemma_config *g, enum shape_kind k, struct want *w)
{
    int64_t q = g->n_heads * g->d_head, kv = g->n_kv_heads * g->d_head;
    int64_t rows = 0, cols = 0;
    switch (k) {
    case SHAPE_Q:
        rows = q, cols = g->d_model;
        break;
    case SHAPE_KV:
        rows = kv, cols = g->d_model;
        break;
    case SHAPE_O:
        rows = g->d_model, cols = q;
        break;
    case SHAPE_UP:
        rows = g->d_ff, cols = g->d_model;
        break;
    case SHAPE_DOWN:
        rows = g->d_model, cols = g->d_ff;
        break;
    case SHAPE_EMBED:
        rows = g->n_vocab, cols = g->d_model;
        break;
    case SHAPE_NORM:
        rows = g->d_model;
        break;
    }
    w->n_dims = k == SHAPE_NORM ? 1 : 2;
    w->shape[0] = rows;
    w->shape[1] = cols;
}

/* The list of tensors for c->sel, in the order the forward pass uses them. */
static enum gsae_status list_wanted(struct ckpt *c, struct want **out, int64_t *n_out,
                                    struct gsae_error *err)
{
    const struct ckpt_select *s = &c->sel;
    int64_t n = (s->layer_end - s->layer_begin) * N_LAYER_TENSORS + 2;
    struct want *w = calloc((size_t)n, sizeof *w);
    if (!w)
        return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory for %lld tensors", c->dir,
                         (long long)n);
    int64_t k = 0;
    if (s->embed) {
        snprintf(w[k].name, sizeof w[k].name, "model.embed_tokens.weight");
        w[k].slot = &c->w.embed;
        want_shape(&c->cfg, SHAPE_EMBED, &w[k++]);
    }
    for (int64_t l = s->layer_begin; l < s->layer_end; l++)
        for (int64_t i = 0; i < N_LAYER_TENSORS; i++) {
            snprintf(w[k].name, sizeof w[k].name, "model.layers.%lld.%s", (long long)l,
                     layer_tensors[i].suffix);
            w[k].slot = (struct gsae_tensor *)((char *)&c->w.layers[l] + layer_tensors[i].offset);
            want_shape(&c->cfg, layer_tensors[i].kind, &w[k++]);
        }
    if (s->norm_final) {
        snprintf(w[k].name, sizeof w[k].name, "model.norm.weight");
        w[k].slot = &c->w.norm_final;
        want_shape(&c->cfg, SHAPE_NORM, &w[k++]);
    }
    *out = w;
    *n_out = k;
    return GSAE_OK;
}

/* ---- files ------------------------------------------------------------------------------ */

/* Index of the opened file called name (relative to the directory), opening it if needed. */
static enum gsae_status file_index(struct ckpt *c, const char *name, const char *index_path,
                                   const char *tensor, int64_t *out, struct gsae_error *err)
{
    char *path = ckpt_path_join(c->dir, name);
    if (!path) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", c->dir);
    for (int64_t i = 0; i < c->n_files; i++)
        if (strcmp(c->files[i].path, path) == 0) {
            free(path);
            *out = i;
            return GSAE_OK;
        }
    enum gsae_status st = sft_open(&c->files[c->n_files], path, err);
    if (st == GSAE_ENOTFOUND && index_path)
        st = gsae_fail(err, GSAE_ENOTFOUND,
                       "%s: tensor '%s': shard '%s' does not exist, expected the file %s",
                       index_path, tensor, name, path);
    free(path);
    if (st != GSAE_OK) return st;
    *out = c->n_files++;
    return GSAE_OK;
}

/* A shard name from the index must be a plain file name inside the directory. */
static bool plain_file_name(const char *s)
{
    return s[0] != '\0' && strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Locate every wanted tensor's file through the index's weight_map, opening those shards. */
static enum gsae_status locate_sharded(struct ckpt *c, const char *index_path, struct want *w,
                                       int64_t n, struct gsae_error *err)
{
    char *text = NULL;
    size_t len = 0;
    json_t *root = NULL;
    enum gsae_status st = ckpt_read_small_file(index_path, &text, &len, err);
    if (st != GSAE_OK) return st;
    if ((st = ckpt_load_json(index_path, text, len, &root, err)) != GSAE_OK) goto done;
    const json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map)) {
        st = gsae_fail(err, GSAE_EFORMAT,
                       "%s: 'weight_map' is %s, expected an object mapping "
                       "tensor names to shard files",
                       index_path, map ? ckpt_json_kind(map) : "missing");
        goto done;
    }
    /* at most one file per tensor, and usually far fewer */
    c->files = calloc((size_t)(n ? n : 1), sizeof *c->files);
    if (!c->files) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", index_path);
        goto done;
    }
    for (int64_t i = 0; i < n && st == GSAE_OK; i++) {
        const json_t *shard = json_object_get(map, w[i].name);
        if (!shard)
            st = gsae_fail(err, GSAE_ENOTFOUND,
                           "%s: tensor '%s': missing from weight_map, expected a shard file for it",
                           index_path, w[i].name);
        else if (!json_is_string(shard) || !plain_file_name(json_string_value(shard)))
            st = gsae_fail(err, GSAE_EFORMAT,
                           "%s: tensor '%s': shard is %s, expected a file "
                           "name in the checkpoint directory",
                           index_path, w[i].name,
                           json_is_string(shard) ? "a path outside it" : ckpt_json_kind(shard));
        else
            st = file_index(c, json_string_value(shard), index_path, w[i].name, &w[i].file, err);
    }
done:
    json_decref(root);
    free(text);
    return st;
}

static enum gsae_status locate_single(struct ckpt *c, struct want *w, int64_t n,
                                      struct gsae_error *err)
{
    c->files = calloc(1, sizeof *c->files);
    if (!c->files) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", c->dir);
    int64_t f = 0;
    enum gsae_status st = file_index(c, SINGLE_FILE, NULL, NULL, &f, err);
    if (st == GSAE_ENOTFOUND)
        st = gsae_fail(err, st,
                       "%s: neither " SINGLE_FILE " nor " INDEX_FILE " exists, expected "
                       "the weights of a Hugging Face checkpoint",
                       c->dir);
    for (int64_t i = 0; i < n; i++)
        w[i].file = f;
    return st;
}

/* ---- checks ----------------------------------------------------------------------------- */

static void format_shape(char *buf, size_t size, const int64_t *shape, int n_dims)
{
    int at = snprintf(buf, size, "[");
    for (int i = 0; i < n_dims && at > 0 && (size_t)at < size; i++)
        at += snprintf(buf + at, size - (size_t)at, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (at > 0 && (size_t)at < size) snprintf(buf + at, size - (size_t)at, "]");
}

/* The wanted tensor is in its file, has a float dtype, the config's shape, and aligned data. */
static enum gsae_status check_tensor(struct ckpt *c, const struct want *w, struct ckpt_tensor *out,
                                     struct gsae_error *err)
{
    const struct sft_file *f = &c->files[w->file];
    const struct sft_entry *e = sft_find(f, w->name);
    char want_s[64], got_s[160];
    format_shape(want_s, sizeof want_s, w->shape, w->n_dims);
    if (!e)
        return gsae_fail(err, GSAE_ENOTFOUND, "%s: tensor '%s': missing, expected shape %s",
                         f->path, w->name, want_s);
    if (e->dtype != GSAE_DTYPE_F32 && e->dtype != GSAE_DTYPE_F16 && e->dtype != GSAE_DTYPE_BF16)
        return gsae_fail(err, GSAE_EFORMAT, "%s: tensor '%s': dtype %s, expected F32, F16 or BF16",
                         f->path, w->name, gsae_dtype_name(e->dtype));
    bool same = e->n_dims == w->n_dims;
    for (int d = 0; same && d < w->n_dims; d++)
        same = e->shape[d] == w->shape[d];
    if (!same) {
        format_shape(got_s, sizeof got_s, e->shape, e->n_dims);
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: tensor '%s': shape %s, expected %s for config.json (hidden_size "
                         "%lld, intermediate_size %lld, heads %lld/%lld x head_dim %lld, "
                         "vocab_size %lld)",
                         f->path, w->name, got_s, want_s, (long long)c->cfg.d_model,
                         (long long)c->cfg.d_ff, (long long)c->cfg.n_heads,
                         (long long)c->cfg.n_kv_heads, (long long)c->cfg.d_head,
                         (long long)c->cfg.n_vocab);
    }
    size_t at = f->data_start + e->begin, size = gsae_dtype_size(e->dtype);
    if (at % size != 0)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: tensor '%s': data at file offset %zu, expected a multiple of %zu "
                         "(%s alignment)",
                         f->path, w->name, at, size, gsae_dtype_name(e->dtype));
    *w->slot = sft_view(f, e);
    out->name = strdup(w->name);
    out->t = *w->slot;
    out->file = f->path;
    out->bytes = e->end - e->begin;
    if (!out->name) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", f->path);
    return GSAE_OK;
}

/* "model.layers.N.<...>" gives N; anything else -1. */
static int64_t layer_of(const char *name)
{
    static const char prefix[] = "model.layers.";
    if (strncmp(name, prefix, sizeof prefix - 1) != 0) return -1;
    const char *p = name + sizeof prefix - 1;
    int64_t n = 0;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((n = n * 10 + (*p - '0')) > INT32_MAX) return INT32_MAX;
    return *p == '.' ? n : -1;
}

/* A tensor for a layer the config does not have means config and weights disagree. */
static enum gsae_status check_no_extra_layers(const struct ckpt *c, struct gsae_error *err)
{
    for (int64_t i = 0; i < c->n_files; i++)
        for (int64_t k = 0; k < c->files[i].n_entries; k++) {
            const char *name = c->files[i].entries[k].name;
            if (layer_of(name) >= c->cfg.n_layers)
                return gsae_fail(err, GSAE_EFORMAT,
                                 "%s: tensor '%.100s': layer %lld, expected layers below "
                                 "config.json's num_hidden_layers %lld",
                                 c->files[i].path, name, (long long)layer_of(name),
                                 (long long)c->cfg.n_layers);
        }
    return GSAE_OK;
}

/* ---- open / close ----------------------------------------------------------------------- */

struct ckpt_select ckpt_select_all(const struct gemma_config *cfg)
{
    struct ckpt_select s = {0, cfg->n_layers, true, true};
    return s;
}

struct ckpt_select ckpt_select_stage(const struct gemma_config *cfg, int64_t layer_begin,
                                     int64_t layer_end)
{
    bool last = layer_end == cfg->n_layers;
    struct ckpt_select s = {layer_begin, layer_end, layer_begin == 0 || last, last};
    return s;
}

void ckpt_close(struct ckpt *c)
{
    if (!c) return;
    for (int64_t i = 0; c->files && i < c->n_files; i++)
        sft_close(&c->files[i]);
    for (int64_t i = 0; c->tensors && i < c->n_tensors; i++)
        free(c->tensors[i].name);
    free(c->files);
    free(c->tensors);
    free(c->w.layers);
    free(c->model_name);
    free(c->dir);
    memset(c, 0, sizeof *c);
}

size_t ckpt_bytes_selected(const struct ckpt *c)
{
    return c->bytes_selected;
}

static enum gsae_status check_selection(const struct ckpt *c, const struct ckpt_select *s,
                                        struct gsae_error *err)
{
    if (s->layer_begin < 0 || s->layer_begin > s->layer_end || s->layer_end > c->cfg.n_layers)
        return gsae_fail(err, GSAE_EINVAL,
                         "%s: layers [%lld, %lld) selected, expected a range within [0, %lld) "
                         "(config.json num_hidden_layers)",
                         c->dir, (long long)s->layer_begin, (long long)s->layer_end,
                         (long long)c->cfg.n_layers);
    return GSAE_OK;
}

enum gsae_status ckpt_open(struct ckpt *c, const char *dir, const struct ckpt_select *sel,
                           struct gsae_error *err)
{
    memset(c, 0, sizeof *c);
    struct want *w = NULL;
    int64_t n = 0;
    char *index_path = NULL, *single_path = NULL;
    enum gsae_status st = GSAE_OK;
    if (!(c->dir = strdup(dir)) || !(index_path = ckpt_path_join(dir, INDEX_FILE)) ||
        !(single_path = ckpt_path_join(dir, SINGLE_FILE))) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    if ((st = ckpt_config_read(dir, &c->cfg, &c->model_name, &c->config_hash, err)) != GSAE_OK)
        goto fail;
    c->sel = sel ? *sel : ckpt_select_all(&c->cfg);
    if ((st = check_selection(c, &c->sel, err)) != GSAE_OK) goto fail;
    c->w.layers = calloc((size_t)c->cfg.n_layers, sizeof *c->w.layers);
    if (!c->w.layers || (st = list_wanted(c, &w, &n, err)) != GSAE_OK) {
        st = c->w.layers ? st : gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    /* as transformers does: the single file wins when both are present */
    if (access(single_path, F_OK) != 0 && access(index_path, F_OK) == 0)
        st = locate_sharded(c, index_path, w, n, err);
    else
        st = locate_single(c, w, n, err);
    if (st != GSAE_OK) goto fail;
    if (!(c->tensors = calloc((size_t)(n ? n : 1), sizeof *c->tensors))) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    for (int64_t i = 0; i < n && st == GSAE_OK; i++) {
        st = check_tensor(c, &w[i], &c->tensors[i], err);
        c->n_tensors += c->tensors[i].name != NULL;
        c->bytes_selected += c->tensors[i].bytes;
    }
    if (st == GSAE_OK) st = check_no_extra_layers(c, err);
    if (st != GSAE_OK) goto fail;
    free(w);
    free(index_path);
    free(single_path);
    return GSAE_OK;
fail:
    free(w);
    free(index_path);
    free(single_path);
    ckpt_close(c);
    return st;
}
