/* tokenizer.c: byte-fallback BPE with added tokens; see tokenizer.h for the semantics. */
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

#define NOMEM(err, what) gsae_fail(err, GSAE_ENOMEM, "tokenizer: out of memory (%s)", what)

/* ---- small helpers ----------------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static uint64_t hash_pair(uint64_t key)
{
    key *= 0x9e3779b97f4a7c15ull;
    return key ^ (key >> 31);
}

static enum gsae_status grow(void **p, size_t *cap, size_t need, size_t elem,
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

/* Length of the valid UTF-8 character starting at s (1..4), or 0 when s[0] does not start
 * one (stray continuation byte, overlong form, surrogate, beyond U+10FFFF, truncated). */
static size_t utf8_char_len(const unsigned char *s, size_t n)
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

int32_t tokenizer_find(const struct tokenizer *tk, const char *piece, size_t len)
{
    size_t mask = tk->piece_hash_cap - 1;
    for (size_t h = hash_bytes(piece, len) & mask;; h = (h + 1) & mask) {
        int32_t slot = tk->piece_hash[h];
        if (slot == 0) return -1;
        int32_t id = slot - 1;
        if (tk->piece_len[id] == len &&
            memcmp(tk->piece_bytes + tk->piece_off[id], piece, len) == 0)
            return id;
    }
}

static const struct tokenizer_merge_slot *merge_find(const struct tokenizer *tk, int32_t left,
                                                     int32_t right)
{
    uint64_t key = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
    size_t mask = tk->merge_cap - 1;
    for (size_t h = hash_pair(key) & mask;; h = (h + 1) & mask) {
        const struct tokenizer_merge_slot *s = &tk->merges[h];
        if (s->key == key) return s;
        if (s->key == 0) return NULL;
    }
}

