/* test_csv.c: io/csv: the quoting policy, writer/reader round trips, CRLF input, the strict
 * reader's errors (naming file and line), the writer's schema checks, and the result schemas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../io/csv.h"
#include "../../io/results_schema.h"

static const struct csv_column cols3[] = {
    {"name", CSV_STRING, NULL, false, false},
    {"n", CSV_INT, NULL, false, false},
    {"x", CSV_DOUBLE, NULL, false, false},
};
static const struct csv_schema schema3 = {"three.csv", cols3, 3};

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static char *field(const char *s)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    csv_write_field(f, s);
    fclose(f);
    return buf;
}

/* A field is quoted only when it holds a comma, quote, CR or LF; quotes are doubled. */
static void test_quoting_policy(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"plain", "plain"},
        {"", ""},
        {"a,b", "\"a,b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"two\nlines", "\"two\nlines\""},
        {"cr\r", "\"cr\r\""},
        {" spaced ", " spaced "},
        {"tab\there", "tab\there"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = field(cases[i][0]);
        assert_string_equal(got, cases[i][1]);
        free(got);
    }
}

/* Written with the writer, the file has the expected bytes and reads back the same fields. */
static void test_round_trip(void **state)
{
    (void)state;
    static const char *const names[] = {"plain",       "comma, inside",  "quote \"q\" inside",
                                        "line\nbreak", "crlf\r\ninside", "",
                                        "\"",          ",\n\""};
    const int n = (int)(sizeof names / sizeof names[0]);
    struct csv_writer w;
    struct gsae_error err = {0};
    assert_int_equal(csv_writer_open(&w, "rt.csv", &schema3, NULL, 0, false, &err), GSAE_OK);
    for (int i = 0; i < n; i++) {
        csv_put_str(&w, names[i]);
        csv_put_int(&w, -i * 1000000000LL);
        csv_put_double(&w, 0.1f * (float)i);
        csv_end_row(&w, false);
    }
    assert_int_equal(csv_writer_close(&w, &err), GSAE_OK);
    char *text = slurp("rt.csv");
    assert_true(strncmp(text, "name,n,x\nplain,0,0\n\"comma, inside\",-1000000000,", 45) == 0);
    free(text);
    struct csv_table t;
    assert_int_equal(csv_read(&t, "rt.csv", &err), GSAE_OK);
    assert_int_equal(t.n_cols, 3);
    assert_int_equal(t.n_rows, n);
    assert_int_equal(csv_col(&t, "x"), 2);
    assert_int_equal(csv_col(&t, "nope"), -1);
    for (int i = 0; i < n; i++) {
        assert_string_equal(csv_cell(&t, i, 0), names[i]);
        assert_int_equal(strtoll(csv_cell(&t, i, 1), NULL, 10), -i * 1000000000LL);
        /* "%.9g" gives a float back exactly */
        assert_true((float)strtod(csv_cell(&t, i, 2), NULL) == 0.1f * (float)i);
    }
    csv_table_free(&t);
    csv_table_free(&t); /* twice is harmless */
}

static enum gsae_status parse(struct csv_table *t, const char *text, struct gsae_error *err)
{
    return csv_parse(t, "in.csv", text, strlen(text), NULL, NULL, NULL, err);
}

static void test_crlf_and_embedded(void **state)
{
    (void)state;
    struct csv_table t;
    struct gsae_error err = {0};
    const char *text = "a,b\r\n1,\"x\r\ny\"\r\n\"q\"\"q\",\"c,d\"\r\n,\r\nlast,row";
    assert_int_equal(parse(&t, text, &err), GSAE_OK);
    assert_int_equal(t.n_rows, 4);
    assert_string_equal(t.header[1], "b");
    assert_string_equal(csv_cell(&t, 0, 0), "1");
    assert_string_equal(csv_cell(&t, 0, 1), "x\r\ny"); /* a quoted line break is kept as is */
    assert_string_equal(csv_cell(&t, 1, 0), "q\"q");
    assert_string_equal(csv_cell(&t, 1, 1), "c,d");
    assert_string_equal(csv_cell(&t, 2, 0), "");
    assert_string_equal(csv_cell(&t, 2, 1), "");
    assert_string_equal(csv_cell(&t, 3, 1), "row"); /* no line end at the end of the file */
    csv_table_free(&t);
}

