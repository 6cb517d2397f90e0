/* test_nc_util.c: io/nc_util's dimension lengths: present (fixed, zero-length and unlimited
 * dimensions), and a missing dimension or a closed file as GSAE_EFORMAT naming file and
 * dimension with netCDF's message. */
#include <netcdf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/nc_util.h"
#include "../common/check.h"

static void test_dim_len(void **state)
{
    (void)state;
    char dir[128], path[256];
    check_tmpdir(dir, sizeof dir, "nc-util");
    snprintf(path, sizeof path, "%s/f.nc", dir);
    int ncid, d[3], v;
    assert_int_equal(nc_create(path, NC_NETCDF4 | NC_CLOBBER, &ncid), NC_NOERR);
    assert_int_equal(nc_def_dim(ncid, "row", 70000, &d[0]), NC_NOERR);
    assert_int_equal(nc_def_dim(ncid, "empty", 0, &d[1]), NC_NOERR);
    assert_int_equal(nc_def_dim(ncid, "grow", NC_UNLIMITED, &d[2]), NC_NOERR);
    assert_int_equal(nc_def_var(ncid, "x", NC_INT, 1, &d[2], &v), NC_NOERR);
    assert_int_equal(nc_enddef(ncid), NC_NOERR);
    const int x[5] = {1, 2, 3, 4, 5};
    size_t start = 0, count = 5;
    assert_int_equal(nc_put_vara_int(ncid, v, &start, &count, x), NC_NOERR);
    struct gsae_error err = {0};
    int64_t n = -1;
    assert_int_equal(ncu_dim_len(ncid, path, "row", &n, &err), GSAE_OK);
    assert_int_equal(n, 70000);
    assert_int_equal(ncu_dim_len(ncid, path, "empty", &n, &err), GSAE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ncu_dim_len(ncid, path, "grow", &n, &err), GSAE_OK);
    assert_int_equal(n, 5);
    n = -1;
    check_error(ncu_dim_len(ncid, path, "rows", &n, &err), GSAE_EFORMAT, &err, path,
                "dimension rows", nc_strerror(NC_EBADDIM));
    assert_int_equal(n, -1); /* untouched on failure */
    assert_int_equal(nc_close(ncid), NC_NOERR);
    check_error(ncu_dim_len(ncid, "closed.nc", "row", &n, &err), GSAE_EFORMAT, &err, "closed.nc",
                "dimension row");
    assert_int_equal(check_rmtree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dim_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
