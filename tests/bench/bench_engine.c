/* bench_engine.c: this machine's peaks (sgemm GFLOP/s, memory bandwidth) and the Gemma-2
 * forward pass against them: prefill of a 1024-token sequence (GEMM-bound) and single-token
 * decoding (weight-bandwidth-bound), at Gemma-2 2B and 9B dimensions with random bf16 weights
 * (two layers, one local and one global), per layer. Prefill time is broken down into the
 * projections (sgemm plus bf16 conversion), the conversion alone, attention, and the rest
 * (norms, RoPE, GELU, residual adds).
 *
 * usage: bench_engine [--quick]   (--quick: smaller sizes, for a smoke run)
 */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/attn.h"
#include "../../src/gemma.h"
#include "../../src/matmul.h"
#include "../common/gemma_synth.h"

#define N_THREADS 2

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best of several large square sgemm calls (x W^T, as the model uses it). */
static double sgemm_peak(int64_t n, int reps)
{
    float *a = malloc(sizeof(float) * (size_t)(n * n)), *b = malloc(sizeof(float) * (size_t)(n * n));
    float *c = malloc(sizeof(float) * (size_t)(n * n));
    for (int64_t i = 0; i < n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)n, 1.0f, a,
                    (int)n, b, (int)n, 0.0f, c, (int)n);
        t = now() - t;
        best = t < best ? t : best;
    }
    free(a), free(b), free(c);
    return 2.0 * (double)n * (double)n * (double)n / best / 1e9;
}

/* Best of several passes: a read-only sum (how decoding streams weights) and a triad. */
static void mem_bandwidth(int64_t n, int reps, double *read_gbs, double *triad_gbs)
{
    float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
    float *c = malloc(sizeof(float) * (size_t)n);
#pragma omp parallel for schedule(static) num_threads(N_THREADS)
    for (int64_t i = 0; i < n; i++)
        a[i] = 1.0f, b[i] = 2.0f, c[i] = 0.5f;
    double best_read = 1e30, best_triad = 1e30, sink = 0;
    for (int r = 0; r < reps; r++) {
        double t = now(), s = 0;
#pragma omp parallel for simd schedule(static) num_threads(N_THREADS) reduction(+ : s)
        for (int64_t i = 0; i < n; i++)
            s += a[i];
        t = now() - t;
        sink += s;
        best_read = t < best_read ? t : best_read;
        t = now();
#pragma omp parallel for simd schedule(static) num_threads(N_THREADS)
        for (int64_t i = 0; i < n; i++)
            a[i] = b[i] + 0.5f * c[i];
        t = now() - t;
        best_triad = t < best_triad ? t : best_triad;
    }
    *read_gbs = (double)n * 4.0 / best_read / 1e9;
    *triad_gbs = (double)n * 12.0 / best_triad / 1e9;
    if (sink == 42.0)
        printf(" ");
    free(a), free(b), free(c);
}

/* FLOPs of the seven projections for n rows. */
static double linear_flops(const struct gemma_config *c, int64_t n)
{
    double d = (double)c->d_model, qd = (double)(c->n_heads * c->d_head);
    double kvd = (double)(c->n_kv_heads * c->d_head);
    return 2.0 * (double)n * (d * qd * 2 + d * kvd * 2 + 3 * d * (double)c->d_ff);
}

/* Causal attention FLOPs (QK^T and PV over the visible keys) for n rows from position 0. */
static double attn_flops(const struct gemma_config *c, int64_t n)
{
    return 2.0 * 2.0 * (double)(c->n_heads * c->d_head) * (double)n * (double)(n + 1) / 2.0;
}

static size_t layer_weight_bytes(const struct gemma_layer_weights *lw)
{
    const struct gsae_tensor *t[] = {&lw->attn_q, &lw->attn_k, &lw->attn_v, &lw->attn_o,
                                     &lw->ffn_gate, &lw->ffn_up, &lw->ffn_down};
    size_t b = 0;
    for (int i = 0; i < 7; i++)
        b += (size_t)gsae_tensor_numel(t[i]) * gsae_dtype_size(t[i]->dtype);
    return b;
}

