/* test_npy.c: .npy images: round trips of every dtype and rank, NumPy's own layout (v1 header
 * padded to 128 bytes, v2/v3 length fields), and malformed headers rejected naming the
 * problem and the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/npy.h"
#include "../common/check.h"

/* An .npy image: magic, version major, header length field (2 bytes for v1, 4 otherwise), the
 * dict text padded with spaces to pad_to bytes in all (0: no padding) ending in '\n', then the
 * data. Returns a malloc'd buffer of *len bytes. */
static unsigned char *image(unsigned major, const char *dict, size_t pad_to, const void *data,
                            size_t data_len, size_t *len)
{
    size_t pre = major == 1 ? 10 : 12, hlen = strlen(dict) + 1;
    if (pad_to > pre + hlen) hlen = pad_to - pre;
    unsigned char *b = malloc(pre + hlen + data_len + 1);
    assert_non_null(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        b[8 + i] = (unsigned char)(hlen >> (8 * i));
    memset(b + pre, ' ', hlen);
    memcpy(b + pre, dict, strlen(dict));
    b[pre + hlen - 1] = '\n';
    if (data_len) memcpy(b + pre + hlen, data, data_len);
    *len = pre + hlen + data_len;
    return b;
}

static void round_trip(enum gsae_dtype dt, int n_dims, const int64_t *shape)
{
    struct gsae_tensor t = {.dtype = dt, .n_dims = n_dims};
    for (int i = 0; i < n_dims; i++)
        t.shape[i] = shape[i];
    size_t bytes = (size_t)gsae_tensor_numel(&t) * gsae_dtype_size(dt);
    unsigned char *data = malloc(bytes + 1);
    for (size_t i = 0; i < bytes; i++)
        data[i] = (unsigned char)(i * 37 + 11);
    t.data = data;
    void *buf;
    size_t len;
    struct gsae_error err = {0};
    assert_int_equal(npy_serialize(&t, &buf, &len, &err), GSAE_OK);
    /* version 1.0; magic + header a multiple of 64 ending in '\n'; data right after */
    const unsigned char *b = buf;
    assert_memory_equal(b, "\x93NUMPY\x01\x00", 8);
    size_t hdr = 10 + ((size_t)b[8] | (size_t)b[9] << 8);
    assert_int_equal(hdr % 64, 0);
    assert_int_equal(b[hdr - 1], '\n');
    assert_int_equal(len, hdr + bytes);

    struct npy_array a;
    assert_int_equal(npy_parse(buf, len, "rt.npy", &a, &err), GSAE_OK);
    assert_int_equal(a.dtype, dt);
    assert_int_equal(a.n_dims, n_dims);
    for (int i = 0; i < n_dims; i++)
        assert_int_equal(a.shape[i], shape[i]);
    assert_int_equal(a.data_bytes, bytes);
    assert_ptr_equal(a.data, b + hdr); /* borrows the buffer */
    if (bytes) assert_memory_equal(a.data, data, bytes);

    /* the same through a file */
    assert_int_equal(npy_save("rt.npy", &t, &err), GSAE_OK);
    assert_int_equal(access("rt.npy.tmp", F_OK), -1);
    void *fbuf;
    struct npy_array fa;
    assert_int_equal(npy_load("rt.npy", &fbuf, &fa, &err), GSAE_OK);
    assert_int_equal(fa.dtype, dt);
    assert_int_equal(fa.data_bytes, bytes);
    if (bytes) assert_memory_equal(fa.data, data, bytes);
    size_t flen;
    char *disk = check_slurp("rt.npy", &flen);
    assert_int_equal(flen, len);
    assert_memory_equal(disk, buf, len);
    free(disk);
    free(fbuf);
    free(buf);
    free(data);
}

static void test_round_trips(void **state)
{
    (void)state;
    static const enum gsae_dtype all[] = {
        GSAE_DTYPE_F32, GSAE_DTYPE_F64, GSAE_DTYPE_F16, GSAE_DTYPE_I32,
        GSAE_DTYPE_I64, GSAE_DTYPE_I16, GSAE_DTYPE_U16, GSAE_DTYPE_U32,
        GSAE_DTYPE_U64, GSAE_DTYPE_U8,  GSAE_DTYPE_I8,  GSAE_DTYPE_BOOL,
    };
    const int64_t s2[] = {3, 5}, s1[] = {7}, s3[] = {2, 1, 4}, s0[] = {0, 6};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        round_trip(all[i], 2, s2);
        round_trip(all[i], 1, s1);
        round_trip(all[i], 3, s3);
        round_trip(all[i], 2, s0); /* no elements */
        round_trip(all[i], 0, s0); /* a scalar: shape () */
    }
}

/* Images as NumPy 1.24 writes them (header padded to 128 bytes) and as versions 2.0 and 3.0
 * lay them out (4-byte header length); '=' byte order and a double-quoted
 * descr are accepted. */
