/* test_attrib.c: metric gradients and SAE feature attribution on every golden case under
 * $TESTDATA/gemma2/ whose meta.json has an `attribute` section:
 *  - against the reference tensors attrib.<metric>.{metric,grad,features,error} within
 *    meta.json's tolerance |got - want| <= rtol |want| + atol_of_max max|want| per tensor;
 *  - against central finite differences of the forward pass along random directions at
 *    resid_post[layer];
 *  - and that both checks reject a slightly wrong gradient.
 * Cases are found by listing the directory; nothing depends on a case's name or values. */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/ckpt.h"
#include "../../io/sae_io.h"
#include "../../io/safetensors.h"
#include "../../src/attn.h"
#include "../../src/attrib.h"
#include "../common/gemma_synth.h"
#include "../common/testdata.h"

enum { MAX_CASES = 64 };

struct acase {
    char dir[4096];
    struct ckpt ck;
    struct sft_file expected;
    struct sae_params sae;
    struct sae_info info;
    int64_t layer, n;
    const int32_t *tokens; /* into expected */
    struct gemma_metric metric[2];
    const char *metric_name[2];
    int n_metrics;
    double rtol, atol_of_max;
};

/* The case's attribute section; false when there is none. */
static bool load_case(struct acase *c, const char *dir)
{
    memset(c, 0, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    char path[8192];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) fail_msg("%s: %s", path, jerr.text);
    json_t *at = json_object_get(root, "attribute");
    if (!at) {
        json_decref(root);
        return false;
    }
    struct gsae_error err = {0};
    if (ckpt_open(&c->ck, dir, NULL, &err)) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    if (sft_open(&c->expected, path, &err)) fail_msg("%s", err.msg);
    const struct sft_entry *te = sft_find(&c->expected, "tokens");
    assert_non_null(te);
    c->n = te->shape[0];
    c->tokens = sft_view(&c->expected, te).data;
    json_t *sae = json_object_get(root, "sae");
    c->layer = (int64_t)json_integer_value(json_object_get(sae, "layer"));
    snprintf(path, sizeof path, "%s/%s", dir, json_string_value(json_object_get(sae, "path")));
    if (sae_load(path, &c->sae, &c->info, &err)) fail_msg("%s", err.msg);
    json_t *tol = json_object_get(at, "tolerance");
    c->rtol = json_number_value(json_object_get(tol, "rtol"));
    c->atol_of_max = json_number_value(json_object_get(tol, "atol_of_max"));
    assert_true(c->rtol > 0 && c->atol_of_max > 0);
    json_t *ms = json_object_get(at, "metrics");
    json_t *ld = json_object_get(ms, "logit_diff"), *al = json_object_get(ms, "answer_logprob");
    if (ld) {
        json_t *pos = json_object_get(ld, "position");
        c->metric[c->n_metrics] = (struct gemma_metric){
            .kind = GEMMA_METRIC_LOGIT_DIFF,
            .position = pos ? (int64_t)json_integer_value(pos) : c->n - 1,
            .target = (int32_t)json_integer_value(json_object_get(ld, "target")),
            .baseline = (int32_t)json_integer_value(json_object_get(ld, "baseline"))};
        c->metric_name[c->n_metrics++] = "logit_diff";
    }
    if (al) {
        json_t *ap = json_object_get(al, "answer_positions"); /* [first, last], inclusive */
        assert_int_equal(json_array_size(ap), 2);
        c->metric[c->n_metrics] =
            (struct gemma_metric){.kind = GEMMA_METRIC_ANSWER_LOGPROB,
                                  .first = (int64_t)json_integer_value(json_array_get(ap, 0)),
                                  .last = (int64_t)json_integer_value(json_array_get(ap, 1)),
                                  .tokens = c->tokens};
        c->metric_name[c->n_metrics++] = "answer_logprob";
    }
    json_decref(root);
    assert_true(c->n_metrics > 0);
    return true;
}

static void free_case(struct acase *c)
{
    ckpt_close(&c->ck);
    sft_close(&c->expected);
    sae_params_free(&c->sae);
    sae_info_free(&c->info);
}

