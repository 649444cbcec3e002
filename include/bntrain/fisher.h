/* The Fisher information of the Gaussian (mse) model and its largest eigenvalue, measured.
 *
 * For m samples x_1..x_m, F = (1/m) sum_i J(x_i)^T J(x_i), J(x) the Jacobian of the logits
 * with respect to every trained parameter (weights, biases, BatchNorm scales and shifts; the
 * padding and alignment gaps of the parameter arena are not parameters and stay 0). F v is
 * computed exactly as J^T (J v): the model's tangent pass (model_tangent) for J v, then the
 * model's backward pass with output gradient J v / m. lambda_max comes from Lanczos with full
 * reorthogonalisation, the tridiagonal's eigenproblem solved by LAPACK's dstev. See
 * docs/theory.md, section 9, "The Fisher's λ_max, measured".
 *
 * BatchNorm: which statistics J differentiates (fisher_bn_mode). The paper's theory (Claim
 * 3.1, eq. 148) treats f(x) as a function of one sample with BatchNorm in population mode;
 * FISHER_BN_POPULATION, the default, sets the statistics to those of the m samples and holds
 * them fixed, as `bntrain theory --check` does. The model passed in is never changed. */
#ifndef BNTRAIN_FISHER_H
#define BNTRAIN_FISHER_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/error.h"
#include "bntrain/model.h"

typedef enum {
    /* running statistics set to the m samples' mean and biased variance, then held fixed
     * (model_calibrate_batchnorm_with on a copy): the theory's population mode */
    FISHER_BN_POPULATION,
    /* the model's running statistics as they are, held fixed (eval mode) */
    FISHER_BN_RUNNING,
    /* batch statistics over all m samples, differentiated through (train mode): J is then the
     * Jacobian of the m x n_classes outputs of the batch, F = J^T J / m */
    FISHER_BN_BATCH
} fisher_bn_mode;

typedef struct {
    fisher_bn_mode bn_mode;
    /* Lanczos stops when the Ritz estimate of ||F y - lambda y|| is at most tolerance * lambda
     * (default 1e-3) */
    double tolerance;
    size_t max_iterations; /* Lanczos steps at most; also the basis kept (default 40: the
                              paper's FC net on MNIST converges in 11-14) */
    uint64_t seed;         /* of the random start vector (default 1) */
} fisher_options;

typedef struct {
    double lambda_max;
    size_t iterations; /* Lanczos steps taken (each one F v) */
    double residual;   /* ||F y - lambda_max y|| for the unit Ritz vector y, recomputed */
    int converged;     /* the tolerance was reached (else max_iterations ran out) */
    double seconds;    /* wall time of the measurement */
} fisher_result;

void fisher_options_default(fisher_options *options);
/* "population", "running", "batch"; fisher_bn_mode_from_name: -1 for any other name. */
const char *fisher_bn_mode_name(fisher_bn_mode mode);
int fisher_bn_mode_from_name(const char *name, fisher_bn_mode *mode);

/* ---- Lanczos on any symmetric operator (also what tests drive with a known spectrum) ---- */

/* out = A v over dim floats; must not keep pointers. */
typedef void (*lanczos_operator)(void *ctx, const float *v, float *out);

typedef struct {
    size_t dim, max_iterations;
    float *basis;         /* (max_iterations + 1) x dim: the orthonormal Lanczos vectors */
    float *product;       /* dim: A q, and A y for the residual */
    double *w;            /* dim: the new direction, orthogonalised in double */
    double *alpha, *beta; /* the tridiagonal, max_iterations each */
    double *diag, *offdiag, *eigvec, *lapack_work; /* dstev's copies and output */
} lanczos_workspace;

int lanczos_create(lanczos_workspace *lz, size_t dim, size_t max_iterations, bn_error *err);
/* The bytes lanczos_create allocates. */
size_t lanczos_bytes(size_t dim, size_t max_iterations);
void lanczos_free(lanczos_workspace *lz);
/* The largest eigenvalue of a symmetric positive semi-definite operator from the start
 * vector start (dim floats, not all 0; normalised here). Fills result (seconds excepted);
 * -1 with err if LAPACK fails. */
int lanczos_largest(lanczos_workspace *lz, lanczos_operator apply, void *ctx, const float *start,
                    double tolerance, fisher_result *result, bn_error *err);

/* ---- the Fisher of a model ---- */

/* Everything a measurement needs for up to max_samples samples of one network spec, allocated
 * once (a copy of the network with arenas for max_samples, the tangents, the mask of real
 * parameters, the Lanczos basis): `train --track-lambda` measures every N steps without
 * allocating. */
typedef struct {
    fisher_options options;
    size_t max_samples;
    bn_model model;      /* the copy: parameters and running statistics copied per measurement */
    float *tangents;     /* model.n_acts */
    float *scratch;      /* model_tangent_scratch_floats */
    float *dlogits;      /* max_samples x n_classes */
    float *mask;         /* n_params: 1 for a trained parameter, 0 for padding */
    float *start;        /* n_params */
    double *calibration; /* model_calibrate_scratch_doubles: population mode's sums */
    lanczos_workspace lanczos;
    const float *input; /* of the measurement in progress */
    size_t n;
} fisher_workspace;

int fisher_create(fisher_workspace *fw, const bn_model_spec *spec, size_t max_samples,
                  const fisher_options *options, bn_error *err);
void fisher_free(fisher_workspace *fw);
/* The bytes fisher_create would allocate, computed without allocating the arenas, so a
 * command can check them against the memory it has before reading data. options NULL:
 * defaults. 0, or -1 with err if the spec is refused. */
int fisher_plan_bytes(const bn_model_spec *spec, size_t max_samples, const fisher_options *options,
                      size_t *bytes, bn_error *err);
/* lambda_max of F for `model` (same spec as the workspace's) on the first n <= max_samples
 * images of input (n x model_input_size floats). */
int fisher_measure_in(fisher_workspace *fw, const bn_model *model, const float *input, size_t n,
                      fisher_result *result, bn_error *err);
/* One measurement with its own workspace: create, measure, free. options NULL: defaults. */
int fisher_measure(const bn_model *model, const float *input, size_t n,
                   const fisher_options *options, fisher_result *result, bn_error *err);
/* out = F v (n_params floats each, v 0 outside the mask; out is masked) for the samples of the
 * last fisher_measure_in, or of fisher_prepare: what the tests compare with a dense F. */
int fisher_prepare(fisher_workspace *fw, const bn_model *model, const float *input, size_t n,
                   bn_error *err);
void fisher_apply(void *fisher_workspace_ptr, const float *v, float *out);

#endif
