/* ckpt_config.c: config.json of a Gemma-2 checkpoint, checked field by field, and the small
 * JSON file helpers of the ckpt module (see ckpt.h, ckpt_impl.h). */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/hash.h"
#include "ckpt_impl.h"

#define CONFIG_FILE "config.json"

char *ckpt_path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

enum gsae_status ckpt_read_small_file(const char *path, char **out, size_t *len,
                                      struct gsae_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gsae_fail(err, errno == ENOENT ? GSAE_ENOTFOUND : GSAE_EIO, "%s: cannot open: %s",
                         path, strerror(errno));
    enum gsae_status st = GSAE_OK;
    struct stat sb;
    char *buf = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = gsae_fail(err, GSAE_EIO, "%s: not a regular file, expected a JSON file", path);
        goto done;
    }
    size_t size = (size_t)sb.st_size;
    if (size > CKPT_JSON_FILE_MAX) {
        st = gsae_fail(err, GSAE_EFORMAT, "%s: %zu bytes, expected at most %zu for a JSON file",
                       path, size, CKPT_JSON_FILE_MAX);
        goto done;
    }
    buf = malloc(size + 1);
    if (!buf) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t k = read(fd, buf + got, size - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            st = gsae_fail(err, GSAE_EIO, "%s: read failed after %zu of %zu bytes: %s", path, got,
                           size, k < 0 ? strerror(errno) : "file shrank");
            goto done;
        }
        got += (size_t)k;
    }
    buf[size] = '\0';
    *out = buf;
    *len = size;
    buf = NULL;
done:
    free(buf);
    close(fd);
    return st;
}

enum gsae_status ckpt_load_json(const char *path, const char *text, size_t len, json_t **out,
                                struct gsae_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    *out = NULL;
    if (!root)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: not valid JSON (line %d, column %d: %s), expected a JSON object",
                         path, jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: top level is not an object, expected a JSON object", path);
    }
    *out = root;
    return GSAE_OK;
}

/* ---- config.json ------------------------------------------------------------------------ */

const char *ckpt_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a non-integer number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

/* An integer field; missing fields take *out's value when !required. */
static enum gsae_status get_int(const json_t *root, const char *path, const char *field,
                                bool required, int64_t *out, struct gsae_error *err)
{
    const json_t *v = json_object_get(root, field);
    if (!v && !required) return GSAE_OK;
    if (!v)
        return gsae_fail(err, GSAE_EFORMAT, "%s: '%s' is missing, expected an integer", path,
                         field);
    if (json_is_real(v) && fabs(json_real_value(v)) <= 9e15 &&
        json_real_value(v) == (double)(int64_t)json_real_value(v)) {
        *out = (int64_t)json_real_value(v); /* 64.0: integral, accepted as 64 */
        return GSAE_OK;
    }
    if (!json_is_integer(v))
        return gsae_fail(err, GSAE_EFORMAT, "%s: '%s' is %s, expected an integer", path, field,
                         ckpt_json_kind(v));
    *out = (int64_t)json_integer_value(v);
    return GSAE_OK;
}

/* A number field; null gives null_value (soft-caps: null disables), missing keeps *out unless
 * required. */
static enum gsae_status get_float(const json_t *root, const char *path, const char *field,
                                  bool required, bool null_ok, float null_value, float *out,
                                  struct gsae_error *err)
{
    const json_t *v = json_object_get(root, field);
    if (!v && !required) return GSAE_OK;
    if (!v)
        return gsae_fail(err, GSAE_EFORMAT, "%s: '%s' is missing, expected a number", path, field);
    if (json_is_null(v) && null_ok) {
        *out = null_value;
        return GSAE_OK;
    }
    if (!json_is_number(v))
        return gsae_fail(err, GSAE_EFORMAT, "%s: '%s' is %s, expected a number", path, field,
                         ckpt_json_kind(v));
    if (!(fabs(json_number_value(v)) <= FLT_MAX))
        return gsae_fail(err, GSAE_EFORMAT, "%s: '%s' is %g, expected a number within float range",
                         path, field, json_number_value(v));
    *out = (float)json_number_value(v);
    return GSAE_OK;
}

/* A token id field; transformers allows a list for eos_token_id: the first one is used. */
static enum gsae_status get_token(const json_t *root, const char *path, const char *field,
                                  int32_t *out, struct gsae_error *err)
{
    json_t *v = json_object_get(root, field);
    if (!v) return GSAE_OK;
    if (json_is_array(v) && json_array_size(v) > 0) v = json_array_get(v, 0);
    if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
        json_integer_value(v) > INT32_MAX)
        return gsae_fail(err, GSAE_EFORMAT, "%s: '%s' is %s, expected a token id", path, field,
                         json_is_integer(v) ? "out of range" : ckpt_json_kind(v));
    *out = (int32_t)json_integer_value(v);
    return GSAE_OK;
}

static enum gsae_status check_string_field(const json_t *root, const char *path, const char *field,
                                           const char *want, struct gsae_error *err)
{
    const json_t *v = json_object_get(root, field);
    if (!v || (json_is_string(v) && strcmp(json_string_value(v), want) == 0)) return GSAE_OK;
    if (json_is_string(v))
        return gsae_fail(err, GSAE_EFORMAT, "%s: '%s' is '%.80s', expected '%s'", path, field,
                         json_string_value(v), want);
    return gsae_fail(err, GSAE_EFORMAT, "%s: '%s' is %s, expected '%s'", path, field,
                     ckpt_json_kind(v), want);
}

