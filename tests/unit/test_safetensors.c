/* test_safetensors.c: round trips through the writer and reader, and every validation rule of
 * sft_open, each checked for its status and for a one-line message naming file and tensor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../io/safetensors.h"

#define PATH "t.safetensors"

/* Write a file: 8-byte length of header, header, then data_len bytes of 0xab. */
static void write_raw(const char *path, uint64_t declared_len, const char *header, size_t data_len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(declared_len >> (8 * i));
    assert_int_equal(fwrite(len, 1, 8, f), 8);
    assert_int_equal(fwrite(header, 1, strlen(header), f), strlen(header));
    for (size_t i = 0; i < data_len; i++)
        fputc(0xab, f);
    fclose(f);
}

static void write_sft(const char *header, size_t data_len)
{
    write_raw(PATH, strlen(header), header, data_len);
}

/* Open PATH, expect status code, and a one-line message holding each of the NULL-ended
 * substrings. */
static void expect_fail(enum gsae_status code, ...)
{
    struct sft_file f;
    struct gsae_error err = {0};
    enum gsae_status st = sft_open(&f, PATH, &err);
    if (st != code)
        print_error("status %s, expected %s (%s)\n", gsae_status_name(st), gsae_status_name(code),
                    err.msg);
    assert_int_equal(st, code);
    assert_null(strchr(err.msg, '\n'));
    assert_non_null(strstr(err.msg, PATH ": "));
    va_list ap;
    va_start(ap, code);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
        if (!strstr(err.msg, s)) print_error("message '%s' lacks '%s'\n", err.msg, s);
        assert_non_null(strstr(err.msg, s));
    }
    va_end(ap);
    sft_close(&f); /* harmless after a failure */
}

static void test_round_trip(void **state)
{
    (void)state;
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t b[4] = {0x3f80, 0x4000, 0xbf80, 0};
    int64_t c = -7;
    struct sft_item items[] = {
        {"a", {a, GSAE_DTYPE_F32, 2, {2, 3}}},
        {"b.weight", {b, GSAE_DTYPE_BF16, 1, {4}}},
        {"scalar", {&c, GSAE_DTYPE_I64, 0, {0}}},
        {"empty", {NULL, GSAE_DTYPE_F16, 2, {0, 5}}},
    };
    const char *meta[] = {"format", "pt", "note", "round trip"};
    struct gsae_error err = {0};
    assert_int_equal(sft_write(PATH, items, 4, meta, 2, &err), GSAE_OK);
    assert_int_equal(access(PATH ".tmp", F_OK), -1);

    struct sft_file f;
    assert_int_equal(sft_open(&f, PATH, &err), GSAE_OK);
    assert_int_equal(f.n_entries, 4);
    assert_int_equal(f.data_start % 8, 0);
    assert_string_equal(sft_meta(&f, "format"), "pt");
    assert_string_equal(sft_meta(&f, "note"), "round trip");
    assert_null(sft_meta(&f, "missing"));
    assert_null(sft_find(&f, "nope"));
    const struct sft_entry *e = sft_find(&f, "a");
    assert_non_null(e);
    struct gsae_tensor t = sft_view(&f, e);
    assert_int_equal(t.dtype, GSAE_DTYPE_F32);
    assert_int_equal(t.n_dims, 2);
    assert_int_equal(t.shape[0], 2);
    assert_int_equal(t.shape[1], 3);
    assert_memory_equal(t.data, a, sizeof a);
    t = sft_view(&f, sft_find(&f, "b.weight"));
    assert_memory_equal(t.data, b, sizeof b);
    t = sft_view(&f, sft_find(&f, "scalar"));
    assert_int_equal(t.n_dims, 0);
    assert_memory_equal(t.data, &c, sizeof c);
    t = sft_view(&f, sft_find(&f, "empty"));
    assert_int_equal(t.shape[0], 0);
    assert_int_equal(t.shape[1], 5);

    /* the same bytes through the in-memory entry point */
    struct sft_file g;
    assert_int_equal(sft_open_mem(&g, f.map, f.map_size, "mem", &err), GSAE_OK);
    assert_int_equal(g.n_entries, 4);
    assert_memory_equal(sft_view(&g, sft_find(&g, "a")).data, a, sizeof a);
    sft_close(&g);
    sft_close(&f);
    sft_close(&f); /* twice is harmless */
}

