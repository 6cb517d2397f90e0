/* test_intervene.c: SAE interventions as a gemma_hook subscriber (src/intervene.h): only
 * resid_post of its own layer is touched, recording leaves x bit for bit and lists each hooked
 * row's activations with its KV slot and position, ablation without the error term is the
 * decode with the features dropped, position lists select rows, buffers grow past max_rows,
 * and invalid specs are refused naming the field. (Steering, splicing and the error-term
 * ablation's exactness are in test_sae_intervene.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/intervene.h"
#include "../common/check.h"

enum { D = 8, S = 24, R = 8 };

/* seq 0 (KV slot 3): rows 0..4 at positions 0..4; seq 1 (slot 1): rows 5..7 at 10..12 */
static const int64_t b_slot[2] = {3, 1}, b_pos0[2] = {0, 10}, b_ntok[2] = {5, 3};
static const struct gemma_batch batch = {
    .n_seq = 2, .n_rows = R, .slot = b_slot, .pos0 = b_pos0, .n_tok = b_ntok};
static const int64_t row_slot[R] = {3, 3, 3, 3, 3, 1, 1, 1};
static const int64_t row_pos[R] = {0, 1, 2, 3, 4, 10, 11, 12};

static void make_sae(struct sae_params *p)
{
    struct gsae_error err = {0};
    assert_int_equal(sae_params_init(p, D, S, &err), GSAE_OK);
    check_fill_normal(p->w_enc, D * S, 21, 0.6);
    check_fill_normal(p->w_dec, S * D, 22, 0.4);
    check_fill_normal(p->b_enc, S, 23, 0.1);
    check_fill_normal(p->b_dec, D, 24, 0.1);
    for (int f = 0; f < S; f++)
        p->threshold[f] = 0.2f;
}

/* The activations of rows x (n rows), encoded directly. */
static void encode(const struct sae_params *p, const float *x, int64_t n, struct sae_acts *a)
{
    struct sae_encoder e;
    struct gsae_error err = {0};
    assert_int_equal(sae_encoder_init(&e, p, 0, &err), GSAE_OK);
    assert_int_equal(sae_acts_init(a, 0, 0, &err), GSAE_OK);
    assert_int_equal(sae_encode(&e, x, n, a, &err), GSAE_OK);
    sae_encoder_free(&e);
}

static enum gsae_status hook(struct intervene *iv, const char *name, int64_t layer, float *x)
{
    struct gsae_error err = {0};
    struct gemma_hook h = intervene_hook(iv);
    assert_ptr_equal(h.ctx, iv);
    return h.fn(h.ctx, name, layer, x, &batch, D, &err);
}

static void test_record_only(void **state)
{
    (void)state;
    struct sae_params p;
    make_sae(&p);
    float x[R * D], y[R * D];
    check_fill_normal(x, R * D, 25, 1.0);
    memcpy(y, x, sizeof x);
    struct intervene iv;
    struct gsae_error err = {0};
    struct intervene_spec spec = {.op = INTERVENE_NONE, .layer = 2, .record = true};
    assert_int_equal(intervene_init(&iv, &spec, &p, R, &err), GSAE_OK);
    /* other layers and other hook points are left alone and not recorded */
    assert_int_equal(hook(&iv, "resid_post", 1, y), GSAE_OK);
    assert_int_equal(hook(&iv, "resid_post", 3, y), GSAE_OK);
    assert_int_equal(hook(&iv, "attn_out", 2, y), GSAE_OK);
    assert_int_equal(iv.rec.n_rows, 0);
    assert_memory_equal(y, x, sizeof x);
    /* its own layer: x bit for bit, one record per row with its slot and position */
    assert_int_equal(hook(&iv, "resid_post", 2, y), GSAE_OK);
    assert_memory_equal(y, x, sizeof x);
    struct sae_acts want;
    encode(&p, x, R, &want);
    assert_true(want.nnz > R); /* several features fire: the record means something */
    assert_int_equal(iv.rec.n_rows, R);
    assert_int_equal(iv.rec.nnz, want.nnz);
    assert_memory_equal(iv.rec.row_ptr, want.row_ptr, sizeof(int64_t) * (R + 1));
    assert_memory_equal(iv.rec.feature, want.feature, sizeof(int32_t) * (size_t)want.nnz);
    assert_memory_equal(iv.rec.value, want.value, sizeof(float) * (size_t)want.nnz);
    assert_memory_equal(iv.rec_slot, row_slot, sizeof row_slot);
    assert_memory_equal(iv.rec_pos, row_pos, sizeof row_pos);
    /* a second call appends */
    assert_int_equal(hook(&iv, "resid_post", 2, y), GSAE_OK);
    assert_int_equal(iv.rec.n_rows, 2 * R);
    assert_int_equal(iv.rec.nnz, 2 * want.nnz);
    assert_int_equal(iv.rec_pos[R + 6], 11);
    assert_int_equal(iv.rec_slot[R + 6], 1);
    intervene_record_clear(&iv);
    assert_int_equal(iv.rec.n_rows, 0);
    assert_int_equal(iv.rec.nnz, 0);
    sae_acts_free(&want);
    intervene_free(&iv);
    sae_params_free(&p);
}

