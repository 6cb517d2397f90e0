/* tensor.h: element types and borrowed tensor views.
 *
 * A struct gsae_tensor never owns its data: it points into a checkpoint mapping or a buffer
 * that someone else frees. Layout is row-major (C order): shape[n_dims-1] varies fastest.
 * bf16 is the upper half of an IEEE binary32; f16 is IEEE binary16.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define GSAE_MAX_DIMS 8

enum gsae_dtype {
    GSAE_DTYPE_INVALID = 0,
    GSAE_DTYPE_F32,
    GSAE_DTYPE_F16,
    GSAE_DTYPE_BF16,
    GSAE_DTYPE_F64,
    GSAE_DTYPE_I8,
    GSAE_DTYPE_U8,
    GSAE_DTYPE_I16,
    GSAE_DTYPE_U16,
    GSAE_DTYPE_I32,
    GSAE_DTYPE_U32,
    GSAE_DTYPE_I64,
    GSAE_DTYPE_U64,
    GSAE_DTYPE_BOOL,
};

struct gsae_tensor {
    const void *data; /* borrowed; NULL for "not loaded here" */
    enum gsae_dtype dtype;
    int n_dims;
    int64_t shape[GSAE_MAX_DIMS];
};

/* Bytes per element (0 for GSAE_DTYPE_INVALID). */
size_t gsae_dtype_size(enum gsae_dtype t);

/* Safetensors spelling ("F32", "BF16", ...) and back; unknown names give GSAE_DTYPE_INVALID. */
const char *gsae_dtype_name(enum gsae_dtype t);
enum gsae_dtype gsae_dtype_from_name(const char *name);

/* Number of elements (product of the shape; 1 for a scalar). Returns -1 on overflow. */
int64_t gsae_tensor_numel(const struct gsae_tensor *t);

/* Convert n elements of a floating type (F32, F16, BF16, F64) at src to f32 at dst. */
void gsae_to_f32(float *dst, const void *src, enum gsae_dtype t, int64_t n);

static inline float gsae_bf16_to_f32(uint16_t h)
{
    union {
        uint32_t u;
        float f;
    } v = {.u = (uint32_t)h << 16};
    return v.f;
}

/* Round to nearest even, as torch does; NaN stays NaN. */
static inline uint16_t gsae_f32_to_bf16(float f)
{
    union {
        float f;
        uint32_t u;
    } v = {.f = f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40u);
    uint32_t r = v.u + 0x7fffu + ((v.u >> 16) & 1u);
    return (uint16_t)(r >> 16);
}

float gsae_f16_to_f32(uint16_t h);
uint16_t gsae_f32_to_f16(float f);
