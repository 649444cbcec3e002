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

void model_spec_paper(bn_model_spec *spec, bn_arch arch, size_t channels, size_t height,
                      size_t width, int batchnorm) {
    memset(spec, 0, sizeof *spec);
    spec->arch = arch;
    spec->in_channels = channels;
    spec->in_height = height;
    spec->in_width = width;
    spec->n_hidden = 3;
    static const size_t fc_units[3] = {1000, 1000, 1000}, cnn_channels[3] = {30, 60, 90};
    memcpy(spec->hidden, arch == ARCH_FC ? fc_units : cnn_channels, sizeof fc_units);
    spec->kernel = 3;
    spec->stride = 2;
    spec->padding = 0;
    spec->n_classes = 10;
    spec->batchnorm = batchnorm;
}

const char *arch_name(bn_arch arch) {
    return arch == ARCH_FC ? "fc" : "cnn";
}

int model_spec_check(const bn_model_spec *spec, bn_error *err) {
    if (spec->n_hidden > BN_MAX_HIDDEN)
        return bn_fail(err, "too many hidden layers (%zu, at most %d)", spec->n_hidden,
                       BN_MAX_HIDDEN);
    for (size_t i = 0; i < spec->n_hidden; i++)
        if (spec->hidden[i] == 0 || spec->hidden[i] > 100000)
            return bn_fail(err, "hidden layer %zu has %zu units (1 to 100000 allowed)", i + 1,
                           spec->hidden[i]);
    if (spec->arch == ARCH_CNN) {
        if (spec->kernel == 0 || spec->stride == 0)
            return bn_fail(err, "kernel and stride must be positive");
        size_t h = spec->in_height, w = spec->in_width;
        for (size_t i = 0; i < spec->n_hidden; i++) {
            h = conv_out_size(h, spec->kernel, spec->stride, spec->padding);
            w = conv_out_size(w, spec->kernel, spec->stride, spec->padding);
            if (h == 0 || w == 0)
                return bn_fail(err,
                               "conv layer %zu: the %zux%zu kernel (stride %zu, padding %zu) "
                               "does not fit the %zux%zu input",
                               i + 1, spec->kernel, spec->kernel, spec->stride, spec->padding,
                               spec->in_height, spec->in_width);
        }
    }
    return 0;
}

/* Appends a layer whose input is the previous layer's output (or the network input). */
static bn_layer *push_layer(bn_model *m, bn_layer_kind kind) {
    bn_layer *layer = &m->layers[m->n_layers];
    memset(layer, 0, sizeof *layer);
    layer->kind = kind;
    if (m->n_layers == 0) {
        layer->in_c = m->spec.in_channels;
        layer->in_h = m->spec.in_height;
        layer->in_w = m->spec.in_width;
    } else {
        const bn_layer *prev = &m->layers[m->n_layers - 1];
        layer->in_c = prev->out_c;
        layer->in_h = prev->out_h;
        layer->in_w = prev->out_w;
    }
    layer->out_c = layer->in_c;
    layer->out_h = layer->in_h;
    layer->out_w = layer->in_w;
    /* Elementwise and BatchNorm layers keep their input's layout; conv sets its own. */
    layer->channel_major = m->n_layers > 0 && m->layers[m->n_layers - 1].channel_major;
    m->n_layers++;
    return layer;
}

static size_t per_sample(size_t c, size_t h, size_t w) {
    return c * h * w;
}

/* Parameters are laid out in PyTorch's nn.Sequential parameters() order (weight, bias per
 * linear/conv; gamma, beta per BN). A linear weight is in layers.h's panels, starting on a
 * cache line (the zero floats before it belong to no tensor); everything else is as in
 * PyTorch, so a fixture's tensors map one to one, linear weights through
 * linear_weight_from_rows. */
static size_t cache_line_aligned(size_t floats) {
    return (floats + 15) / 16 * 16;
}

static void add_linear(bn_model *m, size_t out_dim) {
    bn_layer *l = push_layer(m, LAYER_LINEAR);
    l->fan_in = per_sample(l->in_c, l->in_h, l->in_w);
    l->out_c = out_dim;
    l->out_h = l->out_w = 1;
    l->n_weight = linear_weight_floats(l->fan_in, out_dim);
    l->weight = cache_line_aligned(m->n_params);
    l->bias = l->weight + l->n_weight;
    m->n_params = l->bias + out_dim;
}

