/* Mean-field theory of "Mean-field Analysis of Batch Normalization" (shared/papers/000):
 * order-parameter recursions for the networks a bn_model_spec describes, the lower bound on
 * lambda_max of the Fisher information (Claim 3.1, eq. 44-45) and the maximal stable learning
 * rate eta_bar = 2(1 + mu) / lambda_max (eq. 7). An empirical check measures the same per-layer
 * terms on freshly initialised networks. docs/theory.md gives every equation with its number
 * and every reading the OCR'd text needed. */
#ifndef BNTRAIN_THEORY_H
#define BNTRAIN_THEORY_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/error.h"
#include "bntrain/model.h"

/* Weight layers: one per hidden block, plus the linear output layer. */
#define BN_THEORY_MAX_LAYERS (BN_MAX_HIDDEN + 1)

typedef enum {
    /* The paper: BatchNorm output samples uncorrelated, and the backward pass divides by
     * s_l^2 ~ q^l (eq. 25, 42-43). This is the theory behind eta_bar. */
    THEORY_PAPER,
    /* BatchNorm divides by the population variance s^2 = q - (mean)^2 of eq. 15 (bias and
     * data mean drop out) and keeps the correlation left after centring. Identical forward
     * pass for mean-zero inputs; used by the empirical check to name the source of a gap. */
    THEORY_POPULATION
} bn_theory_variant;

typedef struct {
    double gamma, sigma_w2, sigma_b2, momentum;
    /* Base cases, the order parameters of the input h^0 (per component): q_hat^0, q_hat^0_xy
     * (independent samples x != y) and q_hat^0_ab,xy (x != y at two different locations). The
     * paper's data have mean 0 and variance 1 per component: 1, 0, 0. */
    double input_q_hat, input_q_hat_xy, input_q_hat_ab;
    bn_theory_variant variant;
} bn_theory_config;

/* One weight layer l (1-based in the docs, index l - 1 here): input h^{l-1}, pre-activation
 * z^l, and the back-propagated delta^l = d f_k / d z^l for one output component k. */
typedef struct {
    /* Geometry. An fc layer is a conv layer with one location; the output layer of a cnn is a
     * conv layer whose kernel covers the whole last feature map (|F_L| = |K_{L-1}|). */
    size_t in_channels, out_channels; /* C_{l-1}, C_l (units for fc layers) */
    size_t taps;                      /* |F_l|: kernel sites (1 for fc layers) */
    size_t fan_in;                    /* N_{l-1} = C_{l-1} |F_l| */
    size_t in_locations;              /* |K_{l-1}| */
    size_t out_locations;             /* |K_l| */
    double tap_fraction;              /* mean share of the |F_l| taps inside the input
                                       * (1 without padding) */
    /* Forward order parameters of the input h^{l-1}, per channel and location (eq. 17-18,
     * 29-31): q_hat, q_hat_xy (x != y, same location), q_hat_ab (x != y, locations a != b;
     * 0 where there is one location). */
    double q_hat, q_hat_xy, q_hat_ab;
    /* The same for the pre-activation z^l. */
    double q, q_xy, q_ab;
    /* Hidden layers only (zero for the output layer): the variance and correlations of the
     * ReLU input (gamma u for BN, z for vanilla), s_l^2 (BN only) and the factor the
     * backward pass picks up between z^l and the ReLU (gamma^2 / s^2 for BN, 1 vanilla). */
    double relu_var, c_xy, c_ab, bn_var, gain;
    /* Backward order parameters (eq. 19, 32-33), summed over the |K_l| output locations:
     * qt = E ||delta||^2, qt_xy (x != y), qt_ab (x != y, summed over location pairs a != b).
     * The per-location averages of the paper are qt / |K_l| and qt_ab / (|K_l| (|K_l| - 1)). */
    double qt, qt_xy, qt_ab;
    /* The x = y term of the per-layer plug-in sum: E_x || d f_k(x) / d W_l ||^2. */
    double trace;
} bn_theory_layer;

