/* corpus.c: streaming corpus readers over libarchive (see corpus.h). */
#include "corpus.h"

#include <archive.h>
#include <dirent.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHUNK_BYTES      ((size_t)1 << 16)
#define DEFAULT_MAX_LINE ((size_t)64 << 20)

struct corpus_reader {
    struct corpus_config cfg;
    struct corpus_position start;
    int64_t shard;       /* shard being read (== n_shards at the end) */
    struct archive *a;   /* open archive of that shard, or NULL */
    bool whole_file;     /* the shard is one document */
    bool started_at_top; /* the shard was read from line 1 (so "no document" is meaningful) */
    int64_t line_no;     /* lines of the shard consumed so far */
    int64_t shard_docs;  /* documents accepted from the shard */
    int64_t next_doc;
    int64_t n_skipped;
    char *chunk; /* (CHUNK_BYTES) decompressed block */
    size_t chunk_len, chunk_at;
    char *line; /* the current line, NUL-terminated */
    size_t line_len, line_cap;
    bool line_too_long;
    struct corpus_line cur;
    int64_t shard_bytes; /* size of the current shard's file */
};

bool corpus_utf8_valid(const char *buf, size_t len, size_t *bad_at)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c == 0) goto bad;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            goto bad;
        }
        if (len - i <= n) goto bad;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) goto bad;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) goto bad;
        i += n + 1;
    }
    return true;
bad:
    if (bad_at) *bad_at = i;
    return false;
}

enum gsae_status corpus_parse_line(const char *line, size_t len, struct corpus_line *out,
                                   struct gsae_error *err)
{
    memset(out, 0, sizeof *out);
    size_t bad_at = 0;
    if (!corpus_utf8_valid(line, len, &bad_at))
        return gsae_fail(err, GSAE_EFORMAT, "invalid UTF-8 (or NUL) at byte %zu", bad_at);
    json_error_t jerr;
    json_t *root = json_loadb(line, len, 0, &jerr);
    if (!root)
        return gsae_fail(err, GSAE_EFORMAT, "not JSON: %s at column %d", jerr.text, jerr.column);
    if (!json_is_object(root)) {
        json_decref(root);
        return gsae_fail(err, GSAE_EFORMAT, "not a JSON object");
    }
    json_t *text = json_object_get(root, "text");
    if (!text) text = json_object_get(root, "prompt");
    if (!json_is_string(text)) {
        json_decref(root);
        return gsae_fail(err, GSAE_EFORMAT, "\"text\" %s, expected a string",
                         text ? "is not a string" : "is missing");
    }
    out->root = root;
    out->text = json_string_value(text);
    out->len = json_string_length(text);
    out->set_name = "";
    json_t *name = json_object_get(json_object_get(root, "meta"), "pile_set_name");
    if (json_is_string(name)) out->set_name = json_string_value(name);
    return GSAE_OK;
}

void corpus_line_free(struct corpus_line *l)
{
    if (l->root) json_decref(l->root);
    memset(l, 0, sizeof *l);
}

/* The name without compression suffixes decides the format. */
static bool is_jsonl(const char *path)
{
    static const char *const comp[] = {".zst", ".gz", ".xz", ".bz2", ".zstd"};
    size_t n = strlen(path);
    for (size_t k = 0; k < sizeof comp / sizeof comp[0]; k++) {
        size_t m = strlen(comp[k]);
        if (n > m && strcmp(path + n - m, comp[k]) == 0) {
            n -= m;
            break;
        }
    }
    return (n >= 6 && strncmp(path + n - 6, ".jsonl", 6) == 0) ||
           (n >= 5 && strncmp(path + n - 5, ".json", 5) == 0);
}

static void close_shard(struct corpus_reader *r)
{
    if (r->a) archive_read_free(r->a);
    r->a = NULL;
    r->chunk_len = r->chunk_at = 0;
}

