/* ops.c: norms, soft-caps, activations, rotary embedding and softmax (see ops.h). */
#include "ops.h"

#include <math.h>

void ops_rmsnorm(float *y, const float *x, const float *w1, int64_t n_rows, int64_t d, float eps,
                 int n_threads)
{
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_rows > 1)
    for (int64_t r = 0; r < n_rows; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        /* Sum of squares in double: d is up to a few thousand and the cost is negligible
         * next to the GEMMs, so take the accurate mean. */
        double ss = 0.0;
        for (int64_t i = 0; i < d; i++)
            ss += (double)xr[i] * (double)xr[i];
        float inv = (float)(1.0 / sqrt(ss / (double)d + (double)eps));
        for (int64_t i = 0; i < d; i++)
            yr[i] = (xr[i] * inv) * w1[i];
    }
}

void ops_softcap(float *x, int64_t n, float cap)
{
    if (!(cap > 0.0f))
        return;
    float inv = 1.0f / cap;
    for (int64_t i = 0; i < n; i++)
        x[i] = cap * tanhf(x[i] * inv);
}

float ops_gelu_tanh(float x)
{
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

void ops_gelu_mul(float *gate, const float *up, int64_t n_rows, int64_t n, int n_threads)
{
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_rows * n > 65536)
    for (int64_t r = 0; r < n_rows; r++)
        for (int64_t i = r * n; i < (r + 1) * n; i++)
            gate[i] = ops_gelu_tanh(gate[i]) * up[i];
}

void ops_rope(float *x, int64_t n_rows, int64_t ld, int64_t n_heads, int64_t d_head, int64_t pos0,
              float theta)
{
    int64_t half = d_head / 2;
    for (int64_t r = 0; r < n_rows; r++) {
        float pos = (float)(pos0 + r);
        for (int64_t i = 0; i < half; i++) {
            /* As the reference: inverse frequency and angle in f32. */
            float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)d_head);
            float angle = pos * inv_freq;
            float c = cosf(angle), s = sinf(angle);
            for (int64_t h = 0; h < n_heads; h++) {
                float *xh = x + r * ld + h * d_head;
                float a = xh[i], b = xh[i + half];
                xh[i] = a * c - b * s;
                xh[i + half] = b * c + a * s;
            }
        }
    }
}

void ops_softmax(float *x, int64_t n)
{
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}
