/* test_plan.c: stage plans: balanced splits, explicit specs, truncation, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../mpi/plan.h"

/* Gemma-2 2B dimensions, written out so the test does not depend on the model module. */
static struct gemma_config config_2b(int64_t n_layers)
{
    struct gemma_config c = {0};
    c.n_layers = n_layers;
    c.d_model = 2304;
    c.n_heads = 8;
    c.n_kv_heads = 4;
    c.d_head = 256;
    c.d_ff = 9216;
    c.n_vocab = 256000;
    c.window_local = 4096;
    c.max_pos = 8192;
    return c;
}

static struct plan_options options(int n_ranks, int n_stages, bool with_logits)
{
    struct plan_options o = {0};
    o.n_ranks = n_ranks;
    o.n_stages = n_stages;
    o.with_logits = with_logits;
    o.dtype = GSAE_DTYPE_BF16;
    o.ctx_len = 1024;
    return o;
}

/* The stages tile [0, n_layers) in order, and only the last may be empty (unembedding). */
static void assert_tiles(const struct plan *p)
{
    int64_t next = 0;
    for (int k = 0; k < p->n_stages; k++) {
        assert_int_equal(p->stages[k].layer_begin, next);
        if (k < p->n_stages - 1 || !p->with_logits)
            assert_true(p->stages[k].layer_end > p->stages[k].layer_begin);
        next = p->stages[k].layer_end;
        assert_int_equal(p->stages[k].has_embed, k == 0);
        assert_int_equal(p->stages[k].has_unembed, k == p->n_stages - 1 && p->with_logits);
    }
    assert_int_equal(next, p->n_layers);
}

static void test_single_stage(void **state)
{
    (void)state;
    struct gemma_config c = config_2b(26);
    struct plan_options o = options(1, 0, true);
    struct plan p;
    struct gsae_error err = {0};
    assert_int_equal(plan_make(&p, &c, &o, &err), GSAE_OK);
    assert_int_equal(p.n_stages, 1);
    assert_int_equal(p.n_replicas, 1);
    assert_tiles(&p);
    /* All layers plus the embedding matrix, once. */
    size_t want = 26 * plan_layer_bytes(&c, GSAE_DTYPE_BF16) + 256000u * 2304u * 2u + 2304u * 2u;
    assert_int_equal(p.stages[0].weight_bytes, want);
    plan_free(&p);
    plan_free(&p); /* twice is harmless */
}

/* Equal layers without logits split evenly; the unembedding pulls layers off the last stage. */
static void test_balanced(void **state)
{
    (void)state;
    struct gemma_config c = config_2b(8);
    c.window_local = 1 << 20; /* every layer costs the same */
    struct plan_options o = options(2, 0, false);
    struct plan p;
    struct gsae_error err = {0};
    assert_int_equal(plan_make(&p, &c, &o, &err), GSAE_OK);
    assert_tiles(&p);
    assert_int_equal(p.stages[0].layer_end, 4);

    plan_free(&p);
    o.with_logits = true;
    assert_int_equal(plan_make(&p, &c, &o, &err), GSAE_OK);
    assert_tiles(&p);
    /* Unembedding at vocab 256000 costs about 7.5 layers of 2B: the last stage keeps ~0. */
    assert_true(p.stages[1].layer_end - p.stages[1].layer_begin <= 1);
    double a = p.stages[0].flops_per_token, b = p.stages[1].flops_per_token;
    assert_true((a > b ? a / b : b / a) < 1.3);
    plan_free(&p);
}

/* Minimising the largest stage: no other contiguous split has a smaller maximum. */
static void test_optimal(void **state)
{
    (void)state;
    struct gemma_config c = config_2b(26);
    for (int s = 1; s <= 5; s++) {
        struct plan_options o = options(s, 0, true);
        struct plan p;
        struct gsae_error err = {0};
        assert_int_equal(plan_make(&p, &c, &o, &err), GSAE_OK);
        assert_tiles(&p);
        double worst = 0.0;
        for (int k = 0; k < s; k++)
            if (p.stages[k].flops_per_token > worst) worst = p.stages[k].flops_per_token;
        /* Moving one boundary by one layer never lowers the maximum. */
        for (int k = 0; k + 1 < s; k++) {
            for (int d = -1; d <= 1; d += 2) {
                int64_t cut = p.stages[k].layer_end + d;
                if (cut <= p.stages[k].layer_begin || cut > p.stages[k + 1].layer_end ||
                    (cut == p.stages[k + 1].layer_end && k + 1 < s - 1))
                    continue;
                char spec[256] = "";
                for (int m = 0; m < s; m++) {
                    int64_t b = m == k + 1 ? cut : p.stages[m].layer_begin;
                    int64_t e = m == k ? cut : p.stages[m].layer_end;
                    if (e <= b) {
                        spec[0] = '\0';
                        break;
                    }
                    char part[64];
                    snprintf(part, sizeof part, "%s%lld-%lld", m ? "," : "", (long long)b,
                             (long long)e - 1);
                    strcat(spec, part);
                }
                if (!spec[0]) continue;
                struct plan q;
                struct plan_options oq = o;
                oq.layers = spec;
                assert_int_equal(plan_make(&q, &c, &oq, &err), GSAE_OK);
                double w2 = 0.0;
                for (int m = 0; m < s; m++)
                    if (q.stages[m].flops_per_token > w2) w2 = q.stages[m].flops_per_token;
                assert_true(w2 >= worst);
                plan_free(&q);
            }
        }
        plan_free(&p);
    }
}