static void forward_once(const struct synth_model *m, struct gemma_state *s, float *x,
                         int64_t n_seq, const int64_t *slot, const int64_t *pos0,
                         const int64_t *n_tok, int64_t n_rows)
{
    struct gemma_batch b = {.n_seq = n_seq, .n_rows = n_rows, .slot = slot, .pos0 = pos0,
                            .n_tok = n_tok};
    struct gsae_error err;
    if (gemma_forward(&m->w, s, &b, x, 0, m->cfg.n_layers, NULL, &err) != GSAE_OK) {
        fprintf(stderr, "bench_engine: %s\n", err.msg);
        exit(1);
    }
}

/* Seconds to convert all seven bf16 projection weights of one layer to f32, tile by tile,
 * as the prefill does (best of 2). */
static double conversion_seconds(const struct synth_model *m)
{
    const struct gemma_config *c = &m->cfg;
    const struct gemma_layer_weights *lw = &m->w.layers[0];
    int64_t kmax = c->d_ff > c->d_model ? c->d_ff : c->d_model, tf = matmul_tile_floats(kmax, kmax * c->d_model);
    float *tile = malloc(sizeof(float) * (size_t)tf);
    const struct gsae_tensor *w[] = {&lw->attn_q, &lw->attn_k, &lw->attn_v, &lw->attn_o,
                                     &lw->ffn_gate, &lw->ffn_up, &lw->ffn_down};
    double best = 1e30;
    for (int rep = 0; rep < 2; rep++) {
        double t = now();
        for (int i = 0; i < 7; i++) {
            int64_t n = w[i]->shape[0], k = w[i]->shape[1], nb = tf / k;
            for (int64_t r0 = 0; r0 < n; r0 += nb)
                matmul_rows_to_f32(tile, w[i], r0, n - r0 < nb ? n - r0 : nb, k, N_THREADS);
        }
        t = now() - t;
        best = t < best ? t : best;
    }
    free(tile);
    return best;
}

