/* test_store_context.c: a feature's activations over a token's context from a part in memory:
 * window boundaries (slots outside hold -1 and 0), the feature found or absent in each token's
 * sorted CSR row, row pointers that do not start at 0, and a token outside the part. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/store_context.h"

#define CS 4 /* context size */
#define NT 8 /* two windows */

/* Token t (local) carries features t % 3 and 5 with value 10 * t + feature; part 3 of a store
 * with 2 windows per part: first window 6, global tokens 24 .. 31. Row pointers start at base. */
static void make(struct store_part *p, int64_t base, int64_t *rows, uint32_t *index, float *value,
                 int32_t *ids)
{
    memset(p, 0, sizeof *p);
    int64_t z = 0;
    for (int t = 0; t < NT; t++) {
        ids[t] = 100 + t;
        rows[t] = base + z;
        uint32_t fs[2] = {(uint32_t)(t % 3), 5};
        for (int k = 0; k < 2; k++) {
            index[z] = fs[k];
            value[z] = (float)(10 * t) + (float)fs[k];
            z++;
        }
    }
    rows[NT] = base + z;
    p->part_index = 3;
    p->first_window = 6;
    p->n_windows = 2;
    p->n_tokens = NT;
    p->nnz = z;
    p->context_size = CS;
    p->token_id = ids;
    p->row_ptr = rows;
    p->index = index;
    p->value = value;
}

static void run(int64_t base)
{
    struct store_part p;
    int64_t rows[NT + 1];
    uint32_t index[2 * NT];
    float value[2 * NT];
    int32_t ids[NT];
    make(&p, base, rows, index, value, ids);
    struct gsae_error err;
    int32_t got_ids[5];
    float acts[5];
    /* global 29 = local 5, second window (local 4..7): slots 3..7 of which 3 is outside */
    assert_true(store_context_holds(&p, 29));
    assert_int_equal(store_context_read(&p, 29, 5, 2, 2, got_ids, acts, &err), GSAE_OK);
    int32_t want_ids[5] = {-1, 104, 105, 106, 107};
    float want_acts[5] = {0, 45, 55, 65, 75};
    for (int s = 0; s < 5; s++) {
        assert_int_equal(got_ids[s], want_ids[s]);
        assert_true(acts[s] == want_acts[s]);
    }
    /* feature 1 fires on local tokens 1, 4, 7 only */
    assert_int_equal(store_context_read(&p, 29, 1, 2, 2, got_ids, acts, &err), GSAE_OK);
    float want1[5] = {0, 41, 0, 0, 71};
    for (int s = 0; s < 5; s++)
        assert_true(acts[s] == want1[s]);
    /* global 27 = local 3, the first window's last token: slots after it are outside */
    assert_int_equal(store_context_read(&p, 27, 0, 1, 2, got_ids, acts, &err), GSAE_OK);
    assert_int_equal(got_ids[0], 102);
    assert_int_equal(got_ids[1], 103);
    assert_int_equal(got_ids[2], -1);
    assert_int_equal(got_ids[3], -1);
    assert_true(acts[0] == 0 && acts[1] == 30);
    /* outside the part */
    assert_false(store_context_holds(&p, 23));
    assert_false(store_context_holds(&p, 32));
    assert_int_equal(store_context_read(&p, 32, 0, 1, 1, got_ids, acts, &err), GSAE_ERANGE);
}

static void test_rows_from_zero(void **state)
{
    (void)state;
    run(0);
}

static void test_rows_continued(void **state)
{
    (void)state;
    run(1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rows_from_zero),
                                       cmocka_unit_test(test_rows_continued)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
