/* bench_attrib.c: the backward pass of attribution (src/backward.h) against the forward pass
 * over the same layers: seconds and their ratio (target <= 2.5), with random bf16 weights.
 *   - Gemma-2 2B dimensions, two layers (one local, one global), per layer;
 *   - the figure: Gemma-2 9B dimensions, a 1,024-token prompt, SAE at L = 20, so the
 *     forward records and the backward runs layers 21..41 and the head (final norm, tied
 *     unembedding, soft-cap; logit-diff metric at the last position), on one rank: seconds
 *     forward, seconds backward, their ratio and the peak resident memory. It needs about
 *     11 GiB (weights 8.3 GiB, embedding 1.8 GiB) and is skipped with a message when
 *     MemAvailable is smaller.
 * usage: bench_attrib                    both figures (make bench)
 *        bench_attrib [--quick] [TOKENS]   2B only (--quick: tiny dimensions)
 *        bench_attrib --9b [TOKENS [N_LAYERS]]  9B only, layers 21 .. 20+N_LAYERS
 *                                         (default 1024 tokens, 21 layers) */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../../src/backward.h"
#include "../common/gemma_synth.h"

static void die(const struct gsae_error *err)
{
    fprintf(stderr, "bench_attrib: %s\n", err->msg);
    exit(1);
}

static void bench(const char *label, struct gemma_config c, int64_t T)
{
    c.n_layers = 2;
    struct synth_model m;
    synth_init(&m, &c, GSAE_DTYPE_BF16, 1, 0, c.n_layers, 0);
    struct gemma_state fs;
    struct gemma_bwd b;
    struct gsae_error err;
    int nt = omp_get_max_threads();
    if (gemma_state_init(&fs, &c, 0, c.n_layers, 1, T, T, &err)) die(&err);
    if (gemma_bwd_init(&b, &c, 0, c.n_layers, T, false, &err)) die(&err);
    fs.n_threads = b.n_threads = nt;
    int64_t nd = T * c.d_model;
    float *x0 = malloc(sizeof(float) * (size_t)nd), *x = malloc(sizeof(float) * (size_t)nd);
    float *g0 = malloc(sizeof(float) * (size_t)nd), *g = malloc(sizeof(float) * (size_t)nd);
    struct rng r;
    rng_seed(&r, 2);
    for (int64_t i = 0; i < nd; i++)
        x0[i] = (float)rng_normal(&r), g0[i] = (float)rng_normal(&r);
    double fwd = 1e30, bwd = 1e30;
    for (int rep = 0; rep < 3; rep++) { /* the first also warms pages and thread pools */
        memcpy(x, x0, sizeof(float) * (size_t)nd);
        double t = omp_get_wtime();
        if (gemma_bwd_forward(&m.w, &b, &fs, x, T, &err)) die(&err);
        t = omp_get_wtime() - t;
        fwd = rep > 0 && t < fwd ? t : fwd;
        memcpy(g, g0, sizeof(float) * (size_t)nd);
        t = omp_get_wtime();
        if (gemma_bwd_layers(&m.w, &b, g, T, 0, c.n_layers, &err)) die(&err);
        t = omp_get_wtime() - t;
        bwd = rep > 0 && t < bwd ? t : bwd;
    }
    size_t bytes = gemma_bwd_bytes(&c, c.n_layers, T, false);
    printf("%s attribution: %lld tokens, forward %.3f s per layer, backward %.3f s per layer "
           "(recomputes the layer), ratio %.2f (target <= 2.5); backward state %.1f MiB for %lld "
           "layers = %.1f KiB per token\n",
           label, (long long)T, fwd / 2, bwd / 2, bwd / fwd, (double)bytes / 1048576.0,
           (long long)c.n_layers, (double)bytes / 1024.0 / (double)T);
    free(x0), free(x), free(g0), free(g);
    gemma_bwd_free(&b);
    gemma_state_free(&fs);
    synth_free(&m);
}

/* Peak resident memory of the process so far, GiB. */
static double peak_rss_gib(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1048576.0;
}

/* MemAvailable from /proc/meminfo, GiB (a large value when unknown). */
static double mem_available_gib(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    double kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib < 0 ? 1e9 : kib / 1048576.0;
}