static void test_ablate_without_error_term(void **state)
{
    (void)state;
    struct sae_params p;
    make_sae(&p);
    float x[R * D], y[R * D], want[R * D];
    check_fill_normal(x, R * D, 26, 1.0);
    struct sae_acts a;
    encode(&p, x, R, &a);
    /* drop the first two features active on row 0 and one that is active nowhere near */
    assert_true(a.row_ptr[1] >= 2);
    int32_t drop[3] = {a.feature[0], a.feature[1], S - 1};
    sae_decode_without(&p, &a, drop, 3, want);
    /* without positions: every row becomes the decode with the features dropped */
    for (int64_t max_rows = 1; max_rows <= R; max_rows += R - 1) { /* also growing past 1 */
        memcpy(y, x, sizeof x);
        struct intervene iv;
        struct gsae_error err = {0};
        struct intervene_spec spec = {
            .op = INTERVENE_ABLATE, .layer = 0, .ablate = drop, .n_ablate = 3};
        assert_int_equal(intervene_init(&iv, &spec, &p, max_rows, &err), GSAE_OK);
        assert_int_equal(hook(&iv, "resid_post", 0, y), GSAE_OK);
        for (int i = 0; i < R * D; i++)
            if (!check_close(y[i], want[i], 1e-5, 1e-6))
                fail_msg("max_rows %lld: x[%d] = %.9g, decode without = %.9g", (long long)max_rows,
                         i, (double)y[i], (double)want[i]);
        intervene_free(&iv);
    }
    /* with positions 1 and 12: rows 1 and 7 change, the others stay bit for bit */
    memcpy(y, x, sizeof x);
    const int64_t positions[2] = {12, 1};
    struct intervene iv;
    struct gsae_error err = {0};
    struct intervene_spec spec = {.op = INTERVENE_ABLATE,
                                  .layer = 0,
                                  .ablate = drop,
                                  .n_ablate = 3,
                                  .positions = positions,
                                  .n_positions = 2};
    assert_int_equal(intervene_init(&iv, &spec, &p, R, &err), GSAE_OK);
    assert_int_equal(hook(&iv, "resid_post", 0, y), GSAE_OK);
    for (int r = 0; r < R; r++)
        for (int i = 0; i < D; i++) {
            int k = r * D + i;
            if (r == 1 || r == 7)
                assert_true(check_close(y[k], want[k], 1e-5, 1e-6));
            else
                assert_true(y[k] == x[k]);
        }
    intervene_free(&iv);
    sae_acts_free(&a);
    sae_params_free(&p);
}

static void expect_refused(const struct intervene_spec *spec, const char *needle)
{
    struct sae_params p;
    make_sae(&p);
    struct intervene iv;
    struct gsae_error err = {0};
    check_error(intervene_init(&iv, spec, &p, R, &err), GSAE_EINVAL, &err, needle);
    sae_params_free(&p);
}

static void test_refused(void **state)
{
    (void)state;
    const int32_t bad_feature[2] = {3, S};
    const int64_t bad_pos[2] = {4, -3};
    expect_refused(&(struct intervene_spec){.op = INTERVENE_NONE, .layer = -1}, "layer -1");
    expect_refused(&(struct intervene_spec){.op = INTERVENE_STEER, .steer_feature = S},
                   "steering feature 24 is outside [0, 24)");
    expect_refused(&(struct intervene_spec){.op = INTERVENE_STEER, .steer_feature = -1},
                   "steering feature -1");
    expect_refused(&(struct intervene_spec){.op = INTERVENE_ABLATE, .n_ablate = 2},
                   "ablation feature list");
    expect_refused(
        &(struct intervene_spec){.op = INTERVENE_ABLATE, .ablate = bad_feature, .n_ablate = 2},
        "ablated feature 24 is outside [0, 24)");
    expect_refused(
        &(struct intervene_spec){.op = INTERVENE_SPLICE, .positions = bad_pos, .n_positions = 2},
        "position -3 is negative");
    expect_refused(
        &(struct intervene_spec){.op = INTERVENE_SPLICE, .positions = bad_pos, .n_positions = -1},
        "position list");
    /* a residual of another width than the SAE's d_in, at call time */
    struct sae_params p;
    make_sae(&p);
    struct intervene iv;
    struct gsae_error err = {0};
    struct intervene_spec spec = {.op = INTERVENE_SPLICE, .layer = 5};
    assert_int_equal(intervene_init(&iv, &spec, &p, R, &err), GSAE_OK);
    float x[R * (D + 1)];
    check_fill_normal(x, R * (D + 1), 27, 1.0);
    struct gemma_hook h = intervene_hook(&iv);
    check_error(h.fn(h.ctx, "resid_post", 5, x, &batch, D + 1, &err), GSAE_EINVAL, &err,
                "resid_post.5 has width 9", "d_in is 8");
    intervene_free(&iv);
    sae_params_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_only),
        cmocka_unit_test(test_ablate_without_error_term),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
