/* bench_bf16agree.c: how closely bf16 compute agrees with f32 at real scale, on a random model
 * with Gemma-2 2B dimensions (d_model 2304, 8 heads over 4, d_head 256, d_ff 9216, vocab
 * 256000; N_LAYERS layers, random bf16 weights) and a random JumpReLU SAE (16384 features) on
 * resid_post of the middle layer, whose thresholds are set at each feature's 98th percentile
 * of the f32 pre-activations (so ~2% of features fire per token, as in Gemma Scope SAEs).
 *
 * The same random tokens (N_SEQ sequences of SEQ_LEN, one prefill batch) run in both modes;
 * printed: resid_post relative error per layer (Frobenius, and the worst row), top-1
 * next-token agreement of the final logits, and SAE agreement (mean Jaccard index of the
 * firing sets per token; fraction of tokens whose 10 strongest features are the same set).
 *
 * usage: bench_bf16agree [--quick]   (--quick: 2 layers, 1 sequence of 64 tokens)
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/gemma.h"
#include "../../src/sae.h"
#include "../common/gemma_synth.h"

#define D_SAE 16384
#define TOP_K 10

static void die(const struct gsae_error *err)
{
    fprintf(stderr, "bench_bf16agree: %s\n", err->msg);
    exit(1);
}

/* Run tokens through the model in mode cm; resid (n_layers, n, d) and logits (n, vocab). */
static void run(const struct synth_model *m, enum gemma_compute cm, const int32_t *tok,
                int64_t n_seq, int64_t len, float *resid, float *logits)
{
    const struct gemma_config *c = &m->cfg;
    int64_t n = n_seq * len, d = c->d_model;
    struct gemma_state s;
    struct gsae_error err;
    if (gemma_state_init(&s, c, 0, c->n_layers, n_seq, len, n, &err) ||
        gemma_state_set_compute(&s, &m->w, cm, true, &err))
        die(&err);
    s.n_threads = omp_get_max_threads();
    int64_t slot[16], pos0[16], n_tok[16];
    for (int64_t i = 0; i < n_seq; i++)
        slot[i] = i, pos0[i] = 0, n_tok[i] = len;
    struct gemma_batch b = {
        .n_seq = n_seq, .n_rows = n, .slot = slot, .pos0 = pos0, .n_tok = n_tok};
    float *x = malloc(sizeof(float) * (size_t)(n * d));
    if (gemma_embed(c, &m->w, tok, n, x, &err)) die(&err);
    for (int64_t L = 0; L < c->n_layers; L++) {
        if (gemma_forward(&m->w, &s, &b, x, L, L + 1, NULL, &err)) die(&err);
        memcpy(resid + L * n * d, x, sizeof(float) * (size_t)(n * d));
    }
    if (gemma_logits(&m->w, &s, x, n, logits, &err)) die(&err);
    free(x);
    gemma_state_free(&s);
}

