/* fuzz_store_part.c: store_part_read (io/store_read.c) on parts built from arbitrary bytes.
 *
 * The input is a recipe for a part, written with the netCDF API to a temporary file and read
 * back, so the reader's own checks (attributes, dimensions, types, CSR structure, sizes) meet
 * every combination:
 *   u8 bit 1: read the residuals too
 *   u8 flags: 1 CDF-5 (else netCDF-4), 4 has resid_post, 8 resid_post as bf16, 16 sae_index
 *             as NC_UINT, 32 leave out one attribute, 64 row = token + 2 (version 1 layout) or
 *             sae_row_size along nnz (version 2 layout), 128 version 2 layout (store.h: token
 *             coordinate and sae_row_size(token) instead of sae_row_ptr(row))
 *   u8 which attribute to leave out (bits 0-2: one of the 7 below or content_fnv1a64; bit 3,
 *             version 2 layout: token_offset); u8 tokens (% 33); u8 nnz (% 65); u8 d_model (% 5)
 *   i64 x 7 (LE): schema_version part_index first_window n_windows context_size d_sae d_model
 *   16 bytes content_fnv1a64
 *   version 2 layout: i64 token_offset
 *   then the variables' values in file order (missing bytes read as 0)
 * The file's bytes themselves are not mutated: that would fuzz libnetcdf's and HDF5's header
 * parsers, not gsae (and libnetcdf 4.9.0's classic parser crashes on such images, in
 * ncx_getn_longlong_int under nc_get_NC, before store_part_read sees a thing).
 * Whatever the input: no crash or leak; a failure leaves a message naming the file; a part
 * that is read has consistent sizes and a CSR structure within bounds. GSAE_FUZZ_VERBOSE=1
 * prints what each input gave (to check a corpus).
 */
#include <netcdf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../io/store.h"

/* Made on the first input and kept for the process (a fuzz target has no teardown). */
static char dir[4096], path[4200];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

static void setup_once(void)
{
    if (path[0]) return;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/gsae-fuzz-part.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) abort();
    snprintf(path, sizeof path, "%s/part-00000.nc", dir);
    atexit(cleanup);
}

/* Reads from the input, zeros past its end. */
struct reader {
    const uint8_t *p;
    size_t n;
};

static void take(struct reader *r, void *out, size_t len)
{
    size_t k = len < r->n ? len : r->n;
    memcpy(out, r->p, k);
    memset((uint8_t *)out + k, 0, len - k);
    r->p += k;
    r->n -= k;
}

static uint8_t take_u8(struct reader *r)
{
    uint8_t v;
    take(r, &v, 1);
    return v;
}

/* Define a variable; in netCDF-4, shuffled and deflated like a real part. */
static int def(int ncid, int nc4, const char *name, nc_type t, int n_dims, const int *dims,
               int *varid)
{
    int rc = nc_def_var(ncid, name, t, n_dims, dims, varid);
    if (rc == NC_NOERR && nc4) rc = nc_def_var_deflate(ncid, *varid, 1, 1, 1);
    return rc;
}

