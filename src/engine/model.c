/* The network: layer list built from a spec, arenas allocated once, and forward / backward as
 * a loop with a switch over the layer kinds. */
#include "bntrain/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bntrain/gemm.h"
#include "bntrain/layers.h"
#include "bntrain/optim.h"
#include "base/runtime.h"
#include "engine/model_access.h"
#include "engine/model_build.h"

/* Zeroed, on a cache line (a panel row of a linear weight then fills two lines). */
static float *alloc_floats(size_t n) {
    size_t bytes = (n ? n : 1) * sizeof(float);
    float *x = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (x) memset(x, 0, bytes);
    return x;
}

/* The layer list is built in a list of BN_MAX_LAYERS and then cut to its size: one
 * allocation of at most 2.5 MB, once per run, instead of a counting pass over every builder. */
static int plan_layers(bn_model *m, bn_error *err) {
    m->layers = calloc(BN_MAX_LAYERS, sizeof *m->layers);
    if (!m->layers) return bn_fail(err, "out of memory for the layer list");
    build_architecture(m);
    build_finish(m);
    bn_layer *fitted = realloc(m->layers, m->n_layers * sizeof *m->layers);
    if (fitted) m->layers = fitted;
    return 0;
}

int model_plan(bn_model *m, const bn_model_spec *spec, size_t max_batch, bn_error *err) {
    memset(m, 0, sizeof *m);
    if (model_spec_check(spec, err)) return -1;
    if (max_batch == 0) return bn_fail(err, "batch size must be positive");
    m->spec = *spec;
    m->max_batch = max_batch;
    return plan_layers(m, err);
}

int model_create(bn_model *m, const bn_model_spec *spec, size_t max_batch, bn_error *err) {
    if (model_plan(m, spec, max_batch, err)) return -1;
    m->params = alloc_floats(m->n_params);
    m->grads = alloc_floats(m->n_params);
    m->velocity = alloc_floats(m->n_params);
    m->buffers = alloc_floats(m->n_buffers);
    m->stats = alloc_floats(m->n_stats);
    m->acts = alloc_floats(m->n_acts);
    m->dacts = alloc_floats(m->n_acts);
    if (m->n_grad_scratch) m->grad_scratch = alloc_floats(m->n_grad_scratch);
    if (!m->params || !m->grads || !m->velocity || !m->buffers || !m->stats || !m->acts ||
        !m->dacts || (m->n_grad_scratch && !m->grad_scratch)) {
        model_free(m);
        return bn_fail(err, "out of memory for a network with batch %zu", max_batch);
    }
    return 0;
}

size_t model_bytes(const bn_model *m) {
    size_t floats =
        3 * m->n_params + m->n_buffers + m->n_stats + 2 * m->n_acts + m->n_grad_scratch;
    return floats * sizeof(float);
}

int model_plan_bytes(const bn_model_spec *spec, size_t max_batch, size_t *bytes, bn_error *err) {
    bn_model plan;
    if (model_plan(&plan, spec, max_batch, err)) return -1;
    *bytes = model_bytes(&plan);
    model_free(&plan);
    return 0;
}

int model_plan_scratch_bytes(const bn_model_spec *spec, size_t max_batch, size_t *per_run,
                             size_t *per_thread, bn_error *err) {
    bn_model plan;
    if (model_plan(&plan, spec, max_batch, err)) return -1;
    size_t run_floats = 0, thread_floats = 0;
    for (size_t i = 0; i < plan.n_layers; i++) {
        if (plan.layers[i].kind != LAYER_CONV) continue;
        size_t run, thread;
        conv_scratch_floats(&plan.layers[i].conv, max_batch, &run, &thread);
        if (run > run_floats) run_floats = run;
        if (thread > thread_floats) thread_floats = thread;
    }
    model_free(&plan);
    *per_run = run_floats * sizeof(float);
    *per_thread = (thread_floats + gemm_thread_floats()) * sizeof(float);
    return 0;
}

