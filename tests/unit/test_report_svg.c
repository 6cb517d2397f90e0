/* test_report_svg.c: report/report_svg: HTML escaping (markup characters, control bytes made
 * visible), typed table cells, tables, token text and a chart, written to memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../report/report_svg.h"

/* A report page in memory. */
struct page {
    struct report r;
    char *buf;
    size_t len;
};

static void page_open(struct page *p)
{
    *p = (struct page){0};
    p->r.f = open_memstream(&p->buf, &p->len);
    assert_non_null(p->r.f);
}

/* Close the stream; the text stays in p->buf (freed by the caller). */
static const char *page_text(struct page *p)
{
    fclose(p->r.f);
    p->r.f = NULL;
    return p->buf;
}

/* No byte of s is a C0 control other than tab and newline, or DEL. */
static bool no_control_bytes(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if ((*c < 0x20 && *c != '\t' && *c != '\n') || *c == 0x7f) return false;
    return true;
}

static void test_escape_markup(void **state)
{
    (void)state;
    struct page p;
    page_open(&p);
    report_escape(p.r.f, "<a href=\"x\">Tom & Jerry's</a>");
    report_escape(p.r.f, NULL);
    assert_string_equal(page_text(&p),
                        "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
    free(p.buf);
}

static void test_escape_control_bytes(void **state)
{
    (void)state;
    struct page p;
    page_open(&p);
    report_escape(p.r.f, "a\x01"
                         "b\x1f\x7f\tc\nd\re\x1b[0m caf\xc3\xa9");
    const char *out = page_text(&p);
    assert_string_equal(out, "a\\x01b\\x1f\\x7f\tc\nd\\x0de\\x1b[0m caf\xc3\xa9");
    assert_true(no_control_bytes(out));
    free(p.buf);
}

static char *cell_html(struct report_cell c)
{
    struct page p;
    page_open(&p);
    report_cell_write(p.r.f, &c);
    page_text(&p);
    return p.buf;
}

static void test_typed_cells(void **state)
{
    (void)state;
    static const struct {
        struct report_cell cell;
        const char *html;
    } cases[] = {
        {{REPORT_CELL_TEXT, "<b>bold</b>", 0, NULL}, "<td>&lt;b&gt;bold&lt;/b&gt;</td>"},
        {{REPORT_CELL_NUMBER, NULL, 3.14159, "%.2f"}, "<td class=\"num\">3.14</td>"},
        {{REPORT_CELL_NUMBER, NULL, 0.5, NULL}, "<td class=\"num\">0.5</td>"},
        {{REPORT_CELL_NUMBER, "1e-3", 0, NULL}, "<td class=\"num\">1e-3</td>"},
        {{REPORT_CELL_PRE, "line 1\nline <2>", 0, NULL},
         "<td><pre>line 1\nline &lt;2&gt;</pre></td>"},
        {{REPORT_CELL_TOKEN, " x\x02", 0, NULL}, "<td><code> x\\x02</code></td>"},
        {{REPORT_CELL_MARKED, "left \x02tok&\x02 right", 0, NULL},
         "<td><pre>left <mark>tok&amp;</mark> right</pre></td>"},
        {{REPORT_CELL_MARKED, "no mark", 0, NULL}, "<td><pre>no mark</pre></td>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *html = cell_html(cases[i].cell);
        assert_string_equal(html, cases[i].html);
        free(html);
    }
    assert_int_equal(report_cell_text("12.5").kind, REPORT_CELL_NUMBER);
    assert_int_equal(report_cell_text("12.5x").kind, REPORT_CELL_TEXT);
    assert_int_equal(report_cell_text("").kind, REPORT_CELL_TEXT);
    assert_int_equal(report_cell_marked("\x03tok").kind, REPORT_CELL_TOKEN);
    assert_string_equal(report_cell_marked("\x01pre").text, "pre");
    assert_int_equal(report_cell_number(2, "%g").kind, REPORT_CELL_NUMBER);
}

static void test_table(void **state)
{
    (void)state;
    struct page p;
    page_open(&p);
    const char *header[] = {"name", "value"};
    struct report_cell cells[4] = {
        report_cell_text("a<b"),
        report_cell_number(1.25, "%.1f"),
        report_cell_text("c\x01"),
        report_cell_text("7"),
    };
    report_table_cells(&p.r, "Cap & caption", header, 2, cells, 2);
    const char *out = page_text(&p);
    assert_non_null(strstr(out, "<caption>Cap &amp; caption</caption>"));
    assert_non_null(strstr(out, "<th>name</th><th class=\"num\">value</th>"));
    assert_non_null(strstr(out, "<tr><td>a&lt;b</td><td class=\"num\">1.2</td></tr>"));
    assert_non_null(strstr(out, "<td>c\\x01</td>"));
    assert_true(no_control_bytes(out));
    free(p.buf);
}

/* The string form: marked cells, and at most 500 rows with a note saying so. */
static void test_table_strings(void **state)
{
    (void)state;
    enum { N = 600 };
    const char **cells = malloc(N * sizeof *cells);
    for (int i = 0; i < N; i++)
        cells[i] = i == 0 ? "\x03 tok" : i == 1 ? "\x02l\x02t\x02r" : "3";
    const char *header[] = {"only"};
    struct page p;
    page_open(&p);
    report_table(&p.r, NULL, header, 1, cells, N);
    const char *out = page_text(&p);
    assert_non_null(strstr(out, "<th>only</th>"));
    assert_non_null(strstr(out, "<td><code> tok</code></td>"));
    assert_non_null(strstr(out, "<td><pre>l<mark>t</mark>r</pre></td>"));
    assert_non_null(strstr(out, "First 500 of 600 rows."));
    size_t rows = 0;
    for (const char *s = out; (s = strstr(s, "<tr>")); s++)
        rows++;
    assert_int_equal(rows, 1 + 500);
    free(p.buf);
    free(cells);
}

static void test_token_text(void **state)
{
    (void)state;
    struct page p;
    page_open(&p);
    report_token_text(p.r.f, "a\x01<\n\t\xff\\n\xc2\x85", true);
    const char *out = page_text(&p);
    assert_string_equal(out, "a<i>\\x01</i>&lt;<i>\xe2\x86\xb5</i>\n<i>\xe2\x87\xa5</i>"
                             "\xef\xbf\xbd<i>\xe2\x86\xb5</i>\n<i>\\u0085</i>");
    free(p.buf);
}

static void test_chart(void **state)
{
    (void)state;
    struct page p;
    page_open(&p);
    const char *labels[] = {"<f1>", "f\x01 2"};
    const double values[] = {1.5, -0.5};
    struct report_axes ax = {"Bars & \"more\"", "x", NULL, false};
    report_bars(&p.r, &ax, labels, values, 2);
    const char *out = page_text(&p);
    assert_non_null(strstr(out, "<svg"));
    assert_non_null(strstr(out, "&lt;f1&gt;"));
    assert_non_null(strstr(out, "Bars &amp; &quot;more&quot;"));
    assert_null(strstr(out, "<f1>"));
    assert_true(no_control_bytes(out));
    free(p.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_markup), cmocka_unit_test(test_escape_control_bytes),
        cmocka_unit_test(test_typed_cells),   cmocka_unit_test(test_table),
        cmocka_unit_test(test_table_strings), cmocka_unit_test(test_token_text),
        cmocka_unit_test(test_chart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
