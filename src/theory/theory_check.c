/* The empirical check of the mean-field bound: on freshly initialised networks with BatchNorm
 * in population mode, the plug-in sum of eq. 152-155 for one output component k and weight
 * layer l, (1/m^2) sum_{x,y} <d f_k(x)/d W_l, d f_k(y)/d W_l> = ||(1/m) sum_x d f_k(x)/d W_l||^2,
 * is one backward pass with d logits = e_k / m per sample. Averaged over k and over seeds (the
 * theory is an ensemble average) and set beside the theory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bntrain/batchnorm.h"
#include "bntrain/rng.h"
#include "bntrain/theory.h"

/* Samples per forward / backward call: bounds the activation arenas for any m. */
#define CHECK_CHUNK 250

/* The base cases of the data, h^0 = x, over n >= 2 images: q_hat^0 averages the squared
 * components; q_hat^0_xy and q_hat^0_ab average products over pairs of distinct images
 * (U-statistics, so no 1/n bias), at the same component and at two different locations of a
 * channel. The fc network sees one location of C H W components. */
static int input_order_parameters(const bn_model_spec *spec, const float *images, size_t n,
                                  double *q_hat, double *q_hat_xy, double *q_hat_ab,
                                  bn_error *err) {
    size_t spatial = spec->in_height * spec->in_width, dim = spec->in_channels * spatial;
    size_t locations = spec->arch == ARCH_FC ? 1 : spatial, channels = dim / locations;
    double *sum = calloc(dim, sizeof *sum);
    if (!sum) return bn_fail(err, "out of memory for the input statistics");
    double square = 0.0, same_image_cross = 0.0;
    for (size_t s = 0; s < n; s++) {
        const float *x = images + s * dim;
        for (size_t c = 0; c < channels; c++) {
            double channel_sum = 0.0, channel_square = 0.0;
            for (size_t a = 0; a < locations; a++) {
                double v = x[c * locations + a];
                sum[c * locations + a] += v;
                channel_sum += v;
                channel_square += v * v;
            }
            square += channel_square;
            same_image_cross += channel_sum * channel_sum - channel_square;
        }
    }
    double pair_same = 0.0, pair_cross = 0.0;
    for (size_t c = 0; c < channels; c++) {
        double channel_sum = 0.0, channel_square = 0.0;
        for (size_t a = 0; a < locations; a++) {
            double v = sum[c * locations + a];
            channel_sum += v;
            channel_square += v * v;
        }
        pair_same += channel_square;
        pair_cross += channel_sum * channel_sum - channel_square;
    }
    free(sum);
    double pairs = (double)n * (double)(n - 1);
    *q_hat = square / ((double)n * (double)dim);
    *q_hat_xy = (pair_same - square) / (pairs * (double)dim);
    *q_hat_ab = locations > 1 ? (pair_cross - same_image_cross) /
                                    (pairs * (double)dim * (double)(locations - 1))
                              : 0.0;
    return 0;
}

/* Adds ||grad of each weight layer||^2 to f (indexed by weight layer). */
static void add_weight_gradient_norms(const bn_model *model, double *f) {
    size_t l = 0;
    for (size_t i = 0; i < model->n_layers; i++) {
        const bn_layer *layer = &model->layers[i];
        if (layer->kind != LAYER_LINEAR && layer->kind != LAYER_CONV) continue;
        const float *g = model->grads + layer->weight;
        double norm2 = 0.0;
        for (size_t j = 0; j < layer->n_weight; j++)
            norm2 += (double)g[j] * g[j];
        f[l++] += norm2;
    }
}

/* Adds, for each BN layer (indexed by its hidden layer), the channel mean of the calibrated
 * variance and the Jensen factor mean(s^2) mean(1/s^2), each divided by n_seeds. The eps is
 * the one the forward pass adds. */
static void add_batchnorm_variances(const bn_model *model, size_t n_seeds, double *var,
                                    double *jensen) {
    size_t l = 0;
    for (size_t i = 0; i < model->n_layers; i++) {
        const bn_layer *layer = &model->layers[i];
        if (layer->kind != LAYER_BATCHNORM) continue;
        double mean = 0.0, mean_inverse = 0.0, channels = (double)layer->out_c;
        for (size_t c = 0; c < layer->out_c; c++) {
            double v = (double)model->buffers[layer->running_var + c] + (double)BN_EPS;
            mean += v / channels;
            mean_inverse += 1.0 / (v * channels);
        }
        var[l] += mean / (double)n_seeds;
        jensen[l] += mean * mean_inverse / (double)n_seeds;
        l++;
    }
}

/* f_l summed over the output components for the network in model (already initialised and
 * calibrated): for each k, zero the gradients, then forward and backward every chunk of the m
 * samples with d logits = e_k / m, so that grads holds (1/m) sum_x d f_k(x)/d W. */