/* Report a problem: a warning (skip) or the error (fail). *skipped tells which. */
static enum gsae_status bad_input(struct corpus_reader *r, enum gsae_status code,
                                  struct gsae_error *err, bool *skipped, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static enum gsae_status bad_input(struct corpus_reader *r, enum gsae_status code,
                                  struct gsae_error *err, bool *skipped, const char *fmt, ...)
{
    char msg[GSAE_ERROR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->cfg.on_bad == CORPUS_ON_BAD_SKIP) {
        r->n_skipped++;
        if (r->cfg.warn) r->cfg.warn(r->cfg.warn_ctx, msg);
        *skipped = true;
        return GSAE_OK;
    }
    *skipped = false;
    return gsae_fail(err, code, "%s", msg);
}

static enum gsae_status open_shard(struct corpus_reader *r, bool *skipped, struct gsae_error *err)
{
    const char *path = r->cfg.shards[r->shard];
    *skipped = false;
    r->whole_file = !is_jsonl(path);
    r->line_no = 0;
    r->shard_docs = 0;
    r->started_at_top = !(r->shard == r->start.shard && r->start.line > 1);
    struct stat sb;
    r->shard_bytes = stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
    r->a = archive_read_new();
    if (!r->a) return gsae_fail(err, GSAE_ENOMEM, "%s: cannot allocate an archive reader", path);
    archive_read_support_filter_all(r->a);
    archive_read_support_format_raw(r->a);
    archive_read_support_format_empty(r->a);
    struct archive_entry *entry = NULL;
    int rc = archive_read_open_filename(r->a, path, CHUNK_BYTES);
    if (rc == ARCHIVE_OK) rc = archive_read_next_header(r->a, &entry);
    if (rc == ARCHIVE_OK || rc == ARCHIVE_EOF) {
        if (rc == ARCHIVE_EOF) r->chunk_len = 0, r->chunk_at = 0;
        if (rc == ARCHIVE_EOF) /* empty file: no data block to read */
            close_shard(r), r->a = NULL;
        return GSAE_OK;
    }
    enum gsae_status st =
        bad_input(r, GSAE_EIO, err, skipped, "%s: cannot read: %s", path,
                  archive_error_string(r->a) ? archive_error_string(r->a) : "unknown error");
    close_shard(r);
    return st;
}

/* Next line of the open shard into r->line. *got false at the end of the shard. Archive
 * errors come back as GSAE_EIO with the message in err (not yet prefixed). */
static enum gsae_status read_line(struct corpus_reader *r, bool *got, struct gsae_error *err)
{
    size_t max = r->cfg.max_line_bytes ? r->cfg.max_line_bytes : DEFAULT_MAX_LINE;
    r->line_len = 0;
    r->line_too_long = false;
    bool any = false;
    for (;;) {
        if (r->chunk_at == r->chunk_len) {
            la_ssize_t n = r->a ? archive_read_data(r->a, r->chunk, CHUNK_BYTES) : 0;
            if (n < 0)
                return gsae_fail(err, GSAE_EIO, "%s",
                                 archive_error_string(r->a) ? archive_error_string(r->a)
                                                            : "decompression failed");
            if (n == 0) {
                *got = any;
                r->line[r->line_len] = '\0';
                return GSAE_OK;
            }
            r->chunk_len = (size_t)n;
            r->chunk_at = 0;
        }
        any = true;
        const char *from = r->chunk + r->chunk_at;
        size_t avail = r->chunk_len - r->chunk_at;
        const char *nl = r->whole_file ? NULL : memchr(from, '\n', avail);
        size_t take = nl ? (size_t)(nl - from) : avail;
        if (!r->line_too_long && r->line_len + take > max) r->line_too_long = true;
        if (!r->line_too_long) {
            if (r->line_len + take + 1 > r->line_cap) {
                size_t cap = r->line_cap ? r->line_cap : 4096;
                while (cap < r->line_len + take + 1)
                    cap *= 2;
                char *line = realloc(r->line, cap);
                if (!line)
                    return gsae_fail(err, GSAE_ENOMEM, "cannot hold a line of %zu bytes",
                                     r->line_len + take);
                r->line = line;
                r->line_cap = cap;
            }
            memcpy(r->line + r->line_len, from, take);
            r->line_len += take;
        }
        r->chunk_at += take + (nl ? 1 : 0);
        if (nl) {
            *got = true;
            r->line[r->line_len] = '\0';
            return GSAE_OK;
        }
    }
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

/* Finish the current shard: an empty one is a problem of its own. */
static enum gsae_status end_shard(struct corpus_reader *r, struct gsae_error *err)
{
    bool skipped = false;
    enum gsae_status st = GSAE_OK;
    if (r->started_at_top && r->shard_docs == 0)
        st = bad_input(r, GSAE_EFORMAT, err, &skipped, "%s: no document in shard",
                       r->cfg.shards[r->shard]);
    close_shard(r);
    r->shard++;
    r->line_no = 0;
    r->started_at_top = true;
    return st;
}

/* One document from the current line, or a skipped problem (*doc_ready false). */
static enum gsae_status take_line(struct corpus_reader *r, struct corpus_doc *doc, bool *doc_ready,
                                  struct gsae_error *err)
{
    const char *path = r->cfg.shards[r->shard];
    bool skipped = false;
    *doc_ready = false;
    if (r->line_too_long)
        return bad_input(r, GSAE_EFORMAT, err, &skipped, "%s:%lld: line longer than %zu bytes",
                         path, (long long)r->line_no,
                         r->cfg.max_line_bytes ? r->cfg.max_line_bytes : DEFAULT_MAX_LINE);
    corpus_line_free(&r->cur);
    if (r->whole_file) {
        size_t bad_at = 0;
        if (!corpus_utf8_valid(r->line, r->line_len, &bad_at))
            return bad_input(r, GSAE_EFORMAT, err, &skipped,
                             "%s: invalid UTF-8 (or NUL) at byte %zu", path, bad_at);
        doc->text = r->line;
        doc->len = r->line_len;
        doc->set_name = "";
    } else {
        struct gsae_error perr;
        if (corpus_parse_line(r->line, r->line_len, &r->cur, &perr) != GSAE_OK)
            return bad_input(r, GSAE_EFORMAT, err, &skipped, "%s:%lld: %s", path,
                             (long long)r->line_no, perr.msg);
        doc->text = r->cur.text;
        doc->len = r->cur.len;
        doc->set_name = r->cur.set_name;
    }
    doc->index = r->next_doc++;
    doc->shard = r->shard;
    doc->line = r->line_no;
    r->shard_docs++;
    *doc_ready = true;
    return GSAE_OK;
}

enum gsae_status corpus_next(struct corpus_reader *r, struct corpus_doc *doc, bool *got,
                             struct gsae_error *err)
{
    *got = false;
    enum gsae_status st;
    while (r->shard < r->cfg.n_shards) {
        bool skipped = false;
        if (!r->a && r->line_no == 0) {
            if ((st = open_shard(r, &skipped, err)) != GSAE_OK) return st;
            if (skipped) {
                r->shard++;
                continue;
            }
            if (!r->a) { /* empty file */
                r->line_no = 1;
                if ((st = end_shard(r, err)) != GSAE_OK) return st;
                continue;
            }
        }
        bool have = false;
        struct gsae_error rerr;
        st = r->a ? read_line(r, &have, &rerr) : GSAE_OK;
        if (st == GSAE_EIO) {
            st = bad_input(r, GSAE_EIO, err, &skipped, "%s:%lld: %s", r->cfg.shards[r->shard],
                           (long long)r->line_no + 1, rerr.msg);
            r->started_at_top = false; /* the problem was reported already */
            if (st != GSAE_OK) return st;
            if ((st = end_shard(r, err)) != GSAE_OK) return st;
            continue;
        } else if (st != GSAE_OK) {
            *err = rerr;
            return st;
        }
        if (!have) {
            if ((st = end_shard(r, err)) != GSAE_OK) return st;
            continue;
        }
        r->line_no++;
        bool skip_line = r->shard == r->start.shard && r->line_no < r->start.line;
        if (skip_line || (!r->whole_file && !r->line_too_long && is_blank(r->line, r->line_len)))
            continue;
        bool ready = false;
        if ((st = take_line(r, doc, &ready, err)) != GSAE_OK) return st;
        if (ready) {
            if (r->whole_file) /* nothing more in this shard */
                close_shard(r);
            *got = true;
            return GSAE_OK;
        }
    }
    return GSAE_OK;
}

enum gsae_status corpus_open(const struct corpus_config *cfg, const struct corpus_position *start,
                             struct corpus_reader **out, struct gsae_error *err)
{
    *out = NULL;
    struct corpus_position pos = start ? *start : (struct corpus_position){0, 0, 1};
    if (cfg->n_shards <= 0) return gsae_fail(err, GSAE_EINVAL, "corpus: no shards given");
    if (pos.shard < 0 || pos.shard > cfg->n_shards || pos.line < 1 || pos.doc < 0)
        return gsae_fail(err, GSAE_EINVAL,
                         "corpus: start position (doc %lld, shard %lld, line %lld) outside the "
                         "%lld shards",
                         (long long)pos.doc, (long long)pos.shard, (long long)pos.line,
                         (long long)cfg->n_shards);
    struct corpus_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->chunk = malloc(CHUNK_BYTES)) || !(r->line = malloc(4096))) {
        corpus_close(r);
        return gsae_fail(err, GSAE_ENOMEM, "corpus: cannot allocate a reader");
    }
    r->line_cap = 4096;
    r->cfg = *cfg;
    r->start = pos;
    r->shard = pos.shard;
    r->next_doc = pos.doc;
    *out = r;
    return GSAE_OK;
}

