/* cmd_run.c: `gsae run --job FILE`: run a job file's steps, each as its own (MPI) launch.
 *
 * The driver is one serial process. For each step named in `[job] steps` it builds the step's
 * command line from its section (`--key=value` per key, see jobs/README.md), launches it with
 * `mpirun -np N` (or `srun -n N` inside a Slurm allocation, or the launcher given), copies its
 * output to the terminal and to OUT/logs/STEP.log, and records OUT/steps/STEP.done. A rerun
 * skips steps already done with the same command line, so a requeued job resumes where it
 * stopped. SIGUSR1/SIGTERM/SIGINT are forwarded to the running step; a step that exits 75
 * ("stopped on request, resumable") stops the job with exit status 75. At the end the driver
 * writes OUT/report.html (`gsae report OUT`) unless `[job] report = false`.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../io/dirs.h"
#include "../io/job.h"
#include "../io/results_schema.h"
#include "cli.h"
#include "commands.h"
#include "job_check.h"
#include "opt.h"

#define RUN_MAX_ARGS 512

/* The running step's pid, for the signal handler: the one piece of process-wide state, since
 * a handler cannot be handed arguments. */
static volatile sig_atomic_t running_child;

static void forward_signal(int sig)
{
    if (running_child > 0) kill((pid_t)running_child, sig);
}

struct run_opts {
    const char *job_path, *out, *launcher, *get;
    struct opt_list sets;
    bool dry_run, force;
};

#define O(f) offsetof(struct run_opts, f)
static const struct opt run_table[] = {
    {"job", OPT_STR, O(job_path), .flags = OPT_REQUIRED, .meta = "FILE", .help = "the job file"},
    {"set", OPT_LIST, O(sets), .meta = "section.key=value", .help = "override a job value"},
    {"out", OPT_STR, O(out), .meta = "DIR",
     .help = "results directory (default: [job] out, else results/<job name>)"},
    {"launcher", OPT_STR, O(launcher), .meta = "'mpirun -np {n}'|none",
     .help = "how to start a multi-rank step"},
    {"force", OPT_FLAG, O(force), .help = "rerun steps already done"},
    {"dry-run", OPT_FLAG, O(dry_run), .help = "check the steps and print their command lines"},
    {"get", OPT_STR, O(get), .meta = "section.key", .help = "print one resolved value"},
    {0},
};
#undef O

const struct opt_cmd run_cmd = {
    "run",
    .synopsis = "--job FILE [--set section.key=value]... [--out DIR]\n"
                "                [--launcher 'mpirun -np {n}'|none] [--force] [--dry-run]\n"
                "       gsae run --job FILE [--set ...] --get section.key",
    .about = "Runs the steps of a job file (jobs/README.md), after checking every step's keys\n"
             "against its command's options; outputs go to --out.\n",
    .size = sizeof(struct run_opts),
    .groups = {{run_table, 0}},
};

/* snprintf into a path buffer; -1 when the result does not fit. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
fmt_path(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

/* mkdir -p */
static int make_dirs(const char *path)
{
    return dirs_make(path, NULL) == GSAE_OK ? 0 : -1;
}

/* The job's name: [job] name, else the file's base name without ".ini". */
static void job_name(const struct job *job, const char *path, char *name, size_t n)
{
    const char *v = job_get(job, "job", "name");
    if (v) {
        snprintf(name, n, "%s", v);
        return;
    }
    const char *base = strrchr(path, '/');
    snprintf(name, n, "%s", base ? base + 1 : path);
    char *dot = strrchr(name, '.');
    if (dot && strcmp(dot, ".ini") == 0) *dot = '\0';
}

/* A step's argv: launcher words (when ranks > 1), the gsae binary, the command, then
 * --key=value for each key of the step's section and the words of its `args`. */
struct step_argv {
    char *words[RUN_MAX_ARGS + 1];
    int n;
};

static void step_argv_free(struct step_argv *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->words[i]);
    *a = (struct step_argv){0};
}

