/* cmd_tokenize.c: `gsae tokenize` (text -> ids) and `gsae detokenize` (ids -> text).
 *
 *   gsae tokenize --tokenizer PATH [--no-bos] [--pieces] < text
 *       one line: the ids separated by single spaces (or the pieces, escaped: \n \t \r \\ \xNN
 *       for other control bytes; a literal space inside a piece is never produced by Gemma)
 *   gsae tokenize --tokenizer PATH --jsonl < in.jsonl > out.jsonl
 *       per input line {"text": ..., "add_bos": bool (default true)}: {"ids": [...]}
 *   gsae detokenize --tokenizer PATH [--keep-special] < ids
 *       ids separated by spaces, commas or newlines (brackets allowed) -> the text, as is
 *   gsae detokenize --tokenizer PATH [--keep-special] --jsonl < in.jsonl > out.jsonl
 *       per input line {"ids": [...]}: {"text": "..."} (JSON, non-ASCII escaped)
 */
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/tokenizer_load.h"
#include "../src/tokenizer.h"
#include "cli.h"
#include "commands.h"
#include "opt.h"

struct tokenize_opts {
    const char *tokenizer;
    bool no_bos, pieces, jsonl, keep_special;
};

#define O(f) offsetof(struct tokenize_opts, f)
static const struct opt tokenize_table[] = {
    {"tokenizer", OPT_STR, O(tokenizer), .flags = OPT_REQUIRED, .meta = "PATH",
     .help = "tokenizer.json or tokenizer.json.zst"},
    {"no-bos", OPT_FLAG, O(no_bos), .help = "no <bos> first"},
    {"pieces", OPT_FLAG, O(pieces), .help = "print the pieces, escaped, instead of ids"},
    {"jsonl", OPT_FLAG, O(jsonl), .help = "one JSON object per line in and out"},
    {0},
};
static const struct opt detokenize_table[] = {
    {"tokenizer", OPT_STR, O(tokenizer), .flags = OPT_REQUIRED, .meta = "PATH",
     .help = "tokenizer.json or tokenizer.json.zst"},
    {"keep-special", OPT_FLAG, O(keep_special), .help = "keep special tokens in the text"},
    {"jsonl", OPT_FLAG, O(jsonl), .help = "one JSON object per line in and out"},
    {0},
};
#undef O

const struct opt_cmd tokenize_cmd = {
    "tokenize",
    .synopsis = "--tokenizer PATH [--no-bos] [--pieces] < text\n"
                "       gsae tokenize --tokenizer PATH --jsonl < in.jsonl > out.jsonl",
    .about =
        "The Gemma-2 token ids of the text on stdin, on one line separated by spaces\n"
        "(<bos> first unless --no-bos), or with --pieces the pieces (escaped: \\n \\t \\r \\\\\n"
        "\\xNN). With --jsonl, per input line {\"text\": ..., \"add_bos\": bool (default true)}\n"
        "one line {\"ids\": [...]}.\n",
    .size = sizeof(struct tokenize_opts),
    .groups = {{tokenize_table, 0}},
};

const struct opt_cmd detokenize_cmd = {
    "detokenize",
    .synopsis = "--tokenizer PATH [--keep-special] [--jsonl] < ids",
    .about = "Ids separated by spaces, commas or newlines (brackets allowed) to the text,\n"
             "special tokens dropped unless --keep-special; with --jsonl, per input line\n"
             "{\"ids\": [...]} one line {\"text\": \"...\"}.\n",
    .size = sizeof(struct tokenize_opts),
    .groups = {{detokenize_table, 0}},
};

/* Options of `tokenize` (detok false) or `detokenize`; an option that does not apply with
 * --jsonl is refused rather than ignored. Returns OPT_RUN or the exit code to leave with. */
static int parse_opts(int argc, char **argv, bool detok, struct tokenize_opts *o)
{
    const struct opt_cmd *c = detok ? &detokenize_cmd : &tokenize_cmd;
    int rc = opt_parse(c, argc, argv, o);
    if (rc != OPT_RUN) return rc;
    if (o->jsonl && (o->no_bos || o->pieces)) {
        fprintf(stderr, "gsae %s: %s\n", c->name,
                o->no_bos ? "--no-bos does not apply with --jsonl (give \"add_bos\": false on each "
                            "line)"
                          : "--pieces does not apply with --jsonl");
        return 2;
    }
    return OPT_RUN;
}

