/* runctl.c: stop flag and progress lines (see runctl.h). */
#include "runctl.h"

#include <stdio.h>
#include <string.h>

/* The one piece of global state a signal handler needs; only jobs/ holds such state. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

volatile sig_atomic_t *runctl_stop_flag_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    return &stop_requested;
}

static void format_duration(char *buf, size_t size, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else
        snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
}

void runctl_progress_print(struct runctl_progress *p, const char *what, int64_t tokens,
                           int64_t parts, double fraction, double seconds, bool force)
{
    double eta = fraction >= 1.0  ? 0.0
                 : fraction > 0.0 ? seconds * (1.0 - fraction) / fraction
                                  : -1.0;
    runctl_progress_print_eta(p, what, tokens, parts, fraction, "corpus", seconds, eta, force);
}

void runctl_progress_print_eta(struct runctl_progress *p, const char *what, int64_t tokens,
                               int64_t parts, double fraction, const char *of, double seconds,
                               double eta_s, bool force)
{
    if (!force && p->printed_any && seconds - p->last_print < p->interval_s) return;
    p->last_print = seconds;
    p->printed_any = true;
    double rate = seconds > 0 ? (double)tokens / seconds : 0.0;
    char eta[32] = "?", took[32];
    if (eta_s >= 0.0) format_duration(eta, sizeof eta, eta_s);
    format_duration(took, sizeof took, seconds);
    fprintf(stderr, "%s: tokens %lld  %.0f tok/s  parts %lld  %s %.1f%%  elapsed %s  ETA %s\n",
            what, (long long)tokens, rate, (long long)parts, of, 100.0 * fraction, took, eta);
    fflush(stderr);
}
