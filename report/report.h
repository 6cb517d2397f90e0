/* report.h: a self-contained HTML report writer (inline CSS and SVG; no scripts, no network)
 * of the result files gsae writes.
 *
 * Charts are drawn as inline SVG with hover titles (<title>), so the page works offline and
 * without JavaScript. All text passes through report_escape. The output is deterministic: no
 * dates or host names unless the caller writes them, so a report's checksum changes only when
 * its inputs do.
 *
 * The result files are read with io/csv.h; their columns are declared in io/results_schema.h.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../io/csv.h"
#include "../src/gsae.h"
#include "report_svg.h"

/* Start path with a page titled title (subtitle may be NULL). */
enum gsae_status report_open(struct report *r, const char *path, const char *title,
                             const char *subtitle, struct gsae_error *err);

/* Finish the page and close the file; fails when any write failed. */
enum gsae_status report_close(struct report *r, struct gsae_error *err);

/* A section heading (with an anchor id) and an optional explanatory paragraph. */
void report_section(struct report *r, const char *id, const char *title, const char *note);

/* A paragraph, or preformatted text, escaped. */
void report_paragraph(struct report *r, const char *text);
void report_pre(struct report *r, const char *summary, const char *text, bool open);

/* Start / end a grid of small charts (two per row on wide screens). */
void report_grid_begin(struct report *r);
void report_grid_end(struct report *r);
