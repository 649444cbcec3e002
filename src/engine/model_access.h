/* Where a layer of a model finds its operands (input, shortcut, bias) and how BatchNorm views
 * its activation: shared by the model's passes (model.c) and its tangent pass
 * (model_tangent.c). */
#ifndef BNTRAIN_ENGINE_MODEL_ACCESS_H
#define BNTRAIN_ENGINE_MODEL_ACCESS_H

#include <stddef.h>

#include "bntrain/model.h"

static inline size_t out_floats(const bn_layer *l, size_t n) {
    return n * l->out_c * l->out_h * l->out_w;
}

static inline const float *layer_output(const bn_model *m, const float *input, size_t layer) {
    return layer == BN_NONE ? input : m->acts + m->layers[layer].output;
}

static inline const float *layer_input(const bn_model *m, const float *input, size_t i) {
    return layer_output(m, input, m->layers[i].input);
}

/* Whether layer i's input is channel-major (the network input is NCHW). */
static inline int input_channel_major(const bn_model *m, size_t i) {
    size_t from = m->layers[i].input;
    return from != BN_NONE && m->layers[from].channel_major;
}

static inline const float *bias_of(const bn_model *m, const bn_layer *l) {
    return l->bias == BN_NONE ? NULL : m->params + l->bias;
}

/* BatchNorm's (batch, spatial) view of n samples of layer l: a channel-major activation is
 * one "sample" of n * H * W locations per channel (see layers.h). */
static inline void batchnorm_view(const bn_layer *l, size_t n, size_t *batch, size_t *spatial) {
    *batch = l->channel_major ? 1 : n;
    *spatial = l->out_h * l->out_w * (l->channel_major ? n : 1);
}

#endif