void model_free(bn_model *m) {
    free(m->layers);
    free(m->params);
    free(m->grads);
    free(m->velocity);
    free(m->buffers);
    free(m->stats);
    free(m->acts);
    free(m->dacts);
    free(m->grad_scratch);
    memset(m, 0, sizeof *m);
}

size_t model_parameter_count(const bn_model *m) {
    size_t count = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        const bn_layer *l = &m->layers[i];
        if (l->kind == LAYER_LINEAR || l->kind == LAYER_CONV)
            count += l->fan_in * l->out_c + (l->bias == BN_NONE ? 0 : l->out_c);
        else if (l->kind == LAYER_BATCHNORM)
            count += 2 * l->out_c;
    }
    return count;
}

size_t model_spec_parameters(const bn_model_spec *spec) {
    bn_model plan;
    bn_error err;
    if (model_plan(&plan, spec, 1, &err)) return 0;
    size_t count = model_parameter_count(&plan);
    model_free(&plan);
    return count;
}

/* One draw of a weight or bias whose scale is `scale`: the standard deviation of the paper's
 * normal, or the bound of PyTorch's uniform. */
static float draw(bn_init init, double scale, bn_rng *rng) {
    return init == INIT_PYTORCH ? (float)(scale * (2.0 * rng_uniform(rng) - 1.0))
                                : (float)(scale * rng_normal(rng));
}

static void fill_random(float *x, size_t n, bn_init init, double scale, bn_rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = draw(init, scale, rng);
}

/* Drawn in PyTorch's row-major order, as every other tensor, stored in panels. */
static void fill_linear_weight(float *w, const bn_layer *l, bn_init init, double scale,
                               bn_rng *rng) {
    memset(w, 0, l->n_weight * sizeof *w);
    for (size_t o = 0; o < l->out_c; o++)
        for (size_t i = 0; i < l->fan_in; i++)
            w[linear_weight_at(l->fan_in, o, i)] = draw(init, scale, rng);
}

static void fill_constant(float *x, size_t n, float value) {
    for (size_t i = 0; i < n; i++) x[i] = value;
}

void model_init(bn_model *m, double gamma, double sigma_w2, double sigma_b2, bn_rng *rng) {
    bn_init init = m->spec.init;
    for (size_t i = 0; i < m->n_layers; i++) {
        bn_layer *l = &m->layers[i];
        double fan_in = (double)l->fan_in;
        double weight_scale = init == INIT_PYTORCH ? 1.0 / sqrt(fan_in) : sqrt(sigma_w2 / fan_in);
        double bias_scale = init == INIT_PYTORCH ? 1.0 / sqrt(fan_in) : sqrt(sigma_b2);
        if (l->kind == LAYER_LINEAR)
            fill_linear_weight(m->params + l->weight, l, init, weight_scale, rng);
        else if (l->kind == LAYER_CONV)
            fill_random(m->params + l->weight, l->n_weight, init, weight_scale, rng);
        if ((l->kind == LAYER_LINEAR || l->kind == LAYER_CONV) && l->bias != BN_NONE)
            fill_random(m->params + l->bias, l->out_c, init, bias_scale, rng);
        if (l->kind == LAYER_BATCHNORM) {
            fill_constant(m->params + l->gamma, l->out_c, (float)gamma);
            fill_constant(m->params + l->beta, l->out_c, 0.0f);
            fill_constant(m->buffers + l->running_mean, l->out_c, 0.0f);
            fill_constant(m->buffers + l->running_var, l->out_c, 1.0f);
        }
    }
    memset(m->velocity, 0, m->n_params * sizeof(float));
    memset(m->grads, 0, m->n_params * sizeof(float));
}

static void batchnorm_layer_forward(bn_model *m, const bn_layer *l, float *out, const float *in,
                                    size_t n, int train) {
    const float *p = m->params;
    float *s = m->stats, *b = m->buffers;
    size_t bn_batch, bn_spatial;
    batchnorm_view(l, n, &bn_batch, &bn_spatial);
    if (!train) {
        batchnorm_forward_eval(out, in, p + l->gamma, p + l->beta, b + l->running_mean,
                               b + l->running_var, bn_batch, l->out_c, bn_spatial);
        return;
    }
    batchnorm_forward(out, s + l->save_mean, s + l->save_rstd, s + l->save_var, in, p + l->gamma,
                      p + l->beta, bn_batch, l->out_c, bn_spatial);
    batchnorm_update_running(b + l->running_mean, b + l->running_var, s + l->save_mean,
                             s + l->save_var, l->out_c, bn_batch * bn_spatial);
}

