/* test_corpus.c: the Pile shards, bad input (skip and fail), truncation, resume positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/corpus.h"
#include "../common/check.h"

struct warnings {
    int n;
    char last[8][512];
};

static void collect(void *ctx, const char *msg)
{
    struct warnings *w = ctx;
    if (w->n < 8) snprintf(w->last[w->n], sizeof w->last[0], "%s", msg);
    w->n++;
}

static char pile[2][1024];

static int64_t count_docs(const char *const *shards, int64_t n, enum corpus_on_bad on_bad,
                          struct warnings *w, enum gsae_status *st, struct gsae_error *err)
{
    struct corpus_config cfg = {shards, n, on_bad, 0, collect, w};
    struct corpus_reader *r = NULL;
    *st = corpus_open(&cfg, NULL, &r, err);
    int64_t docs = 0;
    bool got = true;
    while (*st == GSAE_OK && got) {
        struct corpus_doc d;
        *st = corpus_next(r, &d, &got, err);
        if (*st == GSAE_OK && got) docs++;
    }
    corpus_close(r);
    return docs;
}

static void test_pile_shards(void **state)
{
    (void)state;
    const char *shards[2] = {pile[0], pile[1]};
    struct corpus_config cfg = {shards, 2, CORPUS_ON_BAD_FAIL, 0, NULL, NULL};
    struct corpus_reader *r = NULL;
    struct gsae_error err;
    assert_int_equal(corpus_open(&cfg, NULL, &r, &err), GSAE_OK);
    struct corpus_doc d;
    bool got = false;
    assert_int_equal(corpus_next(r, &d, &got, &err), GSAE_OK);
    assert_true(got);
    assert_int_equal(d.index, 0);
    assert_int_equal(d.line, 1);
    assert_memory_equal(d.text, "2019-06-02  Tom Tromey", 22);
    int64_t n = 1, per_shard[2] = {1, 0};
    struct corpus_position mark = {0, 0, 0};
    char *mark_text = NULL;
    while (1) {
        assert_int_equal(corpus_next(r, &d, &got, &err), GSAE_OK);
        if (!got) break;
        assert_int_equal(d.index, n);
        per_shard[d.shard]++;
        if (n == 450) /* remember a document in the second shard */
            mark_text = strndup(d.text, d.len);
        if (n == 449) mark = corpus_tell(r);
        n++;
    }
    assert_int_equal(n, 800);
    assert_int_equal(per_shard[0], 400);
    assert_int_equal(per_shard[1], 400);
    corpus_close(r);
    /* resume from the position after document 449: document 450 comes next */
    assert_int_equal(mark.doc, 450);
    assert_int_equal(mark.shard, 1);
    assert_int_equal(corpus_open(&cfg, &mark, &r, &err), GSAE_OK);
    assert_int_equal(corpus_next(r, &d, &got, &err), GSAE_OK);
    assert_true(got);
    assert_int_equal(d.index, 450);
    assert_int_equal(d.line, 51);
    assert_int_equal(d.len, strlen(mark_text));
    assert_memory_equal(d.text, mark_text, d.len);
    free(mark_text);
    corpus_close(r);
}

static const char bad_lines[] = "{\"text\": \"one\", \"meta\": {\"pile_set_name\": \"A\"}}\n"
                                "not json at all\n"
                                "{\"meta\": {}}\n"
                                "{\"text\": \"caf\xc3\x28\"}\n"
                                "\n"
                                "{\"text\": 17}\n"
                                "[1, 2]\n"
                                "{\"prompt\": \"two\"}\n"
                                "{\"text\": \"\xed\xa0\x80\"}\n";

static void test_bad_lines(void **state)
{
    (void)state;
    check_write("bad.jsonl", bad_lines, sizeof bad_lines - 1);
    const char *shards[1] = {"bad.jsonl"};
    struct warnings w = {0};
    struct gsae_error err;
    enum gsae_status st;
    assert_int_equal(count_docs(shards, 1, CORPUS_ON_BAD_SKIP, &w, &st, &err), 2);
    assert_int_equal(st, GSAE_OK);
    assert_int_equal(w.n, 6);
    assert_non_null(strstr(w.last[0], "bad.jsonl:2: not JSON"));
    assert_non_null(strstr(w.last[1], "bad.jsonl:3: \"text\" is missing"));
    assert_non_null(strstr(w.last[2], "bad.jsonl:4: invalid UTF-8"));
    assert_non_null(strstr(w.last[3], "bad.jsonl:6: \"text\" is not a string"));
    assert_non_null(strstr(w.last[4], "bad.jsonl:7: not a JSON object"));
    assert_non_null(strstr(w.last[5], "bad.jsonl:9: invalid UTF-8"));
    memset(&w, 0, sizeof w);
    assert_int_equal(count_docs(shards, 1, CORPUS_ON_BAD_FAIL, &w, &st, &err), 1);
    assert_int_equal(st, GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "bad.jsonl:2: not JSON"));
    assert_int_equal(w.n, 0);
}

