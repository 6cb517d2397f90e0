/* gsae.c: error reports, assertions and narrowing helpers (see gsae.h). */
#include "gsae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef GSAE_VERSION
#define GSAE_VERSION "unknown"
#endif

static const char *const status_names[] = {
    [GSAE_OK] = "OK",
    [GSAE_EINVAL] = "EINVAL",
    [GSAE_EIO] = "EIO",
    [GSAE_EFORMAT] = "EFORMAT",
    [GSAE_ENOMEM] = "ENOMEM",
    [GSAE_ERANGE] = "ERANGE",
    [GSAE_ENOTFOUND] = "ENOTFOUND",
    [GSAE_EMPI] = "EMPI",
    [GSAE_EINTR] = "EINTR",
    [GSAE_EINTERNAL] = "EINTERNAL",
};

enum gsae_status gsae_fail(struct gsae_error *err, enum gsae_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void gsae_error_prefix(struct gsae_error *err, const char *fmt, ...)
{
    if (!err) return;
    char old[GSAE_ERROR_MSG_LEN];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof err->msg - 2) return; /* no room left for the old message */
    size_t at = (size_t)n;
    err->msg[at++] = ':';
    err->msg[at++] = ' ';
    size_t room = sizeof err->msg - at - 1, len = strlen(old);
    if (len > room) len = room;
    memcpy(err->msg + at, old, len);
    err->msg[at + len] = '\0';
}

void gsae_error_clear(struct gsae_error *err)
{
    if (err) {
        err->code = GSAE_OK;
        err->msg[0] = '\0';
    }
}

const char *gsae_status_name(enum gsae_status code)
{
    if ((unsigned)code < sizeof status_names / sizeof status_names[0] && status_names[code])
        return status_names[code];
    return "UNKNOWN";
}

enum gsae_status gsae_narrow_int(int64_t v, int *out, struct gsae_error *err)
{
    if (v < -2147483647 - 1 || v > 2147483647)
        return gsae_fail(err, GSAE_ERANGE, "value %lld does not fit in an int", (long long)v);
    *out = (int)v;
    return GSAE_OK;
}

int gsae_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

_Noreturn void gsae_assert_fail(const char *expr, const char *file, int line)
{
    const char *rank = getenv("OMPI_COMM_WORLD_RANK");
    if (!rank) rank = getenv("PMI_RANK");
    if (rank)
        fprintf(stderr, "rank %s: %s:%d: assertion failed: %s\n", rank, file, line, expr);
    else
        fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}

const char *gsae_version(void)
{
    return GSAE_VERSION;
}

/* Digits at s into *v; the first non-digit in *end. GSAE_EINVAL: no digit; GSAE_ERANGE: more
 * than UINT64_MAX. */
static enum gsae_status parse_digits(const char *s, const char **end, uint64_t *v)
{
    const char *p = s;
    bool over = false;
    *v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        over = over || *v > (UINT64_MAX - d) / 10;
        *v = *v * 10 + d;
    }
    *end = p;
    return p == s ? GSAE_EINVAL : over ? GSAE_ERANGE : GSAE_OK;
}

enum gsae_status gsae_parse_i64_prefix(const char *s, const char **end, int64_t min, int64_t max,
                                       int64_t *out)
{
    bool neg = s[0] == '-';
    uint64_t mag = 0;
    enum gsae_status st = parse_digits(s + neg, end, &mag);
    if (st == GSAE_EINVAL) *end = s;
    if (st != GSAE_OK) return st;
    /* the magnitude of INT64_MIN is INT64_MAX + 1 */
    if (mag > (uint64_t)INT64_MAX + (neg ? 1u : 0u)) return GSAE_ERANGE;
    int64_t v = neg ? (mag == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    if (v < min || v > max) return GSAE_ERANGE;
    *out = v;
    return GSAE_OK;
}

bool gsae_parse_u64(const char *s, uint64_t *out)
{
    const char *end = s;
    uint64_t v = 0;
    if (!s || parse_digits(s, &end, &v) != GSAE_OK || *end) return false;
    *out = v;
    return true;
}

bool gsae_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    const char *end = s;
    int64_t v = 0;
    if (!s || gsae_parse_i64_prefix(s, &end, min, max, &v) != GSAE_OK || *end) return false;
    *out = v;
    return true;
}
