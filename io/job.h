/* job.h: job files: one experiment each, an INI file read with libinih.
 *
 * A job is an ordered list of (section, key, value) entries. Loading a file first loads the
 * files named by its `[job] include = a.ini, b.ini` (paths relative to the including file, up
 * to JOB_MAX_INCLUDE_DEPTH deep), then its own entries, which override included ones; a key
 * keeps the position where it first appeared, so step order is file order. Afterwards
 * `--set section.key=value` overrides (job_set) and `${section.key}` references are expanded
 * (job_resolve); `${env.NAME}` reads the environment. Continuation lines (indented) are joined
 * with '\n'. See jobs/README.md for the keys `gsae run` understands.
 *
 * Strings returned by job_get point into the job and stay valid until the next job_set,
 * job_resolve or job_free.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../src/gsae.h"

#define JOB_MAX_INCLUDE_DEPTH 8

struct job_entry {
    char *section, *key, *value; /* owned */
    char *origin;                /* "file:line" or "--set"; owned */
};

struct job {
    char *path;                /* the top-level file, as given; owned */
    struct job_entry *entries; /* in order of first appearance; owned */
    int64_t n_entries, cap_entries;
};

/* Load path (and its includes) into a zeroed job. On failure the job is left for job_free. */
enum gsae_status job_load(struct job *job, const char *path, struct gsae_error *err);

/* Apply "section.key=value" (the key may contain dots after the section's). Local. */
enum gsae_status job_set(struct job *job, const char *assignment, struct gsae_error *err);

/* Set section.key to value (adding the entry when absent). */
enum gsae_status job_put(struct job *job, const char *section, const char *key, const char *value,
                         const char *origin, struct gsae_error *err);

/* Expand every ${section.key} and ${env.NAME} in all values; fails naming the entry on an
 * unknown reference or a cycle. */
enum gsae_status job_resolve(struct job *job, struct gsae_error *err);

/* The value of section.key, or NULL. */
const char *job_get(const struct job *job, const char *section, const char *key);

/* The value split on commas and whitespace into a newly allocated NULL-terminated array of
 * newly allocated strings (free with job_list_free); an absent key gives an empty list. */
enum gsae_status job_get_list(const struct job *job, const char *section, const char *key,
                              char ***list, int64_t *n, struct gsae_error *err);
void job_list_free(char **list);

/* Write the job as an INI file (sections in order, continuation lines indented). */
enum gsae_status job_write(const struct job *job, FILE *out, struct gsae_error *err);

/* Release everything; the job is zeroed and may be freed again. */
void job_free(struct job *job);
