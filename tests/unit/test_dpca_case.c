/* test_dpca_case.c: PCA rows from a case folder (mpi/dpca_case.h): each rank's contiguous share
 * of the tokens, dense rows of X.npy (f32 and f64) and reconstruction rows of a CSR activation
 * set read back exactly, the shares of all ranks together giving every row once in order, and
 * malformed or missing files rejected naming the file. The functions are local: ranks are
 * simulated by their (rank, size). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/npy.h"
#include "../../mpi/dpca_case.h"
#include "../common/check.h"

static char dir[128];

static void save(const char *sub, const char *name, const void *data, enum gsae_dtype dt,
                 int n_dims, int64_t d0, int64_t d1)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    struct gsae_tensor t = {.data = data, .dtype = dt, .n_dims = n_dims, .shape = {d0, d1}};
    struct gsae_error err = {0};
    assert_int_equal(npy_save(path, &t, &err), GSAE_OK);
}

static const char *sub(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

static void test_share(void **state)
{
    (void)state;
    const int64_t ns[] = {0, 1, 7, 100, 6001};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        for (int size = 1; size <= 5; size++) {
            int64_t next = 0;
            for (int r = 0; r < size; r++) {
                int64_t b, e;
                dpca_share(ns[k], r, size, &b, &e);
                assert_int_equal(b, next); /* contiguous, in rank order */
                assert_true(e >= b);
                assert_true(e - b >= ns[k] / size && e - b <= ns[k] / size + 1); /* balanced */
                next = e;
            }
            assert_int_equal(next, ns[k]);
        }
}

enum { N = 11, DX = 3 };

static void test_dense(void **state)
{
    (void)state;
    float x32[N * DX];
    double x64[N * DX];
    for (int i = 0; i < N * DX; i++) {
        x32[i] = (float)i * 0.5f - 3.25f;
        x64[i] = 1.0 / (i + 1); /* not representable in f32: read without rounding */
    }
    save("d32", "X.npy", x32, GSAE_DTYPE_F32, 2, N, DX);
    save("d64", "X.npy", x64, GSAE_DTYPE_F64, 2, N, DX);
    char path[512];
    for (int which = 0; which < 2; which++)
        for (int size = 1; size <= 4; size++) {
            int64_t next = 0;
            for (int r = 0; r < size; r++) {
                struct dpca_dense_rows dr = {0};
                struct dpca_rows rows;
                struct gsae_error err = {0};
                assert_int_equal(dpca_dense_rows_open(sub(which ? "d64" : "d32", path, sizeof path),
                                                      r, size, &dr, &rows, &err),
                                 GSAE_OK);
                assert_int_equal(rows.d, DX);
                assert_int_equal(dr.first, next);
                double out[N * DX];
                if (rows.n_local > 0)
                    assert_int_equal(rows.read(rows.ctx, 0, rows.n_local, out, &err), GSAE_OK);
                for (int64_t i = 0; i < rows.n_local * DX; i++) {
                    double want = which ? x64[next * DX + i] : (double)x32[next * DX + i];
                    assert_true(out[i] == want);
                }
                /* a read from the middle of the share */
                if (rows.n_local > 1) {
                    assert_int_equal(rows.read(rows.ctx, 1, 1, out, &err), GSAE_OK);
                    assert_true(out[0] == (which ? x64[(next + 1) * DX] : x32[(next + 1) * DX]));
                }
                next += rows.n_local;
                npy_map_close(&dr.x);
                npy_map_close(&dr.x); /* harmless twice */
            }
            assert_int_equal(next, N);
        }
}

static void expect_dense_error(const char *name, enum gsae_status code, const char *needle)
{
    struct dpca_dense_rows dr = {0};
    struct dpca_rows rows;
    struct gsae_error err = {0};
    char path[512];
    check_error(dpca_dense_rows_open(sub(name, path, sizeof path), 0, 1, &dr, &rows, &err), code,
                &err, "X.npy", needle);
    npy_map_close(&dr.x);
}

