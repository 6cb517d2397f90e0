/* window.c: SAELens-style windowing (see window.h for the exact rules). */
#include "window.h"

#include <stdlib.h>
#include <string.h>

enum gsae_status window_builder_init(struct window_builder *wb, int64_t context_size, int32_t bos,
                                     int64_t first_index, struct gsae_error *err)
{
    memset(wb, 0, sizeof *wb);
    if (context_size < 2 || context_size > (int64_t)1 << 30)
        return gsae_fail(err, GSAE_EINVAL, "window: context_size %lld, expected 2..2^30",
                         (long long)context_size);
    if (first_index < 0)
        return gsae_fail(err, GSAE_EINVAL, "window: first window index %lld < 0",
                         (long long)first_index);
    size_t n = (size_t)context_size;
    wb->token = malloc(n * sizeof *wb->token);
    wb->doc = malloc(n * sizeof *wb->doc);
    wb->pos = malloc(n * sizeof *wb->pos);
    if (!wb->token || !wb->doc || !wb->pos) {
        window_builder_free(wb);
        return gsae_fail(err, GSAE_ENOMEM, "window: cannot allocate a window of %lld tokens",
                         (long long)context_size);
    }
    wb->context_size = context_size;
    wb->bos = bos;
    wb->next_index = first_index;
    wb->doc_index = -1;
    return GSAE_OK;
}

void window_builder_free(struct window_builder *wb)
{
    free(wb->token);
    free(wb->doc);
    free(wb->pos);
    free(wb->ids);
    memset(wb, 0, sizeof *wb);
}

static enum gsae_status reserve_ids(struct window_builder *wb, int64_t n, struct gsae_error *err)
{
    if (n <= wb->cap_ids) return GSAE_OK;
    int64_t cap = wb->cap_ids ? wb->cap_ids : 1024;
    while (cap < n)
        cap *= 2;
    int32_t *ids = realloc(wb->ids, (size_t)cap * sizeof *ids);
    if (!ids)
        return gsae_fail(err, GSAE_ENOMEM, "window: cannot hold a document of %lld tokens",
                         (long long)n);
    wb->ids = ids;
    wb->cap_ids = cap;
    return GSAE_OK;
}

enum gsae_status window_builder_push_doc(struct window_builder *wb, int64_t doc_index,
                                         const int32_t *ids, int64_t n, int64_t offset,
                                         struct gsae_error *err)
{
    GSAE_ASSERT(wb->offset >= wb->n_ids); /* previous document used up */
    if (n < 0 || offset < 0 || offset > n)
        return gsae_fail(err, GSAE_EINVAL, "window: document %lld: offset %lld outside 0..%lld",
                         (long long)doc_index, (long long)offset, (long long)n);
    if (offset > 0 && wb->fill > 0 && !wb->emitted)
        return gsae_fail(err, GSAE_EINVAL,
                         "window: document %lld re-entered at offset %lld inside a window",
                         (long long)doc_index, (long long)offset);
    enum gsae_status st = reserve_ids(wb, n, err);
    if (st != GSAE_OK) return st;
    if (n > 0) memcpy(wb->ids, ids, (size_t)n * sizeof *ids);
    wb->n_ids = n;
    wb->offset = offset;
    wb->doc_index = doc_index;
    wb->doc_started = offset > 0;
    return GSAE_OK;
}

enum gsae_status window_builder_push_text(struct window_builder *wb,
                                          const struct window_tokenizer *tok, int64_t doc_index,
                                          const char *text, size_t len, struct gsae_error *err)
{
    GSAE_ASSERT(wb->offset >= wb->n_ids);
    int64_t n = 0;
    enum gsae_status st = tok->encode(tok->ctx, text, len, &wb->ids, &n, &wb->cap_ids, err);
    if (st != GSAE_OK) return st;
    GSAE_ASSERT(n >= 0 && n <= wb->cap_ids);
    wb->n_ids = n;
    wb->offset = 0;
    wb->doc_index = doc_index;
    wb->doc_started = false;
    return GSAE_OK;
}

static void place(struct window_builder *wb, int32_t token, int64_t pos)
{
    wb->token[wb->fill] = token;
    wb->doc[wb->fill] = wb->doc_index;
    wb->pos[wb->fill] = pos;
    wb->fill++;
}

bool window_builder_next(struct window_builder *wb, struct window *out)
{
    if (wb->emitted) {
        wb->fill = 0;
        wb->emitted = false;
    }
    while (wb->offset < wb->n_ids) {
        /* A fresh window opens with <bos>; a document joining a partial window gets a
         * separator (also <bos>). Either is skipped when the document supplies <bos> itself. */
        if (wb->ids[wb->offset] != wb->bos && (wb->fill == 0 || !wb->doc_started))
            place(wb, wb->bos, -1);
        wb->doc_started = true;
        int64_t take = wb->context_size - wb->fill;
        if (take > wb->n_ids - wb->offset) take = wb->n_ids - wb->offset;
        for (int64_t i = 0; i < take; i++, wb->offset++)
            place(wb, wb->ids[wb->offset], wb->offset);
        if (wb->fill == wb->context_size) {
            out->index = wb->next_index++;
            out->n = wb->fill;
            out->token = wb->token;
            out->doc = wb->doc;
            out->pos = wb->pos;
            wb->emitted = true;
            return true;
        }
    }
    return false;
}

void window_builder_position(const struct window_builder *wb, int64_t *doc_index, int64_t *offset,
                             int64_t *partial)
{
    *doc_index = wb->doc_index;
    *offset = wb->offset;
    *partial = wb->emitted ? 0 : wb->fill;
}
