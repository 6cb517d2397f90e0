/* test_promptset.c: prompt sets (io/promptset.h): the notebook's 10 ARC tasks from its outcomes
 * CSV (order, labels, confidence, len_prompt equal to the built prompt's length, token counts
 * the notebook reports), task names with and without a CSV, JSON lines, and the errors of each
 * source (the message names the file and the line or field). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../common/check.h"

#include "../../io/promptset.h"
#include "../../io/tokenizer_load.h"

static char tmpdir[96];

/* Write text to tmpdir/name; the path goes to buf. */
static const char *write_tmp(const char *name, const char *text, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
    check_write_text(buf, text);
    return buf;
}

static void test_notebook_outcomes(void **state)
{
    (void)state;
    char arc[4096], csv[4096];
    testdata("arc", arc, sizeof arc);
    testdata("arc/notebook_outcomes.csv", csv, sizeof csv);
    struct promptset ps = {0};
    struct gsae_error err = {0};
    enum gsae_status st = promptset_load_arc(&ps, arc, csv, NULL, 0, &err);
    if (st != GSAE_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, GSAE_OK);
    assert_int_equal(ps.n, 10);
    static const char *const names[] = {
        "e9afcf9a.json", "c9e6f938.json", "d037b0a7.json", "6150a2bd.json", "6fa7a44f.json",
        "48d8fb45.json", "3c9b0459.json", "ed36ccf7.json", "b1948b0a.json", "017c7c7b.json"};
    static const int labels[] = {1, 0, 1, 0, 1, 0, 0, 0, 0, 0};
    static const double conf[] = {5, 5, 3, 4, 5, 4, 3, 3, 4, 4};
    static const int64_t len[] = {973, 1218, 1137, 973, 1517, 2489, 1301, 1301, 1383, 1677};
    for (int i = 0; i < 10; i++) {
        const struct promptset_item *it = &ps.items[i];
        assert_string_equal(it->name, names[i]);
        assert_int_equal(it->label, labels[i]);
        assert_true(it->confidence == conf[i]);
        assert_int_equal(it->len_prompt, len[i]);
        assert_int_equal(it->n_chars, len[i]); /* the ARC builder reproduces the notebook */
        assert_int_equal(it->len, (size_t)len[i]);
        assert_int_equal(strlen(it->text), it->len);
    }
    int64_t s, f, u;
    promptset_count_labels(&ps, &s, &f, &u);
    assert_int_equal(s, 3);
    assert_int_equal(f, 7);
    assert_int_equal(u, 0);

    /* The notebook's token counts, <bos> included. */
    struct tokenizer tk = {0};
    char tok[4096];
    st =
        tokenizer_load(&tk, testdata("tokenizer/gemma2-tokenizer.json.zst", tok, sizeof tok), &err);
    assert_int_equal(st, GSAE_OK);
    st = promptset_tokenize(&ps, &tk, true, &err);
    assert_int_equal(st, GSAE_OK);
    assert_int_equal(ps.items[0].n_tokens, 390);
    assert_int_equal(ps.items[1].n_tokens, 527);
    assert_int_equal(ps.items[5].n_tokens, 1602);
    assert_int_equal(ps.items[0].tokens[0], 2);
    promptset_tokenize(&ps, &tk, false, &err); /* again, without bos: replaces the tokens */
    assert_int_equal(ps.items[0].n_tokens, 389);
    assert_int_not_equal(ps.items[0].tokens[0], 2);
    tokenizer_free(&tk);
    promptset_free(&ps);
    promptset_free(&ps); /* twice is harmless */
}

