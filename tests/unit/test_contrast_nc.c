/* test_contrast_nc.c: contrast.nc (io/contrast_nc.h) read back through the netCDF API: the
 * schema's dimensions (pair and group_top only when present), the prompts' metadata (NaN
 * confidence, last token, -1 without tokens), dense activations and pair tops bit for bit, the
 * group statistics and their attributes only with a group contrast; nothing left at path.tmp;
 * an unwritable path named. */
#include <math.h>
#include <netcdf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/contrast_nc.h"
#include "../../io/nc_util.h"
#include "../common/check.h"

#define NC_OK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != NC_NOERR) fail_msg("%s: %s", #call, nc_strerror(rc_));                          \
    } while (0)

enum { P = 3, F = 4 };

static char dir[128];
static char n0[] = "a.json", n1[] = "b \"q\".json", n2[] = "c";
static int32_t t0[3] = {2, 10, 11}, t1[1] = {2};
static struct promptset_item items[P] = {
    {.name = n0,
     .n_chars = 12,
     .label = 1,
     .confidence = 0.75,
     .len_prompt = 12,
     .tokens = t0,
     .n_tokens = 3},
    {.name = n1,
     .n_chars = 1,
     .label = 0,
     .confidence = NAN,
     .len_prompt = -1,
     .tokens = t1,
     .n_tokens = 1},
    {.name = n2, .n_chars = 0, .label = -1, .confidence = 0, .len_prompt = 0}};
static const struct promptset ps = {.n = P, .items = items};
static const float acts[P * F] = {0, 1, 2.5f, 1e-30f, -0.0f, 3, 0, 7, 0.125f, 0, 0, 1};
static const struct contrast_nc_meta meta = {
    .model = "/models/g", .sae = "/saes/s.npz", .prompts = "tasks/", .layer = 12};

static void expect_dim(int ncid, const char *path, const char *name, int64_t want)
{
    int64_t n = -1;
    struct gsae_error err = {0};
    enum gsae_status st = ncu_dim_len(ncid, path, name, &n, &err);
    if (want < 0) {
        assert_int_equal(st, GSAE_EFORMAT); /* absent */
        return;
    }
    assert_int_equal(st, GSAE_OK);
    assert_int_equal(n, want);
}

static void att_text(int ncid, const char *name, const char *want)
{
    char buf[256] = {0};
    size_t len = 0;
    NC_OK(nc_inq_attlen(ncid, NC_GLOBAL, name, &len));
    assert_true(len < sizeof buf);
    NC_OK(nc_get_att_text(ncid, NC_GLOBAL, name, buf));
    assert_string_equal(buf, want);
}

static long long att_i64(int ncid, const char *name)
{
    long long v = -99;
    NC_OK(nc_get_att_longlong(ncid, NC_GLOBAL, name, &v));
    return v;
}

/* The prompt, feature and pair variables of contrast.nc. */
static void expect_prompts_and_pairs(int ncid, const int64_t *top)
{
    int v;
    long long ll[8];
    int ints[P];
    double d[F];
    NC_OK(nc_inq_varid(ncid, "label", &v));
    NC_OK(nc_get_var_int(ncid, v, ints));
    assert_true(ints[0] == 1 && ints[1] == 0 && ints[2] == -1);
    NC_OK(nc_inq_varid(ncid, "last_token", &v));
    NC_OK(nc_get_var_int(ncid, v, ints));
    assert_true(ints[0] == 11 && ints[1] == 2 && ints[2] == -1);
    NC_OK(nc_inq_varid(ncid, "n_tokens", &v));
    NC_OK(nc_get_var_longlong(ncid, v, ll));
    assert_true(ll[0] == 3 && ll[1] == 1 && ll[2] == 0);
    NC_OK(nc_inq_varid(ncid, "len_prompt", &v));
    NC_OK(nc_get_var_longlong(ncid, v, ll));
    assert_true(ll[0] == 12 && ll[1] == -1 && ll[2] == 0);
    NC_OK(nc_inq_varid(ncid, "n_chars", &v));
    NC_OK(nc_get_var_longlong(ncid, v, ll));
    assert_true(ll[0] == 12 && ll[1] == 1 && ll[2] == 0);
    NC_OK(nc_inq_varid(ncid, "confidence", &v));
    NC_OK(nc_get_var_double(ncid, v, d));
    assert_true(d[0] == 0.75 && isnan(d[1]) && d[2] == 0);
    char *names[P];
    NC_OK(nc_inq_varid(ncid, "name", &v));
    NC_OK(nc_get_var_string(ncid, v, names));
    assert_string_equal(names[1], "b \"q\".json");
    assert_string_equal(names[2], "c");
    nc_free_string(P, names);
    NC_OK(nc_inq_varid(ncid, "feature", &v));
    NC_OK(nc_get_var_longlong(ncid, v, ll));
    assert_true(ll[0] == 0 && ll[3] == 3);
    NC_OK(nc_inq_varid(ncid, "pair_a", &v));
    NC_OK(nc_get_var_longlong(ncid, v, ll));
    assert_true(ll[0] == 0 && ll[1] == 2);
    NC_OK(nc_inq_varid(ncid, "pair_b", &v));
    NC_OK(nc_get_var_longlong(ncid, v, ll));
    assert_true(ll[0] == 1 && ll[1] == 0);
    NC_OK(nc_inq_varid(ncid, "pair_top_feature", &v));
    NC_OK(nc_get_var_longlong(ncid, v, ll));
    for (int i = 0; i < 4; i++)
        assert_int_equal(ll[i], top[i]);
}

