/* bench_tokenizer.c: how fast the Gemma-2 tokenizer loads and encodes, and how much memory it
 * holds. Self-contained: bench_tokenizer [TESTDATA_DIR] (default $TESTDATA, else tests/data).
 *
 * Prints one "name value unit [target]" line per figure:
 * Times are CPU seconds of the one thread doing the work (wall seconds in parentheses).
 *   load_s        time to load tokenizer.json.zst (decompress + parse + build)   target < 1 s
 *   tables_mb     bytes allocated for the loaded tables (tokenizer_memory_bytes)
 *   rss_delta_mb  resident memory after loading minus before (includes freed-but-kept pages)
 *   encode_mb_s   MB of Pile text per second, one thread, tokenization only      target >= 5
 *   word_1mb_s    one 1 MB document without whitespace (a single BPE word)       target < 1 s
 *   random_1mb_s  one 1 MB document of random lowercase letters (one word)       target < 1 s
 * The Pile shards (pile/NN.jsonl.zst) are decompressed and parsed before the clock starts.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../io/tokenizer_load.h"
#include "../../src/tokenizer.h"

/* CPU time of this thread: the figures are for one core, and the machine may be shared
 * (wall time is printed too). */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double rss_mb(void)
{
    long pages_total = 0, pages_rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages_total, &pages_rss) != 2) pages_rss = 0;
    fclose(f);
    return (double)pages_rss * (double)sysconf(_SC_PAGESIZE) / 1e6;
}

static void die(const struct gsae_error *err)
{
    fprintf(stderr, "bench_tokenizer: %s\n", err->msg);
    exit(1);
}

/* The "text" of every document, with its length (texts may contain NUL). */
struct corpus {
    char **text;
    size_t *len;
    size_t n, cap, bytes;
};

/* Append the documents of a .jsonl(.zst) file. */
static void corpus_add_file(struct corpus *c, const char *path)
{
    struct tokenizer_text file = {0};
    struct gsae_error err = {0};
    if (tokenizer_read_file(path, &file, &err) != GSAE_OK) die(&err);
    for (size_t at = 0; at < file.len;) {
        const char *nl = memchr(file.data + at, '\n', file.len - at);
        size_t end = nl ? (size_t)(nl - file.data) : file.len;
        json_error_t jerr;
        json_t *r = json_loadb(file.data + at, end - at, JSON_ALLOW_NUL, &jerr);
        at = end + 1;
        const json_t *t = json_object_get(r, "text");
        if (json_is_string(t)) {
            if (c->n == c->cap) {
                c->cap = c->cap ? 2 * c->cap : 256;
                c->text = realloc(c->text, c->cap * sizeof *c->text);
                c->len = realloc(c->len, c->cap * sizeof *c->len);
                if (!c->text || !c->len) exit(1);
            }
            size_t n = json_string_length(t);
            c->text[c->n] = malloc(n ? n : 1);
            if (!c->text[c->n]) exit(1);
            memcpy(c->text[c->n], json_string_value(t), n);
            c->len[c->n++] = n;
            c->bytes += n;
        }
        json_decref(r);
    }
    tokenizer_text_free(&file);
}

static double time_one(const struct tokenizer *tk, const char *doc, size_t n, size_t *n_ids)
{
    struct tokenizer_ids ids = {0};
    struct gsae_error err = {0};
    double t0 = now();
    if (tokenizer_encode(tk, doc, n, true, NULL, &ids, &err) != GSAE_OK) die(&err);
    double t = now() - t0;
    *n_ids = ids.n;
    tokenizer_ids_free(&ids);
    return t;
}

