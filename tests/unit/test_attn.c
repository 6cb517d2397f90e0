/* test_attn.c: causal grouped-query attention of one sequence against its KV cache
 * (src/attn.h), f32 and bf16, against a double-precision reference: global and sliding-window
 * masks, the soft-cap, query tiles longer than ATTN_Q_TILE, rows computed after a cached prefix
 * (pos0 > 0) and single-token decoding; the output stride is respected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/attn.h"
#include "../common/check.h"

enum { H = 4, KVH = 2, DH = 16, QD = H * DH, KVD = KVH * DH, SEQ = ATTN_Q_TILE + 44 };

struct inputs {
    float *q, *k, *v; /* (SEQ, QD) and (SEQ, KVD) x 2 */
};

static struct inputs make_inputs(uint64_t seed)
{
    struct inputs in = {malloc(sizeof(float) * SEQ * QD), malloc(sizeof(float) * SEQ * KVD),
                        malloc(sizeof(float) * SEQ * KVD)};
    check_fill_normal(in.q, SEQ * QD, seed, 1.0);
    check_fill_normal(in.k, SEQ * KVD, seed + 1, 1.0);
    check_fill_normal(in.v, SEQ * KVD, seed + 2, 1.0);
    return in;
}

static void free_inputs(struct inputs *in)
{
    free(in->q);
    free(in->k);
    free(in->v);
}

/* The reference: row i (position pos0 + i) in double. */
static void reference(const struct inputs *in, int64_t pos0, int64_t n_tok,
                      const struct attn_shape *s, double *out)
{
    double *w = malloc(sizeof(double) * SEQ);
    for (int64_t i = 0; i < n_tok; i++) {
        int64_t p = pos0 + i;
        for (int64_t h = 0; h < H; h++) {
            int64_t g = h / (H / KVH);
            const float *q = in->q + p * QD + h * DH;
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j <= p; j++) {
                w[j] = -INFINITY;
                if (s->window > 0 && p - j >= s->window) continue;
                double d = 0;
                for (int64_t c = 0; c < DH; c++)
                    d += (double)q[c] * in->k[j * KVD + g * DH + c];
                d *= s->scale;
                if (s->softcap > 0) d = s->softcap * tanh(d / s->softcap);
                w[j] = d;
                mx = d > mx ? d : mx;
            }
            for (int64_t j = 0; j <= p; j++) {
                w[j] = w[j] == -INFINITY ? 0 : exp(w[j] - mx);
                sum += w[j];
            }
            for (int64_t c = 0; c < DH; c++) {
                double acc = 0;
                for (int64_t j = 0; j <= p; j++)
                    acc += w[j] * in->v[j * KVD + g * DH + c];
                out[i * QD + h * DH + c] = acc / sum;
            }
        }
    }
    free(w);
}

/* Run attn_sequence (or the bf16 variant when g) for rows pos0 .. pos0+n_tok-1 and compare. */
static void run_case(const struct inputs *in, int64_t pos0, int64_t n_tok,
                     const struct attn_shape *s, struct gemm_dnnl *g, double rtol, double atol)
{
    enum { LD_OUT = QD + 5 };
    float *out = malloc(sizeof(float) * (size_t)(n_tok * LD_OUT));
    for (int64_t i = 0; i < n_tok * LD_OUT; i++)
        out[i] = -7.0f; /* the gaps between rows must stay untouched */
    double *want = malloc(sizeof(double) * (size_t)(n_tok * QD));
    reference(in, pos0, n_tok, s, want);
    if (!g) {
        float *scores = malloc(sizeof(float) * (size_t)attn_scratch_floats(n_tok, pos0 + n_tok, H));
        attn_sequence(out, LD_OUT, in->q + pos0 * QD, QD, in->k, in->v, KVD, n_tok, pos0, s, scores,
                      1);
        free(scores);
    } else {
        int64_t n = attn_bf16_elems(n_tok, pos0 + n_tok, QD, KVD, DH, 1);
        uint16_t *work = malloc(sizeof(uint16_t) * (size_t)n + 4);
        struct gsae_error err = {0};
        enum gsae_status st = attn_sequence_bf16(out, LD_OUT, in->q + pos0 * QD, QD, in->k, in->v,
                                                 KVD, n_tok, pos0, s, work, g, 1, &err);
        if (st != GSAE_OK) fail_msg("attn_sequence_bf16: %s", err.msg);
        free(work);
    }
    for (int64_t i = 0; i < n_tok; i++) {
        for (int64_t c = 0; c < QD; c++) {
            double got = out[i * LD_OUT + c], e = want[i * QD + c];
            if (!check_close(got, e, rtol, atol))
                fail_msg("pos0 %lld n_tok %lld window %lld softcap %g%s: row %lld col %lld: got "
                         "%.7g, expected %.7g",
                         (long long)pos0, (long long)n_tok, (long long)s->window,
                         (double)s->softcap, g ? " bf16" : "", (long long)i, (long long)c, got, e);
        }
        for (int64_t c = QD; c < LD_OUT; c++)
            assert_true(out[i * LD_OUT + c] == -7.0f);
    }
    free(want);
    free(out);
}