static int add_word(struct step_argv *a, const char *w)
{
    if (a->n >= RUN_MAX_ARGS || !(a->words[a->n] = strdup(w))) return -1;
    a->n++;
    return 0;
}

/* Add w with every "{each}" replaced by each (when each is not NULL). */
static int add_word_each(struct step_argv *a, const char *w, const char *each)
{
    char *buf = job_subst_each(w, each);
    int rc = buf ? add_word(a, buf) : -1;
    free(buf);
    return rc;
}

/* Whether this gsae has subcommand name: `gsae --help` lists it as "  NAME  summary". */
static bool have_command(const char *self, const char *name)
{
    int fds[2];
    if (pipe(fds) != 0) return false;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(self, self, "--help", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char text[16384];
    size_t len = 0;
    for (;;) {
        ssize_t got = read(fds[0], text + len, sizeof text - 1 - len);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        len += (size_t)got;
    }
    text[len] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char needle[300];
    snprintf(needle, sizeof needle, "\n  %s ", name);
    return strstr(text, needle) != NULL;
}

static enum gsae_status build_step(const struct job *job, const char *step, const char *each,
                                   const char *launcher, const char *self, struct step_argv *a,
                                   struct gsae_error *err)
{
    const char *command = job_get(job, step, "command");
    const char *ranks_s = job_get(job, step, "ranks");
    if (!ranks_s) ranks_s = job_get(job, "job", "ranks");
    long ranks = ranks_s ? strtol(ranks_s, NULL, 10) : 1;
    if (ranks < 1 || ranks > 100000)
        return gsae_fail(err, GSAE_EINVAL, "step [%s]: ranks = '%s', expected 1 or more", step,
                         ranks_s);
    bool any = false;
    for (int64_t i = 0; i < job->n_entries; i++)
        any = any || strcmp(job->entries[i].section, step) == 0;
    if (!any)
        return gsae_fail(err, GSAE_ENOTFOUND, "[job] steps names '%s' but there is no [%s]", step,
                         step);
    if (job_get(job, step, "launcher")) launcher = job_get(job, step, "launcher");
    if (ranks > 1) {
        if (strcmp(launcher, "none") == 0)
            return gsae_fail(err, GSAE_EINVAL, "step [%s] wants %ld ranks but --launcher none",
                             step, ranks);
        char *words = strdup(launcher);
        if (!words) goto nomem;
        int bad = 0;
        for (char *save = NULL, *w = strtok_r(words, " \t", &save); w && !bad;
             w = strtok_r(NULL, " \t", &save)) {
            char num[32];
            snprintf(num, sizeof num, "%ld", ranks);
            bad = add_word(a, strcmp(w, "{n}") == 0 ? num : w);
        }
        free(words);
        if (bad) goto nomem;
    }
    if (add_word(a, self) || add_word(a, command ? command : step)) goto nomem;
    for (int64_t i = 0; i < job->n_entries; i++) {
        const struct job_entry *e = &job->entries[i];
        if (strcmp(e->section, step) != 0 || job_check_reserved(e->key) ||
            strcmp(e->value, "false") == 0)
            continue;
        char opt[512];
        if (snprintf(opt, sizeof opt, "--%s", e->key) >= (int)sizeof opt)
            return gsae_fail(err, GSAE_ERANGE, "[%s] %s: key too long", step, e->key);
        if (add_word(a, opt) || (strcmp(e->value, "true") != 0 && add_word_each(a, e->value, each)))
            goto nomem;
    }
    char **args = NULL;
    int64_t n_args = 0;
    enum gsae_status st = job_get_list(job, step, "args", &args, &n_args, err);
    for (int64_t i = 0; i < n_args && st == GSAE_OK; i++)
        if (add_word_each(a, args[i], each))
            st = gsae_fail(err, GSAE_ENOMEM, "step [%s]: too many arguments", step);
    job_list_free(args);
    return st;
nomem:
    return gsae_fail(err, GSAE_ENOMEM, "step [%s]: too many arguments or out of memory", step);
}

/* Append w to s (of capacity *cap), single-quoted when it holds anything but
 * [A-Za-z0-9_./=:,+-@%]: the line can be pasted into a shell. */
static char *append_quoted(char *s, size_t *len, size_t *cap, const char *w)
{
    bool plain = *w != '\0';
    for (const char *p = w; *p && plain; p++)
        plain = strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./=:,+-@%",
                       *p) != NULL;
    size_t need = *len + 4 * strlen(w) + 4;
    if (need > *cap) {
        size_t c = 2 * need;
        char *g = realloc(s, c);
        if (!g) {
            free(s);
            return NULL;
        }
        s = g;
        *cap = c;
    }
    if (*len) s[(*len)++] = ' ';
    if (plain) {
        memcpy(s + *len, w, strlen(w));
        *len += strlen(w);
    } else {
        s[(*len)++] = '\'';
        for (const char *p = w; *p; p++) {
            if (*p == '\'') { /* ' -> '\'' */
                memcpy(s + *len, "'\\''", 4);
                *len += 4;
            } else {
                s[(*len)++] = *p;
            }
        }
        s[(*len)++] = '\'';
    }
    s[*len] = '\0';
    return s;
}

