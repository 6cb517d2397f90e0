/* test_manifest.c: the store manifest: the sorted part list and resume points, save/load round
 * trips, the documented JSON layout, and malformed manifests rejected naming file and field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/manifest.h"
#include "../common/check.h"

static struct manifest_part part(int64_t index, int64_t n_windows, uint64_t checksum)
{
    struct manifest_part p = {0};
    p.info.index = index;
    p.info.first_window = index * 64;
    p.info.n_windows = n_windows;
    p.info.n_tokens = n_windows * 1024;
    p.info.nnz = 1000 + index;
    p.info.checksum = checksum;
    snprintf(p.info.file, sizeof p.info.file, "part-%05lld.nc", (long long)index);
    p.end = (struct manifest_state){
        .doc = 10 * index + 7, .offset = index, .shard = index / 2, .line = 10 * index + 8};
    return p;
}

static void assert_part_equal(const struct manifest_part *a, const struct manifest_part *b)
{
    assert_int_equal(a->info.index, b->info.index);
    assert_int_equal(a->info.first_window, b->info.first_window);
    assert_int_equal(a->info.n_windows, b->info.n_windows);
    assert_int_equal(a->info.n_tokens, b->info.n_tokens);
    assert_int_equal(a->info.nnz, b->info.nnz);
    assert_true(a->info.checksum == b->info.checksum);
    assert_string_equal(a->info.file, b->info.file);
    assert_memory_equal(&a->end, &b->end, sizeof a->end);
}

static void test_parts(void **state)
{
    (void)state;
    struct manifest m;
    struct gsae_error err = {0};
    manifest_init(&m, "abc", 1024, 64);
    assert_string_equal(m.job_hash, "abc");
    assert_false(m.complete);
    assert_int_equal(m.n_parts_total, -1);
    assert_int_equal(manifest_first_missing(&m), 0);
    /* part 0 starts at the corpus start: document 0, offset 0, shard 0, line 1 */
    struct manifest_state s0 = manifest_start_of(&m, 0);
    assert_int_equal(s0.doc, 0);
    assert_int_equal(s0.offset, 0);
    assert_int_equal(s0.shard, 0);
    assert_int_equal(s0.line, 1);
    /* added out of order (more than the first allocation holds), kept sorted */
    for (int64_t i = 99; i >= 0; i--)
        if (i != 3) {
            struct manifest_part p = part(i, 64, (uint64_t)i);
            assert_int_equal(manifest_add(&m, &p, &err), GSAE_OK);
        }
    assert_int_equal(m.n_parts, 99);
    for (int64_t i = 1; i < m.n_parts; i++)
        assert_true(m.parts[i - 1].info.index < m.parts[i].info.index);
    assert_int_equal(manifest_first_missing(&m), 3);
    assert_null(manifest_find(&m, 3));
    assert_null(manifest_find(&m, 100));
    assert_null(manifest_find(&m, -1));
    assert_int_equal(manifest_find(&m, 57)->info.index, 57);
    /* part q starts where part q - 1 ended */
    struct manifest_state s = manifest_start_of(&m, 58);
    assert_int_equal(s.doc, 577);
    assert_int_equal(s.line, 578);
    /* replacing keeps one entry per index */
    struct manifest_part p = part(57, 12, 0xfeedULL);
    assert_int_equal(manifest_add(&m, &p, &err), GSAE_OK);
    assert_int_equal(m.n_parts, 99);
    assert_int_equal(manifest_find(&m, 57)->info.n_windows, 12);
    p = part(3, 64, 3);
    assert_int_equal(manifest_add(&m, &p, &err), GSAE_OK);
    assert_int_equal(manifest_first_missing(&m), 100);
    manifest_free(&m);
    assert_null(m.parts);
    manifest_free(&m); /* harmless twice */
}

static void test_round_trip(void **state)
{
    (void)state;
    char dir[128];
    check_tmpdir(dir, sizeof dir, "manifest");
    struct manifest m, back;
    struct gsae_error err = {0};
    manifest_init(&m, "0123456789abcdef0123456789abcdef", 256, 8);
    m.complete = true;
    m.n_parts_total = 3;
    struct manifest_part p[3] = {part(2, 5, 0xfedcba9876543210ULL), part(0, 8, 0),
                                 part(1, 8, 0x8000000000000001ULL)};
    for (int i = 0; i < 3; i++)
        assert_int_equal(manifest_add(&m, &p[i], &err), GSAE_OK);
    assert_int_equal(manifest_save(&m, dir, &err), GSAE_OK);
    assert_int_equal(manifest_load(dir, &back, &err), GSAE_OK);
    assert_string_equal(back.job_hash, m.job_hash);
    assert_int_equal(back.context_size, 256);
    assert_int_equal(back.windows_per_part, 8);
    assert_true(back.complete);
    assert_int_equal(back.n_parts_total, 3);
    assert_int_equal(back.n_parts, 3);
    for (int i = 0; i < 3; i++)
        assert_part_equal(&back.parts[i], &m.parts[i]);
    /* saving again replaces the file whole and leaves nothing else in the directory */
    back.complete = false;
    back.n_parts_total = -1;
    assert_int_equal(manifest_save(&back, dir, &err), GSAE_OK);
    manifest_free(&back);
    assert_int_equal(manifest_load(dir, &back, &err), GSAE_OK);
    assert_false(back.complete);
    assert_int_equal(back.n_parts_total, -1);
    manifest_free(&back);
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.') {
            assert_string_equal(e->d_name, "manifest.json");
            n++;
        }
    closedir(d);
    assert_int_equal(n, 1);
    manifest_free(&m);
    assert_int_equal(check_rmtree(dir), 0);
}

