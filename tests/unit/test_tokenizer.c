/* test_tokenizer.c: the BPE tokenizer against Hugging Face's reference tokenizations
 * (tests/data/tokenizer/cases.jsonl: ids and decoded text), on a small hand-built vocabulary
 * (merge order, byte fallback, unk, added tokens, decoding rules), and its error paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TESTDATA_GEMMA_TOKENIZER /* before check.h, which includes testdata.h */
#include "../common/check.h"
#include <jansson.h>

#include "../../io/tokenizer_load.h"
#include "../../src/tokenizer.h"

/* Every reference case: ids identical, and decoding them gives the reference text. */
static void test_reference_cases(void **state)
{
    (void)state;
    char path[4096];
    FILE *f = fopen(testdata("tokenizer/cases.jsonl", path, sizeof path), "rb");
    assert_non_null(f);
    struct tokenizer_work work = {0};
    struct tokenizer_ids ids = {0};
    struct tokenizer_text text = {0};
    struct gsae_error err = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int n_cases = 0, n_bad = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t jerr;
        json_t *c = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &jerr);
        assert_non_null(c);
        const json_t *t = json_object_get(c, "text"), *want = json_object_get(c, "ids");
        const json_t *dec = json_object_get(c, "decoded");
        ids.n = 0;
        text.len = 0;
        assert_int_equal(tokenizer_encode(&gemma, json_string_value(t), json_string_length(t),
                                          json_is_true(json_object_get(c, "add_bos")), &work, &ids,
                                          &err),
                         GSAE_OK);
        bool same = ids.n == json_array_size(want);
        for (size_t i = 0; same && i < ids.n; i++)
            same = ids.ids[i] == json_integer_value(json_array_get(want, i));
        assert_int_equal(tokenizer_decode(&gemma, ids.ids, ids.n, true, &text, &err), GSAE_OK);
        bool same_text = text.len == json_string_length(dec) &&
                         memcmp(text.data, json_string_value(dec), text.len) == 0;
        if (!same || !same_text) {
            fprintf(stderr, "case %s: ids %s, decoded %s\n",
                    json_string_value(json_object_get(c, "name")), same ? "ok" : "DIFFER",
                    same_text ? "ok" : "DIFFERS");
            n_bad++;
        }
        n_cases++;
        json_decref(c);
    }
    free(line);
    fclose(f);
    tokenizer_work_free(&work);
    tokenizer_ids_free(&ids);
    tokenizer_text_free(&text);
    assert_true(n_cases >= 100);
    assert_int_equal(n_bad, 0);
}

/* A vocabulary small enough to reason about by hand. */
static void build_toy(struct tokenizer *tk)
{
    static const char *const pieces[] = {"<unk>", "a",   "b",    "ab", "abab", "\xe2\x96\x81",
                                         "aa",    "<x>", "<xy>", "c",  "bc",   "abc"};
    struct gsae_error err = {0};
    int32_t n = 12 + 256;
    assert_int_equal(tokenizer_init(tk, n, &err), GSAE_OK);
    for (int32_t i = 0; i < 12; i++)
        assert_int_equal(tokenizer_set_piece(tk, i, pieces[i], strlen(pieces[i]), &err), GSAE_OK);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        assert_int_equal(tokenizer_set_piece(tk, 12 + b, name, 6, &err), GSAE_OK);
    }
    /* ranks: a a = 0, b c = 1, a b = 2, ab ab = 3, a bc = 4 (never wins: b c and a b come first) */
    assert_int_equal(tokenizer_add_merge(tk, "a", 1, "a", 1, &err), GSAE_OK);
    assert_int_equal(tokenizer_add_merge(tk, "b", 1, "c", 1, &err), GSAE_OK);
    assert_int_equal(tokenizer_add_merge(tk, "a", 1, "b", 1, &err), GSAE_OK);
    assert_int_equal(tokenizer_add_merge(tk, "ab", 2, "ab", 2, &err), GSAE_OK);
    assert_int_equal(tokenizer_add_merge(tk, "a", 1, "bc", 2, &err), GSAE_OK);
    assert_int_equal(tokenizer_mark_added(tk, 7, false, &err), GSAE_OK);
    assert_int_equal(tokenizer_mark_added(tk, 8, true, &err), GSAE_OK);
    assert_int_equal(tokenizer_set_normalizer(tk, " ", 1, "\xe2\x96\x81", 3, &err), GSAE_OK);
    assert_int_equal(tokenizer_set_decoder_replace(tk, "\xe2\x96\x81", 3, " ", 1, &err), GSAE_OK);
    tk->byte_fallback = true;
    tk->fuse_unk = true;
    tk->unk_id = 0;
    assert_int_equal(tokenizer_finish(tk, &err), GSAE_OK);
}

