/* test_utf8.c: utf8_valid_copy keeps valid UTF-8 and replaces each bad byte by U+FFFD. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/utf8.h"

static void same(const char *in, size_t len, const char *want)
{
    char *got = utf8_valid_copy(in, len);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_utf8(void **state)
{
    (void)state;
    same("plain", 5, "plain");
    same("\xe2\x80\xa6 \xe7\x94\xba \xf0\x9f\x98\x80", 12,
         "\xe2\x80\xa6 \xe7\x94\xba \xf0\x9f\x98\x80");
    same("\xe2", 1, "\xef\xbf\xbd");                                 /* byte-fallback token alone */
    same("a\xe2\x80", 3, "a\xef\xbf\xbd\xef\xbf\xbd");               /* truncated */
    same("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd");                 /* overlong '/' */
    same("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate */
    same("\xf4\x90\x80\x80", 4,
         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* > U+10FFFF */
    same("x\0y", 3, "x\xef\xbf\xbdy");                        /* NUL */
    same("\xff\t\n", 3, "\xef\xbf\xbd\t\n");                  /* controls are valid UTF-8 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_utf8)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
