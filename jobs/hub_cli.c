/* hub_cli.c: Hugging Face and Gemma Scope names in command lines (see hub_cli.h). */
#include "hub_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/hfhub.h"
#include "cli.h"

static void report(const char *cmd, const struct gsae_error *err)
{
    if (cli_world_rank() == 0) cli_report(cmd, err);
}

char *hub_cli_model(const char *cmd, const char *name, const char *revision)
{
    struct gsae_error err = {0};
    char *path = NULL;
    if (hfhub_model_path(name, revision, &path, &err) != GSAE_OK) report(cmd, &err);
    return path;
}

char *hub_cli_sae(const char *cmd, const char *name)
{
    struct gsae_error err = {0};
    char *path = NULL;
    if (hfhub_sae_path(name, &path, &err) != GSAE_OK) report(cmd, &err);
    return path;
}

/* The value of option opt at argv[i] ("--opt V" or "--opt=V"), with *words 1 or 2. */
static const char *option_value(int argc, char **argv, int i, const char *opt, int *words)
{
    size_t n = strlen(opt);
    if (strncmp(argv[i], opt, n) != 0) return NULL;
    if (argv[i][n] == '=') {
        *words = 1;
        return argv[i] + n + 1;
    }
    if (argv[i][n] != '\0' || i + 1 >= argc) return NULL;
    *words = 2;
    return argv[i + 1];
}

static bool keep(struct hub_cli_args *a, char *path)
{
    if (!path) return false;
    a->owned[a->n_owned++] = path;
    return true;
}

bool hub_cli_args_resolve(const char *cmd, int argc, char **argv, struct hub_cli_args *a)
{
    *a = (struct hub_cli_args){0};
    a->argv = calloc(2 * (size_t)argc + 1, sizeof *a->argv); /* --opt=V becomes two words */
    a->owned = calloc((size_t)argc + 1, sizeof *a->owned);
    if (!a->argv || !a->owned) {
        fprintf(stderr, "gsae %s: out of memory\n", cmd);
        return false;
    }
    if (cli_wants_help(argc, argv)) {
        memcpy(a->argv, argv, (size_t)argc * sizeof *argv);
        a->argc = argc;
        return true;
    }
    /* The revision, when a --model option is there to take it. */
    const char *revision = NULL;
    bool has_model = false;
    int w = 0;
    for (int i = 1; i < argc; i++) {
        has_model = has_model || option_value(argc, argv, i, "--model", &w);
        const char *r = option_value(argc, argv, i, "--revision", &w);
        if (r) revision = r;
    }
    a->argv[a->argc++] = argv[0];
    for (int i = 1; i < argc; i += w) {
        const char *model = option_value(argc, argv, i, "--model", &w);
        const char *sae = model ? NULL : option_value(argc, argv, i, "--sae", &w);
        bool rev = !model && !sae && option_value(argc, argv, i, "--revision", &w);
        if (rev && has_model) continue;
        if (!model && !sae) {
            w = 1;
            a->argv[a->argc++] = argv[i];
            continue;
        }
        if (!keep(a, model ? hub_cli_model(cmd, model, revision) : hub_cli_sae(cmd, sae)))
            return false;
        a->argv[a->argc++] = model ? "--model" : "--sae";
        a->argv[a->argc++] = a->owned[a->n_owned - 1];
    }
    return true;
}

void hub_cli_args_free(struct hub_cli_args *a)
{
    for (int i = 0; i < a->n_owned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->argv);
    *a = (struct hub_cli_args){0};
}
