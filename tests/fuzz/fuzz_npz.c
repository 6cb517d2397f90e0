/* fuzz_npz.c: npz_read_mem on arbitrary bytes must fail cleanly or visit valid .npy members;
 * an input that starts with the .npy magic also goes to npy_parse directly, whose array must
 * lie inside the input and match its shape. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../io/npy.h"
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

static void check_npy(const uint8_t *data, size_t size)
{
    struct npy_array arr;
    struct gsae_error err = {0};
    if (npy_parse(data, size, "fuzz.npy", &arr, &err) != GSAE_OK) {
        GSAE_ASSERT(err.msg[0] != '\0');
        return;
    }
    const uint8_t *p = arr.data;
    GSAE_ASSERT(arr.n_dims >= 0 && arr.n_dims <= GSAE_MAX_DIMS);
    GSAE_ASSERT(p >= data && arr.data_bytes <= size && (size_t)(p - data) <= size - arr.data_bytes);
    size_t numel = 1;
    for (int i = 0; i < arr.n_dims; i++) {
        GSAE_ASSERT(arr.shape[i] >= 0);
        numel *= (size_t)arr.shape[i];
    }
    GSAE_ASSERT(numel * gsae_dtype_size(arr.dtype) == arr.data_bytes);
    size_t sum = 0;
    struct gsae_error e2;
    touch(&sum, "x", &arr, &e2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t sum = 0;
    struct npz_visitor v = {touch, &sum};
    struct gsae_error err;
    (void)npz_read_mem(data, size, "fuzz.npz", &v, &err);
    if (size >= 6 && memcmp(data, "\x93NUMPY", 6) == 0) check_npy(data, size);
    return 0;
}