static void add_conv(bn_model *m, size_t out_channels) {
    bn_layer *l = push_layer(m, LAYER_CONV);
    const bn_model_spec *s = &m->spec;
    l->out_c = out_channels;
    l->out_h = conv_out_size(l->in_h, s->kernel, s->stride, s->padding);
    l->out_w = conv_out_size(l->in_w, s->kernel, s->stride, s->padding);
    l->conv = (conv_shape){l->in_c, l->in_h, l->in_w, l->out_c, l->out_h, l->out_w,
                           s->kernel,  s->stride, s->padding};
    l->fan_in = l->in_c * s->kernel * s->kernel;
    l->n_weight = out_channels * l->fan_in;
    l->weight = m->n_params;
    l->bias = l->weight + l->n_weight;
    m->n_params = l->bias + out_channels;
    l->channel_major = 1;
}

static void add_batchnorm(bn_model *m) {
    bn_layer *l = push_layer(m, LAYER_BATCHNORM);
    l->gamma = m->n_params;
    l->beta = l->gamma + l->out_c;
    m->n_params = l->beta + l->out_c;
    l->running_mean = m->n_buffers;
    l->running_var = l->running_mean + l->out_c;
    m->n_buffers = l->running_var + l->out_c;
    l->save_mean = m->n_stats;
    l->save_rstd = l->save_mean + l->out_c;
    l->save_var = l->save_rstd + l->out_c;
    m->n_stats = l->save_var + l->out_c;
}

static void build_layers(bn_model *m) {
    for (size_t i = 0; i < m->spec.n_hidden; i++) {
        if (m->spec.arch == ARCH_FC)
            add_linear(m, m->spec.hidden[i]);
        else
            add_conv(m, m->spec.hidden[i]);
        if (m->spec.batchnorm) add_batchnorm(m);
        push_layer(m, LAYER_RELU);
    }
    if (m->layers[m->n_layers - 1].channel_major) {
        bn_layer *flatten = push_layer(m, LAYER_FLATTEN);
        flatten->channel_major = 0;
    }
    add_linear(m, m->spec.n_classes);
    for (size_t i = 0; i < m->n_layers; i++) {
        bn_layer *l = &m->layers[i];
        l->output = m->n_acts;
        m->n_acts += m->max_batch * per_sample(l->out_c, l->out_h, l->out_w);
    }
}

/* Zeroed, on a cache line (a panel row of a linear weight then fills two lines). */
static float *alloc_floats(size_t n) {
    size_t bytes = (n ? n : 1) * sizeof(float);
    float *x = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (x) memset(x, 0, bytes);
    return x;
}

int model_plan(bn_model *m, const bn_model_spec *spec, size_t max_batch, bn_error *err) {
    memset(m, 0, sizeof *m);
    if (model_spec_check(spec, err)) return -1;
    if (max_batch == 0) return bn_fail(err, "batch size must be positive");
    m->spec = *spec;
    m->max_batch = max_batch;
    build_layers(m);
    return 0;
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
    if (!m->params || !m->grads || !m->velocity || !m->buffers || !m->stats || !m->acts ||
        !m->dacts) {
        model_free(m);
        return bn_fail(err, "out of memory for a network with batch %zu", max_batch);
    }
    return 0;
}

void model_free(bn_model *m) {
    free(m->params);
    free(m->grads);
    free(m->velocity);
    free(m->buffers);
    free(m->stats);
    free(m->acts);
    free(m->dacts);
    memset(m, 0, sizeof *m);
}

static void fill_normal(float *x, size_t n, double std, bn_rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(std * rng_normal(rng));
}

/* Drawn in PyTorch's row-major order, as every other tensor, stored in panels. */
static void fill_linear_weight(float *w, const bn_layer *l, double std, bn_rng *rng) {
    memset(w, 0, l->n_weight * sizeof *w);
    for (size_t o = 0; o < l->out_c; o++)
        for (size_t i = 0; i < l->fan_in; i++)
            w[linear_weight_at(l->fan_in, o, i)] = (float)(std * rng_normal(rng));
}

static void fill_constant(float *x, size_t n, float value) {
    for (size_t i = 0; i < n; i++) x[i] = value;
}

void model_init(bn_model *m, double gamma, double sigma_w2, double sigma_b2, bn_rng *rng) {
    for (size_t i = 0; i < m->n_layers; i++) {
        bn_layer *l = &m->layers[i];
        if (l->kind == LAYER_LINEAR) {
            fill_linear_weight(m->params + l->weight, l, sqrt(sigma_w2 / (double)l->fan_in), rng);
            fill_normal(m->params + l->bias, l->out_c, sqrt(sigma_b2), rng);
        } else if (l->kind == LAYER_CONV) {
            fill_normal(m->params + l->weight, l->n_weight, sqrt(sigma_w2 / (double)l->fan_in),
                        rng);
            fill_normal(m->params + l->bias, l->out_c, sqrt(sigma_b2), rng);
        } else if (l->kind == LAYER_BATCHNORM) {
            fill_constant(m->params + l->gamma, l->out_c, (float)gamma);
            fill_constant(m->params + l->beta, l->out_c, 0.0f);
            fill_constant(m->buffers + l->running_mean, l->out_c, 0.0f);
            fill_constant(m->buffers + l->running_var, l->out_c, 1.0f);
        }
    }
    memset(m->velocity, 0, m->n_params * sizeof(float));
    memset(m->grads, 0, m->n_params * sizeof(float));
}

