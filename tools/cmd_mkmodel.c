/* cmd_mkmodel.c: `gsae mkmodel`: write a random Gemma-2 checkpoint in Hugging Face layout.
 *
 * The weights are random but sane: an input of unit RMS stays of unit order through every
 * layer, so forward passes, SAEs and the pipeline can be exercised at real sizes without a real
 * checkpoint. Values are drawn tensor by tensor from a generator seeded with (seed, tensor
 * name), so a tensor does not depend on the layer count, the sharding or the dtype, and the
 * same arguments give the same bytes on every machine (no libm in the draw). Files are written
 * in chunks: memory use is a few MiB whatever the preset.
 *
 *   projections  N(0, 1/fan_in)-like: rows of a (out, in) matrix keep unit-RMS inputs at unit RMS
 *   norms        0.1 x N(0, 1)-like, stored as offsets from 1 as Gemma does
 *   embedding    N(0, 1/d_model)-like, so embedding x sqrt(d_model) has unit RMS
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../io/dirs.h"
#include "../io/safetensors.h"
#include "../jobs/cli.h"
#include "../jobs/commands.h"
#include "../jobs/opt.h"
#include "../src/gemma.h"
#include "../src/hash.h"
#include "../src/rng.h"

#define CHUNK_ELEMS ((int64_t)1 << 20)

struct mk_options {
    const char *out_dir, *preset;
    int64_t n_layers, n_vocab; /* -1: the preset's */
    uint64_t seed;
    enum gsae_dtype dtype;
    int64_t n_shards;
    bool force;
};

/* One tensor to generate. */
struct mk_tensor {
    char name[96];
    int n_dims;
    int64_t shape[2];
    float scale; /* standard deviation of the draw */
    size_t bytes;
    int64_t shard;
};

static const struct opt_choice mk_dtypes[] = {
    {"bf16", GSAE_DTYPE_BF16}, {"f32", GSAE_DTYPE_F32}, {0}};

#define O(f) offsetof(struct mk_options, f)
static const struct opt mkmodel_table[] = {
    {"preset", OPT_STR, O(preset), .flags = OPT_REQUIRED, .meta = "P",
     .help = "sizes of Gemma-2 2b, 9b or 27b, or tiny (d_model 64, 4 layers)"},
    {NULL, OPT_STR, O(out_dir), .flags = OPT_POS | OPT_REQUIRED, .meta = "OUT_DIR",
     .help = "the checkpoint directory to write"},
    {"layers", OPT_I64, O(n_layers), "-1", 1, 65536, .meta = "N",
     .help = "keep the preset's sizes but use N layers"},
    {"vocab", OPT_I64, O(n_vocab), "-1", 3, INT32_MAX, .meta = "V",
     .help = "vocabulary size (default 256000, the real tokenizer's; ids 0-2 are pad, eos, bos)"},
    {"seed", OPT_U64, O(seed), "0", .meta = "S", .help = "random seed, an unsigned integer"},
    {"dtype", OPT_ENUM, O(dtype), "bf16", .choices = mk_dtypes, .meta = "T",
     .help = "bf16 (like the released checkpoints) or f32"},
    {"shards", OPT_I64, O(n_shards), "1", 1, 99999, .meta = "K",
     .help = "write K shard files and an index (1: one model.safetensors)"},
    {"force", OPT_FLAG, O(force), .help = "replace a checkpoint already in OUT_DIR"},
    {0},
};
#undef O

const struct opt_cmd mkmodel_cmd = {
    "mkmodel",
    .synopsis = "OUT_DIR --preset 9b|2b|27b|tiny [--layers N] [--vocab V]\n"
                "                    [--seed S] [--dtype bf16|f32] [--shards K] [--force]",
    .about = "Write a Gemma-2 checkpoint with random weights in Hugging Face layout: config.json\n"
             "and model.safetensors (or K shards and model.safetensors.index.json). The weights\n"
             "depend only on the seed and each tensor's name, so the same arguments give the same\n"
             "files on every machine. Memory use stays small for every preset.\n",
    .size = sizeof(struct mk_options),
    .groups = {{mkmodel_table, 0}},
};