/* Each malformed input fails with GSAE_EFORMAT and a message "in.csv:LINE: WHAT". */
static void test_strict_errors(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"a,b\n1,2\n\"open,3\n4,5\n", "in.csv:3: unterminated quoted field"},
        {"a,b\n1,2\n3\n", "in.csv:3: 1 fields, the header has 2"},
        {"a,b\n1,2,3\n", "in.csv:2: 3 fields, the header has 2"},
        {"a,b\n\"x\ny\",1\n\n", "in.csv:4: 1 fields, the header has 2"},
        {"a,b\n\"x\"y,1\n", "in.csv:2: text after the closing quote of a field"},
        {"a,b\nx\"y,1\n", "in.csv:2: a quote inside an unquoted field"},
        {"", "in.csv: no header line"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct csv_table t;
        struct gsae_error err = {0};
        assert_int_equal(parse(&t, cases[i][0], &err), GSAE_EFORMAT);
        assert_string_equal(err.msg, cases[i][1]);
        assert_null(t.cells);
    }
    struct csv_table t;
    struct gsae_error err = {0};
    assert_int_equal(csv_read(&t, "no-such.csv", &err), GSAE_ENOTFOUND);
}

static bool keep_odd(void *ctx, const char *value)
{
    (void)ctx;
    return strtol(value, NULL, 10) % 2 == 1;
}

static void test_read_where(void **state)
{
    (void)state;
    struct csv_table t;
    struct gsae_error err = {0};
    const char *text = "x,feature\na,1\nb,2\nc,3\n";
    assert_int_equal(csv_parse(&t, "in.csv", text, strlen(text), "feature", keep_odd, NULL, &err),
                     GSAE_OK);
    assert_int_equal(t.n_rows, 2);
    assert_string_equal(csv_cell(&t, 1, 0), "c");
    csv_table_free(&t);
    /* rows that are not kept are still checked */
    const char *bad = "x,feature\na,2,extra\n";
    assert_int_equal(csv_parse(&t, "in.csv", bad, strlen(bad), "feature", keep_odd, NULL, &err),
                     GSAE_EFORMAT);
}

/* A put of the wrong type, or a short record, fails csv_writer_close. */
static void test_writer_checks(void **state)
{
    (void)state;
    struct csv_writer w;
    struct gsae_error err = {0};
    assert_int_equal(csv_writer_open(&w, "bad.csv", &schema3, NULL, 0, false, &err), GSAE_OK);
    csv_put_int(&w, 1); /* column "name" is a string */
    csv_put_int(&w, 2);
    csv_put_double(&w, 3);
    csv_end_row(&w, false);
    assert_int_equal(csv_writer_close(&w, &err), GSAE_EINVAL);
    assert_int_equal(csv_writer_open(&w, "short.csv", &schema3, NULL, 0, false, &err), GSAE_OK);
    csv_put_str(&w, "a");
    csv_end_row(&w, false);
    assert_int_equal(csv_writer_close(&w, &err), GSAE_EINVAL);
    assert_non_null(strstr(err.msg, "three.csv"));
    assert_int_equal(csv_writer_close(&w, &err), GSAE_OK); /* zeroed: nothing to do */
    const char *names[] = {"x"};
    assert_int_equal(csv_writer_open(&w, "rep.csv", &schema3, names, 1, false, &err), GSAE_EINVAL);
}

/* A repeat column: header names given at open; doubles in the column's format; appending
 * writes the header once. */
