/* gsae.h: status codes, error reports, assertions and checked narrowing shared by every module.
 *
 * Library code (src/, io/, mpi/) never prints, exits or aborts on bad input: it returns an
 * enum gsae_status and fills a caller-supplied struct gsae_error whose message names the file,
 * the field, what was found and what was expected. GSAE_ASSERT marks broken invariants (bugs)
 * and is the one sanctioned way for library code to stop the process.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gsae_status {
    GSAE_OK = 0,
    GSAE_EINVAL,    /* bad argument or option */
    GSAE_EIO,       /* open/read/write/mmap failed */
    GSAE_EFORMAT,   /* a file's content is malformed or inconsistent */
    GSAE_ENOMEM,    /* allocation failed */
    GSAE_ERANGE,    /* a value does not fit (overflow, narrowing, index out of range) */
    GSAE_ENOTFOUND, /* a named tensor, key or file is missing */
    GSAE_EMPI,      /* an MPI call failed, or another rank failed */
    GSAE_EINTR,     /* stopped on request (signal); work so far is committed */
    GSAE_EINTERNAL  /* a library we call reported something unexpected */
};

/* Exit status of a command that stopped on request at a resumable point (EX_TEMPFAIL from
 * sysexits.h): GSAE_EINTR at the top. `gsae run` stops the job with it and slurm/gsae.sbatch
 * requeues it (jobs/README.md). */
#define GSAE_EXIT_RESUMABLE 75

#define GSAE_ERROR_MSG_LEN 1024

struct gsae_error {
    enum gsae_status code;
    char msg[GSAE_ERROR_MSG_LEN];
};

/* Record a failure in err (may be NULL) and return code. printf-style message. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
enum gsae_status
gsae_fail(struct gsae_error *err, enum gsae_status code, const char *fmt, ...);

/* Prefix the message already in err with "prefix: " (adds context on the way up). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void gsae_error_prefix(struct gsae_error *err, const char *fmt, ...);

/* Reset err to GSAE_OK with an empty message. */
void gsae_error_clear(struct gsae_error *err);

/* Name of a status code ("EFORMAT", ...). */
const char *gsae_status_name(enum gsae_status code);

/* Narrow an int64_t to int for MPI/ScaLAPACK/netCDF boundaries; fails with GSAE_ERANGE. */
enum gsae_status gsae_narrow_int(int64_t v, int *out, struct gsae_error *err);

/* Parse all of s as a decimal integer in [min, max]: an optional '-' and digits, nothing else
 * (no spaces, no '+', no trailing characters). Sets *out and returns true, or returns false and
 * leaves *out alone. The one parser of integers given by users (options, job keys, environment
 * variables, file attributes). */
bool gsae_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* The same for an unsigned 64-bit integer (digits only, any value up to UINT64_MAX). */
bool gsae_parse_u64(const char *s, uint64_t *out);

/* The integer at the start of s (an optional '-' and digits) for lists and ranges ("3-7,9"):
 * *end gets the first character after it (s when there is none). GSAE_OK and *out set;
 * GSAE_EINVAL (no digits) or GSAE_ERANGE (overflow, or outside [min, max]), *out unchanged. */
enum gsae_status gsae_parse_i64_prefix(const char *s, const char **end, int64_t min, int64_t max,
                                       int64_t *out);

/* Multiply sizes with overflow detection: *out = a * b; returns 0 on overflow. */
int gsae_mul_size(size_t a, size_t b, size_t *out);

/* Called by GSAE_ASSERT: prints file:line and the expression (with the MPI world rank when the
 * launcher exported it) and aborts, which makes mpirun/srun stop the other ranks too. */
_Noreturn void gsae_assert_fail(const char *expr, const char *file, int line);

#define GSAE_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) gsae_assert_fail(#cond, __FILE__, __LINE__);                                  \
    } while (0)

/* Version string of this build (git describe, or "unknown"). */
const char *gsae_version(void);
