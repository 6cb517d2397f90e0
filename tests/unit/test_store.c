/* test_store.c: part write/read round trips (u16 and u32 indices, f32 and bf16 residuals),
 * checksums, the commit protocol, schema_version and truncation errors, header sizes that
 * overflow, manifest round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <netcdf.h>

#include "../../io/manifest.h"
#include "../../io/store.h"
#include "../../src/rng.h"
#include "../../src/tensor.h"

#define CTX     8
#define N_WIN   3
#define D_MODEL 5

struct data {
    int32_t ids[N_WIN][CTX];
    int64_t doc[N_WIN][CTX], pos[N_WIN][CTX], rows[N_WIN][CTX + 1];
    uint32_t index[N_WIN][CTX * 6];
    float value[N_WIN][CTX * 6];
    float resid[N_WIN][CTX * D_MODEL];
};

static void make_data(struct data *d, int64_t d_sae, uint64_t seed)
{
    struct rng r;
    rng_seed(&r, seed);
    for (int w = 0; w < N_WIN; w++) {
        d->rows[w][0] = 0;
        for (int t = 0; t < CTX; t++) {
            d->ids[w][t] = (int32_t)rng_below(&r, 256000);
            d->doc[w][t] = w * 3 + t / 5;
            d->pos[w][t] = t % 5 == 0 ? -1 : t;
            int64_t k = d->rows[w][t], nz = (int64_t)rng_below(&r, 6);
            uint32_t f = (uint32_t)rng_below(&r, 10);
            for (int64_t j = 0; j < nz; j++, k++) {
                d->index[w][k] = f;
                f += 1 + (uint32_t)rng_below(&r, (uint64_t)d_sae / 8);
                d->value[w][k] = rng_uniform_f32(&r) * 10.0f + 0.01f;
            }
            while (nz > 0 && d->index[w][k - 1] >= d_sae) { /* keep indices < d_sae */
                k--;
                nz--;
            }
            d->rows[w][t + 1] = k;
        }
        for (int i = 0; i < CTX * D_MODEL; i++)
            d->resid[w][i] = (float)rng_normal(&r);
    }
}

static struct store_meta meta_for(int64_t d_sae, enum store_resid resid)
{
    struct store_meta m = {
        .model = "tiny",
        .model_config_hash = "cfg123",
        .sae_source = "sae.npz",
        .sae_hash = "sae456",
        .tokenizer_hash = "tok789",
        .corpus = "a.jsonl\nb.jsonl",
        .job = "flags",
        .layer = 3,
        .context_size = CTX,
        .bos_token_id = 2,
        .d_sae = d_sae,
        .d_model = D_MODEL,
        .windows_per_part = 4,
        .resid = resid,
    };
    return m;
}

