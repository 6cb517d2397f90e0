/* test_sae.c: JumpReLU encode/decode against a direct implementation: the CSR contract of the
 * sparse activations (and a checker that catches each breach), f32 and bf16 encoder modes, decode
 * and the error term, appending activations and the parameter checks. (The interventions of
 * src/intervene.h are in test_sae_intervene.c.) */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/sae.h"
#include "../../src/tensor.h"
#include "../common/sae_synth.h"

enum { D = 24, S = 80, N = 37 };

/* A random SAE and rows (tests/common/sae_synth.h) of this file's sizes. */
static void make_sae(struct sae_params *p, uint64_t seed)
{
    sae_synth(p, D, S, seed);
}

static void random_rows(float *x, int64_t n, uint64_t seed)
{
    sae_synth_rows(x, n, D, seed);
}

/* Direct pre-activations in double: pre (n, S). */
static void ref_pre(const struct sae_params *p, const float *x, int64_t n, double *pre)
{
    for (int64_t r = 0; r < n; r++)
        for (int64_t f = 0; f < S; f++) {
            double v = p->b_enc[f];
            for (int64_t i = 0; i < D; i++)
                v += (double)x[r * D + i] * p->w_enc[i * S + f];
            pre[r * S + f] = v;
        }
}

/* Direct JumpReLU in double: acts (n, S). */
static void ref_encode(const struct sae_params *p, const float *x, int64_t n, double *acts)
{
    ref_pre(p, x, n, acts);
    for (int64_t i = 0; i < n * S; i++)
        acts[i] = acts[i] > p->threshold[i % S] && acts[i] > 0 ? acts[i] : 0;
}

/* A pre-activation within rounding of the mask's edges (the threshold or 0): f32 encoding may
 * keep or drop it. */
static bool near_edge(const struct sae_params *p, double pre, int64_t f)
{
    return fabs(pre - p->threshold[f]) <= 1e-4 || fabs(pre) <= 1e-4;
}

static void ref_decode(const struct sae_params *p, const double *acts, int64_t n, double *recon)
{
    for (int64_t r = 0; r < n; r++)
        for (int64_t i = 0; i < D; i++) {
            double v = p->b_dec[i];
            for (int64_t f = 0; f < S; f++)
                v += acts[r * S + f] * p->w_dec[f * D + i];
            recon[r * D + i] = v;
        }
}

/* Format a problem into a static buffer and return it. */
static const char *problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *problem(const char *fmt, ...)
{
    static char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return msg;
}

/* The CSR contract of struct sae_acts (src/sae.h) for an encode of n rows: row_ptr starts at
 * 0, never decreases and ends at nnz; within a row the features ascend strictly (sorted, no
 * duplicates) and lie in [0, S); every value is finite and above both 0 and its feature's
 * threshold, as the JumpReLU keeps nothing else (a zero-valued entry is spurious). Returns the
 * first breach, or NULL. */
static const char *acts_contract_problem(const struct sae_params *p, const struct sae_acts *a,
                                         int64_t n)
{
    if (a->n_rows != n)
        return problem("%lld rows, expected %lld", (long long)a->n_rows, (long long)n);
    if (a->row_ptr[0] != 0) return problem("row_ptr[0] is %lld", (long long)a->row_ptr[0]);
    for (int64_t r = 0; r < n; r++) {
        if (a->row_ptr[r] > a->row_ptr[r + 1])
            return problem("row_ptr decreases at row %lld", (long long)r);
        for (int64_t k = a->row_ptr[r]; k < a->row_ptr[r + 1]; k++) {
            int32_t f = a->feature[k];
            float v = a->value[k];
            if (f < 0 || f >= S)
                return problem("row %lld: feature %d out of range", (long long)r, f);
            if (k > a->row_ptr[r] && a->feature[k - 1] >= f)
                return problem("row %lld: feature %d after %d (not ascending, or repeated)",
                               (long long)r, f, a->feature[k - 1]);
            if (!isfinite(v) || !(v > 0.0f))
                return problem("row %lld: feature %d has value %g, not above 0", (long long)r, f,
                               (double)v);
            if (!(v > p->threshold[f]))
                return problem("row %lld: feature %d has value %g, not above its threshold %g",
                               (long long)r, f, (double)v, (double)p->threshold[f]);
        }
    }
    if (a->row_ptr[n] != a->nnz)
        return problem("row_ptr ends at %lld, nnz is %lld", (long long)a->row_ptr[n],
                       (long long)a->nnz);
    return NULL;
}

