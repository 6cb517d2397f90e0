/* tokenizer.c: byte-fallback BPE with added tokens; see tokenizer.h for the semantics. */
#include "tokenizer.h"
#include "tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- small helpers ----------------------------------------------------------------------- */

enum gsae_status tokenizer_grow(void **p, size_t *cap, size_t need, size_t elem,
                                struct gsae_error *err)
{
    if (need <= *cap) return GSAE_OK;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    size_t bytes;
    if (!gsae_mul_size(n, elem, &bytes))
        return gsae_fail(err, GSAE_ERANGE, "tokenizer: buffer of %zu elements overflows", n);
    void *q = realloc(*p, bytes);
    if (!q) return NOMEM(err, "buffer");
    *p = q;
    *cap = n;
    return GSAE_OK;
}

size_t tokenizer_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c < 0xc2)
        return 0;
    else if (c < 0xe0)
        len = 2;
    else if (c < 0xf0) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c < 0xf5) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    return len;
}

/* ---- vocabulary and merge tables --------------------------------------------------------- */

const char *tokenizer_piece(const struct tokenizer *tk, int32_t id, size_t *len)
{
    if (id < 0 || id >= tk->n_vocab || tk->piece_off[id] == UINT32_MAX) return NULL;
    *len = tk->piece_len[id];
    return tk->piece_bytes + tk->piece_off[id];
}

/* Id of piece, or -1 with *empty the slot where it would go. A slot holds the upper half of
 * the piece's hash (compared first, so other pieces are rarely touched) and id + 1. */
static int32_t piece_lookup(const struct tokenizer *tk, const char *piece, size_t len,
                            size_t *empty)
{
    uint64_t hash = tokenizer_hash_bytes(piece, len), tag = hash & 0xffffffff00000000ull;
    size_t mask = tk->piece_hash_cap - 1, h = hash & mask;
    for (;; h = (h + 1) & mask) {
        uint64_t slot = tk->piece_hash[h];
        if (slot == 0) break;
        int32_t id = (int32_t)(uint32_t)slot - 1;
        if ((slot & 0xffffffff00000000ull) == tag && tk->piece_len[id] == len &&
            memcmp(tk->piece_bytes + tk->piece_off[id], piece, len) == 0)
            return id;
    }
    *empty = h;
    return -1;
}

int32_t tokenizer_find(const struct tokenizer *tk, const char *piece, size_t len)
{
    size_t empty;
    return piece_lookup(tk, piece, len, &empty);
}

static void merge_insert(struct tokenizer_merge_slot *table, size_t cap,
                         const struct tokenizer_merge_slot *m)
{
    size_t mask = cap - 1;
    for (size_t h = tokenizer_hash_pair(m->key) & mask;; h = (h + 1) & mask) {
        if (table[h].key == 0 || table[h].key == m->key) {
            table[h] = *m;
            return;
        }
    }
}

enum gsae_status tokenizer_init(struct tokenizer *tk, int32_t n_vocab, struct gsae_error *err)
{
    memset(tk, 0, sizeof *tk);
    if (n_vocab <= 0 || n_vocab > (1 << 30))
        return gsae_fail(err, GSAE_EINVAL, "tokenizer: vocabulary size %d outside 1..2^30",
                         (int)n_vocab);
    tk->n_vocab = n_vocab;
    tk->unk_id = tk->bos_id = -1;
    size_t cap = 1024;
    while (cap < 2 * (size_t)n_vocab)
        cap *= 2;
    tk->piece_hash_cap = cap;
    tk->merge_cap = 1024;
    tk->piece_off = malloc((size_t)n_vocab * sizeof *tk->piece_off);
    tk->piece_len = calloc((size_t)n_vocab, sizeof *tk->piece_len);
    tk->piece_hash = calloc(cap, sizeof *tk->piece_hash);
    tk->merges = calloc(tk->merge_cap, sizeof *tk->merges);
    tk->byte_of = malloc((size_t)n_vocab * sizeof *tk->byte_of);
    tk->flags = calloc((size_t)n_vocab, 1);
    if (!tk->piece_off || !tk->piece_len || !tk->piece_hash || !tk->merges || !tk->byte_of ||
        !tk->flags) {
        tokenizer_free(tk);
        return NOMEM(err, "vocabulary tables");
    }
    memset(tk->piece_off, 0xff, (size_t)n_vocab * sizeof *tk->piece_off);
    return GSAE_OK;
}

