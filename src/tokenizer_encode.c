/* tokenizer_encode.c: text -> ids (added tokens, normalizer, BPE with a priority queue). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "tokenizer_impl.h"

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
    enum gsae_status st = tokenizer_grow((void **)&work->norm, &work->norm_cap, bound, 1, err);
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
    enum gsae_status st = tokenizer_grow((void **)&w->sym_id, &cap, n_sym, sizeof(int32_t), err);
    if (st == GSAE_OK)
        st = tokenizer_grow((void **)&w->sym_prev, &cap2, n_sym, sizeof(int32_t), err);
    if (st == GSAE_OK)
        st = tokenizer_grow((void **)&w->sym_next, &cap3, n_sym, sizeof(int32_t), err);
    if (st != GSAE_OK) return st;
    w->sym_cap = cap;
    return tokenizer_grow((void **)&w->heap, &w->heap_cap, 3 * n_sym + 1, sizeof(uint64_t), err);
}

/* Split a normalized word into initial symbols (characters, byte fallback, unk). */
static enum gsae_status split_chars(const struct tokenizer *tk, const char *s, size_t n,
                                    struct tokenizer_work *w, size_t *n_sym, struct gsae_error *err)
{
    size_t k = 0;
    bool pending_unk = false;
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)s + i;
        size_t len = tokenizer_utf8_len(u, n - i);
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
    if (pos < 0) return;
    int32_t next = w->sym_next[pos];
    if (next < 0) return;
    const struct tokenizer_merge_slot *m =
        tokenizer_merge_find(tk, w->sym_id[pos], w->sym_id[next]);
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
        const struct tokenizer_merge_slot *m =
            tokenizer_merge_find(tk, w->sym_id[pos], w->sym_id[next]);
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

/* BPE of one piece of a word (already normalized); appends its ids. */
static enum gsae_status bpe(const struct tokenizer *tk, const char *s, size_t n,
                            struct tokenizer_work *w, struct tokenizer_ids *out,
                            struct gsae_error *err)
{
    size_t n_sym = 0;
    enum gsae_status st;
    if ((st = work_reserve(w, n, err)) != GSAE_OK ||
        (st = split_chars(tk, s, n, w, &n_sym, err)) != GSAE_OK)
        return st;
    merge_all(tk, w, n_sym);
    st = tokenizer_grow((void **)&out->ids, &out->cap, out->n + n_sym, sizeof *out->ids, err);
    if (st != GSAE_OK) return st;
    for (int32_t i = 0; i >= 0; i = w->sym_next[i])
        out->ids[out->n++] = w->sym_id[i];
    return GSAE_OK;
}

/* ---- word cache: short pieces seen before skip BPE ---------------------------------------- */

enum {
    CACHE_SLOTS = 1 << 14, /* power of two */
    CACHE_TEXT = 1 << 20,  /* bytes of cached pieces */
    CACHE_IDS = 1 << 18,   /* ids of cached pieces */
    CACHE_MAX_PIECE = 64,  /* longer pieces are not cached */
};

static void cache_clear(struct tokenizer_work *w)
{
    memset(w->cache, 0, CACHE_SLOTS * sizeof *w->cache);
    w->cache_used = w->cache_text_len = w->cache_ids_len = 0;
}

static enum gsae_status cache_alloc(const struct tokenizer *tk, struct tokenizer_work *w,
                                    struct gsae_error *err)
{
    if (w->cache) {
        if (w->cache_owner != tk) cache_clear(w); /* the work moved to another tokenizer */
        w->cache_owner = tk;
        return GSAE_OK;
    }
    w->cache = calloc(CACHE_SLOTS, sizeof *w->cache);
    w->cache_text = malloc(CACHE_TEXT);
    w->cache_ids = malloc(CACHE_IDS * sizeof *w->cache_ids);
    if (!w->cache || !w->cache_text || !w->cache_ids) {
        free(w->cache), free(w->cache_text), free(w->cache_ids);
        w->cache = NULL, w->cache_text = NULL, w->cache_ids = NULL;
        return NOMEM(err, "word cache");
    }
    cache_clear(w);
    w->cache_owner = tk;
    return GSAE_OK;
}