static void layer_forward(bn_model *m, size_t i, const float *input, size_t n, int train) {
    bn_layer *l = &m->layers[i];
    float *out = m->acts + l->output;
    const float *in = layer_input(m, input, i), *p = m->params;
    switch (l->kind) {
    case LAYER_LINEAR:
        linear_forward(out, in, p + l->weight, p + l->bias, n, l->fan_in, l->out_c);
        break;
    case LAYER_CONV:
        conv_forward(out, in, input_channel_major(m, i), p + l->weight, bias_of(m, l), &l->conv,
                     n);
        break;
    case LAYER_BATCHNORM:
        batchnorm_layer_forward(m, l, out, in, n, train);
        break;
    case LAYER_RELU:
        relu_forward(out, in, out_floats(l, n));
        break;
    case LAYER_FLATTEN:
        flatten_forward(out, in, n, l->in_c, l->in_h * l->in_w);
        break;
    case LAYER_MAXPOOL:
        maxpool_forward(out, in, n * l->in_c, l->in_h, l->in_w);
        break;
    case LAYER_AVGPOOL:
        global_avgpool_forward(out, in, n, l->in_c, l->in_h * l->in_w);
        break;
    case LAYER_RESIDUAL:
        residual_forward(out, in, layer_output(m, input, l->shortcut), out_floats(l, n));
        break;
    }
}

/* Whether layers i and i + 1 are a BatchNorm and the ReLU after it, the ReLU its only reader,
 * which model_forward and backward run as one pass (layers.h): BatchNorm's own output is then
 * never written. The layer-by-layer forward of model_calibrate_batchnorm does not fuse, so it
 * stays valid. */
static int fused_with_relu(const bn_model *m, size_t i) {
    return build_bn_feeds_relu_only(m, i);
}

static void batchnorm_relu_layer_forward(bn_model *m, size_t i, const float *input, size_t n,
                                         int train) {
    const bn_layer *l = &m->layers[i];
    const float *in = layer_input(m, input, i), *p = m->params;
    float *out = m->acts + m->layers[i + 1].output, *s = m->stats, *b = m->buffers;
    size_t bn_batch, bn_spatial;
    batchnorm_view(l, n, &bn_batch, &bn_spatial);
    if (!train) {
        batchnorm_relu_forward_eval(out, in, p + l->gamma, p + l->beta, b + l->running_mean,
                                    b + l->running_var, bn_batch, l->out_c, bn_spatial);
        return;
    }
    batchnorm_relu_forward(out, s + l->save_mean, s + l->save_rstd, s + l->save_var, in,
                           p + l->gamma, p + l->beta, bn_batch, l->out_c, bn_spatial);
    batchnorm_update_running(b + l->running_mean, b + l->running_var, s + l->save_mean,
                             s + l->save_var, l->out_c, bn_batch * bn_spatial);
}

/* The clock of model.layer_seconds: read only if the model keeps them and the pass trains. */
static double layer_clock(const bn_model *m, int train) {
    return m->layer_seconds && train ? wall_seconds() : 0.0;
}

static void add_layer_seconds(bn_model *m, int train, size_t slot, double start) {
    if (m->layer_seconds && train) m->layer_seconds[slot] += wall_seconds() - start;
}

const float *model_forward(bn_model *m, const float *input, size_t n, int train) {
    for (size_t i = 0; i < m->n_layers; i++) {
        double start = layer_clock(m, train);
        size_t first = i;
        if (fused_with_relu(m, i)) {
            batchnorm_relu_layer_forward(m, i, input, n, train);
            i++;
        } else {
            layer_forward(m, i, input, n, train);
        }
        add_layer_seconds(m, train, first, start);
    }
    return model_logits(m);
}

