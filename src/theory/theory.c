/* The mean-field recursions of the paper (sections 3.1-3.3, supplement 6.1-6.3) for the
 * networks of a bn_model_spec, the lower bound on lambda_max (Claim 3.1) and eta_bar (eq. 7),
 * and the CSV the grid runner overlays on its heatmap. Every layer is treated as a conv layer:
 * an fc layer has one location, and the output layer of a cnn is a conv layer whose kernel
 * covers the whole last feature map, so one set of recursions serves both architectures.
 * docs/theory.md derives each step and lists the readings of the OCR'd equations. */
#include "bntrain/theory.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "bntrain/conv.h"

#define PI 3.14159265358979323846

/* E[relu(u) relu(v)] for standard normals u, v with correlation c (eq. 21 without the q). */
static double relu_kernel(double c) {
    return (sqrt(1.0 - c * c) + c * (PI / 2.0 + asin(c))) / (2.0 * PI);
}

/* E[relu'(u) relu'(v)] for standard normals u, v with correlation c (eq. 22 without the
 * sigma_w^2): the orthant probability 1/4 + asin(c) / (2 pi). */
static double step_kernel(double c) {
    return (PI / 2.0 + asin(c)) / (2.0 * PI);
}

/* Rounding can push a ratio of order parameters a hair past 1; asin must not see that. */
static double clamp_correlation(double c) {
    return c > 1.0 ? 1.0 : c < -1.0 ? -1.0 : c;
}

/* Share of the (output position, kernel tap) pairs along one dimension that land inside the
 * input rather than on zero padding. */
static double tap_fraction_1d(size_t in, size_t out, size_t kernel, size_t stride, size_t padding) {
    size_t inside = 0;
    for (size_t o = 0; o < out; o++)
        for (size_t t = 0; t < kernel; t++) {
            size_t pos = o * stride + t; /* position in the padded input */
            inside += pos >= padding && pos < in + padding;
        }
    return (double)inside / (double)(out * kernel);
}

static void set_fc(bn_theory_layer *l, size_t in_units, size_t out_units) {
    memset(l, 0, sizeof *l);
    l->in_channels = in_units;
    l->out_channels = out_units;
    l->taps = 1;
    l->fan_in = in_units;
    l->in_locations = l->out_locations = 1;
    l->tap_fraction = 1.0;
}

/* Fills the geometry of every weight layer; the order parameters are left at zero. */
static int layer_geometry(const bn_model_spec *spec, bn_theory_layer *layers, size_t *n_layers,
                          bn_error *err) {
    if (model_spec_check(spec, err)) return -1;
    if (arch_is_deep(spec->arch))
        return bn_fail(err, "no mean-field theory for %s: it covers the fc and cnn nets",
                       arch_name(spec->arch));
    size_t c = spec->in_channels, h = spec->in_height, w = spec->in_width, locations, flat;
    if (bn_mul_size(h, w, &locations) || bn_mul_size(c, locations, &flat))
        return bn_fail(err, "input shape %zu x %zu x %zu overflows", c, h, w);
    if (flat == 0) return bn_fail(err, "empty input shape %zu x %zu x %zu", c, h, w);
    size_t n_hidden = spec->n_hidden;
    if (spec->arch == ARCH_FC) {
        size_t in_units = flat;
        for (size_t i = 0; i < n_hidden; i++) {
            set_fc(&layers[i], in_units, spec->hidden[i]);
            in_units = spec->hidden[i];
        }
        set_fc(&layers[n_hidden], in_units, spec->n_classes);
        *n_layers = n_hidden + 1;
        return 0;
    }
    size_t k = spec->kernel, s = spec->stride, p = spec->padding;
    for (size_t i = 0; i < n_hidden; i++) {
        bn_theory_layer *l = &layers[i];
        size_t out_h = conv_out_size(h, k, s, p), out_w = conv_out_size(w, k, s, p);
        memset(l, 0, sizeof *l);
        l->in_channels = c;
        l->out_channels = spec->hidden[i];
        l->taps = k * k;
        l->fan_in = c * k * k;
        l->in_locations = h * w;
        l->out_locations = out_h * out_w;
        l->tap_fraction = tap_fraction_1d(h, out_h, k, s, p) * tap_fraction_1d(w, out_w, k, s, p);
        c = spec->hidden[i];
        h = out_h;
        w = out_w;
    }
    /* The output layer reads the flattened C x H x W map: a conv layer with an H x W kernel
     * and a single output location. */
    bn_theory_layer *out = &layers[n_hidden];
    set_fc(out, c, spec->n_classes);
    out->taps = out->in_locations = h * w;
    if (bn_mul_size(c, h * w, &out->fan_in)) return bn_fail(err, "output layer fan-in overflows");
    *n_layers = n_hidden + 1;
    return 0;
}

/* Eq. 23-24 / 34-36 / 39-41 (and eq. 46 at l = 0): the pre-activation of a layer from the
 * order parameters of its input. Zero padding removes the share 1 - tap_fraction of the
 * weighted terms. */