static void round_trip(int64_t d_sae, enum store_resid resid, int64_t part)
{
    struct data *d = calloc(1, sizeof *d);
    make_data(d, d_sae, (uint64_t)d_sae + (uint64_t)resid);
    struct store_meta meta = meta_for(d_sae, resid);
    struct store_part_writer *w = NULL;
    struct gsae_error err;
    assert_int_equal(store_part_open(".", part, &meta, &w, &err), GSAE_OK);
    for (int k = 0; k < N_WIN; k++)
        assert_int_equal(store_part_append(w, CTX, d->ids[k], d->doc[k], d->pos[k], d->rows[k],
                                           d->index[k], d->value[k], resid ? d->resid[k] : NULL,
                                           &err),
                         GSAE_OK);
    char name[32], tmp[64];
    store_part_name(part, name, sizeof name);
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    assert_int_equal(access(name, F_OK), -1); /* not visible before the commit */
    assert_int_equal(access(tmp, F_OK), 0);
    struct store_part_info info;
    assert_int_equal(store_part_commit(w, &info, &err), GSAE_OK);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_string_equal(info.file, name);
    assert_int_equal(info.n_windows, N_WIN);
    assert_int_equal(info.n_tokens, N_WIN * CTX);
    assert_int_equal(info.first_window, part * 4);

    struct store_part p;
    assert_int_equal(store_part_read(name, true, &p, &err), GSAE_OK);
    assert_int_equal(p.n_tokens, N_WIN * CTX);
    assert_int_equal(p.nnz, info.nnz);
    assert_int_equal(p.d_sae, d_sae);
    assert_int_equal(p.part_index, part);
    assert_int_equal(p.schema_version, STORE_SCHEMA_VERSION);
    assert_int_equal(p.d_model, D_MODEL); /* the model's, also without residuals */
    assert_int_equal(p.checksum, info.checksum);
    assert_int_equal(p.checksum_attr, info.checksum);
    int64_t z = 0;
    for (int k = 0; k < N_WIN; k++)
        for (int t = 0; t < CTX; t++) {
            int64_t row = k * CTX + t;
            assert_int_equal(p.token_id[row], d->ids[k][t]);
            assert_int_equal(p.doc[row], d->doc[k][t]);
            assert_int_equal(p.pos[row], d->pos[k][t]);
            assert_int_equal(p.row_ptr[row + 1] - p.row_ptr[row],
                             d->rows[k][t + 1] - d->rows[k][t]);
            for (int64_t j = d->rows[k][t]; j < d->rows[k][t + 1]; j++, z++) {
                assert_int_equal(p.index[z], d->index[k][j]);
                assert_true(p.value[z] == d->value[k][j]);
            }
            for (int i = 0; i < D_MODEL; i++) {
                float want = d->resid[k][t * D_MODEL + i];
                if (resid == STORE_RESID_BF16) want = gsae_bf16_to_f32(gsae_f32_to_bf16(want));
                if (resid != STORE_RESID_NONE) assert_true(p.resid_post[row * D_MODEL + i] == want);
            }
        }
    assert_int_equal(z, p.nnz);
    store_part_free(&p);
    store_part_free(&p);
    /* the part's type for indices follows d_sae */
    int ncid, varid;
    nc_type t;
    assert_int_equal(nc_open(name, NC_NOWRITE, &ncid), NC_NOERR);
    assert_int_equal(nc_inq_varid(ncid, "sae_index", &varid), NC_NOERR);
    assert_int_equal(nc_inq_vartype(ncid, varid, &t), NC_NOERR);
    assert_int_equal(t, d_sae <= 65536 ? NC_USHORT : NC_UINT);
    nc_close(ncid);
    free(d);
}

static void test_round_trips(void **state)
{
    (void)state;
    round_trip(100, STORE_RESID_NONE, 0);
    round_trip(65536, STORE_RESID_F32, 1);
    round_trip(70000, STORE_RESID_BF16, 2);
    round_trip(131072, STORE_RESID_NONE, 123456);
    assert_int_equal(access("part-123456.nc", F_OK), 0);
}

/* A changed value is seen by the checksum. */
static void test_error_checksum(void **state)
{
    (void)state;
    struct gsae_error err;
    round_trip(100, STORE_RESID_NONE, 7);
    int ncid, varid;
    assert_int_equal(nc_open("part-00007.nc", NC_WRITE, &ncid), NC_NOERR);
    assert_int_equal(nc_inq_varid(ncid, "token_id", &varid), NC_NOERR);
    size_t at[1] = {3};
    int v = 42;
    assert_int_equal(nc_put_var1_int(ncid, varid, at, &v), NC_NOERR);
    nc_close(ncid);
    struct store_part p;
    assert_int_equal(store_part_read("part-00007.nc", true, &p, &err), GSAE_OK);
    assert_true(p.checksum != p.checksum_attr);
    store_part_free(&p);
}

/* A wrong schema_version is refused with a clear message, and still reported as the part's
 * version. */
static void test_error_schema_version(void **state)
{
    (void)state;
    struct gsae_error err;
    round_trip(100, STORE_RESID_NONE, 14);
    int ncid, v = 3;
    assert_int_equal(nc_open("part-00014.nc", NC_WRITE, &ncid), NC_NOERR);
    assert_int_equal(nc_put_att_int(ncid, NC_GLOBAL, "schema_version", NC_INT, 1, &v), NC_NOERR);
    nc_close(ncid);
    struct store_part p;
    assert_int_equal(store_part_read("part-00014.nc", true, &p, &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "part-00014.nc: schema_version 3, this gsae reads 1 to 2"));
    int64_t version = 0;
    assert_int_equal(store_part_version("part-00014.nc", &version, &err), GSAE_OK);
    assert_int_equal(version, 3);
}

/* A row size past nnz is refused before the indices it points at are read; a negative one too,
 * and sizes that end short of nnz. */