void tokenizer_free(struct tokenizer *tk)
{
    free(tk->piece_bytes);
    free(tk->piece_off);
    free(tk->piece_len);
    free(tk->piece_hash);
    free(tk->merges);
    free(tk->byte_of);
    free(tk->added);
    free(tk->flags);
    memset(tk, 0, sizeof *tk);
}

size_t tokenizer_memory_bytes(const struct tokenizer *tk)
{
    size_t n = (size_t)tk->n_vocab;
    return tk->piece_bytes_cap + n * (2 * sizeof(uint32_t) + sizeof(int16_t) + 1) +
           tk->piece_hash_cap * sizeof *tk->piece_hash +
           tk->merge_cap * sizeof(struct tokenizer_merge_slot) +
           (size_t)tk->cap_added * sizeof(int32_t) + sizeof *tk;
}

enum gsae_status tokenizer_set_piece(struct tokenizer *tk, int32_t id, const char *piece,
                                     size_t len, struct gsae_error *err)
{
    if (id < 0 || id >= tk->n_vocab)
        return gsae_fail(err, GSAE_EFORMAT, "tokenizer: id %d outside 0..%d", (int)id,
                         (int)tk->n_vocab - 1);
    if (tk->piece_off[id] != UINT32_MAX)
        return gsae_fail(err, GSAE_EFORMAT, "tokenizer: id %d has two pieces", (int)id);
    if (tk->piece_bytes_len + len >= UINT32_MAX)
        return gsae_fail(err, GSAE_ERANGE, "tokenizer: pieces exceed 4 GiB");
    size_t slot;
    int32_t other = piece_lookup(tk, piece, len, &slot);
    if (other >= 0)
        return gsae_fail(err, GSAE_EFORMAT, "tokenizer: ids %d and %d have the same piece",
                         (int)other, (int)id);
    enum gsae_status st = tokenizer_grow((void **)&tk->piece_bytes, &tk->piece_bytes_cap,
                                         tk->piece_bytes_len + len + 1, 1, err);
    if (st != GSAE_OK) return st;
    if (len) memcpy(tk->piece_bytes + tk->piece_bytes_len, piece, len);
    tk->piece_off[id] = (uint32_t)tk->piece_bytes_len;
    tk->piece_len[id] = (uint32_t)len;
    tk->piece_bytes_len += len;
    tk->piece_hash[slot] =
        (tokenizer_hash_bytes(piece, len) & 0xffffffff00000000ull) | (uint32_t)(id + 1);
    tk->n_pieces_set++;
    return GSAE_OK;
}

/* Rehash the merge table into cap slots (a power of two). */
static enum gsae_status merge_table_resize(struct tokenizer *tk, size_t cap, struct gsae_error *err)
{
    struct tokenizer_merge_slot *t = calloc(cap, sizeof *t);
    if (!t) return NOMEM(err, "merge table");
    for (size_t i = 0; i < tk->merge_cap; i++)
        if (tk->merges[i].key) merge_insert(t, cap, &tk->merges[i]);
    free(tk->merges);
    tk->merges = t;
    tk->merge_cap = cap;
    return GSAE_OK;
}

/* The merge table stays at most 3/4 full (linear probing). */
static bool merge_table_fits(size_t n, size_t cap)
{
    return 4 * n <= 3 * cap;
}

enum gsae_status tokenizer_reserve_merges(struct tokenizer *tk, size_t n, struct gsae_error *err)
{
    size_t cap = tk->merge_cap;
    while (!merge_table_fits(n, cap))
        cap *= 2;
    return cap == tk->merge_cap ? GSAE_OK : merge_table_resize(tk, cap, err);
}