/* The figure: layers [L+1, L+1+n_layers) of Gemma-2 9B and the head, T tokens. */
static void bench_9b(int64_t T, int64_t n_layers)
{
    struct gemma_config c = gemma_config_9b();
    const int64_t L = 20, b0 = L + 1, b1 = b0 + n_layers;
    if (b1 > c.n_layers) {
        fprintf(stderr, "bench_attrib: at most %lld layers after L = %lld\n",
                (long long)(c.n_layers - b0), (long long)L);
        exit(2);
    }
    int64_t qd = c.n_heads * c.d_head, kvd = c.n_kv_heads * c.d_head, d = c.d_model;
    double layer_params = (double)(2 * qd * d + 2 * kvd * d + 3 * c.d_ff * d);
    double need = (2.0 * (layer_params * (double)n_layers + (double)(c.n_vocab * d)) +
                   (double)gemma_bwd_bytes(&c, n_layers, T, true)) /
                      1073741824.0 +
                  1.0;
    double avail = mem_available_gib();
    if (avail < need) {
        printf("gemma2-9b attribution: skipped, needs about %.1f GiB, %.1f GiB available\n", need,
               avail);
        return;
    }
    struct synth_model m;
    double t = omp_get_wtime();
    synth_init(&m, &c, GSAE_DTYPE_BF16, 1, b0, b1, 1);
    double t_init = omp_get_wtime() - t, rss_weights = peak_rss_gib();
    struct gemma_state fs;
    struct gemma_bwd b;
    struct gsae_error err;
    int nt = omp_get_max_threads();
    if (gemma_state_init(&fs, &c, b0, b1, 1, T, T, &err)) die(&err);
    if (gemma_bwd_init(&b, &c, b0, b1, T, true, &err)) die(&err);
    fs.n_threads = b.n_threads = nt;
    int64_t nd = T * d;
    float *x = malloc(sizeof(float) * (size_t)nd), *g = malloc(sizeof(float) * (size_t)nd);
    struct rng r;
    rng_seed(&r, 2);
    for (int64_t i = 0; i < nd; i++)
        x[i] = (float)rng_normal(&r);
    /* touch the backward's scratch so neither pass pays first-touch page faults */
    memset(b.scratch, 0, b.scratch_floats * sizeof(float));
    memset(g, 0, sizeof(float) * (size_t)nd);
    struct gemma_metric metric = {
        .kind = GEMMA_METRIC_LOGIT_DIFF, .position = T - 1, .target = 1, .baseline = 2};
    double value = 0;
    t = omp_get_wtime();
    if (gemma_bwd_forward(&m.w, &b, &fs, x, T, &err)) die(&err);
    double fwd = omp_get_wtime() - t;
    t = omp_get_wtime();
    if (gemma_bwd_head(&m.w, &b, x, T, &metric, &value, g, &err)) die(&err);
    double head = omp_get_wtime() - t;
    t = omp_get_wtime();
    if (gemma_bwd_layers(&m.w, &b, g, gemma_metric_rows(&metric), b0, b1, &err)) die(&err);
    double bwd = omp_get_wtime() - t;
    size_t bytes = gemma_bwd_bytes(&c, n_layers, T, true);
    printf("gemma2-9b attribution, L = %lld, layers %lld..%lld, %lld tokens, one rank, %d "
           "threads: forward %.1f s, backward %.1f s, ratio %.2f (target <= 2.5); head (metric "
           "and its gradient) %.1f s more; peak RSS %.2f GiB (%.2f GiB after the random weights, "
           "made in %.0f s); backward state %.1f MiB = %.1f KiB per token\n",
           (long long)L, (long long)b0, (long long)(b1 - 1), (long long)T, nt, fwd, bwd, bwd / fwd,
           head, peak_rss_gib(), rss_weights, t_init, (double)bytes / 1048576.0,
           (double)bytes / 1024.0 / (double)T);
    free(x), free(g);
    gemma_bwd_free(&b);
    gemma_state_free(&fs);
    synth_free(&m);
}

int main(int argc, char **argv)
{
    openblas_set_num_threads(omp_get_max_threads());
    if (argc > 1 && strcmp(argv[1], "--9b") == 0) {
        int64_t T = argc > 2 ? atoll(argv[2]) : 1024, n = argc > 3 ? atoll(argv[3]) : 21;
        if (T < 1 || n < 1) {
            fprintf(stderr, "usage: bench_attrib --9b [TOKENS [N_LAYERS]]\n");
            return 2;
        }
        bench_9b(T, n);
        return 0;
    }
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int64_t T = argc > 1 + quick ? atoll(argv[1 + quick]) : 512;
    if (quick)
        bench("tiny", synth_config(2, 256, 4, 2, 64, 1024, 512, 64), 128);
    else
        bench("gemma2-2b", gemma_config_2b(), T);
    if (argc == 1) bench_9b(1024, 21);
    return 0;
}