static void merge_insert(struct tokenizer_merge_slot *table, size_t cap,
                         const struct tokenizer_merge_slot *m)
{
    size_t mask = cap - 1;
    for (size_t h = hash_pair(m->key) & mask;; h = (h + 1) & mask) {
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
           tk->piece_hash_cap * sizeof(int32_t) +
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
    int32_t other = tokenizer_find(tk, piece, len);
    if (other >= 0)
        return gsae_fail(err, GSAE_EFORMAT, "tokenizer: ids %d and %d have the same piece",
                         (int)other, (int)id);
    enum gsae_status st = grow((void **)&tk->piece_bytes, &tk->piece_bytes_cap,
                               tk->piece_bytes_len + len + 1, 1, err);
    if (st != GSAE_OK) return st;
    if (len) memcpy(tk->piece_bytes + tk->piece_bytes_len, piece, len);
    tk->piece_off[id] = (uint32_t)tk->piece_bytes_len;
    tk->piece_len[id] = (uint32_t)len;
    tk->piece_bytes_len += len;
    size_t mask = tk->piece_hash_cap - 1, h = hash_bytes(piece, len) & mask;
    while (tk->piece_hash[h] != 0)
        h = (h + 1) & mask;
    tk->piece_hash[h] = id + 1;
    tk->n_pieces_set++;
    return GSAE_OK;
}

static enum gsae_status merge_table_grow(struct tokenizer *tk, struct gsae_error *err)
{
    size_t cap = tk->merge_cap * 2;
    struct tokenizer_merge_slot *t = calloc(cap, sizeof *t);
    if (!t) return NOMEM(err, "merge table");
    for (size_t i = 0; i < tk->merge_cap; i++)
        if (tk->merges[i].key) merge_insert(t, cap, &tk->merges[i]);
    free(tk->merges);
    tk->merges = t;
    tk->merge_cap = cap;
    return GSAE_OK;
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
    if (2 * (tk->n_merges + 1) > tk->merge_cap) {
        enum gsae_status st = merge_table_grow(tk, err);
        if (st != GSAE_OK) return st;
    }
    struct tokenizer_merge_slot m = {((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1, rank, merged};
    if (!merge_find(tk, a, b)) tk->n_merges++;
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
        enum gsae_status st =
            grow((void **)&tk->added, &cap, (size_t)tk->n_added + 1, sizeof *tk->added, err);
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
    tk->finished = true;
    return GSAE_OK;
}

/* ---- encoding ---------------------------------------------------------------------------- */

/* Byte d of the k-th added token (in sorted order), or -1 when it is no longer than d. */
static int added_byte(const struct tokenizer *tk, int32_t k, size_t d)
{
    int32_t id = tk->added[k];
    return d < tk->piece_len[id] ? (uint8_t)tk->piece_bytes[tk->piece_off[id] + d] : -1;
}

/* Longest added token that starts at s (n bytes available): its id, or -1. In the sorted list
 * the tokens sharing the first d bytes with s form a range ordered by byte d (shorter ones
 * first), so each further byte narrows the range with two binary searches. */
static int32_t added_match(const struct tokenizer *tk, const char *s, size_t n, size_t *match_len)
{
    int32_t lo = 0, hi = tk->n_added, best = -1;
    for (size_t d = 0; d < n && lo < hi; d++) {
        int c = (uint8_t)s[d];
        int32_t a = lo, b = hi; /* first index in [lo, hi) with byte d >= c */
        while (a < b) {
            int32_t m = a + (b - a) / 2;
            if (added_byte(tk, m, d) < c)
                a = m + 1;
            else
                b = m;
        }
        int32_t e = a, f = hi; /* first index with byte d > c */
        while (e < f) {
            int32_t m = e + (f - e) / 2;
            if (added_byte(tk, m, d) <= c)
                e = m + 1;
            else
                f = m;
        }
        lo = a, hi = e;
        if (lo < hi && tk->piece_len[tk->added[lo]] == d + 1) {
            best = tk->added[lo];
            *match_len = d + 1;
        }
    }
    return best;
}

static bool added_may_start(const struct tokenizer *tk, uint8_t c)
{
    return tk->added_first[c >> 3] & (1u << (c & 7));
}

/* Apply the normalizer's Replace to s[0..n) into work->norm; *out_len its length. */
static enum gsae_status normalize(const struct tokenizer *tk, const char *s, size_t n,
                                  struct tokenizer_work *work, size_t *out_len,
                                  struct gsae_error *err)
{
    size_t fl = tk->norm_from_len, tl = tk->norm_to_len;
    size_t bound = n + (n / fl + 1) * tl;
    enum gsae_status st = grow((void **)&work->norm, &work->norm_cap, bound, 1, err);
    if (st != GSAE_OK) return st;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        const char *hit = memchr(s + i, tk->norm_from[0], n - i);
        size_t upto = hit ? (size_t)(hit - s) : n;
        memcpy(work->norm + o, s + i, upto - i);
        o += upto - i;
        i = upto;
        if (i == n) break;
        if (n - i >= fl && memcmp(s + i, tk->norm_from, fl) == 0) {
            memcpy(work->norm + o, tk->norm_to, tl);
            o += tl, i += fl;
        } else
            work->norm[o++] = s[i++];
    }
    *out_len = o;
    return GSAE_OK;
}

static enum gsae_status work_reserve(struct tokenizer_work *w, size_t n_sym, struct gsae_error *err)
{
    size_t cap = w->sym_cap, cap2 = w->sym_cap, cap3 = w->sym_cap;
    enum gsae_status st = grow((void **)&w->sym_id, &cap, n_sym, sizeof(int32_t), err);
    if (st == GSAE_OK) st = grow((void **)&w->sym_prev, &cap2, n_sym, sizeof(int32_t), err);
    if (st == GSAE_OK) st = grow((void **)&w->sym_next, &cap3, n_sym, sizeof(int32_t), err);
    if (st != GSAE_OK) return st;
    w->sym_cap = cap;
    return grow((void **)&w->heap, &w->heap_cap, 3 * n_sym + 1, sizeof(uint64_t), err);
}

/* Split a normalized word into initial symbols (characters, byte fallback, unk). */
static enum gsae_status split_chars(const struct tokenizer *tk, const char *s, size_t n,
                                    struct tokenizer_work *w, size_t *n_sym, struct gsae_error *err)
{
    size_t k = 0;
    bool pending_unk = false;
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)s + i;
        size_t len = utf8_char_len(u, n - i);
        int32_t id = len == 1 ? tk->char_id[u[0]] : len ? tokenizer_find(tk, s + i, len) : -1;
        if (!len) len = 1; /* an invalid byte is a character of its own, never in the vocabulary */
        bool bytes_ok = tk->byte_fallback;
        for (size_t j = 0; id < 0 && bytes_ok && j < len; j++)
            bytes_ok = tk->byte_id[u[j]] >= 0;
        if (id >= 0 || bytes_ok) {
            if (pending_unk) w->sym_id[k++] = tk->unk_id;
            pending_unk = false;
            if (id >= 0)
                w->sym_id[k++] = id;
            else
                for (size_t j = 0; j < len; j++)
                    w->sym_id[k++] = tk->byte_id[u[j]];
        } else if (tk->unk_id >= 0) {
            if (pending_unk && !tk->fuse_unk) w->sym_id[k++] = tk->unk_id;
            pending_unk = true;
        } else
            return gsae_fail(err, GSAE_EINVAL,
                             "tokenizer: character at byte %zu of a word is not in the "
                             "vocabulary, and there is neither byte fallback nor unk",
                             i);
        i += len;
    }
    if (pending_unk) w->sym_id[k++] = tk->unk_id;
    *n_sym = k;
    return GSAE_OK;
}

