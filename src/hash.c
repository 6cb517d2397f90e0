/* hash.c: FNV-1a 64 (see hash.h). */
#include "hash.h"

#include <string.h>

#define FNV_PRIME 0x100000001b3ull

uint64_t gsae_hash_update(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

uint64_t gsae_hash(const void *data, size_t n)
{
    return gsae_hash_update(GSAE_HASH_INIT, data, n);
}

uint64_t gsae_hash_str(const char *s)
{
    return gsae_hash(s, strlen(s));
}

uint64_t gsae_hash_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}
