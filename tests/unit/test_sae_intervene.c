/* test_sae_intervene.c: the interventions of src/intervene.h on hand-made batches of two
 * sequences: with the error term and nothing ablated x stays unchanged, ablation with and
 * without the error term, splicing at positions with the record of those rows, steering, and
 * the specs refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/intervene.h"
#include "../../src/sae.h"
#include "../common/sae_synth.h"

enum { D = 24, S = 80 };

/* A random SAE and rows (tests/common/sae_synth.h) of this file's sizes. */
static void make_sae(struct sae_params *p, uint64_t seed)
{
    sae_synth(p, D, S, seed);
}

static void random_rows(float *x, int64_t n, uint64_t seed)
{
    sae_synth_rows(x, n, D, seed);
}

/* Two sequences in one batch: seq 0 (slot 3) rows 0..4 at positions 0..4, seq 1 (slot 1) rows
 * 5..7 at positions 10..12 (a decode-like continuation). */
static const int64_t b_slot[2] = {3, 1}, b_pos0[2] = {0, 10}, b_ntok[2] = {5, 3};
static const struct gemma_batch batch = {
    .n_seq = 2, .n_rows = 8, .slot = b_slot, .pos0 = b_pos0, .n_tok = b_ntok};

static void run_hook(struct intervene *iv, float *x, int64_t layer)
{
    struct gsae_error err;
    struct gemma_hook h = intervene_hook(iv);
    assert_int_equal(h.fn(h.ctx, "resid_post", layer, x, &batch, D, &err), GSAE_OK);
}

static void test_error_term_leaves_x_unchanged(void **state)
{
    (void)state;
    struct sae_params p;
    make_sae(&p, 8);
    float x[8 * D], y[8 * D];
    random_rows(x, 8, 9);
    memcpy(y, x, sizeof x);
    struct gsae_error err;
    struct intervene iv;
    /* nothing ablated, with the error term: bit for bit unchanged */
    struct intervene_spec spec = {.op = INTERVENE_ABLATE, .layer = 2, .error_term = true};
    assert_int_equal(intervene_init(&iv, &spec, &p, 8, &err), GSAE_OK);
    run_hook(&iv, y, 2);
    assert_memory_equal(x, y, sizeof x);
    intervene_free(&iv);
    /* also when encoding for the record */
    spec.record = true;
    assert_int_equal(intervene_init(&iv, &spec, &p, 2, &err), GSAE_OK);
    run_hook(&iv, y, 2);
    assert_memory_equal(x, y, sizeof x);
    assert_int_equal(iv.rec.n_rows, 8);
    intervene_free(&iv);
    /* and the textbook formula decode(acts) + (x - decode(acts)) is within an ulp or two */
    struct sae_encoder enc;
    struct sae_acts a;
    float recon[8 * D], e[8 * D];
    assert_int_equal(sae_encoder_init(&enc, &p, 0, &err), GSAE_OK);
    assert_int_equal(sae_acts_init(&a, 0, 0, &err), GSAE_OK);
    assert_int_equal(sae_encode(&enc, x, 8, &a, &err), GSAE_OK);
    sae_decode(&p, &a, recon);
    sae_error_term(&p, x, &a, e);
    for (int i = 0; i < 8 * D; i++)
        assert_true(fabsf(recon[i] + e[i] - x[i]) <=
                    2 * nextafterf(fmaxf(fabsf(x[i]), fabsf(recon[i])), INFINITY) -
                        2 * fmaxf(fabsf(x[i]), fabsf(recon[i])));
    sae_encoder_free(&enc);
    sae_acts_free(&a);
    sae_params_free(&p);
}

static void test_ablate(void **state)
{
    (void)state;
    struct sae_params p;
    make_sae(&p, 10);
    float x[8 * D];
    random_rows(x, 8, 11);
    struct gsae_error err;
    struct sae_encoder enc;
    struct sae_acts a;
    assert_int_equal(sae_encoder_init(&enc, &p, 0, &err), GSAE_OK);
    assert_int_equal(sae_acts_init(&a, 0, 0, &err), GSAE_OK);
    assert_int_equal(sae_encode(&enc, x, 8, &a, &err), GSAE_OK);
    int32_t f = a.feature[a.row_ptr[1]]; /* active on row 1 */
    float dense[8 * S], recon[8 * D], abl[8 * D];
    sae_acts_to_dense(&a, S, dense);
    sae_decode(&p, &a, recon);
    sae_decode_without(&p, &a, &f, 1, abl);

    for (int with_err = 0; with_err < 2; with_err++) {
        float y[8 * D];
        memcpy(y, x, sizeof x);
        struct intervene iv;
        struct intervene_spec spec = {.op = INTERVENE_ABLATE,
                                      .layer = 1,
                                      .ablate = &f,
                                      .n_ablate = 1,
                                      .error_term = with_err};
        assert_int_equal(intervene_init(&iv, &spec, &p, 8, &err), GSAE_OK);
        run_hook(&iv, y, 0); /* another layer: untouched */
        assert_memory_equal(x, y, sizeof x);
        run_hook(&iv, y, 1);
        for (int r = 0; r < 8; r++)
            for (int i = 0; i < D; i++) {
                float want =
                    with_err ? abl[r * D + i] + (x[r * D + i] - recon[r * D + i]) : abl[r * D + i];
                assert_true(fabsf(y[r * D + i] - want) < 1e-5f);
                if (dense[r * S + f] == 0.0f && with_err)
                    assert_true(y[r * D + i] == x[r * D + i]); /* inactive: exactly x */
            }
        intervene_free(&iv);
    }
    sae_encoder_free(&enc);
    sae_acts_free(&a);
    sae_params_free(&p);
}