/* 600 tensors: every name is found (binary search over the name index). */
static void test_many_lookup(void **state)
{
    (void)state;
    enum { N = 600 };
    static char names[N][32];
    static float vals[N];
    struct sft_item *items = calloc(N, sizeof *items);
    assert_non_null(items);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "model.layers.%d.w", (i * 7919) % N);
        vals[i] = (float)i;
        items[i] = (struct sft_item){names[i], {&vals[i], GSAE_DTYPE_F32, 1, {1}}};
    }
    struct gsae_error err = {0};
    assert_int_equal(sft_write(PATH, items, N, NULL, 0, &err), GSAE_OK);
    struct sft_file f;
    assert_int_equal(sft_open(&f, PATH, &err), GSAE_OK);
    for (int i = 0; i < N; i++) {
        const struct sft_entry *e = sft_find(&f, names[i]);
        assert_non_null(e);
        assert_true(*(const float *)sft_view(&f, e).data == (float)i);
    }
    sft_close(&f);
    free(items);
}

static void test_empty_file_ok(void **state)
{
    (void)state;
    write_sft("{}", 0);
    struct sft_file f;
    struct gsae_error err = {0};
    assert_int_equal(sft_open(&f, PATH, &err), GSAE_OK);
    assert_int_equal(f.n_entries, 0);
    sft_close(&f);
    /* header padded with spaces, as writers do */
    write_sft("{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}      ", 3);
    assert_int_equal(sft_open(&f, PATH, &err), GSAE_OK);
    sft_close(&f);
}

static void test_bounds(void **state)
{
    (void)state;
    FILE *fp = fopen(PATH, "wb");
    fputs("abc", fp);
    fclose(fp);
    expect_fail(GSAE_EFORMAT, "3 bytes", "at least 8", NULL);
    write_raw(PATH, SFT_MAX_HEADER + 1ull, "{}", 0);
    expect_fail(GSAE_EFORMAT, "header length 100000001", "at most 100000000", NULL);
    write_raw(PATH, 1000, "{}", 0);
    expect_fail(GSAE_EFORMAT, "header length 1000", "past the end", NULL);
    write_raw(PATH, UINT64_MAX, "{}", 0);
    expect_fail(GSAE_EFORMAT, "header length", NULL);
    expect_fail(GSAE_EFORMAT, NULL); /* same file again: no state kept */
    unlink(PATH);
    expect_fail(GSAE_ENOTFOUND, "cannot open", NULL);
}

static void test_json_shape(void **state)
{
    (void)state;
    write_sft("{\"a\": ", 0);
    expect_fail(GSAE_EFORMAT, "not valid JSON", "expected a JSON object", NULL);
    write_sft("[1, 2]", 0);
    expect_fail(GSAE_EFORMAT, "JSON array", "expected a JSON object", NULL);
    write_sft("{\"a\": 5}", 0);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "not an object", NULL);
    write_sft("{\"a\": {\"shape\": [1], \"data_offsets\": [0, 1]}}", 1);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "dtype is missing", NULL);
    write_sft("{\"a\": {\"dtype\": \"F8\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "dtype 'F8' is unknown", "BF16", NULL);
    write_sft("{\"a\": {\"dtype\": \"U8\", \"data_offsets\": [0, 1]}}", 1);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "shape is missing", NULL);
    write_sft("{\"a\": {\"dtype\": \"U8\", \"shape\": [-1], \"data_offsets\": [0, 1]}}", 1);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "shape[0]", "non-negative", NULL);
    write_sft("{\"a\": {\"dtype\": \"U8\", \"shape\": [1.0], \"data_offsets\": [0, 1]}}", 1);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "shape[0]", NULL);
    write_sft("{\"a\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], "
              "\"data_offsets\": [0, 1]}}",
              1);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "9 dims", NULL);
    write_sft("{\"a\": {\"dtype\": \"U8\", \"shape\": [1]}}", 1);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "data_offsets is missing", NULL);
    write_sft("{\"a\\nb\": {\"dtype\": \"U8\", \"shape\": [1]}}", 1);
    expect_fail(GSAE_EFORMAT, "tensor 'a?b'", NULL); /* control bytes never reach the message */
}

static void test_offsets(void **state)
{
    (void)state;
    write_sft("{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [2, 1]}}", 2);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "begin > end", NULL);
    write_sft("{\"a\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]}}", 2);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "past the data section", "expected end <= 2", NULL);
    write_sft("{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 8]}}", 8);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "hold 8 bytes, expected 16", "[2, 2]", NULL);
    write_sft("{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, -1]}}", 1);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "negative", NULL);
    write_sft("{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0]}}", 1);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "[begin, end]", NULL);
    write_sft("{\"a\": {\"dtype\": \"F64\", \"shape\": [4611686018427387904, 4611686018427387904],"
              " \"data_offsets\": [0, 0]}}",
              0);
    expect_fail(GSAE_ERANGE, "tensor 'a'", "overflows", NULL);
}