/* The first way a, the encode of n rows of x, differs from what it must be, or NULL. Beyond
 * the contract: each row's entries are exactly the nonzero features of the library's dense,
 * one-feature-at-a-time encode (sae_feature_act) and of the reference in double, no more and
 * no fewer, with their values; only a feature within rounding of the mask's edges may go
 * either way. Scattered to dense, a has as many nonzeros as entries. */
static const char *acts_problem(const struct sae_params *p, const float *x,
                                const struct sae_acts *a, int64_t n)
{
    const char *bad = acts_contract_problem(p, a, n);
    if (bad) return bad;
    double *pre = malloc((size_t)(n * S) * sizeof *pre);
    float *dense = malloc((size_t)(n * S) * sizeof *dense);
    assert_non_null(pre);
    assert_non_null(dense);
    ref_pre(p, x, n, pre);
    int64_t edge = 0;
    for (int64_t r = 0; r < n && !bad; r++) {
        int64_t k = a->row_ptr[r];
        for (int64_t f = 0; f < S && !bad; f++) {
            double v = pre[r * S + f];
            bool fires = v > p->threshold[f] && v > 0, either = near_edge(p, v, f);
            float one = sae_feature_act(p, x + r * D, f);
            bool listed = k < a->row_ptr[r + 1] && a->feature[k] == f;
            edge += either;
            if (!either && listed != fires)
                bad = problem("row %lld: feature %lld %s (pre-activation %g, threshold %g)",
                              (long long)r, (long long)f,
                              listed ? "listed but does not fire" : "fires but is not listed", v,
                              (double)p->threshold[f]);
            else if (!either && (one != 0.0f) != fires)
                bad = problem("row %lld: feature %lld: sae_feature_act gives %g", (long long)r,
                              (long long)f, (double)one);
            else if (listed && (fabs(a->value[k] - v) >= 1e-4 ||
                                (one != 0.0f && fabsf(a->value[k] - one) >= 1e-4f)))
                bad = problem("row %lld: feature %lld: value %g, expected %g", (long long)r,
                              (long long)f, (double)a->value[k], v);
            if (listed) k++;
        }
        if (!bad && k != a->row_ptr[r + 1])
            bad = problem("row %lld: entries left over after feature %d", (long long)r, S - 1);
    }
    if (!bad && edge >= n * S / 100) /* the margins may excuse only a few features */
        bad = problem("%lld of %lld features near the mask's edges", (long long)edge,
                      (long long)(n * S));
    if (!bad) {
        int64_t nonzero = 0;
        sae_acts_to_dense(a, S, dense);
        for (int64_t i = 0; i < n * S; i++)
            nonzero += dense[i] != 0.0f;
        if (nonzero != a->nnz)
            bad = problem("%lld entries, %lld nonzeros when scattered to dense", (long long)a->nnz,
                          (long long)nonzero);
    }
    free(pre);
    free(dense);
    return bad;
}

static void assert_acts_exact(const struct sae_params *p, const float *x, const struct sae_acts *a,
                              int64_t n)
{
    const char *problem = acts_problem(p, x, a, n);
    if (problem) fail_msg("sparse activations: %s", problem);
}

/* out = a with entry (f, v) inserted at index at (row is the row it lands in); at == -1
 * removes the entry at index -f - 1 instead. */
static void edit_acts(const struct sae_acts *a, int64_t row, int64_t at, int32_t f, float v,
                      struct sae_acts *out)
{
    struct gsae_error err;
    assert_int_equal(sae_acts_init(out, a->n_rows, a->nnz + 1, &err), GSAE_OK);
    int64_t del = at < 0 ? -(int64_t)f - 1 : -1, shift = at < 0 ? -1 : 1;
    for (int64_t r = 0; r <= a->n_rows; r++)
        out->row_ptr[r] = a->row_ptr[r] + (r > row ? shift : 0);
    int64_t o = 0;
    for (int64_t k = 0; k <= a->nnz; k++) {
        if (k == at) out->feature[o] = f, out->value[o++] = v;
        if (k < a->nnz && k != del) out->feature[o] = a->feature[k], out->value[o++] = a->value[k];
    }
    out->n_rows = a->n_rows;
    out->nnz = o;
}

/* The checker above catches each kind of spurious, missing or misplaced entry, built by hand
 * from a correct encode. */