static bool preset_config(const char *name, struct gemma_config *c)
{
    if (strcmp(name, "2b") == 0)
        *c = gemma_config_2b();
    else if (strcmp(name, "9b") == 0)
        *c = gemma_config_9b();
    else if (strcmp(name, "27b") == 0)
        *c = gemma_config_27b();
    else if (strcmp(name, "tiny") == 0)
        *c = gemma_config_tiny();
    else
        return false;
    return true;
}

/* ---- the tensors ------------------------------------------------------------------------ */

/* name is "model.layers.<layer>.<name>" for layer >= 0, else name itself. */
static void add_tensor(struct mk_tensor *t, enum gsae_dtype dtype, int64_t rows, int64_t cols,
                       float scale, const char *name, long long layer)
{
    if (layer >= 0)
        snprintf(t->name, sizeof t->name, "model.layers.%lld.%s", layer, name);
    else
        snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = cols ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->scale = scale;
    t->bytes = (size_t)rows * (size_t)(cols ? cols : 1) * gsae_dtype_size(dtype);
}

/* All tensors in Hugging Face's order; caller frees. */
static struct mk_tensor *list_tensors(const struct gemma_config *g, enum gsae_dtype dt,
                                      int64_t *n_out)
{
    int64_t n = 2 + 11 * g->n_layers, k = 0;
    struct mk_tensor *t = calloc((size_t)n, sizeof *t);
    if (!t) return NULL;
    int64_t q = g->n_heads * g->d_head, kv = g->n_kv_heads * g->d_head, d = g->d_model;
    float in_d = 1.0f / sqrtf((float)d), in_q = 1.0f / sqrtf((float)q),
          in_ff = 1.0f / sqrtf((float)g->d_ff), norm = 0.1f;
    add_tensor(&t[k++], dt, g->n_vocab, d, in_d, "model.embed_tokens.weight", -1);
    for (long long l = 0; l < g->n_layers; l++) {
        add_tensor(&t[k++], dt, q, d, in_d, "self_attn.q_proj.weight", l);
        add_tensor(&t[k++], dt, kv, d, in_d, "self_attn.k_proj.weight", l);
        add_tensor(&t[k++], dt, kv, d, in_d, "self_attn.v_proj.weight", l);
        add_tensor(&t[k++], dt, d, q, in_q, "self_attn.o_proj.weight", l);
        add_tensor(&t[k++], dt, g->d_ff, d, in_d, "mlp.gate_proj.weight", l);
        add_tensor(&t[k++], dt, g->d_ff, d, in_d, "mlp.up_proj.weight", l);
        add_tensor(&t[k++], dt, d, g->d_ff, in_ff, "mlp.down_proj.weight", l);
        add_tensor(&t[k++], dt, d, 0, norm, "input_layernorm.weight", l);
        add_tensor(&t[k++], dt, d, 0, norm, "post_attention_layernorm.weight", l);
        add_tensor(&t[k++], dt, d, 0, norm, "pre_feedforward_layernorm.weight", l);
        add_tensor(&t[k++], dt, d, 0, norm, "post_feedforward_layernorm.weight", l);
    }
    add_tensor(&t[k++], dt, d, 0, norm, "model.norm.weight", -1);
    *n_out = k;
    return t;
}

/* Split tensors into n_shards contiguous runs of about equal bytes, none empty. */
static void assign_shards(struct mk_tensor *t, int64_t n, int64_t n_shards)
{
    size_t total = 0, before = 0;
    for (int64_t i = 0; i < n; i++)
        total += t[i].bytes;
    int64_t prev = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t s = (int64_t)((double)before / (double)total * (double)n_shards);
        if (s > prev + 1) s = prev + 1; /* never skip a shard */
        if (s < n_shards - (n - i))
            s = n_shards - (n - i); /* leave one tensor for each remaining shard */
        if (s < prev) s = prev;
        if (s > n_shards - 1) s = n_shards - 1;
        t[i].shard = prev = s;
        before += t[i].bytes;
    }
}

/* ---- drawing and writing ---------------------------------------------------------------- */

/* Approximately standard normal from one 64-bit draw: the sum of four 16-bit uniforms
 * (Irwin-Hall), centred and scaled to unit variance; exact integer arithmetic, then one float
 * multiply, so it is the same on every machine. Tails stop at 3.46 sigma. */
