/* tokenizer_load.c: tokenizer.json(.zst/.gz) -> struct tokenizer (libarchive + jansson). */
#include "tokenizer_load.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <string.h>

enum gsae_status tokenizer_read_file(const char *path, struct tokenizer_text *out,
                                     struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    struct archive *a = archive_read_new();
    if (!a) return gsae_fail(err, GSAE_ENOMEM, "%s: cannot start libarchive", path);
    archive_read_support_filter_all(a);
    archive_read_support_format_raw(a);
    archive_read_support_format_empty(a);
    const char *name = strcmp(path, "-") == 0 ? NULL : path;
    struct archive_entry *entry;
    if (archive_read_open_filename(a, name, 1 << 16) != ARCHIVE_OK) {
        st = gsae_fail(err, GSAE_EIO, "%s: %s", path, archive_error_string(a));
        goto done;
    }
    int r = archive_read_next_header(a, &entry);
    if (r == ARCHIVE_EOF) goto done; /* empty input */
    if (r != ARCHIVE_OK) {
        st = gsae_fail(err, GSAE_EIO, "%s: %s", path, archive_error_string(a));
        goto done;
    }
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t offset;
        r = archive_read_data_block(a, &buf, &len, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK) {
            st = gsae_fail(err, GSAE_EIO, "%s: %s", path, archive_error_string(a));
            goto done;
        }
        if ((st = tokenizer_text_append(out, buf, len, err)) != GSAE_OK) goto done;
    }
done:
    archive_read_free(a);
    return st;
}

/* A JSON string's bytes (may contain NUL); NULL when v is not a string. */
static const char *str_of(const json_t *v, size_t *len)
{
    if (!json_is_string(v)) return NULL;
    *len = json_string_length(v);
    return json_string_value(v);
}

static bool is_type(const json_t *obj, const char *type)
{
    const char *t = json_string_value(json_object_get(obj, "type"));
    return t && strcmp(t, type) == 0;
}

/* A {"type": T, "pattern": {"String": from}, "content": to} object (Replace, Split). */
static bool string_pattern(const json_t *obj, const char **from, size_t *from_len)
{
    *from = str_of(json_object_get(json_object_get(obj, "pattern"), "String"), from_len);
    return *from && *from_len > 0;
}

static enum gsae_status unsupported(const char *path, const char *field, const json_t *v,
                                    struct gsae_error *err)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    enum gsae_status st =
        gsae_fail(err, GSAE_EFORMAT, "%s: %s: unsupported value %.200s", path, field, s ? s : "?");
    free(s);
    return st;
}

/* Largest id in model.vocab and added_tokens, +1. */
static enum gsae_status count_ids(const char *path, const json_t *vocab, const json_t *added,
                                  int32_t *n_vocab, struct gsae_error *err)
{
    json_int_t max = -1;
    const char *key;
    size_t key_len;
    json_t *v;
    json_object_keylen_foreach((json_t *)vocab, key, key_len, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (1 << 30))
            return gsae_fail(err, GSAE_EFORMAT, "%s: model.vocab['%.*s']: id not in 0..2^30", path,
                             (int)key_len, key);
        if (json_integer_value(v) > max) max = json_integer_value(v);
    }
    size_t i;
    json_array_foreach(added, i, v)
    {
        json_t *id = json_object_get(v, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= (1 << 30))
            return gsae_fail(err, GSAE_EFORMAT, "%s: added_tokens[%zu].id not in 0..2^30", path, i);
        if (json_integer_value(id) > max) max = json_integer_value(id);
    }
    if (max < 0) return gsae_fail(err, GSAE_EFORMAT, "%s: model.vocab is empty", path);
    /* every id below the largest needs a piece: more ids than entries cannot load, and must
     * not size the tables (a few bytes claiming id 2^30 would ask for gigabytes) */
    size_t n_entries = json_object_size(vocab) + json_array_size(added);
    if ((size_t)max >= n_entries)
        return gsae_fail(err, GSAE_EFORMAT,
                         "%s: id %lld in model.vocab or added_tokens, but only %zu entries: ids "
                         "must run from 0 without gaps",
                         path, (long long)max, n_entries);
    *n_vocab = (int32_t)(max + 1);
    return GSAE_OK;
}