static void test_acts_checker_catches_bad_entries(void **state)
{
    (void)state;
    struct sae_params p;
    make_sae(&p, 16);
    float x[N * D];
    random_rows(x, N, 17);
    struct gsae_error err;
    struct sae_encoder enc;
    struct sae_acts a, bad;
    assert_int_equal(sae_encoder_init(&enc, &p, 0, &err), GSAE_OK);
    assert_int_equal(sae_acts_init(&a, 0, 0, &err), GSAE_OK);
    assert_int_equal(sae_encode(&enc, x, N, &a, &err), GSAE_OK);
    assert_null(acts_problem(&p, x, &a, N));

    /* a row with two entries or more, the first firing clearly, and a feature before it that
     * clearly does not fire */
    double pre[N * S];
    ref_pre(&p, x, N, pre);
    int64_t row = -1, quiet = -1;
    for (int64_t r = 0; r < N && row < 0; r++) {
        if (a.row_ptr[r + 1] - a.row_ptr[r] < 2) continue;
        int32_t first = a.feature[a.row_ptr[r]];
        if (near_edge(&p, pre[r * S + first], first)) continue;
        for (int64_t f = 0; f < first && quiet < 0; f++)
            if (!near_edge(&p, pre[r * S + f], f)) quiet = f;
        if (quiet >= 0) row = r;
    }
    assert_true(row >= 0);
    int64_t k0 = a.row_ptr[row]; /* quiet < feature[k0]: inserting at k0 keeps the order */
    const struct {
        const char *what, *expect;
        int64_t at;
        int32_t f;
        float v;
    } cases[] = {
        {"zero-valued entry", "not above 0", k0, (int32_t)quiet, 0.0f},
        {"spurious entry", "listed but does not fire", k0, (int32_t)quiet,
         fmaxf(p.threshold[quiet], 0.0f) + 1.0f},
        {"repeated entry", "not ascending, or repeated", k0 + 1, a.feature[k0], a.value[k0]},
        {"unsorted entry", "not ascending", k0 + 2, (int32_t)quiet,
         fmaxf(p.threshold[quiet], 0.0f) + 1.0f},
        {"missing entry", "fires but is not listed", -1, (int32_t)(-k0 - 1), 0.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        edit_acts(&a, row, cases[i].at, cases[i].f, cases[i].v, &bad);
        const char *m = acts_problem(&p, x, &bad, N);
        print_message("%s: %s\n", cases[i].what, m ? m : "(not caught)");
        assert_non_null(m);
        assert_non_null(strstr(m, cases[i].expect));
        sae_acts_free(&bad);
    }
    /* a value off by 0.5, a feature out of range, row_ptr not ending at nnz */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sae_acts_init(&bad, 0, 0, &err), GSAE_OK);
        assert_int_equal(sae_acts_append(&bad, &a, 0, N, &err), GSAE_OK);
        assert_null(acts_problem(&p, x, &bad, N));
        const char *expect = "expected";
        if (i == 0) bad.value[k0] += 0.5f;
        if (i == 1) bad.feature[a.row_ptr[row + 1] - 1] = S, expect = "out of range";
        if (i == 2) bad.nnz--, expect = "nnz is";
        const char *m = acts_problem(&p, x, &bad, N);
        print_message("%s\n", m ? m : "(not caught)");
        assert_non_null(m);
        assert_non_null(strstr(m, expect));
        sae_acts_free(&bad);
    }
    sae_encoder_free(&enc);
    sae_acts_free(&a);
    sae_params_free(&p);
}

static void test_encode_matches_reference(void **state)
{
    (void)state;
    struct sae_params p;
    make_sae(&p, 1);
    float x[N * D];
    random_rows(x, N, 2);
    double ref[N * S];
    ref_encode(&p, x, N, ref);
    struct gsae_error err;
    struct sae_encoder enc;
    struct sae_acts a;
    /* block of 5 rows: several sgemm blocks and a ragged last one */
    assert_int_equal(sae_encoder_init(&enc, &p, 5, &err), GSAE_OK);
    assert_int_equal(sae_acts_init(&a, 0, 0, &err), GSAE_OK);
    assert_int_equal(sae_encode(&enc, x, N, &a, &err), GSAE_OK);
    assert_acts_exact(&p, x, &a, N);
    assert_true(a.nnz > 0 && a.nnz < N * S); /* the test exercises both sides of the mask */

    /* dense scatter agrees */
    float dense[N * S];
    sae_acts_to_dense(&a, S, dense);
    for (int64_t i = 0; i < N * S; i++)
        assert_true(fabs(dense[i] - ref[i]) < 1e-4 || fabs(ref[i] - p.threshold[i % S]) <= 1e-4);

    /* the same with one block of all rows */
    struct sae_encoder enc1;
    struct sae_acts a1;
    assert_int_equal(sae_encoder_init(&enc1, &p, 0, &err), GSAE_OK);
    assert_int_equal(sae_acts_init(&a1, 0, 0, &err), GSAE_OK);
    assert_int_equal(sae_encode(&enc1, x, N, &a1, &err), GSAE_OK);
    assert_acts_exact(&p, x, &a1, N);
    assert_int_equal(a1.nnz, a.nnz);
    sae_encoder_free(&enc1);
    sae_acts_free(&a1);
    sae_acts_free(&a1); /* twice is harmless */

    sae_encoder_free(&enc);
    sae_acts_free(&a);
    sae_params_free(&p);
}