static void test_names(void **state)
{
    (void)state;
    char arc[4096], csv[4096];
    testdata("arc", arc, sizeof arc);
    testdata("arc/notebook_outcomes.csv", csv, sizeof csv);
    struct promptset ps = {0};
    struct gsae_error err = {0};
    /* without a CSV: unknown labels; names with or without .json; evaluation/ is searched */
    const char *const names[] = {"6150a2bd", "e9afcf9a.json", "00576224"};
    assert_int_equal(promptset_load_arc(&ps, arc, NULL, names, 3, &err), GSAE_OK);
    assert_int_equal(ps.n, 3);
    assert_string_equal(ps.items[0].name, "6150a2bd");
    assert_int_equal(ps.items[0].label, PROMPTSET_LABEL_UNKNOWN);
    assert_true(isnan(ps.items[0].confidence));
    assert_int_equal(ps.items[0].len_prompt, -1);
    assert_int_equal(ps.items[0].n_chars, 973);
    promptset_free(&ps);

    /* with the CSV: the names' order, metadata from the matching rows */
    assert_int_equal(promptset_load_arc(&ps, arc, csv, names, 2, &err), GSAE_OK);
    assert_int_equal(ps.items[0].label, PROMPTSET_LABEL_FAILURE);
    assert_int_equal(ps.items[1].label, PROMPTSET_LABEL_SUCCESS);
    assert_int_equal(ps.items[1].len_prompt, 973);
    promptset_free(&ps);

    /* a name missing from the CSV */
    assert_int_equal(promptset_load_arc(&ps, arc, csv, names, 3, &err), GSAE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "notebook_outcomes.csv"));
    assert_non_null(strstr(err.msg, "00576224"));
    promptset_free(&ps);

    /* a task that does not exist */
    const char *const missing[] = {"e9afcf9a", "nosuchtask"};
    assert_int_equal(promptset_load_arc(&ps, arc, NULL, missing, 2, &err), GSAE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nosuchtask.json"));
    promptset_free(&ps);

    /* neither names nor a CSV */
    assert_int_equal(promptset_load_arc(&ps, arc, NULL, NULL, 0, &err), GSAE_EINVAL);
    promptset_free(&ps);
}

static void test_csv_forms(void **state)
{
    (void)state;
    char arc[4096], path[4096];
    testdata("arc", arc, sizeof arc);
    struct promptset ps = {0};
    struct gsae_error err = {0};
    /* columns in another order, quoted fields, CRLF, other outcome spellings, empty optional
     * cells, an extra column */
    write_tmp("ok.csv",
              "note,outcome,filename\r\n\"a, b\",success,e9afcf9a.json\r\n\"say \"\"x\"\"\","
              "0,\"6150a2bd.json\"\r\n",
              path, sizeof path);
    enum gsae_status st = promptset_load_arc(&ps, arc, path, NULL, 0, &err);
    if (st != GSAE_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, GSAE_OK);
    assert_int_equal(ps.n, 2);
    assert_int_equal(ps.items[0].label, PROMPTSET_LABEL_SUCCESS);
    assert_int_equal(ps.items[1].label, PROMPTSET_LABEL_FAILURE);
    assert_string_equal(ps.items[1].name, "6150a2bd.json");
    assert_true(isnan(ps.items[1].confidence));
    promptset_free(&ps);

    static const struct {
        const char *text, *want1, *want2;
        enum gsae_status code;
    } bad[] = {
        {"filename,confidence\ne9afcf9a.json,5\n", "'outcome'", "header", GSAE_EFORMAT},
        {"filename,outcome\n", "no rows", "bad.csv", GSAE_EFORMAT},
        {"", "header", "bad.csv", GSAE_EFORMAT},
        {"filename,outcome\ne9afcf9a.json,True\n6150a2bd.json,maybe\n", "line 3", "maybe",
         GSAE_EFORMAT},
        {"filename,outcome,confidence\ne9afcf9a.json,True,high\n", "line 2", "confidence",
         GSAE_EFORMAT},
        {"filename,outcome,len_prompt\ne9afcf9a.json,True,-3\n", "line 2", "len_prompt",
         GSAE_EFORMAT},
        {"filename,outcome\ne9afcf9a.json,True,extra\n", "line 2", "3 fields", GSAE_EFORMAT},
        {"filename,outcome\nnosuch.json,True\n", "nosuch.json", "training", GSAE_ENOTFOUND},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_tmp("bad.csv", bad[i].text, path, sizeof path);
        st = promptset_load_arc(&ps, arc, path, NULL, 0, &err);
        if (st != bad[i].code || !strstr(err.msg, bad[i].want1) || !strstr(err.msg, bad[i].want2))
            fprintf(stderr, "case %zu: status %d, message: %s\n", i, (int)st, err.msg);
        assert_int_equal(st, bad[i].code);
        assert_non_null(strstr(err.msg, bad[i].want1));
        assert_non_null(strstr(err.msg, bad[i].want2));
        promptset_free(&ps);
    }
}