static void expect_ids(const struct tokenizer *tk, const char *text, size_t len,
                       const int32_t *want, size_t n_want)
{
    struct tokenizer_ids ids = {0};
    struct gsae_error err = {0};
    assert_int_equal(tokenizer_encode(tk, text, len, false, NULL, &ids, &err), GSAE_OK);
    assert_int_equal(ids.n, n_want);
    for (size_t i = 0; i < n_want; i++)
        assert_int_equal(ids.ids[i], want[i]);
    tokenizer_ids_free(&ids);
}

#define EXPECT(tk, text, ...)                                                                      \
    do {                                                                                           \
        const int32_t want_[] = {__VA_ARGS__};                                                     \
        expect_ids(tk, text, sizeof(text) - 1, want_, sizeof want_ / sizeof want_[0]);             \
    } while (0)

#define BYTE(b) (12 + (b))

static void test_toy_encode(void **state)
{
    (void)state;
    struct tokenizer tk;
    build_toy(&tk);
    EXPECT(&tk, "abab", 4);
    EXPECT(&tk, "aba", 3, 1);
    EXPECT(&tk, "aaa", 6, 1); /* equal ranks: leftmost first */
    EXPECT(&tk, "abc", 11);   /* b c (rank 1) before a b (rank 2); then a bc (rank 4) */
    EXPECT(&tk, "abcab", 11, 3);
    EXPECT(&tk, "ab ab", 3, 5, 3); /* space -> U+2581, one word, no pre-splitting */
    EXPECT(&tk, "a<xy>b<x>", 1, 8, 2, 7);
    EXPECT(&tk, "<x<xy>", BYTE('<'), BYTE('x'), 8); /* "<x" is no added token */
    EXPECT(&tk, "a\0b", 1, BYTE(0), 2);
    EXPECT(&tk, "\xff\xc3", BYTE(0xff), BYTE(0xc3)); /* invalid UTF-8: byte by byte */
    EXPECT(&tk, "\xc3\xa9", BYTE(0xc3), BYTE(0xa9));
    tk.byte_fallback = false; /* now unknown characters become <unk>, consecutive ones fused */
    EXPECT(&tk, "a<x<xy>yb\xff\xc3", 1, 0, 8, 0, 2, 0);
    tk.fuse_unk = false;
    EXPECT(&tk, "a<x<xy>yb\xff\xc3", 1, 0, 0, 8, 0, 2, 0, 0);
    tokenizer_free(&tk);
}

/* One work (and its word cache) used with two tokenizers in turn gives each one's own ids. */
static void test_work_shared_by_tokenizers(void **state)
{
    (void)state;
    struct tokenizer toy;
    build_toy(&toy);
    struct tokenizer_work work = {0};
    struct tokenizer_ids ids = {0};
    struct gsae_error err = {0};
    for (int round = 0; round < 2; round++) {
        ids.n = 0;
        assert_int_equal(tokenizer_encode(&toy, "ab ab", 5, false, &work, &ids, &err), GSAE_OK);
        assert_int_equal(ids.n, 3);
        assert_int_equal(ids.ids[0], 3);
        assert_int_equal(ids.ids[2], 3);
        ids.n = 0;
        assert_int_equal(tokenizer_encode(&gemma, "ab ab", 5, false, &work, &ids, &err), GSAE_OK);
        assert_int_equal(ids.n, 2);
        assert_int_equal(ids.ids[0], 670); /* "ab", "▁ab" */
    }
    tokenizer_ids_free(&ids);
    tokenizer_work_free(&work);
    tokenizer_free(&toy);
}

static void expect_text(const struct tokenizer *tk, const int32_t *ids, size_t n, bool skip,
                        const char *want, size_t want_len)
{
    struct tokenizer_text out = {0};
    struct gsae_error err = {0};
    assert_int_equal(tokenizer_decode(tk, ids, n, skip, &out, &err), GSAE_OK);
    assert_int_equal(out.len, want_len);
    assert_memory_equal(out.data ? out.data : "", want, want_len);
    tokenizer_text_free(&out);
}

#define EXPECT_TEXT(tk, skip, want, ...)                                                           \
    do {                                                                                           \
        const int32_t ids_[] = {__VA_ARGS__};                                                      \
        expect_text(tk, ids_, sizeof ids_ / sizeof ids_[0], skip, want, sizeof(want) - 1);         \
    } while (0)

