/* job_check.h: a job's steps checked against their commands' option tables (jobs/opt.h)
 * before anything runs. */
#pragma once

#include "../io/job.h"
#include "../src/gsae.h"

/* Whether key is one the job layer consumes itself (command, ranks, launcher, args, foreach). */
bool job_check_reserved(const char *key);

/* w with every "{each}" replaced by each (none when each is NULL); malloc'd, NULL when out of
 * memory. */
char *job_subst_each(const char *w, const char *each);

/* Check every step of [job] steps (each foreach value) whose command has an option table:
 * unknown keys, bad values, missing required options. err names the file (path), section,
 * key and the closest valid key. */
enum gsae_status job_check_steps(const struct job *job, const char *path, struct gsae_error *err);
