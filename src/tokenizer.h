/* tokenizer.h: byte-fallback BPE tokenizer with added tokens (Gemma-2's, Hugging Face semantics).
 *
 * Encoding follows Hugging Face `tokenizers` for a tokenizer.json with model BPE:
 *   1. Added tokens are matched on the raw text, leftmost-longest, and become their ids.
 *   2. Every stretch of text between them is normalized (one string replaced by another:
 *      Gemma-2 replaces " " with U+2581) and is one BPE word (no other pre-splitting).
 *   3. The word is split into UTF-8 characters; a character missing from the vocabulary becomes
 *      one `<0xNN>` token per byte (byte fallback), or the unknown token. Bytes that are not
 *      valid UTF-8 count as one character each and so always go through byte fallback.
 *   4. Merges are applied lowest rank first (leftmost on ties) with a priority queue over a
 *      linked list of symbols: O(n log n) in the word's length.
 *   Speed-up with the same result: when the vocabulary allows it (checked by tokenizer_finish,
 *   true for Gemma-2), a word is cut before every U+2581 that follows another character, since
 *   no merge can cross there, and short pieces are cached in the struct tokenizer_work.
 * Decoding maps ids to pieces, drops special added tokens when asked (the ones flagged
 * "special" in tokenizer.json), applies the decoder's replacement (U+2581 -> " "), turns runs of
 * byte tokens back into bytes (U+FFFD per byte when a run is not valid UTF-8) and concatenates.
 *
 * Text is always (pointer, length): NUL is an ordinary character. Ids are int32_t.
 *
 * Building: tokenizer_init, tokenizer_set_piece for every id, then tokenizer_add_merge in rank
 * order, tokenizer_mark_added for added tokens, tokenizer_set_normalizer / _decoder_replace,
 * the plain fields (unk_id, bos_id, byte_fallback, fuse_unk, ignore_merges), and
 * tokenizer_finish. After tokenizer_finish the struct is read-only: any number of
 * threads may encode and decode with it at once, each with its own struct tokenizer_work.
 * io/tokenizer_load.h builds one from a tokenizer.json file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsae.h"

/* Longest normalizer/decoder replacement string, in bytes. */
#define TOKENIZER_REPLACE_MAX 16

/* One merge in the pair table: (left id, right id) -> (rank, merged id). */
struct tokenizer_merge_slot {
    uint64_t key; /* (left << 32 | right) + 1; 0 marks an empty slot */
    uint32_t rank;
    int32_t merged;
};

struct tokenizer {
    int32_t n_vocab;
    /* Pieces: bytes of piece i are piece_bytes[piece_off[i] .. piece_off[i] + piece_len[i]). */
    char *piece_bytes;
    uint32_t *piece_off, *piece_len; /* (n_vocab); piece_off UINT32_MAX = not set yet */
    size_t piece_bytes_len, piece_bytes_cap;
    uint64_t *piece_hash;  /* open addressing: hash's upper 32 bits | (id + 1); 0 = empty */
    size_t piece_hash_cap; /* power of two */
    int32_t n_pieces_set;

    struct tokenizer_merge_slot *merges; /* open addressing, power-of-two capacity */
    size_t merge_cap, n_merges;
    uint32_t n_merge_lines; /* merges added so far: the next rank */

    int32_t char_id[256]; /* id of each one-byte character, -1 if none (fast path) */
    int32_t byte_id[256]; /* id of "<0xNN>", -1 if none */
    int16_t *byte_of;     /* (n_vocab) byte value of a "<0xNN>" piece, else -1 */

    /* Added tokens: matched on raw text. Sorted by bytes for longest-prefix search. */
    int32_t *added; /* ids, sorted by piece bytes */
    int32_t n_added, cap_added;
    uint8_t *flags;          /* (n_vocab) TOKENIZER_FLAG_* */
    uint8_t added_first[32]; /* bitmap of first bytes of added tokens */

    char norm_from[TOKENIZER_REPLACE_MAX], norm_to[TOKENIZER_REPLACE_MAX];
    size_t norm_from_len, norm_to_len; /* normalizer Replace; from_len 0 = none */
    char dec_from[TOKENIZER_REPLACE_MAX], dec_to[TOKENIZER_REPLACE_MAX];
    size_t dec_from_len, dec_to_len; /* decoder Replace; from_len 0 = none */

    int32_t unk_id; /* -1: none (characters without byte fallback are then an error) */
    int32_t bos_id; /* -1: none */
    bool byte_fallback, fuse_unk, ignore_merges, finished;
    /* Set by tokenizer_finish when no piece has the normalizer's replacement (U+2581) right
     * after another character: then no merge crosses such a place and words are split there
     * (same result, and the pieces can be cached). */
    bool split_at_norm;
};

enum {
    TOKENIZER_FLAG_ADDED = 1,   /* matched on raw text before BPE */
    TOKENIZER_FLAG_SPECIAL = 2, /* skipped by decode when skip_special */
};

/* Growable list of ids. Caller-owned; zero-initialize, free with tokenizer_ids_free. */
struct tokenizer_ids {
    int32_t *ids;
    size_t n, cap;
};

/* Growable byte string (not NUL-terminated). Caller-owned; free with tokenizer_text_free. */
struct tokenizer_text {
    char *data;
    size_t len, cap;
};

/* A cached piece: text_len bytes at cache_text + text_off encode to n_ids ids at
 * cache_ids + ids_off. hash 0 = empty slot. */
