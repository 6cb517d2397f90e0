/* cmd_report.c: `gsae report RESULTS_DIR`: build RESULTS_DIR/report.html from the result files
 * found there. Each view (report/report_views.h) reads one documented file (jobs/README.md,
 * "Result files"); a view whose file is absent is left out, a malformed file is an error naming
 * file and line.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/job.h"
#include "../io/tokenizer_load.h"
#include "../report/report.h"
#include "../report/report_views.h"
#include "../src/tokenizer.h"
#include "cli.h"
#include "commands.h"
#include "opt.h"

struct report_opts {
    const char *dir, *out, *title, *tokenizer, *features, *neuronpedia, *store;
};

#define O(f) offsetof(struct report_opts, f)
static const struct opt report_opt_table[] = {
    {NULL, OPT_STR, O(dir), .flags = OPT_POS | OPT_REQUIRED, .meta = "RESULTS_DIR",
     .help = "the results directory"},
    {"out", OPT_STR, O(out), .meta = "FILE", .help = "default RESULTS_DIR/report.html"},
    {"title", OPT_STR, O(title), .meta = "TEXT", .help = "default gsae: <directory name>"},
    {"tokenizer", OPT_STR, O(tokenizer), .meta = "PATH", .help = "show token ids as text"},
    {"features", OPT_STR, O(features), .meta = "LIST", .help = "dashboard features first"},
    {"neuronpedia", OPT_STR, O(neuronpedia), .meta = "SOURCE",
     .help = "link features to Neuronpedia under SOURCE"},
    {"store", OPT_STR, O(store), .meta = "STORE", .help = "histograms from STORE/feature_stats.nc"},
    {0},
};
#undef O

const struct opt_cmd report_cmd = {
    "report",
    .synopsis = "RESULTS_DIR [--out FILE] [--title TEXT] [--tokenizer PATH]\n"
                "                   [--features LIST] [--neuronpedia SOURCE] [--store STORE]",
    .about = "Writes RESULTS_DIR/report.html (or FILE) from the result files in RESULTS_DIR\n"
             "(formats: jobs/README.md). Views whose files are absent are left out.\n"
             "The feature dashboard shows --features first (default: [job] report_features of\n"
             "RESULTS_DIR/job.ini), links each feature to Neuronpedia under SOURCE (default:\n"
             "[job] neuronpedia_source, e.g. gemma-2-9b-it/20-gemmascope-res-16k) and draws\n"
             "activation histograms from STORE/feature_stats.nc (default: [job] report_store,\n"
             "else the store of the job's maxact step).\n",
    .size = sizeof(struct report_opts),
    .groups = {{report_opt_table, 0}},
};

/* The store of the job's maxact step: `store`, else the first of `args`, of the section whose
 * command is maxact (a section without a command runs the command of its name). */
static const char *maxact_store(const struct job *job)
{
    for (int64_t i = 0; i < job->n_entries; i++) {
        const char *sec = job->entries[i].section, *cmd = job_get(job, sec, "command");
        if (strcmp(cmd ? cmd : sec, "maxact") != 0) continue;
        const char *store = job_get(job, sec, "store"), *args = job_get(job, sec, "args");
        if (store) return store;
        if (args && *args && !strpbrk(args, ", \t\n")) return args;
    }
    return NULL;
}

/* The default title: "gsae: " and the last part of dir. */
static void default_title(const char *dir, char *title, size_t size)
{
    const char *base = strrchr(dir, '/');
    while (base && base[1] == '\0' && base > dir) { /* trailing slash */
        const char *p = base - 1;
        while (p > dir && *p != '/')
            p--;
        base = p;
    }
    snprintf(title, size, "gsae: %s", base && base[1] ? base + 1 : dir);
    char *slash = strchr(title + 6, '/');
    if (slash) *slash = '\0';
}

/* The dashboard's settings: options, else the [job] keys of the run's resolved job.ini (loaded
 * into job when there is one). */
