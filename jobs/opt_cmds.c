/* opt_cmds.c: every command's option table by name, for `gsae run` to check job steps. */
#include <string.h>

#include "commands.h"
#include "opt.h"

static const struct opt_cmd *const tables[] = {
    &version_cmd, &run_cmd,       &report_cmd,   &inspect_cmd,    &plan_cmd,       &generate_cmd,
    &golden_cmd,  &mkmodel_cmd,   &mksae_cmd,    &sae_info_cmd,   &features_cmd,   &steer_cmd,
    &ablate_cmd,  &attribute_cmd, &tokenize_cmd, &detokenize_cmd, &arc_prompt_cmd, &harvest_cmd,
    &maxact_cmd,  &export_cmd,    &pca_cmd,      &contrast_cmd,
};

const struct opt_cmd *opt_cmd_find(const char *name)
{
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        if (strcmp(tables[i]->name, name) == 0) return tables[i];
    return NULL;
}
