/* In-memory table of a grid's runs, indexed by (cell, restart): which runs are done, and the
 * per-cell summaries of cells.csv, always computed in restart order. */
#ifndef BNTRAIN_GRID_STORE_H
#define BNTRAIN_GRID_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/error.h"
#include "grid/results.h"

/* The runs of a grid: every (x, log10 eta) cell, n_restarts times. The values are the
 * caller's and must outlive the store. */
typedef struct {
    const char *x_name; /* "gamma" or "sigma_w2": the first column of cells.csv */
    const double *x_values;
    size_t n_x;
    const double *log10_lrs;
    size_t n_lr;
    size_t n_restarts;
    uint64_t identity; /* of the configuration (grid/identity.h): cells.csv's first line */
} grid_shape;

typedef struct {
    grid_shape shape;
    unsigned char *done; /* n_x * n_lr * n_restarts flags */
    bn_run_record *runs; /* same index */
    size_t n_done, n_exploded;
} grid_store;

int grid_store_create(grid_store *s, const grid_shape *shape, bn_error *err);
void grid_store_free(grid_store *s);
/* Index of (x, log10_lr, restart) in the store, or -1 if the run is not in this grid. */
long grid_store_index(const grid_store *s, double x, double log10_lr, size_t restart);
/* Adds a record: 1 if added, 0 if that run was already there, -1 if not in this grid. */
int grid_store_add(grid_store *s, const bn_run_record *r);
/* Writes DIR/cells.csv atomically: the identity line, the header, a line per cell. */
int grid_store_write_cells(const grid_store *s, const char *dir, bn_error *err);

#endif