static const float *layer_input(const bn_model *m, const float *input, size_t i) {
    return i == 0 ? input : m->acts + m->layers[i - 1].output;
}

/* Whether layer i's input is channel-major (the network input is NCHW). */
static int input_channel_major(const bn_model *m, size_t i) {
    return i > 0 && m->layers[i - 1].channel_major;
}

/* BatchNorm's (batch, spatial) view of n samples of layer l: a channel-major activation is
 * one "sample" of n * H * W locations per channel (see layers.h). */
static void batchnorm_view(const bn_layer *l, size_t n, size_t *batch, size_t *spatial) {
    *batch = l->channel_major ? 1 : n;
    *spatial = l->out_h * l->out_w * (l->channel_major ? n : 1);
}

static void layer_forward(bn_model *m, size_t i, const float *in, size_t n, int train) {
    bn_layer *l = &m->layers[i];
    float *out = m->acts + l->output, *p = m->params;
    size_t spatial = l->out_h * l->out_w, bn_batch, bn_spatial;
    switch (l->kind) {
    case LAYER_LINEAR:
        linear_forward(out, in, p + l->weight, p + l->bias, n, l->fan_in, l->out_c);
        break;
    case LAYER_CONV:
        conv_forward(out, in, input_channel_major(m, i), p + l->weight, p + l->bias, &l->conv, n);
        break;
    case LAYER_BATCHNORM:
        batchnorm_view(l, n, &bn_batch, &bn_spatial);
        if (train) {
            float *s = m->stats;
            batchnorm_forward(out, s + l->save_mean, s + l->save_rstd, s + l->save_var, in,
                              p + l->gamma, p + l->beta, bn_batch, l->out_c, bn_spatial);
            batchnorm_update_running(m->buffers + l->running_mean, m->buffers + l->running_var,
                                     s + l->save_mean, s + l->save_var, l->out_c,
                                     bn_batch * bn_spatial);
        } else {
            batchnorm_forward_eval(out, in, p + l->gamma, p + l->beta,
                                   m->buffers + l->running_mean, m->buffers + l->running_var,
                                   bn_batch, l->out_c, bn_spatial);
        }
        break;
    case LAYER_RELU:
        relu_forward(out, in, n * l->out_c * spatial);
        break;
    case LAYER_FLATTEN:
        flatten_forward(out, in, n, l->in_c, l->in_h * l->in_w);
        break;
    }
}

/* Whether layers i and i + 1 are a BatchNorm and the ReLU after it, which model_forward and
 * backward run as one pass (layers.h): BatchNorm's own output is then never written. The
 * layer-by-layer forward of model_calibrate_batchnorm does not fuse, so it stays valid. */
static int fused_with_relu(const bn_model *m, size_t i) {
    return m->layers[i].kind == LAYER_BATCHNORM && i + 1 < m->n_layers &&
           m->layers[i + 1].kind == LAYER_RELU;
}

static void batchnorm_relu_layer_forward(bn_model *m, size_t i, const float *in, size_t n,
                                         int train) {
    const bn_layer *l = &m->layers[i];
    float *out = m->acts + m->layers[i + 1].output, *s = m->stats, *b = m->buffers;
    const float *p = m->params;
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
            batchnorm_relu_layer_forward(m, i, layer_input(m, input, i), n, train);
            i++;
        } else {
            layer_forward(m, i, layer_input(m, input, i), n, train);
        }
        add_layer_seconds(m, train, first, start);
    }
    return model_logits(m);
}

/* The SGD step model_backward_sgd takes during the backward pass, and the parameter ranges
 * it has stepped already (in the order of the pass: decreasing offsets). */
typedef struct {
    float lr, momentum, weight_decay;
    uint32_t non_finite;
    size_t n_stepped, stepped_at[BN_MAX_LAYERS], stepped_n[BN_MAX_LAYERS];
} sgd_pass;

/* A linear layer's backward with its weights' SGD step taken from the weight gradient tile by
 * tile, so that gradient is never written (it was 11 MB of stores and loads per step of the
 * paper's FC net). din comes first: it needs the weights before their update. Returns 0,
 * having done nothing, when the batch is too large for that. */
