/* test_attrib_nc.c: attribution.nc (io/attrib_nc.h) read back through the netCDF API: the
 * schema's dimensions, the CSR map with its CF ragged-array count, coordinates, token texts,
 * exact values, and the global attributes of each metric (logit_diff's target/baseline/position,
 * answer_logprob's answer span, never both); nothing left at path.tmp; an unwritable path named. */
#include <netcdf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/attrib_nc.h"
#include "../../io/nc_util.h"
#include "../common/check.h"

#define NC_OK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != NC_NOERR) fail_msg("%s: %s", #call, nc_strerror(rc_));                          \
    } while (0)

static char dir[128];

/* 3 positions, 5 features, 4 entries: position 1 has none */
static const int32_t tokens[3] = {2, 651, 17};
static const char *const text[3] = {"<bos>", " The", "[17]"};
static const int64_t row_ptr[4] = {0, 2, 2, 4};
static const int32_t feature[4] = {1, 4, 0, 4};
static const float act[4] = {0.5f, 2, 1e-3f, 3}, attr[4] = {-0.25f, 1.5f, 0, -2};
static const float error_[3] = {0.125f, -0.5f, 0};
static const double total_abs[5] = {0, 0.25, 0, 0, 3.5};
static const int64_t top[2] = {4, 1};

static const struct attrib_nc_map map = {.n_pos = 3,
                                         .d_sae = 5,
                                         .nnz = 4,
                                         .tokens = tokens,
                                         .text = text,
                                         .row_ptr = row_ptr,
                                         .feature = feature,
                                         .act = act,
                                         .attr = attr,
                                         .error = error_,
                                         .total_abs = total_abs,
                                         .top = top,
                                         .n_top = 2};

static void expect_dim(int ncid, const char *path, const char *name, int64_t want)
{
    int64_t n = -1;
    struct gsae_error err = {0};
    assert_int_equal(ncu_dim_len(ncid, path, name, &n, &err), GSAE_OK);
    assert_int_equal(n, want);
}

static long long att_i64(int ncid, const char *name)
{
    long long v = -99;
    NC_OK(nc_get_att_longlong(ncid, NC_GLOBAL, name, &v));
    return v;
}

static void att_text(int ncid, int var, const char *name, const char *want)
{
    char buf[256] = {0};
    size_t len = 0;
    NC_OK(nc_inq_attlen(ncid, var, name, &len));
    assert_true(len < sizeof buf);
    NC_OK(nc_get_att_text(ncid, var, name, buf));
    assert_string_equal(buf, want);
}

/* The variables of attribution.nc as map holds them. */
static void expect_map(int ncid)
{
    int v;
    long long ll[5];
    int ints[4];
    float f[4];
    double d[5];
    NC_OK(nc_inq_varid(ncid, "position", &v));
    NC_OK(nc_get_var_longlong(ncid, v, ll));
    assert_true(ll[0] == 0 && ll[1] == 1 && ll[2] == 2);
    NC_OK(nc_inq_varid(ncid, "feature", &v));
    NC_OK(nc_get_var_longlong(ncid, v, ll));
    for (int i = 0; i < 5; i++)
        assert_int_equal(ll[i], i);
    NC_OK(nc_inq_varid(ncid, "tokens", &v));
    NC_OK(nc_get_var_int(ncid, v, ints));
    assert_memory_equal(ints, tokens, sizeof tokens);
    NC_OK(nc_inq_varid(ncid, "row_ptr", &v));
    NC_OK(nc_get_var_longlong(ncid, v, ll));
    for (int i = 0; i < 4; i++)
        assert_int_equal(ll[i], row_ptr[i]);
    NC_OK(nc_inq_varid(ncid, "entry_count", &v));
    NC_OK(nc_get_var_int(ncid, v, ints));
    assert_true(ints[0] == 2 && ints[1] == 0 && ints[2] == 2);
    att_text(ncid, v, "sample_dimension", "entry");
    NC_OK(nc_inq_varid(ncid, "entry_feature", &v));
    NC_OK(nc_get_var_int(ncid, v, ints));
    assert_memory_equal(ints, feature, sizeof feature);
    NC_OK(nc_inq_varid(ncid, "entry_activation", &v));
    NC_OK(nc_get_var_float(ncid, v, f));
    assert_memory_equal(f, act, sizeof act);
    NC_OK(nc_inq_varid(ncid, "entry_attribution", &v));
    NC_OK(nc_get_var_float(ncid, v, f));
    assert_memory_equal(f, attr, sizeof attr);
    att_text(ncid, v, "units", "1");
    NC_OK(nc_inq_varid(ncid, "error", &v));
    NC_OK(nc_get_var_float(ncid, v, f));
    assert_memory_equal(f, error_, sizeof error_);
    NC_OK(nc_inq_varid(ncid, "total_abs", &v));
    NC_OK(nc_get_var_double(ncid, v, d));
    assert_memory_equal(d, total_abs, sizeof total_abs);
    NC_OK(nc_inq_varid(ncid, "top_feature", &v));
    NC_OK(nc_get_var_longlong(ncid, v, ll));
    assert_true(ll[0] == 4 && ll[1] == 1);
    char *strs[3];
    NC_OK(nc_inq_varid(ncid, "token_text", &v));
    NC_OK(nc_get_var_string(ncid, v, strs));
    for (int i = 0; i < 3; i++)
        assert_string_equal(strs[i], text[i]);
    nc_free_string(3, strs);
}

