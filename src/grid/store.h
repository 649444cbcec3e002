/* In-memory table of a grid's runs, indexed by (cell, restart): which runs are done, and the
 * per-cell summaries of cells.csv, always computed in restart order. */
#ifndef BNTRAIN_GRID_STORE_H
#define BNTRAIN_GRID_STORE_H

#include <stddef.h>

#include "bntrain/error.h"
#include "grid/runner.h"
#include "grid/results.h"

typedef struct {
    size_t n_x, n_lr, n_restarts;
    const double *x_values, *log10_lrs;
    const char *x_name;
    unsigned char *done;  /* n_x * n_lr * n_restarts flags */
    bn_run_record *runs;  /* same index */
    size_t n_done, n_exploded;
} grid_store;

int grid_store_create(grid_store *s, const bn_grid_config *g, bn_error *err);
void grid_store_free(grid_store *s);
/* Index of (x, log10_lr, restart) in the store, or -1 if the run is not in this grid. */
long grid_store_index(const grid_store *s, double x, double log10_lr, size_t restart);
/* Adds a record: 1 if added, 0 if that run was already there, -1 if not in this grid. */
int grid_store_add(grid_store *s, const bn_run_record *r);
/* Writes DIR/cells.csv atomically. */
int grid_store_write_cells(const grid_store *s, const char *dir, bn_error *err);

#endif