static void test_dense_errors(void **state)
{
    (void)state;
    const int32_t ints[6] = {1, 2, 3, 4, 5, 6};
    const float vec[6] = {1, 2, 3, 4, 5, 6};
    save("ints", "X.npy", ints, GSAE_DTYPE_I32, 2, 2, 3);
    save("vec", "X.npy", vec, GSAE_DTYPE_F32, 1, 6, 0);
    char path[512];
    sub("text", path, sizeof path);
    mkdir(path, 0755);
    check_write_text(sub("text/X.npy", path, sizeof path), "x,y\n1,2\n");
    sub("empty", path, sizeof path);
    mkdir(path, 0755);
    check_write_text(sub("empty/X.npy", path, sizeof path), "");
    expect_dense_error("none", GSAE_ENOTFOUND, "none/X.npy");
    expect_dense_error("ints", GSAE_EFORMAT, "I32");
    expect_dense_error("vec", GSAE_EFORMAT, "1 dims");
    expect_dense_error("text", GSAE_EFORMAT, "magic");
    expect_dense_error("empty", GSAE_EIO, "empty");
}

/* 8 tokens, d_sae 5, d_model 2. Token t's activations (feature: value):
 *   0: 1:0.5  3:2       1: 0:1            2: (none)        3: 3:-1
 *   4: 1:1 3:-1 (sum 0) 5: 1:0.25 4:9     6: 3:4           7: 1:1 3:1      */
static const int64_t indptr[9] = {0, 2, 3, 3, 4, 6, 8, 9, 11};
static const int32_t indices[11] = {1, 3, 0, 3, 1, 3, 1, 4, 3, 1, 3};
static const float values[11] = {0.5f, 2, 1, -1, 1, -1, 0.25f, 9, 4, 1, 1};
static const float w_dec[5 * 2] = {1, 0, 10, 20, 7, 7, 100, 1000, 5, 5};

static void write_recon(const char *name)
{
    save(name, "acts_indptr.npy", indptr, GSAE_DTYPE_I64, 1, 9, 0);
    save(name, "acts_indices.npy", indices, GSAE_DTYPE_I32, 1, 11, 0);
    save(name, "acts_values.npy", values, GSAE_DTYPE_F32, 1, 11, 0);
    save(name, "W_dec.npy", w_dec, GSAE_DTYPE_F32, 2, 5, 2);
}

static void test_recon(void **state)
{
    (void)state;
    write_recon("rc");
    /* the list {1, 3} fires (sum of its activations > 0) on tokens 0, 5, 6, 7 */
    const int64_t fired[4] = {0, 5, 6, 7};
    const double want[4][2] = {{0.5 * 10 + 2 * 100, 0.5 * 20 + 2 * 1000},
                               {0.25 * 10, 0.25 * 20},
                               {4 * 100, 4 * 1000},
                               {10 + 100, 20 + 1000}};
    const int64_t features[2] = {1, 3};
    char path[512];
    for (int size = 1; size <= 3; size++) {
        int64_t next = 0;
        for (int r = 0; r < size; r++) {
            struct dpca_recon_rows rr = {0};
            struct dpca_rows rows;
            struct gsae_error err = {0};
            assert_int_equal(dpca_recon_rows_map(sub("rc", path, sizeof path), &rr, &err), GSAE_OK);
            assert_int_equal(rr.w_dec.a.shape[0], 5);
            assert_int_equal(dpca_recon_rows_select(&rr, features, 2, r, size, &rows, &err),
                             GSAE_OK);
            assert_int_equal(rows.d, 2);
            double out[8 * 2];
            if (rows.n_local) assert_int_equal(rows.read(rows.ctx, 0, rows.n_local, out, &err), 0);
            for (int64_t i = 0; i < rows.n_local; i++) {
                assert_true(next + i < 4);
                assert_int_equal(rr.fired[i], fired[next + i]);
                for (int c = 0; c < 2; c++)
                    assert_true(check_close(out[i * 2 + c], want[next + i][c], 1e-12, 0));
            }
            next += rows.n_local;
            dpca_recon_rows_free(&rr);
            dpca_recon_rows_free(&rr); /* harmless twice */
        }
        assert_int_equal(next, 4);
    }
}

