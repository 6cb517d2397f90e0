/* check.h: assertions and helpers shared by the cmocka unit tests (tests/unit/test_*.c).
 *
 * Header-only (static inline functions); include it after <cmocka.h>. Every helper fails the
 * running test (cmocka's fail_msg) instead of returning an error, so a test reads as a list of
 * contracts:
 *   check_tmpdir / check_rmtree     a scratch directory under $TMPDIR (or /tmp), removed after
 *   check_write / check_write_text  write a file whole (binary or text)
 *   check_slurp                     read a file whole (NUL-terminated, caller frees)
 *   check_fill_normal               deterministic N(0, sd^2) floats (src/rng)
 *   check_close / assert_all_close  |got - want| <= atol + rtol |want|, element-wise
 *   check_error                     a status and an error message naming what it must name
 *   testdata                        a path under tests/data (tests/common/testdata.h; define
 *                                   TESTDATA_GEMMA_TOKENIZER before this header for its fixture)
 *
 * MPI tests that run on several ranks (under mpirun from tests/mpi/ and alone in the unit suite)
 * cannot stop one rank at a failed assertion: the others would wait in a collective. Included
 * after <mpi.h> with CHECK_RANKS defined (and without cmocka), this header gives them
 *   CHECK(cond)                     count and print a failed check, naming the rank, and go on
 *   (check_fill_normal and check_close as above)
 *   check_ranks_finish()            sum the failures of every rank, print "N ranks: ok|FAIL" on
 *                                   rank 0 and return the exit status (0 when none failed)
 */
#pragma once

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/gsae.h"
#include "../../src/rng.h"
#include "testdata.h"

/* n floats N(0, sd^2) from src/rng seeded with seed: the same values on every machine. */
static inline void check_fill_normal(float *x, int64_t n, uint64_t seed, double sd)
{
    struct rng r;
    rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(rng_normal(&r) * sd);
}

/* |got - want| <= atol + rtol |want| (false for NaN). */
static inline bool check_close(double got, double want, double rtol, double atol)
{
    return fabs(got - want) <= atol + rtol * fabs(want);
}

#ifndef CHECK_RANKS
/* Create "$TMPDIR/gsae-TAG.XXXXXX" (TMPDIR unset or empty: /tmp) into buf; returns buf. */
static inline const char *check_tmpdir(char *buf, size_t cap, const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, cap, "%s/gsae-%s.XXXXXX", tmp && tmp[0] ? tmp : "/tmp", tag);
    if (!mkdtemp(buf)) fail_msg("mkdtemp %s failed", buf);
    return buf;
}

/* Remove path and everything below it (symbolic links are removed, not followed). Returns 0, or
 * -1 when something could not be removed. */
static inline int check_rmtree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) return -1;
    if (!S_ISDIR(sb.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        size_t n = strlen(path) + strlen(e->d_name) + 2;
        char *child = malloc(n);
        if (!child) {
            rc = -1;
            break;
        }
        snprintf(child, n, "%s/%s", path, e->d_name);
        if (check_rmtree(child) != 0) rc = -1;
        free(child);
    }
    closedir(d);
    return rmdir(path) == 0 ? rc : -1;
}

/* Write len bytes to path (created or truncated). */
static inline void check_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot create %s", path);
    if (fwrite(data, 1, len, f) != len || fclose(f) != 0) fail_msg("cannot write %s", path);
}

/* Write a NUL-terminated text to path. */
static inline void check_write_text(const char *path, const char *text)
{
    check_write(path, text, strlen(text));
}

/* Read the whole file at path into a malloc'd buffer with a NUL after its *len bytes (len may be
 * NULL). Caller frees. */
static inline char *check_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    if (fseek(f, 0, SEEK_END) != 0) fail_msg("cannot seek %s", path);
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) fail_msg("cannot size %s", path);
    char *b = malloc((size_t)n + 1);
    if (!b) fail_msg("out of memory reading %s", path);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) fail_msg("short read of %s", path);
    fclose(f);
    b[n] = '\0';
    if (len) *len = (size_t)n;
    return b;
}

/* check_close for n floats against double references; fails naming the first element off. */
static inline void assert_all_close(const float *got, const double *want, int64_t n, double rtol,
                                    double atol)
{
    for (int64_t i = 0; i < n; i++)
        if (!check_close((double)got[i], want[i], rtol, atol))
            fail_msg("element %lld: got %.9g, expected %.9g (rtol %g, atol %g)", (long long)i,
                     (double)got[i], want[i], rtol, atol);
}

/* The call returned `want` and err->msg contains every one of the NULL-terminated needles (the
 * file, field or key an error message must name). On failure prints the message it got. */
#define check_error(got, want, err, ...)                                                           \
    check_error_((got), (want), (err), __VA_ARGS__, (char *)NULL)
static inline void check_error_(enum gsae_status got, enum gsae_status want,
                                const struct gsae_error *err, ...)
{
    if (got != want)
        fail_msg("status %s (%d), expected %s (%d): %s", gsae_status_name(got), (int)got,
                 gsae_status_name(want), (int)want, err->msg);
    va_list ap;
    va_start(ap, err);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
        if (!strstr(err->msg, needle)) {
            va_end(ap);
            fail_msg("message \"%s\" does not name \"%s\"", err->msg, needle);
        }
    va_end(ap);
}
#else /* CHECK_RANKS */

static int check_failed; /* failed checks on this rank */

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            int r_ = -1;                                                                           \
            MPI_Comm_rank(MPI_COMM_WORLD, &r_);                                                    \
            fprintf(stderr, "rank %d: %s:%d: check failed: %s\n", r_, __FILE__, __LINE__, #cond);  \
            check_failed++;                                                                        \
        }                                                                                          \
    } while (0)

/* Collective on MPI_COMM_WORLD: the exit status of the whole run (0: no rank failed a check). */
static inline int check_ranks_finish(void)
{
    int failed = 0, rank = 0, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (MPI_Allreduce(&check_failed, &failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
        failed = 1;
    if (rank == 0) printf("%d ranks: %s\n", size, failed ? "FAIL" : "ok");
    return failed ? 1 : 0;
}
#endif
