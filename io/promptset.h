/* promptset.h: a list of prompts to contrast, with what is known about each (outcome, model
 * confidence, recorded prompt length), read from one of two sources:
 *
 * ARC tasks: task files (io/arc_task.h) turned into the notebook's prompt (src/arc.h). A task
 * NAME ("e9afcf9a" or "e9afcf9a.json") is looked up as DIR/NAME.json, DIR/training/NAME.json,
 * then DIR/evaluation/NAME.json. The list comes from explicit names, or from an outcomes CSV
 * (the notebook's notebook_outcomes.csv) whose rows give the order:
 *
 *     filename,confidence,len_prompt,outcome       header; columns in any order, extra
 *     e9afcf9a.json,5,973,True                     columns ignored; confidence and
 *                                                  len_prompt optional
 *
 * outcome is True/False (also true/false, 1/0, success/failure); len_prompt is the prompt's
 * length in characters as the notebook measured it (Python len(), code points). With both names
 * and a CSV, the names give the order and every name must have a CSV row.
 *
 * JSON lines: one object per non-empty line:
 *     {"prompt": "...", "name": "a", "label": true, "confidence": 4, "len_prompt": 973}
 * "prompt" (or "text") is required; "name" defaults to "line N"; "label" is true/false, 1/0,
 * "success"/"failure" or null (unknown); the other two are optional. The file may be compressed
 * (zstd, gzip, ...; detected from its content).
 *
 * Labels: PROMPTSET_LABEL_SUCCESS is group A of a contrast, PROMPTSET_LABEL_FAILURE group B.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/gsae.h"
#include "../src/tokenizer.h"

enum promptset_label {
    PROMPTSET_LABEL_UNKNOWN = -1,
    PROMPTSET_LABEL_FAILURE = 0,
    PROMPTSET_LABEL_SUCCESS = 1,
};

struct promptset_item {
    char *name;         /* task file name as listed ("e9afcf9a.json") or the JSONL name; owned */
    char *text;         /* the prompt, NUL-terminated; owned */
    size_t len;         /* bytes of text */
    int64_t n_chars;    /* Unicode code points of text (what Python's len() counts) */
    int label;          /* enum promptset_label */
    double confidence;  /* NaN when not given */
    int64_t len_prompt; /* recorded length in characters, -1 when not given */
    int32_t *tokens;    /* (n_tokens) after promptset_tokenize, else NULL; owned */
    int64_t n_tokens;
};

struct promptset {
    int64_t n;
    struct promptset_item *items; /* (n), owned */
};

/* Read ARC tasks from dir (see above) into a zeroed set: the tasks names[0..n_names) in that
 * order, or (n_names 0) the rows of outcomes_csv. outcomes_csv may be NULL when names are given
 * (labels are then unknown). Local. Errors name the file and the row or field: GSAE_EINVAL (no
 * names and no CSV), GSAE_ENOTFOUND (a task file or a name's CSV row), GSAE_EIO, GSAE_EFORMAT,
 * GSAE_ENOMEM. Free with promptset_free, also after a failure. */
enum gsae_status promptset_load_arc(struct promptset *ps, const char *dir, const char *outcomes_csv,
                                    const char *const *names, int64_t n_names,
                                    struct gsae_error *err);

/* Read a JSON lines file of prompts (see above) into a zeroed set. Local. Errors name the file
 * and the line: GSAE_EIO, GSAE_EFORMAT (not an object, missing or mistyped field, no prompts),
 * GSAE_ENOMEM. Free with promptset_free, also after a failure. */
enum gsae_status promptset_load_jsonl(struct promptset *ps, const char *path,
                                      struct gsae_error *err);

/* Tokenize every prompt (with the tokenizer's bos first when add_bos). Local. Errors: those of
 * tokenizer_encode, prefixed with the prompt's name; a prompt without tokens is GSAE_EINVAL. */
enum gsae_status promptset_tokenize(struct promptset *ps, const struct tokenizer *tk, bool add_bos,
                                    struct gsae_error *err);

/* Number of labelled prompts in each group. */
void promptset_count_labels(const struct promptset *ps, int64_t *n_success, int64_t *n_failure,
                            int64_t *n_unknown);

/* Free every item and zero the set; safe on a zeroed or partly filled set, and twice. */
void promptset_free(struct promptset *ps);
