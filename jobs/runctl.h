/* runctl.h: run control for long commands: a stop flag set by SIGTERM/SIGUSR1 (Slurm sends
 * these before preemption or the time limit), and rate-limited progress lines on stderr. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* Install handlers for SIGTERM and SIGUSR1 that set the returned flag (and nothing else);
 * library code polls the flag it is given and stops at its next safe point. */
volatile sig_atomic_t *runctl_stop_flag_install(void);

/* A progress printer: at most one line per interval_s seconds (the last line is forced). */
struct runctl_progress {
    double interval_s;
    double last_print;
    bool printed_any;
};

/* Print "tokens N  tok/s R  parts P  done F%  ETA T" to stderr when the interval has passed or
 * force is set. fraction (0..1) drives the ETA; <= 0 prints no ETA. */
void runctl_progress_print(struct runctl_progress *p, const char *what, int64_t tokens,
                           int64_t parts, double fraction, double seconds, bool force);

/* The same line with a given ETA (seconds; < 0 prints "?") and the fraction's name ("corpus",
 * "max-tokens"): for runs whose end is not the corpus's end, or that resume. */
void runctl_progress_print_eta(struct runctl_progress *p, const char *what, int64_t tokens,
                               int64_t parts, double fraction, const char *of, double seconds,
                               double eta_s, bool force);