static void measure_network(bn_model *model, const float *samples, size_t m, float *dlogits,
                            double *f) {
    size_t n_classes = model->spec.n_classes, dim = model_input_size(model);
    for (size_t k = 0; k < n_classes; k++) {
        memset(model->grads, 0, model->n_params * sizeof(float));
        for (size_t start = 0; start < m; start += model->max_batch) {
            size_t count = m - start < model->max_batch ? m - start : model->max_batch;
            const float *x = samples + start * dim;
            memset(dlogits, 0, count * n_classes * sizeof(float));
            for (size_t s = 0; s < count; s++)
                dlogits[s * n_classes + k] = 1.0f / (float)m;
            model_forward(model, x, count, 0);
            model_backward(model, x, dlogits, count, 0);
        }
        add_weight_gradient_norms(model, f);
    }
}

/* Standard error of a mean over n draws, from their sum and sum of squares. */
static double standard_error(double sum, double sum_sq, size_t n) {
    if (n < 2) return 0.0;
    double mean = sum / (double)n, var = (sum_sq - (double)n * mean * mean) / (double)(n - 1);
    return var > 0.0 ? sqrt(var / (double)n) : 0.0;
}

/* Mean over seeds of f_l into out->measured, with standard errors over seeds. */
static int measure(const bn_model_spec *spec, double gamma, double sigma_w2, double sigma_b2,
                   const float *calibration, size_t n_calibration, const float *samples, size_t m,
                   const bn_check_config *cfg, bn_check_result *out, bn_error *err) {
    bn_model model;
    if (model_create(&model, spec, m < CHECK_CHUNK ? m : CHECK_CHUNK, err)) return -1;
    float *dlogits = malloc(model.max_batch * spec->n_classes * sizeof *dlogits);
    double sum[BN_THEORY_MAX_LAYERS + 1] = {0}, sum_sq[BN_THEORY_MAX_LAYERS + 1] = {0};
    size_t total = out->n_layers; /* index of the sum over layers in sum, sum_sq */
    int status = dlogits ? 0 : bn_fail(err, "out of memory for the check");
    for (size_t s = 0; s < cfg->n_seeds && !status; s++) {
        bn_rng rng;
        rng_seed(&rng, cfg->seed + s);
        model_init(&model, gamma, sigma_w2, sigma_b2, &rng);
        if (spec->batchnorm && model_calibrate_batchnorm(&model, calibration, n_calibration, err)) {
            status = -1;
            break;
        }
        add_batchnorm_variances(&model, cfg->n_seeds, out->bn_var_measured, out->bn_jensen);
        double f[BN_THEORY_MAX_LAYERS + 1] = {0};
        measure_network(&model, samples, m, dlogits, f);
        for (size_t l = 0; l < out->n_layers; l++) {
            f[l] /= (double)spec->n_classes; /* the mean over output components */
            f[total] += f[l];
        }
        for (size_t l = 0; l <= total; l++) {
            sum[l] += f[l];
            sum_sq[l] += f[l] * f[l];
        }
    }
    for (size_t l = 0; l < out->n_layers; l++) {
        out->measured[l] = sum[l] / (double)cfg->n_seeds;
        out->measured_stderr[l] = standard_error(sum[l], sum_sq[l], cfg->n_seeds);
    }
    out->measured_sum_stderr = standard_error(sum[total], sum_sq[total], cfg->n_seeds);
    free(dlogits);
    model_free(&model);
    return status;
}

int theory_check(const bn_model_spec *spec, double gamma, double sigma_w2, double sigma_b2,
                 const float *calibration, size_t n_calibration, const float *samples, size_t m,
                 const bn_check_config *cfg, bn_check_result *out, bn_error *err) {
    memset(out, 0, sizeof *out);
    if (m < 2 || n_calibration < 2)
        return bn_fail(err, "the check needs at least 2 sample and 2 calibration images");
    if (cfg->n_seeds == 0) return bn_fail(err, "the check needs at least one seed");
    out->n_samples = m;

    bn_theory_result paper, refined;
    if (theory_evaluate(spec, gamma, sigma_w2, sigma_b2, 0.0, &paper, err)) return -1;
    out->n_layers = paper.n_layers;

    bn_theory_config cfg_refined;
    theory_config_paper(&cfg_refined, gamma, sigma_w2, sigma_b2, 0.0);
    cfg_refined.variant = THEORY_POPULATION;
    if (input_order_parameters(spec, calibration, n_calibration, &cfg_refined.input_q_hat,
                               &cfg_refined.input_q_hat_xy, &cfg_refined.input_q_hat_ab, err) ||
        theory_evaluate_config(spec, &cfg_refined, &refined, err))
        return -1;
    out->input_q_hat = cfg_refined.input_q_hat;
    out->input_q_hat_xy = cfg_refined.input_q_hat_xy;
    out->input_q_hat_ab = cfg_refined.input_q_hat_ab;
    for (size_t l = 0; l < out->n_layers; l++) {
        out->paper[l] = paper.f[l];
        out->bn_var_theory[l] = refined.layer[l].bn_var;
        /* The measured sum keeps its m diagonal terms x = y: weight 1/m on the trace. */
        out->refined[l] = ((double)(m - 1) * refined.f[l] + refined.layer[l].trace) / (double)m;
    }
    return measure(spec, gamma, sigma_w2, sigma_b2, calibration, n_calibration, samples, m, cfg,
                   out, err);
}