static void test_tiling(void **state)
{
    (void)state;
    /* gap: b starts at 3, a ends at 2 */
    write_sft("{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]},"
              " \"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [3, 5]}}",
              5);
    expect_fail(GSAE_EFORMAT, "tensor 'b'", "gap of 1 bytes", "expected begin 2", NULL);
    /* overlap: b starts inside a */
    write_sft("{\"a\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]},"
              " \"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [2, 4]}}",
              4);
    expect_fail(GSAE_EFORMAT, "tensor 'b'", "overlap tensor 'a'", NULL);
    /* aliasing: both at the same bytes */
    write_sft("{\"a\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]},"
              " \"b\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]}}",
              4);
    expect_fail(GSAE_EFORMAT, "overlap", NULL);
    /* first tensor not at 0 */
    write_sft("{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [1, 3]}}", 3);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "gap", "expected begin 0", NULL);
    /* bytes after the last tensor */
    write_sft("{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 5);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "ends at byte 2", "expected 5", NULL);
    write_sft("{}", 4);
    expect_fail(GSAE_EFORMAT, "no tensors", NULL);
    /* order in the header does not matter, only the offsets */
    write_sft("{\"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [2, 4]},"
              " \"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}}",
              4);
    struct sft_file f;
    assert_int_equal(sft_open(&f, PATH, NULL), GSAE_OK);
    assert_string_equal(f.entries[0].name, "a");
    sft_close(&f);
}

static void test_duplicates_and_metadata(void **state)
{
    (void)state;
    write_sft("{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]},"
              " \"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [2, 4]}}",
              4);
    expect_fail(GSAE_EFORMAT, "tensor 'a'", "appears twice", NULL);
    write_sft("{\"a\": {\"dtype\": \"U8\", \"dtype\": \"U8\", \"shape\": [2], "
              "\"data_offsets\": [0, 2]}}",
              2);
    expect_fail(GSAE_EFORMAT, "'dtype' appears twice", NULL);
    write_sft("{\"__metadata__\": [1]}", 0);
    expect_fail(GSAE_EFORMAT, "__metadata__ is not an object", NULL);
    write_sft("{\"__metadata__\": {\"k\": 1}}", 0);
    expect_fail(GSAE_EFORMAT, "__metadata__ key 'k'", "expected string values", NULL);
}

static void test_writer_errors(void **state)
{
    (void)state;
    float x = 1;
    struct gsae_error err = {0};
    struct sft_item dup[] = {{"a", {&x, GSAE_DTYPE_F32, 1, {1}}},
                             {"a", {&x, GSAE_DTYPE_F32, 1, {1}}}};
    assert_int_equal(sft_write(PATH ".w", dup, 2, NULL, 0, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "tensor 'a'"));
    struct sft_item bad[] = {{"a", {&x, GSAE_DTYPE_INVALID, 1, {1}}}};
    assert_int_equal(sft_write(PATH ".w", bad, 1, NULL, 0, &err), GSAE_EINVAL);
    struct sft_item neg[] = {{"a", {&x, GSAE_DTYPE_F32, 1, {-1}}}};
    assert_int_equal(sft_write(PATH ".w", neg, 1, NULL, 0, &err), GSAE_ERANGE);
    assert_int_equal(access(PATH ".w", F_OK), -1);
    assert_int_equal(access(PATH ".w.tmp", F_OK), -1);

    /* streaming: too many bytes, then too few at commit; nothing is left behind */
    struct sft_item one[] = {{"a", {NULL, GSAE_DTYPE_F32, 1, {2}}}};
    struct sft_writer w;
    assert_int_equal(sft_writer_open(&w, PATH ".w", one, 1, NULL, 0, &err), GSAE_OK);
    float y[3] = {1, 2, 3};
    assert_int_equal(sft_writer_append(&w, y, sizeof y, &err), GSAE_EINVAL);
    assert_int_equal(sft_writer_append(&w, y, sizeof(float), &err), GSAE_OK);
    assert_int_equal(sft_writer_commit(&w, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "4 data bytes written, expected 8"));
    assert_int_equal(access(PATH ".w", F_OK), -1);
    assert_int_equal(access(PATH ".w.tmp", F_OK), -1);
    sft_writer_abort(&w); /* after commit: harmless */

    /* streaming in pieces gives the same file as sft_write */
    assert_int_equal(sft_writer_open(&w, PATH ".w", one, 1, NULL, 0, &err), GSAE_OK);
    assert_int_equal(sft_writer_append(&w, y, 3, &err), GSAE_OK);
    assert_int_equal(sft_writer_append(&w, (char *)y + 3, 5, &err), GSAE_OK);
    assert_int_equal(sft_writer_commit(&w, &err), GSAE_OK);
    struct sft_file f;
    assert_int_equal(sft_open(&f, PATH ".w", &err), GSAE_OK);
    assert_memory_equal(sft_view(&f, sft_find(&f, "a")).data, y, 8);
    sft_close(&f);
    unlink(PATH ".w");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_many_lookup),
        cmocka_unit_test(test_empty_file_ok), cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_json_shape),    cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_tiling),        cmocka_unit_test(test_duplicates_and_metadata),
        cmocka_unit_test(test_writer_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