static void layer_preactivation(const bn_theory_config *cfg, bn_theory_layer *l) {
    double weight = cfg->sigma_w2 * l->tap_fraction;
    l->q = cfg->sigma_b2 + weight * l->q_hat;
    l->q_xy = cfg->sigma_b2 + weight * l->q_hat_xy;
    l->q_ab = l->out_locations > 1 ? cfg->sigma_b2 + weight * l->q_hat_ab : 0.0;
}

/* The ReLU input of a hidden layer: its variance and the correlations between samples
 * (c_xy) and between samples at two locations (c_ab), and the backward gain. */
static int layer_relu_input(const bn_theory_config *cfg, int batchnorm, bn_theory_layer *l,
                            bn_error *err) {
    if (!batchnorm) {
        l->relu_var = l->q;
        l->c_xy = clamp_correlation(l->q_xy / l->q);
        l->c_ab = clamp_correlation(l->q_ab / l->q);
        l->gain = 1.0;
        return 0;
    }
    /* BN output gamma u with u of unit variance over the data (eq. 13-15). */
    double gamma2 = cfg->gamma * cfg->gamma;
    l->relu_var = gamma2;
    if (cfg->variant == THEORY_PAPER) {
        /* Claim 6.1: u(x), u(y) uncorrelated; eq. 70 approximates s_l^2 by q^l. */
        l->c_xy = l->c_ab = 0.0;
        l->bn_var = l->q;
    } else {
        /* The channel's population mean squared averages the pairs of (sample, location)
         * cells; the bias and any data mean shared by x and y drop out of s^2. */
        double k = (double)l->out_locations;
        double mean2 = (l->q_xy + (k - 1.0) * l->q_ab) / k;
        l->bn_var = l->q - mean2;
        if (!(l->bn_var > 0.0))
            return bn_fail(err, "the BatchNorm input has no variance over the data (%g)",
                           l->bn_var);
        l->c_xy = clamp_correlation((l->q_xy - mean2) / l->bn_var);
        l->c_ab = l->out_locations > 1 ? clamp_correlation((l->q_ab - mean2) / l->bn_var) : 0.0;
    }
    l->gain = gamma2 / l->bn_var;
    return 0;
}

/* Eq. 20-21 / 128-130 (vanilla) and eq. 54, 62, 100-104 (BN): the activation h^l = relu of
 * the ReLU input, which is the input of the next layer. */
static void layer_activation(const bn_theory_layer *l, bn_theory_layer *next) {
    next->q_hat = l->relu_var / 2.0;
    next->q_hat_xy = l->relu_var * relu_kernel(l->c_xy);
    next->q_hat_ab = next->in_locations > 1 ? l->relu_var * relu_kernel(l->c_ab) : 0.0;
}

/* Eq. 22 / 25 / 37-38 / 42-43 in summed form: delta^l from delta^{l+1}. Summed over
 * locations, a layer with any stride passes sigma_w^2 times the share of taps inside the input
 * back (each (output location, tap) pair reaches one input location), so |K| enters through
 * the definition of the sums only. */
static void layer_backward(const bn_theory_config *cfg, bn_theory_layer *l,
                           const bn_theory_layer *next) {
    double weight = cfg->sigma_w2 * next->tap_fraction * l->gain;
    l->qt = weight * 0.5 * next->qt;
    l->qt_xy = weight * step_kernel(l->c_xy) * next->qt_xy;
    l->qt_ab = weight * step_kernel(l->c_ab) * next->qt_ab;
}

/* Eq. 161 (fc) and 164-168 (conv): the x != y term and the x = y term of the plug-in sum for
 * this layer's weights, forward and backward order parameters taken as independent. */
static void layer_terms(bn_theory_layer *l, double *f) {
    double n = (double)l->fan_in * l->tap_fraction;
    *f = n * (l->qt_xy * l->q_hat_xy + l->qt_ab * l->q_hat_ab);
    l->trace = n * l->qt * l->q_hat;
}

static int check_config(const bn_model_spec *spec, const bn_theory_config *cfg, bn_error *err) {
    if (!(cfg->sigma_w2 > 0.0) || !isfinite(cfg->sigma_w2))
        return bn_fail(err, "sigma_w2 must be positive and finite, got %g", cfg->sigma_w2);
    if (!(cfg->sigma_b2 >= 0.0) || !isfinite(cfg->sigma_b2))
        return bn_fail(err, "sigma_b2 must be non-negative and finite, got %g", cfg->sigma_b2);
    if (!(cfg->momentum >= 0.0 && cfg->momentum < 1.0))
        return bn_fail(err, "momentum must be in [0, 1), got %g", cfg->momentum);
    if (spec->batchnorm && (!(cfg->gamma > 0.0) || !isfinite(cfg->gamma)))
        return bn_fail(err, "gamma must be positive and finite, got %g", cfg->gamma);
    if (!(cfg->input_q_hat > 0.0) || !isfinite(cfg->input_q_hat) ||
        !isfinite(cfg->input_q_hat_xy) || !isfinite(cfg->input_q_hat_ab))
        return bn_fail(err, "input order parameters must be finite with q_hat^0 > 0");
    return 0;
}

