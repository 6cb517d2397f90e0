/* test_arc.c: the notebook's ARC prompt. Every one of the 800 reference prompts
 * (tests/data/tokenizer/arc_prompts.jsonl.gz: task, split, chars, ids) is rebuilt from its task
 * file and tokenized; the notebook's 10 tasks give its prompt lengths and token counts; numpy's
 * repr rules (padding, one-row grids) and the task reader's errors are checked directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TESTDATA_GEMMA_TOKENIZER
#include "../common/testdata.h"
#include <jansson.h>

#include "../../io/arc_task.h"
#include "../../io/tokenizer_load.h"
#include "../../src/arc.h"
#include "../../src/tokenizer.h"

/* Build the prompt of split/task, tokenize it with <bos>; returns its length in bytes. */
static size_t prompt_ids(const char *split, const char *task_id, struct tokenizer_ids *ids)
{
    char rel[512], path[4096];
    snprintf(rel, sizeof rel, "arc/%s/%s.json", split, task_id);
    struct arc_task task;
    struct gsae_error err = {0};
    if (arc_task_load(testdata(rel, path, sizeof path), &task, &err) != GSAE_OK)
        fail_msg("%s", err.msg);
    char *text;
    size_t len;
    assert_int_equal(arc_prompt_build(&task, &text, &len, &err), GSAE_OK);
    assert_int_equal(strlen(text), len);
    ids->n = 0;
    assert_int_equal(tokenizer_encode(&gemma, text, len, true, NULL, ids, &err), GSAE_OK);
    free(text);
    arc_task_free(&task);
    return len;
}

static void test_all_reference_prompts(void **state)
{
    (void)state;
    char path[4096];
    struct tokenizer_text file = {0};
    struct gsae_error err = {0};
    assert_int_equal(
        tokenizer_read_file(testdata("tokenizer/arc_prompts.jsonl.gz", path, sizeof path), &file,
                            &err),
        GSAE_OK);
    struct tokenizer_ids ids = {0};
    int n = 0, n_bad = 0;
    for (size_t at = 0; at < file.len;) {
        const char *nl = memchr(file.data + at, '\n', file.len - at);
        size_t end = nl ? (size_t)(nl - file.data) : file.len;
        json_error_t jerr;
        json_t *r = json_loadb(file.data + at, end - at, 0, &jerr);
        at = end + 1;
        if (!r) continue;
        const json_t *want = json_object_get(r, "ids");
        size_t len = prompt_ids(json_string_value(json_object_get(r, "split")),
                                json_string_value(json_object_get(r, "task")), &ids);
        bool same = ids.n == json_array_size(want) &&
                    (json_int_t)len == json_integer_value(json_object_get(r, "chars"));
        for (size_t i = 0; same && i < ids.n; i++)
            same = ids.ids[i] == json_integer_value(json_array_get(want, i));
        if (!same && n_bad++ < 5)
            fprintf(stderr, "task %s: prompt differs\n",
                    json_string_value(json_object_get(r, "task")));
        n++;
        json_decref(r);
    }
    tokenizer_text_free(&file);
    tokenizer_ids_free(&ids);
    assert_int_equal(n, 800);
    assert_int_equal(n_bad, 0);
}

/* notebook_outcomes.csv: filename,confidence,len_prompt,outcome (the notebook's 10 tasks). */
static void test_notebook_lengths(void **state)
{
    (void)state;
    char path[4096], line[256];
    FILE *f = fopen(testdata("arc/notebook_outcomes.csv", path, sizeof path), "r");
    assert_non_null(f);
    struct tokenizer_ids ids = {0};
    int n = 0;
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f)) {
        char name[64];
        int confidence;
        long len_prompt;
        if (sscanf(line, "%63[^.].json,%d,%ld", name, &confidence, &len_prompt) != 3) continue;
        size_t len = prompt_ids("training", name, &ids);
        if ((long)len != len_prompt) /* ASCII: bytes = characters */
            fail_msg("%s: prompt has %zu characters, notebook %ld", name, len, len_prompt);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 10);
    /* The token counts the notebook reports (with <bos>). */
    assert_int_equal(prompt_ids("training", "e9afcf9a", &ids), 973);
    assert_int_equal(ids.n, 390);
    prompt_ids("training", "c9e6f938", &ids);
    assert_int_equal(ids.n, 527);
    prompt_ids("training", "48d8fb45", &ids);
    assert_int_equal(ids.n, 1602);
    tokenizer_ids_free(&ids);
}