/* Version 1 layout: token_id doc pos sae_row_ptr(row) sae_index sae_value [resid_post]. */
static int write_v1(struct reader *r, int ncid, int nc4, uint8_t flags, size_t n_tok, size_t nnz,
                    size_t dm)
{
    size_t n_row = n_tok + ((flags & 64) ? 2 : 1);
    int rc = NC_NOERR, d_tok, d_row, d_nnz, d_dm, v[7];
    /* netCDF-4 parts use unlimited dimensions; classic files allow one, so sizes are fixed */
    if (rc == NC_NOERR) rc = nc_def_dim(ncid, "token", nc4 ? NC_UNLIMITED : n_tok, &d_tok);
    if (rc == NC_NOERR) rc = nc_def_dim(ncid, "row", nc4 ? NC_UNLIMITED : n_row, &d_row);
    if (rc == NC_NOERR) rc = nc_def_dim(ncid, "nnz", nc4 ? NC_UNLIMITED : nnz, &d_nnz);
    if (rc == NC_NOERR && (flags & 4)) rc = nc_def_dim(ncid, "d_model", dm, &d_dm);
    nc_type t_index = (flags & 16) ? NC_UINT : NC_USHORT,
            t_resid = (flags & 8) ? NC_USHORT : NC_FLOAT;
    if (rc == NC_NOERR) rc = def(ncid, nc4, "token_id", NC_INT, 1, &d_tok, &v[0]);
    if (rc == NC_NOERR) rc = def(ncid, nc4, "doc", NC_INT64, 1, &d_tok, &v[1]);
    if (rc == NC_NOERR) rc = def(ncid, nc4, "pos", NC_INT, 1, &d_tok, &v[2]);
    if (rc == NC_NOERR) rc = def(ncid, nc4, "sae_row_ptr", NC_INT64, 1, &d_row, &v[3]);
    if (rc == NC_NOERR) rc = def(ncid, nc4, "sae_index", t_index, 1, &d_nnz, &v[4]);
    if (rc == NC_NOERR) rc = def(ncid, nc4, "sae_value", NC_FLOAT, 1, &d_nnz, &v[5]);
    if (rc == NC_NOERR && (flags & 4))
        rc = def(ncid, nc4, "resid_post", t_resid, 2, (int[]){d_tok, d_dm}, &v[6]);
    if (rc == NC_NOERR && !nc4) rc = nc_enddef(ncid);
    /* values: 8 bytes per element at most */
    size_t count[7] = {n_tok, n_tok, n_tok, n_row, nnz, nnz, n_tok * dm};
    size_t elt[7] = {4, 8, 4, 8, (flags & 16) ? 4 : 2, 4, (flags & 8) ? 2 : 4};
    uint8_t buf[65 * 8];
    for (int i = 0; i < ((flags & 4) ? 7 : 6) && rc == NC_NOERR; i++) {
        if (count[i] == 0) continue;
        take(r, buf, count[i] * elt[i]);
        size_t start[2] = {0, 0}, cnt[2] = {i == 6 ? n_tok : count[i], dm};
        rc = nc_put_vara(ncid, v[i], start, cnt, buf);
    }
    return rc;
}

/* Version 2 layout: token token_id doc pos sae_row_size(token) sae_index sae_value
 * [resid_post]. */
static int write_v2(struct reader *r, int ncid, int nc4, uint8_t flags, size_t n_tok, size_t nnz,
                    size_t dm)
{
    int rc = NC_NOERR, d_tok, d_nnz, d_dm, v[8];
    if (rc == NC_NOERR) rc = nc_def_dim(ncid, "token", nc4 ? NC_UNLIMITED : n_tok, &d_tok);
    if (rc == NC_NOERR) rc = nc_def_dim(ncid, "nnz", nc4 ? NC_UNLIMITED : nnz, &d_nnz);
    if (rc == NC_NOERR && (flags & 4)) rc = nc_def_dim(ncid, "d_model", dm, &d_dm);
    nc_type t_index = (flags & 16) ? NC_UINT : NC_USHORT,
            t_resid = (flags & 8) ? NC_USHORT : NC_FLOAT;
    int d_size = (flags & 64) ? d_nnz : d_tok;
    if (rc == NC_NOERR) rc = def(ncid, nc4, "token", NC_INT64, 1, &d_tok, &v[0]);
    if (rc == NC_NOERR) rc = def(ncid, nc4, "token_id", NC_INT, 1, &d_tok, &v[1]);
    if (rc == NC_NOERR) rc = def(ncid, nc4, "doc", NC_INT64, 1, &d_tok, &v[2]);
    if (rc == NC_NOERR) rc = def(ncid, nc4, "pos", NC_INT, 1, &d_tok, &v[3]);
    if (rc == NC_NOERR) rc = def(ncid, nc4, "sae_row_size", NC_INT, 1, &d_size, &v[4]);
    if (rc == NC_NOERR) rc = def(ncid, nc4, "sae_index", t_index, 1, &d_nnz, &v[5]);
    if (rc == NC_NOERR) rc = def(ncid, nc4, "sae_value", NC_FLOAT, 1, &d_nnz, &v[6]);
    if (rc == NC_NOERR && (flags & 4))
        rc = def(ncid, nc4, "resid_post", t_resid, 2, (int[]){d_tok, d_dm}, &v[7]);
    if (rc == NC_NOERR && !nc4) rc = nc_enddef(ncid);
    size_t count[8] = {n_tok, n_tok, n_tok,     n_tok, (flags & 64) ? nnz : n_tok,
                       nnz,   nnz,   n_tok * dm};
    size_t elt[8] = {8, 4, 8, 4, 4, (flags & 16) ? 4 : 2, 4, (flags & 8) ? 2 : 4};
    uint8_t buf[65 * 8];
    for (int i = 0; i < ((flags & 4) ? 8 : 7) && rc == NC_NOERR; i++) {
        if (count[i] == 0) continue;
        take(r, buf, count[i] * elt[i]);
        size_t start[2] = {0, 0}, cnt[2] = {i == 7 ? n_tok : count[i], dm};
        rc = nc_put_vara(ncid, v[i], start, cnt, buf);
    }
    return rc;
}