struct corpus_position corpus_tell(const struct corpus_reader *r)
{
    if (r->whole_file && r->line_no >= 1 && r->shard < r->cfg.n_shards)
        return (struct corpus_position){r->next_doc, r->shard + 1, 1};
    return (struct corpus_position){r->next_doc, r->shard, r->line_no + 1};
}

double corpus_fraction(const struct corpus_reader *r)
{
    double done = (double)r->shard;
    if (r->a && r->shard_bytes > 0) {
        double f = (double)archive_filter_bytes(r->a, -1) / (double)r->shard_bytes;
        done += f < 1.0 ? f : 1.0;
    }
    double total = (double)r->cfg.n_shards;
    return done >= total ? 1.0 : done / total;
}

int64_t corpus_n_skipped(const struct corpus_reader *r)
{
    return r->n_skipped;
}

void corpus_close(struct corpus_reader *r)
{
    if (!r) return;
    close_shard(r);
    corpus_line_free(&r->cur);
    free(r->chunk);
    free(r->line);
    free(r);
}

static enum gsae_status push_path(char ***paths, int64_t *n, const char *p, struct gsae_error *err)
{
    char **grown = realloc(*paths, (size_t)(*n + 1) * sizeof *grown);
    if (!grown) return gsae_fail(err, GSAE_ENOMEM, "corpus: out of memory listing shards");
    *paths = grown;
    if (!(grown[*n] = strdup(p)))
        return gsae_fail(err, GSAE_ENOMEM, "corpus: out of memory listing shards");
    (*n)++;
    return GSAE_OK;
}

