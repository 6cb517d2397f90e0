/* csv.h: the one CSV module of gsae: a writer whose header and field types come from a column
 * schema, and a strict reader. Every result file that gsae writes as CSV, and every CSV it reads
 * back (gsae report), goes through here.
 *
 * Format (RFC 4180, one policy everywhere): the first record is the header; fields are separated
 * by ','; records end in "\n" when written ("\r\n" and "\n" are both accepted when read). A
 * field is quoted with '"' only when it contains a comma, a quote, CR or LF; quotes inside a
 * quoted field are doubled. Nothing else is changed: the writer does not trim, escape or
 * translate bytes.
 *
 * Field types: CSV_STRING (quoted as above), CSV_INT (int64, "%lld") and CSV_DOUBLE (printf
 * format of the column, "%.9g" when it states none: enough digits to give a float back
 * exactly).
 *
 * The reader is strict: every record has as many fields as the header, a quoted field is
 * closed and followed by a separator or a line end, and an unquoted field holds no quote.
 * Errors name the file and the line of the record (GSAE_EFORMAT).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../src/gsae.h"

enum csv_type {
    CSV_STRING,
    CSV_INT,
    CSV_DOUBLE,
};

/* One column of a result file. A column with `repeat` stands for zero or more columns of that
 * type whose names are known only when the file is written (one per prompt, principal component,
 * feature, ...); a schema has at most one such column. `optional` columns may be missing from a
 * file the reader accepts (older outputs, or an option that was not given). */
struct csv_column {
    const char *name;
    enum csv_type type;
    const char *format; /* CSV_DOUBLE only: printf format of one value; NULL: "%.9g" */
    bool repeat;
    bool optional;
};

/* A result file's columns, declared once (io/results_schema.h) and shared by the command that
 * writes the file and the report view that reads it. */
struct csv_schema {
    const char *file; /* the file's usual name, for messages: "steer.csv" */
    const struct csv_column *cols;
    int64_t n_cols;
};

/* ---- writer -------------------------------------------------------------------------------- */

struct csv_writer {
    FILE *f; /* owned */
    char *path;
    const struct csv_schema *schema;
    int64_t n_repeat; /* columns the repeat column stands for in this file */
    int64_t n_fields; /* fields per record */
    int64_t field;    /* next field of the current record */
    bool bad;         /* a put of the wrong type or count: csv_writer_close fails */
};

/* Create path (append: add to it, writing the header only when the file is new or empty) for
 * the columns of schema; repeat_names (n_repeat names, or NULL when the schema has no repeat
 * column) name the columns the repeat column stands for. Writes the header.
 * Errors: GSAE_EIO, GSAE_ENOMEM, GSAE_EINVAL (repeat names without a repeat column). Local. */
enum gsae_status csv_writer_open(struct csv_writer *w, const char *path,
                                 const struct csv_schema *schema, const char *const *repeat_names,
                                 int64_t n_repeat, bool append, struct gsae_error *err);

/* The next field of the current record. The column's type must match the call; a mismatch or
 * a field past the end of the record is recorded and fails csv_writer_close. */
void csv_put_str(struct csv_writer *w, const char *s);
void csv_put_int(struct csv_writer *w, int64_t v);
void csv_put_double(struct csv_writer *w, double v);

/* End the current record (all its fields must have been put). Flushes when flush is set, so a
 * progress file can be read while it grows. */
void csv_end_row(struct csv_writer *w, bool flush);

/* Close the file. Errors: GSAE_EIO (a write failed), GSAE_EINVAL (a put did not fit the
 * schema). Accepts a zeroed writer. */
enum gsae_status csv_writer_close(struct csv_writer *w, struct gsae_error *err);

/* Names for the columns of a repeat column: prefix followed by ids[i] (ids NULL: i + 1), n of
 * them, in one allocation (free it with free()). NULL out of memory. */
char **csv_names_numbered(const char *prefix, const int64_t *ids, int64_t n);

/* Write s to f as one field under the quoting policy above. */
void csv_write_field(FILE *f, const char *s);

/* ---- reader -------------------------------------------------------------------------------- */

/* A parsed CSV file. */
struct csv_table {
    char **header; /* n_cols names */
    char **cells;  /* n_rows x n_cols, row-major */
    int64_t n_rows, n_cols;
};

/* Read path. GSAE_ENOTFOUND when it does not exist, GSAE_EFORMAT "path:line: ..." on a
 * malformed record, GSAE_EIO, GSAE_ENOMEM. Local. */
enum gsae_status csv_read(struct csv_table *t, const char *path, struct gsae_error *err);

/* As csv_read, but keeps only the rows whose value in column key keep(ctx, value) accepts
 * (every row when the header has no such column); for large files of which a few rows are
 * wanted. Every record is still checked. */
enum gsae_status csv_read_where(struct csv_table *t, const char *path, const char *key,
                                bool (*keep)(void *ctx, const char *value), void *ctx,
                                struct gsae_error *err);

/* Parse len bytes of text as csv_read_where does; name stands for the file in messages. */
enum gsae_status csv_parse(struct csv_table *t, const char *name, const char *text, size_t len,
                           const char *key, bool (*keep)(void *ctx, const char *value), void *ctx,
                           struct gsae_error *err);

/* Column index of name, or -1. */
int64_t csv_col(const struct csv_table *t, const char *name);

/* Cell (row, col): borrowed, valid until csv_table_free. */
const char *csv_cell(const struct csv_table *t, int64_t row, int64_t col);

/* Look up each column of schema in t by name: idx[i] is its index, -1 for a missing optional
 * column and for the repeat column (whose columns are the ones no other column names).
 * Errors: GSAE_EFORMAT "file: no column 'name'" for a missing required column. */
enum gsae_status csv_columns(const struct csv_table *t, const struct csv_schema *schema,
                             int64_t *idx, struct gsae_error *err);

void csv_table_free(struct csv_table *t);
