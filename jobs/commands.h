/* commands.h: every gsae subcommand's entry point (one jobs/cmd_<name>.c each). */
#pragma once

int cmd_version(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_mkmodel(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_arc_prompt(int argc, char **argv);
int cmd_golden(int argc, char **argv);
int cmd_generate(int argc, char **argv);
