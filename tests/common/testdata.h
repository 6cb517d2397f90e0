/* testdata.h: the reference data directory and the real Gemma-2 tokenizer, for unit tests.
 *
 * Header-only (static functions). TESTDATA (set by tests/env.sh) names the data directory;
 * without it the path is relative to the repository root. The tokenizer fixture loads
 * tests/data/tokenizer/gemma2-tokenizer.json.zst once for a cmocka group into `gemma`.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include "../../io/tokenizer_load.h"
#include "../../src/tokenizer.h"

/* buf = "$TESTDATA/rel" (or "tests/data/rel"); returns buf. */
static inline const char *testdata(const char *rel, char *buf, size_t cap)
{
    const char *dir = getenv("TESTDATA");
    snprintf(buf, cap, "%s/%s", dir ? dir : "tests/data", rel);
    return buf;
}

#ifdef TESTDATA_GEMMA_TOKENIZER
static struct tokenizer gemma; /* the real tokenizer, loaded once for the whole file */

/* cmocka group setup: load the real tokenizer into gemma. */
static int load_gemma(void **state)
{
    (void)state;
    char path[4096];
    struct gsae_error err = {0};
    enum gsae_status st = tokenizer_load(
        &gemma, testdata("tokenizer/gemma2-tokenizer.json.zst", path, sizeof path), &err);
    if (st != GSAE_OK) fprintf(stderr, "%s\n", err.msg);
    return st == GSAE_OK ? 0 : -1;
}

/* cmocka group teardown. */
static int free_gemma(void **state)
{
    (void)state;
    tokenizer_free(&gemma);
    return 0;
}
#endif
