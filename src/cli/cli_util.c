/* Helpers shared by the subcommands: usage errors, loading an experiment's data, stop
 * signals. */
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

int cli_load_dataset(const char *command, const bn_experiment *e, bn_dataset *ds) {
    bn_error err;
    if (dataset_load(ds, e->dataset, e->data_dir, &err)) {
        fprintf(stderr, "bntrain %s: %s\n", command, err.msg);
        return EXIT_RUNTIME;
    }
    dataset_truncate_train(ds, e->train_subset);
    size_t n_train = ds->train.n;
    if (e->batch <= n_train) return 0;
    dataset_free(ds);
    return usage_error(command, "--batch %zu is larger than the %zu training images", e->batch,
                       n_train);
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