static void test_jsonl(void **state)
{
    (void)state;
    char path[4096];
    struct promptset ps = {0};
    struct gsae_error err = {0};
    write_tmp("p.jsonl",
              "{\"prompt\": \"h\\u00e9llo\", \"name\": \"a\", \"label\": true, \"confidence\": 4.5,"
              " \"len_prompt\": 5}\n"
              "\n"
              "{\"text\": \"x\", \"label\": 0}\n"
              "{\"prompt\": \"y\", \"label\": \"failure\"}\n"
              "{\"prompt\": \"z\", \"label\": null}\n",
              path, sizeof path);
    enum gsae_status st = promptset_load_jsonl(&ps, path, &err);
    if (st != GSAE_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, GSAE_OK);
    assert_int_equal(ps.n, 4);
    assert_string_equal(ps.items[0].name, "a");
    assert_int_equal(ps.items[0].label, PROMPTSET_LABEL_SUCCESS);
    assert_true(ps.items[0].confidence == 4.5);
    assert_int_equal(ps.items[0].len_prompt, 5);
    assert_int_equal(ps.items[0].len, 6);     /* bytes */
    assert_int_equal(ps.items[0].n_chars, 5); /* code points */
    assert_string_equal(ps.items[1].name, "line 3");
    assert_string_equal(ps.items[1].text, "x");
    assert_int_equal(ps.items[1].label, PROMPTSET_LABEL_FAILURE);
    assert_int_equal(ps.items[2].label, PROMPTSET_LABEL_FAILURE);
    assert_int_equal(ps.items[3].label, PROMPTSET_LABEL_UNKNOWN);
    promptset_free(&ps);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"{\"prompt\": \"a\"}\n[1, 2]\n", "line 2"},
        {"{\"prompt\": \"a\", \"label\": \"maybe\"}\n", "\"label\""},
        {"{\"name\": \"a\"}\n", "\"prompt\""},
        {"{\"prompt\": 3}\n", "\"prompt\""},
        {"{\"prompt\": \"a\", \"len_prompt\": -1}\n", "len_prompt"},
        {"{\"prompt\": \"a\"\n", "line 1"},
        {"\n\n", "no prompts"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_tmp("bad.jsonl", bad[i].text, path, sizeof path);
        st = promptset_load_jsonl(&ps, path, &err);
        if (st != GSAE_EFORMAT || !strstr(err.msg, bad[i].want) || !strstr(err.msg, "bad.jsonl"))
            fprintf(stderr, "case %zu: status %d, message: %s\n", i, (int)st, err.msg);
        assert_int_equal(st, GSAE_EFORMAT);
        assert_non_null(strstr(err.msg, bad[i].want));
        assert_non_null(strstr(err.msg, "bad.jsonl"));
        promptset_free(&ps);
    }
    assert_int_equal(promptset_load_jsonl(&ps, "/nonexistent/p.jsonl", &err), GSAE_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/p.jsonl"));
    promptset_free(&ps);
}

static int make_tmpdir(void **state)
{
    (void)state;
    check_tmpdir(tmpdir, sizeof tmpdir, "promptset");
    return 0;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    return check_rmtree(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notebook_outcomes),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_csv_forms),
        cmocka_unit_test(test_jsonl),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
