/* fuzz_manifest.c: the store manifest parser (what a resumed harvest and every reader trust first)
 * must accept or reject any bytes without crashing or leaking, and what it accepts must be
 * consistent: parts sorted by index without duplicates, valid sizes. */
#include <stdint.h>
#include <stdlib.h>

#include "../../io/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct manifest m;
    struct gsae_error err;
    if (manifest_parse((const char *)data, size, "fuzz.json", &m, &err) == GSAE_OK) {
        GSAE_ASSERT(m.context_size >= 1 && m.windows_per_part >= 1);
        for (int64_t i = 0; i < m.n_parts; i++) {
            GSAE_ASSERT(m.parts[i].info.index >= 0 && m.parts[i].info.n_tokens >= 0);
            GSAE_ASSERT(i == 0 || m.parts[i].info.index > m.parts[i - 1].info.index);
            GSAE_ASSERT(manifest_find(&m, m.parts[i].info.index) == &m.parts[i]);
        }
        int64_t q = manifest_first_missing(&m);
        GSAE_ASSERT(q >= 0 && q <= m.n_parts && !manifest_find(&m, q));
    } else {
        GSAE_ASSERT(err.msg[0] != '\0');
    }
    manifest_free(&m);
    return 0;
}
