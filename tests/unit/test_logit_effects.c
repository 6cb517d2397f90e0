/* test_logit_effects.c: top logit effects against a naive double computation over the whole
 * vocabulary, with ties (duplicate embedding rows), chunked input, k above the vocabulary, and
 * a bf16 embedding tensor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/logit_effects.h"
#include "../../src/rng.h"

#define D 48
#define V 9000 /* more than one sgemm chunk */
#define F 5
#define K 7

struct data {
    float w_dec[F][D], norm_w[D];
    float *embed; /* (V, D) */
};

static struct data *make(uint64_t seed, int64_t n_vocab)
{
    struct data *x = calloc(1, sizeof *x);
    struct rng r;
    rng_seed(&r, seed);
    for (int f = 0; f < F; f++)
        for (int d = 0; d < D; d++)
            x->w_dec[f][d] = (float)rng_normal(&r);
    for (int d = 0; d < D; d++)
        x->norm_w[d] = (float)(0.5 * rng_normal(&r));
    x->embed = malloc((size_t)(n_vocab * D) * sizeof *x->embed);
    for (int64_t i = 0; i < n_vocab * D; i++)
        x->embed[i] = (float)(0.02 * rng_normal(&r));
    /* exact ties: rows 10, 700 and 8000 equal row 5000 */
    int64_t dup[] = {10, 700, 8000};
    for (int i = 0; i < 3; i++)
        if (dup[i] < n_vocab && 5000 < n_vocab)
            memcpy(x->embed + dup[i] * D, x->embed + 5000 * D, D * sizeof(float));
    return x;
}

static void data_free(struct data *x)
{
    free(x->embed);
    free(x);
}

static double naive(const struct data *x, int f, int64_t v)
{
    double s = 0;
    for (int d = 0; d < D; d++)
        s += (double)x->w_dec[f][d] * (1.0 + (double)x->norm_w[d]) * (double)x->embed[v * D + d];
    return s;
}

struct pair {
    double v;
    int32_t id;
};

static int by_desc(const void *a, const void *b)
{
    const struct pair *p = a, *q = b;
    if (p->v != q->v) return p->v > q->v ? -1 : 1;
    return p->id < q->id ? -1 : p->id > q->id;
}

static int by_asc(const void *a, const void *b)
{
    const struct pair *p = a, *q = b;
    if (p->v != q->v) return p->v < q->v ? -1 : 1;
    return p->id < q->id ? -1 : p->id > q->id;
}

static void check(const struct data *x, const struct logit_effects *le, int64_t n_vocab, int64_t k)
{
    struct pair *all = malloc((size_t)n_vocab * sizeof *all);
    int64_t n_top = k < n_vocab ? k : n_vocab;
    assert_int_equal(le->n_top, n_top);
    for (int f = 0; f < F; f++) {
        for (int64_t v = 0; v < n_vocab; v++)
            all[v] = (struct pair){naive(x, f, v), (int32_t)v};
        qsort(all, (size_t)n_vocab, sizeof *all, by_desc);
        for (int64_t r = 0; r < n_top; r++) {
            assert_int_equal(le->pos_id[f * k + r], all[r].id);
            assert_true(le->pos_value[f * k + r] == all[r].v);
        }
        qsort(all, (size_t)n_vocab, sizeof *all, by_asc);
        for (int64_t r = 0; r < n_top; r++) {
            assert_int_equal(le->neg_id[f * k + r], all[r].id);
            assert_true(le->neg_value[f * k + r] == all[r].v);
        }
    }
    free(all);
}

static void run_case(uint64_t seed, int64_t n_vocab, int64_t k, int64_t step)
{
    struct data *x = make(seed, n_vocab);
    const float *rows[F];
    for (int f = 0; f < F; f++)
        rows[f] = x->w_dec[f];
    struct logit_effects le;
    struct gsae_error err;
    assert_int_equal(logit_effects_init(&le, rows, F, D, x->norm_w, k, &err), GSAE_OK);
    for (int64_t v0 = 0; v0 < n_vocab; v0 += step) {
        int64_t m = n_vocab - v0 < step ? n_vocab - v0 : step;
        assert_int_equal(logit_effects_add(&le, x->embed + v0 * D, v0, m, &err), GSAE_OK);
    }
    check(x, &le, n_vocab, k);
    logit_effects_free(&le);
    data_free(x);
}

static void test_whole(void **state)
{
    (void)state;
    run_case(1, V, K, V);
}

static void test_chunked(void **state)
{
    (void)state;
    run_case(2, V, K, 777);
}

static void test_k_above_vocab(void **state)
{
    (void)state;
    run_case(3, 5, 9, 2);
}

/* The tie at rows 10, 700, 5000, 8000: a feature aligned with row 5000 puts all four first,
 * in id order. */
static void test_ties(void **state)
{
    (void)state;
    struct data *x = make(4, V);
    for (int d = 0; d < D; d++) {
        x->w_dec[0][d] = x->embed[5000 * D + d] * 100.0f;
        x->norm_w[d] = 0;
    }
    const float *rows[F];
    for (int f = 0; f < F; f++)
        rows[f] = x->w_dec[f];
    struct logit_effects le;
    struct gsae_error err;
    assert_int_equal(logit_effects_init(&le, rows, F, D, x->norm_w, K, &err), GSAE_OK);
    assert_int_equal(logit_effects_add(&le, x->embed, 0, V, &err), GSAE_OK);
    int32_t want[] = {10, 700, 5000, 8000};
    for (int r = 0; r < 4; r++)
        assert_int_equal(le.pos_id[r], want[r]);
    check(x, &le, V, K);
    logit_effects_free(&le);
    data_free(x);
}

/* A bf16 tensor gives the same as its f32 conversion; out-of-order rows are refused. */
static void test_tensor(void **state)
{
    (void)state;
    struct data *x = make(5, 1000);
    uint16_t *bf = malloc(1000 * D * sizeof *bf);
    for (int64_t i = 0; i < 1000 * D; i++) {
        bf[i] = gsae_f32_to_bf16(x->embed[i]);
        x->embed[i] = gsae_bf16_to_f32(bf[i]);
    }
    const float *rows[F];
    for (int f = 0; f < F; f++)
        rows[f] = x->w_dec[f];
    struct logit_effects le;
    struct gsae_error err;
    assert_int_equal(logit_effects_init(&le, rows, F, D, x->norm_w, K, &err), GSAE_OK);
    struct gsae_tensor t = {.data = bf, .dtype = GSAE_DTYPE_BF16, .n_dims = 2, .shape = {1000, D}};
    assert_int_equal(logit_effects_add_tensor(&le, &t, &err), GSAE_OK);
    check(x, &le, 1000, K);
    assert_int_equal(logit_effects_add(&le, x->embed, 5, 1, &err), GSAE_EINVAL);
    logit_effects_free(&le);
    assert_int_equal(logit_effects_init(&le, rows, F, D, x->norm_w, 0, &err), GSAE_EINVAL);
    free(bf);
    data_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole),         cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_k_above_vocab), cmocka_unit_test(test_ties),
        cmocka_unit_test(test_tensor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
