/* hash.h: a 64-bit content hash (FNV-1a) for provenance: config files, manifests, tensor names.
 *
 * Not cryptographic: it identifies content in run records and derives per-item seeds, it does
 * not defend against deliberate collisions. The value is the same on every machine.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define GSAE_HASH_INIT 0xcbf29ce484222325ull /* FNV-1a 64-bit offset basis */

/* Continue hash h (start from GSAE_HASH_INIT) over n bytes at data. */
uint64_t gsae_hash_update(uint64_t h, const void *data, size_t n);

/* FNV-1a 64 of n bytes at data. */
uint64_t gsae_hash(const void *data, size_t n);

/* FNV-1a 64 of a NUL-terminated string (without the NUL). */
uint64_t gsae_hash_str(const char *s);

/* MurmurHash3's 64-bit finalizer (fmix64): spreads the bits of x over the whole word. For
 * deriving values from keys and counters (seeds, pseudo-data); a bijection, not a digest. */
uint64_t gsae_hash_mix64(uint64_t x);
