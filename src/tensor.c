/* tensor.c: dtype names and sizes, element conversions (see tensor.h). */
#include "tensor.h"

#include <math.h>
#include <string.h>

static const struct {
    enum gsae_dtype t;
    const char *name;
    size_t size;
} dtypes[] = {
    {GSAE_DTYPE_F32, "F32", 4},   {GSAE_DTYPE_F16, "F16", 2}, {GSAE_DTYPE_BF16, "BF16", 2},
    {GSAE_DTYPE_F64, "F64", 8},   {GSAE_DTYPE_I8, "I8", 1},   {GSAE_DTYPE_U8, "U8", 1},
    {GSAE_DTYPE_I16, "I16", 2},   {GSAE_DTYPE_U16, "U16", 2}, {GSAE_DTYPE_I32, "I32", 4},
    {GSAE_DTYPE_U32, "U32", 4},   {GSAE_DTYPE_I64, "I64", 8}, {GSAE_DTYPE_U64, "U64", 8},
    {GSAE_DTYPE_BOOL, "BOOL", 1},
};

size_t gsae_dtype_size(enum gsae_dtype t)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].t == t) return dtypes[i].size;
    return 0;
}

const char *gsae_dtype_name(enum gsae_dtype t)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].t == t) return dtypes[i].name;
    return "INVALID";
}

enum gsae_dtype gsae_dtype_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0) return dtypes[i].t;
    return GSAE_DTYPE_INVALID;
}

int64_t gsae_tensor_numel(const struct gsae_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) {
        if (t->shape[i] < 0) return -1;
        if (t->shape[i] != 0 && n > INT64_MAX / t->shape[i]) return -1;
        n *= t->shape[i];
    }
    return n;
}

float gsae_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    union {
        uint32_t u;
        float f;
    } v;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 */
        float f = ldexpf((float)man, -24);
        return sign ? -f : f;
    }
    if (exp == 31)
        v.u = sign | 0x7f800000u | (man << 13);
    else
        v.u = sign | ((exp + 112u) << 23) | (man << 13);
    return v.f;
}

uint16_t gsae_f32_to_f16(float f)
{
    union {
        float f;
        uint32_t u;
    } v = {.f = f};
    uint16_t sign = (uint16_t)((v.u >> 16) & 0x8000u);
    float a = fabsf(f);
    if (isnan(f)) return (uint16_t)(sign | 0x7e00u);
    if (a >= 65520.0f) return (uint16_t)(sign | 0x7c00u);
    if (a < 6.103515625e-05f) {
        /* subnormal: round a / 2^-24 to nearest even */
        float q = nearbyintf(ldexpf(a, 24));
        return (uint16_t)(sign | (uint16_t)q);
    }
    uint32_t u = v.u & 0x7fffffffu;
    uint32_t r = u + 0xfffu + ((u >> 13) & 1u); /* round mantissa to 10 bits, nearest even */
    uint32_t exp = (r >> 23) - 112u;
    uint32_t man = (r >> 13) & 0x3ffu;
    return (uint16_t)(sign | (exp << 10) | man);
}

void gsae_to_f32(float *dst, const void *src, enum gsae_dtype t, int64_t n)
{
    switch (t) {
    case GSAE_DTYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case GSAE_DTYPE_BF16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++)
            dst[i] = gsae_bf16_to_f32(s[i]);
        break;
    }
    case GSAE_DTYPE_F16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++)
            dst[i] = gsae_f16_to_f32(s[i]);
        break;
    }
    case GSAE_DTYPE_F64: {
        const double *s = src;
        for (int64_t i = 0; i < n; i++)
            dst[i] = (float)s[i];
        break;
    }
    default:
        for (int64_t i = 0; i < n; i++)
            dst[i] = NAN;
        break;
    }
}
