/* test_npz.c: .npz write/read round trips (stored and deflated) and malformed archives. */
#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/npz.h"
#include "../common/check.h"

/* What the visitor saw. */
struct seen {
    int n;
    char keys[8][32];
    int64_t shape0[8];
    enum gsae_dtype dtype[8];
    float sum[8];
};

static enum gsae_status collect(void *ctx, const char *key, const struct npy_array *arr,
                                struct gsae_error *err)
{
    (void)err;
    struct seen *s = ctx;
    if (s->n == 8) return GSAE_OK;
    snprintf(s->keys[s->n], sizeof s->keys[0], "%s", key);
    s->shape0[s->n] = arr->shape[0];
    s->dtype[s->n] = arr->dtype;
    float sum = 0;
    if (arr->dtype == GSAE_DTYPE_F32) {
        const float *v = arr->data;
        for (size_t i = 0; i < arr->data_bytes / 4; i++)
            sum += v[i];
    }
    s->sum[s->n] = sum;
    s->n++;
    return GSAE_OK;
}

static void write_two(const char *path, enum npz_compression c)
{
    static float a[6] = {1, 2, 3, 4, 5, 6};
    static int32_t b[3] = {7, 8, 9};
    struct npz_item items[2] = {
        {"W_enc", {.data = a, .dtype = GSAE_DTYPE_F32, .n_dims = 2, .shape = {2, 3}}},
        {"ids", {.data = b, .dtype = GSAE_DTYPE_I32, .n_dims = 1, .shape = {3}}},
    };
    struct gsae_error err;
    assert_int_equal(npz_write(path, items, 2, c, &err), GSAE_OK);
}

static void test_round_trip(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        const char *path = c ? "deflated.npz" : "stored.npz";
        write_two(path, c ? NPZ_COMPRESSION_DEFLATED : NPZ_COMPRESSION_STORED);
        struct seen s = {0};
        struct npz_visitor v = {collect, &s};
        struct gsae_error err;
        assert_int_equal(npz_read(path, &v, &err), GSAE_OK);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.keys[0], "W_enc");
        assert_string_equal(s.keys[1], "ids");
        assert_int_equal(s.dtype[0], GSAE_DTYPE_F32);
        assert_int_equal(s.dtype[1], GSAE_DTYPE_I32);
        assert_int_equal(s.shape0[0], 2);
        assert_true(s.sum[0] == 21.0f);

        size_t len;
        unsigned char *img = (unsigned char *)check_slurp(path, &len);
        memset(&s, 0, sizeof s);
        assert_int_equal(npz_read_mem(img, len, path, &v, &err), GSAE_OK);
        assert_int_equal(s.n, 2);
        /* every truncation fails cleanly, naming the archive */
        for (size_t cut = 0; cut < len; cut += 7) {
            memset(&s, 0, sizeof s);
            if (npz_read_mem(img, cut, "cut.npz", &v, &err) == GSAE_OK)
                fail_msg("cut at %zu of %zu bytes was accepted", cut, len);
            assert_non_null(strstr(err.msg, "cut.npz"));
        }
        free(img);
        remove(path);
    }
}

/* Write a zip with raw members (name, bytes) through libarchive. */
static void write_raw(const char *path, const char *const *names, const char *const *data,
                      const size_t *lens, int n)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_zip(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (int i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, names[i]);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)lens[i]);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        archive_write_data(a, data[i], lens[i]);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static void expect_error(const char *path, const char *needle1, const char *needle2)
{
    struct seen s = {0};
    struct npz_visitor v = {collect, &s};
    struct gsae_error err;
    assert_int_equal(npz_read(path, &v, &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, path));
    if (!strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
        fail_msg("message '%s' lacks '%s'/'%s'", err.msg, needle1, needle2 ? needle2 : "");
}

static void test_bad_members(void **state)
{
    (void)state;
    static const float one = 1.0f;
    struct gsae_tensor t = {.data = &one, .dtype = GSAE_DTYPE_F32, .n_dims = 1, .shape = {1}};
    void *img;
    size_t npy_len;
    struct gsae_error e0;
    assert_int_equal(npy_serialize(&t, &img, &npy_len, &e0), GSAE_OK);
    const char *npy = img;
    {
        const char *names[] = {"a.npy", "notes.txt"};
        const char *data[] = {npy, "hello"};
        size_t lens[] = {npy_len, 5};
        write_raw("txt.npz", names, data, lens, 2);
        expect_error("txt.npz", "notes.txt", "not a .npy");
    }
    {
        const char *names[] = {"W_dec.npy"};
        const char *data[] = {"\x93NUMPY\x01\x00\x10\x00{'descr': 'zz'}"};
        size_t lens[] = {26};
        write_raw("hdr.npz", names, data, lens, 1);
        expect_error("hdr.npz", "W_dec.npy", NULL);
    }
    {
        const char *names[] = {"a.npy", "a.npy"};
        const char *data[] = {npy, npy};
        size_t lens[] = {npy_len, npy_len};
        write_raw("dup.npz", names, data, lens, 2);
        expect_error("dup.npz", "'a'", "twice");
    }
    {
        FILE *f = fopen("plain.npz", "wb");
        fputs("this is not a zip archive at all", f);
        fclose(f);
        expect_error("plain.npz", "plain.npz", NULL);
    }
    struct seen s = {0};
    struct npz_visitor v = {collect, &s};
    struct gsae_error err;
    assert_int_equal(npz_read("missing.npz", &v, &err), GSAE_EIO);
    assert_non_null(strstr(err.msg, "missing.npz"));
    remove("txt.npz");
    remove("hdr.npz");
    remove("dup.npz");
    remove("plain.npz");
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