static void test_explicit(void **state)
{
    (void)state;
    struct gemma_config c = config_2b(42);
    struct plan_options o = options(6, 0, false);
    o.layers = "0-6,7-13,14-20";
    struct plan p;
    struct gsae_error err = {0};
    assert_int_equal(plan_make(&p, &c, &o, &err), GSAE_OK);
    assert_int_equal(p.n_stages, 3);
    assert_int_equal(p.n_replicas, 2);
    assert_int_equal(p.n_layers, 21); /* truncated: layers 21.. are never touched */
    assert_int_equal(p.stages[1].layer_begin, 7);
    assert_int_equal(p.stages[1].layer_end, 14);
    assert_int_equal(plan_stage_of_layer(&p, 20), 2);
    assert_int_equal(plan_stage_of_layer(&p, 21), -1);
    assert_int_equal(plan_stage_of_rank(&p, 4), 1);
    assert_int_equal(plan_replica_of_rank(&p, 4), 1);
    assert_int_equal(p.stages[1].weight_bytes, 7 * plan_layer_bytes(&c, GSAE_DTYPE_BF16));
    plan_free(&p);
}

/* A truncated balanced plan: the last stage owns the last layer run (the SAE's). */
static void test_truncated(void **state)
{
    (void)state;
    struct gemma_config c = config_2b(42);
    struct plan_options o = options(3, 0, false);
    o.n_layers = 21;
    struct plan p;
    struct gsae_error err = {0};
    assert_int_equal(plan_make(&p, &c, &o, &err), GSAE_OK);
    assert_tiles(&p);
    assert_int_equal(p.stages[2].layer_end, 21);
    assert_false(p.stages[2].has_unembed);
    plan_free(&p);
}

static void expect_fail(const struct gemma_config *c, struct plan_options o, const char *needle)
{
    struct plan p;
    struct gsae_error err = {0};
    assert_int_equal(plan_make(&p, c, &o, &err), GSAE_EINVAL);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
    plan_free(&p);
}

static void test_refusals(void **state)
{
    (void)state;
    struct gemma_config c = config_2b(3);
    expect_fail(&c, options(4, 3, true), "does not divide");
    expect_fail(&c, options(4, 4, false), "at most 3 stages");
    expect_fail(&c, options(5, 5, true), "at most 4 stages");
    struct plan_options o = options(2, 2, false);
    o.layers = "0-1,3-3";
    expect_fail(&c, o, "contiguous");
    o.layers = "0-1";
    expect_fail(&c, o, "gives 1 stages, expected 2");
    o.layers = "0-1,2-5";
    expect_fail(&c, o, "ends at layer 5");
    o.layers = "0-0,1-1";
    o.with_logits = true;
    expect_fail(&c, o, "logits need every layer");
    o.with_logits = false;
    o.layers = "0-x";
    expect_fail(&c, o, "inclusive layer ranges");
    o.layers = "1-0,1-2";
    expect_fail(&c, o, "descending");
}

/* Three layers on four stages with logits: the last stage holds only the unembedding. */
static void test_unembed_stage(void **state)
{
    (void)state;
    struct gemma_config c = config_2b(3);
    struct plan_options o = options(4, 0, true);
    struct plan p;
    struct gsae_error err = {0};
    assert_int_equal(plan_make(&p, &c, &o, &err), GSAE_OK);
    assert_tiles(&p);
    assert_int_equal(p.stages[3].layer_begin, 3);
    assert_int_equal(p.stages[3].layer_end, 3);
    assert_true(p.stages[3].has_unembed);
    plan_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_stage),  cmocka_unit_test(test_balanced),
        cmocka_unit_test(test_optimal),       cmocka_unit_test(test_explicit),
        cmocka_unit_test(test_truncated),     cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_unembed_stage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
