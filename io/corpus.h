/* corpus.h: streaming corpus readers: Pile-format JSON lines, prompt files, plain text.
 *
 * A corpus is an ordered list of shards (corpus_expand turns "a.jsonl.zst,dir/0?.jsonl.gz" into
 * it: comma-separated paths or glob patterns, each pattern's matches sorted). Every shard is
 * streamed through libarchive (all filters, raw format), so plain, .zst, .gz, .xz and .bz2 files
 * are read in 64 KiB blocks and never held whole in memory.
 *
 * Formats, chosen by the name without its compression suffix:
 *   *.jsonl, *.json   one document per line: {"text": "...", "meta": {"pile_set_name": "..."}}
 *                     (the Pile); prompt files may use "prompt" instead of "text". Lines that
 *                     hold only whitespace are ignored.
 *   anything else     the whole (decompressed) file is one document (plain .txt).
 *
 * Documents are numbered 0, 1, ... over the whole corpus in shard order, counting accepted
 * documents only. Bad input is reported with the shard path and 1-based line number:
 *   - a line that is not JSON, or not an object, or whose "text" is missing or not a string;
 *   - invalid UTF-8 (checked on the raw line: overlong forms, surrogates, > U+10FFFF, cut-off
 *     sequences) or a NUL character;
 *   - a line longer than max_line_bytes;
 *   - a shard that cannot be opened or decompressed (truncated .zst: the rest of that shard);
 *   - a shard with no document.
 * With CORPUS_ON_BAD_SKIP (--on-bad-doc skip) each is passed to the warn callback and skipped;
 * with CORPUS_ON_BAD_FAIL (--on-bad-doc fail, the default of gsae harvest) the reader returns
 * GSAE_EFORMAT (GSAE_EIO for an unreadable shard) with that message.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../src/gsae.h"

enum corpus_on_bad { CORPUS_ON_BAD_FAIL = 0, CORPUS_ON_BAD_SKIP };

struct corpus_config {
    const char *const *shards; /* (n_shards) paths, borrowed for the reader's lifetime */
    int64_t n_shards;
    enum corpus_on_bad on_bad;
    size_t max_line_bytes; /* 0: 64 MiB */
    /* called with each skipped problem (CORPUS_ON_BAD_SKIP); may be NULL */
    void (*warn)(void *ctx, const char *msg);
    void *warn_ctx;
};

/* Where the reader stands: the next document to read is number doc, at line `line` (1-based)
 * of shard `shard`. {0, 0, 1} is the start of the corpus. */
struct corpus_position {
    int64_t doc, shard, line;
};

struct corpus_doc {
    const char *text; /* UTF-8, len bytes, not NUL-terminated; valid until the next call */
    size_t len;
    int64_t index;        /* document number */
    int64_t shard, line;  /* where it came from (line 1 for whole-file documents) */
    const char *set_name; /* meta.pile_set_name, or "" */
};

struct corpus_reader;

/* Open the corpus at position start (NULL: the beginning). Shards before start.shard are not
 * opened; lines before start.line are skipped without parsing. Owns the result: free with
 * corpus_close. Errors: GSAE_EINVAL (no shards, position outside them), GSAE_ENOMEM. */
enum gsae_status corpus_open(const struct corpus_config *cfg, const struct corpus_position *start,
                             struct corpus_reader **out, struct gsae_error *err);

/* Read the next document into *doc; *got is false at the end of the corpus. */
enum gsae_status corpus_next(struct corpus_reader *r, struct corpus_doc *doc, bool *got,
                             struct gsae_error *err);

/* The position of the next document (what a resume passes to corpus_open). */
struct corpus_position corpus_tell(const struct corpus_reader *r);

/* How far the reader is through the corpus, 0..1: shards done plus the compressed bytes read
 * of the current shard over its size, divided by the number of shards. */
double corpus_fraction(const struct corpus_reader *r);

/* Problems skipped so far. */
int64_t corpus_n_skipped(const struct corpus_reader *r);

/* Close the reader (NULL is fine). */
void corpus_close(struct corpus_reader *r);

/* One parsed JSON line; text and set_name point into root. */
struct corpus_line {
    json_t *root;
    const char *text;
    size_t len;
    const char *set_name;
};

/* Parse one JSON line (len bytes, no newline). On error the message says what is wrong
 * (not prefixed with shard/line). corpus_line_free releases root (zeroed struct is fine). */
enum gsae_status corpus_parse_line(const char *line, size_t len, struct corpus_line *out,
                                   struct gsae_error *err);
void corpus_line_free(struct corpus_line *l);

/* Check that buf is valid UTF-8 without NUL; on failure *bad_at is the offending byte's offset. */
bool corpus_utf8_valid(const char *buf, size_t len, size_t *bad_at);

/* Expand a comma-separated list of paths, directories and glob patterns into shard paths:
 * a directory gives its *.jsonl, *.json and *.txt files (plain or .zst/.gz/.xz/.bz2, hidden
 * files left out) sorted by name; a pattern gives its matches sorted (none is an error); a
 * plain path is kept as given. Caller frees with corpus_paths_free. */
enum gsae_status corpus_expand(const char *spec, char ***paths, int64_t *n_paths,
                               struct gsae_error *err);
void corpus_paths_free(char **paths, int64_t n_paths);
