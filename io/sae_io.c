/* sae_io.c: Gemma Scope .npz and SAELens SAEs (see sae_io.h). */
#include "sae_io.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "safetensors.h"

/* The five tensors, in the order Gemma Scope writes them. */
enum sae_key { KEY_W_ENC, KEY_W_DEC, KEY_B_ENC, KEY_B_DEC, KEY_THRESHOLD, N_KEYS };
static const char *const key_names[N_KEYS] = {"W_enc", "W_dec", "b_enc", "b_dec", "threshold"};

/* A tensor as found in the file, converted to f32. */
struct staged {
    bool seen;
    bool is_log;           /* SAELens log_threshold: exponentiate */
    enum gsae_dtype dtype; /* as stored */
    int n_dims;
    int64_t shape[GSAE_MAX_DIMS];
    float *data;
};

struct stage {
    const char *path;
    struct staged t[N_KEYS];
};

static void stage_free(struct stage *s)
{
    for (int k = 0; k < N_KEYS; k++)
        free(s->t[k].data);
    memset(s->t, 0, sizeof s->t);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void sae_info_free(struct sae_info *info)
{
    free(info->path);
    free(info->model_name);
    memset(info, 0, sizeof *info);
    info->layer = -1;
}

/* "(a, b)" for messages. */
static const char *shape_str(const int64_t *shape, int n_dims, char *buf, size_t len)
{
    size_t at = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < n_dims && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (at < len) snprintf(buf + at, len - at, n_dims == 1 ? ",)" : ")");
    return buf;
}

/* Which of the five keys name is (W_enc/w_enc, ...), or -1. */
static int key_index(const char *name, bool *is_log)
{
    *is_log = false;
    for (int k = 0; k < N_KEYS; k++)
        if (strcmp(name, key_names[k]) == 0) return k;
    if (strcmp(name, "w_enc") == 0) return KEY_W_ENC;
    if (strcmp(name, "w_dec") == 0) return KEY_W_DEC;
    if (strcmp(name, "log_threshold") == 0) {
        *is_log = true;
        return KEY_THRESHOLD;
    }
    return -1;
}

/* Copy-convert n values of dtype at src (any alignment) into a new f32 array. */
static enum gsae_status stage_values(struct stage *s, int k, bool is_log, const void *src,
                                     enum gsae_dtype dtype, int n_dims, const int64_t *shape,
                                     const char *key, struct gsae_error *err)
{
    struct staged *t = &s->t[k];
    if (t->seen)
        return gsae_fail(err, GSAE_EFORMAT, "%s: '%s' is given twice (as %s and another spelling)",
                         s->path, key_names[k], key);
    if (dtype != GSAE_DTYPE_F32 && dtype != GSAE_DTYPE_F16 && dtype != GSAE_DTYPE_BF16 &&
        dtype != GSAE_DTYPE_F64)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: '%s' has dtype %s, expected a float type (f32, f16, bf16)", s->path,
                         key, gsae_dtype_name(dtype));
    struct gsae_tensor view = {.dtype = dtype, .n_dims = n_dims};
    memcpy(view.shape, shape, (size_t)n_dims * sizeof *shape);
    int64_t n = gsae_tensor_numel(&view);
    size_t esz = gsae_dtype_size(dtype), bytes;
    if (n < 0 || !gsae_mul_size((size_t)n, esz, &bytes))
        return gsae_fail(err, GSAE_EFORMAT, "%s: '%s' shape overflows", s->path, key);
    t->data = malloc(n ? (size_t)n * sizeof(float) : 1);
    if (!t->data)
        return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory for '%s' (%lld values)", s->path, key,
                         (long long)n);
    void *aligned = NULL;
    if ((uintptr_t)src % esz != 0) { /* .npy data need not be aligned to its element size */
        if (!(aligned = malloc(bytes ? bytes : 1)))
            return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory for '%s'", s->path, key);
        memcpy(aligned, src, bytes);
        src = aligned;
    }
    gsae_to_f32(t->data, src, dtype, n);
    free(aligned);
    if (is_log)
        for (int64_t i = 0; i < n; i++)
            t->data[i] = expf(t->data[i]);
    t->seen = true;
    t->is_log = is_log;
    t->dtype = dtype;
    t->n_dims = n_dims;
    memcpy(t->shape, shape, (size_t)n_dims * sizeof *shape);
    return GSAE_OK;
}