static int linear_backward_step(bn_model *m, const bn_layer *l, float *din, const float *dout,
                                const float *in, size_t n, sgd_pass *step) {
    if (n > GEMM_CONSUME_MAX_K) return 0;
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

/* step: NULL, or the SGD step to take on the way (train = 1, accumulate = 0 only). */
static void layer_backward(bn_model *m, size_t i, const float *in, size_t n, int train,
                           int accumulate, sgd_pass *step) {
    bn_layer *l = &m->layers[i];
    const float *dout = m->dacts + l->output, *p = m->params;
    float *din = i == 0 ? NULL : m->dacts + m->layers[i - 1].output, *g = m->grads;
    size_t spatial = l->out_h * l->out_w, bn_batch, bn_spatial;
    switch (l->kind) {
    case LAYER_LINEAR:
        if (step && linear_backward_step(m, l, din, dout, in, n, step)) break;
        linear_backward(din, g + l->weight, g + l->bias, dout, in, p + l->weight, n, l->fan_in,
                        l->out_c, accumulate);
        break;
    case LAYER_CONV:
        conv_backward(din, g + l->weight, g + l->bias, dout, in, input_channel_major(m, i), p + l->weight, &l->conv, n, accumulate);
        break;
    case LAYER_BATCHNORM:
        batchnorm_view(l, n, &bn_batch, &bn_spatial);
        if (train) {
            const float *s = m->stats;
            batchnorm_backward(din, g + l->gamma, g + l->beta, dout, in, s + l->save_mean,
                               s + l->save_rstd, p + l->gamma, bn_batch, l->out_c, bn_spatial,
                               accumulate);
        } else {
            batchnorm_backward_eval(din, g + l->gamma, g + l->beta, dout, in, p + l->gamma,
                                    m->buffers + l->running_mean, m->buffers + l->running_var,
                                    bn_batch, l->out_c, bn_spatial, accumulate);
        }
        break;
    case LAYER_RELU:
        if (din) relu_backward(din, dout, m->acts + l->output, n * l->out_c * spatial);
        break;
    case LAYER_FLATTEN:
        flatten_backward(din, dout, n, l->in_c, l->in_h * l->in_w);
        break;
    }
}

/* Backward of a fused BatchNorm (layer i) and ReLU (layer i + 1), train mode. */
static void batchnorm_relu_layer_backward(bn_model *m, size_t i, const float *in, size_t n,
                                          int accumulate) {
    const bn_layer *l = &m->layers[i], *relu = &m->layers[i + 1];
    const float *s = m->stats, *p = m->params;
    float *din = i == 0 ? NULL : m->dacts + m->layers[i - 1].output, *g = m->grads;
    size_t bn_batch, bn_spatial;
    batchnorm_view(l, n, &bn_batch, &bn_spatial);
    batchnorm_relu_backward(din, g + l->gamma, g + l->beta, m->dacts + relu->output, in,
                            s + l->save_mean, s + l->save_rstd, p + l->gamma, p + l->beta,
                            bn_batch, l->out_c, bn_spatial, accumulate);
}

/* Every activation gradient has exactly one writer (the layer that consumes the activation),
 * so nothing needs zeroing first. */
static void backward(bn_model *m, const float *input, const float *dlogits, size_t n, int train,
                     int accumulate, sgd_pass *step) {
    const bn_layer *last = &m->layers[m->n_layers - 1];
    memcpy(m->dacts + last->output, dlogits, n * last->out_c * sizeof(float));
    for (size_t i = m->n_layers; i-- > 0;) {
        double start = layer_clock(m, train);
        /* population mode (train = 0) runs the layers one by one: it has no fused backward */
        if (train && i > 0 && fused_with_relu(m, i - 1)) {
            batchnorm_relu_layer_backward(m, i - 1, layer_input(m, input, i - 1), n, accumulate);
            i--;
        } else {
            layer_backward(m, i, layer_input(m, input, i), n, train, accumulate, step);
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
    return per_sample(m->spec.in_channels, m->spec.in_height, m->spec.in_width);
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
        for (size_t j = 0; j < i; j++) layer_forward(m, j, layer_input(m, chunk, j), count, 0);
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

int model_calibrate_batchnorm(bn_model *m, const float *input, size_t n, bn_error *err) {
    for (size_t i = 0; i < m->n_layers; i++) {
        bn_layer *l = &m->layers[i];
        if (l->kind != LAYER_BATCHNORM) continue;
        double *sums = calloc(2 * l->in_c, sizeof(double));
        if (!sums) return bn_fail(err, "out of memory for BatchNorm calibration");
        population_moments(m, i, input, n, sums, sums + l->in_c);
        double count = (double)(n * l->in_h * l->in_w);
        for (size_t c = 0; c < l->in_c; c++) {
            double mean = sums[c] / count, var = sums[l->in_c + c] / count - mean * mean;
            m->buffers[l->running_mean + c] = (float)mean;
            m->buffers[l->running_var + c] = (float)(var > 0.0 ? var : 0.0);
        }
        free(sums);
    }
    return 0;
}
