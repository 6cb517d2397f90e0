/* job_check.c: check job steps against option tables (see job_check.h). */
#include "job_check.h"

#include <stdlib.h>
#include <string.h>

#include "opt.h"

#define CHECK_MAX_KEYS 256

bool job_check_reserved(const char *key)
{
    return strcmp(key, "command") == 0 || strcmp(key, "ranks") == 0 || strcmp(key, "args") == 0 ||
           strcmp(key, "launcher") == 0 || strcmp(key, "foreach") == 0;
}

char *job_subst_each(const char *w, const char *each)
{
    size_t n = strlen(w) + 1;
    for (const char *p = each ? strstr(w, "{each}") : NULL; p; p = strstr(p + 6, "{each}"))
        n += strlen(each);
    char *buf = malloc(n), *q = buf;
    if (!buf) return NULL;
    for (const char *p = w; *p;) {
        if (each && strncmp(p, "{each}", 6) == 0) {
            q += strlen(strcpy(q, each));
            p += 6;
        } else {
            *q++ = *p++;
        }
    }
    *q = '\0';
    return buf;
}

/* Whether the command takes key through gsae's own layers: --revision goes with --model
 * (jobs/hub_cli.h) whether or not the command lists it. */
static bool hub_key(const struct opt_cmd *c, const char *key)
{
    return strcmp(key, "revision") == 0 && !opt_has(c, "revision") && opt_has(c, "model");
}

static enum gsae_status check_instance(const struct job *job, const char *path, const char *step,
                                       const struct opt_cmd *c, const char *each,
                                       struct gsae_error *err)
{
    const char *keys[CHECK_MAX_KEYS];
    char *values[CHECK_MAX_KEYS];
    int n = 0;
    enum gsae_status st = GSAE_OK;
    for (int64_t i = 0; i < job->n_entries && st == GSAE_OK; i++) {
        const struct job_entry *e = &job->entries[i];
        if (strcmp(e->section, step) != 0 || job_check_reserved(e->key) || hub_key(c, e->key))
            continue;
        if (n == CHECK_MAX_KEYS) {
            st = gsae_fail(err, GSAE_ERANGE, "%s: [%s]: too many keys", path, step);
            break;
        }
        keys[n] = e->key;
        if (!(values[n++] = job_subst_each(e->value, each)))
            st = gsae_fail(err, GSAE_ENOMEM, "out of memory");
    }
    char **args = NULL;
    int64_t n_args = 0;
    if (st == GSAE_OK) st = job_get_list(job, step, "args", &args, &n_args, err);
    for (int64_t i = 0; i < n_args && st == GSAE_OK; i++) {
        char *s = job_subst_each(args[i], each);
        if (!s) st = gsae_fail(err, GSAE_ENOMEM, "out of memory");
        free(args[i]);
        args[i] = s;
    }
    if (st == GSAE_OK)
        st = opt_check_section(c, path, step, keys, (const char *const *)values, n,
                               (const char *const *)args, (int)n_args, err);
    for (int i = 0; i < n; i++)
        free(values[i]);
    job_list_free(args);
    return st;
}

enum gsae_status job_check_steps(const struct job *job, const char *path, struct gsae_error *err)
{
    char **steps = NULL, **items = NULL;
    int64_t n_steps = 0, n_items = 0;
    enum gsae_status st = job_get_list(job, "job", "steps", &steps, &n_steps, err);
    for (int64_t s = 0; s < n_steps && st == GSAE_OK; s++) {
        const char *command = job_get(job, steps[s], "command");
        const struct opt_cmd *c = opt_cmd_find(command ? command : steps[s]);
        if (!c) continue;
        if (!job_get(job, steps[s], "foreach")) {
            st = check_instance(job, path, steps[s], c, NULL, err);
            continue;
        }
        st = job_get_list(job, steps[s], "foreach", &items, &n_items, err);
        for (int64_t i = 0; i < n_items && st == GSAE_OK; i++)
            st = check_instance(job, path, steps[s], c, items[i], err);
        job_list_free(items);
        items = NULL;
    }
    job_list_free(steps);
    return st;
}
