/* test_featstats.c: statistics against brute force, bit-identical merges in any grouping and
 * order, tie-breaking, histogram edges, and the feature_stats.nc round trip. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/featstats_nc.h"
#include "../../src/featstats.h"
#include "../../src/rng.h"

#define CTX   16
#define N_WIN 40
#define D_SAE 30

struct win {
    int32_t tok[CTX];
    int64_t doc[CTX], pos[CTX], rows[CTX + 1];
    uint32_t index[CTX * D_SAE];
    float value[CTX * D_SAE];
};

static struct win *make_windows(uint64_t seed)
{
    struct win *w = calloc(N_WIN, sizeof *w);
    struct rng r;
    rng_seed(&r, seed);
    for (int k = 0; k < N_WIN; k++) {
        for (int t = 0; t < CTX; t++) {
            w[k].tok[t] = (int32_t)rng_below(&r, 1000);
            w[k].doc[t] = k / 2;
            w[k].pos[t] = t == 0 ? -1 : (k % 2) * CTX + t;
            int64_t z = w[k].rows[t];
            for (uint32_t f = 0; f < D_SAE; f++)
                if (rng_below(&r, 4) == 0) {
                    w[k].index[z] = f;
                    /* coarse values so ties happen */
                    w[k].value[z] = (float)(1 + rng_below(&r, 6)) * 0.5f;
                    z++;
                }
            w[k].rows[t + 1] = z;
        }
    }
    return w;
}

static const struct featstats_config cfg = {D_SAE, 4, 3, 2, false};

static void add(struct featstats *fs, const struct win *w, int k)
{
    featstats_add_window(fs, k, CTX, w[k].tok, w[k].doc, w[k].pos, w[k].rows, w[k].index,
                         w[k].value);
}

static void assert_same(const struct featstats *a, const struct featstats *b)
{
    size_t d = D_SAE, k = (size_t)cfg.top_k;
    assert_int_equal(a->n_tokens, b->n_tokens);
    assert_memory_equal(a->fire_count, b->fire_count, d * sizeof *a->fire_count);
    assert_memory_equal(a->sum_hi, b->sum_hi, d * sizeof *a->sum_hi);
    assert_memory_equal(a->sum_lo, b->sum_lo, d * sizeof *a->sum_lo);
    assert_memory_equal(a->hist, b->hist, d * FEATSTATS_HIST_BINS * sizeof *a->hist);
    assert_memory_equal(a->top_n, b->top_n, d * sizeof *a->top_n);
    for (size_t i = 0; i < d * k; i++)
        if ((int64_t)(i % k) < a->top_n[i / k]) {
            assert_true(a->top[i].value == b->top[i].value);
            assert_int_equal(a->top[i].doc, b->top[i].doc);
            assert_int_equal(a->top[i].pos, b->top[i].pos);
            assert_int_equal(a->top[i].token, b->top[i].token);
        }
    assert_memory_equal(a->top_ctx, b->top_ctx, d * k * (size_t)a->ctx_len * sizeof(int32_t));
}

struct flat {
    struct featstats_example ex;
    int64_t f, win, t;
};

static int by_rank(const void *pa, const void *pb)
{
    const struct flat *a = pa, *b = pb;
    if (a->f != b->f) return a->f < b->f ? -1 : 1;
    return featstats_example_better(&a->ex, &b->ex) ? -1 : 1;
}

static void test_brute_force(void **state)
{
    (void)state;
    struct win *w = make_windows(1);
    struct featstats fs;
    struct gsae_error err;
    assert_int_equal(featstats_init(&fs, &cfg, &err), GSAE_OK);
    for (int k = 0; k < N_WIN; k++)
        add(&fs, w, k);
    struct flat *all = calloc(N_WIN * CTX * D_SAE, sizeof *all);
    size_t n = 0;
    int64_t fire[D_SAE] = {0}, tokens = 0;
    double sum[D_SAE] = {0};
    for (int k = 0; k < N_WIN; k++)
        for (int t = 0; t < CTX; t++) {
            if (w[k].pos[t] < 0) continue;
            tokens++;
            for (int64_t z = w[k].rows[t]; z < w[k].rows[t + 1]; z++) {
                int64_t f = w[k].index[z];
                fire[f]++;
                sum[f] += w[k].value[z];
                all[n++] =
                    (struct flat){{w[k].value[z], w[k].doc[t], w[k].pos[t], k * CTX + t}, f, k, t};
            }
        }
    qsort(all, n, sizeof *all, by_rank);
    assert_int_equal(fs.n_tokens, tokens);
    size_t at = 0;
    for (int64_t f = 0; f < D_SAE; f++) {
        assert_int_equal(fs.fire_count[f], fire[f]);
        assert_true(featstats_sum(&fs, f) == sum[f]); /* halves sum exactly */
        for (int64_t j = 0; j < fs.top_n[f]; j++) {
            const struct flat *e = &all[at + (size_t)j];
            const struct featstats_example *got = &fs.top[f * cfg.top_k + j];
            assert_int_equal(e->f, f);
            assert_true(got->value == e->ex.value);
            assert_int_equal(got->doc, e->ex.doc);
            assert_int_equal(got->pos, e->ex.pos);
            assert_int_equal(got->token, e->ex.token);
            const int32_t *c = fs.top_ctx + (f * cfg.top_k + j) * fs.ctx_len;
            for (int64_t i = 0; i < fs.ctx_len; i++) {
                int64_t tt = e->t - cfg.ctx_before + i;
                assert_int_equal(c[i], tt >= 0 && tt < CTX ? w[e->win].tok[tt] : -1);
            }
            if (j > 0) /* ties are ordered by (doc, pos) */
                assert_true(featstats_example_better(got - 1, got));
        }
        while (at < n && all[at].f == f)
            at++;
    }
    featstats_free(&fs);
    free(all);
    free(w);
}

