/* test_tokenizer_load.c: tokenizer.json loading (io/tokenizer_load.h) beyond the reference
 * tokenizer (test_tokenizer.c): files read whole and appended, compression detected from the
 * content whatever the name, a gzip-compressed tokenizer.json with a bos post-processor loading
 * and encoding, and each unsupported or inconsistent field refused naming the file and the
 * field. */
#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/tokenizer_load.h"
#include "../../src/tokenizer.h"
#include "../common/check.h"

/* Write data gzip-compressed (a raw stream, no archive format) to path. */
static void write_gzip(const char *path, const char *data)
{
    struct archive *a = archive_write_new();
    assert_non_null(a);
    assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_set_format_raw(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_size(e, (la_int64_t)strlen(data));
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, data, strlen(data)), (la_ssize_t)strlen(data));
    archive_entry_free(e);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

static void test_read_file(void **state)
{
    (void)state;
    struct tokenizer_text t = {0};
    struct gsae_error err = {0};
    check_write_text("plain.txt", "first\n");
    write_gzip("packed.txt", "second, compressed\n"); /* no .gz: found from the content */
    size_t raw_len;
    char *raw = check_slurp("packed.txt", &raw_len);
    assert_memory_equal(raw, "\x1f\x8b", 2); /* it is gzip on disk */
    free(raw);
    assert_int_equal(tokenizer_read_file("plain.txt", &t, &err), GSAE_OK);
    assert_int_equal(tokenizer_read_file("packed.txt", &t, &err), GSAE_OK); /* appended */
    assert_int_equal(t.len, strlen("first\nsecond, compressed\n"));
    assert_memory_equal(t.data, "first\nsecond, compressed\n", t.len);
    check_write_text("empty.txt", "");
    assert_int_equal(tokenizer_read_file("empty.txt", &t, &err), GSAE_OK);
    assert_int_equal(t.len, strlen("first\nsecond, compressed\n"));
    check_error(tokenizer_read_file("missing.txt", &t, &err), GSAE_EIO, &err, "missing.txt");
    tokenizer_text_free(&t);
}

#define VOCAB        "\"vocab\": {\"<pad>\": 0, \"<bos>\": 1, \"a\": 2, \"b\": 3, \"ab\": 4}"
#define MODEL(extra) "\"model\": {\"type\": \"BPE\", " VOCAB ", \"merges\": [\"a b\"]" extra "}"
#define DECODER                                                                                    \
    "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"ByteFallback\"}, "          \
    "{\"type\": \"Fuse\"}]}"
#define POST(ids)                                                                                  \
    "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "      \
    "{\"id\": \"<bos>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], "     \
    "\"special_tokens\": {\"<bos>\": {\"id\": \"<bos>\", \"ids\": [" ids "], \"tokens\": "         \
    "[\"<bos>\"]}}}"

static void test_load_compressed(void **state)
{
    (void)state;
    write_gzip("tok.json.gz", "{" MODEL("") ", " DECODER ", " POST(
                                  "1") ", \"added_tokens\": "
                                       "[{\"id\": 1, \"content\": \"<bos>\", \"special\": true}]}");
    struct tokenizer tk;
    struct gsae_error err = {0};
    enum gsae_status st = tokenizer_load(&tk, "tok.json.gz", &err);
    if (st != GSAE_OK) fail_msg("%s", err.msg);
    assert_int_equal(tk.n_vocab, 5);
    assert_int_equal(tk.bos_id, 1);
    struct tokenizer_ids ids = {0};
    assert_int_equal(tokenizer_encode(&tk, "abba", 4, true, NULL, &ids, &err), GSAE_OK);
    const int32_t want[] = {1, 4, 3, 2};
    assert_int_equal(ids.n, 4);
    assert_memory_equal(ids.ids, want, sizeof want);
    tokenizer_ids_free(&ids);
    tokenizer_free(&tk);
}

static void expect_refused(const char *json, const char *field)
{
    check_write_text("bad.json", json);
    struct tokenizer tk;
    struct gsae_error err = {0};
    check_error(tokenizer_load(&tk, "bad.json", &err), GSAE_EFORMAT, &err, "bad.json", field);
    tokenizer_free(&tk);
}

static void test_refused(void **state)
{
    (void)state;
    expect_refused("{" MODEL("") ", " DECODER
                                 ", \"added_tokens\": [{\"id\": 1, \"content\": \"<bos>\", "
                                 "\"lstrip\": true}]}",
                   "added_tokens[0].lstrip");
    expect_refused("{" MODEL("") ", " DECODER
                                 ", \"added_tokens\": [{\"id\": 5, \"content\": \"\"}]}",
                   "added_tokens[0].content");
    expect_refused("{" MODEL("") ", " DECODER
                                 ", \"added_tokens\": [{\"id\": 2, \"content\": \"x\"}]}",
                   "added_tokens[0]: id 2 is 'a' in model.vocab");
    expect_refused("{" MODEL(", \"dropout\": 0.1") ", " DECODER "}", "model.dropout");
    expect_refused("{" MODEL(", \"continuing_subword_prefix\": \"##\"") ", " DECODER "}",
                   "model.continuing_subword_prefix");
    expect_refused("{" MODEL(", \"unk_token\": \"<unk>\"") ", " DECODER "}",
                   "model.unk_token '<unk>'");
    expect_refused("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
                   "model.vocab is empty");
    expect_refused("{" MODEL("") ", " DECODER ", \"pre_tokenizer\": {\"type\": \"Whitespace\"}}",
                   "pre_tokenizer");
    expect_refused("{" MODEL("") ", " DECODER ", " POST("7") "}",
                   "post_processor: '<bos>' id 7 out of range");
    expect_refused("{" MODEL("") ", " DECODER
                                 ", \"post_processor\": {\"type\": \"BertProcessing\"}}",
                   "post_processor");
    expect_refused("{" MODEL("") ", \"decoder\": {\"type\": \"Sequence\", \"decoders\": "
                                 "[{\"type\": \"Strip\"}]}}",
                   "decoder.decoders[]");
    expect_refused("{\"model\": {\"type\": \"BPE\", " VOCAB ", \"merges\": [[\"a\"]]}}",
                   "model.merges[0]");
    expect_refused("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}",
                   "model.vocab['a']");
    expect_refused("[]", "bad.json");
    expect_refused("{" MODEL("") "}", "decoder"); /* a decoder is required */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_load_compressed),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
