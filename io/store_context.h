/* store_context.h: one feature's activations over the context of a token, from a store part.
 *
 * feature_stats.nc names each max-activating example by its global token number (window *
 * context_size + offset in the window). The part that holds it is read with store_part_read;
 * this reads, for slots token - before .. token + after (within the token's window: slots
 * outside hold id -1 and activation 0), the token ids and the feature's activation on each,
 * from the part's CSR rows (0 where the feature did not fire).
 *
 * Only these fields of struct store_part are used: token_id, row_ptr, index, value,
 * first_window, n_tokens, context_size. Row pointers are taken relative to row_ptr[0], so
 * parts whose row pointers continue from earlier parts read the same.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "../src/gsae.h"
#include "store.h"

/* True when global token number `token` lies in part p. */
bool store_context_holds(const struct store_part *p, int64_t token);

/* Fill ids and acts (before + 1 + after each; slot `before` is the token itself) for feature
 * `feature`. Errors: GSAE_ERANGE (token not in p), GSAE_EFORMAT (row pointers out of range). */
enum gsae_status store_context_read(const struct store_part *p, int64_t token, int64_t feature,
                                    int64_t before, int64_t after, int32_t *ids, float *acts,
                                    struct gsae_error *err);

/* The activation of feature on local token t of p (0 when it did not fire); binary search of
 * the token's sorted feature indices. */
float store_context_activation(const struct store_part *p, int64_t t, int64_t feature);