static void test_numpy_layouts(void **state)
{
    (void)state;
    const float v[6] = {0, 1, 2, 3, 4, 5};
    struct {
        unsigned major;
        const char *dict;
        size_t pad;
        enum gsae_dtype dt;
        int n_dims;
        int64_t d0, d1;
    } cases[] = {
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 128, GSAE_DTYPE_F32, 2,
         2, 3},
        {1, "{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }", 128, GSAE_DTYPE_I32, 1, 6,
         0},
        {2, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 64, GSAE_DTYPE_F32, 2, 3,
         2},
        {3, "{'descr': \"=u2\", 'fortran_order': False, 'shape': (12,)}", 0, GSAE_DTYPE_U16, 1, 12,
         0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        unsigned char *b = image(cases[i].major, cases[i].dict, cases[i].pad, v, sizeof v, &len);
        struct npy_array a;
        struct gsae_error err = {0};
        enum gsae_status st = npy_parse(b, len, "numpy.npy", &a, &err);
        if (st != GSAE_OK) fail_msg("case %zu: %s", i, err.msg);
        assert_int_equal(a.dtype, cases[i].dt);
        assert_int_equal(a.n_dims, cases[i].n_dims);
        assert_int_equal(a.shape[0], cases[i].d0);
        if (a.n_dims == 2) assert_int_equal(a.shape[1], cases[i].d1);
        assert_int_equal(a.data_bytes, sizeof v);
        assert_memory_equal(a.data, v, sizeof v);
        free(b);
    }
}

static void expect_bad(const void *buf, size_t len, const char *needle)
{
    struct npy_array a;
    struct gsae_error err = {0};
    check_error(npy_parse(buf, len, "bad.npy", &a, &err), GSAE_EFORMAT, &err, "bad.npy", needle);
}

static void expect_bad_dict(const char *dict, const char *needle)
{
    static const unsigned char data[64];
    size_t len;
    unsigned char *b = image(1, dict, 0, data, sizeof data, &len);
    expect_bad(b, len, needle);
    free(b);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_bad("\x93NUMPX\x01\x00\x10\x00{}", 12, "bad magic");
    expect_bad("\x93NUMPY\x01", 7, "bad magic"); /* shorter than the fixed part */
    expect_bad("\x93NUMPY\x04\x00\x10\x00{}", 12, "version 4");
    expect_bad("\x93NUMPY\x02\x00\x10\x00", 10, "truncated");
    expect_bad("\x93NUMPY\x01\x00\xff\x00{'descr'", 18, "runs past the end");
    expect_bad_dict("['descr', '<f4']", "not a dict literal");
    expect_bad_dict("{'fortran_order': False, 'shape': (2,), }", "'descr'");
    expect_bad_dict("{'descr': 4, 'fortran_order': False, 'shape': (2,), }", "'descr'");
    expect_bad_dict("{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", "not supported");
    expect_bad_dict("{'descr': '<f4f4f4f4f4', 'fortran_order': False, 'shape': (2,), }",
                    "malformed");
    expect_bad_dict("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", "'>f4'");
    expect_bad_dict("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", "'<c8'");
    expect_bad_dict("{'descr': '<f4', 'shape': (2,), }", "'fortran_order'");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", "Fortran");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, }", "'shape'");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", "'shape'");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "malformed");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", "malformed");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                    "bad dimension");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, "
                    "1, 1, 1, 1, 1, 1, 1, 1, 1), }",
                    "dimensions");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 5), }",
                    "the shape needs 80");
    expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (17,), }",
                    "data is 64 bytes, the shape needs 68"); /* one element short */
    expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, "
                    "4294967296), }",
                    "overflows");
    /* a NUL inside the header */
    size_t len;
    unsigned char *b = image(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 64,
                             "abcdefgh", 8, &len);
    b[20] = '\0';
    expect_bad(b, len, "not a dict literal");
    free(b);
}

static void test_file_errors(void **state)
{
    (void)state;
    void *buf = (void *)1;
    struct npy_array a;
    struct gsae_error err = {0};
    check_error(npy_load("missing.npy", &buf, &a, &err), GSAE_EIO, &err, "missing.npy");
    assert_null(buf);
    check_write_text("text.npy", "not an array\n");
    check_error(npy_load("text.npy", &buf, &a, &err), GSAE_EFORMAT, &err, "text.npy", "magic");
    assert_null(buf);
    const float x[2] = {1, 2};
    struct gsae_tensor t = {.data = x, .dtype = GSAE_DTYPE_F32, .n_dims = 1, .shape = {2}};
    check_error(npy_save("no-such-dir/x.npy", &t, &err), GSAE_EIO, &err, "no-such-dir/x.npy");
    t.dtype = GSAE_DTYPE_BF16; /* NumPy has no bfloat16 */
    size_t len;
    check_error(npy_serialize(&t, &buf, &len, &err), GSAE_EINVAL, &err, "BF16");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_numpy_layouts),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
