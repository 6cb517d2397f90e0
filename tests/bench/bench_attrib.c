/* bench_attrib.c: the backward pass of attribution (src/backward.h) against the forward pass
 * over the same layers: seconds per layer and their ratio (target <= 2.5), at Gemma-2 2B
 * dimensions with random bf16 weights, two layers (one local, one global).
 * usage: bench_attrib [--quick] [TOKENS] */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int64_t T = argc > 1 + quick ? atoll(argv[1 + quick]) : 512;
    openblas_set_num_threads(omp_get_max_threads());
    if (quick)
        bench("tiny", synth_config(2, 256, 4, 2, 64, 1024, 512, 64), 128);
    else
        bench("gemma2-2b", gemma_config_2b(), T);
    return 0;
}