static int write_recipe(struct reader *r)
{
    uint8_t flags = take_u8(r), drop = take_u8(r);
    size_t n_tok = take_u8(r) % 33, nnz = take_u8(r) % 65, dm = take_u8(r) % 5;
    static const char *const att[] = {"schema_version", "part_index", "first_window", "n_windows",
                                      "context_size",   "d_sae",      "d_model"};
    int64_t val[7];
    char hex[16];
    take(r, val, sizeof val);
    take(r, hex, sizeof hex);
    int64_t token_offset = 0;
    if (flags & 128) take(r, &token_offset, sizeof token_offset);
    int nc4 = !(flags & 1), ncid, rc;
    rc = nc_create(path, NC_CLOBBER | (nc4 ? NC_NETCDF4 : NC_64BIT_DATA), &ncid);
    if (rc != NC_NOERR) return -1;
    if (!nc4) nc_set_fill(ncid, NC_NOFILL, &(int){0});
    for (int i = 0; i < 7 && rc == NC_NOERR; i++)
        if (!(flags & 32) || drop % 8 != i)
            rc = nc_put_att_longlong(ncid, NC_GLOBAL, att[i], NC_INT64, 1, (long long *)&val[i]);
    if (rc == NC_NOERR && (!(flags & 32) || drop % 8 != 7))
        rc = nc_put_att_text(ncid, NC_GLOBAL, "content_fnv1a64", sizeof hex, hex);
    if (rc == NC_NOERR && (flags & 128) && !((flags & 32) && (drop & 8)))
        rc = nc_put_att_longlong(ncid, NC_GLOBAL, "token_offset", NC_INT64, 1,
                                 (long long *)&token_offset);
    if (rc == NC_NOERR)
        rc = (flags & 128) ? write_v2(r, ncid, nc4, flags, n_tok, nnz, dm)
                           : write_v1(r, ncid, nc4, flags, n_tok, nnz, dm);
    int rc_close = nc_close(ncid);
    return rc == NC_NOERR && rc_close == NC_NOERR ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    if (size == 0) return 0;
    int with_resid = (data[0] >> 1) & 1;
    struct reader r = {data + 1, size - 1};
    if (write_recipe(&r) != 0) return 0;
    struct store_part p;
    struct gsae_error err = {0};
    if (store_part_read(path, with_resid, &p, &err) != GSAE_OK) {
        if (getenv("GSAE_FUZZ_VERBOSE")) fprintf(stderr, "%s\n", err.msg);
        GSAE_ASSERT(strstr(err.msg, "part-00000.nc") != NULL);
        return 0;
    }
    GSAE_ASSERT(p.n_windows >= 0 && p.context_size >= 1 &&
                p.n_tokens == p.n_windows * p.context_size);
    GSAE_ASSERT(p.row_ptr[0] == 0 && p.row_ptr[p.n_tokens] == p.nnz);
    for (int64_t t = 0; t < p.n_tokens; t++)
        for (int64_t k = p.row_ptr[t]; k < p.row_ptr[t + 1]; k++)
            GSAE_ASSERT(k >= 0 && k < p.nnz && (int64_t)p.index[k] < p.d_sae);
    if (p.resid_post) {
        volatile float sink =
            p.n_tokens && p.d_model ? p.resid_post[p.n_tokens * p.d_model - 1] : 0;
        (void)sink;
    }
    if (getenv("GSAE_FUZZ_VERBOSE")) fprintf(stderr, "read %lld tokens\n", (long long)p.n_tokens);
    store_part_free(&p);
    return 0;
}