struct tokenizer_cache_slot {
    uint64_t hash;
    uint32_t text_off, ids_off;
    uint16_t text_len, n_ids;
};

/* Scratch buffers for encoding, reused across calls, and a cache of recently encoded pieces
 * (about 2.4 MB once used). Zero-initialize; one per thread. The cache is cleared when the
 * work is used with another tokenizer; free the work with the tokenizer it served (a new
 * tokenizer at the same address would otherwise see the old one's cache). */
struct tokenizer_work {
    const struct tokenizer *cache_owner; /* the tokenizer the cached ids are from */
    struct tokenizer_cache_slot *cache;
    char *cache_text;
    int32_t *cache_ids;
    size_t cache_used, cache_text_len, cache_ids_len;
    char *norm; /* normalized segment */
    size_t norm_cap;
    int32_t *sym_id;              /* per symbol: id */
    int32_t *sym_prev, *sym_next; /* linked list; -1 ends; sym_id < 0 marks merged-away */
    size_t sym_cap;
    uint64_t *heap; /* (rank << 32 | position) min-heap */
    size_t heap_cap;
};

/* Start an empty tokenizer for ids 0 .. n_vocab-1. Local; free with tokenizer_free. */
enum gsae_status tokenizer_init(struct tokenizer *tk, int32_t n_vocab, struct gsae_error *err);

/* Release everything and zero the struct (harmless on a zeroed or half-built struct). */
void tokenizer_free(struct tokenizer *tk);

/* Give id its piece (bytes copied). Every id gets exactly one piece; pieces are distinct. */
enum gsae_status tokenizer_set_piece(struct tokenizer *tk, int32_t id, const char *piece,
                                     size_t len, struct gsae_error *err);

/* Append the next merge "left right" (rank = number of merges added before). Both pieces and
 * their concatenation must be in the vocabulary. A pair given twice keeps its later rank, as in
 * Hugging Face. Call after every tokenizer_set_piece. */
enum gsae_status tokenizer_add_merge(struct tokenizer *tk, const char *left, size_t left_len,
                                     const char *right, size_t right_len, struct gsae_error *err);

/* Size the merge table for n merges in advance (optional; it grows as needed). */
enum gsae_status tokenizer_reserve_merges(struct tokenizer *tk, size_t n, struct gsae_error *err);

/* Mark id as an added token (matched on raw text); special: skipped when decoding with
 * skip_special. Its piece must be set and non-empty. */
enum gsae_status tokenizer_mark_added(struct tokenizer *tk, int32_t id, bool special,
                                      struct gsae_error *err);

/* Normalizer Replace(from -> to) on the text between added tokens; from_len 0 = none. */
enum gsae_status tokenizer_set_normalizer(struct tokenizer *tk, const char *from, size_t from_len,
                                          const char *to, size_t to_len, struct gsae_error *err);

/* Decoder Replace(from -> to) applied to each piece when decoding; from_len 0 = none. */
enum gsae_status tokenizer_set_decoder_replace(struct tokenizer *tk, const char *from,
                                               size_t from_len, const char *to, size_t to_len,
                                               struct gsae_error *err);

/* Check and seal the tokenizer: every id has a piece; byte tokens indexed. byte_fallback and
 * fuse_unk, unk_id, bos_id and ignore_merges are plain fields: set them before this call. */
enum gsae_status tokenizer_finish(struct tokenizer *tk, struct gsae_error *err);

/* Encode text[0..len) and append its ids to out (bos_id first when add_bos); set out->n = 0
 * first to replace. work may be NULL (scratch is then allocated for this call, and nothing is
 * cached): pass one work per thread for many documents. Errors: GSAE_ENOMEM, GSAE_ERANGE (a
 * segment of more than 2^31 bytes), GSAE_EINVAL (add_bos without a bos token; a character with
 * neither byte fallback nor unk); on error out holds a prefix of the ids. Thread-safe on a
 * finished tokenizer with distinct work and out. */
enum gsae_status tokenizer_encode(const struct tokenizer *tk, const char *text, size_t len,
                                  bool add_bos, struct tokenizer_work *work,
                                  struct tokenizer_ids *out, struct gsae_error *err);

/* Decode ids and append the text to out (kept NUL-terminated for convenience; out->len counts).
 * skip_special drops tokens marked special. Errors: GSAE_ERANGE for an id outside
 * 0 .. n_vocab-1 (the message gives the id and its index), GSAE_ENOMEM. */
enum gsae_status tokenizer_decode(const struct tokenizer *tk, const int32_t *ids, size_t n,
                                  bool skip_special, struct tokenizer_text *out,
                                  struct gsae_error *err);

/* The piece of id (borrowed from tk, not NUL-terminated; *len its length); NULL if out of range. */
const char *tokenizer_piece(const struct tokenizer *tk, int32_t id, size_t *len);

/* Id of a piece, or -1. */
int32_t tokenizer_find(const struct tokenizer *tk, const char *piece, size_t len);

/* Bytes allocated for the tokenizer's tables. */
size_t tokenizer_memory_bytes(const struct tokenizer *tk);

void tokenizer_work_free(struct tokenizer_work *work);
void tokenizer_ids_free(struct tokenizer_ids *ids);
void tokenizer_text_free(struct tokenizer_text *text);

/* Append to a growable list / string (GSAE_ENOMEM on failure). */
enum gsae_status tokenizer_ids_push(struct tokenizer_ids *ids, int32_t id, struct gsae_error *err);
enum gsae_status tokenizer_text_append(struct tokenizer_text *text, const char *s, size_t len,
                                       struct gsae_error *err);
