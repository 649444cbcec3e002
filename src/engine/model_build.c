/* The layer list of a model: appending layers (shapes, parameter and buffer offsets) and the
 * layout that follows once the list is complete. */
#include "engine/model_build.h"

#include <assert.h>
#include <string.h>

#include "bntrain/layers.h"

static size_t per_sample(size_t c, size_t h, size_t w) {
    return c * h * w;
}

/* Appends a layer reading layer `input`'s output (or the network input), with that shape and
 * layout as its output's until the caller says otherwise. */
static bn_layer *push_layer(bn_model *m, bn_layer_kind kind, size_t input) {
    assert(m->n_layers < BN_MAX_LAYERS && (input == BN_NONE || input < m->n_layers));
    bn_layer *layer = &m->layers[m->n_layers++];
    memset(layer, 0, sizeof *layer);
    layer->kind = kind;
    layer->input = input;
    layer->shortcut = BN_NONE;
    layer->bias = BN_NONE;
    if (input == BN_NONE) {
        layer->in_c = m->spec.in_channels;
        layer->in_h = m->spec.in_height;
        layer->in_w = m->spec.in_width;
    } else {
        const bn_layer *source = &m->layers[input];
        layer->in_c = source->out_c;
        layer->in_h = source->out_h;
        layer->in_w = source->out_w;
        layer->channel_major = source->channel_major;
    }
    layer->out_c = layer->in_c;
    layer->out_h = layer->in_h;
    layer->out_w = layer->in_w;
    return layer;
}

static size_t index_of(const bn_model *m, const bn_layer *layer) {
    return (size_t)(layer - m->layers);
}

/* Parameters are laid out in the order of the list, weight then bias per linear/conv, gamma
 * then beta per BN: PyTorch's parameters() order for a module that registers its layers in
 * that order. A linear weight is in linear.h's panels, starting on a cache line (the zero
 * floats before it belong to no tensor); everything else is as in PyTorch, so a fixture's
 * tensors map one to one, linear weights through linear_weight_from_rows. */
static size_t cache_line_aligned(size_t floats) {
    return (floats + 15) / 16 * 16;
}

size_t build_linear(bn_model *m, size_t input, size_t out_dim) {
    bn_layer *l = push_layer(m, LAYER_LINEAR, input);
    l->fan_in = per_sample(l->in_c, l->in_h, l->in_w);
    l->out_c = out_dim;
    l->out_h = l->out_w = 1;
    l->channel_major = 0;
    l->n_weight = linear_weight_floats(l->fan_in, out_dim);
    l->weight = cache_line_aligned(m->n_params);
    l->bias = l->weight + l->n_weight;
    m->n_params = l->bias + out_dim;
    return index_of(m, l);
}

size_t build_conv(bn_model *m, size_t input, size_t out_channels, size_t kernel, size_t stride,
                  size_t padding, int bias) {
    bn_layer *l = push_layer(m, LAYER_CONV, input);
    l->out_c = out_channels;
    l->out_h = conv_out_size(l->in_h, kernel, stride, padding);
    l->out_w = conv_out_size(l->in_w, kernel, stride, padding);
    l->conv = (conv_shape){l->in_c,  l->in_h, l->in_w, l->out_c, l->out_h,
                           l->out_w, kernel,  stride,  padding};
    l->fan_in = l->in_c * kernel * kernel;
    l->n_weight = out_channels * l->fan_in;
    l->weight = m->n_params;
    m->n_params = l->weight + l->n_weight;
    if (bias) {
        l->bias = m->n_params;
        m->n_params += out_channels;
    }
    l->channel_major = 1;
    return index_of(m, l);
}

size_t build_batchnorm(bn_model *m, size_t input) {
    bn_layer *l = push_layer(m, LAYER_BATCHNORM, input);
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
    return index_of(m, l);
}

size_t build_relu(bn_model *m, size_t input) {
    return index_of(m, push_layer(m, LAYER_RELU, input));
}

size_t build_flatten(bn_model *m, size_t input) {
    bn_layer *l = push_layer(m, LAYER_FLATTEN, input);
    l->channel_major = 0;
    return index_of(m, l);
}

size_t build_maxpool(bn_model *m, size_t input) {
    bn_layer *l = push_layer(m, LAYER_MAXPOOL, input);
    l->out_h = maxpool_out_size(l->in_h);
    l->out_w = maxpool_out_size(l->in_w);
    return index_of(m, l);
}

size_t build_avgpool(bn_model *m, size_t input) {
    bn_layer *l = push_layer(m, LAYER_AVGPOOL, input);
    assert(l->channel_major);
    l->out_h = l->out_w = 1;
    l->channel_major = 0;
    return index_of(m, l);
}

size_t build_residual(bn_model *m, size_t branch, size_t shortcut) {
    bn_layer *l = push_layer(m, LAYER_RESIDUAL, branch);
    const bn_layer *s = &m->layers[shortcut];
    (void)s; /* read by the assert only */
    assert(s->out_c == l->in_c && s->out_h == l->in_h && s->out_w == l->in_w &&
           s->channel_major == l->channel_major);
    l->shortcut = shortcut;
    return index_of(m, l);
}

/* The consumers of each activation, and which of them add their gradient: the backward walk
 * meets the consumers of an activation from the last to the first, and only the first it
 * meets writes. Counting them in that walk gives both. */
static void mark_gradient_writers(bn_model *m) {
    for (size_t i = m->n_layers; i-- > 0;) {
        bn_layer *l = &m->layers[i];
        if (l->input != BN_NONE) l->add_input_grad = m->layers[l->input].n_consumers++ > 0;
        if (l->shortcut != BN_NONE) l->add_shortcut_grad = m->layers[l->shortcut].n_consumers++ > 0;
    }
}

/* Whether layer i is a BatchNorm read by the ReLU after it alone: the two then share their
 * output slot in acts and dacts (and in a tangent arena, laid out as acts). Every use of the
 * slot stays correct: the fused pass never writes the BatchNorm's output; run layer by layer,
 * the ReLU works in place elementwise (out[k] from in[k] alone), its backward masks with its
 * own output, which is what it sees, and the BatchNorm's backward and tangent read its input,
 * never its output. A deep network's activations shrink by a quarter (VGG16: 135 of 420 MiB
 * at batch 128, twice: outputs and gradients). */
int build_bn_feeds_relu_only(const bn_model *m, size_t i) {
    return m->layers[i].kind == LAYER_BATCHNORM && i + 1 < m->n_layers &&
           m->layers[i + 1].kind == LAYER_RELU && m->layers[i + 1].input == i &&
           m->layers[i].n_consumers == 1;
}

void build_finish(bn_model *m) {
    mark_gradient_writers(m);
    for (size_t i = 0; i < m->n_layers; i++) {
        bn_layer *l = &m->layers[i];
        l->output = m->n_acts;
        if (!build_bn_feeds_relu_only(m, i))
            m->n_acts += m->max_batch * per_sample(l->out_c, l->out_h, l->out_w);
    }
    for (size_t i = 0; i < m->n_layers; i++) {
        const bn_layer *l = &m->layers[i];
        size_t in_floats = m->max_batch * per_sample(l->in_c, l->in_h, l->in_w);
        if (l->add_input_grad && l->kind != LAYER_RESIDUAL && in_floats > m->n_grad_scratch)
            m->n_grad_scratch = in_floats;
    }
}
