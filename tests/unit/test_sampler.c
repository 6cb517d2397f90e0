/* test_sampler.c: greedy ties, top-k/top-p candidate sets, temperature, and that a seed fixes
 * the sequence of draws. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/sampler.h"

static void test_argmax(void **state)
{
    (void)state;
    float l[6] = {1.0f, 3.0f, NAN, 3.0f, -INFINITY, 2.0f};
    assert_int_equal(sampler_argmax(l, 6), 1); /* first of the tied maxima; NaN skipped */
    float nan2[2] = {NAN, NAN};
    assert_int_equal(sampler_argmax(nan2, 2), 0);
}

/* Draw n tokens with params p from logits l and count how often each comes up. */
static void histogram(const struct sampler_params *p, const float *l, int64_t nv, uint64_t seed,
                      int n, int *count)
{
    struct sampler s;
    struct gsae_error err;
    assert_int_equal(sampler_init(&s, p, nv, &err), GSAE_OK);
    struct rng r;
    rng_seed(&r, seed);
    memset(count, 0, (size_t)nv * sizeof *count);
    for (int i = 0; i < n; i++) {
        int32_t t = sampler_pick(&s, l, &r);
        assert_true(t >= 0 && t < nv);
        count[t]++;
    }
    sampler_free(&s);
}

static void test_top_k_top_p(void **state)
{
    (void)state;
    /* Probabilities at temperature 1: about 0.64, 0.24, 0.09, 0.03, 0.00... */
    float l[8] = {2.0f, 3.0f, 0.0f, 4.0f, -5.0f, 1.0f, -6.0f, -7.0f};
    int count[8];
    struct sampler_params p = {.temperature = 1.0f, .top_k = 2, .top_p = 1.0f};
    histogram(&p, l, 8, 1, 4000, count);
    assert_true(count[3] + count[1] == 4000); /* only the two largest */
    assert_true(count[3] > 2 * count[1]);     /* e^4 : e^3 */
    double ratio = (double)count[3] / count[1];
    assert_true(ratio > 2.3 && ratio < 3.2);

    p = (struct sampler_params){.temperature = 1.0f, .top_k = 0, .top_p = 0.8f};
    histogram(&p, l, 8, 2, 4000, count); /* 0.64 < 0.8 <= 0.64 + 0.24: tokens 3 and 1 */
    assert_true(count[3] + count[1] == 4000 && count[1] > 0);

    p = (struct sampler_params){.temperature = 1.0f, .top_k = 0, .top_p = 0.1f};
    histogram(&p, l, 8, 3, 100, count); /* the most likely token is always kept */
    assert_int_equal(count[3], 100);

    p = (struct sampler_params){.temperature = 0.05f, .top_k = 0, .top_p = 1.0f};
    histogram(&p, l, 8, 4, 1000, count); /* low temperature: essentially greedy */
    assert_int_equal(count[3], 1000);

    p = (struct sampler_params){.temperature = 100.0f, .top_k = 0, .top_p = 1.0f};
    histogram(&p, l, 8, 5, 8000, count); /* high temperature: close to uniform */
    for (int i = 0; i < 8; i++)
        assert_true(count[i] > 700 && count[i] < 1300);
}

static void test_seed_determinism(void **state)
{
    (void)state;
    float l[50];
    for (int i = 0; i < 50; i++)
        l[i] = sinf((float)i) * 3.0f;
    struct sampler_params p = {.temperature = 0.8f, .top_k = 20, .top_p = 0.9f};
    struct sampler s;
    struct gsae_error err;
    assert_int_equal(sampler_init(&s, &p, 50, &err), GSAE_OK);
    int32_t a[64], b[64], c[64];
    struct rng r;
    rng_seed(&r, 42);
    for (int i = 0; i < 64; i++)
        a[i] = sampler_pick(&s, l, &r);
    rng_seed(&r, 42);
    for (int i = 0; i < 64; i++)
        b[i] = sampler_pick(&s, l, &r);
    rng_seed(&r, 43);
    for (int i = 0; i < 64; i++)
        c[i] = sampler_pick(&s, l, &r);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    sampler_free(&s);
    sampler_free(&s);
}

static void test_bad_params(void **state)
{
    (void)state;
    struct sampler s;
    struct gsae_error err;
    struct sampler_params p = {.temperature = -1.0f, .top_k = 0, .top_p = 1.0f};
    assert_int_equal(sampler_init(&s, &p, 10, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "temperature"));
    p = (struct sampler_params){.temperature = 1.0f, .top_k = 0, .top_p = 0.0f};
    assert_int_equal(sampler_init(&s, &p, 10, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "top_p"));
    p = (struct sampler_params){.temperature = 1.0f, .top_k = -3, .top_p = 1.0f};
    assert_int_equal(sampler_init(&s, &p, 10, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "top_k"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argmax),
        cmocka_unit_test(test_top_k_top_p),
        cmocka_unit_test(test_seed_determinism),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
