/* `bntrain curves`: learning curves (the paper's Fig. 4). Trains every (gamma, restart) run of
 * an experiment for its epochs, spread over threads as a grid's runs are, and records each
 * epoch's train and test loss and accuracy in DIR/curves.csv as it ends; after every epoch
 * each run's state goes to DIR/checkpoints/, so that rerunning the command after a kill
 * resumes every run where it stopped and gives bitwise the curves of an uninterrupted run.
 * DIR/curves.png and .svg draw the curves. */
#ifndef BNTRAIN_CURVES_H
#define BNTRAIN_CURVES_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bntrain/data.h"
#include "bntrain/error.h"
#include "bntrain/experiment.h"
#include "cluster/cluster.h"

typedef struct {
    bn_experiment experiment; /* experiment.gamma unused: gammas */
    double *gammas;
    size_t n_gammas;
    size_t n_restarts;
    size_t threads;
    const char *out_dir;
    int force; /* start afresh even if DIR holds other curves */
    int quiet; /* no progress lines */
    bn_cluster *cluster; /* an MPI job (cluster.h): on rank 0 curves_run hands the runs to the
                            workers, which run curves_work; NULL or inactive: this process
                            trains every run */
} bn_curves_config;

typedef struct {
    size_t runs, runs_done_before, runs_done, epochs_now, exploded;
    int interrupted; /* the signal that stopped it, or 0 */
    double seconds;
} bn_curves_summary;

/* The seed of restart r: every gamma's restart r starts from the same weights (but gamma) and
 * sees the same batches, so the gammas are compared run for run. */
uint64_t curves_run_seed(const bn_curves_config *c, size_t restart);
/* config.json's text (malloc'd) and its identity; NULL with err filled. */
char *curves_config_json(const bn_curves_config *c, bn_error *err);
uint64_t curves_identity(const char *json);
/* DIR/config.json against this configuration (unless force): 0 the same or absent, 1 another
 * configuration (err says which keys differ), -1 unreadable. */
int curves_check_config(const bn_curves_config *c, bn_error *err);
/* Runs still to train (not finished in DIR/curves.csv); all of them when DIR holds none. */
size_t curves_runs_left(const bn_curves_config *c);
/* Trains what DIR lacks; 0, or -1 with err (a refused folder is left as it was). */
int curves_run(const bn_curves_config *c, const bn_dataset *ds, volatile sig_atomic_t *stop,
               bn_curves_summary *summary, bn_error *err);

/* A worker rank of an MPI job (c->cluster, rank > 0): trains the runs rank 0 hands it, on
 * c->threads threads (0: every core), resuming each from its checkpoint in DIR/checkpoints; sends
 * each epoch's record to rank 0 and writes the run's checkpoint once rank 0 has answered that
 * the record is on disk. Returns once rank 0 has no more runs; a failure is sent to rank 0. */
void curves_work(const bn_curves_config *c, const bn_dataset *ds, volatile sig_atomic_t *stop);

/* Prints, for each gamma and for epochs 1, E/2 and E (E the last), the test and train accuracy
 * in % over the restarts recorded in DIR/curves.csv: mean, and min to max; `label` starts each
 * line. 0, or -1 with err. */
int curves_report(const bn_curves_config *c, const char *label, FILE *out, bn_error *err);

#endif
