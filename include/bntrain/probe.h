/* What happens inside a network, layer by layer (issue 22): one forward and backward pass in
 * train mode over a batch of real images, and per weight layer (Linear or Conv, numbered from
 * 1 at the input):
 *   - the pre-activations' channel statistics: the mean over channels, and the spread (standard
 *     deviation) over channels, of |channel mean| and of channel variance, where a channel's
 *     moments are over the batch (and the spatial positions of a conv layer). Pre-activation:
 *     the Linear/Conv output, what BatchNorm normalises or would normalise (paper 001 Fig. 3);
 *   - the Frobenius norm of dL/dW on that batch and its ratio to the norm of W (papers 001,
 *     004);
 *   - the Kronecker factors of the layer's Fisher block (paper 003): the input covariance
 *     Sigma_x = E[x x^T] and the output-gradient covariance Sigma_dh = E[g g^T], over the
 *     samples (and, for a conv layer, each spatial position as an example, as paper 003 does),
 *     their spectra, lambda_max, lambda_min over the non-zero spectrum and condition numbers;
 * and at the output layer, per class j, |mean over the batch of dL_b/dz_j| with its standard
 * deviation over the batch (paper 001 Fig. 4: input-independent output gradients).
 *
 * Conventions. L is the batch-mean loss; g_b = batch * dL/dh_b is sample b's own gradient (the
 * row of the per-sample loss L_b; with BatchNorm the samples are coupled through the batch
 * statistics and g_b is sample b's row of the batch gradient). The Fisher is the empirical one
 * (true labels). x excludes the bias input. Eigenvalues are computed in double precision from
 * covariances accumulated in double. */
#ifndef BNTRAIN_PROBE_H
#define BNTRAIN_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bntrain/error.h"
#include "bntrain/loss.h"
#include "bntrain/model.h"

/* Kronecker factors of a larger dimension are skipped (a dense d x d eigenproblem costs d^3). */
#define BN_PROBE_EIG_MAX_DIM 2048
/* An eigenvalue counts as non-zero when above this times lambda_max. The covariances are sums
 * of P outer products in double; LAPACK's eigenvalues carry an absolute error of about
 * d * 1e-16 * lambda_max (d <= BN_PROBE_EIG_MAX_DIM: below 1e-12), and a rank-deficient factor
 * (fewer examples than dimensions, a dead ReLU unit, an always-black MNIST pixel) has exact
 * zeros that come out at that level. 1e-10 sits two decades above that noise, so condition
 * numbers up to 1e10 are measured and numerical zeros never counted. */
#define BN_PROBE_RELATIVE_ZERO 1e-10
/* The layer number of a whole-network row ("all" in probe.csv). */
#define BN_PROBE_ALL ((size_t)0)

typedef struct {
    size_t eig_max_dim; /* 0: BN_PROBE_EIG_MAX_DIM */
    size_t threads;     /* for the covariances (0: 1); the results do not depend on it */
} bn_probe_config;

/* One line of probe.csv: layer (1-based weight layer, BN_PROBE_ALL for the network), the
 * quantity's name, its value and spread (NaN: none, an empty field). */
typedef struct {
    size_t layer;
    char quantity[32];
    double value, spread;
} bn_probe_row;

/* A weight layer's Kronecker factors: dimensions and eigenvalues in descending order (NULL
 * when the factor's dimension is above eig_max_dim: skipped). */
typedef struct {
    size_t model_layer; /* its index in bn_model.layers */
    size_t x_dim, g_dim;
    double *x_eigenvalues, *g_eigenvalues;
} bn_probe_layer;

typedef struct {
    size_t n_layers; /* weight layers */
    bn_probe_layer *layers;
    size_t n_rows, capacity;
    bn_probe_row *rows;
} bn_probe_report;

/* Runs the probe on the first n images (NCHW, normalised) and labels, with the model's
 * parameters as they are; n <= model->max_batch. The forward runs in train mode (BatchNorm
 * uses the batch's statistics, as in a training step) and overwrites the model's gradients,
 * activations and BN running statistics; the parameters are untouched. Fills report (free it
 * with probe_report_free, also after a failure). */
int probe_run(bn_model *model, const float *images, const uint8_t *labels, size_t n, bn_loss loss,
              const bn_probe_config *config, bn_probe_report *report, bn_error *err);
void probe_report_free(bn_probe_report *report);

/* Appends a row: for measurements made elsewhere (the Fisher's lambda_max of `probe --lambda`,
 * issue 22 item 2, adds all,lambda_max here). */
int probe_report_add(bn_probe_report *report, size_t layer, const char *quantity, double value,
                     double spread, bn_error *err);
/* The row of (layer, quantity), or NULL. */
const bn_probe_row *probe_report_find(const bn_probe_report *report, size_t layer,
                                      const char *quantity);

/* DIR/probe.csv: header `layer,quantity,value,spread`, one line per row (%.9g), written
 * atomically (temp file, fsync, rename). */
int probe_write_csv(const char *path, const bn_probe_report *report, bn_error *err);
/* The spectra: `layer,factor,index,eigenvalue` (factor input or outgrad, index from 1 at the
 * largest), atomically. */
int probe_write_eigenvalues(const char *path, const bn_probe_report *report, bn_error *err);
/* A plain aligned table: a line per weight layer, then the output gradient per class. */
void probe_print_table(FILE *out, const bn_probe_report *report);

/* The symmetric eigenvalues of the d x d matrix a (row-major, overwritten), in descending
 * order into eigenvalues[d]; exposed for the tests' direct check. */
int probe_symmetric_eigenvalues(double *a, size_t d, double *eigenvalues, bn_error *err);

#endif
