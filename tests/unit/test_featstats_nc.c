/* test_featstats_nc.c: feature_stats.nc (io/featstats_nc.h): statistics written and read back
 * whole, the file's schema checked by the reader (schema version, a missing or mistyped
 * variable, n_examples past top_k, a negative sum), each refused naming the file and what is
 * wrong; a file without the feature coordinate reads the same. (Accumulating the statistics
 * is test_featstats.c's.) */
#include <netcdf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/featstats_nc.h"
#include "../common/check.h"

#define NC_OK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != NC_NOERR) fail_msg("%s: %s", #call, nc_strerror(rc_));                          \
    } while (0)

enum { S = 5, N = 6 };

/* Statistics of two windows of 6 tokens over 5 features. */
static void make_stats(struct featstats *fs)
{
    struct featstats_config cfg = {.d_sae = S, .top_k = 2, .ctx_before = 1, .ctx_after = 2};
    struct gsae_error err = {0};
    assert_int_equal(featstats_init(fs, &cfg, &err), GSAE_OK);
    const int32_t tokens[N] = {2, 10, 11, 12, 13, 14};
    const int64_t doc[N] = {-1, 4, 4, 4, 5, 5}, pos[N] = {-1, 0, 1, 2, 0, 1};
    const int64_t row_ptr[N + 1] = {0, 1, 3, 3, 5, 6, 8};
    const uint32_t index[8] = {0, 1, 4, 1, 2, 4, 0, 1};
    const float value[8] = {9, 0.5f, 1e-4f, 2.25f, 1, 700, 0.001f, 3};
    featstats_add_window(fs, 0, N, tokens, doc, pos, row_ptr, index, value);
    featstats_add_window(fs, 1, N, tokens, doc, pos, row_ptr, index, value);
}