static void print_piece(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\\')
            fputs("\\\\", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

static void print_ids(const struct tokenizer *tk, const struct tokenizer_ids *ids, bool pieces)
{
    for (size_t i = 0; i < ids->n; i++) {
        if (i) putchar(' ');
        if (pieces) {
            size_t len;
            const char *p = tokenizer_piece(tk, ids->ids[i], &len);
            print_piece(p, len);
        } else
            printf("%d", (int)ids->ids[i]);
    }
    putchar('\n');
}

/* One JSON line -> {"ids": [...]} on stdout. */
static enum gsae_status tokenize_json_line(const struct tokenizer *tk, const char *line, size_t len,
                                           size_t line_no, struct tokenizer_work *work,
                                           struct tokenizer_ids *ids, struct gsae_error *err)
{
    json_error_t jerr;
    json_t *obj = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    const json_t *text = json_object_get(obj, "text"), *bos = json_object_get(obj, "add_bos");
    enum gsae_status st = GSAE_OK;
    if (!obj)
        st = gsae_fail(err, GSAE_EFORMAT, "stdin line %zu: %s", line_no, jerr.text);
    else if (!json_is_string(text))
        st = gsae_fail(err, GSAE_EFORMAT, "stdin line %zu: \"text\" missing or not a string",
                       line_no);
    else if (bos && !json_is_boolean(bos))
        st = gsae_fail(err, GSAE_EFORMAT, "stdin line %zu: \"add_bos\" is not true/false", line_no);
    if (st == GSAE_OK) {
        ids->n = 0;
        st = tokenizer_encode(tk, json_string_value(text), json_string_length(text),
                              !bos || json_is_true(bos), work, ids, err);
    }
    if (st == GSAE_OK) {
        fputs("{\"ids\": [", stdout);
        for (size_t i = 0; i < ids->n; i++)
            printf(i ? ", %d" : "%d", (int)ids->ids[i]);
        fputs("]}\n", stdout);
    }
    json_decref(obj);
    return st;
}

/* The next line of in from *at (without its newline); false at the end. */
static bool next_line(const struct tokenizer_text *in, size_t *at, const char **line, size_t *len)
{
    if (*at >= in->len) return false;
    const char *nl = memchr(in->data + *at, '\n', in->len - *at);
    size_t end = nl ? (size_t)(nl - in->data) : in->len;
    *line = in->data + *at;
    *len = end - *at;
    *at = end + 1;
    return true;
}

static enum gsae_status tokenize_jsonl(const struct tokenizer *tk, const struct tokenizer_text *in,
                                       struct gsae_error *err)
{
    struct tokenizer_work work = {0};
    struct tokenizer_ids ids = {0};
    enum gsae_status st = GSAE_OK;
    const char *line;
    size_t at = 0, len, line_no = 0;
    while (st == GSAE_OK && next_line(in, &at, &line, &len))
        st = tokenize_json_line(tk, line, len, ++line_no, &work, &ids, err);
    tokenizer_work_free(&work);
    tokenizer_ids_free(&ids);
    return st;
}

/* One JSON line {"ids": [...]} -> {"text": "..."} on stdout. */
static enum gsae_status detokenize_json_line(const struct tokenizer *tk, const char *line,
                                             size_t len, size_t line_no, bool skip_special,
                                             struct tokenizer_ids *ids, struct tokenizer_text *out,
                                             struct gsae_error *err)
{
    json_error_t jerr;
    json_t *obj = json_loadb(line, len, 0, &jerr), *result = NULL;
    const json_t *list = json_object_get(obj, "ids");
    enum gsae_status st = GSAE_OK;
    if (!obj)
        st = gsae_fail(err, GSAE_EFORMAT, "stdin line %zu: %s", line_no, jerr.text);
    else if (!json_is_array(list))
        st = gsae_fail(err, GSAE_EFORMAT, "stdin line %zu: \"ids\" missing or not a list", line_no);
    ids->n = out->len = 0;
    for (size_t i = 0; st == GSAE_OK && i < json_array_size(list); i++) {
        const json_t *v = json_array_get(list, i);
        json_int_t id = json_integer_value(v);
        if (!json_is_integer(v) || id < INT32_MIN || id > INT32_MAX)
            st = gsae_fail(err, GSAE_EFORMAT, "stdin line %zu: ids[%zu] is not an id", line_no, i);
        else
            st = tokenizer_ids_push(ids, (int32_t)id, err);
    }
    if (st == GSAE_OK && (st = tokenizer_decode(tk, ids->ids, ids->n, skip_special, out, err)))
        gsae_error_prefix(err, "stdin line %zu", line_no);
    if (st == GSAE_OK) {
        result = json_pack("{s:s%}", "text", out->data ? out->data : "", out->len);
        char *s = result ? json_dumps(result, JSON_ENSURE_ASCII) : NULL;
        if (!s)
            st = gsae_fail(err, GSAE_ENOMEM, "stdin line %zu: cannot format the text", line_no);
        else
            printf("%s\n", s);
        free(s);
    }
    json_decref(result);
    json_decref(obj);
    return st;
}

static enum gsae_status detokenize_jsonl(const struct tokenizer *tk,
                                         const struct tokenizer_text *in, bool skip_special,
                                         struct gsae_error *err)
{
    struct tokenizer_ids ids = {0};
    struct tokenizer_text out = {0};
    enum gsae_status st = GSAE_OK;
    const char *line;
    size_t at = 0, len, line_no = 0;
    while (st == GSAE_OK && next_line(in, &at, &line, &len))
        st = detokenize_json_line(tk, line, len, ++line_no, skip_special, &ids, &out, err);
    tokenizer_ids_free(&ids);
    tokenizer_text_free(&out);
    return st;
}

static int finish(const char *cmd, enum gsae_status st, const struct gsae_error *err)
{
    if (st != GSAE_OK) {
        cli_report(cmd, err);
        return 1;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "gsae %s: writing stdout: %s\n", cmd, strerror(errno));
        return 1;
    }
    return 0;
}

int cmd_tokenize(int argc, char **argv)
{
    struct tokenize_opts o;
    int rc = parse_opts(argc, argv, false, &o);
    if (rc != OPT_RUN) return rc;
    struct gsae_error err = {0};
    struct tokenizer tk = {0};
    struct tokenizer_text in = {0};
    struct tokenizer_ids ids = {0};
    enum gsae_status st = tokenizer_load(&tk, o.tokenizer, &err);
    if (st == GSAE_OK) st = tokenizer_read_file("-", &in, &err);
    if (st == GSAE_OK && o.jsonl)
        st = tokenize_jsonl(&tk, &in, &err);
    else if (st == GSAE_OK) {
        st = tokenizer_encode(&tk, in.data, in.len, !o.no_bos, NULL, &ids, &err);
        if (st == GSAE_OK) print_ids(&tk, &ids, o.pieces);
    }
    rc = finish(argv[0], st, &err);
    tokenizer_ids_free(&ids);
    tokenizer_text_free(&in);
    tokenizer_free(&tk);
    return rc;
}

/* Parse decimal ids separated by whitespace, commas or brackets. */
static enum gsae_status parse_ids(const struct tokenizer_text *in, struct tokenizer_ids *ids,
                                  struct gsae_error *err)
{
    enum gsae_status st = GSAE_OK;
    const char *p = in->data, *end = in->data + in->len;
    while (p < end && st == GSAE_OK) {
        if (strchr(" \t\r\n,[]", *p) && *p) {
            p++;
            continue;
        }
        const char *stop = p;
        int64_t v = 0;
        enum gsae_status ps = gsae_parse_i64_prefix(p, &stop, INT32_MIN, INT32_MAX, &v);
        if (stop == p || stop > end)
            return gsae_fail(err, GSAE_EFORMAT, "stdin: byte %zu: expected an integer id",
                             (size_t)(p - in->data));
        if (ps != GSAE_OK)
            return gsae_fail(err, GSAE_ERANGE, "stdin: byte %zu: id %.20s out of range",
                             (size_t)(p - in->data), p);
        st = tokenizer_ids_push(ids, (int32_t)v, err);
        p = stop;
    }
    return st;
}

int cmd_detokenize(int argc, char **argv)
{
    struct tokenize_opts o;
    int rc = parse_opts(argc, argv, true, &o);
    if (rc != OPT_RUN) return rc;
    struct gsae_error err = {0};
    struct tokenizer tk = {0};
    struct tokenizer_text in = {0}, out = {0};
    struct tokenizer_ids ids = {0};
    enum gsae_status st = tokenizer_load(&tk, o.tokenizer, &err);
    if (st == GSAE_OK) st = tokenizer_read_file("-", &in, &err);
    if (st == GSAE_OK && o.jsonl)
        st = detokenize_jsonl(&tk, &in, !o.keep_special, &err);
    else {
        /* NUL-terminate for strtoll */
        if (st == GSAE_OK) st = tokenizer_text_append(&in, "", 0, &err);
        if (st == GSAE_OK) st = parse_ids(&in, &ids, &err);
        if (st == GSAE_OK) st = tokenizer_decode(&tk, ids.ids, ids.n, !o.keep_special, &out, &err);
        if (st == GSAE_OK && out.len) fwrite(out.data, 1, out.len, stdout);
    }
    rc = finish(argv[0], st, &err);
    tokenizer_ids_free(&ids);
    tokenizer_text_free(&in);
    tokenizer_text_free(&out);
    tokenizer_free(&tk);
    return rc;
}
