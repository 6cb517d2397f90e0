/* store_impl.h: what the store's writer (store_write.c) and reader (store_read.c) share: the
 * per-variable content hashes and how they combine into a part's checksum (store.h). Internal
 * to the store module. */
#pragma once

#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "checksums hash host bytes as LE");

/* Tokens per window, at most. */
#define STORE_MAX_CONTEXT ((int64_t)1 << 30)

/* The per-variable hashes, in the order they are combined (store.h): version 1 combines the
 * first N_HASH_V1 (H_ROW: sae_row_ptr), version 2 all of them (H_ROW: sae_row_size). */
enum { H_TOKEN, H_DOC, H_POS, H_ROW, H_INDEX, H_VALUE, H_RESID, H_TOKNUM, N_HASH };
#define N_HASH_V1 7

/* The checksum of a part of schema `version` from its per-variable hashes (N_HASH of them). */
uint64_t store_checksum_combine(const uint64_t *hash, int64_t version);
