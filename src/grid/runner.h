/* The phase-diagram runner: every (x, log10 eta, restart) run of a grid, spread over threads,
 * each finished run appended to DIR/runs.csv at once; resumable, refuses a mismatched DIR. */
#ifndef BNTRAIN_GRID_H
#define BNTRAIN_GRID_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "bntrain/data.h"
#include "bntrain/error.h"
#include "bntrain/experiment.h"
#include "cluster/cluster.h"
#include "grid/results.h"

typedef enum { SEED_PER_RESTART, SEED_PER_CELL } bn_seed_mode;

typedef struct {
    bn_experiment experiment; /* network and training; experiment.gamma is used only when
                                 the x axis is sigma_w2 */
    const char *x_name;    /* "gamma", or "sigma_w2" for a sweep of the weight variance */
    double *x_values;
    size_t n_x;
    double *log10_lrs;
    size_t n_lr;
    size_t n_restarts;
    bn_seed_mode seed_mode;
    size_t threads;
    const char *out_dir;
    int force;             /* start afresh even if DIR holds another grid */
    int log_color_scale;   /* heatmap colour scale */
    const char *title_note; /* extra words for the heatmap title (NULL: none) */
    int quiet;             /* no progress output */
    size_t shard, n_shards; /* --shard K/N: this process runs the runs of grid_run_order at
                               K-1, K-1+N, ... into runs.K-of-N.csv, and writes neither
                               theory.csv, cells.csv nor the heatmap; n_shards 0: the whole
                               grid, reading every shard's runs as done (grid/shard.h) */
    bn_cluster *cluster;   /* an MPI job (cluster.h): on rank 0 grid_run hands the runs to the
                              workers, which run grid_work; NULL or inactive: this process
                              trains every run */
} bn_grid_config;

typedef struct {
    size_t total, done_before, done_now, exploded, torn_bytes;
    int interrupted;        /* stopped by a signal (value of *stop) */
    double seconds;
} bn_grid_summary;

/* The seed of one run: from (base seed, restart) by default, so that every cell of a restart
 * starts from the same weights and batch order; from (base seed, restart, cell) per cell. */
uint64_t grid_run_seed(const bn_grid_config *g, double x, double log10_lr, size_t restart);

/* config.json text for the grid (everything that determines the results, the version and the
 * title note); its result keys give the grid's identity (grid/identity.h). */
int grid_config_json(const bn_grid_config *g, char *buf, size_t capacity);

/* One run of a grid: the indices of its x value, learning rate and restart. */
typedef struct {
    size_t ix, ilr, restart;
    int predicted_unstable; /* above the theory's eta_bar: likely to explode early */
} grid_run_slot;

/* Every run of the grid (n_x * n_lr * n_restarts) in the order the runner starts them: the
 * runs the theory expects to be stable first (the long ones), then by restart, learning rate
 * and x. Shard K of N takes positions K-1, K-1+N, ...: a mix of long and short runs. malloc'd;
 * NULL if out of memory. */
grid_run_slot *grid_run_order(const bn_grid_config *g, const bn_model_spec *spec);

/* Writes DIR/theory.csv (eta_bar of the theory across the x axis) under `identity`. */
int grid_write_theory(const bn_grid_config *g, const bn_model_spec *spec, uint64_t identity,
                      bn_error *err);

/* Checks DIR against this configuration, reading only: config.json must be absent or say the
 * same, and runs.csv must be absent, empty, or carry this configuration's identity (and then
 * have its config.json). Returns 0 if DIR may be used; 1 if not (err says why and what to do:
 * the keys that differ, a missing config.json, a runs.csv of another configuration or with no
 * identity line); -1 on a read error. */
int grid_check_config(const bn_grid_config *g, bn_error *err);

/* Runs of the grid (of its shard) not yet in its run log (all of them with --force, or when it
 * cannot be read: grid_run then says why), for sizing the work before it starts. */
size_t grid_runs_left(const bn_grid_config *g);

/* Runs the missing runs of the grid (of its shard); results in g->out_dir. stop is set by
 * signal handlers. -1 on failure; 1 if refused because DIR holds another configuration (a
 * shard that lost the race to create config.json to a shard of another grid). */
int grid_run(const bn_grid_config *g, const bn_dataset *ds, volatile sig_atomic_t *stop,
             bn_grid_summary *summary, bn_error *err);

/* A worker rank of an MPI job (g->cluster, rank > 0): trains the runs rank 0 hands it, on
 * g->threads threads (0: every core), and sends each finished record back; returns once rank 0
 * has no more. Writes no file. */
void grid_work(const bn_grid_config *g, const bn_dataset *ds, volatile sig_atomic_t *stop);

/* mkdir -p. */
int grid_make_dirs(const char *path, bn_error *err);

#endif
