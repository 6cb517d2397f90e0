/* test_parse.c: the strict integer parsers (gsae_parse_i64/u64/i64_prefix), FNV-1a, mkdir -p. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../io/dirs.h"
#include "../../src/gsae.h"
#include "../../src/hash.h"

static void test_i64(void **state)
{
    (void)state;
    int64_t v = 7;
    assert_true(gsae_parse_i64("42", 0, 100, &v) && v == 42);
    assert_true(gsae_parse_i64("-5", -10, 10, &v) && v == -5);
    assert_true(gsae_parse_i64("9223372036854775807", 0, INT64_MAX, &v) && v == INT64_MAX);
    assert_true(gsae_parse_i64("-9223372036854775808", INT64_MIN, 0, &v) && v == INT64_MIN);
    v = 7;
    const char *bad[] = {"",     "-",   "4x",  " 4",  "4 ",  "+4",
                         "0x10", "1e3", "--1", "101", "-11", "9223372036854775808"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(gsae_parse_i64(bad[i], -10, 100, &v));
    assert_false(gsae_parse_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v));
    assert_false(gsae_parse_i64("-9223372036854775809", INT64_MIN, INT64_MAX, &v));
    assert_int_equal(v, 7); /* untouched on failure */
}

static void test_u64(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_true(gsae_parse_u64("18446744073709551615", &v) && v == UINT64_MAX);
    assert_false(gsae_parse_u64("18446744073709551616", &v));
    assert_false(gsae_parse_u64("-1", &v));
    assert_false(gsae_parse_u64("", &v));
    assert_false(gsae_parse_u64("1,", &v));
}

static void test_prefix(void **state)
{
    (void)state;
    const char *s = "3-17,x", *end = NULL;
    int64_t a = -1, b = -1;
    assert_int_equal(gsae_parse_i64_prefix(s, &end, 0, 100, &a), GSAE_OK);
    assert_true(a == 3 && *end == '-');
    assert_int_equal(gsae_parse_i64_prefix(end, &end, -100, 100, &b), GSAE_OK);
    assert_true(b == -17 && *end == ',');
    const char *x = end + 1;
    assert_int_equal(gsae_parse_i64_prefix(x, &end, 0, 100, &a), GSAE_EINVAL);
    assert_true(end == x && a == 3);
    assert_int_equal(gsae_parse_i64_prefix("101,", &end, 0, 100, &a), GSAE_ERANGE);
    assert_int_equal(gsae_parse_i64_prefix("99999999999999999999", &end, INT64_MIN, INT64_MAX, &a),
                     GSAE_ERANGE);
    assert_int_equal(gsae_parse_i64_prefix("-", &end, -5, 5, &a), GSAE_EINVAL);
    assert_int_equal(a, 3);
}

static void test_fnv(void **state)
{
    (void)state;
    /* published FNV-1a 64 test vectors */
    assert_true(gsae_hash("", 0) == 0xcbf29ce484222325ull);
    assert_true(gsae_hash_str("a") == 0xaf63dc4c8601ec8cull);
    assert_true(gsae_hash_str("foobar") == 0x85944171f73967e8ull);
    assert_true(gsae_hash_update(gsae_hash_str("foo"), "bar", 3) == gsae_hash_str("foobar"));
}

static void test_dirs(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/gsae-dirs-XXXXXX", path[256];
    assert_non_null(mkdtemp(tmpl));
    snprintf(path, sizeof path, "%s/a/b/c", tmpl);
    struct gsae_error err = {0};
    assert_int_equal(dirs_make(path, &err), GSAE_OK);
    assert_int_equal(dirs_make(path, &err), GSAE_OK); /* exists: fine */
    struct stat sb;
    assert_true(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
    snprintf(path, sizeof path, "%s/a/file", tmpl);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(dirs_make(path, &err), GSAE_EIO);
    snprintf(path, sizeof path, "%s/a/file/below", tmpl);
    assert_int_equal(dirs_make(path, &err), GSAE_EIO);
    assert_non_null(strstr(err.msg, "a/file"));
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpl);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_i64), cmocka_unit_test(test_u64),
                                       cmocka_unit_test(test_prefix), cmocka_unit_test(test_fnv),
                                       cmocka_unit_test(test_dirs)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