static void test_logit_diff(void **state)
{
    (void)state;
    struct attrib_nc_meta meta = {.model = "m/dir",
                                  .sae = "s.npz",
                                  .prompt = "p1.json",
                                  .metric = "logit_diff",
                                  .metric_rule = "logit[target] - logit[baseline]",
                                  .layer = 7,
                                  .metric_value = -1.0 / 3.0,
                                  .error_share = 0.0625,
                                  .target = 100,
                                  .baseline = 200,
                                  .position = 2,
                                  .answer_first = -1,
                                  .answer_last = -1};
    char path[512], tmp[600];
    snprintf(path, sizeof path, "%s/attribution.nc", dir);
    struct gsae_error err = {0};
    assert_int_equal(attrib_nc_write(path, &meta, &map, &err), GSAE_OK);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);
    int ncid;
    NC_OK(nc_open(path, NC_NOWRITE, &ncid));
    expect_dim(ncid, path, "position", 3);
    expect_dim(ncid, path, "feature", 5);
    expect_dim(ncid, path, "entry", 4);
    expect_dim(ncid, path, "row", 4);
    expect_dim(ncid, path, "top", 2);
    expect_map(ncid);
    int version = 0;
    NC_OK(nc_get_att_int(ncid, NC_GLOBAL, "schema_version", &version));
    assert_int_equal(version, ATTRIB_NC_SCHEMA_VERSION);
    att_text(ncid, NC_GLOBAL, "hook", "resid_post.7");
    att_text(ncid, NC_GLOBAL, "metric", "logit_diff");
    att_text(ncid, NC_GLOBAL, "prompt", "p1.json");
    att_text(ncid, NC_GLOBAL, "sae", "s.npz");
    assert_int_equal(att_i64(ncid, "layer"), 7);
    assert_int_equal(att_i64(ncid, "target"), 100);
    assert_int_equal(att_i64(ncid, "baseline"), 200);
    assert_int_equal(att_i64(ncid, "position"), 2);
    double x = 0;
    NC_OK(nc_get_att_double(ncid, NC_GLOBAL, "metric_value", &x));
    assert_true(x == -1.0 / 3.0);
    NC_OK(nc_get_att_double(ncid, NC_GLOBAL, "error_share", &x));
    assert_true(x == 0.0625);
    size_t len;
    assert_int_equal(nc_inq_attlen(ncid, NC_GLOBAL, "answer_first", &len), NC_ENOTATT);
    NC_OK(nc_close(ncid));
}

static void test_answer_logprob(void **state)
{
    (void)state;
    struct attrib_nc_meta meta = {.model = "m",
                                  .sae = "s",
                                  .prompt = "p",
                                  .metric = "answer_logprob",
                                  .metric_rule = "sum of log p(answer token)",
                                  .layer = 0,
                                  .target = -1,
                                  .baseline = -1,
                                  .position = -1,
                                  .answer_first = 1,
                                  .answer_last = 2};
    struct attrib_nc_map empty = map;
    const int64_t none_ptr[4] = {0, 0, 0, 0};
    empty.nnz = 0;
    empty.row_ptr = none_ptr;
    empty.n_top = 0;
    char path[512];
    snprintf(path, sizeof path, "%s/answer.nc", dir);
    struct gsae_error err = {0};
    assert_int_equal(attrib_nc_write(path, &meta, &empty, &err), GSAE_OK);
    int ncid, v;
    NC_OK(nc_open(path, NC_NOWRITE, &ncid));
    assert_int_equal(att_i64(ncid, "answer_first"), 1);
    assert_int_equal(att_i64(ncid, "answer_last"), 2);
    size_t len;
    assert_int_equal(nc_inq_attlen(ncid, NC_GLOBAL, "target", &len), NC_ENOTATT);
    att_text(ncid, NC_GLOBAL, "hook", "resid_post.0");
    expect_dim(ncid, path, "entry", 0);
    int counts[3] = {-1, -1, -1};
    NC_OK(nc_inq_varid(ncid, "entry_count", &v));
    NC_OK(nc_get_var_int(ncid, v, counts));
    assert_true(counts[0] == 0 && counts[1] == 0 && counts[2] == 0);
    NC_OK(nc_close(ncid));
    check_error(attrib_nc_write("no-such-dir/a.nc", &meta, &map, &err), GSAE_EIO, &err,
                "no-such-dir/a.nc");
}

static int setup(void **state)
{
    (void)state;
    check_tmpdir(dir, sizeof dir, "attrib-nc");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return check_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logit_diff),
        cmocka_unit_test(test_answer_logprob),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