/* Case directories with an attribute section, sorted. */
static int list_cases(char dirs[][4096])
{
    char root[4096];
    testdata("gemma2", root, sizeof root);
    struct dirent **ents;
    int n = scandir(root, &ents, NULL, alphasort), k = 0;
    if (n < 0) fail_msg("cannot list %s", root);
    for (int i = 0; i < n; i++) {
        char meta[8192];
        snprintf(meta, sizeof meta, "%s/%s/meta.json", root, ents[i]->d_name);
        FILE *f = ents[i]->d_name[0] != '.' ? fopen(meta, "r") : NULL;
        if (f && k < MAX_CASES && strlen(root) + strlen(ents[i]->d_name) + 2 <= 4096)
            sprintf(dirs[k++], "%s/%s", root, ents[i]->d_name);
        if (f) fclose(f);
        free(ents[i]);
    }
    free(ents);
    return k;
}

/* Max over the tensor of |got - want| - tolerance (<= 0: within); worst index in *at. */
static double excess(const float *got, const float *want, int64_t n, double rtol, double aom,
                     int64_t *at)
{
    double mx = 0.0, worst = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        mx = fabs(want[i]) > mx ? fabs(want[i]) : mx;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) - (rtol * fabs(want[i]) + aom * mx);
        if (e > worst) worst = e, *at = i;
    }
    return worst;
}

static const float *expected_f32(const struct acase *c, const char *metric, const char *what,
                                 int64_t n)
{
    char name[128];
    snprintf(name, sizeof name, "attrib.%s.%s", metric, what);
    const struct sft_entry *e = sft_find(&c->expected, name);
    if (!e) fail_msg("%s: no tensor %s", c->dir, name);
    struct gsae_tensor t = sft_view(&c->expected, e);
    assert_int_equal(t.dtype, GSAE_DTYPE_F32);
    assert_int_equal(gsae_tensor_numel(&t), n);
    return t.data;
}

/* Everything attribution produces for one metric. */
struct result {
    double metric;
    float *g, *x, *features, *error; /* (n,d), (n,d), (n,d_sae) dense, (n) */
};

static void attribute(const struct acase *c, int mi, struct result *r)
{
    int64_t n = c->n, d = c->ck.cfg.d_model, S = c->sae.d_sae;
    struct gsae_error err = {0};
    r->g = malloc(sizeof(float) * (size_t)(n * d));
    r->x = malloc(sizeof(float) * (size_t)(n * d));
    r->features = malloc(sizeof(float) * (size_t)(n * S));
    r->error = malloc(sizeof(float) * (size_t)n);
    float *work = malloc(sizeof(float) * (size_t)(n * d));
    if (attrib_grad(&c->ck.w, &c->ck.cfg, c->tokens, n, c->layer, &c->metric[mi], 1, &r->metric,
                    r->g, r->x, &err))
        fail_msg("%s: %s", c->dir, err.msg);
    struct sae_encoder enc;
    struct sae_acts acts = {0};
    assert_int_equal(sae_encoder_init(&enc, &c->sae, 0, &err), GSAE_OK);
    assert_int_equal(sae_acts_init(&acts, n, 0, &err), GSAE_OK);
    assert_int_equal(sae_encode(&enc, r->x, n, &acts, &err), GSAE_OK);
    float *fe = malloc(sizeof(float) * (size_t)(acts.nnz + 1));
    attrib_combine(&c->sae, r->x, &acts, r->g, fe, r->error, work);
    memset(r->features, 0, sizeof(float) * (size_t)(n * S));
    for (int64_t p = 0; p < n; p++)
        for (int64_t e = acts.row_ptr[p]; e < acts.row_ptr[p + 1]; e++)
            r->features[p * S + acts.feature[e]] = fe[e];
    free(fe);
    free(work);
    sae_acts_free(&acts);
    sae_encoder_free(&enc);
}

static void result_free(struct result *r)
{
    free(r->g), free(r->x), free(r->features), free(r->error);
}