/* Check one staged tensor's shape against the expected one. */
static enum gsae_status expect_shape(const struct stage *s, int k, int n_dims, int64_t a, int64_t b,
                                     const char *what, struct gsae_error *err)
{
    const struct staged *t = &s->t[k];
    int64_t want[2] = {a, b};
    if (t->n_dims == n_dims && t->shape[0] == a && (n_dims == 1 || t->shape[1] == b))
        return GSAE_OK;
    char found[96], expected[96];
    return gsae_fail(err, GSAE_EFORMAT, "%s: '%s' has shape %s, expected %s %s", s->path,
                     key_names[k], shape_str(t->shape, t->n_dims, found, sizeof found),
                     shape_str(want, n_dims, expected, sizeof expected), what);
}

/* All five present with consistent shapes: move them into p. */
static enum gsae_status stage_finish(struct stage *s, struct sae_params *p, struct gsae_error *err)
{
    for (int k = 0; k < N_KEYS; k++)
        if (!s->t[k].seen)
            return gsae_fail(err, GSAE_ENOTFOUND, "%s: missing key '%s'", s->path, key_names[k]);
    const struct staged *enc = &s->t[KEY_W_ENC];
    if (enc->n_dims != 2 || enc->shape[0] <= 0 || enc->shape[1] <= 0 || enc->shape[1] > INT32_MAX) {
        char found[96];
        return gsae_fail(err, GSAE_EFORMAT, "%s: 'W_enc' has shape %s, expected (d_in, d_sae)",
                         s->path, shape_str(enc->shape, enc->n_dims, found, sizeof found));
    }
    int64_t d = enc->shape[0], S = enc->shape[1];
    enum gsae_status st;
    if ((st = expect_shape(s, KEY_W_DEC, 2, S, d, "(d_sae, d_in) from W_enc", err)) ||
        (st = expect_shape(s, KEY_B_ENC, 1, S, 0, "(d_sae,) from W_enc", err)) ||
        (st = expect_shape(s, KEY_B_DEC, 1, d, 0, "(d_in,) from W_enc", err)) ||
        (st = expect_shape(s, KEY_THRESHOLD, 1, S, 0, "(d_sae,) from W_enc", err)))
        return st;
    memset(p, 0, sizeof *p);
    p->d_model = d;
    p->d_sae = S;
    p->w_enc = s->t[KEY_W_ENC].data;
    p->w_dec = s->t[KEY_W_DEC].data;
    p->b_enc = s->t[KEY_B_ENC].data;
    p->b_dec = s->t[KEY_B_DEC].data;
    p->threshold = s->t[KEY_THRESHOLD].data;
    for (int k = 0; k < N_KEYS; k++)
        s->t[k].data = NULL; /* now owned by p */
    st = sae_params_check(p, s->path, err);
    if (st != GSAE_OK) sae_params_free(p);
    return st;
}

static enum gsae_status npz_visit(void *ctx, const char *key, const struct npy_array *arr,
                                  struct gsae_error *err)
{
    struct stage *s = ctx;
    bool is_log;
    int k = key_index(key, &is_log);
    if (k < 0 || is_log) return GSAE_OK; /* other arrays are not part of the SAE */
    /* NumPy has no bfloat16: bf16 parameters are saved as their raw 16 bits, '<u2'. */
    enum gsae_dtype dt = arr->dtype == GSAE_DTYPE_U16 ? GSAE_DTYPE_BF16 : arr->dtype;
    return stage_values(s, k, false, arr->data, dt, arr->n_dims, arr->shape, key, err);
}

