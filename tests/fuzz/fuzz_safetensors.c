/* fuzz_safetensors.c: the safetensors header parser on arbitrary bytes (sft_open_mem).
 *
 * Whatever the input, sft_open_mem returns a status without crashing, leaking or reading
 * outside the input; on success every entry's view lies inside the input, entries tile the
 * data section, and every name is found by sft_find. */
#include <stdint.h>
#include <string.h>

#include "../../io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sft_file f;
    struct gsae_error err = {0};
    if (sft_open_mem(&f, data, size, "fuzz", &err) != GSAE_OK) {
        GSAE_ASSERT(err.msg[0] != '\0' && strchr(err.msg, '\n') == NULL);
        return 0;
    }
    size_t at = 0;
    for (int64_t i = 0; i < f.n_entries; i++) {
        const struct sft_entry *e = &f.entries[i];
        GSAE_ASSERT(e->begin == at && e->end >= e->begin);
        at = e->end;
        GSAE_ASSERT(sft_find(&f, e->name) == e);
        struct gsae_tensor t = sft_view(&f, e);
        const uint8_t *p = t.data;
        GSAE_ASSERT(p >= data && p + (e->end - e->begin) <= data + size);
        volatile uint8_t sink = 0;
        if (e->end > e->begin)
            sink = (uint8_t)(p[0] ^ p[e->end - e->begin - 1]); /* ASan checks both ends */
        (void)sink;
    }
    GSAE_ASSERT(f.data_start + at == size);
    sft_close(&f);
    return 0;
}
