/* Building a model's layer list: the pieces architectures.c assembles its networks from, and
 * the layout that follows from the list (arena offsets, who consumes which activation). */
#ifndef BNTRAIN_ENGINE_MODEL_BUILD_H
#define BNTRAIN_ENGINE_MODEL_BUILD_H

#include <stddef.h>

#include "bntrain/error.h"
#include "bntrain/model.h"

/* Each appends one layer that reads the output of layer `input` (BN_NONE: the network input)
 * and returns the new layer's index. The list has room for BN_MAX_LAYERS; model_spec_check
 * keeps every architecture below that. */
size_t build_linear(bn_model *m, size_t input, size_t out_dim);
/* bias 0: no bias (a convolution followed by BatchNorm, whose batch mean would remove it). */
size_t build_conv(bn_model *m, size_t input, size_t out_channels, size_t kernel, size_t stride,
                  size_t padding, int bias);
size_t build_batchnorm(bn_model *m, size_t input);
size_t build_relu(bn_model *m, size_t input);
/* A channel-major activation to the N x (C H W) rows of a linear layer. */
size_t build_flatten(bn_model *m, size_t input);
/* 2 x 2 max-pooling, stride 2. */
size_t build_maxpool(bn_model *m, size_t input);
/* Global average pooling of a channel-major activation to N x C rows. */
size_t build_avgpool(bn_model *m, size_t input);
/* branch + shortcut, two activations of one shape and layout. */
size_t build_residual(bn_model *m, size_t branch, size_t shortcut);

/* Whether layer i is a BatchNorm whose only reader is the ReLU right after it (consumer counts
 * as build_finish sets them): the pair the forward and backward passes fuse, and whose output
 * slot build_finish makes one. */
int build_bn_feeds_relu_only(const bn_model *m, size_t i);

/* After the last layer: each layer's output offset in the activation arenas, its consumer
 * count, the add_input_grad / add_shortcut_grad flags, and the gradient scratch's size. */
void build_finish(bn_model *m);

/* The layers of m->spec's architecture, into m->layers (room for BN_MAX_LAYERS): see
 * architectures.c. */
void build_architecture(bn_model *m);

#endif