static int64_t argmax(const float *v, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* A random SAE on d-wide rows; thresholds at each feature's 98th percentile over the rows x. */
static void make_sae(struct sae_params *p, const float *x, int64_t n, int64_t d)
{
    struct gsae_error err;
    if (sae_params_init(p, d, D_SAE, &err)) die(&err);
    struct rng r;
    rng_seed(&r, 99);
    for (int64_t i = 0; i < d * D_SAE; i++)
        p->w_enc[i] = (float)(rng_normal(&r) / sqrt((double)d));
    float *pre = malloc(sizeof(float) * (size_t)(n * D_SAE)),
          *col = malloc(sizeof(float) * (size_t)n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, D_SAE, (int)d, 1.0f, x, (int)d,
                p->w_enc, D_SAE, 0.0f, pre, D_SAE);
    for (int64_t f = 0; f < D_SAE; f++) {
        for (int64_t t = 0; t < n; t++)
            col[t] = pre[t * D_SAE + f];
        qsort(col, (size_t)n, sizeof *col, cmp_float);
        float q = col[(int64_t)(0.98 * (double)(n - 1))];
        p->threshold[f] = q > 0 ? q : 0;
    }
    free(pre), free(col);
}

/* Row r's TOP_K strongest features (by value; fewer if fewer fire), sorted by feature id for a
 * set comparison, into out; returns how many. */
static int top_k(const struct sae_acts *a, int64_t r, int32_t *out)
{
    int64_t b = a->row_ptr[r], e = a->row_ptr[r + 1];
    int k = 0;
    for (; k < TOP_K && k < e - b; k++) {
        int64_t best = -1;
        for (int64_t i = b; i < e; i++) {
            int taken = 0;
            for (int q = 0; q < k; q++)
                taken |= out[q] == a->feature[i];
            if (!taken && (best < 0 || a->value[i] > a->value[best])) best = i;
        }
        out[k] = a->feature[best];
    }
    for (int i = 1; i < k; i++)
        for (int j2 = i; j2 > 0 && out[j2] < out[j2 - 1]; j2--) {
            int32_t t = out[j2];
            out[j2] = out[j2 - 1], out[j2 - 1] = t;
        }
    return k;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The k-th largest value of row r (k from 0), or 0 when fewer than k + 1 features fire. */
static float kth_value(const struct sae_acts *a, int64_t r, int k)
{
    int64_t b = a->row_ptr[r], e = a->row_ptr[r + 1];
    if (e - b <= k) return 0.0f;
    double *v = malloc(sizeof(double) * (size_t)(e - b));
    for (int64_t i = b; i < e; i++)
        v[i - b] = -(double)a->value[i]; /* ascending order of -value: largest first */
    qsort(v, (size_t)(e - b), sizeof(double), cmp_double);
    float out = (float)-v[k];
    free(v);
    return out;
}

/* Relative error of each layer's resid_post (Frobenius over all tokens, and the worst token). */
static void report_resid(const float *res32, const float *res16, int64_t n_layers, int64_t n,
                         int64_t d)
{
    for (int64_t L = 0; L < n_layers; L++) {
        double num = 0, den = 0, worst = 0;
        for (int64_t t = 0; t < n; t++) {
            double rn = 0, rd = 0;
            for (int64_t j = 0; j < d; j++) {
                double a = res32[(L * n + t) * d + j], b = res16[(L * n + t) * d + j];
                rn += (a - b) * (a - b), rd += a * a;
            }
            num += rn, den += rd;
            worst = sqrt(rn / rd) > worst ? sqrt(rn / rd) : worst;
        }
        printf("bf16 agreement: resid_post.%lld relative error %.2e (worst token %.2e)\n",
               (long long)L, sqrt(num / den), worst);
    }
}

/* A random SAE on the hooked layer's resid_post (x32 from f32 mode, x16 from bf16 mode, n
 * tokens of d): Jaccard of the firing sets, top-10 agreement, and how many misses are near-ties. */
static void report_sae(const float *x32, const float *x16, int64_t n, int64_t d, int64_t hook)
{
    struct sae_params sae;
    make_sae(&sae, x32, n, d);
    struct sae_encoder enc;
    struct sae_acts a32, a16;
    struct gsae_error err;
    if (sae_encoder_init(&enc, &sae, 0, &err) || sae_acts_init(&a32, n, 0, &err) ||
        sae_acts_init(&a16, n, 0, &err) || sae_encode(&enc, x32, n, &a32, &err) ||
        sae_encode(&enc, x16, n, &a16, &err))
        die(&err);
    double jac = 0, *gaps = malloc(sizeof(double) * (size_t)n),
           *errs = malloc(sizeof(double) * (size_t)n);
    int64_t top_same = 0, near_tie = 0;
    for (int64_t t = 0; t < n; t++) {
        int64_t i = a32.row_ptr[t], ie = a32.row_ptr[t + 1], j = a16.row_ptr[t],
                je = a16.row_ptr[t + 1], both = 0;
        int64_t uni = (ie - i) + (je - j);
        double dmax = 0; /* the largest change bf16 made to an activation firing in both */
        while (i < ie && j < je) { /* features ascending in both */
            if (a32.feature[i] == a16.feature[j]) {
                double dv = fabs((double)a32.value[i] - (double)a16.value[j]);
                dmax = dv > dmax ? dv : dmax;
                both++, i++, j++;
            } else if (a32.feature[i] < a16.feature[j])
                i++;
            else
                j++;
        }
        uni -= both;
        jac += uni > 0 ? (double)both / (double)uni : 1.0;
        int32_t k32[TOP_K], k16[TOP_K];
        int n32 = top_k(&a32, t, k32), n16 = top_k(&a16, t, k16);
        bool same_top = n32 == n16 && memcmp(k32, k16, sizeof(int32_t) * (size_t)n32) == 0;
        top_same += same_top;
        /* the f32 gap between the 10th and 11th strongest features: a change of half of it to
         * each can swap them */
        gaps[t] = (double)kth_value(&a32, t, TOP_K - 1) - (double)kth_value(&a32, t, TOP_K);
        errs[t] = dmax;
        near_tie += !same_top && gaps[t] <= 2.0 * dmax;
    }
    printf("bf16 agreement: SAE on resid_post.%lld (%d features, mean L0 %.0f f32, %.0f bf16): "
           "mean Jaccard of firing sets %.4f; top-%d features identical for %.1f%% of tokens\n",
           (long long)hook, D_SAE, (double)a32.nnz / (double)n, (double)a16.nnz / (double)n,
           jac / (double)n, TOP_K, 100.0 * (double)top_same / (double)n);
    printf("bf16 agreement: of the %lld tokens whose top-%d sets differ, %lld have a gap between "
           "the f32 %dth and %dth activations within twice the largest bf16 change of an "
           "activation of that token (a near-tie bf16 rounding can flip)\n",
           (long long)(n - top_same), TOP_K, (long long)near_tie, TOP_K, TOP_K + 1);
    qsort(gaps, (size_t)n, sizeof(double), cmp_double);
    qsort(errs, (size_t)n, sizeof(double), cmp_double);
    printf("bf16 agreement: median over tokens: %dth-%dth gap %.3g, largest bf16 change of an "
           "activation %.3g\n",
           TOP_K, TOP_K + 1, gaps[n / 2], errs[n / 2]);
    free(gaps), free(errs);
    sae_acts_free(&a32), sae_acts_free(&a16), sae_encoder_free(&enc), sae_params_free(&sae);
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int64_t n_layers = quick ? 2 : 6, n_seq = quick ? 1 : 2, len = quick ? 64 : 256;
    struct gemma_config c = gemma_config_2b();
    c.n_layers = n_layers;
    int64_t n = n_seq * len, d = c.d_model, hook = n_layers / 2;
    struct synth_model m;
    synth_init(&m, &c, GSAE_DTYPE_BF16, 7, 0, n_layers, 1);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n);
    struct rng r;
    rng_seed(&r, 5);
    for (int64_t i = 0; i < n; i++)
        tok[i] = i % len == 0 ? c.bos_id : (int32_t)rng_below(&r, (uint64_t)c.n_vocab);
    float *res32 = malloc(sizeof(float) * (size_t)(n_layers * n * d));
    float *res16 = malloc(sizeof(float) * (size_t)(n_layers * n * d));
    float *log32 = malloc(sizeof(float) * (size_t)(n * c.n_vocab));
    float *log16 = malloc(sizeof(float) * (size_t)(n * c.n_vocab));
    if (!res32 || !res16 || !log32 || !log16) {
        fprintf(stderr, "bench_bf16agree: out of memory\n");
        return 1;
    }
    run(&m, GEMMA_COMPUTE_F32, tok, n_seq, len, res32, log32);
    run(&m, GEMMA_COMPUTE_BF16, tok, n_seq, len, res16, log16);
    printf("bf16 agreement: random Gemma-2 2B-dims model, %lld layers, %lld x %lld random "
           "tokens\n",
           (long long)n_layers, (long long)n_seq, (long long)len);
    report_resid(res32, res16, n_layers, n, d);
    int64_t same = 0;
    for (int64_t t = 0; t < n; t++)
        same +=
            argmax(log32 + t * c.n_vocab, c.n_vocab) == argmax(log16 + t * c.n_vocab, c.n_vocab);
    printf("bf16 agreement: top-1 next token equal for %lld of %lld tokens (%.1f%%)\n",
           (long long)same, (long long)n, 100.0 * (double)same / (double)n);

    report_sae(res32 + hook * n * d, res16 + hook * n * d, n, d, hook);
    free(res32), free(res16), free(log32), free(log16), free(tok);
    synth_free(&m);
    return 0;
}