static struct report_dashboard_opts dashboard_settings(const char *dir, const char *const *opt,
                                                       struct job *job)
{
    char job_path[4200];
    struct gsae_error err = {0};
    snprintf(job_path, sizeof job_path, "%s/job.ini", dir);
    FILE *jf = fopen(job_path, "r");
    if (jf) {
        fclose(jf);
        /* A job.ini that does not load again (a resolved line over the INI limit) costs only
         * the dashboard's defaults, not the report. */
        if (job_load(job, job_path, &err) != GSAE_OK) {
            fprintf(stderr, "gsae report: %s; its dashboard settings are not used\n", err.msg);
            job_free(job);
            gsae_error_clear(&err);
        }
    }
    struct report_dashboard_opts dash = {
        .features = opt[3] ? opt[3] : job_get(job, "job", "report_features"),
        .neuronpedia = opt[4] ? opt[4] : job_get(job, "job", "neuronpedia_source"),
        .store = opt[5] ? opt[5] : job_get(job, "job", "report_store"),
        .store_required = opt[5] != NULL || job_get(job, "job", "report_store") != NULL};
    if (!dash.store) dash.store = maxact_store(job);
    return dash;
}

/* Every view, in the page's order. */
static enum gsae_status write_views(struct report *r, const char *dir, const struct tokenizer *tk,
                                    const struct report_dashboard_opts *dash,
                                    struct gsae_error *err)
{
    typedef enum gsae_status (*view_fn)(struct report *, const char *, struct gsae_error *);
    static const view_fn before_pca[] = {report_view_summary,     report_view_acts,
                                         report_view_diff,        report_view_steer,
                                         report_view_steer_json,  report_view_ablate,
                                         report_view_ablate_json, report_view_attribution};
    static const view_fn after_pca[] = {report_view_pca_npy, report_view_harvest};
    enum gsae_status st = GSAE_OK;
    for (size_t i = 0; i < sizeof before_pca / sizeof before_pca[0] && st == GSAE_OK; i++)
        st = before_pca[i](r, dir, err);
    if (st == GSAE_OK) st = report_view_pca(r, dir, tk, err);
    for (size_t i = 0; i < sizeof after_pca / sizeof after_pca[0] && st == GSAE_OK; i++)
        st = after_pca[i](r, dir, err);
    if (st == GSAE_OK) st = report_view_dashboard(r, dir, dash, err);
    if (st == GSAE_OK) st = report_view_tables(r, dir, err);
    if (st == GSAE_OK && r->n_figures == 0) {
        report_section(r, "empty", "No results", NULL);
        report_paragraph(r, "No result files found in this directory.");
    }
    return st;
}

int cmd_report(int argc, char **argv)
{
    struct report_opts o;
    int prc = opt_parse(&report_cmd, argc, argv, &o);
    if (prc != OPT_RUN) return prc;
    const char *dir = o.dir,
               *opt[6] = {o.out, o.title, o.tokenizer, o.features, o.neuronpedia, o.store};
    const char *out = opt[0], *title = opt[1], *tok_path = opt[2];
    char path[4096], def_title[512];
    if (!out) {
        snprintf(path, sizeof path, "%s/report.html", dir);
        out = path;
    }
    if (!title) {
        default_title(dir, def_title, sizeof def_title);
        title = def_title;
    }
    struct report r = {0};
    struct gsae_error err = {0};
    struct tokenizer tk = {0};
    struct job job = {0};
    struct report_dashboard_opts dash = dashboard_settings(dir, opt, &job);
    enum gsae_status st = GSAE_OK;
    if (tok_path) st = tokenizer_load(&tk, tok_path, &err);
    if (st == GSAE_OK) st = report_open(&r, out, title, "Results of one gsae run", &err);
    if (st == GSAE_OK) st = write_views(&r, dir, tok_path ? &tk : NULL, &dash, &err);
    tokenizer_free(&tk);
    if (r.n_figures > 0 && r.f) fputs("</section>\n", r.f);
    enum gsae_status st2 = report_close(&r, &err);
    if (st == GSAE_OK) st = st2;
    job_free(&job);
    if (st != GSAE_OK) {
        cli_report("report", &err);
        return 1;
    }
    printf("gsae report: wrote %s\n", out);
    return 0;
}
