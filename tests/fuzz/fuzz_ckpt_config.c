/* fuzz_ckpt_config.c: the config.json parser (ckpt_config_parse) on arbitrary bytes.
 *
 * Whatever the input, it returns a status without crashing or leaking; on success the config
 * passes gemma_config_validate, and a failure leaves a one-line message. */
#include <stdint.h>
#include <string.h>

#include "../../io/ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gemma_config cfg;
    struct gsae_error err = {0};
    if (ckpt_config_parse("config.json", (const char *)data, size, &cfg, &err) != GSAE_OK) {
        GSAE_ASSERT(err.msg[0] != '\0');
        return 0;
    }
    GSAE_ASSERT(gemma_config_validate(&cfg, &err) == GSAE_OK);
    return 0;
}