static void test_toy_decode(void **state)
{
    (void)state;
    struct tokenizer tk;
    build_toy(&tk);
    EXPECT_TEXT(&tk, true, "ab ab", 3, 5, 3);
    EXPECT_TEXT(&tk, true, "a<x>", 1, 8, 7); /* special <xy> skipped, added <x> kept */
    EXPECT_TEXT(&tk, false, "a<xy><x>", 1, 8, 7);
    EXPECT_TEXT(&tk, true, "\xc3\xa9", BYTE(0xc3), BYTE(0xa9));
    EXPECT_TEXT(&tk, true,
                "\xef\xbf\xbd"
                "a",
                BYTE(0xc3), 1); /* incomplete run: U+FFFD */
    EXPECT_TEXT(&tk, true, "\xef\xbf\xbd\xef\xbf\xbd", BYTE(0x41), BYTE(0xff)); /* whole run */
    EXPECT_TEXT(&tk, true, "a\0b", 1, BYTE(0), 2);

    struct tokenizer_text out = {0};
    struct gsae_error err = {0};
    const int32_t bad[] = {1, 2, 268, 1};
    assert_int_equal(tokenizer_decode(&tk, bad, 4, true, &out, &err), GSAE_ERANGE);
    assert_non_null(strstr(err.msg, "id 268 at index 2"));
    const int32_t negative[] = {-5};
    assert_int_equal(tokenizer_decode(&tk, negative, 1, true, &out, &err), GSAE_ERANGE);
    tokenizer_text_free(&out);
    tokenizer_free(&tk);
}

static void test_build_errors(void **state)
{
    (void)state;
    struct tokenizer tk;
    struct gsae_error err = {0};
    assert_int_equal(tokenizer_init(&tk, 3, &err), GSAE_OK);
    assert_int_equal(tokenizer_set_piece(&tk, 0, "a", 1, &err), GSAE_OK);
    assert_int_equal(tokenizer_set_piece(&tk, 1, "a", 1, &err), GSAE_EFORMAT);
    assert_int_equal(tokenizer_set_piece(&tk, 0, "b", 1, &err), GSAE_EFORMAT);
    assert_int_equal(tokenizer_set_piece(&tk, 3, "c", 1, &err), GSAE_EFORMAT);
    assert_int_equal(tokenizer_set_piece(&tk, 1, "b", 1, &err), GSAE_OK);
    assert_int_equal(tokenizer_add_merge(&tk, "a", 1, "b", 1, &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "'ab' not in the vocabulary"));
    assert_int_equal(tokenizer_finish(&tk, &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "id 2 has no piece"));
    tokenizer_free(&tk);
    tokenizer_free(&tk); /* twice is harmless */
}

static void expect_load_error(const char *json, enum gsae_status code, const char *field)
{
    check_write_text("bad-tokenizer.json", json);
    struct tokenizer tk;
    struct gsae_error err = {0};
    assert_int_equal(tokenizer_load(&tk, "bad-tokenizer.json", &err), code);
    if (!strstr(err.msg, "bad-tokenizer.json") || !strstr(err.msg, field))
        fail_msg("message '%s' should name the file and '%s'", err.msg, field);
    tokenizer_free(&tk);
}

#define MINI_MODEL "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, "

static void test_load_errors(void **state)
{
    (void)state;
    struct tokenizer tk;
    struct gsae_error err = {0};
    assert_int_equal(tokenizer_load(&tk, "no-such-file.json", &err), GSAE_EIO);
    assert_non_null(strstr(err.msg, "no-such-file.json"));
    expect_load_error("{\"model\": ", GSAE_EFORMAT, "line 1");
    expect_load_error("{" MINI_MODEL "\"merges\": [\"a b c\"]}}", GSAE_EFORMAT, "merges[0]");
    expect_load_error("{" MINI_MODEL "\"merges\": [\"b a\"]}}", GSAE_EFORMAT, "merges[0]");
    expect_load_error("{" MINI_MODEL "\"merges\": []}, \"normalizer\": {\"type\": \"NFKC\"}}",
                      GSAE_EFORMAT, "normalizer");
    expect_load_error("{" MINI_MODEL "\"merges\": []}, \"decoder\": {\"type\": \"Fuse\"}}",
                      GSAE_EFORMAT, "decoder");
    expect_load_error(
        "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
        GSAE_EFORMAT, "model.type");
    /* an id far past the number of entries is refused before any table is sized by it */
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1000000000}, "
                      "\"merges\": []}}",
                      GSAE_EFORMAT, "id 1000000000 in model.vocab or added_tokens, but only 1");
    /* an added token repeating a vocab piece: the message names the file and the entry */
    expect_load_error("{" MINI_MODEL "\"merges\": []}, \"added_tokens\": [{\"id\": 3, "
                      "\"content\": \"a\"}]}",
                      GSAE_EFORMAT, "added_tokens[0]: tokenizer: ids 0 and 3 have the same piece");

    /* A minimal valid file, merges as pairs: loads and encodes. */
    check_write_text("mini.json",
                     "{" MINI_MODEL "\"merges\": [[\"a\", \"b\"]]}, \"decoder\": "
                     "{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"ByteFallback\"}, "
                     "{\"type\": \"Fuse\"}]}}");
    assert_int_equal(tokenizer_load(&tk, "mini.json", &err), GSAE_OK);
    EXPECT(&tk, "abba", 2, 1, 0);
    struct tokenizer_ids ids = {0};
    assert_int_equal(tokenizer_encode(&tk, "abc", 3, false, NULL, &ids, &err), GSAE_EINVAL);
    assert_int_equal(tokenizer_encode(&tk, "ab", 2, true, NULL, &ids, &err), GSAE_EINVAL);
    tokenizer_ids_free(&ids);
    tokenizer_free(&tk);
}