static void test_repeat_and_append(void **state)
{
    (void)state;
    static const struct csv_column cols[] = {
        {"feature", CSV_INT, NULL, false, false},
        {"<pc>", CSV_DOUBLE, "%.17g", true, false},
        {"context", CSV_STRING, NULL, false, false},
    };
    static const struct csv_schema s = {"rep.csv", cols, 3};
    const int64_t ids[] = {7, 11};
    char **names = csv_names_numbered("f", ids, 2);
    struct gsae_error err = {0};
    for (int pass = 0; pass < 2; pass++) {
        struct csv_writer w;
        assert_int_equal(
            csv_writer_open(&w, "rep.csv", &s, (const char *const *)names, 2, pass == 1, &err),
            GSAE_OK);
        csv_put_int(&w, pass);
        csv_put_double(&w, 0.1);
        csv_put_double(&w, -2.5);
        csv_put_str(&w, "a|b");
        csv_end_row(&w, true);
        assert_int_equal(csv_writer_close(&w, &err), GSAE_OK);
    }
    free(names);
    char *text = slurp("rep.csv");
    assert_string_equal(text, "feature,f7,f11,context\n0,0.10000000000000001,-2.5,a|b\n"
                              "1,0.10000000000000001,-2.5,a|b\n");
    free(text);
    struct csv_table t;
    assert_int_equal(csv_read(&t, "rep.csv", &err), GSAE_OK);
    int64_t idx[3];
    assert_int_equal(csv_columns(&t, &s, idx, &err), GSAE_OK);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], -1);
    assert_int_equal(idx[2], 3);
    csv_table_free(&t);
}

static void test_columns_by_name(void **state)
{
    (void)state;
    struct csv_table t;
    struct gsae_error err = {0};
    int64_t idx[8];
    const char *text = "prompt,feature,text,strength\np,1,t,0.5\n";
    assert_int_equal(parse(&t, text, &err), GSAE_OK);
    assert_int_equal(csv_columns(&t, &results_steer, idx, &err), GSAE_OK);
    assert_int_equal(idx[STEER_FEATURE], 1);
    assert_int_equal(idx[STEER_PROMPT], 0);
    assert_int_equal(idx[STEER_STRENGTH], 3);
    assert_int_equal(idx[STEER_TEXT], 2);
    csv_table_free(&t);
    assert_int_equal(parse(&t, "feature,prompt,strength\n", &err), GSAE_OK);
    assert_int_equal(csv_columns(&t, &results_steer, idx, &err), GSAE_EFORMAT);
    assert_string_equal(err.msg, "steer.csv: no column 'text'");
    csv_table_free(&t);
    /* optional columns may be missing */
    assert_int_equal(parse(&t, "seconds,tokens\n1,2\n", &err), GSAE_OK);
    assert_int_equal(csv_columns(&t, &results_harvest_progress, idx, &err), GSAE_OK);
    assert_int_equal(idx[PROGRESS_ROUNDS], -1);
    csv_table_free(&t);
}

/* Every result schema: named columns, at most one repeat column, double formats that print a
 * number which reads back. */
static void test_result_schemas(void **state)
{
    (void)state;
    const struct csv_schema *all[] = {
        &results_positions,
        &results_steer,
        &results_ablate_topk,
        &results_answer_logprob,
        &results_attribution_top,
        &results_attribution_strip,
        &results_attribution_meta,
        &results_summary,
        &results_maxact,
        &results_maxact_tokens,
        &results_logit_effects,
        &results_feature_freq,
        &results_harvest_progress,
        &results_timings,
        &results_contrast_acts,
        &results_contrast_diff,
        &results_contrast_pair_top,
        &results_contrast_group_top,
        &results_pca,
        &results_pca_scores,
        &results_pca_explained,
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const struct csv_schema *s = all[i];
        assert_true(s->file && s->file[0]);
        assert_true(s->n_cols >= 2 && s->n_cols <= 16);
        int repeats = 0;
        for (int64_t c = 0; c < s->n_cols; c++) {
            const struct csv_column *col = &s->cols[c];
            assert_true(col->name && col->name[0]);
            repeats += col->repeat;
            if (col->type == CSV_DOUBLE && col->format) {
                char buf[64], *end = NULL;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                snprintf(buf, sizeof buf, col->format, 1.5);
#pragma GCC diagnostic pop
                assert_true(strtod(buf, &end) == 1.5 && *end == '\0');
            } else {
                assert_null(col->format);
            }
        }
        assert_true(repeats <= 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoting_policy),    cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_crlf_and_embedded), cmocka_unit_test(test_strict_errors),
        cmocka_unit_test(test_read_where),        cmocka_unit_test(test_writer_checks),
        cmocka_unit_test(test_repeat_and_append), cmocka_unit_test(test_columns_by_name),
        cmocka_unit_test(test_result_schemas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
