/* report_svg.h: the drawing layer of the report: HTML escaping, typed table cells, tables and
 * inline SVG charts (line, bars, histogram, scatter) written to the report's page.
 *
 * Everything written from data passes through report_escape: & < > " ' become entities and
 * the C0 control bytes other than tab and newline (and DEL) become the visible text \xNN, so
 * a page never holds a control byte that a result file carried. The output is deterministic.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The page being written (report.h opens and closes it). */
struct report {
    FILE *f;       /* owned; NULL after report_close */
    char *path;    /* owned */
    int n_figures; /* sections so far */
    bool in_grid;  /* between report_grid_begin and _end: charts are drawn narrower */
};

/* Write s (NULL: nothing) escaped for HTML text and attribute values. */
void report_escape(FILE *f, const char *s);

/* Write the text of a token or context escaped, with every character visible: newline as a
 * return mark (then a line break when markup is set), tab as an arrow, other control characters
 * as \xNN (C0, DEL) or \uNNNN (C1), invalid UTF-8 as U+FFFD; the two-character escapes \n \t \r
 * that gsae maxact writes are shown as those characters. markup false: for an attribute value
 * (no tags). */
void report_token_text(FILE *f, const char *s, bool markup);

/* Start / end a grid of small charts (two per row on wide screens). */
void report_grid_begin(struct report *r);
void report_grid_end(struct report *r);

struct report_axes {
    const char *title, *x_label, *y_label;
    bool log_y; /* bars/histogram: counts on a log10 scale */
};

/* One line: n points (x ascending). Long series are reduced to each pixel column's min and
 * max, so single-feature spikes stay visible. */
struct report_series {
    const char *name;
    const double *x, *y;
    int64_t n;
};

void report_line_chart(struct report *r, const struct report_axes *ax,
                       const struct report_series *series, int64_t n_series);

/* Horizontal bars, one per label; negative values extend left of zero in another colour. */
void report_bars(struct report *r, const struct report_axes *ax, const char *const *labels,
                 const double *values, int64_t n);

/* A histogram: counts[i] for the bin [edges[i], edges[i+1]). */
void report_histogram(struct report *r, const struct report_axes *ax, const double *edges,
                      const double *counts, int64_t n_bins);

/* Points coloured by group (group[i] indexes group_names; at most the 12 largest groups get
 * their own colour and legend entry, the rest are grey). labels[i] (may be NULL) is the hover
 * text of point i. */
struct report_points {
    const double *x, *y;
    const int64_t *group;
    const char *const *labels;
    int64_t n;
    const char *const *group_names;
    int64_t n_groups;
};

void report_scatter(struct report *r, const struct report_axes *ax,
                    const struct report_points *pts);

/* A table cell with its kind: how it is shown. */
enum report_cell_kind {
    REPORT_CELL_TEXT,   /* text, escaped */
    REPORT_CELL_NUMBER, /* right-aligned: text as given, or value in format */
    REPORT_CELL_PRE,    /* preformatted text (line breaks kept) */
    REPORT_CELL_TOKEN,  /* a token: monospace, spaces kept */
    REPORT_CELL_MARKED, /* preformatted "left\x02token\x02right", token highlighted */
};

struct report_cell {
    enum report_cell_kind kind;
    const char *text;   /* borrowed; NUMBER: NULL to format value */
    double value;       /* NUMBER without text */
    const char *format; /* NUMBER without text: printf format of value (NULL: "%.6g") */
};

/* A text cell: NUMBER (shown as given) when text parses as a number, else TEXT. */
struct report_cell report_cell_text(const char *text);

/* A number cell: value shown in format (NULL: "%.6g"). */
struct report_cell report_cell_number(double value, const char *format);

/* The cell of a string in the marked form report_table takes: "\x01" + text is PRE, "\x03" +
 * text a TOKEN, "\x02" + left "\x02" token "\x02" right MARKED, else report_cell_text. */
struct report_cell report_cell_marked(const char *s);

/* Write one cell as <td>...</td>. */
void report_cell_write(FILE *f, const struct report_cell *c);

/* A table of n_rows x n_cols typed cells (row-major; at most 500 rows shown). A column whose
 * first cell is a number has its header right-aligned. */
void report_table_cells(struct report *r, const char *caption, const char *const *header,
                        int64_t n_cols, const struct report_cell *cells, int64_t n_rows);

/* A table of n_rows x n_cols cells (row-major; at most 500 rows shown). Cells that parse as
 * numbers are right-aligned. A cell "\x01" + text is shown preformatted (line breaks kept),
 * "\x03" + text as a token (monospace, spaces kept);
 * "\x02" left "\x02" token "\x02" right is shown preformatted with token highlighted. */
void report_table(struct report *r, const char *caption, const char *const *header, int64_t n_cols,
                  const char *const *cells, int64_t n_rows);
