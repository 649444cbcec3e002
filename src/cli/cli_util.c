/* Helpers shared by the subcommands' option handling and messages. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int usage_error(const char *command, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "bntrain %s: ", command);
    vfprintf(stderr, fmt, args);
    fprintf(stderr, " (see bntrain help %s)\n", command);
    va_end(args);
    return EXIT_USAGE;
}

volatile sig_atomic_t cli_stop_signal;

static void on_stop_signal(int signo) {
    cli_stop_signal = signo;
    signal(signo, SIG_DFL);
}

void cli_catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