/* A shard's name: a known document format, possibly compressed, not hidden. */
static int is_shard_name(const struct dirent *de)
{
    static const char *const ext[] = {".jsonl", ".json", ".txt"};
    static const char *const comp[] = {"", ".zst", ".zstd", ".gz", ".xz", ".bz2"};
    if (de->d_name[0] == '.') return 0;
    size_t n = strlen(de->d_name);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        for (size_t j = 0; j < sizeof comp / sizeof comp[0]; j++) {
            size_t m = strlen(ext[i]) + strlen(comp[j]);
            if (n > m && strncmp(de->d_name + n - m, ext[i], strlen(ext[i])) == 0 &&
                strcmp(de->d_name + n - strlen(comp[j]), comp[j]) == 0)
                return 1;
        }
    return 0;
}

/* The shards in a directory, sorted by name. */
static enum gsae_status push_dir(char ***paths, int64_t *n, const char *dir, struct gsae_error *err)
{
    struct dirent **list = NULL;
    int count = scandir(dir, &list, is_shard_name, alphasort);
    if (count < 0) return gsae_fail(err, GSAE_EIO, "corpus: cannot list directory %s", dir);
    enum gsae_status st = count == 0 ? gsae_fail(err, GSAE_ENOTFOUND,
                                                 "corpus: directory %s holds no .jsonl, .json "
                                                 "or .txt shard (plain or compressed)",
                                                 dir)
                                     : GSAE_OK;
    for (int i = 0; i < count; i++) {
        size_t len = strlen(dir) + strlen(list[i]->d_name) + 2;
        char *path = malloc(len);
        if (st == GSAE_OK && !path)
            st = gsae_fail(err, GSAE_ENOMEM, "corpus: out of memory listing shards");
        if (st == GSAE_OK) {
            snprintf(path, len, "%s/%s", dir, list[i]->d_name);
            st = push_path(paths, n, path, err);
        }
        free(path);
        free(list[i]);
    }
    free(list);
    return st;
}

enum gsae_status corpus_expand(const char *spec, char ***paths, int64_t *n_paths,
                               struct gsae_error *err)
{
    *paths = NULL;
    *n_paths = 0;
    char *copy = strdup(spec ? spec : "");
    if (!copy) return gsae_fail(err, GSAE_ENOMEM, "corpus: out of memory");
    enum gsae_status st = GSAE_OK;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && st == GSAE_OK;
         item = strtok_r(NULL, ",", &save)) {
        struct stat sb;
        if (stat(item, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            st = push_dir(paths, n_paths, item, err);
            continue;
        }
        if (!strpbrk(item, "*?[")) {
            st = push_path(paths, n_paths, item, err);
            continue;
        }
        glob_t g;
        int rc = glob(item, 0, NULL, &g); /* glob sorts its matches */
        if (rc != 0)
            st = gsae_fail(err, GSAE_ENOTFOUND, "corpus: pattern '%s' matches no file", item);
        for (size_t k = 0; rc == 0 && k < g.gl_pathc && st == GSAE_OK; k++)
            st = push_path(paths, n_paths, g.gl_pathv[k], err);
        if (rc == 0 || rc == GLOB_NOMATCH) globfree(&g);
    }
    free(copy);
    if (st == GSAE_OK && *n_paths == 0)
        st = gsae_fail(err, GSAE_EINVAL, "corpus: no shards in '%s'", spec ? spec : "");
    if (st != GSAE_OK) {
        corpus_paths_free(*paths, *n_paths);
        *paths = NULL;
        *n_paths = 0;
    }
    return st;
}

void corpus_paths_free(char **paths, int64_t n_paths)
{
    for (int64_t i = 0; i < n_paths; i++)
        free(paths[i]);
    free(paths);
}
