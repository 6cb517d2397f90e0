/* fuzz_corpus.c: the JSON-lines parser and UTF-8 check must reject or accept any bytes, never
 * crash or leak; an accepted line's text must itself be valid UTF-8 of the stated length. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../io/corpus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct corpus_line line;
    struct gsae_error err;
    if (corpus_parse_line((const char *)data, size, &line, &err) == GSAE_OK) {
        GSAE_ASSERT(line.text && line.set_name);
        GSAE_ASSERT(corpus_utf8_valid(line.text, line.len, NULL));
        GSAE_ASSERT(strlen(line.text) == line.len);
    } else {
        GSAE_ASSERT(err.msg[0] != '\0');
    }
    corpus_line_free(&line);
    corpus_line_free(&line);
    return 0;
}