/* BPE of s[0..n) through the cache (same result; repeated pieces cost one lookup). */
static enum gsae_status bpe_cached(const struct tokenizer *tk, const char *s, size_t n,
                                   struct tokenizer_work *w, struct tokenizer_ids *out,
                                   struct gsae_error *err)
{
    if (n > CACHE_MAX_PIECE) return bpe(tk, s, n, w, out, err);
    enum gsae_status st = cache_alloc(tk, w, err);
    if (st != GSAE_OK) return st;
    uint64_t h = tokenizer_hash_bytes(s, n) | 1;
    size_t mask = CACHE_SLOTS - 1, k = h & mask;
    for (; w->cache[k].hash; k = (k + 1) & mask) {
        const struct tokenizer_cache_slot *c = &w->cache[k];
        if (c->hash != h || c->text_len != n || memcmp(w->cache_text + c->text_off, s, n) != 0)
            continue;
        st =
            tokenizer_grow((void **)&out->ids, &out->cap, out->n + c->n_ids, sizeof *out->ids, err);
        if (st != GSAE_OK) return st;
        memcpy(out->ids + out->n, w->cache_ids + c->ids_off, c->n_ids * sizeof *out->ids);
        out->n += c->n_ids;
        return GSAE_OK;
    }
    size_t first = out->n;
    if ((st = bpe(tk, s, n, w, out, err)) != GSAE_OK) return st;
    size_t n_ids = out->n - first;
    if (4 * (w->cache_used + 1) > 3 * CACHE_SLOTS || w->cache_text_len + n > CACHE_TEXT ||
        w->cache_ids_len + n_ids > CACHE_IDS) {
        cache_clear(w); /* full: start over (simpler than evicting, and rare) */
        for (k = h & mask; w->cache[k].hash; k = (k + 1) & mask)
            ;
    }
    w->cache[k] = (struct tokenizer_cache_slot){
        h, (uint32_t)w->cache_text_len, (uint32_t)w->cache_ids_len, (uint16_t)n, (uint16_t)n_ids};
    memcpy(w->cache_text + w->cache_text_len, s, n);
    memcpy(w->cache_ids + w->cache_ids_len, out->ids + first, n_ids * sizeof *out->ids);
    w->cache_text_len += n;
    w->cache_ids_len += n_ids;
    w->cache_used++;
    return GSAE_OK;
}

/* End of the piece of s[0..n) that starts at start: the next place where the normalizer's
 * replacement (U+2581) follows something else. No merge crosses it (see tokenizer_finish). */
static size_t piece_end(const struct tokenizer *tk, const char *s, size_t n, size_t start)
{
    const char *to = tk->norm_to;
    size_t tl = tk->norm_to_len;
    for (size_t i = start + 1; i + tl <= n; i++) {
        const char *hit = memchr(s + i, to[0], n - i);
        if (!hit) break;
        i = (size_t)(hit - s);
        if (i + tl <= n && memcmp(s + i, to, tl) == 0 &&
            (i < tl || memcmp(s + i - tl, to, tl) != 0))
            return i;
    }
    return n;
}

/* BPE-encode one stretch of raw text between added tokens. */
static enum gsae_status encode_word(const struct tokenizer *tk, const char *s, size_t n,
                                    struct tokenizer_work *w, bool use_cache,
                                    struct tokenizer_ids *out, struct gsae_error *err)
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
    if (!tk->split_at_norm) return bpe(tk, s, n, w, out, err);
    for (size_t start = 0; start < n && st == GSAE_OK;) {
        size_t end = piece_end(tk, s, n, start);
        st = use_cache ? bpe_cached(tk, s + start, end - start, w, out, err)
                       : bpe(tk, s + start, end - start, w, out, err);
        start = end;
    }
    return st;
}

enum gsae_status tokenizer_encode(const struct tokenizer *tk, const char *text, size_t len,
                                  bool add_bos, struct tokenizer_work *work,
                                  struct tokenizer_ids *out, struct gsae_error *err)
{
    GSAE_ASSERT(tk->finished);
    struct tokenizer_work local = {0};
    struct tokenizer_work *w = work ? work : &local;
    bool cache = work != NULL; /* a cache for one call would cost more than it saves */
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
        if ((st = encode_word(tk, text + word, i - word, w, cache, out, err)) != GSAE_OK ||
            (st = tokenizer_ids_push(out, id, err)) != GSAE_OK)
            goto done;
        i += mlen;
        word = i;
    }
    st = encode_word(tk, text + word, len - word, w, cache, out, err);
done:
    tokenizer_work_free(&local);
    return st;
}
