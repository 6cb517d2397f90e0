/* opt.h: a command's options as data.
 *
 * Each command declares one table of typed options (struct opt) and one struct opt_cmd that
 * names it. opt_parse fills the command's options struct from argv (`--name value`,
 * `--name=value`, `--flag`, positional words), opt_check_section validates a job step's
 * keys against the same table (jobs/README.md: `key = value` is passed as `--key value`,
 * `true` passes `--key` alone, `false` leaves it out), and opt_usage prints the --help text
 * generated from it. Errors name the option (for a job: file, section and key) and the
 * closest valid name.
 *
 * Destinations are offsets into the options struct (offsetof), so one table serves argv and
 * jobs alike; a group of options shared by several commands (the SAE session's) is a table
 * of its own placed at a base offset. Strings point into argv (or the job); lists are
 * malloc'd (opt_free).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../src/gsae.h"

enum opt_type {
    OPT_STR,  /* const char *: a string or path */
    OPT_I64,  /* int64_t in [min, max] */
    OPT_INT,  /* int in [min, max] */
    OPT_U64,  /* uint64_t, any value */
    OPT_F64,  /* double in [min, max] (finite) */
    OPT_FLAG, /* bool: --name alone sets it */
    OPT_ENUM, /* int: the value of the choice named */
    OPT_LIST, /* struct opt_list: every occurrence appended (repeatable) */
};

enum {
    OPT_REQUIRED = 1, /* must be given (as --name or as its positional word) */
    OPT_POS = 2,      /* also filled by the next positional word; a list takes all that remain */
    OPT_HIDDEN = 4,   /* accepted but left out of --help */
    OPT_OPTVAL = 8,   /* OPT_ENUM whose value may be left out: `--name` alone (a job's `true`)
                       * means the first choice; the next word is its value only when it is
                       * one of the choices */
};

/* A named value: an OPT_ENUM choice, or a word an OPT_INT/OPT_I64 accepts besides numbers
 * ("auto" for --stages). */
struct opt_choice {
    const char *name;
    int64_t value;
};

struct opt {
    const char *name; /* "top" for --top; NULL for a positional-only word; NULL + !meta ends */
    enum opt_type type;
    size_t off;      /* offsetof(options struct, field) */
    const char *def; /* default, as it would be written on the command line; NULL: none */
    double min, max; /* numeric range (both 0: any value of the type) */
    const struct opt_choice *choices; /* {NULL} terminated */
    unsigned flags;                   /* OPT_REQUIRED | OPT_POS | OPT_HIDDEN */
    const char *meta;                 /* value name in --help ("N", "PATH"); positional name */
    const char *help;                 /* one line */
};

/* Repeatable string option. */
struct opt_list {
    const char **v; /* malloc'd; entries point into argv */
    int n;
};

struct opt_group {
    const struct opt *opts; /* ends at {0} */
    size_t base;            /* where the group's struct sits in the command's */
};

struct opt_cmd {
    const char *name;     /* "maxact", or "store dump" */
    const char *synopsis; /* NULL: generated from the table; else the text after "gsae NAME " */
    const char *about;    /* paragraph after the usage (may be NULL) */
    size_t size;          /* sizeof the options struct */
    struct opt_group groups[4];
    size_t given; /* OPT_GIVEN(struct, field): a uint64_t that gets bit i set when the i-th
                   * option (all groups in order) was given; 0: not recorded */
};

#define OPT_GIVEN(type, field) (offsetof(type, field) + 1)

/* opt_parse's answer when the command should go on (anything else is its exit status). */
#define OPT_RUN (-1)

/* Fill dst (zeroed first, then the defaults) from argv[1..argc). -h/--help prints the usage
 * on stdout and returns 0; a bad option prints "gsae NAME: message" (rank-prefixed under
 * mpirun, on every rank) and returns 2; else OPT_RUN. Unless it returns OPT_RUN, dst holds
 * nothing to free. */
int opt_parse(const struct opt_cmd *c, int argc, char **argv, void *dst);

/* The same, returning the problem in err instead of printing (GSAE_OK on success); dst is to
 * be passed to opt_free either way. */
enum gsae_status opt_parse_err(const struct opt_cmd *c, int argc, char **argv, void *dst,
                               struct gsae_error *err);

/* Set the one option called name (without "--") in dst, which opt_parse or opt_defaults
 * prepared: a flag takes true/false (also 1/0, yes/no). GSAE_ENOTFOUND for an unknown name,
 * GSAE_EINVAL (err: "'VALUE', expected ...") for a bad value. */
enum gsae_status opt_set(const struct opt_cmd *c, void *dst, const char *name, const char *value,
                         struct gsae_error *err);

/* Zero dst and apply the table's defaults. */
void opt_defaults(const struct opt_cmd *c, void *dst);

/* Release the lists opt_parse allocated. */
void opt_free(const struct opt_cmd *c, void *dst);

/* Whether the option called name was given, by the bits of opt_cmd.given. */
bool opt_given(const struct opt_cmd *c, const void *dst, const char *name);

/* Print "usage: gsae NAME ..." and one line per option, then the about text. */
void opt_usage(const struct opt_cmd *c, FILE *f);

/* One job step section as key/value pairs (job-layer keys already removed) and its
 * positional `args` words: every key must name an option of c (`true`/`false` for flags),
 * every value must parse, every required option must be present. On failure err says
 * "FILE: [SECTION] KEY: problem (did you mean NEAR?)". */
enum gsae_status opt_check_section(const struct opt_cmd *c, const char *file, const char *section,
                                   const char *const *keys, const char *const *values, int n,
                                   const char *const *args, int n_args, struct gsae_error *err);

/* Whether c has an option called name (without "--"). */
bool opt_has(const struct opt_cmd *c, const char *name);

/* The table of the command called name, or NULL (jobs/opt_cmds.c). */
const struct opt_cmd *opt_cmd_find(const char *name);

/* Levenshtein distance of a and b (for "did you mean"). */
int opt_distance(const char *a, const char *b);