static const struct attn_shape shapes[] = {
    {H, KVH, DH, 0.25f, 0.0f, 0},  /* global, no cap */
    {H, KVH, DH, 0.25f, 50.0f, 0}, /* Gemma-2's attention soft-cap */
    {H, KVH, DH, 0.25f, 2.0f, 37}, /* a cap that bites, sliding window */
    {H, KVH, DH, 0.25f, 0.0f, 1},  /* each row sees only itself: out = v */
};

static void test_f32(void **state)
{
    (void)state;
    struct inputs in = make_inputs(1);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        run_case(&in, 0, SEQ, &shapes[k], NULL, 1e-4, 1e-5);         /* prefill, two tiles */
        run_case(&in, 0, 3, &shapes[k], NULL, 1e-4, 1e-5);           /* a short prompt */
        run_case(&in, 200, SEQ - 200, &shapes[k], NULL, 1e-4, 1e-5); /* after a cached prefix */
        run_case(&in, SEQ - 1, 1, &shapes[k], NULL, 1e-4, 1e-5);     /* decoding */
        run_case(&in, 0, 1, &shapes[k], NULL, 1e-4, 1e-5);           /* the first token */
    }
    free_inputs(&in);
}

static void test_bf16(void **state)
{
    (void)state;
    struct gemm_dnnl *g = NULL;
    struct gsae_error err = {0};
    assert_int_equal(gemm_dnnl_init(&g, SEQ, SEQ, &err), GSAE_OK);
    struct inputs in = make_inputs(2);
    /* q, k, v and the probabilities rounded to bf16 (8 significant bits) */
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        run_case(&in, 0, SEQ, &shapes[k], g, 3e-2, 3e-2);
        run_case(&in, 200, 9, &shapes[k], g, 3e-2, 3e-2);
    }
    free_inputs(&in);
    gemm_dnnl_free(&g);
}

/* A row's result does not depend on the rows computed with it beyond its sequence's tiling:
 * the same rows at the same pos0 and n_tok give the same bits whatever else is in the cache
 * after them. */
static void test_causal_bits(void **state)
{
    (void)state;
    struct inputs a = make_inputs(3), b = make_inputs(3);
    const int64_t n = 40;
    for (int64_t j = n; j < SEQ; j++)
        for (int64_t c = 0; c < KVD; c++)
            b.k[j * KVD + c] = 1e3f, b.v[j * KVD + c] = -1e3f; /* the future differs */
    float oa[40 * QD], ob[40 * QD];
    float *scores = malloc(sizeof(float) * (size_t)attn_scratch_floats(n, n, H));
    attn_sequence(oa, QD, a.q, QD, a.k, a.v, KVD, n, 0, &shapes[1], scores, 1);
    attn_sequence(ob, QD, b.q, QD, b.k, b.v, KVD, n, 0, &shapes[1], scores, 1);
    assert_memory_equal(oa, ob, sizeof oa);
    free(scores);
    free_inputs(&a);
    free_inputs(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_causal_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
