/* bench_engine.c: this machine's peaks (sgemm GFLOP/s, memory bandwidth) and the Gemma-2
 * forward pass against them, in both compute modes (f32: OpenBLAS sgemm; bf16: oneDNN, whose
 * own matmul rate at the projection shapes, with the same number of rows, is the bf16 peak):
 * prefill of 512- and 1024-token sequences (GEMM-bound) and decoding with 1, 5 and 8 rows per step
 * (weight-bandwidth-bound), at Gemma-2 2B and 9B dimensions with random bf16 weights (two layers,
 * one local and one global), per layer. Prefill time is broken down into the projections (including
 * the f32 mode's bf16 conversion), attention, and the rest (norms, RoPE, GELU, residual adds).
 *
 * usage: bench_engine [--quick]   (--quick: smaller sizes, for a smoke run)
 */
#include <cblas.h>
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/attn.h"
#include "../../src/gemm_dnnl.h"
#include "../../src/gemma.h"
#include "../../src/matmul.h"
#include "../common/gemma_synth.h"

static int bench_threads = 2; /* GSAE_BENCH_THREADS overrides (as in tests/bench/run.sh) */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best of several large square sgemm calls (x W^T, as the model uses it). */
static double sgemm_peak(int64_t n, int reps)
{
    float *a = malloc(sizeof(float) * (size_t)(n * n)),
          *b = malloc(sizeof(float) * (size_t)(n * n));
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

/* Floats in the bandwidth test's arrays (larger than any cache). */
static int64_t bw_array_floats = 1 << 27;

/* Best of several passes: a read-only sum (how decoding streams weights) and a triad. */
static void mem_bandwidth(int64_t n, int reps, double *read_gbs, double *triad_gbs)
{
    float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
    float *c = malloc(sizeof(float) * (size_t)n);
#pragma omp parallel for schedule(static) num_threads(bench_threads)
    for (int64_t i = 0; i < n; i++)
        a[i] = 1.0f, b[i] = 2.0f, c[i] = 0.5f;
    double best_read = 1e30, best_triad = 1e30, sink = 0;
    for (int r = 0; r < reps; r++) {
        /* four independent 16-lane sums per thread: a single (or double-precision) reduction
         * chain is add-latency-bound and reads at ~0.6x of what the memory delivers here */
        double t = now(), s = 0;
#pragma omp parallel num_threads(bench_threads) reduction(+ : s)
        {
            int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
            int64_t i0 = n * id / nt, i1 = n * (id + 1) / nt;
            float p[4][16] = {{0}};
            int64_t i = i0;
            for (; i + 64 <= i1; i += 64)
#pragma omp simd
                for (int l = 0; l < 16; l++) {
                    p[0][l] += a[i + l];
                    p[1][l] += a[i + 16 + l];
                    p[2][l] += a[i + 32 + l];
                    p[3][l] += a[i + 48 + l];
                }
            for (; i < i1; i++)
                p[0][0] += a[i];
            for (int q = 0; q < 4; q++)
                for (int l = 0; l < 16; l++)
                    s += p[q][l];
        }
        t = now() - t;
        sink += s;
        best_read = t < best_read ? t : best_read;
        t = now();
#pragma omp parallel for simd schedule(static) num_threads(bench_threads)
        for (int64_t i = 0; i < n; i++)
            a[i] = b[i] + 0.5f * c[i];
        t = now() - t;
        best_triad = t < best_triad ? t : best_triad;
    }
    *read_gbs = (double)n * 4.0 / best_read / 1e9;
    *triad_gbs = (double)n * 12.0 / best_triad / 1e9;
    if (sink == 42.0) printf(" ");
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
    const struct gsae_tensor *t[] = {&lw->attn_q,   &lw->attn_k, &lw->attn_v,  &lw->attn_o,
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
    struct gemma_batch b = {
        .n_seq = n_seq, .n_rows = n_rows, .slot = slot, .pos0 = pos0, .n_tok = n_tok};
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
    int64_t kmax = c->d_ff > c->d_model ? c->d_ff : c->d_model,
            tf = matmul_tile_floats(kmax, kmax * c->d_model);
    float *tile = malloc(sizeof(float) * (size_t)tf);
    const struct gsae_tensor *w[] = {&lw->attn_q,   &lw->attn_k, &lw->attn_v,  &lw->attn_o,
                                     &lw->ffn_gate, &lw->ffn_up, &lw->ffn_down};
    double best = 1e30;
    for (int rep = 0; rep < 2; rep++) {
        double t = now();
        for (int i = 0; i < 7; i++) {
            int64_t n = w[i]->shape[0], k = w[i]->shape[1], nb = tf / k;
            for (int64_t r0 = 0; r0 < n; r0 += nb)
                matmul_rows_to_f32(tile, w[i], r0, n - r0 < nb ? n - r0 : nb, k, bench_threads);
        }
        t = now() - t;
        best = t < best ? t : best;
    }
    free(tile);
    return best;
}

/* oneDNN's own bf16 x bf16 -> f32 matmul rate (GFLOP/s) at this model's seven projection
 * shapes with T rows, weights packed as gemma does: total FLOPs over the summed best-of-6
 * times. */
static double onednn_peak(const struct synth_model *m, int64_t T)
{
    const struct gemma_config *c = &m->cfg;
    const struct gemma_layer_weights *lw = &m->w.layers[0];
    const struct gsae_tensor *w[] = {&lw->attn_q,   &lw->attn_k, &lw->attn_v,  &lw->attn_o,
                                     &lw->ffn_gate, &lw->ffn_up, &lw->ffn_down};
    int64_t kmax = c->d_ff > c->d_model ? c->d_ff : c->d_model;
    int64_t nmax = c->d_ff > c->n_heads * c->d_head ? c->d_ff : c->n_heads * c->d_head;
    float *x = malloc(sizeof(float) * (size_t)(T * kmax)),
          *y = malloc(sizeof(float) * (size_t)(T * nmax));
    for (int64_t i = 0; i < T * kmax; i++)
        x[i] = (float)(i % 13) * 0.1f;
    struct gemm_dnnl *g = NULL;
    struct gsae_error err;
    double total = 0, fl = 0;
    if (gemm_dnnl_init(&g, T, kmax, &err)) goto fail;
    for (int i = 0; i < 7; i++) {
        int64_t n = w[i]->shape[0], k = w[i]->shape[1];
        if (gemm_dnnl_pack(g, w[i], T, &err)) goto fail;
        double best = 1e30;
        for (int rep = 0; rep < 7; rep++) { /* the first creates the primitive */
            double t = now();
            if (gemm_dnnl_xwt(g, y, n, x, T, k, w[i], &err)) goto fail;
            t = now() - t;
            best = rep > 0 && t < best ? t : best;
        }
        total += best;
        fl += 2.0 * (double)T * (double)n * (double)k;
    }
    gemm_dnnl_free(&g);
    free(x), free(y);
    return fl / total / 1e9;
fail:
    fprintf(stderr, "bench_engine: %s\n", err.msg);
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Prefill of T tokens from position 0: PREFILL_REPS timed runs after a warm-up; prints the
 * median tokens/s per layer with the range, the best run's rate as a fraction of peak, and the
 * best run's breakdown. Returns the median tokens/s per layer. */
enum { PREFILL_REPS = 5 };
static double bench_prefill(const char *label, const struct synth_model *m, struct gemma_state *s,
                            int64_t T, const float *x0, float *x, double peak,
                            const char *peak_name)
{
    const struct gemma_config *c = &m->cfg;
    int64_t slot = 0, pos0 = 0, n = T;
    memcpy(x, x0, sizeof(float) * (size_t)(T * c->d_model));
    forward_once(m, s, x, 1, &slot, &pos0, &n, T);
    double times[PREFILL_REPS], best = 1e30;
    struct gemma_timing best_tm = {0};
    for (int rep = 0; rep < PREFILL_REPS; rep++) {
        struct gemma_timing tm = {0};
        s->timing = &tm;
        memcpy(x, x0, sizeof(float) * (size_t)(T * c->d_model));
        double t = now();
        forward_once(m, s, x, 1, &slot, &pos0, &n, T);
        times[rep] = now() - t;
        s->timing = NULL;
        if (times[rep] < best) best = times[rep], best_tm = tm;
    }
    qsort(times, PREFILL_REPS, sizeof times[0], cmp_double);
    const char *mode = gemma_compute_name(s->compute);
    double L = (double)c->n_layers, per_layer = times[0] / L;
    double med = (double)T / (times[PREFILL_REPS / 2] / L);
    double fl = linear_flops(c, T), fa = attn_flops(c, T);
    double proj = best_tm.proj / L, attn = best_tm.attn / L, other = best_tm.other / L;
    printf("%s %s prefill T=%lld: %.0f tokens/s per layer (median of %d, range %.0f-%.0f); best "
           "run %.1f GFLOP/s = %.0f%% of %s; projections %.1f GFLOP/s = %.0f%% of %s (%.0f%% of "
           "the time), attention %.1f GFLOP/s (%.0f%%), norms/gelu/residual %.0f%%\n",
           label, mode, (long long)T, med, PREFILL_REPS, (double)T / (times[PREFILL_REPS - 1] / L),
           (double)T / per_layer, (fl + fa) / per_layer / 1e9,
           100.0 * (fl + fa) / per_layer / 1e9 / peak, peak_name, fl / proj / 1e9,
           100.0 * fl / proj / 1e9 / peak, peak_name, 100 * proj / per_layer, fa / attn / 1e9,
           100 * attn / per_layer, 100 * other / per_layer);
    return med;
}

/* Decoding after a T-token prefill: rows sequences (one row each) per step, best step of
 * DECODE_STEPS, against the time to read the layer's weights once at the read bandwidth
 * measured right before and right after the steps (the larger; read_gbs, the run's first
 * figure, when it is larger still): on a shared machine the load changes within seconds, and a
 * bound measured minutes apart would flatter or wrong the figure. */
enum { DECODE_STEPS = 8, DECODE_BATCH = 8 };
static void bench_decode(const char *label, const struct synth_model *m, struct gemma_state *s,
                         int64_t T, int rows, const float *x0, float *x, double read_gbs)
{
    const struct gemma_config *c = &m->cfg;
    double L = (double)c->n_layers;
    size_t bytes = layer_weight_bytes(&m->w.layers[0]);
    double bw_before, bw_after, triad;
    mem_bandwidth(bw_array_floats, 2, &bw_before, &triad);
    int64_t slots[DECODE_BATCH], pos[DECODE_BATCH], one[DECODE_BATCH];
    for (int i = 0; i < rows; i++)
        slots[i] = i, pos[i] = i == 0 ? T : 0, one[i] = 1;
    double best_step = 1e30;
    struct gemma_timing dec_tm = {0};
    for (int step = 0; step < DECODE_STEPS; step++) {
        struct gemma_timing tm = {0};
        s->timing = &tm;
        memcpy(x, x0, sizeof(float) * (size_t)(rows * c->d_model));
        double t = now();
        forward_once(m, s, x, rows, slots, pos, one, rows);
        t = now() - t;
        s->timing = NULL;
        if (t < best_step) best_step = t, dec_tm = tm;
        for (int i = 0; i < rows; i++)
            pos[i]++;
    }
    mem_bandwidth(bw_array_floats, 2, &bw_after, &triad);
    read_gbs = bw_before > read_gbs ? bw_before : read_gbs;
    read_gbs = bw_after > read_gbs ? bw_after : read_gbs;
    double bound_ms = (double)bytes / (read_gbs * 1e9) * 1e3;
    double ms = best_step / L * 1e3;
    printf("%s %s decode: %d row%s per step, %.2f ms per layer (bound %.2f ms = %.0f MB bf16 "
           "weights / %.1f GB/s): %.0f%% of the bandwidth bound; projections %.2f ms "
           "(%.1f GB/s), attention %.2f ms, other %.2f ms\n",
           label, gemma_compute_name(s->compute), rows, rows > 1 ? "s" : "", ms, bound_ms,
           (double)bytes / 1e6, read_gbs, 100.0 * bound_ms / ms, dec_tm.proj / L * 1e3,
           (double)bytes / (dec_tm.proj / L) / 1e9, dec_tm.attn / L * 1e3, dec_tm.other / L * 1e3);
}

/* One model's figures in both compute modes: prefill at each T of Ts, decode at 1, 5 and 8
 * rows, with the peaks they are measured against. */
static void bench_model(const char *label, struct gemma_config c, const int64_t *Ts, int n_T,
                        double sgemm, double read_gbs, bool decode_only)
{
    c.n_layers = 2; /* layer 0 local (sliding window), layer 1 global */
    struct synth_model m;
    synth_init(&m, &c, GSAE_DTYPE_BF16, 1, 0, c.n_layers, 0);
    int64_t T_max = Ts[n_T - 1];
    double dnnl_peak[8] = {0}; /* oneDNN's own rate at each T's shapes: the bf16 prefill's peak */
    for (int i = 0; i < n_T && i < 8 && !decode_only; i++) {
        dnnl_peak[i] = onednn_peak(&m, Ts[i]);
        printf("%s: oneDNN bf16 matmul %.1f GFLOP/s at the projection shapes (%lld rows, packed "
               "weights) = %.2fx sgemm\n",
               label, dnnl_peak[i], (long long)Ts[i], dnnl_peak[i] / sgemm);
    }
    if (!decode_only)
        printf("%s: bf16->f32 conversion of one layer's weights (f32 mode) %.3f s\n", label,
               conversion_seconds(&m));
    float *x = malloc(sizeof(float) * (size_t)(T_max * c.d_model));
    float *x0 = malloc(sizeof(float) * (size_t)(T_max * c.d_model));
    struct rng r;
    rng_seed(&r, 2);
    for (int64_t i = 0; i < T_max * c.d_model; i++)
        x0[i] = (float)rng_normal(&r);
    for (int mode = 0; mode < 2; mode++) {
        struct gemma_state s;
        struct gsae_error err;
        enum gemma_compute cm = mode ? GEMMA_COMPUTE_BF16 : GEMMA_COMPUTE_F32;
        if (gemma_state_init(&s, &c, 0, c.n_layers, DECODE_BATCH, T_max + DECODE_STEPS, T_max,
                             &err) ||
            gemma_state_set_compute(&s, &m.w, cm, false, &err)) {
            fprintf(stderr, "bench_engine: %s\n", err.msg);
            exit(1);
        }
        s.n_threads = bench_threads;
        if (decode_only) { /* fill the caches up to T_max, untimed */
            int64_t slot = 0, pos0 = 0, n = T_max;
            memcpy(x, x0, sizeof(float) * (size_t)(T_max * c.d_model));
            forward_once(&m, &s, x, 1, &slot, &pos0, &n, T_max);
        }
        for (int i = 0; i < n_T && !decode_only; i++)
            bench_prefill(label, &m, &s, Ts[i], x0, x, mode ? dnnl_peak[i] : sgemm,
                          mode ? "oneDNN bf16" : "sgemm");
        const int rows[] = {1, 5, 8};
        for (int i = 0; i < 3; i++)
            bench_decode(label, &m, &s, T_max, rows[i], x0, x, read_gbs);
        gemma_state_free(&s);
    }
    free(x), free(x0);
    synth_free(&m);
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    /* --decode: decoding figures only, at 2B dimensions after a 512-token prefill */
    bool decode_only = argc > 1 && strcmp(argv[1], "--decode") == 0;
    const char *bt = getenv("GSAE_BENCH_THREADS");
    if (bt && atoi(bt) > 0) bench_threads = atoi(bt);
    openblas_set_num_threads(bench_threads);
    omp_set_num_threads(bench_threads); /* oneDNN's threads */
    double peak = decode_only ? 0 : sgemm_peak(quick ? 512 : 2048, quick ? 2 : 5);
    printf("machine: sgemm peak %.1f GFLOP/s (%d threads, %dx%d, best of %d)\n", peak,
           bench_threads, quick ? 512 : 2048, quick ? 512 : 2048, quick ? 2 : 5);
    double read_gbs, triad_gbs;
    if (quick) bw_array_floats = 1 << 22;
    mem_bandwidth(bw_array_floats, quick ? 2 : 4, &read_gbs, &triad_gbs);
    printf("machine: memory bandwidth %.1f GB/s read, %.1f GB/s triad (%d threads, %d MiB "
           "arrays)\n",
           read_gbs, triad_gbs, bench_threads, quick ? 16 : 512);
    if (quick) {
        const int64_t Ts[] = {128};
        bench_model("tiny", synth_config(2, 256, 4, 2, 64, 1024, 512, 64), Ts, 1, peak, read_gbs,
                    false);
        return 0;
    }
    if (decode_only) {
        const int64_t Ts[] = {512};
        bench_model("gemma2-2b", gemma_config_2b(), Ts, 1, peak, read_gbs, true);
        return 0;
    }
    const int64_t Ts[] = {512, 1024};
    bench_model("gemma2-2b", gemma_config_2b(), Ts, 2, peak, read_gbs, false);
    bench_model("gemma2-9b", gemma_config_9b(), Ts, 2, peak, read_gbs, false);
    return 0;
}
