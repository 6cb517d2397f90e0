/* window.h: SAELens-style windowing of tokenized documents into fixed-length contexts.
 *
 * What SAELens's ActivationsStore does with prepend_bos=True
 * (sae_lens/tokenization_and_batching.py, concat_and_batch_sequences with begin_batch_token_id =
 * bos, sequence_separator_token_id = bos, begin_sequence_token_id = None; documents tokenized
 * without bos), reproduced exactly:
 *
 *   - documents are tokenized without <bos> and concatenated in corpus order;
 *   - a new window starts with <bos> unless the first token taken into it already is <bos>,
 *     then takes the next context_size-1 tokens of the stream;
 *   - when a document starts while a window is partly filled, a separator (<bos>) is inserted
 *     first, unless the document's first token already is <bos>; a separator that lands on the
 *     last slot of a window completes it and the document then starts the next window (with
 *     its own leading <bos>); a new window never starts with a separator;
 *   - empty documents contribute nothing (not even a separator);
 *   - the last, incomplete window of the stream is dropped.
 *
 * Every token keeps its document index and position in the document (0-based); inserted <bos>
 * tokens carry pos = -1 and the document index of the document they precede. Windows are
 * numbered 0, 1, ... in stream order. At a window boundary the whole state is (document,
 * offset in the document): window_builder_push_doc() takes that offset, which is how a
 * resumed harvest re-enters the stream (see mpi/pstore.h).
 *
 * The tokenizer is a callback (struct window_tokenizer) so this module stays free of file
 * formats: io/ or the tokenizer module supplies it. Local; no allocation after the first
 * windows except to grow the pending-document buffer.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsae.h"

/* Turns UTF-8 text into token ids, without <bos>. encode appends to *ids (a malloc'd array of
 * capacity *cap that it may realloc) starting at index 0 and sets *n. Returns a status and
 * fills err on failure. ctx is the tokenizer's own state. */
struct window_tokenizer {
    enum gsae_status (*encode)(void *ctx, const char *text, size_t len, int32_t **ids, int64_t *n,
                               int64_t *cap, struct gsae_error *err);
    void *ctx;
};

/* One complete window; arrays point into the builder, valid until the next builder call. */
struct window {
    int64_t index;        /* window number in the stream, from 0 */
    int64_t n;            /* == context_size */
    const int32_t *token; /* (n) token ids */
    const int64_t *doc;   /* (n) document index of each token */
    const int64_t *pos;   /* (n) position in its document; -1 for inserted <bos> */
};

struct window_builder {
    int64_t context_size;
    int32_t bos;
    int64_t next_index; /* index the next complete window gets */
    /* the window being filled: fill tokens so far (capacity context_size) */
    int32_t *token;
    int64_t *doc;
    int64_t *pos;
    int64_t fill;
    bool emitted; /* the last call returned a full window: clear it before refilling */
    /* the pending document: ids[offset..n) not yet placed */
    int32_t *ids;
    int64_t n_ids, cap_ids, offset, doc_index;
    bool doc_started; /* no token of the pending document placed in this builder yet: false */
};

/* Allocate a builder for windows of context_size (>= 2) tokens whose <bos> id is bos.
 * first_index numbers the first window it emits (0 for a fresh stream). */
enum gsae_status window_builder_init(struct window_builder *wb, int64_t context_size, int32_t bos,
                                     int64_t first_index, struct gsae_error *err);

/* Free the builder's buffers and zero it (harmless on a zeroed builder). */
void window_builder_free(struct window_builder *wb);

/* Make ids[offset..n) of document doc_index the pending document (ids are copied). offset > 0
 * re-enters a document at a window boundary (only valid while no window is partly filled).
 * The previous pending document must be exhausted (window_builder_next returned false). */
enum gsae_status window_builder_push_doc(struct window_builder *wb, int64_t doc_index,
                                         const int32_t *ids, int64_t n, int64_t offset,
                                         struct gsae_error *err);

/* Tokenize text with tok and push it as document doc_index (offset 0). */
enum gsae_status window_builder_push_text(struct window_builder *wb,
                                          const struct window_tokenizer *tok, int64_t doc_index,
                                          const char *text, size_t len, struct gsae_error *err);

/* Place tokens of the pending document; true with *out set when a window completed (call
 * again for more), false when the pending document is used up (the partial window stays). */
bool window_builder_next(struct window_builder *wb, struct window *out);

/* Where the stream stands: the pending document and the offset of its next unplaced token,
 * and how many tokens of a partial window are waiting (0 exactly at window boundaries). */
void window_builder_position(const struct window_builder *wb, int64_t *doc_index, int64_t *offset,
                             int64_t *partial);