static void test_truncated_and_empty(void **state)
{
    (void)state;
    /* the first 300 KB of a zstd shard: a truncated stream */
    FILE *f = fopen(pile[0], "rb");
    assert_non_null(f);
    size_t len = 300000;
    char *buf = malloc(len);
    assert_int_equal(fread(buf, 1, len, f), len);
    fclose(f);
    check_write("cut.jsonl.zst", buf, len);
    free(buf);
    check_write("empty.jsonl", "", 0);
    check_write("blank.jsonl.gz", "", 0);
    check_write("doc.txt", "a whole\nfile\n", 13);
    const char *shards[4] = {"cut.jsonl.zst", "empty.jsonl", "doc.txt", pile[1]};
    struct warnings w = {0};
    struct gsae_error err;
    enum gsae_status st;
    int64_t n = count_docs(shards, 4, CORPUS_ON_BAD_SKIP, &w, &st, &err);
    assert_int_equal(st, GSAE_OK);
    assert_true(n > 400 + 1 && n < 800);
    assert_int_equal(w.n, 2);
    assert_non_null(strstr(w.last[0], "cut.jsonl.zst:"));
    assert_non_null(strstr(w.last[1], "empty.jsonl: no document"));
    n = count_docs(shards, 4, CORPUS_ON_BAD_FAIL, &w, &st, &err);
    assert_int_equal(st, GSAE_EIO);
    assert_non_null(strstr(err.msg, "cut.jsonl.zst:"));
    n = count_docs(shards + 1, 1, CORPUS_ON_BAD_FAIL, &w, &st, &err);
    assert_int_equal(st, GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "empty.jsonl: no document"));
    const char *missing[1] = {"no-such-shard.jsonl"};
    n = count_docs(missing, 1, CORPUS_ON_BAD_FAIL, &w, &st, &err);
    assert_int_equal(st, GSAE_EIO);
    assert_non_null(strstr(err.msg, "no-such-shard.jsonl"));
    /* a whole-file document keeps its newlines */
    struct corpus_config cfg = {shards + 2, 1, CORPUS_ON_BAD_FAIL, 0, NULL, NULL};
    struct corpus_reader *r = NULL;
    assert_int_equal(corpus_open(&cfg, NULL, &r, &err), GSAE_OK);
    struct corpus_doc d;
    bool got = false;
    assert_int_equal(corpus_next(r, &d, &got, &err), GSAE_OK);
    assert_true(got);
    assert_int_equal(d.len, 13);
    assert_memory_equal(d.text, "a whole\nfile\n", 13);
    assert_int_equal(corpus_next(r, &d, &got, &err), GSAE_OK);
    assert_false(got);
    corpus_close(r);
}

static void test_long_line_and_expand(void **state)
{
    (void)state;
    const char text[] =
        "{\"text\": \"0123456789012345678901234567890123456789\"}\n{\"text\": \"ok\"}\n";
    check_write("long.jsonl", text, sizeof text - 1);
    const char *shards[1] = {"long.jsonl"};
    struct warnings w = {0};
    struct corpus_config cfg = {shards, 1, CORPUS_ON_BAD_SKIP, 32, collect, &w};
    struct corpus_reader *r = NULL;
    struct gsae_error err;
    assert_int_equal(corpus_open(&cfg, NULL, &r, &err), GSAE_OK);
    struct corpus_doc d;
    bool got = false;
    assert_int_equal(corpus_next(r, &d, &got, &err), GSAE_OK);
    assert_true(got);
    assert_int_equal(d.line, 2);
    assert_int_equal(d.index, 0);
    assert_int_equal(w.n, 1);
    assert_non_null(strstr(w.last[0], "long.jsonl:1: line longer than 32 bytes"));
    corpus_close(r);

    char spec[2200];
    snprintf(spec, sizeof spec, "%s/pile/0?.jsonl.zst,long.jsonl", getenv("TESTDATA"));
    char **paths = NULL;
    int64_t n = 0;
    assert_int_equal(corpus_expand(spec, &paths, &n, &err), GSAE_OK);
    assert_int_equal(n, 3);
    assert_string_equal(paths[0], pile[0]);
    assert_string_equal(paths[1], pile[1]);
    assert_string_equal(paths[2], "long.jsonl");
    corpus_paths_free(paths, n);
    snprintf(spec, sizeof spec, "%s/pile", getenv("TESTDATA"));
    assert_int_equal(corpus_expand(spec, &paths, &n, &err), GSAE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(paths[0], pile[0]);
    assert_string_equal(paths[1], pile[1]);
    corpus_paths_free(paths, n);
    assert_int_equal(corpus_expand("nothing-*.jsonl", &paths, &n, &err), GSAE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nothing-*.jsonl"));
}

int main(void)
{
    const char *td = getenv("TESTDATA");
    if (!td) {
        fprintf(stderr, "TESTDATA is not set (run through tests/run.sh)\n");
        return 1;
    }
    snprintf(pile[0], sizeof pile[0], "%s/pile/00.jsonl.zst", td);
    snprintf(pile[1], sizeof pile[1], "%s/pile/01.jsonl.zst", td);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pile_shards),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_truncated_and_empty),
        cmocka_unit_test(test_long_line_and_expand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
