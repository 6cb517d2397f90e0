/* fuzz_tokenizer_json.c: the tokenizer.json loader (io/tokenizer_load.c) on arbitrary bytes.
 *
 * The input is written to a file in a private temporary directory and loaded with
 * tokenizer_load (libarchive first detects a compression, then jansson parses). Whatever the
 * input: no crash or leak; a failure leaves a message naming the file; a tokenizer that loads
 * encodes a short text to ids inside its vocabulary (or refuses it cleanly) and decodes every
 * id of its vocabulary.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../io/tokenizer_load.h"
#include "../../src/tokenizer.h"

/* Made on the first input and kept for the process (a fuzz target has no teardown). */
static char dir[4096], path[4200];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

static void setup_once(void)
{
    if (path[0]) return;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/gsae-fuzz-tok.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) abort();
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);

    struct tokenizer tk;
    struct gsae_error err = {0};
    if (tokenizer_load(&tk, path, &err) != GSAE_OK) {
        GSAE_ASSERT(strstr(err.msg, "tokenizer.json") != NULL);
        tokenizer_free(&tk);
        return 0;
    }
    GSAE_ASSERT(tk.n_vocab >= 1);
    static const char text[] = "hello ab\nc\xc3\xa9<bos>\xff";
    struct tokenizer_ids ids = {0};
    if (tokenizer_encode(&tk, text, sizeof text - 1, true, NULL, &ids, &err) == GSAE_OK)
        for (size_t i = 0; i < ids.n; i++)
            GSAE_ASSERT(ids.ids[i] >= 0 && ids.ids[i] < tk.n_vocab);
    tokenizer_ids_free(&ids);
    int32_t n = tk.n_vocab < 4096 ? tk.n_vocab : 4096;
    int32_t *all = malloc((size_t)n * sizeof *all);
    if (all) {
        for (int32_t i = 0; i < n; i++)
            all[i] = i;
        struct tokenizer_text out = {0};
        GSAE_ASSERT(tokenizer_decode(&tk, all, (size_t)n, false, &out, &err) == GSAE_OK);
        tokenizer_text_free(&out);
        free(all);
    }
    tokenizer_free(&tk);
    return 0;
}
