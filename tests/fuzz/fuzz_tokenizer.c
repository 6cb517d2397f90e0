/* fuzz_tokenizer.c: the Gemma-2 tokenizer on arbitrary input.
 *
 * The first byte picks what the rest is:
 *   0: text, encoded with a reused work (word cache), then decoded; ASCII text without '<'
 *      must come back unchanged (no special token can be in it, no U+2581 either)
 *   1: text, encoded without a work
 *   2: ids, 3 bytes each, spread over -20000 .. 280000: decoding must fail with GSAE_ERANGE
 *      exactly when one is outside the vocabulary, and otherwise succeed
 * The tokenizer is loaded once from $TESTDATA/tokenizer/gemma2-tokenizer.json.zst.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../io/tokenizer_load.h"
#include "../../src/tokenizer.h"

/* Loaded on the first input and kept for the process (a fuzz target has no teardown). */
static struct tokenizer tk;
static struct tokenizer_work work;
static int loaded;

static void load_once(void)
{
    if (loaded) return;
    const char *dir = getenv("TESTDATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer/gemma2-tokenizer.json.zst", dir ? dir : "tests/data");
    struct gsae_error err = {0};
    if (tokenizer_load(&tk, path, &err) != GSAE_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.msg);
        abort();
    }
    loaded = 1;
}

static void check_text(const char *text, size_t n, struct tokenizer_work *w)
{
    struct tokenizer_ids ids = {0};
    struct tokenizer_text out = {0};
    struct gsae_error err = {0};
    if (tokenizer_encode(&tk, text, n, true, w, &ids, &err) != GSAE_OK) abort();
    for (size_t i = 0; i < ids.n; i++)
        if (ids.ids[i] < 0 || ids.ids[i] >= tk.n_vocab) abort();
    if (tokenizer_decode(&tk, ids.ids, ids.n, true, &out, &err) != GSAE_OK) abort();
    int plain = 1;
    for (size_t i = 0; i < n && plain; i++)
        plain = (unsigned char)text[i] < 0x80 && text[i] != '<';
    if (plain && (out.len != n || (n && memcmp(out.data, text, n) != 0))) abort();
    tokenizer_ids_free(&ids);
    tokenizer_text_free(&out);
}

static void check_ids(const uint8_t *data, size_t size, bool skip_special)
{
    size_t n = size / 3;
    int32_t *ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids) return;
    int any_bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = data[3 * i] | (uint32_t)data[3 * i + 1] << 8 | (uint32_t)data[3 * i + 2] << 16;
        ids[i] = (int32_t)(v % 300000) - 20000;
        any_bad |= ids[i] < 0 || ids[i] >= tk.n_vocab;
    }
    struct tokenizer_text out = {0};
    struct gsae_error err = {0};
    enum gsae_status st = tokenizer_decode(&tk, ids, n, skip_special, &out, &err);
    if (st != (any_bad ? GSAE_ERANGE : GSAE_OK)) abort();
    tokenizer_text_free(&out);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_once();
    if (size == 0) return 0;
    const char *text = (const char *)data + 1;
    switch (data[0] % 3) {
    case 0:
        check_text(text, size - 1, &work);
        break;
    case 1:
        check_text(text, size - 1, NULL);
        break;
    default:
        check_ids(data + 1, size - 1, (data[0] / 3) & 1);
        break;
    }
    return 0;
}
