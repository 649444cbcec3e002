/* The subcommands. Each declares its options to the parser (cli/options.h) and returns the
 * exit status: 0 success, 1 runtime failure, 2 usage error. */
#ifndef BNTRAIN_CLI_H
#define BNTRAIN_CLI_H

#include <signal.h>

#include "bntrain/data.h"
#include "bntrain/experiment.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

int cmd_train(int argc, char **argv);
int cmd_grid(int argc, char **argv);
int cmd_theory(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_figures(int argc, char **argv);

/* Prints a usage error ("bntrain CMD: message" and a pointer to help) and returns EXIT_USAGE. */
int usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Loads the experiment's dataset, keeps its first train_subset training images and checks
 * that a batch fits in them. Returns 0, or the exit status after one line on stderr:
 * EXIT_RUNTIME if the data cannot be read, EXIT_USAGE if the batch is too large. */
int cli_load_dataset(const char *command, const bn_experiment *e, bn_dataset *ds);

/* Set to the signal number by SIGINT / SIGTERM once cli_catch_stop_signals has run; a second
 * signal ends the process at once (everything finished is on disk by then). */
extern volatile sig_atomic_t cli_stop_signal;
void cli_catch_stop_signals(void);

#endif