static void heap_push(uint64_t *heap, size_t *n, uint64_t v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap[parent] <= v) break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = v;
}

static uint64_t heap_pop(uint64_t *heap, size_t *n)
{
    uint64_t top = heap[0], v = heap[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && heap[c + 1] < heap[c]) c++;
        if (heap[c] >= v) break;
        heap[i] = heap[c];
        i = c;
    }
    if (m) heap[i] = v;
    return top;
}

/* Queue the merge of symbol pos with its successor, if there is one. */
static void queue_pair(const struct tokenizer *tk, struct tokenizer_work *w, size_t *n_heap,
                       int32_t pos)
{
    int32_t next = w->sym_next[pos];
    if (pos < 0 || next < 0) return;
    const struct tokenizer_merge_slot *m = merge_find(tk, w->sym_id[pos], w->sym_id[next]);
    if (m) heap_push(w->heap, n_heap, (uint64_t)m->rank << 32 | (uint32_t)pos);
}

/* Merge symbols lowest rank first, leftmost among equal ranks (Hugging Face's order). */
static void merge_all(const struct tokenizer *tk, struct tokenizer_work *w, size_t n_sym)
{
    for (size_t i = 0; i < n_sym; i++) {
        w->sym_prev[i] = (int32_t)i - 1;
        w->sym_next[i] = i + 1 < n_sym ? (int32_t)i + 1 : -1;
    }
    size_t n_heap = 0;
    for (size_t i = 0; i + 1 < n_sym; i++)
        queue_pair(tk, w, &n_heap, (int32_t)i);
    while (n_heap) {
        uint64_t top = heap_pop(w->heap, &n_heap);
        int32_t pos = (int32_t)(uint32_t)top, next = w->sym_next[pos];
        if (w->sym_id[pos] < 0 || next < 0) continue; /* merged away, or now the last symbol */
        const struct tokenizer_merge_slot *m = merge_find(tk, w->sym_id[pos], w->sym_id[next]);
        if (!m || m->rank != (uint32_t)(top >> 32))
            continue; /* stale: the pair at pos changed since it was queued */
        w->sym_id[pos] = m->merged;
        w->sym_id[next] = -1;
        w->sym_next[pos] = w->sym_next[next];
        if (w->sym_next[pos] >= 0) w->sym_prev[w->sym_next[pos]] = pos;
        queue_pair(tk, w, &n_heap, w->sym_prev[pos]);
        queue_pair(tk, w, &n_heap, pos);
    }
}

