/* test_pca_out.c: PCA results (io/pca_out.h): pca.nc read back through the netCDF API (schema
 * version 2 dimensions, variables, attributes and strings, exact doubles), the three CSVs
 * byte for byte (full-precision numbers, RFC 4180 quoting, the id context with '|' around the
 * token and empty slots outside the window), and unwritable paths named in the error. Also
 * io/nc_util's dimension lengths on that file. */
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
#include "../../io/pca_out.h"
#include "../common/check.h"

static char dir[128];

/* 3 rows, 2 components, d = 4, a context of 4 slots with the token at index 1. */
static const double pc[6] = {0.1, -2.5, 1.0 / 3.0, 1e-300, -0.0, 12345.678901234567};
static const int64_t token[3] = {7, 1030, 99999999999LL}, doc[3] = {0, 5, 6}, pos[3] = {-1, 3, 4};
static const int32_t token_id[3] = {2, 651, 17};
static const int32_t context[12] = {-1, 2, 651, 8, 2, 651, 17, -1, 651, 17, 4, 5};
static const double components[8] = {1, 0, 0, 0, 0, 0.6, 0.8, 0};
static const double ev[2] = {2.5, 0.125}, evr[2] = {0.95, 0.05}, mean[4] = {0.5, -1, 2, 0};
static const int64_t features[2] = {17, 400};
static const char *const ttext[3] = {"<bos>", " a,b", "say \"hi\""};
static const char *const ctext[3] = {"|<bos>| a,b", "x|y|\nz", "plain|token|"};

static struct pca_table table(void)
{
    return (struct pca_table){.n_rows = 3,
                              .k = 2,
                              .d = 4,
                              .pc = pc,
                              .token = token,
                              .doc = doc,
                              .pos = pos,
                              .token_id = token_id,
                              .context = context,
                              .context_len = 4,
                              .context_before = 1,
                              .components = components,
                              .explained_variance = ev,
                              .explained_variance_ratio = evr,
                              .mean = mean,
                              .total_variance = 2.75,
                              .source = "/stores/s1",
                              .rows_kind = "features",
                              .features = features,
                              .n_features = 2,
                              .token_text = ttext,
                              .context_text = ctext};
}

static const char *at(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

static void expect_file(const char *path, const char *want)
{
    char *got = check_slurp(path, NULL);
    if (strcmp(got, want) != 0) fail_msg("%s:\n%s\nexpected:\n%s", path, got, want);
    free(got);
}

static void test_csv(void **state)
{
    (void)state;
    struct pca_table t = table();
    struct gsae_error err = {0};
    char path[512];
    assert_int_equal(pca_csv_write(at("ids.csv", path, sizeof path), &t, NULL, &err), GSAE_OK);
    expect_file(path, "row,token,doc,pos,token_id,PC1,PC2,context\n"
                      "0,7,0,-1,2,0.10000000000000001,-2.5,|2|651 8\n"
                      "1,1030,5,3,651,0.33333333333333331,1e-300,2|651|17 \n"
                      "2,99999999999,6,4,17,-0,12345.678901234567,651|17|4 5\n");
    assert_int_equal(pca_csv_write(at("text.csv", path, sizeof path), &t, ctext, &err), GSAE_OK);
    expect_file(path, "row,token,doc,pos,token_id,PC1,PC2,context\n"
                      "0,7,0,-1,2,0.10000000000000001,-2.5,\"|<bos>| a,b\"\n"
                      "1,1030,5,3,651,0.33333333333333331,1e-300,\"x|y|\nz\"\n"
                      "2,99999999999,6,4,17,-0,12345.678901234567,plain|token|\n");
    assert_int_equal(pca_scores_write(at("scores.csv", path, sizeof path), &t, ttext, ctext, &err),
                     GSAE_OK);
    expect_file(path, "token,pc1,pc2,token_id,token_index,context\n"
                      "<bos>,0.10000000000000001,-2.5,2,7,\"|<bos>| a,b\"\n"
                      "\" a,b\",0.33333333333333331,1e-300,651,1030,\"x|y|\nz\"\n"
                      "\"say \"\"hi\"\"\",-0,12345.678901234567,17,99999999999,plain|token|\n");
    assert_int_equal(
        pca_scores_write(at("scores-ids.csv", path, sizeof path), &t, NULL, NULL, &err), GSAE_OK);
    expect_file(path, "token,pc1,pc2,token_id,token_index,context\n"
                      "2,0.10000000000000001,-2.5,2,7,|2|651 8\n"
                      "651,0.33333333333333331,1e-300,651,1030,2|651|17 \n"
                      "17,-0,12345.678901234567,17,99999999999,651|17|4 5\n");
    assert_int_equal(pca_explained_write(at("explained.csv", path, sizeof path), &t, &err),
                     GSAE_OK);
    expect_file(path, "component,explained_variance,explained_variance_ratio\n"
                      "PC1,2.5,0.94999999999999996\n"
                      "PC2,0.125,0.050000000000000003\n");
    check_error(pca_csv_write("no-such-dir/pca.csv", &t, NULL, &err), GSAE_EIO, &err,
                "no-such-dir/pca.csv");
    check_error(pca_scores_write("no-such-dir/s.csv", &t, NULL, NULL, &err), GSAE_EIO, &err,
                "no-such-dir/s.csv");
    check_error(pca_explained_write("no-such-dir/e.csv", &t, &err), GSAE_EIO, &err,
                "no-such-dir/e.csv");
}

#define NC_OK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != NC_NOERR) fail_msg("%s: %s", #call, nc_strerror(rc_));                          \
    } while (0)

