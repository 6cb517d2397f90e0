/* fuzz_job.c: the job-file reader (io/job.c, libinih underneath) on arbitrary bytes.
 *
 * The input is written as job.ini in a private temporary directory that also holds base.ini,
 * so `[job] include = base.ini` (or job.ini itself: a cycle) resolves. The job is loaded, a
 * --set override applied, ${...} references resolved, every value split as a list, and the job
 * written out. Whatever the input: no crash or leak; a failure leaves a message; a loaded job
 * has a section, key and value for every entry, found again by job_get.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../io/job.h"

/* Made on the first input and kept for the process (a fuzz target has no teardown). */
static char dir[4096], job_path[4200], base_path[4200];

static void cleanup(void)
{
    unlink(job_path);
    unlink(base_path);
    rmdir(dir);
}

static void setup_once(void)
{
    if (dir[0]) return;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/gsae-fuzz-job.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) abort();
    snprintf(job_path, sizeof job_path, "%s/job.ini", dir);
    snprintf(base_path, sizeof base_path, "%s/base.ini", dir);
    FILE *f = fopen(base_path, "w");
    if (!f) abort();
    fputs("[run]\nsteps = harvest, pca\nlayer = 20\n[harvest]\nout = ${run.layer}/store\n", f);
    fclose(f);
    setenv("GSAE_FUZZ_VAR", "1", 1);
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    FILE *f = fopen(job_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);

    struct job job = {0};
    struct gsae_error err = {0};
    enum gsae_status st = job_load(&job, job_path, &err);
    if (st == GSAE_OK) {
        for (int64_t i = 0; i < job.n_entries; i++) {
            const struct job_entry *e = &job.entries[i];
            GSAE_ASSERT(e->section && e->key && e->value && e->origin && e->section[0]);
            GSAE_ASSERT(job_get(&job, e->section, e->key) == e->value);
        }
        st = job_set(&job, "run.layer=7", &err);
        GSAE_ASSERT(st == GSAE_OK && strcmp(job_get(&job, "run", "layer"), "7") == 0);
    }
    if (st == GSAE_OK) st = job_resolve(&job, &err);
    if (st != GSAE_OK) GSAE_ASSERT(err.msg[0] != '\0');
    for (int64_t i = 0; i < job.n_entries; i++) {
        char **list = NULL;
        int64_t n = 0;
        GSAE_ASSERT(job_get_list(&job, job.entries[i].section, job.entries[i].key, &list, &n,
                                 &err) == GSAE_OK);
        for (int64_t k = 0; k < n; k++)
            GSAE_ASSERT(list[k] && list[k][0] && !strchr(list[k], ','));
        GSAE_ASSERT(list[n] == NULL);
        job_list_free(list);
    }
    FILE *out = fopen("/dev/null", "w");
    if (out) {
        GSAE_ASSERT(job_write(&job, out, &err) == GSAE_OK);
        fclose(out);
    }
    job_free(&job);
    return 0;
}