static void test_decode_and_error_term(void **state)
{
    (void)state;
    struct sae_params p;
    make_sae(&p, 3);
    float x[N * D];
    random_rows(x, N, 4);
    struct gsae_error err;
    struct sae_encoder enc;
    struct sae_acts a;
    assert_int_equal(sae_encoder_init(&enc, &p, 0, &err), GSAE_OK);
    assert_int_equal(sae_acts_init(&a, N, 16, &err), GSAE_OK);
    assert_int_equal(sae_encode(&enc, x, N, &a, &err), GSAE_OK);
    double acts[N * S];
    float dense[N * S];
    sae_acts_to_dense(&a, S, dense);
    for (int64_t i = 0; i < N * S; i++)
        acts[i] = dense[i];
    double ref[N * D];
    ref_decode(&p, acts, N, ref);
    float recon[N * D], e[N * D];
    sae_decode(&p, &a, recon);
    sae_error_term(&p, x, &a, e);
    for (int64_t i = 0; i < N * D; i++) {
        assert_true(fabs(recon[i] - ref[i]) < 1e-4);
        /* decode + error reproduces x to rounding */
        assert_true(fabsf(recon[i] + e[i] - x[i]) <= 4 * 1.2e-7f * (fabsf(x[i]) + fabsf(recon[i])));
    }
    /* dropping a feature removes exactly its contribution */
    int32_t drop[2] = {a.feature[0], a.feature[a.nnz - 1]};
    float without[N * D];
    sae_decode_without(&p, &a, drop, 2, without);
    for (int64_t r = 0; r < N; r++)
        for (int64_t i = 0; i < D; i++) {
            double want = ref[r * D + i] - acts[r * S + drop[0]] * p.w_dec[drop[0] * D + i];
            if (drop[1] != drop[0]) want -= acts[r * S + drop[1]] * p.w_dec[drop[1] * D + i];
            assert_true(fabs(without[r * D + i] - want) < 1e-4);
        }
    sae_encoder_free(&enc);
    sae_acts_free(&a);
    sae_params_free(&p);
}

static void test_acts_append(void **state)
{
    (void)state;
    struct sae_params p;
    make_sae(&p, 5);
    float x[N * D];
    random_rows(x, N, 6);
    struct gsae_error err;
    struct sae_encoder enc;
    struct sae_acts a, b;
    assert_int_equal(sae_encoder_init(&enc, &p, 0, &err), GSAE_OK);
    assert_int_equal(sae_acts_init(&a, 0, 0, &err), GSAE_OK);
    assert_int_equal(sae_acts_init(&b, 1, 1, &err), GSAE_OK);
    assert_int_equal(sae_encode(&enc, x, N, &a, &err), GSAE_OK);
    assert_int_equal(sae_acts_append(&b, &a, 0, 10, &err), GSAE_OK);
    assert_int_equal(sae_acts_append(&b, &a, 10, N, &err), GSAE_OK);
    assert_int_equal(b.n_rows, a.n_rows);
    assert_int_equal(b.nnz, a.nnz);
    assert_acts_exact(&p, x, &b, N);
    assert_memory_equal(b.row_ptr, a.row_ptr, (size_t)(N + 1) * sizeof *a.row_ptr);
    assert_memory_equal(b.feature, a.feature, (size_t)a.nnz * sizeof *a.feature);
    assert_memory_equal(b.value, a.value, (size_t)a.nnz * sizeof *a.value);
    sae_encoder_free(&enc);
    sae_acts_free(&a);
    sae_acts_free(&b);
    sae_params_free(&p);
}