static void expect_dim(int ncid, const char *path, const char *name, int64_t want)
{
    int64_t n = -1;
    struct gsae_error err = {0};
    assert_int_equal(ncu_dim_len(ncid, path, name, &n, &err), GSAE_OK);
    assert_int_equal(n, want);
}

/* The variables of pca.nc as table() holds them. */
static void expect_pca_vars(int ncid)
{
    int v;
    double dbl[8];
    NC_OK(nc_inq_varid(ncid, "pc", &v));
    NC_OK(nc_get_var_double(ncid, v, dbl));
    assert_memory_equal(dbl, pc, sizeof pc); /* bit for bit, -0 included */
    NC_OK(nc_inq_varid(ncid, "components", &v));
    NC_OK(nc_get_var_double(ncid, v, dbl));
    assert_memory_equal(dbl, components, sizeof components);
    NC_OK(nc_inq_varid(ncid, "explained_variance_ratio", &v));
    NC_OK(nc_get_var_double(ncid, v, dbl));
    assert_memory_equal(dbl, evr, sizeof evr);
    NC_OK(nc_inq_varid(ncid, "mean", &v));
    NC_OK(nc_get_var_double(ncid, v, dbl));
    assert_memory_equal(dbl, mean, sizeof mean);
    long long ll[3];
    const char *i64[] = {"token", "doc", "pos"};
    const int64_t *want64[] = {token, doc, pos};
    for (int i = 0; i < 3; i++) {
        NC_OK(nc_inq_varid(ncid, i64[i], &v));
        nc_type type;
        NC_OK(nc_inq_vartype(ncid, v, &type));
        assert_int_equal(type, NC_INT64);
        NC_OK(nc_get_var_longlong(ncid, v, ll));
        for (int r = 0; r < 3; r++)
            assert_int_equal(ll[r], want64[i][r]);
    }
    const char *feat[] = {"feature", "features"};
    for (int i = 0; i < 2; i++) {
        NC_OK(nc_inq_varid(ncid, feat[i], &v));
        NC_OK(nc_get_var_longlong(ncid, v, ll));
        assert_int_equal(ll[0], 17);
        assert_int_equal(ll[1], 400);
    }
    int ints[12];
    NC_OK(nc_inq_varid(ncid, "context", &v));
    NC_OK(nc_get_var_int(ncid, v, ints));
    assert_memory_equal(ints, context, sizeof context);
    NC_OK(nc_inq_varid(ncid, "token_id", &v));
    NC_OK(nc_get_var_int(ncid, v, ints));
    assert_memory_equal(ints, token_id, sizeof token_id);
    char text[64] = {0};
    NC_OK(nc_inq_varid(ncid, "pc", &v));
    NC_OK(nc_get_att_text(ncid, v, "units", text));
    assert_string_equal(text, "1");
    char *strs[3];
    NC_OK(nc_inq_varid(ncid, "context_text", &v));
    NC_OK(nc_get_var_string(ncid, v, strs));
    for (int r = 0; r < 3; r++)
        assert_string_equal(strs[r], ctext[r]);
    nc_free_string(3, strs);
    NC_OK(nc_inq_varid(ncid, "token_text", &v));
    NC_OK(nc_get_var_string(ncid, v, strs));
    assert_string_equal(strs[2], "say \"hi\"");
    nc_free_string(3, strs);
}

