/* featdash.h: what feature dashboards need, shared by `gsae export` and `gsae maxact`: the
 * whole context of each max-activating example with the feature's activation on every token
 * (read from the store parts), the logit effects of features (model + SAE), and token text. */
#pragma once

#include <stdint.h>

#include "../src/featstats.h"
#include "../src/logit_effects.h"
#include "../src/tokenizer.h"

/* The contexts of the first min(top, top_n[f]) examples of each of n features: for feature i,
 * example j, slots (i * top + j) * len .. + len - 1 of *ids and *acts (malloc'd; len = before +
 * 1 + after; slot `before` is the example's token; id -1 outside its window). before/after are
 * at most the harvest's. Reads each store part that holds an example once. On failure prints
 * "gsae CMD: ..." and returns 1. */
int featdash_contexts(const char *cmd, const char *store, const struct featstats *fs,
                      const int64_t *features, int64_t n, int64_t top, int64_t before,
                      int64_t after, int32_t **ids, float **acts);

/* The store's context_size (tokens per window), from its first part; 0 on failure (printed). */
int64_t featdash_context_size(const char *cmd, const char *store);

/* Logit effects (src/logit_effects.h) of n features of the SAE at sae_path through the tied
 * embedding and final norm of the checkpoint in model_dir; k tokens per sign. *layer (when not
 * NULL) gets the SAE's layer (-1 when the file does not say). On failure prints and returns 1
 * (le zeroed). */
int featdash_logits(const char *cmd, const char *model_dir, const char *sae_path,
                    const int64_t *features, int64_t n, int64_t k, struct logit_effects *le,
                    int64_t *layer);

/* Text of one token as valid UTF-8 (malloc'd): the tokenizer's decoding of the id alone, with
 * invalid byte sequences (a byte-fallback token alone) replaced by U+FFFD; without a tokenizer
 * (tk NULL), the id in decimal. */
char *featdash_token_text(const struct tokenizer *tk, int32_t id);