static float draw_normal(struct rng *r)
{
    uint64_t u = rng_u64(r);
    int32_t s = (int32_t)(u & 0xffff) + (int32_t)((u >> 16) & 0xffff) +
                (int32_t)((u >> 32) & 0xffff) + (int32_t)(u >> 48);
    return (float)(s - 131070) * (1.7320508f / 65536.0f); /* sd of the sum: 65536 / sqrt(3) */
}

static enum gsae_status write_tensor_data(struct sft_writer *w, const struct mk_tensor *t,
                                          enum gsae_dtype dtype, uint64_t seed, float *buf,
                                          uint16_t *half, struct gsae_error *err)
{
    struct rng r;
    rng_seed(&r, seed * 0x9e3779b97f4a7c15ull ^ gsae_hash_str(t->name));
    int64_t n = t->shape[0] * (t->n_dims == 2 ? t->shape[1] : 1);
    for (int64_t at = 0; at < n; at += CHUNK_ELEMS) {
        int64_t m = n - at < CHUNK_ELEMS ? n - at : CHUNK_ELEMS;
        for (int64_t i = 0; i < m; i++)
            buf[i] = t->scale * draw_normal(&r);
        enum gsae_status st;
        if (dtype == GSAE_DTYPE_BF16) {
            for (int64_t i = 0; i < m; i++)
                half[i] = gsae_f32_to_bf16(buf[i]);
            st = sft_writer_append(w, half, (size_t)m * 2, err);
        } else {
            st = sft_writer_append(w, buf, (size_t)m * 4, err);
        }
        if (st != GSAE_OK) return st;
    }
    return GSAE_OK;
}

static void shard_name(char *buf, size_t size, int64_t shard, int64_t n_shards)
{
    if (n_shards == 1)
        snprintf(buf, size, "model.safetensors");
    else
        snprintf(buf, size, "model-%05lld-of-%05lld.safetensors", (long long)shard + 1,
                 (long long)n_shards);
}

static enum gsae_status write_shard(const struct mk_options *o, const struct mk_tensor *t,
                                    int64_t n, int64_t shard, struct gsae_error *err)
{
    char name[64], path[4096];
    shard_name(name, sizeof name, shard, o->n_shards);
    snprintf(path, sizeof path, "%s/%s", o->out_dir, name);
    struct sft_item *items = calloc((size_t)n, sizeof *items);
    float *buf = malloc((size_t)CHUNK_ELEMS * sizeof *buf);
    uint16_t *half = malloc((size_t)CHUNK_ELEMS * sizeof *half);
    struct sft_writer w = {.fd = -1};
    enum gsae_status st = GSAE_OK;
    int64_t m = 0;
    if (!items || !buf || !half) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        if (t[i].shard == shard) {
            items[m].name = t[i].name;
            items[m].t =
                (struct gsae_tensor){NULL, o->dtype, t[i].n_dims, {t[i].shape[0], t[i].shape[1]}};
            m++;
        }
    static const char *const meta[] = {"format", "pt"};
    if ((st = sft_writer_open(&w, path, items, m, meta, 1, err)) != GSAE_OK) goto done;
    for (int64_t i = 0; i < n && st == GSAE_OK; i++)
        if (t[i].shard == shard)
            st = write_tensor_data(&w, &t[i], o->dtype, o->seed, buf, half, err);
    if (st == GSAE_OK) st = sft_writer_commit(&w, err);
done:
    sft_writer_abort(&w);
    free(items);
    free(buf);
    free(half);
    return st;
}

