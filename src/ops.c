/* ops.c: norms, soft-caps, activations, rotary embedding and softmax (see ops.h). */
#include "ops.h"

#include <math.h>

#if defined(__AVX512F__)
#define OPS_AVX512 1
#include <immintrin.h>
#else
#define OPS_AVX512 0
#endif

#if OPS_AVX512
/* exp(x) for 16 lanes: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite, two-part ln2), degree-7
 * Taylor polynomial for exp(r) (truncation < 1e-8 relative), then scaled by 2^n with scalef,
 * which underflows gracefully to 0 (x = -inf gives 0). About 2 ulp; NaN gives NaN. */
static inline __m512 exp16(__m512 x)
{
    /* max/min return their second operand when either is NaN: NaN stays NaN. */
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
    x = _mm512_min_ps(_mm512_set1_ps(88.7f), x);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-6f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* cap * tanh(x / cap) for 16 lanes, y = x / cap: for |y| < 1/8 the odd Taylor series to y^9
 * (truncation < 1e-11 relative), else sign(y) * (1 - 2 / (exp(2|y|) + 1)) (absolute error
 * about 1e-7, relative below 1e-6 there). */
static inline __m512 softcap16(__m512 x, float cap)
{
    __m512 y = _mm512_mul_ps(x, _mm512_set1_ps(1.0f / cap));
    __m512 a = _mm512_abs_ps(y);
    __m512 e = exp16(_mm512_add_ps(a, a));
    __m512 t =
        _mm512_sub_ps(_mm512_set1_ps(1.0f),
                      _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
    /* copy the sign of y */
    __m512i sign = _mm512_and_si512(_mm512_castps_si512(y), _mm512_set1_epi32(INT32_MIN));
    t = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(t), sign));
    __m512 y2 = _mm512_mul_ps(y, y);
    __m512 p = _mm512_set1_ps(62.0f / 2835.0f);
    p = _mm512_fmsub_ps(p, y2, _mm512_set1_ps(17.0f / 315.0f));
    p = _mm512_fmadd_ps(p, y2, _mm512_set1_ps(2.0f / 15.0f));
    p = _mm512_fmsub_ps(p, y2, _mm512_set1_ps(1.0f / 3.0f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, y2), y, y);
    t = _mm512_mask_mov_ps(t, _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.125f), _CMP_LT_OQ), p);
    return _mm512_mul_ps(t, _mm512_set1_ps(cap));
}

static inline __mmask16 tail_mask(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
}
#endif

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
    if (!(cap > 0.0f)) return;
#if OPS_AVX512
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, softcap16(_mm512_maskz_loadu_ps(m, x + i), cap));
    }
    return;
#endif
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
#if OPS_AVX512
    /* 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)): one exp, and no cancellation for x << 0. */
#pragma omp parallel for schedule(static) num_threads(n_threads) if (n_rows * n > 65536)
    for (int64_t r = 0; r < n_rows; r++) {
        for (int64_t i = r * n; i < (r + 1) * n; i += 16) {
            __mmask16 m = tail_mask((r + 1) * n - i);
            __m512 x = _mm512_maskz_loadu_ps(m, gate + i);
            __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
            __m512 u = _mm512_mul_ps(_mm512_set1_ps(-1.5957691216057308f), /* -2 sqrt(2/pi) */
                                     _mm512_fmadd_ps(x3, _mm512_set1_ps(0.044715f), x));
            __m512 g = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(u)));
            _mm512_mask_storeu_ps(gate + i, m, _mm512_mul_ps(g, _mm512_maskz_loadu_ps(m, up + i)));
        }
    }
    return;
#endif
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
#if OPS_AVX512
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        vmax = _mm512_mask_max_ps(vmax, m, vmax, _mm512_maskz_loadu_ps(m, x + i));
    }
    __m512 vmx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax)), vsum = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmx));
        e = _mm512_maskz_mov_ps(m, e);
        _mm512_mask_storeu_ps(x + i, m, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    __m512 vinv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vinv));
    }
    return;
#endif
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

double ops_log_sum_exp(const float *x, int64_t n)
{
    double mx = -INFINITY, z = 0;
    for (int64_t i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (int64_t i = 0; i < n; i++)
        z += exp((double)x[i] - mx);
    return mx + log(z);
}