static void test_error_row_sizes(void **state)
{
    (void)state;
    struct gsae_error err;
    struct store_part p;
    int ncid, varid;
    size_t at[1] = {1};
    int v = 1000000;
    round_trip(100, STORE_RESID_NONE, 11);
    assert_int_equal(nc_open("part-00011.nc", NC_WRITE, &ncid), NC_NOERR);
    assert_int_equal(nc_inq_varid(ncid, "sae_row_size", &varid), NC_NOERR);
    assert_int_equal(nc_put_var1_int(ncid, varid, at, &v), NC_NOERR);
    nc_close(ncid);
    assert_int_equal(store_part_read("part-00011.nc", true, &p, &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "part-00011.nc: sae_row_size[1] = 1000000: negative, or past"));
    v = -1;
    assert_int_equal(nc_open("part-00011.nc", NC_WRITE, &ncid), NC_NOERR);
    assert_int_equal(nc_put_var1_int(ncid, varid, at, &v), NC_NOERR);
    nc_close(ncid);
    assert_int_equal(store_part_read("part-00011.nc", true, &p, &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "sae_row_size[1] = -1"));
    round_trip(100, STORE_RESID_NONE, 13);
    assert_int_equal(nc_open("part-00013.nc", NC_WRITE, &ncid), NC_NOERR);
    assert_int_equal(nc_inq_varid(ncid, "sae_row_size", &varid), NC_NOERR);
    for (at[0] = 0, v = 0; v == 0; at[0]++) /* the first token with an entry: one less */
        assert_int_equal(nc_get_var1_int(ncid, varid, at, &v), NC_NOERR);
    at[0]--;
    v--;
    assert_int_equal(nc_put_var1_int(ncid, varid, at, &v), NC_NOERR);
    nc_close(ncid);
    assert_int_equal(store_part_read("part-00013.nc", true, &p, &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "part-00013.nc: sae_row_size sums to"));
}

/* The token coordinate must be token_offset + t. */
static void test_error_token_coordinate(void **state)
{
    (void)state;
    struct gsae_error err;
    round_trip(100, STORE_RESID_NONE, 12);
    int ncid, varid;
    assert_int_equal(nc_open("part-00012.nc", NC_WRITE, &ncid), NC_NOERR);
    assert_int_equal(nc_inq_varid(ncid, "token", &varid), NC_NOERR);
    long long tok = 0;
    size_t at[1] = {2};
    assert_int_equal(nc_get_var1_longlong(ncid, varid, at, &tok), NC_NOERR);
    assert_int_equal(tok, 12 * 4 * CTX + 2);
    tok = 5;
    assert_int_equal(nc_put_var1_longlong(ncid, varid, at, &tok), NC_NOERR);
    nc_close(ncid);
    struct store_part p;
    assert_int_equal(store_part_read("part-00012.nc", true, &p, &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "part-00012.nc: token[2] = 5, expected 386"));
}

/* A truncated part cannot be read. */
static void test_error_truncated(void **state)
{
    (void)state;
    struct gsae_error err;
    round_trip(100, STORE_RESID_F32, 8);
    struct stat sb;
    assert_int_equal(stat("part-00008.nc", &sb), 0);
    assert_int_equal(truncate("part-00008.nc", sb.st_size / 2), 0);
    struct store_part p;
    assert_int_not_equal(store_part_read("part-00008.nc", true, &p, &err), GSAE_OK);
    assert_non_null(strstr(err.msg, "part-00008.nc"));
}

/* Bad windows and a meta without features are refused; abort leaves nothing behind. */
static void test_error_bad_windows(void **state)
{
    (void)state;
    struct gsae_error err;
    struct store_meta meta = meta_for(100, STORE_RESID_NONE);
    struct store_part_writer *w = NULL;
    assert_int_equal(store_part_open(".", 9, &meta, &w, &err), GSAE_OK);
    int32_t ids[CTX] = {0};
    int64_t doc[CTX] = {0}, pos[CTX] = {0}, rows[CTX + 1] = {0};
    uint32_t index[2] = {5, 3};
    float value[2] = {1, 2};
    rows[1] = 2;
    for (int t = 2; t <= CTX; t++)
        rows[t] = 2;
    assert_int_equal(store_part_append(w, CTX, ids, doc, pos, rows, index, value, NULL, &err),
                     GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "out of order"));
    assert_int_equal(store_part_append(w, CTX - 1, ids, doc, pos, rows, index, value, NULL, &err),
                     GSAE_EINVAL);
    store_part_abort(w);
    assert_int_equal(access("part-00009.nc.tmp", F_OK), -1);
    assert_int_equal(access("part-00009.nc", F_OK), -1);
    meta.d_sae = 0;
    assert_int_equal(store_part_open(".", 9, &meta, &w, &err), GSAE_EINVAL);
}