void theory_config_paper(bn_theory_config *cfg, double gamma, double sigma_w2, double sigma_b2,
                         double momentum) {
    memset(cfg, 0, sizeof *cfg);
    cfg->gamma = gamma;
    cfg->sigma_w2 = sigma_w2;
    cfg->sigma_b2 = sigma_b2;
    cfg->momentum = momentum;
    cfg->input_q_hat = 1.0;
    cfg->input_q_hat_xy = 0.0;
    cfg->input_q_hat_ab = 0.0;
    cfg->variant = THEORY_PAPER;
}

int theory_evaluate_config(const bn_model_spec *spec, const bn_theory_config *cfg,
                           bn_theory_result *out, bn_error *err) {
    memset(out, 0, sizeof *out);
    if (check_config(spec, cfg, err)) return -1;
    bn_theory_layer *layers = out->layer;
    size_t n_layers = 0;
    if (layer_geometry(spec, layers, &n_layers, err)) return -1;
    out->n_layers = n_layers;

    layers[0].q_hat = cfg->input_q_hat;
    layers[0].q_hat_xy = cfg->input_q_hat_xy;
    layers[0].q_hat_ab = layers[0].in_locations > 1 ? cfg->input_q_hat_ab : 0.0;
    for (size_t i = 0; i < n_layers; i++) {
        layer_preactivation(cfg, &layers[i]);
        if (i + 1 == n_layers) break;
        if (layer_relu_input(cfg, spec->batchnorm, &layers[i], err)) return -1;
        layer_activation(&layers[i], &layers[i + 1]);
    }

    /* Base case (eq. 64): one linear output component, delta^L = e_k. */
    bn_theory_layer *last = &layers[n_layers - 1];
    last->qt = last->qt_xy = 1.0;
    last->qt_ab = 0.0;
    for (size_t i = n_layers - 1; i-- > 0;)
        layer_backward(cfg, &layers[i], &layers[i + 1]);

    for (size_t i = 0; i < n_layers; i++) {
        layer_terms(&layers[i], &out->f[i]);
        out->lambda_max += out->f[i];
        out->trace += layers[i].trace;
    }
    if (!(out->lambda_max > 0.0) || !isfinite(out->lambda_max))
        return bn_fail(err,
                       "the lambda_max bound is %g, not positive (with no hidden layer, "
                       "mean-zero inputs give 0)",
                       out->lambda_max);
    out->eta_bar = 2.0 * (1.0 + cfg->momentum) / out->lambda_max;
    out->log10_eta_bar = log10(out->eta_bar);
    return 0;
}

int theory_evaluate(const bn_model_spec *spec, double gamma, double sigma_w2, double sigma_b2,
                    double momentum, bn_theory_result *out, bn_error *err) {
    bn_theory_config cfg;
    theory_config_paper(&cfg, gamma, sigma_w2, sigma_b2, momentum);
    return theory_evaluate_config(spec, &cfg, out, err);
}

/* The rows of theory_write_csv into an open stream named name (for messages). */
static int write_rows(FILE *file, const char *name, const bn_model_spec *spec,
                      const double *x_values, size_t n, int x_is_sigma_w2, double gamma,
                      double sigma_w2, double sigma_b2, double momentum, bn_error *err) {
    if (fprintf(file, "%s,lambda_max,eta_bar,log10_eta_bar\n",
                x_is_sigma_w2 ? "sigma_w2" : "gamma") < 0)
        return bn_fail(err, "%s: write failed: %s", name, strerror(errno));
    for (size_t i = 0; i < n; i++) {
        bn_theory_result r;
        double x = x_values[i];
        if (theory_evaluate(spec, x_is_sigma_w2 ? gamma : x, x_is_sigma_w2 ? x : sigma_w2, sigma_b2,
                            momentum, &r, err))
            return -1;
        if (fprintf(file, "%.12g,%.12g,%.12g,%.12g\n", x, r.lambda_max, r.eta_bar,
                    r.log10_eta_bar) < 0)
            return bn_fail(err, "%s: write failed: %s", name, strerror(errno));
    }
    return 0;
}

int theory_write_csv(const char *path, const char *first_line, const bn_model_spec *spec,
                     const double *x_values, size_t n, int x_is_sigma_w2, double gamma,
                     double sigma_w2, double sigma_b2, double momentum, bn_error *err) {
    /* The rows go to a temp file that replaces path only when every row is in. */
    atomic_file out;
    if (atomic_file_open(&out, path, err)) return -1;
    int failed = first_line && fputs(first_line, out.file) < 0
                     ? bn_fail(err, "%s: write failed: %s", path, strerror(errno))
                     : write_rows(out.file, path, spec, x_values, n, x_is_sigma_w2, gamma, sigma_w2,
                                  sigma_b2, momentum, err);
    if (failed) {
        atomic_file_abort(&out);
        return -1;
    }
    return atomic_file_commit(&out, err);
}