typedef struct {
    double lambda_max; /* sum of f: the lower bound on lambda_max of Claim 3.1 */
    double eta_bar;    /* 2 (1 + mu) / lambda_max */
    double log10_eta_bar;
    double trace;                   /* sum of the layers' trace terms (weights only) */
    size_t n_layers;                /* weight layers L */
    double f[BN_THEORY_MAX_LAYERS]; /* per weight layer: f_l of eq. 44-45 */
    bn_theory_layer layer[BN_THEORY_MAX_LAYERS];
} bn_theory_result;

/* The paper's configuration: base cases 1, 0, 0 and THEORY_PAPER. */
void theory_config_paper(bn_theory_config *cfg, double gamma, double sigma_w2, double sigma_b2,
                         double momentum);

/* Evaluates the recursions for spec (spec->batchnorm selects BN or vanilla; gamma is ignored
 * without BN). Fails on an invalid spec or configuration, or a bound that is not positive. */
int theory_evaluate_config(const bn_model_spec *spec, const bn_theory_config *cfg,
                           bn_theory_result *out, bn_error *err);
/* theory_evaluate_config with theory_config_paper. */
int theory_evaluate(const bn_model_spec *spec, double gamma, double sigma_w2, double sigma_b2,
                    double momentum, bn_theory_result *out, bn_error *err);

/* Writes "gamma,lambda_max,eta_bar,log10_eta_bar" (first column "sigma_w2" when
 * x_is_sigma_w2, where each x replaces sigma_w2 and gamma is held) for each of the n x values,
 * atomically: temp file in the same folder, fsync, rename. first_line (with its newline), if
 * not NULL, goes before the header: a grid puts its identity line there. */
int theory_write_csv(const char *path, const char *first_line, const bn_model_spec *spec,
                     const double *x_values, size_t n, int x_is_sigma_w2, double gamma,
                     double sigma_w2, double sigma_b2, double momentum, bn_error *err);

/* The empirical check (src/theory_check.c): the plug-in sum (1/m^2) sum_{x,y} <d f_k(x) / d W_l,
 * d f_k(y) / d W_l> of eq. 152-155 measured on freshly initialised networks, BatchNorm in
 * population mode, averaged over the output components k and over seeds. */
typedef struct {
    size_t n_seeds;
    uint64_t seed;
} bn_check_config;

typedef struct {
    size_t n_layers;
    size_t n_samples; /* m */
    /* Base cases measured on the calibration images (same definitions as bn_theory_config). */
    double input_q_hat, input_q_hat_xy, input_q_hat_ab;
    double paper[BN_THEORY_MAX_LAYERS];           /* f_l of the paper's theory (m -> infinity) */
    double refined[BN_THEORY_MAX_LAYERS];         /* THEORY_POPULATION with the measured base cases,
                                                   * at finite m: ((m - 1) f_l + trace_l) / m */
    double measured[BN_THEORY_MAX_LAYERS];        /* mean over seeds of the mean over k */
    double measured_stderr[BN_THEORY_MAX_LAYERS]; /* standard error over seeds */
    double measured_sum_stderr; /* of the sum over layers (the layers share networks) */
    /* BatchNorm layers (hidden layer l, zero without BN): s_l^2 of THEORY_POPULATION, the
     * calibrated variance averaged over channels and seeds, and the Jensen factor
     * mean(s^2) mean(1/s^2) over channels (averaged over seeds), by which the backward gain
     * gamma^2 / s^2 of a real network exceeds the mean-field gamma^2 / mean(s^2). */
    double bn_var_theory[BN_THEORY_MAX_LAYERS];
    double bn_var_measured[BN_THEORY_MAX_LAYERS];
    double bn_jensen[BN_THEORY_MAX_LAYERS];
} bn_check_result;

/* Measures f_l for spec at gamma: BatchNorm statistics from the n_calibration images, the
 * plug-in sum over the m sample images (both n x C x H x W, normalised as the engine does). */
int theory_check(const bn_model_spec *spec, double gamma, double sigma_w2, double sigma_b2,
                 const float *calibration, size_t n_calibration, const float *samples, size_t m,
                 const bn_check_config *cfg, bn_check_result *out, bn_error *err);

#endif
