/* The measured phase boundary of a grid and its distance to the theory's eta_bar. */
#ifndef BNTRAIN_BOUNDARY_H
#define BNTRAIN_BOUNDARY_H

#include <stddef.h>

#include "bntrain/error.h"
#include "bntrain/loss.h"

typedef struct {
    size_t n_x;            /* grid columns */
    size_t n_measured;     /* columns with a diverged cell and a theory value */
    double mean_abs_decades, max_abs_decades; /* |log10 eta_emp - log10 eta_bar| */
    double mean_decades;   /* signed mean: > 0 when runs survive above eta_bar */
    double lr_step_decades; /* resolution of the measurement: the log10 eta spacing */
} bn_boundary_summary;

/* For each column x of the grid in DIR (cells.csv, theory.csv), the empirical critical
 * learning rate: the smallest eta whose cell diverged, where a cell diverged if any restart
 * exploded (non-finite loss or parameters) or its mean test loss exceeds diverged_loss (a loss
 * that blew up without overflowing). The folder's files must carry config.json's identity
 * (grid/identity.h). Writes DIR/boundary.csv (the identity line, then
 * x,log10_lr_emp,log10_eta_bar,distance_decades; NaN where no cell of the column diverged)
 * atomically, and fills the summary. */
int boundary_write(const char *dir, double diverged_loss, bn_boundary_summary *summary,
                   bn_error *err);

/* A mean test loss this far above that of predicting all zeros has blown up even if it is
 * finite: the diverged_loss boundary_write takes for a grid trained with LOSS. */
double boundary_diverged_loss(bn_loss loss);

/* Writes DIR/boundary.csv as boundary_write does, for a grid whose every cell has run, whose
 * theory.csv exists and whose config.json names its loss, unless the file is there already
 * (`bntrain grid` does not write it; `bntrain figures` does). *written says whether it did.
 * Returns 0, or -1 with err. */
int boundary_ensure(const char *dir, int *written, bn_error *err);

#endif