/* ---- backward ---- */

/* Where layer l's backward writes the gradient of its input: that activation's gradient, or,
 * when a later layer that reads the same activation wrote it first (l->add_input_grad), the
 * scratch that input_grad_done then adds in. NULL for the network input. */
static float *input_grad(bn_model *m, const bn_layer *l) {
    if (l->input == BN_NONE) return NULL;
    return l->add_input_grad ? m->grad_scratch : m->dacts + m->layers[l->input].output;
}

static void input_grad_done(bn_model *m, const bn_layer *l, size_t n) {
    if (l->input == BN_NONE || !l->add_input_grad) return;
    const bn_layer *from = &m->layers[l->input];
    residual_backward(m->dacts + from->output, m->grad_scratch, out_floats(from, n));
}

/* A residual layer sends its output gradient unchanged to both operands: written to the
 * first writer's, added to an operand whose gradient a later reader wrote. */
static void pass_gradient(bn_model *m, size_t to, int add, const float *dout, size_t count) {
    if (to == BN_NONE) return;
    float *d = m->dacts + m->layers[to].output;
    if (add)
        residual_backward(d, dout, count);
    else
        memcpy(d, dout, count * sizeof *d);
}

/* The most linear layers whose SGD step model_backward_sgd takes inside the backward pass (the
 * paper's nets have at most BN_MAX_HIDDEN + 1; any beyond are stepped after the pass). */
enum { SGD_PASS_MAX_RANGES = BN_MAX_HIDDEN + 1 };

/* The SGD step model_backward_sgd takes during the backward pass, and the parameter ranges
 * it has stepped already (in the order of the pass: decreasing offsets). */
typedef struct {
    float lr, momentum, weight_decay;
    uint32_t non_finite;
    size_t n_stepped, stepped_at[SGD_PASS_MAX_RANGES], stepped_n[SGD_PASS_MAX_RANGES];
} sgd_pass;

/* A linear layer's backward with its weights' SGD step taken from the weight gradient tile by
 * tile, so that gradient is never written (it was 11 MB of stores and loads per step of the
 * paper's FC net). din comes first: it needs the weights before their update. Returns 0,
 * having done nothing, when the batch is too large for that. */
static int linear_backward_step(bn_model *m, const bn_layer *l, float *din, const float *dout,
                                const float *in, size_t n, sgd_pass *step) {
    if (n > GEMM_CONSUME_MAX_K || step->n_stepped == SGD_PASS_MAX_RANGES) return 0;
    linear_backward(din, NULL, m->grads + l->bias, dout, in, m->params + l->weight, n, l->fan_in,
                    l->out_c, 0);
    sgd_matrix sgd = {.params = m->params + l->weight,
                      .velocity = m->velocity + l->weight,
                      .panel_stride = l->fan_in * GEMM_PANEL,
                      .lr = step->lr,
                      .momentum = step->momentum,
                      .weight_decay = step->weight_decay};
    linear_weight_grad_consume(dout, in, n, l->fan_in, l->out_c, sgd_consumer(&sgd));
    step->non_finite |= sgd.non_finite;
    step->stepped_at[step->n_stepped] = l->weight;
    step->stepped_n[step->n_stepped++] = l->n_weight;
    return 1;
}

static void batchnorm_layer_backward(bn_model *m, const bn_layer *l, float *din,
                                     const float *dout, const float *in, size_t n, int train,
                                     int accumulate) {
    const float *p = m->params, *s = m->stats;
    float *g = m->grads;
    size_t bn_batch, bn_spatial;
    batchnorm_view(l, n, &bn_batch, &bn_spatial);
    if (train)
        batchnorm_backward(din, g + l->gamma, g + l->beta, dout, in, s + l->save_mean,
                           s + l->save_rstd, p + l->gamma, bn_batch, l->out_c, bn_spatial,
                           accumulate);
    else
        batchnorm_backward_eval(din, g + l->gamma, g + l->beta, dout, in, p + l->gamma,
                                m->buffers + l->running_mean, m->buffers + l->running_var,
                                bn_batch, l->out_c, bn_spatial, accumulate);
}

