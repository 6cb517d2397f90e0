/* report_views.h: report views that read the JSON experiment commands write (gsae steer
 * --json, gsae ablate --json); the CSV views live in cmd_report.c. Each view adds its section
 * when its files exist and returns GSAE_EFORMAT naming the file when one is malformed.
 */
#pragma once

#include "report.h"

/* steer_<label>.json files: {"feature", "max_act", "runs": [{"strength", "text"}]}. */
enum gsae_status report_view_steer_json(struct report *r, const char *dir,
                                        struct gsae_error *err);

/* ablate_<label>.json files: {"features", "error_term", "answer": [{"index", "text",
 * "clean": {"rank", "prob", "top": [{"text", "prob"}]}, "ablated": {...}}]}. */
enum gsae_status report_view_ablate_json(struct report *r, const char *dir,
                                         struct gsae_error *err);
