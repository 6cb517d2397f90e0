/* test_contrast_csv.c: the CSV files of a cross-prompt contrast (io/contrast_csv.h) byte for
 * byte: prompt columns named without ".json" and quoted as RFC 4180 requires, activations as
 * %.9g and differences and statistics as %.17g (round trips), infinities as inf/-inf, the
 * group column only with a group contrast, and unwritable paths named in the error. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/contrast_csv.h"
#include "../../io/csv.h"
#include "../common/check.h"

static char dir[128];

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

/* 3 prompts, d_sae 3 */
static char n0[] = "e9afcf9a.json", n1[] = "say \"x\", y.json", n2[] = "plain.jsonl";
static struct promptset_item items[3] = {{.name = n0}, {.name = n1}, {.name = n2}};
static const struct promptset ps = {.n = 3, .items = items};
static float acts[9];

static void fill_acts(void)
{
    const float v[9] = {0, 1.0f / 3.0f, 2.5f, 1e-8f, (float)INFINITY, 7, 0.1f, -0.0f, 7};
    memcpy(acts, v, sizeof v);
}

static void test_field(void **state)
{
    (void)state;
    char path[512];
    FILE *f = fopen(at("field.csv", path, sizeof path), "w");
    assert_non_null(f);
    const char *in[] = {"plain", "a,b", "say \"hi\"", "two\nlines", "cr\r", "", "|x|"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        csv_write_field(f, in[i]);
        fputc(';', f);
    }
    fclose(f);
    expect_file(path, "plain;\"a,b\";\"say \"\"hi\"\"\";\"two\nlines\";\"cr\r\";;|x|;");
}

static void test_acts_and_diff(void **state)
{
    (void)state;
    fill_acts();
    char path[512];
    struct gsae_error err = {0};
    assert_int_equal(contrast_csv_acts(at("acts.csv", path, sizeof path), &ps, acts, 3, &err),
                     GSAE_OK);
    expect_file(path, "feature,e9afcf9a,\"say \"\"x\"\", y\",plain.jsonl\n"
                      "0,0,9.99999994e-09,0.100000001\n"
                      "1,0.333333343,inf,-0\n"
                      "2,2.5,7,7\n");
    const int64_t a[2] = {1, 2}, b[2] = {0, 1}, top[4] = {1, 2, 0, 1};
    struct contrast_nc_pairs pairs = {.n = 2, .k = 2, .a = a, .b = b, .top = top};
    assert_int_equal(
        contrast_csv_diff(at("diff.csv", path, sizeof path), acts, 3, &pairs, NULL, &err), GSAE_OK);
    expect_file(path, "feature,1-0,2-1\n"
                      "0,9.9999999392252903e-09,0.09999999149011618\n"
                      "1,inf,-inf\n"
                      "2,4.5,0\n");
    const double group[3] = {0.1, -INFINITY, 1.0 / 3.0};
    assert_int_equal(
        contrast_csv_diff(at("diff2.csv", path, sizeof path), acts, 3, &pairs, group, &err),
        GSAE_OK);
    expect_file(path, "feature,1-0,2-1,success-failure\n"
                      "0,9.9999999392252903e-09,0.09999999149011618,0.10000000000000001\n"
                      "1,inf,-inf,-inf\n"
                      "2,4.5,0,0.33333333333333331\n");
    assert_int_equal(
        contrast_csv_pair_top(at("top.csv", path, sizeof path), &ps, acts, 3, &pairs, &err),
        GSAE_OK);
    expect_file(path, "pair,a,b,name_a,name_b,rank,feature,act_a,act_b,diff\n"
                      "1-0,1,0,\"say \"\"x\"\", y\",e9afcf9a,1,1,inf,0.333333343,inf\n"
                      "1-0,1,0,\"say \"\"x\"\", y\",e9afcf9a,2,2,7,2.5,4.5\n"
                      "2-1,2,1,plain.jsonl,\"say \"\"x\"\", y\",1,0,0.100000001,9.99999994e-09,"
                      "0.09999999149011618\n"
                      "2-1,2,1,plain.jsonl,\"say \"\"x\"\", y\",2,1,-0,inf,-inf\n");
}

static void test_group_top(void **state)
{
    (void)state;
    double ma[3] = {1, 2, 3}, mb[3] = {0.5, 2, 1}, diff[3] = {0.5, 0, 2}, d[3] = {0.1, 0, 1.0 / 3},
           g[3] = {0.09, 0, 0.3}, p[3] = {0.001, 1, 0.5}, q[3] = {0.003, 1, 0.75};
    struct stats_contrast s = {
        .mean_a = ma, .mean_b = mb, .diff = diff, .cohens_d = d, .hedges_g = g};
    const int64_t top[2] = {2, 0};
    struct contrast_nc_group grp = {
        .present = true, .stats = &s, .p = p, .q = q, .n_top = 2, .top = top};
    char path[512];
    struct gsae_error err = {0};
    assert_int_equal(contrast_csv_group_top(at("group.csv", path, sizeof path), &grp, &err),
                     GSAE_OK);
    expect_file(
        path,
        "rank,feature,mean_success,mean_failure,diff,cohens_d,hedges_g,p_perm,q_bh\n"
        "1,2,3,1,2,0.33333333333333331,0.29999999999999999,0.5,0.75\n"
        "2,0,1,0.5,0.5,0.10000000000000001,0.089999999999999997,0.001,0.0030000000000000001\n");
    check_error(contrast_csv_group_top("no-such-dir/g.csv", &grp, &err), GSAE_EIO, &err,
                "no-such-dir/g.csv");
    check_error(contrast_csv_acts("no-such-dir/a.csv", &ps, acts, 3, &err), GSAE_EIO, &err,
                "no-such-dir/a.csv");
}

static int setup(void **state)
{
    (void)state;
    check_tmpdir(dir, sizeof dir, "contrast-csv");
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
        cmocka_unit_test(test_field),
        cmocka_unit_test(test_acts_and_diff),
        cmocka_unit_test(test_group_top),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
