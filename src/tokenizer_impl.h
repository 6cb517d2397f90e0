/* tokenizer_impl.h: helpers shared by tokenizer.c (tables, decoding) and tokenizer_encode.c.
 * Internal to the tokenizer module: other modules include tokenizer.h only. */
#pragma once

#include <stdint.h>
#include <string.h>

#include "hash.h"
#include "tokenizer.h"

#define NOMEM(err, what) gsae_fail(err, GSAE_ENOMEM, "tokenizer: out of memory (%s)", what)

static inline uint64_t tokenizer_hash_bytes(const char *s, size_t len)
{
    uint64_t h = gsae_hash(s, len);
    return h ^ (h >> 29);
}

static inline uint64_t tokenizer_hash_pair(uint64_t key)
{
    key *= 0x9e3779b97f4a7c15ull;
    return key ^ (key >> 31);
}

/* The merge of (left, right), or NULL. */
static inline const struct tokenizer_merge_slot *tokenizer_merge_find(const struct tokenizer *tk,
                                                                      int32_t left, int32_t right)
{
    uint64_t key = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
    size_t mask = tk->merge_cap - 1;
    for (size_t h = tokenizer_hash_pair(key) & mask;; h = (h + 1) & mask) {
        const struct tokenizer_merge_slot *s = &tk->merges[h];
        if (s->key == key) return s;
        if (s->key == 0) return NULL;
    }
}

/* Grow *p (of *cap elements of elem bytes) to hold at least need elements, doubling. */
enum gsae_status tokenizer_grow(void **p, size_t *cap, size_t need, size_t elem,
                                struct gsae_error *err);

/* Length of the valid UTF-8 character starting at s (1..4), or 0 when s[0] does not start
 * one (stray continuation byte, overlong form, surrogate, beyond U+10FFFF, truncated). */
size_t tokenizer_utf8_len(const unsigned char *s, size_t n);
