/* commands.h: every gsae subcommand's entry point (one jobs/cmd_<name>.c each). */
#pragma once

int cmd_version(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_mkmodel(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_arc_prompt(int argc, char **argv);
int cmd_golden(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_mksae(int argc, char **argv);
int cmd_sae_info(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_steer(int argc, char **argv);
int cmd_ablate(int argc, char **argv);
int cmd_store(int argc, char **argv);
/* `gsae store synth` (tools/cmd_store_synth.c): argv[0] = "synth". */
int cmd_store_synth(int argc, char **argv);
int cmd_pca(int argc, char **argv);
int cmd_contrast(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_harvest(int argc, char **argv);
int cmd_maxact(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_attribute(int argc, char **argv);

/* The option tables (jobs/opt.h) of the commands that declare one; opt_cmd_find finds them. */
struct opt_cmd;
extern const struct opt_cmd maxact_cmd, run_cmd, version_cmd, arc_prompt_cmd, sae_info_cmd;
extern const struct opt_cmd tokenize_cmd, detokenize_cmd, inspect_cmd, plan_cmd, mkmodel_cmd,
    mksae_cmd, report_cmd, export_cmd, pca_cmd;
extern const struct opt_cmd features_cmd, steer_cmd, ablate_cmd, attribute_cmd, harvest_cmd;
extern const struct opt_cmd generate_cmd, golden_cmd, contrast_cmd, store_synth_cmd;
