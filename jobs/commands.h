/* commands.h: every gsae subcommand's entry point (one jobs/cmd_<name>.c each). */
#pragma once

int cmd_version(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);