/* BPE-encode one stretch of raw text between added tokens. */
static enum gsae_status encode_word(const struct tokenizer *tk, const char *s, size_t n,
                                    struct tokenizer_work *w, struct tokenizer_ids *out,
                                    struct gsae_error *err)
{
    if (n == 0) return GSAE_OK;
    enum gsae_status st = GSAE_OK;
    if (tk->norm_from_len) {
        size_t len;
        if ((st = normalize(tk, s, n, w, &len, err)) != GSAE_OK) return st;
        s = w->norm, n = len;
    }
    if (n > INT32_MAX)
        return gsae_fail(err, GSAE_ERANGE, "tokenizer: a word of %zu bytes exceeds 2^31", n);
    int32_t whole = tk->ignore_merges ? tokenizer_find(tk, s, n) : -1;
    if (whole >= 0) return tokenizer_ids_push(out, whole, err);
    size_t n_sym = 0;
    if ((st = work_reserve(w, n, err)) != GSAE_OK ||
        (st = split_chars(tk, s, n, w, &n_sym, err)) != GSAE_OK)
        return st;
    merge_all(tk, w, n_sym);
    if ((st = grow((void **)&out->ids, &out->cap, out->n + n_sym, sizeof *out->ids, err)))
        return st;
    for (int32_t i = 0; i >= 0; i = w->sym_next[i])
        out->ids[out->n++] = w->sym_id[i];
    return GSAE_OK;
}

enum gsae_status tokenizer_encode(const struct tokenizer *tk, const char *text, size_t len,
                                  bool add_bos, struct tokenizer_work *work,
                                  struct tokenizer_ids *out, struct gsae_error *err)
{
    GSAE_ASSERT(tk->finished);
    struct tokenizer_work local = {0};
    struct tokenizer_work *w = work ? work : &local;
    enum gsae_status st = GSAE_OK;
    if (add_bos) {
        if (tk->bos_id < 0) {
            st = gsae_fail(err, GSAE_EINVAL, "tokenizer: add_bos, but there is no bos token");
            goto done;
        }
        if ((st = tokenizer_ids_push(out, tk->bos_id, err)) != GSAE_OK) goto done;
    }
    size_t word = 0;
    for (size_t i = 0; i < len;) {
        size_t mlen = 0;
        int32_t id =
            added_may_start(tk, (uint8_t)text[i]) ? added_match(tk, text + i, len - i, &mlen) : -1;
        if (id < 0) {
            i++;
            continue;
        }
        if ((st = encode_word(tk, text + word, i - word, w, out, err)) != GSAE_OK ||
            (st = tokenizer_ids_push(out, id, err)) != GSAE_OK)
            goto done;
        i += mlen;
        word = i;
    }
    st = encode_word(tk, text + word, len - word, w, out, err);
done:
    tokenizer_work_free(&local);
    return st;
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
        size_t len = utf8_char_len(b + i, n - i);
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
            grow((void **)&ids->ids, &ids->cap, ids->n + 1, sizeof *ids->ids, err);
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
    enum gsae_status st = grow((void **)&text->data, &text->cap, text->len + len + 1, 1, err);
    if (st != GSAE_OK) return st;
    if (len) memcpy(text->data + text->len, s, len);
    text->len += len;
    text->data[text->len] = '\0'; /* convenience for printing; len is what counts */
    return GSAE_OK;
}

void tokenizer_work_free(struct tokenizer_work *work)
{
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
