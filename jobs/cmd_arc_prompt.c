/* cmd_arc_prompt.c: `gsae arc-prompt [--target] TASK.json`: print the notebook's prompt for an
 * ARC task exactly (no newline added: it ends with "OUTPUT. "), or with --target the expected
 * answer (the first test output) as numpy prints it, followed by a newline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/arc_task.h"
#include "../src/arc.h"
#include "cli.h"
#include "commands.h"

static const char usage_text[] =
    "usage: gsae arc-prompt [--target] TASK.json\n"
    "\n"
    "Print the notebook's prompt for the ARC task in TASK.json exactly as the model sees it\n"
    "(no newline added: it ends with \"OUTPUT. \"), or with --target the expected answer (the\n"
    "first test output) as numpy prints it, followed by a newline.\n";

int cmd_arc_prompt(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return 0;
    }
    const char *path = NULL;
    bool target = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--target") == 0)
            target = true;
        else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "gsae arc-prompt: bad argument '%s'\n%s", argv[i], usage_text);
            return 2;
        } else
            path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "gsae arc-prompt: TASK.json is required\n%s", usage_text);
        return 2;
    }
    struct gsae_error err = {0};
    struct arc_task task = {0};
    char *text = NULL;
    size_t len = 0;
    enum gsae_status st = arc_task_load(path, &task, &err);
    if (st == GSAE_OK && target) {
        const struct arc_grid *g = arc_task_target(&task);
        st = g ? arc_grid_repr(g, &text, &len, &err)
               : gsae_fail(&err, GSAE_ENOTFOUND, "%s: test[0] has no output", path);
    } else if (st == GSAE_OK)
        st = arc_prompt_build(&task, &text, &len, &err);
    int rc = 0;
    if (st != GSAE_OK) {
        cli_report(argv[0], &err);
        rc = 1;
    } else {
        fwrite(text, 1, len, stdout);
        if (target) putchar('\n');
        if (fflush(stdout) != 0) rc = 1;
    }
    free(text);
    arc_task_free(&task);
    return rc;
}
