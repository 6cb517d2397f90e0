/* manifest.c: the store manifest as JSON, read and written atomically (see manifest.h). */
#include "manifest.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void manifest_init(struct manifest *m, const char *job_hash, int64_t context_size,
                   int64_t windows_per_part)
{
    memset(m, 0, sizeof *m);
    snprintf(m->job_hash, sizeof m->job_hash, "%s", job_hash ? job_hash : "");
    m->context_size = context_size;
    m->windows_per_part = windows_per_part;
    m->n_parts_total = -1;
}

void manifest_free(struct manifest *m)
{
    free(m->parts);
    memset(m, 0, sizeof *m);
}

enum gsae_status manifest_add(struct manifest *m, const struct manifest_part *part,
                              struct gsae_error *err)
{
    int64_t at = 0;
    while (at < m->n_parts && m->parts[at].info.index < part->info.index)
        at++;
    if (at < m->n_parts && m->parts[at].info.index == part->info.index) {
        m->parts[at] = *part;
        return GSAE_OK;
    }
    if (m->n_parts == m->cap_parts) {
        int64_t cap = m->cap_parts ? 2 * m->cap_parts : 64;
        struct manifest_part *p = realloc(m->parts, (size_t)cap * sizeof *p);
        if (!p)
            return gsae_fail(err, GSAE_ENOMEM, "manifest: out of memory for %lld parts",
                             (long long)cap);
        m->parts = p;
        m->cap_parts = cap;
    }
    memmove(m->parts + at + 1, m->parts + at, (size_t)(m->n_parts - at) * sizeof *m->parts);
    m->parts[at] = *part;
    m->n_parts++;
    return GSAE_OK;
}

const struct manifest_part *manifest_find(const struct manifest *m, int64_t index)
{
    int64_t lo = 0, hi = m->n_parts;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (m->parts[mid].info.index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n_parts && m->parts[lo].info.index == index ? &m->parts[lo] : NULL;
}

int64_t manifest_first_missing(const struct manifest *m)
{
    int64_t i = 0;
    while (i < m->n_parts && m->parts[i].info.index == i)
        i++;
    return i;
}

struct manifest_state manifest_start_of(const struct manifest *m, int64_t index)
{
    const struct manifest_part *prev = index > 0 ? manifest_find(m, index - 1) : NULL;
    GSAE_ASSERT(index == 0 || prev);
    return prev ? prev->end : (struct manifest_state){0, 0, 0, 1};
}

static json_t *part_to_json(const struct manifest_part *p)
{
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)p->info.checksum);
    return json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:s, s:{s:I, s:I, s:I, s:I}}", "index",
                     (json_int_t)p->info.index, "file", p->info.file, "first_window",
                     (json_int_t)p->info.first_window, "n_windows", (json_int_t)p->info.n_windows,
                     "n_tokens", (json_int_t)p->info.n_tokens, "nnz", (json_int_t)p->info.nnz,
                     "checksum", hex, "end", "doc", (json_int_t)p->end.doc, "offset",
                     (json_int_t)p->end.offset, "shard", (json_int_t)p->end.shard, "line",
                     (json_int_t)p->end.line);
}