/* The command line as one shell-quoted string (the done-marker's content), newly allocated. */
static char *argv_line(const struct step_argv *a)
{
    size_t len = 0, cap = 256;
    char *s = malloc(cap);
    if (s) s[0] = '\0';
    for (int i = 0; i < a->n && s; i++)
        s = append_quoted(s, &len, &cap, a->words[i]);
    return s;
}

static bool file_equals(const char *path, const char *content)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = strlen(content);
    char *buf = malloc(n + 2);
    size_t got = buf ? fread(buf, 1, n + 1, f) : 0;
    fclose(f);
    bool same = buf && got == n && memcmp(buf, content, n) == 0;
    free(buf);
    return same;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Run argv, copying its stdout+stderr to our stdout and to log. Returns the exit status
 * (128+signal when killed, -1 when it could not start). */
static int launch(const struct step_argv *a, const char *log_path)
{
    int fds[2];
    FILE *log = fopen(log_path, "w");
    if (!log || pipe(fds) != 0) {
        if (log) fclose(log);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fclose(log);
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execvp(a->words[0], a->words);
        fprintf(stderr, "gsae run: cannot execute %s: %s\n", a->words[0], strerror(errno));
        _exit(127);
    }
    running_child = pid;
    close(fds[1]);
    char buf[4096];
    for (;;) {
        ssize_t got = read(fds[0], buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        fwrite(buf, 1, (size_t)got, stdout);
        fflush(stdout);
        fwrite(buf, 1, (size_t)got, log);
        fflush(log); /* the log is watched while the step runs */
    }
    close(fds[0]);
    fclose(log);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    running_child = 0;
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* Run one step (for one value of its foreach list, or each = NULL) unless already done.
 * Returns 0, GSAE_EXIT_RESUMABLE or another exit status. */
static int run_instance(const struct job *job, const char *step, const char *each,
                        const struct run_opts *o, const char *launcher, const char *self,
                        const char *out, struct csv_writer *timings)
{
    struct gsae_error err = {0};
    struct step_argv a = {0};
    int rc = 0;
    char *line = NULL, marker[4096], log_path[4096], name[512];
    snprintf(name, sizeof name, "%s%s%s", step, each ? "." : "", each ? each : "");
    if (build_step(job, step, each, launcher, self, &a, &err) != GSAE_OK) {
        cli_report("run", &err);
        rc = 2;
        goto done;
    }
    if (!(line = argv_line(&a))) {
        rc = 1;
        goto done;
    }
    if (fmt_path(marker, sizeof marker, "%s/steps/%s.done", out, name) ||
        fmt_path(log_path, sizeof log_path, "%s/logs/%s.log", out, name)) {
        fprintf(stderr, "gsae run: output path too long: %s\n", out);
        rc = 2;
        goto done;
    }
    if (o->dry_run) {
        printf("%s\n", line);
        goto done;
    }
    const char *skip = job_get(job, "job", "skip_missing");
    const char *command = job_get(job, step, "command");
    if (skip && strcmp(skip, "true") == 0 && !have_command(self, command ? command : step)) {
        printf("gsae run: step %s: skipped: this gsae has no '%s' command yet\n", step,
               command ? command : step);
        goto done;
    }
    if (!o->force && file_equals(marker, line)) {
        printf("gsae run: step %s: done before, skipped (%s)\n", name, marker);
        goto done;
    }
    unlink(marker);
    printf("gsae run: step %s: %s\n", name, line);
    double t0 = now_s();
    rc = launch(&a, log_path);
    double secs = now_s() - t0;
    const char *ranks = job_get(job, step, "ranks");
    if (!ranks) ranks = job_get(job, "job", "ranks");
    csv_put_str(timings, name);
    csv_put_str(timings, command ? command : step);
    csv_put_str(timings, ranks ? ranks : "1");
    csv_put_double(timings, secs);
    csv_put_int(timings, rc);
    csv_end_row(timings, true);
    if (rc == 0) {
        if (write_text(marker, line) != 0) rc = 1;
        printf("gsae run: step %s: ok (%.1f s)\n", name, secs);
    } else if (rc == GSAE_EXIT_RESUMABLE) {
        printf("gsae run: step %s: stopped on request after %.1f s; rerun to resume\n", name, secs);
    } else {
        fprintf(stderr, "gsae run: step %s failed (exit %d) after %.1f s; log: %s\n", name, rc,
                secs, log_path);
    }
done:
    free(line);
    step_argv_free(&a);
    return rc;
}

/* Run a step, once per value of its `foreach` list ({each} in its values), or once. */
static int run_step(const struct job *job, const char *step, const struct run_opts *o,
                    const char *launcher, const char *self, const char *out,
                    struct csv_writer *timings)
{
    char **items = NULL;
    int64_t n_items = 0;
    struct gsae_error err = {0};
    if (job_get_list(job, step, "foreach", &items, &n_items, &err) != GSAE_OK) {
        cli_report("run", &err);
        return 1;
    }
    int rc = 0;
    if (!job_get(job, step, "foreach"))
        rc = run_instance(job, step, NULL, o, launcher, self, out, timings);
    for (int64_t i = 0; i < n_items && rc == 0; i++)
        rc = run_instance(job, step, items[i], o, launcher, self, out, timings);
    job_list_free(items);
    return rc;
}

static const char *default_launcher(const struct job *job, const struct run_opts *o)
{
    if (o->launcher) return o->launcher;
    const char *env = getenv("GSAE_LAUNCHER");
    if (env && *env) return env;
    const char *v = job_get(job, "job", "launcher");
    if (v) return v;
    return getenv("SLURM_JOB_ID") ? "srun -n {n}" : "mpirun -np {n}";
}

/* Load, override, name and resolve the job. */
static enum gsae_status prepare_job(struct job *job, const struct run_opts *o, char *out,
                                    size_t n_out, struct gsae_error *err)
{
    enum gsae_status st = job_load(job, o->job_path, err);
    for (int i = 0; i < o->sets.n && st == GSAE_OK; i++)
        st = job_set(job, o->sets.v[i], err);
    if (st != GSAE_OK) return st;
    char name[256];
    job_name(job, o->job_path, name, sizeof name);
    if ((st = job_put(job, "job", "name", name, "gsae run", err)) != GSAE_OK) return st;
    /* out is resolved first so steps can refer to ${job.out}. */
    if (o->out)
        st = job_put(job, "job", "out", o->out, "--out", err);
    else if (!job_get(job, "job", "out")) {
        char def[512];
        snprintf(def, sizeof def, "results/%s", name);
        st = job_put(job, "job", "out", def, "gsae run", err);
    }
    if (st == GSAE_OK) st = job_resolve(job, err);
    if (st == GSAE_OK) snprintf(out, n_out, "%s", job_get(job, "job", "out"));
    return st;
}

static int run_steps(const struct job *job, const struct run_opts *o, const char *out)
{
    char self[4096], path[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "gsae run: cannot find the gsae binary (/proc/self/exe)\n");
        return 1;
    }
    self[n] = '\0';
    char **steps = NULL;
    int64_t n_steps = 0;
    struct gsae_error err = {0};
    if (job_get_list(job, "job", "steps", &steps, &n_steps, &err) != GSAE_OK || n_steps == 0) {
        fprintf(stderr, "gsae run: %s: [job] steps lists no step\n", o->job_path);
        job_list_free(steps);
        return 2;
    }
    struct csv_writer timings = {0};
    int rc = 0;
    if (!o->dry_run) {
        if (fmt_path(path, sizeof path, "%s/timings.csv", out)) rc = 2;
        if (rc ||
            csv_writer_open(&timings, path, &results_timings, NULL, 0, true, NULL) != GSAE_OK) {
            fprintf(stderr, "gsae run: cannot write %s\n", path);
            rc = 1;
        }
    }
    const char *launcher = default_launcher(job, o);
    for (int64_t i = 0; i < n_steps && rc == 0; i++)
        rc = run_step(job, steps[i], o, launcher, self, out, &timings);
    csv_writer_close(&timings, NULL);
    job_list_free(steps);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    struct run_opts o;
    int rc = opt_parse(&run_cmd, argc, argv, &o);
    if (rc != OPT_RUN) return rc;
    rc = 0;
    struct job job = {0};
    struct gsae_error err = {0};
    char out[4096], path[4096];
    if (prepare_job(&job, &o, out, sizeof out, &err) != GSAE_OK) {
        cli_report("run", &err);
        rc = 2;
        goto done;
    }
    if (o.get) {
        const char *dot = strchr(o.get, '.');
        char sec[256];
        snprintf(sec, sizeof sec, "%.*s", dot ? (int)(dot - o.get) : 0, o.get);
        const char *v = dot ? job_get(&job, sec, dot + 1) : NULL;
        if (!v) {
            fprintf(stderr, "gsae run: %s: %s is not set\n", o.job_path, o.get);
            rc = 1;
        } else {
            printf("%s\n", v);
        }
        goto done;
    }
    if (job_check_steps(&job, o.job_path, &err) != GSAE_OK) {
        cli_report("run", &err);
        rc = 2;
        goto done;
    }
    if (!o.dry_run) {
        FILE *f = NULL;
        char steps_dir[4200], logs_dir[4200];
        if (fmt_path(path, sizeof path, "%s/job.ini", out) ||
            fmt_path(steps_dir, sizeof steps_dir, "%s/steps", out) ||
            fmt_path(logs_dir, sizeof logs_dir, "%s/logs", out) || make_dirs(steps_dir) ||
            make_dirs(logs_dir) || !(f = fopen(path, "w")) || job_write(&job, f, &err) != GSAE_OK ||
            fclose(f) != 0) {
            fprintf(stderr, "gsae run: cannot write %s\n", path);
            rc = 1;
            goto done;
        }
    }
    struct sigaction sa = {0};
    sa.sa_handler = forward_signal; /* no SA_RESTART: reads wake up and carry on */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    rc = run_steps(&job, &o, out);
    const char *report = job_get(&job, "job", "report");
    if (rc == 0 && !o.dry_run && !(report && strcmp(report, "false") == 0)) {
        /* [job] report_tokenizer lets the report show token ids as text. */
        const char *tok = job_get(&job, "job", "report_tokenizer");
        char tok_path[4096];
        snprintf(tok_path, sizeof tok_path, "%s", tok ? tok : "");
        char *rargv[] = {"report", out, "--tokenizer", tok_path, NULL};
        rc = cmd_report(tok ? 4 : 2, rargv);
    }
done:
    job_free(&job);
    opt_free(&run_cmd, &o);
    return rc;
}