static enum gsae_status load_merges(struct tokenizer *tk, const char *path, const json_t *merges,
                                    struct gsae_error *err)
{
    enum gsae_status st = tokenizer_reserve_merges(tk, json_array_size(merges), err);
    if (st != GSAE_OK) return st;
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m)
    {
        const char *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        if (json_is_string(m)) {
            const char *s = str_of(m, &la);
            const char *sp = memchr(s, ' ', la);
            if (sp && !memchr(sp + 1, ' ', la - (size_t)(sp - s) - 1)) {
                a = s, b = sp + 1;
                lb = la - (size_t)(sp - s) - 1;
                la = (size_t)(sp - s);
            }
        } else if (json_is_array(m) && json_array_size(m) == 2) {
            a = str_of(json_array_get(m, 0), &la);
            b = str_of(json_array_get(m, 1), &lb);
        }
        if (!a || !b)
            return gsae_fail(err, GSAE_EFORMAT, "%s: model.merges[%zu]: expected \"a b\" or [a, b]",
                             path, i);
        st = tokenizer_add_merge(tk, a, la, b, lb, err);
        if (st != GSAE_OK) {
            gsae_error_prefix(err, "%s: model.merges[%zu]", path, i);
            return st;
        }
    }
    return GSAE_OK;
}

static enum gsae_status load_added(struct tokenizer *tk, const char *path, const json_t *added,
                                   struct gsae_error *err)
{
    size_t i;
    json_t *t;
    json_array_foreach(added, i, t)
    {
        int32_t id = (int32_t)json_integer_value(json_object_get(t, "id"));
        size_t len;
        const char *content = str_of(json_object_get(t, "content"), &len);
        if (!content || len == 0)
            return gsae_fail(err, GSAE_EFORMAT, "%s: added_tokens[%zu].content: missing or empty",
                             path, i);
        static const char *const unsupported_flags[] = {"lstrip", "rstrip", "single_word",
                                                        "normalized"};
        for (size_t f = 0; f < 4; f++)
            if (json_is_true(json_object_get(t, unsupported_flags[f])))
                return gsae_fail(err, GSAE_EFORMAT,
                                 "%s: added_tokens[%zu].%s: true is not supported", path, i,
                                 unsupported_flags[f]);
        size_t have_len;
        const char *have = tokenizer_piece(tk, id, &have_len);
        enum gsae_status st = GSAE_OK;
        if (!have)
            st = tokenizer_set_piece(tk, id, content, len, err);
        else if (have_len != len || memcmp(have, content, len) != 0)
            return gsae_fail(err, GSAE_EFORMAT,
                             "%s: added_tokens[%zu]: id %d is '%.*s' in model.vocab", path, i,
                             (int)id, (int)have_len, have);
        if (st == GSAE_OK)
            st = tokenizer_mark_added(tk, id, json_is_true(json_object_get(t, "special")), err);
        if (st != GSAE_OK) {
            gsae_error_prefix(err, "%s: added_tokens[%zu]", path, i);
            return st;
        }
    }
    return GSAE_OK;
}

static bool contains(const char *hay, size_t hay_len, const char *needle, size_t needle_len)
{
    for (size_t i = 0; i + needle_len <= hay_len; i++)
        if (memcmp(hay + i, needle, needle_len) == 0) return true;
    return false;
}

/* normalizer: null, Replace(String), or a Sequence holding one Replace. pre_tokenizer: null,
 * or Split on the string the normalizer replaces (nothing left to split on). */