enum gsae_status manifest_save(const struct manifest *m, const char *dir, struct gsae_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    json_t *parts = json_array();
    json_t *root = json_pack("{s:s, s:i, s:s, s:I, s:I, s:b, s:I}", "format", "gsae-store-manifest",
                             "schema_version", MANIFEST_SCHEMA_VERSION, "job_hash", m->job_hash,
                             "context_size", (json_int_t)m->context_size, "windows_per_part",
                             (json_int_t)m->windows_per_part, "complete", (int)m->complete,
                             "n_parts_total", (json_int_t)m->n_parts_total);
    enum gsae_status st = GSAE_OK;
    char *text = NULL;
    if (!parts || !root) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (int64_t i = 0; i < m->n_parts; i++)
        if (json_array_append_new(parts, part_to_json(&m->parts[i])) != 0) {
            st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
    json_object_set(root, "parts", parts);
    text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (!text) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    size_t len = strlen(text);
    text[len] = '\0';
    char *with_nl = realloc(text, len + 2);
    if (!with_nl) {
        st = gsae_fail(err, GSAE_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    text = with_nl;
    text[len] = '\n';
    text[len + 1] = '\0';
    st = store_write_atomic(path, text, len + 1, err);
fail:
    free(text);
    json_decref(parts);
    json_decref(root);
    return st;
}

static enum gsae_status part_from_json(json_t *j, const char *path, int64_t i,
                                       struct manifest_part *p, struct gsae_error *err)
{
    json_int_t idx, fw, nw, nt, nnz, doc, off, shard, line;
    const char *file, *hex;
    json_error_t jerr;
    memset(p, 0, sizeof *p);
    if (json_unpack_ex(j, &jerr, JSON_STRICT,
                       "{s:I, s:s, s:I, s:I, s:I, s:I, s:s, s:{s:I, s:I, s:I, s:I}}", "index", &idx,
                       "file", &file, "first_window", &fw, "n_windows", &nw, "n_tokens", &nt, "nnz",
                       &nnz, "checksum", &hex, "end", "doc", &doc, "offset", &off, "shard", &shard,
                       "line", &line) != 0)
        return gsae_fail(err, GSAE_EFORMAT, "%s: parts[%lld]: %s", path, (long long)i, jerr.text);
    char *endp = NULL;
    unsigned long long sum = strtoull(hex, &endp, 16);
    if (strlen(hex) != 16 || *endp != '\0' || strlen(file) >= sizeof p->info.file || idx < 0 ||
        nw < 0 || nt < 0 || nnz < 0)
        return gsae_fail(err, GSAE_EFORMAT, "%s: parts[%lld]: bad checksum, file or counts", path,
                         (long long)i);
    p->info.index = idx;
    p->info.first_window = fw;
    p->info.n_windows = nw;
    p->info.n_tokens = nt;
    p->info.nnz = nnz;
    p->info.checksum = sum;
    snprintf(p->info.file, sizeof p->info.file, "%s", file);
    p->end = (struct manifest_state){doc, off, shard, line};
    return GSAE_OK;
}

/* "KEY: " for the first top-level key present with the wrong JSON type, else "" (jansson's
 * message names a missing key but not a mistyped one). */
static const char *wrong_type_key(json_t *root, char *out, size_t cap)
{
    static const struct {
        const char *key;
        json_type type;
    } keys[] = {{"format", JSON_STRING},
                {"schema_version", JSON_INTEGER},
                {"job_hash", JSON_STRING},
                {"context_size", JSON_INTEGER},
                {"windows_per_part", JSON_INTEGER},
                {"n_parts_total", JSON_INTEGER}};
    out[0] = '\0';
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !out[0]; i++) {
        json_t *v = json_object_get(root, keys[i].key);
        if (v && json_typeof(v) != keys[i].type) snprintf(out, cap, "%s: ", keys[i].key);
    }
    json_t *c = json_object_get(root, "complete");
    if (!out[0] && c && !json_is_boolean(c)) snprintf(out, cap, "complete: ");
    return out;
}

enum gsae_status manifest_parse(const char *text, size_t len, const char *path, struct manifest *m,
                                struct gsae_error *err)
{
    memset(m, 0, sizeof *m);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root) return gsae_fail(err, GSAE_EFORMAT, "%s: line %d: %s", path, jerr.line, jerr.text);
    const char *format = NULL, *job = NULL;
    int version = 0, complete = 0;
    json_int_t ctx = 0, wpp = 0, total = -1;
    json_t *parts = NULL;
    enum gsae_status st = GSAE_OK;
    if (json_unpack_ex(root, &jerr, 0, "{s:s, s:i, s:s, s:I, s:I, s:b, s:I, s:o}", "format",
                       &format, "schema_version", &version, "job_hash", &job, "context_size", &ctx,
                       "windows_per_part", &wpp, "complete", &complete, "n_parts_total", &total,
                       "parts", &parts) != 0) {
        char key[64];
        st = gsae_fail(err, GSAE_EFORMAT, "%s: %s%s", path, wrong_type_key(root, key, sizeof key),
                       jerr.text);
        goto fail;
    }
    if (strcmp(format, "gsae-store-manifest") != 0 || version != MANIFEST_SCHEMA_VERSION ||
        !json_is_array(parts)) {
        st = gsae_fail(err, GSAE_EFORMAT,
                       "%s: format '%s' schema_version %d, expected gsae-store-manifest %d", path,
                       format, version, MANIFEST_SCHEMA_VERSION);
        goto fail;
    }
    if (ctx < 1 || wpp < 1 || total < -1) {
        st = gsae_fail(err, GSAE_EFORMAT,
                       "%s: context_size %lld, windows_per_part %lld, "
                       "n_parts_total %lld out of range",
                       path, (long long)ctx, (long long)wpp, (long long)total);
        goto fail;
    }
    manifest_init(m, job, ctx, wpp);
    m->complete = complete;
    m->n_parts_total = total;
    for (size_t i = 0; i < json_array_size(parts); i++) {
        struct manifest_part p;
        if ((st = part_from_json(json_array_get(parts, i), path, (int64_t)i, &p, err)) != GSAE_OK ||
            (st = manifest_add(m, &p, err)) != GSAE_OK)
            goto fail;
    }
fail:
    json_decref(root);
    if (st != GSAE_OK) manifest_free(m);
    return st;
}

enum gsae_status manifest_load(const char *dir, struct manifest *m, struct gsae_error *err)
{
    memset(m, 0, sizeof *m);
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return gsae_fail(err, errno == ENOENT ? GSAE_ENOTFOUND : GSAE_EIO, "%s: %s", path,
                         strerror(errno));
    size_t cap = 1 << 16, len = 0, got;
    char *text = malloc(cap);
    while (text && (got = fread(text + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            char *grown = realloc(text, cap * 2);
            if (!grown) {
                free(text);
                text = NULL;
                break;
            }
            text = grown;
            cap *= 2;
        }
    }
    bool failed = ferror(f) != 0;
    fclose(f);
    if (!text || failed) {
        free(text);
        return gsae_fail(err, text ? GSAE_EIO : GSAE_ENOMEM, "%s: cannot read", path);
    }
    enum gsae_status st = manifest_parse(text, len, path, m, err);
    free(text);
    return st;
}