/* Gemma specifics beyond the reference cases: the bos id, special flags, long inputs. */
static void test_gemma_properties(void **state)
{
    (void)state;
    assert_int_equal(gemma.n_vocab, 256000);
    assert_int_equal(gemma.bos_id, 2);
    assert_int_equal(gemma.n_added, 249);
    int n_special = 0;
    for (int32_t i = 0; i < gemma.n_vocab; i++)
        n_special += (gemma.flags[i] & TOKENIZER_FLAG_SPECIAL) != 0;
    assert_int_equal(n_special, 6); /* pad eos bos unk start_of_turn end_of_turn */

    /* 200 kB without a space or newline is one BPE word; round trip must be exact. */
    size_t n = 200000;
    char *doc = malloc(n);
    assert_non_null(doc);
    uint64_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        doc[i] = "abcdefghijklmnopqrstuvwxyz.,;ABC0123456789"[(s >> 33) % 42];
    }
    struct tokenizer_ids ids = {0};
    struct tokenizer_text text = {0};
    struct gsae_error err = {0};
    assert_int_equal(tokenizer_encode(&gemma, doc, n, true, NULL, &ids, &err), GSAE_OK);
    assert_true(ids.n > n / 8 && ids.n < n);
    assert_int_equal(tokenizer_decode(&gemma, ids.ids, ids.n, true, &text, &err), GSAE_OK);
    assert_int_equal(text.len, n);
    assert_memory_equal(text.data, doc, n);
    free(doc);
    tokenizer_ids_free(&ids);
    tokenizer_text_free(&text);
}

/* Splitting words before U+2581 and caching pieces is an optimization only: on real text (the
 * Pile shard, 400 documents) it must give exactly the ids of BPE over each whole word. */
static void test_split_and_cache_exact(void **state)
{
    (void)state;
    assert_true(gemma.split_at_norm);
    struct tokenizer whole = gemma; /* shallow copy sharing the tables; not freed */
    whole.split_at_norm = false;
    char path[4096];
    struct tokenizer_text file = {0};
    struct gsae_error err = {0};
    assert_int_equal(
        tokenizer_read_file(testdata("pile/00.jsonl.zst", path, sizeof path), &file, &err),
        GSAE_OK);
    struct tokenizer_work work = {0}, work_whole = {0};
    struct tokenizer_ids a = {0}, b = {0};
    size_t n_docs = 0;
    for (size_t at = 0; at < file.len;) {
        const char *nl = memchr(file.data + at, '\n', file.len - at);
        size_t end = nl ? (size_t)(nl - file.data) : file.len;
        json_error_t jerr;
        json_t *r = json_loadb(file.data + at, end - at, JSON_ALLOW_NUL, &jerr);
        at = end + 1;
        const json_t *t = json_object_get(r, "text");
        if (!json_is_string(t)) {
            json_decref(r);
            continue;
        }
        a.n = b.n = 0;
        assert_int_equal(tokenizer_encode(&gemma, json_string_value(t), json_string_length(t), true,
                                          &work, &a, &err),
                         GSAE_OK);
        assert_int_equal(tokenizer_encode(&whole, json_string_value(t), json_string_length(t), true,
                                          &work_whole, &b, &err),
                         GSAE_OK);
        assert_int_equal(a.n, b.n);
        assert_memory_equal(a.ids, b.ids, a.n * sizeof *a.ids);
        n_docs++;
        json_decref(r);
    }
    assert_int_equal(n_docs, 400);
    tokenizer_text_free(&file);
    tokenizer_work_free(&work);
    tokenizer_work_free(&work_whole);
    tokenizer_ids_free(&a);
    tokenizer_ids_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_cases),
        cmocka_unit_test(test_toy_encode),
        cmocka_unit_test(test_toy_decode),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_gemma_properties),
        cmocka_unit_test(test_split_and_cache_exact),
        cmocka_unit_test(test_work_shared_by_tokenizers),
    };
    return cmocka_run_group_tests(tests, load_gemma, free_gemma);
}
