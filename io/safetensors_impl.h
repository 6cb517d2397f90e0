/* safetensors_impl.h: what the safetensors reader (safetensors.c) and writer
 * (safetensors_write.c) share. Internal to the safetensors module. */
#pragma once

#define SFT_META_KEY   "__metadata__"
#define SFT_DTYPE_LIST "F32 F16 BF16 F64 I8 U8 I16 U16 I32 U32 I64 U64 BOOL"

/* A name as it may appear in a one-line message: control bytes become '?', long names are
 * cut. Names come from untrusted headers. */
struct sft_shown {
    char s[160];
};

struct sft_shown sft_show(const char *name);