/* step: NULL, or the SGD step to take on the way (train = 1, accumulate = 0 only). */
static void layer_backward(bn_model *m, size_t i, const float *input, size_t n, int train,
                           int accumulate, sgd_pass *step) {
    bn_layer *l = &m->layers[i];
    const float *dout = m->dacts + l->output, *p = m->params, *in = layer_input(m, input, i);
    float *din = input_grad(m, l), *g = m->grads;
    switch (l->kind) {
    case LAYER_LINEAR:
        if (step && linear_backward_step(m, l, din, dout, in, n, step)) break;
        linear_backward(din, g + l->weight, g + l->bias, dout, in, p + l->weight, n, l->fan_in,
                        l->out_c, accumulate);
        break;
    case LAYER_CONV:
        conv_backward(din, g + l->weight, l->bias == BN_NONE ? NULL : g + l->bias, dout, in,
                      input_channel_major(m, i), p + l->weight, &l->conv, n, accumulate);
        break;
    case LAYER_BATCHNORM:
        batchnorm_layer_backward(m, l, din, dout, in, n, train, accumulate);
        break;
    case LAYER_RELU:
        if (din) relu_backward(din, dout, m->acts + l->output, out_floats(l, n));
        break;
    case LAYER_FLATTEN:
        if (din) flatten_backward(din, dout, n, l->in_c, l->in_h * l->in_w);
        break;
    case LAYER_MAXPOOL:
        if (din) maxpool_backward(din, dout, in, n * l->in_c, l->in_h, l->in_w);
        break;
    case LAYER_AVGPOOL:
        if (din) global_avgpool_backward(din, dout, n, l->in_c, l->in_h * l->in_w);
        break;
    case LAYER_RESIDUAL:
        pass_gradient(m, l->input, l->add_input_grad, dout, out_floats(l, n));
        pass_gradient(m, l->shortcut, l->add_shortcut_grad, dout, out_floats(l, n));
        return; /* no scratch: the operands' gradients are written or added directly */
    }
    input_grad_done(m, l, n);
}

/* Backward of a fused BatchNorm (layer i) and ReLU (layer i + 1), train mode. */
static void batchnorm_relu_layer_backward(bn_model *m, size_t i, const float *input, size_t n,
                                          int accumulate) {
    const bn_layer *l = &m->layers[i], *relu = &m->layers[i + 1];
    const float *s = m->stats, *p = m->params;
    float *g = m->grads;
    size_t bn_batch, bn_spatial;
    batchnorm_view(l, n, &bn_batch, &bn_spatial);
    batchnorm_relu_backward(input_grad(m, l), g + l->gamma, g + l->beta, m->dacts + relu->output,
                            layer_input(m, input, i), s + l->save_mean, s + l->save_rstd,
                            p + l->gamma, p + l->beta, bn_batch, l->out_c, bn_spatial,
                            accumulate);
    input_grad_done(m, l, n);
}

/* Every activation gradient is written by the first of its readers the walk meets and added
 * to by the others (bn_layer.add_input_grad), so nothing needs zeroing first. */
static void backward(bn_model *m, const float *input, const float *dlogits, size_t n, int train,
                     int accumulate, sgd_pass *step) {
    const bn_layer *last = &m->layers[m->n_layers - 1];
    memcpy(m->dacts + last->output, dlogits, n * last->out_c * sizeof(float));
    for (size_t i = m->n_layers; i-- > 0;) {
        double start = layer_clock(m, train);
        /* population mode (train = 0) runs the layers one by one: it has no fused backward */
        if (train && i > 0 && fused_with_relu(m, i - 1)) {
            batchnorm_relu_layer_backward(m, i - 1, input, n, accumulate);
            i--;
        } else {
            layer_backward(m, i, input, n, train, accumulate, step);
        }
        add_layer_seconds(m, train, BN_MAX_LAYERS + i, start);
    }
}

void model_backward(bn_model *m, const float *input, const float *dlogits, size_t n, int train) {
    backward(m, input, dlogits, n, train, 1, NULL);
}