/* The N of a "layer_N" component of path, or -1. */
static int64_t layer_hint(const char *path)
{
    const char *p = path;
    int64_t found = -1;
    while ((p = strstr(p, "layer_")) != NULL) {
        bool at_start = p == path || p[-1] == '/';
        p += 6;
        const char *end = p;
        int64_t v = -1;
        if (at_start && gsae_parse_i64_prefix(p, &end, 0, INT64_MAX, &v) == GSAE_OK &&
            (*end == '/' || *end == '\0'))
            found = v;
    }
    return found;
}

static enum gsae_status load_npz(const char *path, struct sae_params *p, struct sae_info *info,
                                 struct gsae_error *err)
{
    struct stage s = {.path = path};
    struct npz_visitor v = {npz_visit, &s};
    enum gsae_status st = npz_read(path, &v, err);
    if (st == GSAE_OK) {
        info->dtype = s.t[KEY_W_ENC].dtype;
        st = stage_finish(&s, p, err);
    }
    stage_free(&s);
    info->layout = SAE_LAYOUT_NPZ;
    info->layer = layer_hint(path);
    return st;
}

/* cfg.json fields, checked. */
static enum gsae_status read_cfg(const char *cfg_path, int64_t *d_in, int64_t *d_sae,
                                 int64_t *layer, bool *b_dec_to_input, char **model_name,
                                 struct gsae_error *err)
{
    json_error_t jerr;
    errno = 0; /* a parse error leaves errno as it was: not a missing file */
    json_t *root = json_load_file(cfg_path, 0, &jerr);
    if (!root)
        return gsae_fail(err,
                         json_error_code(&jerr) == json_error_cannot_open_file && errno == ENOENT
                             ? GSAE_ENOTFOUND
                             : GSAE_EFORMAT,
                         "%s: line %d: %s", cfg_path, jerr.line, jerr.text);
    enum gsae_status st = GSAE_OK;
    const char *arch = json_string_value(json_object_get(root, "architecture"));
    const char *hook = json_string_value(json_object_get(root, "hook_name"));
    json_t *jd_in = json_object_get(root, "d_in"), *jd_sae = json_object_get(root, "d_sae");
    json_t *hl = json_object_get(root, "hook_layer"), *norm;
    int consumed = 0;
    long long L = -1;
    if (!arch || strcmp(arch, "jumprelu") != 0) {
        st = gsae_fail(err, GSAE_EFORMAT, "%s: 'architecture' is %s%s%s, expected \"jumprelu\"",
                       cfg_path, arch ? "\"" : "", arch ? arch : "missing", arch ? "\"" : "");
    } else if (!json_is_integer(jd_in) || !json_is_integer(jd_sae) ||
               json_integer_value(jd_in) <= 0 || json_integer_value(jd_sae) <= 0) {
        st = gsae_fail(err, GSAE_EFORMAT, "%s: 'd_in' and 'd_sae' must be positive integers",
                       cfg_path);
    } else if (!hook || sscanf(hook, "blocks.%lld.hook_resid_post%n", &L, &consumed) != 1 ||
               hook[consumed] != '\0' || L < 0) {
        st = gsae_fail(err, GSAE_EFORMAT,
                       "%s: 'hook_name' is %s, expected \"blocks.L.hook_resid_post\"", cfg_path,
                       hook ? hook : "missing");
    } else if (hl && !json_is_null(hl) && (!json_is_integer(hl) || json_integer_value(hl) != L)) {
        st = gsae_fail(err, GSAE_EFORMAT, "%s: 'hook_layer' %lld disagrees with hook_name '%s'",
                       cfg_path, (long long)json_integer_value(hl), hook);
    } else if ((norm = json_object_get(root, "normalize_activations")) && !json_is_null(norm) &&
               !(json_is_string(norm) && strcmp(json_string_value(norm), "none") == 0)) {
        st = gsae_fail(err, GSAE_EFORMAT,
                       "%s: 'normalize_activations' is set, only null or \"none\" is supported",
                       cfg_path);
    }
    if (st == GSAE_OK) {
        *d_in = json_integer_value(jd_in);
        *d_sae = json_integer_value(jd_sae);
        *layer = L;
        *b_dec_to_input = json_is_true(json_object_get(root, "apply_b_dec_to_input"));
        const char *mn = json_string_value(json_object_get(root, "model_name"));
        if (mn && !(*model_name = dup_str(mn)))
            st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", cfg_path);
    }
    json_decref(root);
    return st;
}