static enum gsae_status parse_config(const json_t *root, const char *path, struct gemma_config *c,
                                     struct gsae_error *err)
{
    *c = gemma_config_9b(); /* Gemma-2 constants; every size below is required */
    enum gsae_status st = GSAE_OK;
#define REQ_INT(f, dst)                                                                            \
    if (st == GSAE_OK) st = get_int(root, path, f, true, &c->dst, err)
    REQ_INT("vocab_size", n_vocab);
    REQ_INT("hidden_size", d_model);
    REQ_INT("intermediate_size", d_ff);
    REQ_INT("num_hidden_layers", n_layers);
    REQ_INT("num_attention_heads", n_heads);
    REQ_INT("num_key_value_heads", n_kv_heads);
    REQ_INT("head_dim", d_head);
#undef REQ_INT
    if (st == GSAE_OK) st = get_int(root, path, "sliding_window", false, &c->window_local, err);
    if (st == GSAE_OK) st = get_int(root, path, "max_position_embeddings", false, &c->max_pos, err);
    if (st == GSAE_OK)
        st = get_float(root, path, "query_pre_attn_scalar", true, false, 0,
                       &c->query_pre_attn_scalar, err);
    if (st == GSAE_OK)
        st = get_float(root, path, "attn_logit_softcapping", false, true, 0, &c->softcap_attn, err);
    if (st == GSAE_OK)
        st = get_float(root, path, "final_logit_softcapping", false, true, 0, &c->softcap_final,
                       err);
    if (st == GSAE_OK)
        st = get_float(root, path, "rms_norm_eps", false, false, 0, &c->rms_eps, err);
    if (st == GSAE_OK)
        st = get_float(root, path, "rope_theta", false, false, 0, &c->rope_theta, err);
    if (st == GSAE_OK) st = get_token(root, path, "bos_token_id", &c->bos_id, err);
    if (st == GSAE_OK) st = get_token(root, path, "eos_token_id", &c->eos_id, err);
    if (st == GSAE_OK) st = get_token(root, path, "pad_token_id", &c->pad_id, err);
    if (st == GSAE_OK) st = check_string_field(root, path, "model_type", "gemma2", err);
    if (st == GSAE_OK)
        st = check_string_field(root, path, "hidden_activation", "gelu_pytorch_tanh", err);
    if (st != GSAE_OK) return st;
    const json_t *tie = json_object_get(root, "tie_word_embeddings");
    if (tie && !json_is_true(tie))
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: 'tie_word_embeddings' is %s, expected true (gsae "
                         "unembeds with the embedding)",
                         path, ckpt_json_kind(tie));
    st = gemma_config_validate(c, err);
    if (st != GSAE_OK) gsae_error_prefix(err, "%s", path);
    return st;
}

/* The directory's own name (for checkpoints without _name_or_path). */
static char *dir_name(const char *dir)
{
    char real[PATH_MAX];
    const char *d = realpath(dir, real) ? real : dir;
    size_t end = strlen(d);
    while (end > 1 && d[end - 1] == '/')
        end--;
    size_t begin = end;
    while (begin > 0 && d[begin - 1] != '/')
        begin--;
    char *name = malloc(end - begin + 1);
    if (name) {
        memcpy(name, d + begin, end - begin);
        name[end - begin] = '\0';
    }
    return name;
}

enum gsae_status ckpt_config_parse(const char *path, const char *text, size_t len,
                                   struct gemma_config *cfg, struct gsae_error *err)
{
    json_t *root = NULL;
    enum gsae_status st = ckpt_load_json(path, text, len, &root, err);
    if (st == GSAE_OK) st = parse_config(root, path, cfg, err);
    json_decref(root);
    return st;
}

enum gsae_status ckpt_config_read(const char *dir, struct gemma_config *cfg, char **name,
                                  uint64_t *hash, struct gsae_error *err)
{
    char *path = ckpt_path_join(dir, CONFIG_FILE), *text = NULL;
    size_t len = 0;
    json_t *root = NULL;
    enum gsae_status st = GSAE_OK;
    if (!path) return gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", dir);
    if ((st = ckpt_read_small_file(path, &text, &len, err)) != GSAE_OK) goto done;
    if ((st = ckpt_load_json(path, text, len, &root, err)) != GSAE_OK) goto done;
    if ((st = parse_config(root, path, cfg, err)) != GSAE_OK) goto done;
    if (hash) *hash = gsae_hash(text, len);
    if (name) {
        const json_t *n = json_object_get(root, "_name_or_path");
        *name = json_is_string(n) && json_string_length(n) > 0 ? strdup(json_string_value(n))
                                                               : dir_name(dir);
        if (!*name) st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
    }
done:
    json_decref(root);
    free(text);
    free(path);
    return st;
}

enum gsae_status ckpt_config_load(const char *dir, struct gemma_config *cfg, struct gsae_error *err)
{
    return ckpt_config_read(dir, cfg, NULL, NULL, err);
}