static void test_with_group(void **state)
{
    (void)state;
    const int64_t a[2] = {0, 2}, b[2] = {1, 0}, top[4] = {3, 1, 0, 3};
    struct contrast_nc_pairs pairs = {.n = 2, .k = 2, .a = a, .b = b, .top = top};
    double ma[F] = {1, 2, 3, 4}, mb[F] = {0, 2, 1, 8}, diff[F] = {1, 0, 2, -4},
           cd[F] = {INFINITY, 0, 0.5, -1}, hg[F] = {INFINITY, 0, 0.4, -0.9},
           p[F] = {0.01, 1, 0.2, 0.05}, q[F] = {0.04, 1, 0.27, 0.1};
    struct stats_contrast s = {
        .mean_a = ma, .mean_b = mb, .diff = diff, .cohens_d = cd, .hedges_g = hg};
    const int64_t gtop[2] = {3, 2};
    struct contrast_nc_group g = {.present = true,
                                  .stats = &s,
                                  .p = p,
                                  .q = q,
                                  .n_success = 1,
                                  .n_failure = 1,
                                  .n_perm = 1000,
                                  .seed = 0xfedcba9876543210ULL,
                                  .n_top = 2,
                                  .top = gtop};
    char path[512], tmp[600];
    snprintf(path, sizeof path, "%s/contrast.nc", dir);
    struct gsae_error err = {0};
    assert_int_equal(contrast_nc_write(path, &meta, &ps, acts, F, &pairs, &g, &err), GSAE_OK);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);
    int ncid, v;
    NC_OK(nc_open(path, NC_NOWRITE, &ncid));
    expect_dim(ncid, path, "prompt", P);
    expect_dim(ncid, path, "feature", F);
    expect_dim(ncid, path, "pair", 2);
    expect_dim(ncid, path, "pair_top", 2);
    expect_dim(ncid, path, "group_top", 2);
    float fl[P * F];
    NC_OK(nc_inq_varid(ncid, "acts", &v));
    NC_OK(nc_get_var_float(ncid, v, fl));
    assert_memory_equal(fl, acts, sizeof acts);
    expect_prompts_and_pairs(ncid, top);
    long long ll[2];
    double d[F];
    const char *stat[] = {"mean_success", "mean_failure", "diff", "cohens_d",
                          "hedges_g",     "p_perm",       "q_bh"};
    const double *want[] = {ma, mb, diff, cd, hg, p, q};
    for (int k = 0; k < 7; k++) {
        NC_OK(nc_inq_varid(ncid, stat[k], &v));
        NC_OK(nc_get_var_double(ncid, v, d));
        assert_memory_equal(d, want[k], sizeof d);
    }
    NC_OK(nc_inq_varid(ncid, "group_top_feature", &v));
    NC_OK(nc_get_var_longlong(ncid, v, ll));
    assert_true(ll[0] == 3 && ll[1] == 2);
    int iv = -1;
    NC_OK(nc_get_att_int(ncid, NC_GLOBAL, "schema_version", &iv));
    assert_int_equal(iv, CONTRAST_NC_SCHEMA_VERSION);
    NC_OK(nc_get_att_int(ncid, NC_GLOBAL, "group_contrast", &iv));
    assert_int_equal(iv, 1);
    att_text(ncid, "hook", "resid_post.12");
    att_text(ncid, "position", "last token");
    att_text(ncid, "model", "/models/g");
    att_text(ncid, "prompts", "tasks/");
    att_text(ncid, "group_a", "success");
    att_text(ncid, "group_b", "failure");
    assert_int_equal(att_i64(ncid, "layer"), 12);
    assert_int_equal(att_i64(ncid, "n_permutations"), 1000);
    unsigned long long seed = 0;
    NC_OK(nc_get_att_ulonglong(ncid, NC_GLOBAL, "permutation_seed", &seed));
    assert_true(seed == 0xfedcba9876543210ULL);
    NC_OK(nc_close(ncid));
}

static void test_without_group_or_pairs(void **state)
{
    (void)state;
    struct contrast_nc_pairs pairs = {.n = 0, .k = 0};
    struct contrast_nc_group g = {.present = false, .n_success = 1, .n_failure = 1};
    char path[512];
    snprintf(path, sizeof path, "%s/plain.nc", dir);
    struct gsae_error err = {0};
    assert_int_equal(contrast_nc_write(path, &meta, &ps, acts, F, &pairs, &g, &err), GSAE_OK);
    int ncid, v;
    NC_OK(nc_open(path, NC_NOWRITE, &ncid));
    expect_dim(ncid, path, "prompt", P);
    expect_dim(ncid, path, "pair", -1);
    expect_dim(ncid, path, "group_top", -1);
    assert_int_not_equal(nc_inq_varid(ncid, "pair_a", &v), NC_NOERR);
    assert_int_not_equal(nc_inq_varid(ncid, "q_bh", &v), NC_NOERR);
    int on = -1;
    NC_OK(nc_get_att_int(ncid, NC_GLOBAL, "group_contrast", &on));
    assert_int_equal(on, 0);
    size_t len;
    assert_int_equal(nc_inq_attlen(ncid, NC_GLOBAL, "permutation_seed", &len), NC_ENOTATT);
    float fl[P * F];
    NC_OK(nc_inq_varid(ncid, "acts", &v));
    NC_OK(nc_get_var_float(ncid, v, fl));
    assert_memory_equal(fl, acts, sizeof acts);
    NC_OK(nc_close(ncid));
    check_error(contrast_nc_write("no-such-dir/c.nc", &meta, &ps, acts, F, &pairs, &g, &err),
                GSAE_EIO, &err, "no-such-dir/c.nc");
}

static int setup(void **state)
{
    (void)state;
    check_tmpdir(dir, sizeof dir, "contrast-nc");
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
        cmocka_unit_test(test_with_group),
        cmocka_unit_test(test_without_group_or_pairs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