static void test_merge_any_grouping(void **state)
{
    (void)state;
    struct win *w = make_windows(2);
    struct gsae_error err;
    struct featstats whole;
    assert_int_equal(featstats_init(&whole, &cfg, &err), GSAE_OK);
    for (int k = 0; k < N_WIN; k++)
        add(&whole, w, k);
    for (int ranks = 1; ranks <= 5; ranks++) {
        struct featstats part[5], total;
        struct rng r;
        rng_seed(&r, (uint64_t)ranks);
        for (int i = 0; i < ranks; i++)
            assert_int_equal(featstats_init(&part[i], &cfg, &err), GSAE_OK);
        for (int k = N_WIN - 1; k >= 0; k--) /* any rank, any order */
            add(&part[rng_below(&r, (uint64_t)ranks)], w, k);
        assert_int_equal(featstats_init(&total, &cfg, &err), GSAE_OK);
        for (int i = ranks - 1; i >= 0; i--) {
            assert_int_equal(featstats_merge(&total, &part[i], &err), GSAE_OK);
            featstats_free(&part[i]);
        }
        assert_same(&total, &whole);
        featstats_free(&total);
    }
    struct featstats other;
    struct featstats_config c2 = cfg;
    c2.top_k = 5;
    assert_int_equal(featstats_init(&other, &c2, &err), GSAE_OK);
    assert_int_equal(featstats_merge(&whole, &other, &err), GSAE_EINVAL);
    featstats_free(&other);
    featstats_free(&whole);
    free(w);
}

static void test_histogram(void **state)
{
    (void)state;
    assert_int_equal(featstats_hist_bin(1e-4f), 0);
    assert_int_equal(featstats_hist_bin(1.0f), 25);
    assert_int_equal(featstats_hist_bin(1e3f), FEATSTATS_HIST_BINS - 1);
    assert_true(featstats_hist_lower(25) == 1.0);
    struct rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < 10000; i++) {
        float a = (float)pow(10.0, -4.0 + 8.0 * rng_uniform(&r));
        int64_t b = featstats_hist_bin(a);
        assert_true(b >= 0 && b < FEATSTATS_HIST_BINS);
        assert_true((double)a >= featstats_hist_lower(b));
        if (b + 1 < FEATSTATS_HIST_BINS) assert_true((double)a < featstats_hist_lower(b + 1));
    }
    struct featstats_config bad = cfg;
    bad.top_k = 0;
    struct featstats fs;
    struct gsae_error err;
    assert_int_equal(featstats_init(&fs, &bad, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "top_k"));
}

static void test_nc_round_trip(void **state)
{
    (void)state;
    struct win *w = make_windows(4);
    struct featstats fs, back;
    struct gsae_error err;
    assert_int_equal(featstats_init(&fs, &cfg, &err), GSAE_OK);
    for (int k = 0; k < N_WIN; k++)
        add(&fs, w, k);
    assert_int_equal(featstats_nc_write("feature_stats.nc", &fs, &err), GSAE_OK);
    assert_int_equal(featstats_nc_read("feature_stats.nc", &back, &err), GSAE_OK);
    assert_same(&fs, &back);
    featstats_free(&back);
    featstats_free(&fs);
    assert_int_equal(featstats_nc_read("missing.nc", &back, &err), GSAE_EIO);
    assert_non_null(strstr(err.msg, "missing.nc"));
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_brute_force),
        cmocka_unit_test(test_merge_any_grouping),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_nc_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
