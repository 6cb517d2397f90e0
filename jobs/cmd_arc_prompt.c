/* cmd_arc_prompt.c: `gsae arc-prompt [--target] TASK.json`: print the notebook's prompt for an
 * ARC task exactly (no newline added: it ends with "OUTPUT. "), or with --target the expected
 * answer (the first test output) as numpy prints it, followed by a newline. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/arc_task.h"
#include "../src/arc.h"
#include "cli.h"
#include "commands.h"
#include "opt.h"

struct arc_prompt_opts {
    const char *path;
    bool target;
};

static const struct opt arc_prompt_table[] = {
    {NULL, OPT_STR, offsetof(struct arc_prompt_opts, path), .flags = OPT_POS | OPT_REQUIRED,
     .meta = "TASK.json", .help = "the ARC task"},
    {"target", OPT_FLAG, offsetof(struct arc_prompt_opts, target),
     .help = "print the expected answer instead of the prompt"},
    {0},
};

const struct opt_cmd arc_prompt_cmd = {
    "arc-prompt",
    .synopsis = "[--target] TASK.json",
    .about = "Print the notebook's prompt for the ARC task in TASK.json exactly as the model sees\n"
             "it (no newline added: it ends with \"OUTPUT. \"), or with --target the expected\n"
             "answer (the first test output) as numpy prints it, followed by a newline.\n",
    .size = sizeof(struct arc_prompt_opts),
    .groups = {{arc_prompt_table, 0}},
};

int cmd_arc_prompt(int argc, char **argv)
{
    struct arc_prompt_opts o;
    int prc = opt_parse(&arc_prompt_cmd, argc, argv, &o);
    if (prc != OPT_RUN) return prc;
    const char *path = o.path;
    bool target = o.target;
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