static void assert_same(const struct featstats *a, const struct featstats *b)
{
    assert_memory_equal(&a->cfg, &b->cfg, sizeof a->cfg);
    assert_int_equal(a->n_tokens, b->n_tokens);
    assert_memory_equal(a->fire_count, b->fire_count, sizeof(int64_t) * S);
    assert_memory_equal(a->sum_hi, b->sum_hi, sizeof(uint64_t) * S);
    assert_memory_equal(a->sum_lo, b->sum_lo, sizeof(uint64_t) * S);
    assert_memory_equal(a->hist, b->hist, sizeof(int64_t) * S * FEATSTATS_HIST_BINS);
    assert_memory_equal(a->top_n, b->top_n, sizeof(int64_t) * S);
    for (int i = 0; i < S * 2; i++) {
        if (i % 2 >= a->top_n[i / 2]) continue; /* past n_examples: not held */
        assert_true(a->top[i].value == b->top[i].value);
        assert_int_equal(a->top[i].doc, b->top[i].doc);
        assert_int_equal(a->top[i].pos, b->top[i].pos);
        assert_int_equal(a->top[i].token, b->top[i].token);
        assert_memory_equal(a->top_ctx + i * 4, b->top_ctx + i * 4, sizeof(int32_t) * 4);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    struct featstats fs, back;
    struct gsae_error err = {0};
    make_stats(&fs);
    assert_true(fs.fire_count[1] == 6 && fs.top_n[3] == 0); /* some fire, one never */
    assert_int_equal(featstats_nc_write("fs.nc", &fs, &err), GSAE_OK);
    assert_int_equal(access("fs.nc.tmp", F_OK), -1);
    assert_int_equal(featstats_nc_read("fs.nc", &back, &err), GSAE_OK);
    assert_same(&fs, &back);
    featstats_free(&back);
    /* the documented layout */
    int ncid, v, version = 0;
    NC_OK(nc_open("fs.nc", NC_NOWRITE, &ncid));
    NC_OK(nc_get_att_int(ncid, NC_GLOBAL, "schema_version", &version));
    assert_int_equal(version, FEATSTATS_NC_SCHEMA_VERSION);
    size_t len;
    int dim;
    NC_OK(nc_inq_dimid(ncid, "context", &dim));
    NC_OK(nc_inq_dimlen(ncid, dim, &len));
    assert_int_equal(len, 4);
    NC_OK(nc_inq_dimid(ncid, "hist_bin", &dim));
    NC_OK(nc_inq_dimlen(ncid, dim, &len));
    assert_int_equal(len, FEATSTATS_HIST_BINS);
    double freq[S];
    NC_OK(nc_inq_varid(ncid, "frequency", &v));
    NC_OK(nc_get_var_double(ncid, v, freq));
    assert_true(freq[1] == 6.0 / (double)fs.n_tokens);
    float maxv[S];
    NC_OK(nc_inq_varid(ncid, "max_value", &v));
    NC_OK(nc_get_var_float(ncid, v, maxv));
    assert_true(maxv[0] == 0.001f && maxv[4] == 700 && maxv[3] == 0); /* <bos> left out */
    NC_OK(nc_close(ncid));
    featstats_free(&fs);
    check_error(featstats_nc_write("no-such-dir/fs.nc", &fs, &err), GSAE_EIO, &err,
                "no-such-dir/fs.nc");
}

/* fs.nc copied to path, then changed by edit (netCDF calls on the open copy). */
static void expect_read(const char *path, void (*edit)(int ncid), enum gsae_status code,
                        const char *needle)
{
    size_t len;
    char *img = check_slurp("fs.nc", &len);
    check_write(path, img, len);
    free(img);
    int ncid;
    NC_OK(nc_open(path, NC_WRITE, &ncid));
    edit(ncid);
    NC_OK(nc_close(ncid));
    struct featstats back;
    struct gsae_error err = {0};
    enum gsae_status st = featstats_nc_read(path, &back, &err);
    if (code == GSAE_OK) {
        if (st != GSAE_OK) fail_msg("%s", err.msg);
        struct featstats fs;
        make_stats(&fs);
        assert_same(&fs, &back);
        featstats_free(&fs);
    } else {
        check_error(st, code, &err, path, needle);
    }
    featstats_free(&back);
}

static void set_version_2(int ncid)
{
    int two = 2;
    NC_OK(nc_redef(ncid));
    NC_OK(nc_put_att_int(ncid, NC_GLOBAL, "schema_version", NC_INT, 1, &two));
    NC_OK(nc_enddef(ncid));
}

static void rename_var(int ncid, const char *from, const char *to)
{
    int v;
    NC_OK(nc_redef(ncid));
    NC_OK(nc_inq_varid(ncid, from, &v));
    NC_OK(nc_rename_var(ncid, v, to));
    NC_OK(nc_enddef(ncid));
}

static void drop_fire_count(int ncid)
{
    rename_var(ncid, "fire_count", "fire_cnt");
}

static void drop_coordinate(int ncid)
{
    rename_var(ncid, "feature", "feature_ids");
}

static void put_one(int ncid, const char *name, size_t at, double value)
{
    int v;
    NC_OK(nc_inq_varid(ncid, name, &v));
    NC_OK(nc_put_var1_double(ncid, v, &at, &value));
}

static void too_many_examples(int ncid)
{
    put_one(ncid, "n_examples", 2, 3);
}

static void negative_sum(int ncid)
{
    put_one(ncid, "act_sum", 4, -1);
}

static void retype_hist(int ncid)
{
    int dims[1], v;
    NC_OK(nc_redef(ncid));
    NC_OK(nc_inq_varid(ncid, "hist", &v));
    NC_OK(nc_rename_var(ncid, v, "hist_old"));
    NC_OK(nc_inq_dimid(ncid, "feature", &dims[0]));
    NC_OK(nc_def_var(ncid, "hist", NC_FLOAT, 1, dims, &v));
    NC_OK(nc_enddef(ncid));
}

static void test_reader_checks(void **state)
{
    (void)state;
    struct featstats fs;
    struct gsae_error err = {0};
    make_stats(&fs);
    assert_int_equal(featstats_nc_write("fs.nc", &fs, &err), GSAE_OK);
    featstats_free(&fs);
    expect_read("v2.nc", set_version_2, GSAE_EFORMAT, "schema_version 2");
    expect_read("nofire.nc", drop_fire_count, GSAE_EFORMAT, "fire_count");
    expect_read("examples.nc", too_many_examples, GSAE_EFORMAT, "feature 2: n_examples 3");
    expect_read("sum.nc", negative_sum, GSAE_EFORMAT, "feature 4");
    expect_read("hist.nc", retype_hist, GSAE_EFORMAT, "variable hist has the wrong type or shape");
    expect_read("nocoord.nc", drop_coordinate, GSAE_OK, NULL);
    check_write_text("text.nc", "not netCDF\n");
    struct featstats back;
    check_error(featstats_nc_read("text.nc", &back, &err), GSAE_EIO, &err, "text.nc");
    featstats_free(&back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_reader_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
