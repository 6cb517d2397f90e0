/* fuzz_npz.c: npz_read_mem on arbitrary bytes must fail cleanly or visit valid .npy members. */
#include <stddef.h>
#include <stdint.h>

#include "../../io/npz.h"

static enum gsae_status touch(void *ctx, const char *key, const struct npy_array *arr,
                              struct gsae_error *err)
{
    (void)err;
    size_t *sum = ctx;
    const unsigned char *b = arr->data;
    /* read every byte the parser vouched for, so ASan sees any overrun */
    for (size_t i = 0; i < arr->data_bytes; i++)
        *sum += b[i];
    *sum += key[0];
    return GSAE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t sum = 0;
    struct npz_visitor v = {touch, &sum};
    struct gsae_error err;
    (void)npz_read_mem(data, size, "fuzz.npz", &v, &err);
    return 0;
}