static void test_params_check(void **state)
{
    (void)state;
    struct sae_params p;
    make_sae(&p, 7);
    struct gsae_error err;
    assert_int_equal(sae_params_check(&p, "x.npz", &err), GSAE_OK);
    p.threshold[3] = INFINITY;
    assert_int_equal(sae_params_check(&p, "x.npz", &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "x.npz"));
    assert_non_null(strstr(err.msg, "threshold"));
    p.threshold[3] = 0;
    p.w_dec[5] = NAN;
    assert_int_equal(sae_params_check(&p, "x.npz", &err), GSAE_EFORMAT);
    assert_non_null(strstr(err.msg, "W_dec"));
    sae_params_free(&p);
    sae_params_free(&p);
    assert_int_equal(sae_params_init(&p, 0, 4, &err), GSAE_EINVAL);
}

/* bf16 mode (sae_encoder_set_bf16): the result is the exact encode of x and W_enc rounded to
 * bf16, with f32 bias, threshold and comparison; it is not the f32 encode (the check tells the
 * two apart); each row's bits do not depend on the rows encoded with it (one call of N rows,
 * blocks of 5, a call from row 3 on). */
static void test_encode_bf16(void **state)
{
    (void)state;
    struct sae_params p, pr;
    make_sae(&p, 21);
    make_sae(&pr, 21);
    for (int64_t i = 0; i < D * S; i++)
        pr.w_enc[i] = gsae_bf16_to_f32(gsae_f32_to_bf16(p.w_enc[i]));
    float x[N * D], xr[N * D];
    random_rows(x, N, 22);
    for (int64_t i = 0; i < N * D; i++)
        xr[i] = gsae_bf16_to_f32(gsae_f32_to_bf16(x[i]));
    struct gsae_error err;
    struct sae_encoder enc, enc5, enc32;
    struct sae_acts a, a5, a32;
    assert_int_equal(sae_encoder_init(&enc, &p, 0, &err), GSAE_OK);
    assert_int_equal(sae_encoder_set_bf16(&enc, &err), GSAE_OK);
    assert_int_equal(sae_encoder_init(&enc5, &p, 5, &err), GSAE_OK);
    assert_int_equal(sae_encoder_set_bf16(&enc5, &err), GSAE_OK);
    assert_int_equal(sae_encoder_init(&enc32, &p, 0, &err), GSAE_OK);
    assert_int_equal(sae_acts_init(&a, 0, 0, &err), GSAE_OK);
    assert_int_equal(sae_acts_init(&a5, 0, 0, &err), GSAE_OK);
    assert_int_equal(sae_acts_init(&a32, 0, 0, &err), GSAE_OK);
    assert_int_equal(sae_encode(&enc, x, N, &a, &err), GSAE_OK);
    assert_int_equal(sae_encode(&enc5, x, N, &a5, &err), GSAE_OK);
    assert_int_equal(sae_encode(&enc32, x, N, &a32, &err), GSAE_OK);
    assert_acts_exact(&pr, xr, &a, N);
    assert_non_null(acts_problem(&pr, xr, &a32, N)); /* f32 mode is not the rounded encode */
    assert_int_equal(a5.nnz, a.nnz);
    assert_memory_equal(a5.row_ptr, a.row_ptr, (size_t)(N + 1) * sizeof *a.row_ptr);
    assert_memory_equal(a5.feature, a.feature, (size_t)a.nnz * sizeof *a.feature);
    assert_memory_equal(a5.value, a.value, (size_t)a.nnz * sizeof *a.value);
    assert_int_equal(sae_encode(&enc, x + 3 * D, N - 3, &a32, &err), GSAE_OK);
    int64_t k3 = a.row_ptr[3];
    assert_int_equal(a32.nnz, a.nnz - k3);
    assert_memory_equal(a32.feature, a.feature + k3, (size_t)a32.nnz * sizeof *a.feature);
    assert_memory_equal(a32.value, a.value + k3, (size_t)a32.nnz * sizeof *a.value);
    sae_acts_free(&a);
    sae_acts_free(&a5);
    sae_acts_free(&a32);
    sae_encoder_free(&enc);
    sae_encoder_free(&enc5);
    sae_encoder_free(&enc32);
    sae_params_free(&p);
    sae_params_free(&pr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acts_checker_catches_bad_entries),
        cmocka_unit_test(test_encode_matches_reference),
        cmocka_unit_test(test_encode_bf16),
        cmocka_unit_test(test_decode_and_error_term),
        cmocka_unit_test(test_acts_append),
        cmocka_unit_test(test_params_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
