/* report.h: a self-contained HTML report writer (inline CSS and SVG; no scripts, no network)
 * and the CSV reader for the result files it shows.
 *
 * Charts are drawn as inline SVG with hover titles (<title>), so the page works offline and
 * without JavaScript. All text passes through report_escape. The output is deterministic: no
 * dates or host names unless the caller writes them, so a report's checksum changes only when
 * its inputs do.
 *
 * CSV (RFC 4180 as Python's csv module writes it): first row is the header; fields may be
 * quoted with '"', doubled quotes inside, and may then hold commas and newlines.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../src/gsae.h"

struct report {
    FILE *f;       /* owned; NULL after report_close */
    char *path;    /* owned */
    int n_figures; /* sections so far */
    bool in_grid;  /* between report_grid_begin and _end: charts are drawn narrower */
};

/* Start path with a page titled title (subtitle may be NULL). */
enum gsae_status report_open(struct report *r, const char *path, const char *title,
                             const char *subtitle, struct gsae_error *err);

/* Finish the page and close the file; fails when any write failed. */
enum gsae_status report_close(struct report *r, struct gsae_error *err);

/* Write s with & < > " ' escaped. */
void report_escape(FILE *f, const char *s);

/* A section heading (with an anchor id) and an optional explanatory paragraph. */
void report_section(struct report *r, const char *id, const char *title, const char *note);

/* A paragraph, or preformatted text, escaped. */
void report_paragraph(struct report *r, const char *text);
void report_pre(struct report *r, const char *summary, const char *text, bool open);

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

/* A table of n_rows x n_cols cells (row-major; at most 500 rows shown). Cells that parse as
 * numbers are right-aligned. A cell "\x01" + text is shown preformatted (line breaks kept),
 * "\x03" + text as a token (monospace, spaces kept);
 * "\x02" left "\x02" token "\x02" right is shown preformatted with token highlighted. */
void report_table(struct report *r, const char *caption, const char *const *header, int64_t n_cols,
                  const char *const *cells, int64_t n_rows);

/* Parsed CSV. */
struct report_csv {
    char **header; /* n_cols names */
    char **cells;  /* n_rows x n_cols, row-major; short rows are padded with "" */
    int64_t n_rows, n_cols;
};

/* Read a CSV file; GSAE_ENOTFOUND when it does not exist, GSAE_EFORMAT naming file and line
 * on a malformed one. */
enum gsae_status report_csv_read(struct report_csv *t, const char *path, struct gsae_error *err);

/* As report_csv_read, but keeps only the rows whose value in column key keep(ctx, value)
 * accepts (every row when the header has no such column); for large files of which a view
 * shows a few rows. */
enum gsae_status report_csv_read_where(struct report_csv *t, const char *path, const char *key,
                                       bool (*keep)(void *ctx, const char *value), void *ctx,
                                       struct gsae_error *err);

/* Column index of name, or -1. */
int64_t report_csv_col(const struct report_csv *t, const char *name);

/* Cell (row, col). */
const char *report_csv_cell(const struct report_csv *t, int64_t row, int64_t col);

void report_csv_free(struct report_csv *t);