/* Load the tokenizer 3 times: best CPU and wall time; memory from the first load. */
static void bench_load(const char *dir, struct tokenizer *tk)
{
    char path[4096];
    struct gsae_error err = {0};
    double load_s = 1e30, load_wall = 1e30, rss0 = 0, rss1 = 0;
    snprintf(path, sizeof path, "%s/tokenizer/gemma2-tokenizer.json.zst", dir);
    for (int rep = 0; rep < 3; rep++) {
        if (rep) tokenizer_free(tk);
        double r0 = rss_mb(), t0 = now(), w0 = wall();
        if (tokenizer_load(tk, path, &err) != GSAE_OK) die(&err);
        double t = now() - t0, w = wall() - w0;
        load_s = t < load_s ? t : load_s;
        load_wall = w < load_wall ? w : load_wall;
        if (rep == 0) rss0 = r0, rss1 = rss_mb();
    }
    printf("load_s        %8.3f s      target < 1   (wall %.3f s)\n", load_s, load_wall);
    printf("tables_mb     %8.1f MB\n", (double)tokenizer_memory_bytes(tk) / 1e6);
    printf("rss_delta_mb  %8.1f MB\n", rss1 - rss0);
}

/* Encode the whole corpus 3 times, each with a fresh work (empty cache): best time. */
static void bench_encode(const struct tokenizer *tk, const struct corpus *c)
{
    struct gsae_error err = {0};
    struct tokenizer_ids ids = {0};
    size_t n_tokens = 0;
    double enc_s = 1e30, enc_wall = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        struct tokenizer_work work = {0};
        n_tokens = 0;
        double t0 = now(), w0 = wall();
        for (size_t i = 0; i < c->n; i++) {
            ids.n = 0;
            if (tokenizer_encode(tk, c->text[i], c->len[i], true, &work, &ids, &err) != GSAE_OK)
                die(&err);
            n_tokens += ids.n;
        }
        double t = now() - t0, w = wall() - w0;
        enc_s = t < enc_s ? t : enc_s;
        enc_wall = w < enc_wall ? w : enc_wall;
        tokenizer_work_free(&work);
    }
    printf("encode_mb_s   %8.2f MB/s   target >= 5  (%zu docs, %.2f MB, %zu tokens, %.3f s, "
           "wall %.3f s)\n",
           (double)c->bytes / 1e6 / enc_s, c->n, (double)c->bytes / 1e6, n_tokens, enc_s, enc_wall);
    tokenizer_ids_free(&ids);
}

/* One 1 MB document without whitespace (the corpus with spaces, tabs and newlines removed),
 * then 1 MB of random lowercase letters: each is a single BPE word. */
static void bench_long_words(const struct tokenizer *tk, const struct corpus *c)
{
    size_t mb = 1000000, k = 0, n_ids;
    char *doc = malloc(mb);
    if (!doc) exit(1);
    for (size_t i = 0; i < c->n && k < mb; i++)
        for (size_t j = 0; j < c->len[i] && k < mb; j++)
            if (!strchr(" \t\n\r", c->text[i][j]) || !c->text[i][j]) doc[k++] = c->text[i][j];
    double word_s = time_one(tk, doc, k, &n_ids);
    printf("word_1mb_s    %8.3f s      target < 1   (%zu bytes, %zu tokens)\n", word_s, k, n_ids);
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < mb; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        doc[i] = (char)('a' + s % 26);
    }
    double rand_s = time_one(tk, doc, mb, &n_ids);
    printf("random_1mb_s  %8.3f s      target < 1   (%zu tokens)\n", rand_s, n_ids);
    free(doc);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : getenv("TESTDATA") ? getenv("TESTDATA") : "tests/data";
    struct tokenizer tk;
    bench_load(dir, &tk);
    struct corpus c = {0};
    char path[4096];
    for (int shard = 0; shard < 2; shard++) {
        snprintf(path, sizeof path, "%s/pile/%02d.jsonl.zst", dir, shard);
        corpus_add_file(&c, path);
    }
    bench_encode(&tk, &c);
    bench_long_words(&tk, &c);
    for (size_t i = 0; i < c.n; i++)
        free(c.text[i]);
    free(c.text);
    free(c.len);
    tokenizer_free(&tk);
    return 0;
}
