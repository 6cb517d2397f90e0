/* pca_text.c: token and context texts of a PCA table's rows (see pca_out.h). */
#include <stdlib.h>
#include <string.h>

#include "pca_out.h"
#include "tokenizer_load.h"

/* Append the text of the valid (>= 0) ids of ctx[0..n) to out. */
static enum gsae_status decode_span(const struct tokenizer *tk, const int32_t *ctx, int64_t n,
                                    struct tokenizer_text *out, struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    for (int64_t i = 0; st == GSAE_OK && i < n; i++)
        if (ctx[i] >= 0) st = tokenizer_decode(tk, &ctx[i], 1, false, out, err);
    return st;
}

enum gsae_status pca_texts_decode(const char *path, const struct pca_table *t, char ***token_text,
                                  char ***context_text, struct gsae_error *err)
{
    struct tokenizer tk = {0};
    struct tokenizer_text buf = {0};
    size_t n = (size_t)t->n_rows + 1;
    enum gsae_status st = tokenizer_load(&tk, path, err);
    *token_text = calloc(n, sizeof **token_text);
    *context_text = calloc(n, sizeof **context_text);
    if (st == GSAE_OK && (!*token_text || !*context_text))
        st = gsae_fail(err, GSAE_ENOMEM, "token text: no memory");
    int64_t b = t->context_before, len = t->context_len;
    for (int64_t r = 0; st == GSAE_OK && r < t->n_rows; r++) {
        const int32_t *ctx = t->context + r * len;
        buf.len = 0;
        st = decode_span(&tk, ctx + b, 1, &buf, err);
        if (st == GSAE_OK && !((*token_text)[r] = strndup(buf.data ? buf.data : "", buf.len)))
            st = gsae_fail(err, GSAE_ENOMEM, "token text: no memory");
        buf.len = 0;
        if (st == GSAE_OK) st = decode_span(&tk, ctx, b, &buf, err);
        if (st == GSAE_OK) st = tokenizer_text_append(&buf, "|", 1, err);
        if (st == GSAE_OK) st = decode_span(&tk, ctx + b, 1, &buf, err);
        if (st == GSAE_OK) st = tokenizer_text_append(&buf, "|", 1, err);
        if (st == GSAE_OK) st = decode_span(&tk, ctx + b + 1, len - b - 1, &buf, err);
        if (st == GSAE_OK && !((*context_text)[r] = strndup(buf.data, buf.len)))
            st = gsae_fail(err, GSAE_ENOMEM, "token text: no memory");
    }
    tokenizer_text_free(&buf);
    tokenizer_free(&tk);
    return st;
}

void pca_texts_free(char **texts, int64_t n)
{
    for (int64_t i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
}
