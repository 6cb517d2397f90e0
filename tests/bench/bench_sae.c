/* bench_sae.c: SAE encode throughput against this machine's sgemm peak, and the SAE's memory.
 *
 * usage: bench_sae [D_MODEL [N_TOKENS [D_SAE...]]]   (default 3584 1024 16384 131072)
 *
 * Encoding a block of tokens is one sgemm (tokens x d_model times d_model x d_sae) plus the
 * JumpReLU mask that builds the sparse result, so its FLOP rate is compared with the best of
 * a few large square sgemms on the same threads. One line per size, key=value, e.g.
 *   sae_encode d_model=3584 d_sae=16384 tokens=1024 seconds=... gflops=... peak_gflops=...
 *              fraction_of_peak=0.91 mask_seconds=... l0=... sae_bytes=...
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../../src/rng.h"
#include "../../src/sae.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best GFLOP/s of a few n x n x n sgemms. */
static double sgemm_peak(int n)
{
    float *a = malloc((size_t)n * n * sizeof *a), *b = malloc((size_t)n * n * sizeof *b),
          *c = malloc((size_t)n * n * sizeof *c);
    if (!a || !b || !c) return 0;
    for (size_t i = 0; i < (size_t)n * n; i++)
        a[i] = b[i] = (float)(i % 7) * 0.1f;
    double best = 0;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                    n);
        double g = 2.0 * n * n * (double)n / (now() - t0) / 1e9;
        best = g > best ? g : best;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static int bench(int64_t d, int64_t n_tok, int64_t S, double peak)
{
    struct gsae_error err;
    struct sae_params p;
    if (sae_params_init(&p, d, S, &err) != GSAE_OK) {
        fprintf(stderr, "bench_sae: %s\n", err.msg);
        return 1;
    }
    struct rng r;
    rng_seed(&r, 1);
    for (int64_t i = 0; i < d * S; i++)
        p.w_enc[i] = rng_uniform_f32(&r) - 0.5f; /* variance 1/12 */
    float *x = malloc((size_t)(n_tok * d) * sizeof *x);
    if (!x) return 1;
    for (int64_t i = 0; i < n_tok * d; i++)
        x[i] = 2.0f * rng_uniform_f32(&r) - 1.0f; /* variance 1/3 */
    /* pre ~ N(0, d/36): a threshold of 2.054 sd keeps about 2% of the features */
    for (int64_t f = 0; f < S; f++)
        p.threshold[f] = 2.054f * sqrtf((float)d / 36.0f);
    struct sae_encoder enc;
    struct sae_acts a;
    if (sae_encoder_init(&enc, &p, 0, &err) != GSAE_OK ||
        sae_acts_init(&a, n_tok, n_tok * S / 32, &err) != GSAE_OK) {
        fprintf(stderr, "bench_sae: %s\n", err.msg);
        return 1;
    }
    sae_encode(&enc, x, enc.block_rows < n_tok ? enc.block_rows : n_tok, &a, &err); /* warm */
    double best = 1e30; /* best of up to 4, as the peak is */
    for (int rep = 0; rep < 4; rep++) {
        double t0 = now();
        if (sae_encode(&enc, x, n_tok, &a, &err) != GSAE_OK) {
            fprintf(stderr, "bench_sae: %s\n", err.msg);
            return 1;
        }
        double t = now() - t0;
        best = t < best ? t : best;
        if (t > 5.0) break; /* long enough to be a stable figure */
    }
    /* the sgemm alone, block by block as the encoder runs it, to split off the mask pass */
    double t0 = now();
    for (int64_t r0 = 0; r0 < n_tok; r0 += enc.block_rows) {
        int64_t m = n_tok - r0 < enc.block_rows ? n_tok - r0 : enc.block_rows;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)S, (int)d, 1.0f,
                    x + r0 * d, (int)d, p.w_enc, (int)S, 0.0f, enc.pre, (int)S);
    }
    double gemm_s = now() - t0;
    double gflops = 2.0 * (double)n_tok * (double)d * (double)S / best / 1e9;
    printf("sae_encode d_model=%lld d_sae=%lld tokens=%lld block_rows=%lld threads=%d "
           "seconds=%.3f gflops=%.1f peak_gflops=%.1f fraction_of_peak=%.3f mask_seconds=%.3f "
           "l0=%.1f sae_bytes=%zu encoder_bytes=%zu\n",
           (long long)d, (long long)S, (long long)n_tok, (long long)enc.block_rows,
           openblas_get_num_threads(), best, gflops, peak, gflops / peak,
           best - gemm_s > 0 ? best - gemm_s : 0.0, (double)a.nnz / (double)n_tok,
           sae_params_bytes(d, S), (size_t)(enc.block_rows * S) * sizeof(float));
    fflush(stdout);
    sae_encoder_free(&enc);
    sae_acts_free(&a);
    sae_params_free(&p);
    free(x);
    return 0;
}

int main(int argc, char **argv)
{
    int64_t d = argc > 1 ? atoll(argv[1]) : 3584, n_tok = argc > 2 ? atoll(argv[2]) : 1024;
    int64_t sizes[16] = {16384, 131072};
    int n_sizes = 2;
    for (int i = 3; i < argc && i - 3 < 16; i++)
        sizes[(n_sizes = i - 2) - 1] = atoll(argv[i]);
    /* other load on the machine moves the peak: measure it next to each size, keep the best */
    double peak = sgemm_peak(3072);
    for (int i = 0; i < n_sizes; i++) {
        double p = sgemm_peak(3072);
        peak = p > peak ? p : peak;
        printf("sgemm_peak n=3072 threads=%d gflops=%.1f\n", openblas_get_num_threads(), peak);
        if (bench(d, n_tok, sizes[i], peak)) return 1;
    }
    return 0;
}