static void expect_recon_error(const char *name, const int64_t *features, int64_t n_features,
                               enum gsae_status code, const char *needle, const char *needle2)
{
    struct dpca_recon_rows rr = {0};
    struct dpca_rows rows;
    struct gsae_error err = {0};
    char path[512];
    enum gsae_status st = dpca_recon_rows_map(sub(name, path, sizeof path), &rr, &err);
    if (st == GSAE_OK) st = dpca_recon_rows_select(&rr, features, n_features, 0, 1, &rows, &err);
    check_error(st, code, &err, needle, needle2);
    dpca_recon_rows_free(&rr);
}

static void test_recon_errors(void **state)
{
    (void)state;
    const int64_t ok[1] = {3}, out_of_range[2] = {3, 5}, negative[1] = {-1};
    write_recon("re");
    expect_recon_error("re", out_of_range, 2, GSAE_EINVAL, "feature 5", "W_dec.npy has 5");
    expect_recon_error("re", negative, 1, GSAE_EINVAL, "feature -1", "out of range");
    expect_recon_error("re", ok, 0, GSAE_EINVAL, "0 features", "1..");
    /* acts_indptr decreasing */
    int64_t bad_ptr[9];
    memcpy(bad_ptr, indptr, sizeof bad_ptr);
    bad_ptr[4] = 2;
    write_recon("dec");
    save("dec", "acts_indptr.npy", bad_ptr, GSAE_DTYPE_I64, 1, 9, 0);
    expect_recon_error("dec", ok, 1, GSAE_EFORMAT, "acts_indptr.npy", "entries 3..4 are 3, 2");
    /* past nnz */
    memcpy(bad_ptr, indptr, sizeof bad_ptr);
    bad_ptr[8] = 12;
    write_recon("past");
    save("past", "acts_indptr.npy", bad_ptr, GSAE_DTYPE_I64, 1, 9, 0);
    expect_recon_error("past", ok, 1, GSAE_EFORMAT, "acts_indptr.npy", "[0, 11]");
    /* wrong types and sizes */
    write_recon("i64");
    const int64_t wide[11] = {0};
    save("i64", "acts_indices.npy", wide, GSAE_DTYPE_I64, 1, 11, 0);
    expect_recon_error("i64", ok, 1, GSAE_EFORMAT, "acts_indices.npy", "I64");
    write_recon("short");
    save("short", "acts_values.npy", values, GSAE_DTYPE_F32, 1, 10, 0);
    expect_recon_error("short", ok, 1, GSAE_EFORMAT, "acts_values.npy", "10");
    write_recon("empty");
    save("empty", "acts_indptr.npy", indptr, GSAE_DTYPE_I64, 1, 0, 0);
    expect_recon_error("empty", ok, 1, GSAE_EFORMAT, "acts_indptr.npy", "empty");
    write_recon("nowdec");
    char path[512];
    unlink(sub("nowdec/W_dec.npy", path, sizeof path));
    expect_recon_error("nowdec", ok, 1, GSAE_ENOTFOUND, "nowdec/W_dec.npy", "cannot open");
}

static int setup(void **state)
{
    (void)state;
    check_tmpdir(dir, sizeof dir, "dpca-case");
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
        cmocka_unit_test(test_share),        cmocka_unit_test(test_dense),
        cmocka_unit_test(test_dense_errors), cmocka_unit_test(test_recon),
        cmocka_unit_test(test_recon_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