/* An empty part is valid; sizes claimed by its header are bounded before they are multiplied:
 * 2^62 windows of 4 tokens would wrap to the 0 tokens this part holds. */
static void test_error_header_sizes(void **state)
{
    (void)state;
    struct gsae_error err;
    struct store_meta meta = meta_for(100, STORE_RESID_NONE);
    struct store_part_writer *w = NULL;
    assert_int_equal(store_part_open(".", 10, &meta, &w, &err), GSAE_OK);
    struct store_part_info info;
    assert_int_equal(store_part_commit(w, &info, &err), GSAE_OK);
    struct store_part p;
    assert_int_equal(store_part_read("part-00010.nc", true, &p, &err), GSAE_OK);
    assert_int_equal(p.n_tokens, 0);
    assert_int_equal(p.checksum, p.checksum_attr);
    store_part_free(&p);
    int ncid, v = 4;
    assert_int_equal(nc_open("part-00010.nc", NC_WRITE, &ncid), NC_NOERR);
    long long huge = 1ll << 62;
    assert_int_equal(nc_put_att_longlong(ncid, NC_GLOBAL, "n_windows", NC_INT64, 1, &huge),
                     NC_NOERR);
    assert_int_equal(nc_put_att_int(ncid, NC_GLOBAL, "context_size", NC_INT, 1, &v), NC_NOERR);
    nc_close(ncid);
    assert_int_equal(store_part_read("part-00010.nc", true, &p, &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "part-00010.nc: attribute n_windows = 4611686018427387904"));
    assert_int_equal(nc_open("part-00010.nc", NC_WRITE, &ncid), NC_NOERR);
    huge = -1;
    assert_int_equal(nc_put_att_longlong(ncid, NC_GLOBAL, "context_size", NC_INT64, 1, &huge),
                     NC_NOERR);
    nc_close(ncid);
    assert_int_equal(store_part_read("part-00010.nc", true, &p, &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "part-00010.nc: attribute context_size = -1"));
}

static void test_manifest(void **state)
{
    (void)state;
    struct gsae_error err;
    struct manifest m, back;
    assert_int_equal(manifest_load(".", &m, &err), GSAE_ENOTFOUND);
    manifest_init(&m, "jobhash", 1024, 64);
    for (int64_t i = 4; i >= 0; i--) {
        if (i == 2) continue;
        struct manifest_part p = {.info = {.index = i,
                                           .first_window = i * 64,
                                           .n_windows = 64,
                                           .n_tokens = 65536,
                                           .nnz = 1000 + i,
                                           .checksum = 0xfedcba9876543210ull + (uint64_t)i},
                                  .end = {10 * i, i, 0, 10 * i + 1}};
        store_part_name(i, p.info.file, sizeof p.info.file);
        assert_int_equal(manifest_add(&m, &p, &err), GSAE_OK);
    }
    assert_int_equal(manifest_first_missing(&m), 2);
    assert_int_equal(manifest_start_of(&m, 2).doc, 10);
    assert_int_equal(manifest_start_of(&m, 0).line, 1);
    assert_null(manifest_find(&m, 2));
    assert_int_equal(manifest_save(&m, ".", &err), GSAE_OK);
    assert_int_equal(access("manifest.json.tmp", F_OK), -1);
    assert_int_equal(manifest_load(".", &back, &err), GSAE_OK);
    assert_string_equal(back.job_hash, "jobhash");
    assert_int_equal(back.n_parts, 4);
    for (int64_t i = 0; i < 4; i++) {
        assert_memory_equal(&back.parts[i].info, &m.parts[i].info, sizeof m.parts[i].info);
        assert_memory_equal(&back.parts[i].end, &m.parts[i].end, sizeof m.parts[i].end);
    }
    manifest_free(&back);
    manifest_free(&m);
    manifest_free(&m);
    FILE *f = fopen("manifest.json", "w");
    fputs("{\"format\": \"gsae-store-manifest\", \"schema_version\": 1}", f);
    fclose(f);
    assert_int_equal(manifest_load(".", &m, &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "manifest.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_error_checksum),
        cmocka_unit_test(test_error_schema_version),
        cmocka_unit_test(test_error_row_sizes),
        cmocka_unit_test(test_error_token_coordinate),
        cmocka_unit_test(test_error_truncated),
        cmocka_unit_test(test_error_bad_windows),
        cmocka_unit_test(test_error_header_sizes),
        cmocka_unit_test(test_manifest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