/* Worst excess over the four tensors (<= 0: all within tolerance). */
static double compare(const struct acase *c, int mi, const struct result *r, bool print)
{
    int64_t n = c->n, d = c->ck.cfg.d_model, S = c->sae.d_sae;
    const char *mn = c->metric_name[mi];
    float got_metric = (float)r->metric;
    const struct {
        const char *what;
        const float *got;
        int64_t size;
    } t[] = {{"metric", &got_metric, 1},
             {"grad", r->g, n * d},
             {"features", r->features, n * S},
             {"error", r->error, n}};
    double worst = -INFINITY;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const float *want = expected_f32(c, mn, t[i].what, t[i].size);
        int64_t at = 0;
        double e = excess(t[i].got, want, t[i].size, c->rtol, c->atol_of_max, &at);
        if (print)
            print_message("%s %s.%s: excess over tolerance %.3g (at %lld: got %.7g want %.7g)\n",
                          strrchr(c->dir, '/') + 1, mn, t[i].what, e, (long long)at,
                          (double)t[i].got[at], (double)want[at]);
        worst = e > worst ? e : worst;
    }
    return worst;
}

static void test_golden(void **state)
{
    (void)state;
    static char dirs[MAX_CASES][4096];
    int n_dirs = list_cases(dirs), n_cases = 0;
    for (int i = 0; i < n_dirs; i++) {
        struct acase c;
        if (!load_case(&c, dirs[i])) continue;
        n_cases++;
        for (int mi = 0; mi < c.n_metrics; mi++) {
            struct result r;
            attribute(&c, mi, &r);
            double worst = compare(&c, mi, &r, true);
            if (!(worst <= 0.0))
                fail_msg("%s %s: outside tolerance by %.3g", c.dir, c.metric_name[mi], worst);
            /* The check can fail: a gradient off by 1% is rejected. */
            int64_t nd = c.n * c.ck.cfg.d_model, at;
            for (int64_t k = 0; k < nd; k++)
                r.g[k] *= 1.01f;
            const float *want = expected_f32(&c, c.metric_name[mi], "grad", nd);
            assert_true(excess(r.g, want, nd, c.rtol, c.atol_of_max, &at) > 0.0);
            result_free(&r);
        }
        free_case(&c);
    }
    assert_true(n_cases >= 1);
}

/* The metric after running layers layer+1 .. n_layers-1 and the head from x0 (n, d). */
static double forward_metric(const struct gemma_weights *w, struct gemma_state *fs, const float *x0,
                             float *x, int64_t n, int64_t layer, const struct gemma_metric *m,
                             float *logits)
{
    const struct gemma_config *cfg = &fs->cfg;
    int64_t slot = 0, pos0 = 0;
    struct gemma_batch b = {.n_seq = 1, .n_rows = n, .slot = &slot, .pos0 = &pos0, .n_tok = &n};
    struct gsae_error err = {0};
    memcpy(x, x0, sizeof(float) * (size_t)(n * cfg->d_model));
    assert_int_equal(gemma_forward(w, fs, &b, x, layer + 1, cfg->n_layers, NULL, &err), GSAE_OK);
    assert_int_equal(gemma_logits(w, fs, x, n, logits, &err), GSAE_OK);
    return gemma_metric_eval(m, logits, cfg->n_vocab);
}

/* Directional derivative g.dx against (M(x + dx) - M(x - dx)) / 2 for random directions dx at
 * resid_post[layer], three per metric; returns the number of directions checked.
 *
 * Step: dx has N(0, 1) entries scaled to |dx| = 1e-3 |x| (Frobenius norms). Measured on the
 * reference cases, the relative error of the central difference is ~1e-4..1e-3 at that step;
 * at 3e-3 |x| the truncation term (third derivative times |dx|^3 / 6, growing as the square of
 * the step) reaches 1e-2..3e-2, and at 1e-4 |x| the f32 rounding of the two forward passes (a
 * few ulp of |M|, divided by the step) reaches 1e-2 where g.dx is small. 1e-3 sits between.
 *
 * Tolerance: |fd - g.dx| <= 1e-2 |g.dx| + 2e-3 |g| |dx| / sqrt(T d). The second term is 2e-3
 * of the typical size of g.dx over random directions (its standard deviation), so a direction
 * that happens to be nearly orthogonal to g is not held to a relative bound its rounding error
 * cannot meet. A gradient 5% off fails it (checked here). Sums in double. */
