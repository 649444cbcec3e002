/* The subcommands. Each declares its options to the parser (cli/options.h) and returns the
 * exit status: 0 success, 1 runtime failure, 2 usage error. */
#ifndef BNTRAIN_CLI_H
#define BNTRAIN_CLI_H

#include <signal.h>

#include "bntrain/data.h"
#include "bntrain/experiment.h"
#include "bntrain/train.h"
#include "cli/options.h"
#include "grid/runner.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

int cmd_train(int argc, char **argv);
int cmd_grid(int argc, char **argv);
int cmd_curves(int argc, char **argv);
int cmd_theory(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_figures(int argc, char **argv);
int cmd_probe(int argc, char **argv);

/* Their option tables, as cmd_* hands them to options_parse: for the fuzz target of the option
 * parser (tests/fuzz/fuzz_options.c), which parses command lines without running them. */
extern const cli_command train_command, grid_command, curves_command, theory_command,
    plot_command, figures_command, probe_command;

/* Prints a usage error ("bntrain CMD: message" and a pointer to help) and returns EXIT_USAGE. */
int usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Settle the threads of one run (`bntrain train`, `probe`) or of a grid (its runs not yet in
 * DIR/runs.csv, at most one per thread) and check that the run or grid fits in memory, before
 * any data is read or file written. The thread count (0: every core) becomes the count to use:
 * an explicit count above 4x the cores, or for a grid above its runs left (but never below the
 * cores), is capped, and a count the system cannot start is lowered, each with a note on
 * stderr. Return 0, or EXIT_RUNTIME after one line on stderr (the memory needed, what is
 * available, and which limit). command names the grid's command in messages (grid, figures). */
/* Checks a measurement's sample count (option: the flag that set it) against the training
 * images the experiment keeps, before anything is sized from it (exit 2 if larger), and gives
 * the bytes of those samples as one float array (dataset_float_copy's), which the measurement
 * holds beside its workspace. 0, or the exit status. */
int cli_check_samples(const char *command, const bn_experiment *e, const char *option,
                      size_t samples, size_t *image_bytes);
/* --batch against the training images the experiment keeps, from the dataset's known size,
 * before anything is written: every rank of an MPI job checks it alike, so a batch too large
 * is one usage error (exit 2, said by rank 0) and not a folder started by rank 0 and then
 * refused by its workers. 0, or the exit status. */
int cli_check_batch(const char *command, const bn_experiment *e);
/* The bytes of `samples` of the experiment's images as floats. */
size_t cli_sample_bytes(const bn_experiment *e, size_t samples);
/* One run beside a measurement's own workspace of measure_bytes (0: none), counted once;
 * measure_option is the option that sizes it, named when the measurement is what does not fit. */
int cli_check_run_resources(const char *command, const bn_experiment *e, const bn_model_spec *spec,
                            size_t measure_bytes, const char *measure_option, size_t *threads);
int cli_check_grid_resources(const char *command, bn_grid_config *g,
                             const bn_model_spec *spec);
/* The same for `runs` runs of one experiment, at most one per thread (bntrain curves). */
int cli_check_runs_resources(const char *command, const bn_experiment *e,
                             const bn_model_spec *spec, size_t runs, size_t *threads);

/* Loads the experiment's dataset, keeps its first train_subset training images and checks
 * that a batch fits in them. Returns 0, or the exit status after one line on stderr:
 * EXIT_RUNTIME if the data cannot be read, EXIT_USAGE if the batch is too large. */
int cli_load_dataset(const char *command, const bn_experiment *e, bn_dataset *ds);

/* One line on stderr, "bntrain COMMAND: memory: ...": the dataset (held once, 8-bit) and what
 * each of `runs` trainers like t holds, parameters and activations apart. */
void cli_describe_memory(const char *command, const bn_dataset *ds, const bn_trainer *t,
                         size_t runs);
/* The same, printing nothing: the status, and err filled (an MPI worker sends it to rank 0). */
int cli_read_dataset(const bn_experiment *e, bn_dataset *ds, bn_error *err);

/* Joins the MPI job when mpirun started this process (cluster.h); *use becomes the cluster when
 * it has workers, NULL for a single process (a job of one rank is one). -1 to go on, or the exit
 * status after one line on stderr. */
int cli_start_cluster(const char *command, bn_cluster *cluster, bn_cluster **use);
/* A worker rank of an MPI job, before it trains: `resources` (the status of its own resource
 * check, which printed its line) and reading the data. A failure goes to rank 0, which says it
 * naming this rank (and the file the data could not be read from); a worker prints nothing of
 * its own. Then catches the stop signals. 0, or the exit status. */
int cli_worker_start(bn_cluster *cluster, int resources, const bn_experiment *e, bn_dataset *ds);
/* Rank 0 of an MPI job says who trains: it hands out the runs and trains none itself. */
void cli_log_cluster(const char *command, const bn_cluster *cluster, const char *out_dir);

/* Set to the signal number by SIGINT / SIGTERM once cli_catch_stop_signals has run; a second
 * signal ends the process at once (everything finished is on disk by then). */
extern volatile sig_atomic_t cli_stop_signal;
void cli_catch_stop_signals(void);

#endif