enum gsae_status tokenizer_add_merge(struct tokenizer *tk, const char *left, size_t left_len,
                                     const char *right, size_t right_len, struct gsae_error *err)
{
    uint32_t rank = tk->n_merge_lines;
    int32_t a = tokenizer_find(tk, left, left_len), b = tokenizer_find(tk, right, right_len);
    if (a < 0 || b < 0)
        return gsae_fail(err, GSAE_EFORMAT, "tokenizer: merge %u: '%.*s' not in the vocabulary",
                         rank, (int)(a < 0 ? left_len : right_len), a < 0 ? left : right);
    char stack[256];
    char *joined = left_len + right_len <= sizeof stack ? stack : malloc(left_len + right_len);
    if (!joined) return NOMEM(err, "merge");
    memcpy(joined, left, left_len);
    memcpy(joined + left_len, right, right_len);
    int32_t merged = tokenizer_find(tk, joined, left_len + right_len);
    if (joined != stack) free(joined);
    if (merged < 0)
        return gsae_fail(err, GSAE_EFORMAT, "tokenizer: merge %u: '%.*s%.*s' not in the vocabulary",
                         rank, (int)left_len, left, (int)right_len, right);
    if (!merge_table_fits(tk->n_merges + 1, tk->merge_cap)) {
        enum gsae_status st = merge_table_resize(tk, 2 * tk->merge_cap, err);
        if (st != GSAE_OK) return st;
    }
    struct tokenizer_merge_slot m = {((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1, rank, merged};
    if (!tokenizer_merge_find(tk, a, b)) tk->n_merges++;
    merge_insert(tk->merges, tk->merge_cap, &m);
    tk->n_merge_lines++;
    return GSAE_OK;
}

enum gsae_status tokenizer_mark_added(struct tokenizer *tk, int32_t id, bool special,
                                      struct gsae_error *err)
{
    size_t len = 0;
    if (!tokenizer_piece(tk, id, &len) || len == 0)
        return gsae_fail(err, GSAE_EFORMAT, "tokenizer: added token id %d has no piece", (int)id);
    if (!(tk->flags[id] & TOKENIZER_FLAG_ADDED)) {
        size_t cap = (size_t)tk->cap_added;
        enum gsae_status st = tokenizer_grow((void **)&tk->added, &cap, (size_t)tk->n_added + 1,
                                             sizeof *tk->added, err);
        if (st != GSAE_OK) return st;
        tk->cap_added = (int32_t)cap;
        tk->added[tk->n_added++] = id;
    }
    tk->flags[id] = (uint8_t)(TOKENIZER_FLAG_ADDED | (special ? TOKENIZER_FLAG_SPECIAL : 0));
    return GSAE_OK;
}

static enum gsae_status set_replace(char *from, size_t *from_len, char *to, size_t *to_len,
                                    const char *f, size_t fl, const char *t, size_t tl,
                                    const char *what, struct gsae_error *err)
{
    if (fl >= TOKENIZER_REPLACE_MAX || tl >= TOKENIZER_REPLACE_MAX)
        return gsae_fail(err, GSAE_EINVAL, "tokenizer: %s strings longer than %d bytes", what,
                         TOKENIZER_REPLACE_MAX - 1);
    memcpy(from, f, fl);
    memcpy(to, t, tl);
    *from_len = fl;
    *to_len = tl;
    return GSAE_OK;
}

enum gsae_status tokenizer_set_normalizer(struct tokenizer *tk, const char *from, size_t from_len,
                                          const char *to, size_t to_len, struct gsae_error *err)
{
    return set_replace(tk->norm_from, &tk->norm_from_len, tk->norm_to, &tk->norm_to_len, from,
                       from_len, to, to_len, "normalizer Replace", err);
}

enum gsae_status tokenizer_set_decoder_replace(struct tokenizer *tk, const char *from,
                                               size_t from_len, const char *to, size_t to_len,
                                               struct gsae_error *err)
{
    return set_replace(tk->dec_from, &tk->dec_from_len, tk->dec_to, &tk->dec_to_len, from, from_len,
                       to, to_len, "decoder Replace", err);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Whether p[0..len) has `to` somewhere other than at its start or right after another `to`. */
static bool has_inner(const char *p, size_t len, const char *to, size_t tl)
{
    for (size_t i = 1; i + tl <= len; i++)
        if (memcmp(p + i, to, tl) == 0 && (i < tl || memcmp(p + i - tl, to, tl) != 0)) return true;
    return false;
}

/* Words may be split before every U+2581 (the normalizer's replacement) that follows another
 * character when no merge can ever span such a place: U+2581 is one character with its own
 * piece (so it starts a symbol of its own), and no piece contains it after something else
 * (a symbol spanning the place would be such a piece). Merges within the parts then happen in
 * the same relative order as in the whole word, so the ids are the same. */
static bool can_split_at_norm(const struct tokenizer *tk)
{
    const char *to = tk->norm_to;
    size_t tl = tk->norm_to_len;
    if (tl == 0 || tokenizer_utf8_len((const unsigned char *)to, tl) != tl ||
        tokenizer_find(tk, to, tl) < 0)
        return false;
    for (int32_t id = 0; id < tk->n_vocab; id++)
        if (has_inner(tk->piece_bytes + tk->piece_off[id], tk->piece_len[id], to, tl)) return false;
    return true;
}

/* Order of added tokens: bytewise, a prefix before its extensions. */
static int cmp_pieces(const struct tokenizer *tk, int32_t ida, int32_t idb)
{
    size_t la = tk->piece_len[ida], lb = tk->piece_len[idb];
    const char *a = tk->piece_bytes + tk->piece_off[ida], *b = tk->piece_bytes + tk->piece_off[idb];
    int c = memcmp(a, b, la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

/* Insertion sort: there are a few hundred added tokens, sorted once. */
static void sort_added(struct tokenizer *tk)
{
    for (int32_t i = 1; i < tk->n_added; i++) {
        int32_t id = tk->added[i], j = i;
        for (; j > 0 && cmp_pieces(tk, tk->added[j - 1], id) > 0; j--)
            tk->added[j] = tk->added[j - 1];
        tk->added[j] = id;
    }
}

enum gsae_status tokenizer_finish(struct tokenizer *tk, struct gsae_error *err)
{
    if (tk->n_pieces_set != tk->n_vocab) {
        int32_t missing = 0;
        while (missing < tk->n_vocab && tk->piece_off[missing] != UINT32_MAX)
            missing++;
        return gsae_fail(err, GSAE_EFORMAT, "tokenizer: id %d has no piece (%d of %d set)",
                         (int)missing, (int)tk->n_pieces_set, (int)tk->n_vocab);
    }
    if (tk->unk_id >= tk->n_vocab || tk->bos_id >= tk->n_vocab)
        return gsae_fail(err, GSAE_EINVAL, "tokenizer: unk id %d or bos id %d out of range",
                         (int)tk->unk_id, (int)tk->bos_id);
    for (int b = 0; b < 256; b++) {
        char one = (char)b, name[7];
        name[0] = '<', name[1] = '0', name[2] = 'x', name[3] = "0123456789ABCDEF"[b >> 4];
        name[4] = "0123456789ABCDEF"[b & 15], name[5] = '>', name[6] = 0;
        tk->byte_id[b] = tokenizer_find(tk, name, 6);
        tk->char_id[b] = b < 0x80 ? tokenizer_find(tk, &one, 1) : -1;
    }
    /* Decoding recognizes "<0xNN>" with either case of hex digit, as Hugging Face does. */
    for (int32_t id = 0; id < tk->n_vocab; id++) {
        size_t len = tk->piece_len[id];
        const char *p = tk->piece_bytes + tk->piece_off[id];
        int hi = len == 6 ? hexval(p[3]) : -1, lo = len == 6 ? hexval(p[4]) : -1;
        bool is_byte = len == 6 && memcmp(p, "<0x", 3) == 0 && p[5] == '>' && hi >= 0 && lo >= 0;
        tk->byte_of[id] = (int16_t)(is_byte ? hi * 16 + lo : -1);
    }
    sort_added(tk);
    memset(tk->added_first, 0, sizeof tk->added_first);
    for (int32_t i = 0; i < tk->n_added; i++) {
        uint8_t c = (uint8_t)tk->piece_bytes[tk->piece_off[tk->added[i]]];
        tk->added_first[c >> 3] |= (uint8_t)(1u << (c & 7));
    }
    tk->split_at_norm = can_split_at_norm(tk);
    tk->finished = true;
    return GSAE_OK;
}

/* ---- decoding ---------------------------------------------------------------------------- */

/* The bytes of a run of byte tokens are already in out from run_start: keep them if valid
 * UTF-8, else replace them with U+FFFD per byte (Hugging Face's ByteFallback decoder). */
static enum gsae_status close_byte_run(size_t run_start, struct tokenizer_text *out,
                                       struct gsae_error *err)
{
    const unsigned char *b = (const unsigned char *)out->data + run_start;
    size_t n = out->len - run_start;
    for (size_t i = 0; i < n;) {
        size_t len = tokenizer_utf8_len(b + i, n - i);
        if (len == 0) {
            out->len = run_start;
            enum gsae_status st = GSAE_OK;
            for (size_t k = 0; k < n && st == GSAE_OK; k++)
                st = tokenizer_text_append(out, "\xef\xbf\xbd", 3, err);
            return st;
        }
        i += len;
    }
    return GSAE_OK;
}

/* Append piece with the decoder's Replace applied. */
static enum gsae_status append_piece(const struct tokenizer *tk, const char *p, size_t len,
                                     struct tokenizer_text *out, struct gsae_error *err)
{
    size_t fl = tk->dec_from_len;
    enum gsae_status st = GSAE_OK;
    size_t start = 0;
    for (size_t i = 0; fl && i + fl <= len && st == GSAE_OK;) {
        if (memcmp(p + i, tk->dec_from, fl) != 0) {
            i++;
            continue;
        }
        if ((st = tokenizer_text_append(out, p + start, i - start, err)) == GSAE_OK)
            st = tokenizer_text_append(out, tk->dec_to, tk->dec_to_len, err);
        i += fl;
        start = i;
    }
    return st == GSAE_OK ? tokenizer_text_append(out, p + start, len - start, err) : st;
}

enum gsae_status tokenizer_decode(const struct tokenizer *tk, const int32_t *ids, size_t n,
                                  bool skip_special, struct tokenizer_text *out,
                                  struct gsae_error *err)
{
    GSAE_ASSERT(tk->finished);
    bool in_run = false;
    size_t run_start = 0;
    enum gsae_status st = GSAE_OK;
    for (size_t i = 0; i < n && st == GSAE_OK; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tk->n_vocab)
            return gsae_fail(err, GSAE_ERANGE, "tokenizer: id %lld at index %zu outside 0..%d",
                             (long long)id, i, (int)tk->n_vocab - 1);
        if (skip_special && (tk->flags[id] & TOKENIZER_FLAG_SPECIAL)) continue;
        if (tk->byte_of[id] >= 0) {
            if (!in_run) run_start = out->len;
            in_run = true;
            char b = (char)tk->byte_of[id];
            st = tokenizer_text_append(out, &b, 1, err);
            continue;
        }
        if (in_run && (st = close_byte_run(run_start, out, err)) != GSAE_OK) break;
        in_run = false;
        st = append_piece(tk, tk->piece_bytes + tk->piece_off[id], tk->piece_len[id], out, err);
    }
    if (st == GSAE_OK && in_run) st = close_byte_run(run_start, out, err);
    return st;
}

/* ---- growable buffers -------------------------------------------------------------------- */

enum gsae_status tokenizer_ids_push(struct tokenizer_ids *ids, int32_t id, struct gsae_error *err)
{
    if (ids->n == ids->cap) {
        enum gsae_status st =
            tokenizer_grow((void **)&ids->ids, &ids->cap, ids->n + 1, sizeof *ids->ids, err);
        if (st != GSAE_OK) return st;
    }
    ids->ids[ids->n++] = id;
    return GSAE_OK;
}

enum gsae_status tokenizer_text_append(struct tokenizer_text *text, const char *s, size_t len,
                                       struct gsae_error *err)
{
    if (len > SIZE_MAX - text->len - 1)
        return gsae_fail(err, GSAE_ERANGE, "tokenizer: text longer than memory");
    enum gsae_status st =
        tokenizer_grow((void **)&text->data, &text->cap, text->len + len + 1, 1, err);
    if (st != GSAE_OK) return st;
    if (len) memcpy(text->data + text->len, s, len);
    text->len += len;
    text->data[text->len] = '\0'; /* convenience for printing; len is what counts */
    return GSAE_OK;
}

void tokenizer_work_free(struct tokenizer_work *work)
{
    free(work->cache);
    free(work->cache_text);
    free(work->cache_ids);
    free(work->norm);
    free(work->sym_id);
    free(work->sym_prev);
    free(work->sym_next);
    free(work->heap);
    memset(work, 0, sizeof *work);
}

void tokenizer_ids_free(struct tokenizer_ids *ids)
{
    free(ids->ids);
    memset(ids, 0, sizeof *ids);
}

void tokenizer_text_free(struct tokenizer_text *text)
{
    free(text->data);
    memset(text, 0, sizeof *text);
}
