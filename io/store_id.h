/* store_id.h: the identity hashes a store records, computed in one place.
 *
 * A store's parts carry what they were made from (io/store.h struct store_meta), and the
 * manifest carries a job hash: a resume continues a store only when the job hash matches, so
 * everything that changes the parts' bytes must enter it. All hashes are FNV-1a 64
 * (src/hash.h), printed as 16 lower-case hex digits.
 *
 *   SAE:        W_enc (d_model, d_sae), b_enc (d_sae), threshold (d_sae), f32 bytes in order
 *   tokenizer:  n_vocab, then each piece's length (size_t) and bytes, by id
 *   harvest job: "MODEL SAE TOKENIZER layer context windows_per_part max_windows resid top_k"
 *               (+ " compute=bf16", " sae-compute=bf16" when set), then the corpus lines
 *   synth job:  "synth-" and FNV-1a of the corpus lines xor a mix of the synth settings
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/sae.h"
#include "../src/tokenizer.h"
#include "store.h"

/* 16 hex digits plus NUL, and the longest job hash ("synth-" + 16 + NUL). */
#define STORE_ID_LEN 32

/* FNV-1a 64 of an SAE's encoder (what decides the features a store records). Local. */
uint64_t store_id_sae(const struct sae_params *p);

/* FNV-1a 64 of a tokenizer's vocabulary. Local. */
uint64_t store_id_tokenizer(const struct tokenizer *tk);

/* h as 16 hex digits into out (size >= 17). */
void store_id_hex(uint64_t h, char *out, size_t size);

/* Settings of a harvest that decide its parts' bytes. Strings are borrowed hex hashes. */
struct store_id_harvest {
    const char *model_hash, *sae_hash, *tokenizer_hash;
    int64_t layer, context, windows_per_part, max_windows, top_k;
    enum store_resid resid;
    bool compute_bf16, sae_compute_bf16; /* bf16 arithmetic makes other parts */
};

/* The job hash of a harvest over corpus_lines (the shard paths, '\n'-separated) into out
 * (size >= STORE_ID_LEN). Local. */
void store_id_harvest_job(const struct store_id_harvest *h, const char *corpus_lines, char *out,
                          size_t size);

/* The job hash of `gsae store synth` into out (size >= STORE_ID_LEN). Local. */
void store_id_synth_job(const char *corpus_lines, int64_t context, int64_t windows_per_part,
                        int64_t d_sae, int64_t d_model, bool bf16, int64_t max_windows, char *out,
                        size_t size);