static enum gsae_status load_normalizer(struct tokenizer *tk, const char *path, const json_t *root,
                                        struct gsae_error *err)
{
    const json_t *norm = json_object_get(root, "normalizer");
    if (is_type(norm, "Sequence") && json_array_size(json_object_get(norm, "normalizers")) == 1)
        norm = json_array_get(json_object_get(norm, "normalizers"), 0);
    const char *from = NULL, *to = NULL;
    size_t fl = 0, tl = 0;
    if (norm && !json_is_null(norm)) {
        to = str_of(json_object_get(norm, "content"), &tl);
        if (!is_type(norm, "Replace") || !string_pattern(norm, &from, &fl) || !to)
            return unsupported(path, "normalizer", norm, err);
        enum gsae_status st = tokenizer_set_normalizer(tk, from, fl, to, tl, err);
        if (st != GSAE_OK) {
            gsae_error_prefix(err, "%s: normalizer", path);
            return st;
        }
    }
    const json_t *pre = json_object_get(root, "pre_tokenizer");
    if (!pre || json_is_null(pre)) return GSAE_OK;
    const char *split;
    size_t sl;
    bool noop = is_type(pre, "Split") && string_pattern(pre, &split, &sl) && from && sl == fl &&
                memcmp(split, from, fl) == 0 && !json_is_true(json_object_get(pre, "invert")) &&
                !contains(to, tl, split, sl);
    return noop ? GSAE_OK : unsupported(path, "pre_tokenizer", pre, err);
}

/* decoder: Sequence of [Replace(String)], ByteFallback, Fuse. */
static enum gsae_status load_decoder(struct tokenizer *tk, const char *path, const json_t *root,
                                     struct gsae_error *err)
{
    const json_t *dec = json_object_get(root, "decoder");
    const json_t *list = json_object_get(dec, "decoders");
    if (!is_type(dec, "Sequence") || !json_is_array(list))
        return unsupported(path, "decoder", dec, err);
    bool byte_fallback = false, fuse = false;
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d)
    {
        const char *from, *to;
        size_t fl, tl;
        enum gsae_status st = GSAE_OK;
        if (is_type(d, "Replace") && i == 0 && string_pattern(d, &from, &fl) &&
            (to = str_of(json_object_get(d, "content"), &tl)))
            st = tokenizer_set_decoder_replace(tk, from, fl, to, tl, err);
        else if (is_type(d, "ByteFallback") && !byte_fallback && !fuse)
            byte_fallback = true;
        else if (is_type(d, "Fuse") && !fuse)
            fuse = true;
        else
            return unsupported(path, "decoder.decoders[]", d, err);
        if (st != GSAE_OK) {
            gsae_error_prefix(err, "%s: decoder.decoders[%zu]", path, i);
            return st;
        }
    }
    return byte_fallback && fuse ? GSAE_OK : unsupported(path, "decoder", dec, err);
}

/* post_processor: TemplateProcessing whose "single" is [SpecialToken, Sequence A] (bos), or
 * [Sequence A] (no bos); null also means no bos. */
static enum gsae_status load_post(struct tokenizer *tk, const char *path, const json_t *root,
                                  struct gsae_error *err)
{
    const json_t *post = json_object_get(root, "post_processor");
    if (!post || json_is_null(post)) return GSAE_OK;
    const json_t *single = json_object_get(post, "single");
    size_t n = json_array_size(single);
    if (!is_type(post, "TemplateProcessing") || n < 1 || n > 2 ||
        !json_object_get(json_array_get(single, n - 1), "Sequence"))
        return unsupported(path, "post_processor", post, err);
    if (n == 1) return GSAE_OK;
    const char *name = json_string_value(
        json_object_get(json_object_get(json_array_get(single, 0), "SpecialToken"), "id"));
    const json_t *ids = json_object_get(
        json_object_get(json_object_get(post, "special_tokens"), name ? name : ""), "ids");
    if (!name || json_array_size(ids) != 1 || !json_is_integer(json_array_get(ids, 0)))
        return unsupported(path, "post_processor.single", single, err);
    json_int_t id = json_integer_value(json_array_get(ids, 0));
    if (id < 0 || id >= tk->n_vocab)
        return gsae_fail(err, GSAE_EFORMAT, "%s: post_processor: '%s' id %lld out of range", path,
                         name, (long long)id);
    tk->bos_id = (int32_t)id;
    return GSAE_OK;
}

