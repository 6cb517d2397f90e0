/* test_arc_task.c: ARC-AGI task files (io/arc_task.h): grids read cell for cell in row-major
 * order with their shapes, test pairs with and without an output (0 x 0 when absent), loading
 * from a file, and malformed tasks refused naming the file and the field (prompt building from
 * tasks is test_arc.c's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/arc_task.h"
#include "../common/check.h"

static const char *const TASK =
    "{\"train\": [{\"input\": [[0, 1, 2], [3, 4, 5]], \"output\": [[9]]},\n"
    "             {\"input\": [[7]], \"output\": [[1, 1], [2, 2], [3, 3]]}],\n"
    " \"test\": [{\"input\": [[-1, 2147483647]]}, {\"input\": [[6]], \"output\": [[8, 0]]}],\n"
    " \"name\": \"ignored\"}";

static void assert_grid(const struct arc_grid *g, int64_t rows, int64_t cols, const int32_t *cells)
{
    assert_int_equal(g->rows, rows);
    assert_int_equal(g->cols, cols);
    if (rows > 0 && cols > 0)
        assert_memory_equal(g->cells, cells, sizeof(int32_t) * (size_t)(rows * cols));
}

static void check_task(const struct arc_task *t)
{
    assert_int_equal(t->n_train, 2);
    assert_int_equal(t->n_test, 2);
    assert_grid(&t->train[0].input, 2, 3, (const int32_t[]){0, 1, 2, 3, 4, 5});
    assert_grid(&t->train[0].output, 1, 1, (const int32_t[]){9});
    assert_grid(&t->train[1].output, 3, 2, (const int32_t[]){1, 1, 2, 2, 3, 3});
    assert_grid(&t->test[0].input, 1, 2, (const int32_t[]){-1, 2147483647});
    assert_grid(&t->test[0].output, 0, 0, NULL); /* no output given */
    assert_null(t->test[0].output.cells);
    assert_grid(&t->test[1].output, 1, 2, (const int32_t[]){8, 0});
}

static void test_parse_and_load(void **state)
{
    (void)state;
    struct arc_task t;
    struct gsae_error err = {0};
    assert_int_equal(arc_task_parse(TASK, strlen(TASK), "inline", &t, &err), GSAE_OK);
    check_task(&t);
    arc_task_free(&t);
    arc_task_free(&t); /* harmless twice */
    check_write_text("task.json", TASK);
    assert_int_equal(arc_task_load("task.json", &t, &err), GSAE_OK);
    check_task(&t);
    arc_task_free(&t);
    /* the train list may be empty */
    const char *only_test = "{\"train\": [], \"test\": [{\"input\": [[5]]}]}";
    assert_int_equal(arc_task_parse(only_test, strlen(only_test), "t", &t, &err), GSAE_OK);
    assert_int_equal(t.n_train, 0);
    assert_int_equal(t.n_test, 1);
    arc_task_free(&t);
}

static void expect_bad(const char *json, const char *field)
{
    struct arc_task t;
    struct gsae_error err = {0};
    check_error(arc_task_parse(json, strlen(json), "bad.json", &t, &err), GSAE_EFORMAT, &err,
                "bad.json", field);
    assert_null(t.train);
    assert_null(t.test);
    arc_task_free(&t);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_bad("{\"test\": [{\"input\": [[1]]}]}", "\"train\"");
    expect_bad("{\"train\": [], \"test\": {\"input\": [[1]]}}", "\"test\": expected a list");
    expect_bad("{\"train\": [], \"test\": [{\"input\": [[]]}]}", "test[0].input");
    expect_bad("{\"train\": [], \"test\": [{\"input\": [1, 2]}]}",
               "test[0].input: expected a non-empty");
    expect_bad("{\"train\": [], \"test\": [{\"input\": [[1], [2, 3]]}]}",
               "test[0].input[1]: row has 2 cells, expected 1");
    expect_bad("{\"train\": [], \"test\": [{\"input\": [[1, 2.5]]}]}", "test[0].input[0][1]");
    expect_bad("{\"train\": [], \"test\": [{\"input\": [[2147483648]]}]}", "test[0].input[0][0]");
    expect_bad("{\"train\": [], \"test\": [{\"input\": [[true]]}]}", "expected an integer");
    expect_bad("{\"train\": [{\"input\": [[1]], \"output\": \"x\"}], \"test\": [{\"input\": "
               "[[1]]}]}",
               "train[0].output");
    expect_bad("{\"train\": [], \"test\": [{\"input\": [[1]]}, {\"output\": [[1]]}]}",
               "test[1].input");
    expect_bad("[]", "bad.json");
    expect_bad("{\"train\": [], \"test\": [{\"input\": [[1]]}]", "line 1");
    struct arc_task t;
    struct gsae_error err = {0};
    check_error(arc_task_load("no-such-task.json", &t, &err), GSAE_EIO, &err, "no-such-task.json");
}

/* A grid past 2^24 cells is refused before anything is allocated for it. */
static void test_too_large(void **state)
{
    (void)state;
    size_t cols = 4200, rows = 4000, cap = cols * 2 + rows * 8 + 128;
    char *json = malloc(cap);
    char *p = json + sprintf(json, "{\"train\": [], \"test\": [{\"input\": [[");
    for (size_t c = 0; c < cols; c++)
        p += sprintf(p, c ? ",0" : "0");
    p += sprintf(p, "]");
    for (size_t r = 1; r < rows; r++)
        p += sprintf(p, ",[]");
    sprintf(p, "]}]}");
    expect_bad(json, "4000 x 4200 grid is too large");
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_load),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_too_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