static void bench_model(const char *label, struct gemma_config c, int64_t T, double peak,
                        double read_gbs)
{
    c.n_layers = 2; /* layer 0 local (sliding window), layer 1 global */
    struct synth_model m;
    synth_init(&m, &c, GSAE_DTYPE_BF16, 1, 0, c.n_layers, 0);
    enum { DECODE_STEPS = 8, DECODE_BATCH = 8 };
    struct gemma_state s;
    struct gsae_error err;
    if (gemma_state_init(&s, &c, 0, c.n_layers, DECODE_BATCH, T + DECODE_STEPS, T, &err)) {
        fprintf(stderr, "bench_engine: %s\n", err.msg);
        exit(1);
    }
    s.n_threads = N_THREADS;
    float *x = malloc(sizeof(float) * (size_t)(T * c.d_model));
    float *x0 = malloc(sizeof(float) * (size_t)(T * c.d_model));
    struct rng r;
    rng_seed(&r, 2);
    for (int64_t i = 0; i < T * c.d_model; i++)
        x0[i] = (float)rng_normal(&r);
    int64_t slot = 0, pos0 = 0, n = T;

    /* Prefill: warm-up (pages, thread pools), then the best of 3 with its breakdown. */
    memcpy(x, x0, sizeof(float) * (size_t)(T * c.d_model));
    forward_once(&m, &s, x, 1, &slot, &pos0, &n, T);
    double best = 1e30;
    struct gemma_timing best_tm = {0};
    for (int rep = 0; rep < 3; rep++) {
        struct gemma_timing tm = {0};
        s.timing = &tm;
        memcpy(x, x0, sizeof(float) * (size_t)(T * c.d_model));
        double t = now();
        forward_once(&m, &s, x, 1, &slot, &pos0, &n, T);
        t = now() - t;
        s.timing = NULL;
        if (t < best)
            best = t, best_tm = tm;
    }
    double L = (double)c.n_layers, per_layer = best / L;
    double fl = linear_flops(&c, T), fa = attn_flops(&c, T);
    printf("%s prefill: %lld tokens, %.3f s per layer, %.0f tokens/s per layer\n", label,
           (long long)T, per_layer, (double)T / per_layer);
    printf("%s prefill: %.1f GFLOP/s (projections + causal attention) = %.0f%% of sgemm peak\n",
           label, (fl + fa) / per_layer / 1e9, 100.0 * (fl + fa) / per_layer / 1e9 / peak);
    double proj = best_tm.proj / L, attn = best_tm.attn / L, other = best_tm.other / L;
    double conv = conversion_seconds(&m);
    printf("%s prefill per layer: projections %.3f s (%.0f%%; %.1f GFLOP/s = %.0f%% of peak; "
           "bf16->f32 conversion alone %.3f s), attention %.3f s (%.0f%%; %.1f GFLOP/s), "
           "norms/gelu/residual %.3f s (%.0f%%)\n",
           label, proj, 100 * proj / per_layer, fl / proj / 1e9, 100 * fl / proj / 1e9 / peak,
           conv, attn, 100 * attn / per_layer, fa / attn / 1e9, other, 100 * other / per_layer);

    /* Decode: one row per step after the T-token prefill, then DECODE_BATCH rows (one per
     * sequence) per step. */
    size_t bytes = layer_weight_bytes(&m.w.layers[0]);
    double bound_ms = (double)bytes / (read_gbs * 1e9) * 1e3;
    for (int batch = 1; batch <= DECODE_BATCH; batch += DECODE_BATCH - 1) {
        int64_t slots[DECODE_BATCH], pos[DECODE_BATCH], one[DECODE_BATCH];
        for (int i = 0; i < batch; i++)
            slots[i] = i, pos[i] = i == 0 ? T : 0, one[i] = 1;
        double best_step = 1e30;
        struct gemma_timing dec_tm = {0};
        for (int step = 0; step < DECODE_STEPS; step++) {
            struct gemma_timing tm = {0};
            s.timing = &tm;
            memcpy(x, x0, sizeof(float) * (size_t)(batch * c.d_model));
            double t = now();
            forward_once(&m, &s, x, batch, slots, pos, one, batch);
            t = now() - t;
            s.timing = NULL;
            if (t < best_step)
                best_step = t, dec_tm = tm;
            for (int i = 0; i < batch; i++)
                pos[i]++;
        }
        double ms = best_step / L * 1e3;
        printf("%s decode: %d row%s per step, %.2f ms per layer (bound %.2f ms = %.0f MB bf16 "
               "weights / %.1f GB/s): %.0f%% of the bandwidth bound; projections %.2f ms "
               "(%.1f GB/s), attention %.2f ms, other %.2f ms\n",
               label, batch, batch > 1 ? "s" : "", ms, bound_ms, (double)bytes / 1e6, read_gbs,
               100.0 * bound_ms / ms, dec_tm.proj / L * 1e3,
               (double)bytes / (dec_tm.proj / L) / 1e9, dec_tm.attn / L * 1e3,
               dec_tm.other / L * 1e3);
    }
    free(x), free(x0);
    gemma_state_free(&s);
    synth_free(&m);
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    openblas_set_num_threads(N_THREADS);
    double peak = sgemm_peak(quick ? 512 : 2048, quick ? 2 : 5);
    printf("machine: sgemm peak %.1f GFLOP/s (%d threads, %dx%d, best of %d)\n", peak, N_THREADS,
           quick ? 512 : 2048, quick ? 512 : 2048, quick ? 2 : 5);
    double read_gbs, triad_gbs;
    mem_bandwidth(quick ? (1 << 22) : (1 << 27), quick ? 2 : 4, &read_gbs, &triad_gbs);
    printf("machine: memory bandwidth %.1f GB/s read, %.1f GB/s triad (%d threads, %d MiB "
           "arrays)\n",
           read_gbs, triad_gbs, N_THREADS, quick ? 16 : 512);
    if (quick) {
        bench_model("tiny", synth_config(2, 256, 4, 2, 64, 1024, 512, 64), 128, peak, read_gbs);
        return 0;
    }
    bench_model("gemma2-2b", gemma_config_2b(), 1024, peak, read_gbs);
    bench_model("gemma2-9b", gemma_config_9b(), 1024, peak, read_gbs);
    return 0;
}