static int fd_check(const char *label, const struct gemma_weights *w,
                    const struct gemma_config *cfg, const int32_t *tokens, int64_t n, int64_t layer,
                    const struct gemma_metric *m, uint64_t seed)
{
    int64_t d = cfg->d_model, nd = n * d;
    struct gemma_state fs;
    struct gsae_error err = {0};
    assert_int_equal(gemma_state_init(&fs, cfg, 0, cfg->n_layers, 1, n, n, &err), GSAE_OK);
    float *x = malloc(sizeof(float) * (size_t)nd), *g = malloc(sizeof(float) * (size_t)nd);
    float *xp = malloc(sizeof(float) * (size_t)nd), *xm = malloc(sizeof(float) * (size_t)nd);
    float *tmp = malloc(sizeof(float) * (size_t)nd), *v = malloc(sizeof(float) * (size_t)nd);
    float *logits = malloc(sizeof(float) * (size_t)(n * cfg->n_vocab));
    double metric;
    if (attrib_grad(w, cfg, tokens, n, layer, m, 1, &metric, g, x, &err))
        fail_msg("%s: %s", label, err.msg);
    double xnorm = 0.0, gnorm = 0.0;
    for (int64_t k = 0; k < nd; k++) {
        xnorm += (double)x[k] * x[k];
        gnorm += (double)g[k] * g[k];
    }
    xnorm = sqrt(xnorm), gnorm = sqrt(gnorm);
    int n_bad_rejected = 0, trials = 3;
    struct rng rg;
    rng_seed(&rg, seed);
    for (int trial = 0; trial < trials; trial++) {
        double vnorm = 0.0;
        for (int64_t k = 0; k < nd; k++) {
            v[k] = (float)rng_normal(&rg);
            vnorm += (double)v[k] * v[k];
        }
        double scale = 1e-3 * xnorm / sqrt(vnorm), gv = 0.0, gv_bad = 0.0, dxn = 0.0;
        for (int64_t k = 0; k < nd; k++) {
            xp[k] = x[k] + (float)(scale * v[k]);
            xm[k] = x[k] - (float)(scale * v[k]);
            /* the step actually taken, after rounding to f32 */
            double dx = ((double)xp[k] - (double)xm[k]) / 2.0;
            gv += (double)g[k] * dx;
            gv_bad += 1.05 * (double)g[k] * dx;
            dxn += dx * dx;
        }
        double fp = forward_metric(w, &fs, xp, tmp, n, layer, m, logits);
        double fm = forward_metric(w, &fs, xm, tmp, n, layer, m, logits);
        double fd = (fp - fm) / 2.0;
        double typ = gnorm * sqrt(dxn) / sqrt((double)nd);
        double tol = 1e-2 * fabs(gv) + 2e-3 * typ;
        print_message("%s: g.dx %.7g, central difference %.7g, |diff| %.2g, tol %.2g\n", label, gv,
                      fd, fabs(fd - gv), tol);
        if (!(fabs(fd - gv) <= tol))
            fail_msg("%s: directional derivative %.7g, finite difference %.7g", label, gv, fd);
        n_bad_rejected += fabs(fd - gv_bad) > 1e-2 * fabs(gv_bad) + 2e-3 * typ;
    }
    /* The check can fail: the gradient times 1.05 is rejected. */
    assert_true(n_bad_rejected >= 1);
    free(x), free(g), free(xp), free(xm), free(tmp), free(v), free(logits);
    gemma_state_free(&fs);
    return trials;
}

static void test_finite_difference(void **state)
{
    (void)state;
    static char dirs[MAX_CASES][4096];
    int n_dirs = list_cases(dirs), n_checked = 0;
    for (int i = 0; i < n_dirs; i++) {
        struct acase c;
        if (!load_case(&c, dirs[i])) continue;
        for (int mi = 0; mi < c.n_metrics; mi++) {
            char label[256];
            snprintf(label, sizeof label, "%s %s", strrchr(c.dir, '/') + 1, c.metric_name[mi]);
            n_checked += fd_check(label, &c.ck.w, &c.ck.cfg, c.tokens, c.n, c.layer, &c.metric[mi],
                                  1000 + (uint64_t)mi);
        }
        free_case(&c);
    }
    assert_true(n_checked >= 1);
}

/* A random model and a sequence longer than the attention's query tile (ATTN_Q_TILE), so the
 * backward crosses tiles, with a sliding window shorter than a tile (keys starting after 0) on
 * the local layer, GQA, and the answer spanning several head chunks (GEMMA_BWD_HEAD_ROWS). */