static void test_netcdf(void **state)
{
    (void)state;
    struct pca_table t = table();
    struct gsae_error err = {0};
    char path[512], tmp[600];
    assert_int_equal(pca_nc_write(at("pca.nc", path, sizeof path), &t, &err), GSAE_OK);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);
    int ncid, v;
    NC_OK(nc_open(path, NC_NOWRITE, &ncid));
    expect_dim(ncid, path, "row", 3);
    expect_dim(ncid, path, "component", 2);
    expect_dim(ncid, path, "d", 4);
    expect_dim(ncid, path, "context_slot", 4);
    expect_dim(ncid, path, "feature", 2);
    int64_t n;
    check_error(ncu_dim_len(ncid, path, "context", &n, &err), GSAE_EFORMAT, &err, path,
                "dimension context");
    expect_pca_vars(ncid);
    char text[64];
    int version = 0;
    NC_OK(nc_get_att_int(ncid, NC_GLOBAL, "schema_version", &version));
    assert_int_equal(version, 2);
    memset(text, 0, sizeof text);
    NC_OK(nc_get_att_text(ncid, NC_GLOBAL, "rows", text));
    assert_string_equal(text, "features");
    memset(text, 0, sizeof text);
    NC_OK(nc_get_att_text(ncid, NC_GLOBAL, "source", text));
    assert_string_equal(text, "/stores/s1");
    long long lv = 0;
    NC_OK(nc_get_att_longlong(ncid, NC_GLOBAL, "n_rows", &lv));
    assert_int_equal(lv, 3);
    NC_OK(nc_get_att_longlong(ncid, NC_GLOBAL, "context_after", &lv));
    assert_int_equal(lv, 2); /* 4 slots, 1 before, the token */
    double tv = 0;
    NC_OK(nc_get_att_double(ncid, NC_GLOBAL, "total_variance", &tv));
    assert_true(tv == 2.75);
    NC_OK(nc_close(ncid));

    /* token rows: no feature dimension, no text variables */
    t.features = NULL;
    t.n_features = 0;
    t.token_text = t.context_text = NULL;
    t.rows_kind = "resid_post";
    assert_int_equal(pca_nc_write(at("tok.nc", path, sizeof path), &t, &err), GSAE_OK);
    NC_OK(nc_open(path, NC_NOWRITE, &ncid));
    assert_int_not_equal(nc_inq_varid(ncid, "token_text", &v), NC_NOERR);
    assert_int_not_equal(nc_inq_varid(ncid, "features", &v), NC_NOERR);
    check_error(ncu_dim_len(ncid, path, "feature", &n, &err), GSAE_EFORMAT, &err, "tok.nc",
                "feature");
    NC_OK(nc_close(ncid));
    check_error(pca_nc_write("no-such-dir/pca.nc", &t, &err), GSAE_EIO, &err, "no-such-dir/pca.nc");
}

static int setup(void **state)
{
    (void)state;
    check_tmpdir(dir, sizeof dir, "pca-out");
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
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_netcdf),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