/* Write a JSON document to path atomically (path.tmp, fsync, rename). */
static enum gsae_status write_json(const char *path, json_t *doc, struct gsae_error *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    if (!text) return gsae_fail(err, GSAE_ENOMEM, "%s: cannot encode JSON", path);
    enum gsae_status st = GSAE_OK;
    FILE *f = fopen(tmp, "w");
    if (!f || fputs(text, f) < 0 || fputc('\n', f) == EOF || fflush(f) != 0 ||
        fsync(fileno(f)) != 0)
        st = gsae_fail(err, GSAE_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    if (f && fclose(f) != 0 && st == GSAE_OK)
        st = gsae_fail(err, GSAE_EIO, "%s: cannot close: %s", tmp, strerror(errno));
    if (st == GSAE_OK && rename(tmp, path) != 0)
        st = gsae_fail(err, GSAE_EIO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (st != GSAE_OK) unlink(tmp);
    free(text);
    return st;
}

/* The shortest decimal that reads back as f (1e-06, not 9.99999997e-07). */
static json_t *json_float(float f)
{
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return json_real(strtod(buf, NULL));
}

static enum gsae_status write_config(const struct mk_options *o, const struct gemma_config *g,
                                     struct gsae_error *err)
{
    char path[4096], name[128];
    snprintf(path, sizeof path, "%s/config.json", o->out_dir);
    snprintf(name, sizeof name, "gsae-random-%s-seed%llu", o->preset, (unsigned long long)o->seed);
    json_t *qpas = g->query_pre_attn_scalar == floorf(g->query_pre_attn_scalar)
                       ? json_integer((json_int_t)g->query_pre_attn_scalar)
                       : json_float(g->query_pre_attn_scalar);
    json_t *doc = json_pack(
        "{s:s, s:[s], s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:I, s:o,"
        " s:I, s:I, s:I, s:s, s:s, s:b, s:b, s:s, s:s}",
        "_name_or_path", name, "architectures", "Gemma2ForCausalLM", "model_type", "gemma2",
        "vocab_size", (json_int_t)g->n_vocab, "hidden_size", (json_int_t)g->d_model,
        "intermediate_size", (json_int_t)g->d_ff, "num_hidden_layers", (json_int_t)g->n_layers,
        "num_attention_heads", (json_int_t)g->n_heads, "num_key_value_heads",
        (json_int_t)g->n_kv_heads, "head_dim", (json_int_t)g->d_head, "sliding_window",
        (json_int_t)g->window_local, "query_pre_attn_scalar", qpas, "rms_norm_eps",
        json_float(g->rms_eps), "attn_logit_softcapping", json_float(g->softcap_attn),
        "final_logit_softcapping", json_float(g->softcap_final), "max_position_embeddings",
        (json_int_t)g->max_pos, "rope_theta", json_float(g->rope_theta), "bos_token_id",
        (json_int_t)g->bos_id, "eos_token_id", (json_int_t)g->eos_id, "pad_token_id",
        (json_int_t)g->pad_id, "hidden_act", "gelu_pytorch_tanh", "hidden_activation",
        "gelu_pytorch_tanh", "tie_word_embeddings", 1, "attention_bias", 0, "torch_dtype",
        o->dtype == GSAE_DTYPE_BF16 ? "bfloat16" : "float32", "cache_implementation", "hybrid");
    if (!doc) return gsae_fail(err, GSAE_ENOMEM, "%s: cannot build the config", path);
    enum gsae_status st = write_json(path, doc, err);
    json_decref(doc);
    return st;
}

static enum gsae_status write_index(const struct mk_options *o, const struct mk_tensor *t,
                                    int64_t n, struct gsae_error *err)
{
    char path[4096], name[64];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", o->out_dir);
    size_t total = 0;
    json_t *map = json_object();
    for (int64_t i = 0; map && i < n; i++) {
        shard_name(name, sizeof name, t[i].shard, o->n_shards);
        json_object_set_new(map, t[i].name, json_string(name));
        total += t[i].bytes;
    }
    json_t *doc =
        json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total, "weight_map", map);
    if (!doc) return gsae_fail(err, GSAE_ENOMEM, "%s: cannot build the index", path);
    enum gsae_status st = write_json(path, doc, err);
    json_decref(doc);
    return st;
}

/* ---- the output directory --------------------------------------------------------------- */

static bool is_checkpoint_file(const char *name)
{
    unsigned a, b;
    char rest[32];
    return strcmp(name, "config.json") == 0 || strcmp(name, "model.safetensors") == 0 ||
           strcmp(name, "model.safetensors.index.json") == 0 ||
           (sscanf(name, "model-%5u-of-%5u%31s", &a, &b, rest) == 3 &&
            strcmp(rest, ".safetensors") == 0);
}

/* Create dir (and parents); refuse to mix with an existing checkpoint unless force, in which
 * case the old checkpoint's files are removed first (a stale index would shadow a new single
 * file). */
static enum gsae_status prepare_dir(const char *dir, bool force, struct gsae_error *err)
{
    enum gsae_status st = dirs_make(dir, err);
    if (st != GSAE_OK) return st;
    DIR *d = opendir(dir);
    if (!d)
        return gsae_fail(err, GSAE_EIO, "%s: cannot open the directory: %s", dir, strerror(errno));
    char path[4096];
    struct dirent *de;
    while ((de = readdir(d)) && st == GSAE_OK) {
        if (!is_checkpoint_file(de->d_name)) continue;
        if (!force) {
            st = gsae_fail(err, GSAE_EINVAL,
                           "%s: already holds a checkpoint (%s), expected an "
                           "empty or new directory (or use --force)",
                           dir, de->d_name);
            break;
        }
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (unlink(path) != 0)
            st = gsae_fail(err, GSAE_EIO, "%s: cannot remove: %s", path, strerror(errno));
    }
    closedir(d);
    return st;
}

static enum gsae_status check_space(const char *dir, size_t bytes, struct gsae_error *err)
{
    struct statvfs vfs;
    if (statvfs(dir, &vfs) != 0) return GSAE_OK; /* unknown: let the writes tell */
    double avail = (double)vfs.f_bavail * (double)vfs.f_frsize;
    if (avail < (double)bytes * 1.01)
        return gsae_fail(err, GSAE_EIO,
                         "%s: %.2f GiB free, expected at least %.2f GiB for the checkpoint", dir,
                         avail / 1073741824.0, (double)bytes / 1073741824.0);
    return GSAE_OK;
}

static enum gsae_status make_model(const struct mk_options *o, const struct gemma_config *g,
                                   struct gsae_error *err)
{
    int64_t n = 0;
    struct mk_tensor *t = list_tensors(g, o->dtype, &n);
    if (!t) return gsae_fail(err, GSAE_ENOMEM, "out of memory for the tensor list");
    enum gsae_status st = GSAE_OK;
    size_t total = 0;
    for (int64_t i = 0; i < n; i++)
        total += t[i].bytes;
    if (o->n_shards > n) {
        st = gsae_fail(err, GSAE_EINVAL,
                       "--shards %lld, expected at most %lld (one tensor per shard at least)",
                       (long long)o->n_shards, (long long)n);
        goto done;
    }
    assign_shards(t, n, o->n_shards);
    if ((st = prepare_dir(o->out_dir, o->force, err)) != GSAE_OK ||
        (st = check_space(o->out_dir, total, err)) != GSAE_OK)
        goto done;
    for (int64_t s = 0; s < o->n_shards && st == GSAE_OK; s++)
        st = write_shard(o, t, n, s, err);
    if (st == GSAE_OK && o->n_shards > 1) st = write_index(o, t, n, err);
    if (st == GSAE_OK) /* last: a directory with config.json is complete */
        st = write_config(o, g, err);
    if (st == GSAE_OK)
        printf("%s: Gemma-2 %s, %lld layers, vocab %lld, %s, seed %llu: %lld tensors, %.1f MiB "
               "in %lld file%s\n",
               o->out_dir, o->preset, (long long)g->n_layers, (long long)g->n_vocab,
               o->dtype == GSAE_DTYPE_BF16 ? "bf16" : "f32", (unsigned long long)o->seed,
               (long long)n, (double)total / 1048576.0, (long long)o->n_shards,
               o->n_shards > 1 ? "s" : "");
done:
    free(t);
    return st;
}

int cmd_mkmodel(int argc, char **argv)
{
    struct mk_options o;
    int rc = opt_parse(&mkmodel_cmd, argc, argv, &o);
    if (rc != OPT_RUN) return rc;
    rc = 0;
    struct gemma_config g;
    if (!preset_config(o.preset, &g)) {
        fprintf(stderr, "gsae mkmodel: --preset '%s', expected 9b, 2b, 27b or tiny\n", o.preset);
        return 2;
    }
    if (o.n_layers > 0) g.n_layers = o.n_layers;
    if (o.n_vocab > 0) g.n_vocab = o.n_vocab;
    struct gsae_error err = {0};
    if (gemma_config_validate(&g, &err) != GSAE_OK) {
        gsae_error_prefix(&err, "preset %s", o.preset);
        cli_report("mkmodel", &err);
        return 2;
    }
    if (make_model(&o, &g, &err) != GSAE_OK) {
        cli_report("mkmodel", &err);
        return 1;
    }
    return 0;
}