static void test_splice_at_positions_and_record(void **state)
{
    (void)state;
    struct sae_params p;
    make_sae(&p, 12);
    float x[8 * D], y[8 * D];
    random_rows(x, 8, 13);
    memcpy(y, x, sizeof x);
    struct gsae_error err;
    struct sae_encoder enc;
    struct sae_acts a;
    float recon[8 * D];
    assert_int_equal(sae_encoder_init(&enc, &p, 0, &err), GSAE_OK);
    assert_int_equal(sae_acts_init(&a, 0, 0, &err), GSAE_OK);
    assert_int_equal(sae_encode(&enc, x, 8, &a, &err), GSAE_OK);
    sae_decode(&p, &a, recon);

    const int64_t positions[2] = {2, 11}; /* row 2 of seq 0, row 6 (second of seq 1) */
    struct intervene iv;
    struct intervene_spec spec = {.op = INTERVENE_SPLICE,
                                  .layer = 4,
                                  .positions = positions,
                                  .n_positions = 2,
                                  .record = true};
    assert_int_equal(intervene_init(&iv, &spec, &p, 1, &err), GSAE_OK);
    run_hook(&iv, y, 4);
    for (int r = 0; r < 8; r++) {
        const float *want = r == 2 || r == 6 ? recon + r * D : x + r * D;
        for (int i = 0; i < D; i++)
            assert_true(fabsf(y[r * D + i] - want[i]) < 1e-6f);
    }
    assert_int_equal(iv.rec.n_rows, 2);
    assert_int_equal(iv.rec_slot[0], 3);
    assert_int_equal(iv.rec_pos[0], 2);
    assert_int_equal(iv.rec_slot[1], 1);
    assert_int_equal(iv.rec_pos[1], 11);
    assert_int_equal(iv.rec.row_ptr[1] - iv.rec.row_ptr[0], a.row_ptr[3] - a.row_ptr[2]);
    assert_memory_equal(iv.rec.feature + iv.rec.row_ptr[1], a.feature + a.row_ptr[6],
                        (size_t)(a.row_ptr[7] - a.row_ptr[6]) * sizeof *a.feature);
    run_hook(&iv, y, 4); /* record appends */
    assert_int_equal(iv.rec.n_rows, 4);
    intervene_record_clear(&iv);
    assert_int_equal(iv.rec.n_rows, 0);
    intervene_free(&iv);
    sae_encoder_free(&enc);
    sae_acts_free(&a);
    sae_params_free(&p);
}

static void test_steer(void **state)
{
    (void)state;
    struct sae_params p;
    make_sae(&p, 14);
    float x[8 * D], y[8 * D];
    random_rows(x, 8, 15);
    memcpy(y, x, sizeof x);
    struct gsae_error err;
    struct intervene iv;
    struct intervene_spec spec = {
        .op = INTERVENE_STEER, .layer = 0, .steer_feature = 17, .steer_coef = -2.5f};
    assert_int_equal(intervene_init(&iv, &spec, &p, 8, &err), GSAE_OK);
    run_hook(&iv, y, 0);
    for (int r = 0; r < 8; r++)
        for (int i = 0; i < D; i++)
            assert_true(y[r * D + i] == x[r * D + i] + -2.5f * p.w_dec[17 * D + i]);
    struct gemma_hook h = intervene_hook(&iv);
    assert_int_equal(h.fn(h.ctx, "resid_post", 0, y, &batch, D + 1, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "d_in"));
    intervene_free(&iv);

    spec.steer_feature = S;
    assert_int_equal(intervene_init(&iv, &spec, &p, 8, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "feature"));
    spec.op = INTERVENE_ABLATE;
    int32_t bad = -1;
    spec.ablate = &bad;
    spec.n_ablate = 1;
    assert_int_equal(intervene_init(&iv, &spec, &p, 8, &err), GSAE_EINVAL);
    intervene_free(&iv);
    sae_params_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_term_leaves_x_unchanged),
        cmocka_unit_test(test_ablate),
        cmocka_unit_test(test_splice_at_positions_and_record),
        cmocka_unit_test(test_steer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