/* The layout manifest.h documents, parts listed out of order. */
static const char *const DOC =
    "{\"format\": \"gsae-store-manifest\", \"schema_version\": 1, \"job_hash\": \"h1\",\n"
    " \"context_size\": 1024, \"windows_per_part\": 64, \"complete\": false,\n"
    " \"n_parts_total\": -1, \"parts\": [\n"
    "  {\"index\": 1, \"file\": \"part-00001.nc\", \"first_window\": 64, \"n_windows\": 3,\n"
    "   \"n_tokens\": 3072, \"nnz\": 99, \"checksum\": \"00000000000000ff\",\n"
    "   \"end\": {\"doc\": 40, \"offset\": 5, \"shard\": 1, \"line\": 2}},\n"
    "  {\"index\": 0, \"file\": \"part-00000.nc\", \"first_window\": 0, \"n_windows\": 64,\n"
    "   \"n_tokens\": 65536, \"nnz\": 123456, \"checksum\": \"0123456789abcdef\",\n"
    "   \"end\": {\"doc\": 17, \"offset\": 90, \"shard\": 0, \"line\": 18}}]}\n";

static void test_documented_layout(void **state)
{
    (void)state;
    struct manifest m;
    struct gsae_error err = {0};
    assert_int_equal(manifest_parse(DOC, strlen(DOC), "doc.json", &m, &err), GSAE_OK);
    assert_string_equal(m.job_hash, "h1");
    assert_int_equal(m.n_parts, 2);
    assert_int_equal(m.parts[0].info.index, 0);
    assert_true(m.parts[0].info.checksum == 0x0123456789abcdefULL);
    assert_int_equal(m.parts[0].info.nnz, 123456);
    assert_int_equal(m.parts[1].info.n_windows, 3); /* a partial part of a stopped harvest */
    struct manifest_state s = manifest_start_of(&m, 1);
    assert_int_equal(s.doc, 17);
    assert_int_equal(s.offset, 90);
    assert_int_equal(s.line, 18);
    assert_int_equal(manifest_first_missing(&m), 2);
    manifest_free(&m);
}

/* DOC with the first occurrence of `from` replaced by `to`. */
static void expect_bad(const char *from, const char *to, const char *needle)
{
    char text[4096];
    const char *at = strstr(DOC, from);
    if (!at) fail_msg("'%s' is not in the manifest text", from);
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - DOC), DOC, to, at + strlen(from));
    struct manifest m;
    struct gsae_error err = {0};
    check_error(manifest_parse(text, strlen(text), "st/manifest.json", &m, &err), GSAE_EFORMAT,
                &err, "st/manifest.json", needle);
    assert_null(m.parts);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_bad("\"complete\": false,", "\"complete\": false", "line 3");
    expect_bad("\"job_hash\": \"h1\",", "", "job_hash");
    expect_bad("\"context_size\": 1024", "\"context_size\": \"1024\"", "context_size");
    expect_bad("gsae-store-manifest", "gsae-store", "gsae-store-manifest");
    expect_bad("\"schema_version\": 1", "\"schema_version\": 2", "schema_version 2");
    expect_bad("\"parts\": [", "\"parts\": 5, \"p\": [", "gsae-store-manifest");
    expect_bad("\"complete\": false", "\"complete\": 0", "complete");
    expect_bad("\"context_size\": 1024", "\"context_size\": 0", "context_size 0");
    expect_bad("\"windows_per_part\": 64", "\"windows_per_part\": -64", "windows_per_part -64");
    expect_bad("\"n_parts_total\": -1", "\"n_parts_total\": -2", "n_parts_total -2");
    expect_bad("\"nnz\": 99,", "", "parts[0]");
    expect_bad("\"nnz\": 99,", "\"nnz\": 99, \"extra\": 1,", "extra");
    expect_bad("\"nnz\": 123456", "\"nnz\": -1", "parts[1]");
    expect_bad("00000000000000ff", "0000000000000ff", "checksum");
    expect_bad("00000000000000ff", "00000000000000fg", "checksum");
    expect_bad("part-00001.nc", "part-00001-with-a-name-too-long-to-keep.nc", "parts[0]");
    expect_bad("\"line\": 2}", "\"line\": 2, \"x\": 0}", "x");
}

static void test_files(void **state)
{
    (void)state;
    struct manifest m;
    struct gsae_error err = {0};
    check_error(manifest_load("no-such-store", &m, &err), GSAE_ENOTFOUND, &err,
                "no-such-store/manifest.json");
    char dir[128];
    check_tmpdir(dir, sizeof dir, "manifest");
    char path[256];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    check_write_text(path, "{\"format\": \"gsae-store-manifest\"");
    check_error(manifest_load(dir, &m, &err), GSAE_EFORMAT, &err, path);
    manifest_init(&m, "h", 8, 1);
    check_error(manifest_save(&m, "no-such-store", &err), GSAE_EIO, &err, "no-such-store");
    manifest_free(&m);
    assert_int_equal(check_rmtree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_documented_layout),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