static void expect_repr(int64_t rows, int64_t cols, const int32_t *cells, const char *want)
{
    struct arc_grid g = {rows, cols, (int32_t *)cells};
    char *text;
    size_t len;
    struct gsae_error err = {0};
    assert_int_equal(arc_grid_repr(&g, &text, &len, &err), GSAE_OK);
    assert_string_equal(text, want);
    free(text);
}

static void test_numpy_repr(void **state)
{
    (void)state;
    const int32_t a[] = {3, 3, 3, 9, 9, 9};
    expect_repr(2, 3, a, "array([[3, 3, 3],\n       [9, 9, 9]])");
    const int32_t b[] = {1, 10, 100, 7};
    expect_repr(2, 2, b, "array([[  1,  10],\n       [100,   7]])");
    const int32_t c[] = {-1, 5};
    expect_repr(1, 2, c, "array([[-1,  5]])");
    const int32_t d[] = {4};
    expect_repr(1, 1, d, "array([[4]])");
    int32_t wide[30] = {0};
    char *text;
    size_t len;
    struct gsae_error err = {0};
    struct arc_grid g = {1, 30, wide};
    assert_int_equal(arc_grid_repr(&g, &text, &len, &err), GSAE_OK);
    assert_int_equal(len, 8 + 30 + 29 * 2 + 3); /* one line: no wrapping at 75 columns */
    free(text);
    struct arc_grid empty = {0, 0, NULL};
    assert_int_equal(arc_grid_repr(&empty, &text, &len, &err), GSAE_EINVAL);
}

static void test_prompt_shape(void **state)
{
    (void)state;
    const char *json = "{\"train\": [{\"input\": [[1, 2]], \"output\": [[3], [4]]}],"
                       " \"test\": [{\"input\": [[5]], \"output\": [[6, 7]]}]}";
    struct arc_task task;
    struct gsae_error err = {0};
    assert_int_equal(arc_task_parse(json, strlen(json), "inline", &task, &err), GSAE_OK);
    char *text;
    size_t len;
    assert_int_equal(arc_prompt_build(&task, &text, &len, &err), GSAE_OK);
    const char *tail = "THEN Present your predicted output in np.array format\n"
                       "TRAIN Pair 0\nINPUT. Shape=(1, 2)\narray([[1, 2]])\n"
                       "OUTPUT. Shape=(2, 1)\narray([[3],\n       [4]])\n"
                       "TEST Pair 0\nINPUT. Shape=(1, 1)\narray([[5]])\nOUTPUT. ";
    assert_true(len > strlen(tail));
    assert_string_equal(text + len - strlen(tail), tail);
    assert_memory_equal(text, "Below are pairs of matrices. \nThere is", 38);
    free(text);
    const struct arc_grid *target = arc_task_target(&task);
    assert_non_null(target);
    assert_int_equal(target->cols, 2);
    assert_int_equal(target->cells[1], 7);
    arc_task_free(&task);
}

static void expect_parse_error(const char *json, const char *field)
{
    struct arc_task task;
    struct gsae_error err = {0};
    assert_int_equal(arc_task_parse(json, strlen(json), "t.json", &task, &err), GSAE_EFORMAT);
    if (!strstr(err.msg, "t.json") || !strstr(err.msg, field))
        fail_msg("message '%s' should name t.json and '%s'", err.msg, field);
    arc_task_free(&task);
}

static void test_task_errors(void **state)
{
    (void)state;
    expect_parse_error("{\"train\": [], \"test\": [{\"input\": [[1, 2], [3]]}]}",
                       "test[0].input[1]");
    expect_parse_error("{\"train\": [{\"input\": [[1]]}], \"test\": [{\"input\": [[1]]}]}",
                       "train[0].output");
    expect_parse_error("{\"train\": [], \"test\": [{\"input\": [[1, \"x\"]]}]}",
                       "test[0].input[0][1]");
    expect_parse_error("{\"train\": [], \"test\": []}", "\"test\" has no pairs");
    expect_parse_error("{\"train\": [], \"test\": [{\"input\": []}]}", "test[0].input");
    expect_parse_error("[1,", "line 1");
    struct arc_task task;
    struct gsae_error err = {0};
    assert_int_equal(arc_task_load("missing-task.json", &task, &err), GSAE_EIO);
    assert_non_null(strstr(err.msg, "missing-task.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numpy_repr),
        cmocka_unit_test(test_prompt_shape),
        cmocka_unit_test(test_task_errors),
        cmocka_unit_test(test_notebook_lengths),
        cmocka_unit_test(test_all_reference_prompts),
    };
    return cmocka_run_group_tests(tests, load_gemma, free_gemma);
}