/* b_enc -= b_dec W_enc, so that encode(x) = (x - b_dec) W_enc + b_enc. */
static void fold_b_dec(struct sae_params *p)
{
    for (int64_t f = 0; f < p->d_sae; f++) {
        double acc = 0;
        for (int64_t i = 0; i < p->d_model; i++)
            acc += (double)p->b_dec[i] * p->w_enc[i * p->d_sae + f];
        p->b_enc[f] -= (float)acc;
    }
}

static enum gsae_status load_saelens(const char *dir, struct sae_params *p, struct sae_info *info,
                                     struct gsae_error *err)
{
    char cfg_path[4200], w_path[4200];
    snprintf(cfg_path, sizeof cfg_path, "%s/cfg.json", dir);
    snprintf(w_path, sizeof w_path, "%s/sae_weights.safetensors", dir);
    info->layout = SAE_LAYOUT_SAELENS;
    int64_t d_in = 0, d_sae = 0, layer = -1;
    bool fold = false;
    enum gsae_status st = read_cfg(cfg_path, &d_in, &d_sae, &layer, &fold, &info->model_name, err);
    if (st != GSAE_OK) return st;
    info->layer = layer;
    struct sft_file f = {0};
    struct stage s = {.path = w_path};
    if ((st = sft_open(&f, w_path, err)) != GSAE_OK) goto done;
    for (int64_t i = 0; i < f.n_entries; i++) {
        const struct sft_entry *e = &f.entries[i];
        bool is_log;
        int k = key_index(e->name, &is_log);
        if (k < 0) continue;
        struct gsae_tensor v = sft_view(&f, e);
        st = stage_values(&s, k, is_log, v.data, e->dtype, e->n_dims, e->shape, e->name, err);
        if (st != GSAE_OK) goto done;
    }
    info->dtype = s.t[KEY_W_ENC].dtype;
    if ((st = stage_finish(&s, p, err)) != GSAE_OK) goto done;
    if (p->d_model != d_in || p->d_sae != d_sae) {
        st = gsae_fail(err, GSAE_EFORMAT,
                       "%s: 'd_in' %lld and 'd_sae' %lld disagree with W_enc (%lld, %lld) in %s",
                       cfg_path, (long long)d_in, (long long)d_sae, (long long)p->d_model,
                       (long long)p->d_sae, w_path);
        sae_params_free(p);
        goto done;
    }
    if (fold) fold_b_dec(p);
done:
    stage_free(&s);
    sft_close(&f);
    return st;
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Resolve path to the .npz file or the SAELens directory (where, 4096 bytes). */
static enum gsae_status resolve(const char *path, char *where, bool *saelens,
                                struct gsae_error *err)
{
    if (strlen(path) + 32 >= 4096) return gsae_fail(err, GSAE_EINVAL, "SAE path is too long");
    snprintf(where, 4096, "%s", path);
    size_t n = strlen(where);
    while (n > 1 && where[n - 1] == '/')
        where[--n] = '\0';
    *saelens = false;
    if (ends_with(where, "/cfg.json") || ends_with(where, "/sae_weights.safetensors")) {
        *strrchr(where, '/') = '\0';
        *saelens = true;
    } else if (is_dir(where)) {
        char probe[4096];
        snprintf(probe, sizeof probe, "%s/params.npz", where);
        struct stat sb;
        if (stat(probe, &sb) == 0)
            snprintf(where + n, 4096 - n, "/params.npz");
        else
            *saelens = true;
    }
    return GSAE_OK;
}

enum gsae_status sae_probe(const char *path, struct sae_info *info, struct gsae_error *err)
{
    memset(info, 0, sizeof *info);
    info->layer = -1;
    char where[4096];
    bool saelens;
    enum gsae_status st = resolve(path, where, &saelens, err);
    if (st != GSAE_OK) return st;
    if (!(info->path = dup_str(where))) return gsae_fail(err, GSAE_ENOMEM, "out of memory");
    info->layout = saelens ? SAE_LAYOUT_SAELENS : SAE_LAYOUT_NPZ;
    if (!saelens) {
        info->layer = layer_hint(where);
        return GSAE_OK;
    }
    char cfg_path[4200];
    snprintf(cfg_path, sizeof cfg_path, "%s/cfg.json", where);
    int64_t d_in, d_sae;
    bool fold;
    st = read_cfg(cfg_path, &d_in, &d_sae, &info->layer, &fold, &info->model_name, err);
    if (st != GSAE_OK) sae_info_free(info);
    return st;
}

enum gsae_status sae_load(const char *path, struct sae_params *p, struct sae_info *info,
                          struct gsae_error *err)
{
    memset(p, 0, sizeof *p);
    memset(info, 0, sizeof *info);
    info->layer = -1;
    char where[4096];
    bool saelens;
    enum gsae_status st = resolve(path, where, &saelens, err);
    if (st != GSAE_OK) return st;
    if (!(info->path = dup_str(where))) return gsae_fail(err, GSAE_ENOMEM, "out of memory");
    st = saelens ? load_saelens(where, p, info, err) : load_npz(where, p, info, err);
    if (st != GSAE_OK) {
        sae_info_free(info);
        sae_params_free(p);
    }
    return st;
}

/* Lower-case name without an "org/" prefix, for comparing model names. */
static void normalize_name(const char *in, char *out, size_t len)
{
    const char *slash = strrchr(in, '/');
    if (slash && slash[1]) in = slash + 1;
    size_t i = 0;
    for (; in[i] && i + 1 < len; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

enum gsae_status sae_check_layer(const struct sae_info *info, int64_t requested_layer,
                                 struct gsae_error *err)
{
    int64_t hint = layer_hint(info->path);
    if (requested_layer >= 0 && hint >= 0 && hint != requested_layer)
        return gsae_fail(err, GSAE_EINVAL,
                         "%s: the path names layer_%lld, but layer %lld was requested (--layer)",
                         info->path, (long long)hint, (long long)requested_layer);
    return GSAE_OK;
}

enum gsae_status sae_check_model(const struct sae_info *info, const struct sae_params *p,
                                 const struct gemma_config *cfg, const char *model_name,
                                 int64_t requested_layer, int64_t *layer, char *warning,
                                 size_t warning_len, struct gsae_error *err)
{
    if (warning_len) warning[0] = '\0';
    if (p->d_model != cfg->d_model)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: 'd_in' is %lld (W_enc rows), the model's hidden_size is %lld",
                         info->path, (long long)p->d_model, (long long)cfg->d_model);
    enum gsae_status st = sae_check_layer(info, requested_layer, err);
    if (st != GSAE_OK) return st;
    int64_t L = requested_layer >= 0 ? requested_layer : info->layer;
    if (requested_layer >= 0 && info->layout == SAE_LAYOUT_SAELENS && info->layer >= 0 &&
        info->layer != requested_layer)
        return gsae_fail(err, GSAE_EINVAL,
                         "%s: 'hook_name' is blocks.%lld.hook_resid_post, but layer %lld was "
                         "requested",
                         info->path, (long long)info->layer, (long long)requested_layer);
    if (L >= cfg->n_layers)
        return gsae_fail(err, GSAE_EINVAL,
                         "%s: hook layer %lld does not exist (the model has %lld layers)",
                         info->path, (long long)L, (long long)cfg->n_layers);
    *layer = L;
    if (info->model_name && model_name && warning_len) {
        char a[256], b[256];
        normalize_name(info->model_name, a, sizeof a);
        normalize_name(model_name, b, sizeof b);
        if (strcmp(a, b) != 0)
            snprintf(warning, warning_len,
                     "%s: the SAE was trained on model '%s', the checkpoint is '%s'", info->path,
                     info->model_name, model_name);
    }
    return GSAE_OK;
}

static struct gsae_tensor f32_view(const float *data, int n_dims, int64_t a, int64_t b)
{
    struct gsae_tensor t = {.data = data, .dtype = GSAE_DTYPE_F32, .n_dims = n_dims};
    t.shape[0] = a;
    t.shape[1] = b;
    return t;
}

static enum gsae_status save_saelens(const char *dir, const struct sae_params *p,
                                     const struct sae_save_opts *o, struct gsae_error *err)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return gsae_fail(err, GSAE_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
    char cfg_path[4096], w_path[4096], tmp[4200], hook[64];
    snprintf(cfg_path, sizeof cfg_path, "%s/cfg.json", dir);
    snprintf(w_path, sizeof w_path, "%s/sae_weights.safetensors", dir);
    snprintf(hook, sizeof hook, "blocks.%lld.hook_resid_post", (long long)o->layer);
    struct sft_item items[N_KEYS] = {
        {"W_enc", f32_view(p->w_enc, 2, p->d_model, p->d_sae)},
        {"W_dec", f32_view(p->w_dec, 2, p->d_sae, p->d_model)},
        {"b_enc", f32_view(p->b_enc, 1, p->d_sae, 0)},
        {"b_dec", f32_view(p->b_dec, 1, p->d_model, 0)},
        {"threshold", f32_view(p->threshold, 1, p->d_sae, 0)},
    };
    enum gsae_status st = sft_write(w_path, items, N_KEYS, NULL, 0, err);
    if (st != GSAE_OK) return st;
    json_t *cfg =
        json_pack("{s:s, s:I, s:I, s:s, s:I, s:b, s:s, s:s, s:I, s:b, s:n}", "architecture",
                  "jumprelu", "d_in", (json_int_t)p->d_model, "d_sae", (json_int_t)p->d_sae,
                  "hook_name", hook, "hook_layer", (json_int_t)o->layer, "apply_b_dec_to_input", 0,
                  "dtype", "float32", "model_name", o->model_name ? o->model_name : "unknown",
                  "context_size", (json_int_t)1024, "prepend_bos", 1, "normalize_activations");
    if (!cfg) return gsae_fail(err, GSAE_ENOMEM, "%s: cannot build cfg.json", cfg_path);
    snprintf(tmp, sizeof tmp, "%s.tmp", cfg_path);
    if (json_dump_file(cfg, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        st = gsae_fail(err, GSAE_EIO, "%s: cannot write", tmp);
    else if (rename(tmp, cfg_path) != 0)
        st = gsae_fail(err, GSAE_EIO, "%s: cannot rename from %s: %s", cfg_path, tmp,
                       strerror(errno));
    json_decref(cfg);
    return st;
}

enum gsae_status sae_save(const char *path, const struct sae_params *p,
                          const struct sae_save_opts *opts, struct gsae_error *err)
{
    if (opts->layout == SAE_LAYOUT_SAELENS) {
        if (opts->layer < 0)
            return gsae_fail(err, GSAE_EINVAL, "%s: a SAELens SAE needs its hook layer", path);
        return save_saelens(path, p, opts, err);
    }
    struct npz_item items[N_KEYS] = {
        {"W_enc", f32_view(p->w_enc, 2, p->d_model, p->d_sae)},
        {"W_dec", f32_view(p->w_dec, 2, p->d_sae, p->d_model)},
        {"b_enc", f32_view(p->b_enc, 1, p->d_sae, 0)},
        {"b_dec", f32_view(p->b_dec, 1, p->d_model, 0)},
        {"threshold", f32_view(p->threshold, 1, p->d_sae, 0)},
    };
    return npz_write(path, items, N_KEYS, opts->compression, err);
}