void model_backward_overwrite(bn_model *m, const float *input, const float *dlogits, size_t n,
                              int train) {
    backward(m, input, dlogits, n, train, 0, NULL);
}

int model_backward_sgd(bn_model *m, const float *input, const float *dlogits, size_t n, float lr,
                       float momentum, float weight_decay) {
    sgd_pass step = {.lr = lr, .momentum = momentum, .weight_decay = weight_decay};
    backward(m, input, dlogits, n, 1, 0, &step);
    size_t non_finite = step.non_finite, at = 0;
    for (size_t r = step.n_stepped; r-- > 0;) { /* the ranges between those already stepped */
        non_finite |= sgd_step(m->params + at, m->grads + at, m->velocity + at,
                               step.stepped_at[r] - at, lr, momentum, weight_decay);
        at = step.stepped_at[r] + step.stepped_n[r];
    }
    non_finite |= sgd_step(m->params + at, m->grads + at, m->velocity + at, m->n_params - at, lr,
                           momentum, weight_decay);
    return non_finite ? 1 : 0;
}

const float *model_logits(const bn_model *m) {
    return m->acts + m->layers[m->n_layers - 1].output;
}

size_t model_input_size(const bn_model *m) {
    return m->spec.in_channels * m->spec.in_height * m->spec.in_width;
}

/* Mean and biased variance per channel of layer i's input over all n samples, computed in
 * chunks of max_batch with every earlier layer in eval (population) mode. */
static void population_moments(bn_model *m, size_t i, const float *input, size_t n,
                               double *sum, double *sum_sq) {
    const bn_layer *l = &m->layers[i];
    size_t spatial = l->in_h * l->in_w, stride = model_input_size(m);
    int channel_major = input_channel_major(m, i);
    memset(sum, 0, l->in_c * sizeof *sum);
    memset(sum_sq, 0, l->in_c * sizeof *sum_sq);
    for (size_t start = 0; start < n; start += m->max_batch) {
        size_t count = n - start < m->max_batch ? n - start : m->max_batch;
        const float *chunk = input + start * stride;
        for (size_t j = 0; j < i; j++) layer_forward(m, j, chunk, count, 0);
        const float *x = layer_input(m, chunk, i);
        for (size_t s = 0; s < count; s++)
            for (size_t c = 0; c < l->in_c; c++) {
                const float *plane = x + (channel_major ? c * count + s : s * l->in_c + c) * spatial;
                for (size_t p = 0; p < spatial; p++) {
                    sum[c] += plane[p];
                    sum_sq[c] += (double)plane[p] * plane[p];
                }
            }
    }
}

size_t model_calibrate_scratch_doubles(const bn_model *m) {
    size_t doubles = 0;
    for (size_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == LAYER_BATCHNORM && 2 * m->layers[i].in_c > doubles)
            doubles = 2 * m->layers[i].in_c;
    return doubles;
}

void model_calibrate_batchnorm_with(bn_model *m, const float *input, size_t n, double *sums) {
    for (size_t i = 0; i < m->n_layers; i++) {
        bn_layer *l = &m->layers[i];
        if (l->kind != LAYER_BATCHNORM) continue;
        population_moments(m, i, input, n, sums, sums + l->in_c);
        double count = (double)(n * l->in_h * l->in_w);
        for (size_t c = 0; c < l->in_c; c++) {
            double mean = sums[c] / count, var = sums[l->in_c + c] / count - mean * mean;
            m->buffers[l->running_mean + c] = (float)mean;
            m->buffers[l->running_var + c] = (float)(var > 0.0 ? var : 0.0);
        }
    }
}

int model_calibrate_batchnorm(bn_model *m, const float *input, size_t n, bn_error *err) {
    size_t doubles = model_calibrate_scratch_doubles(m);
    double *sums = malloc((doubles ? doubles : 1) * sizeof *sums);
    if (!sums) return bn_fail(err, "out of memory for BatchNorm calibration");
    model_calibrate_batchnorm_with(m, input, n, sums);
    free(sums);
    return 0;
}