static void test_finite_difference_long(void **state)
{
    (void)state;
    struct gemma_config c = synth_config(3, 64, 4, 2, 16, 128, 200, 8);
    struct synth_model m;
    synth_init(&m, &c, GSAE_DTYPE_F32, 21, 0, c.n_layers, 1);
    enum { T = ATTN_Q_TILE + 44 };
    int32_t tokens[T];
    struct rng r;
    rng_seed(&r, 22);
    for (int i = 0; i < T; i++)
        tokens[i] = (int32_t)rng_below(&r, (uint64_t)c.n_vocab);
    struct gemma_metric ld = {
        .kind = GEMMA_METRIC_LOGIT_DIFF, .position = T - 1, .target = 3, .baseline = 7};
    struct gemma_metric al = {
        .kind = GEMMA_METRIC_ANSWER_LOGPROB, .first = T - 70, .last = T - 1, .tokens = tokens};
    fd_check("random T=300 logit_diff", &m.w, &c, tokens, T, 0, &ld, 31);
    fd_check("random T=300 answer_logprob", &m.w, &c, tokens, T, 0, &al, 32);
    synth_free(&m);
}

/* Bad metrics and misuse of the backward state fail with messages naming the problem. */
static void test_errors(void **state)
{
    (void)state;
    struct gemma_config c = synth_config(2, 32, 2, 1, 16, 64, 50, 4);
    struct synth_model m;
    synth_init(&m, &c, GSAE_DTYPE_F32, 3, 0, c.n_layers, 1);
    struct gsae_error err = {0};
    int32_t tok[6] = {2, 5, 7, 9, 11, 13};
    struct gemma_metric ld = {
        .kind = GEMMA_METRIC_LOGIT_DIFF, .position = 6, .target = 1, .baseline = 2};
    assert_int_equal(gemma_metric_check(&ld, 6, c.n_vocab, &err), GSAE_ERANGE);
    assert_non_null(strstr(err.msg, "position 6"));
    ld.position = 5, ld.target = 50;
    assert_int_equal(gemma_metric_check(&ld, 6, c.n_vocab, &err), GSAE_ERANGE);
    assert_non_null(strstr(err.msg, "target 50"));
    struct gemma_metric al = {
        .kind = GEMMA_METRIC_ANSWER_LOGPROB, .first = 0, .last = 3, .tokens = tok};
    assert_int_equal(gemma_metric_check(&al, 6, c.n_vocab, &err), GSAE_ERANGE);
    assert_non_null(strstr(err.msg, "[0, 3]"));
    al.first = 2, tok[3] = 99;
    assert_int_equal(gemma_metric_check(&al, 6, c.n_vocab, &err), GSAE_ERANGE);
    assert_non_null(strstr(err.msg, "answer token 3 is 99"));
    tok[3] = 9;
    assert_int_equal(gemma_metric_check(&al, 6, c.n_vocab, &err), GSAE_OK);
    assert_int_equal(gemma_metric_rows(&al), 3);

    struct gemma_bwd b;
    float x[6 * 32] = {0}, g[6 * 32] = {0};
    assert_int_equal(gemma_bwd_init(&b, &c, 1, 2, 6, false, &err), GSAE_OK);
    double v;
    assert_int_equal(gemma_bwd_head(&m.w, &b, x, 6, &al, &v, g, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "without the head"));
    assert_int_equal(gemma_bwd_layers(&m.w, &b, g, 6, 0, 2, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "outside the state's [1, 2)"));
    assert_int_equal(gemma_bwd_layers(&m.w, &b, g, 6, 1, 2, &err), GSAE_ERANGE);
    assert_non_null(strstr(err.msg, "0 recorded"));
    assert_int_equal(gemma_bwd_save(&b, 1, x, 4, &err), GSAE_OK);
    assert_int_equal(gemma_bwd_layers(&m.w, &b, g, 5, 1, 2, &err), GSAE_ERANGE);
    assert_int_equal(gemma_bwd_layers(&m.w, &b, g, 4, 1, 2, &err), GSAE_OK);
    assert_int_equal(gemma_bwd_save(&b, 0, x, 4, &err), GSAE_ERANGE);
    gemma_bwd_free(&b);
    gemma_bwd_free(&b); /* twice is harmless */
    synth_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_finite_difference),
        cmocka_unit_test(test_finite_difference_long),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