static enum gsae_status load_model(struct tokenizer *tk, const char *path, const json_t *model,
                                   struct gsae_error *err)
{
    if (!is_type(model, "BPE"))
        return unsupported(path, "model.type", json_object_get(model, "type"), err);
    static const char *const must_be_empty[] = {"dropout", "continuing_subword_prefix",
                                                "end_of_word_suffix"};
    for (size_t i = 0; i < 3; i++) {
        const json_t *v = json_object_get(model, must_be_empty[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0)) {
            char field[64];
            snprintf(field, sizeof field, "model.%s", must_be_empty[i]);
            return unsupported(path, field, v, err);
        }
    }
    tk->byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
    tk->fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
    tk->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    const char *key;
    size_t key_len;
    json_t *v;
    json_object_keylen_foreach(json_object_get(model, "vocab"), key, key_len, v)
    {
        enum gsae_status st =
            tokenizer_set_piece(tk, (int32_t)json_integer_value(v), key, key_len, err);
        if (st != GSAE_OK) {
            gsae_error_prefix(err, "%s: model.vocab", path);
            return st;
        }
    }
    size_t ul;
    const char *unk = str_of(json_object_get(model, "unk_token"), &ul);
    if (unk && (tk->unk_id = tokenizer_find(tk, unk, ul)) < 0)
        return gsae_fail(err, GSAE_EFORMAT, "%s: model.unk_token '%.*s' not in the vocabulary",
                         path, (int)ul, unk);
    return GSAE_OK;
}

enum gsae_status tokenizer_load(struct tokenizer *tk, const char *path, struct gsae_error *err)
{
    memset(tk, 0, sizeof *tk);
    struct tokenizer_text file = {0};
    json_t *root = NULL;
    enum gsae_status st = tokenizer_read_file(path, &file, err);
    if (st != GSAE_OK) goto done;
    json_error_t jerr;
    root = json_loadb(file.data ? file.data : "", file.len, JSON_ALLOW_NUL, &jerr);
    tokenizer_text_free(&file);
    if (!root) {
        st = gsae_fail(err, GSAE_EFORMAT, "%s: line %d: %s", path, jerr.line, jerr.text);
        goto done;
    }
    const json_t *model = json_object_get(root, "model");
    const json_t *vocab = json_object_get(model, "vocab");
    const json_t *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    json_t *empty = json_array();
    if (!json_is_object(vocab) || !json_is_array(merges) || (added && !json_is_array(added))) {
        json_decref(empty);
        st = gsae_fail(err, GSAE_EFORMAT,
                       "%s: expected model.vocab (object), model.merges and added_tokens (arrays)",
                       path);
        goto done;
    }
    if (!added) added = empty;
    int32_t n_vocab = 0;
    st = count_ids(path, vocab, added, &n_vocab, err);
    if (st == GSAE_OK && (st = tokenizer_init(tk, n_vocab, err)) != GSAE_OK)
        gsae_error_prefix(err, "%s", path);
    if (st == GSAE_OK) st = load_model(tk, path, model, err);
    if (st == GSAE_OK) /* added tokens may bring pieces the vocab lacks: before merges */
        st = load_added(tk, path, added, err);
    if (st == GSAE_OK) st = load_merges(tk, path, merges, err);
    if (st == GSAE_OK) st = load_normalizer(tk, path, root, err);
    if (st == GSAE_OK) st = load_decoder(tk, path, root, err);
    if (st == GSAE_OK) st = load_post(tk, path, root, err);
    json_decref(empty);
    if (st == GSAE_OK && (st = tokenizer_finish(tk, err)) != GSAE_OK)
        gsae_error_prefix(err, "%s", path);
done:
    json_decref(root);
    tokenizer_text_free(&file);
    if (st != GSAE_OK) tokenizer_free(tk);
    return st;
}
