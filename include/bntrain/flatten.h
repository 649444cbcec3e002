/* Flatten: the reordering between a channel-major conv block and a linear layer. Conventions
 * shared by all layers: bntrain/layers.h. */
#ifndef BNTRAIN_FLATTEN_H
#define BNTRAIN_FLATTEN_H

#include <stddef.h>

/* Between a channel-major (C x N x P) conv block and a linear layer: out[n, c P + p] =
 * in[c, n, p], PyTorch's flatten order of an NCHW tensor. */
void flatten_forward(float *out, const float *in, size_t batch, size_t channels, size_t pixels);
void flatten_backward(float *din, const float *dout, size_t batch, size_t channels,
                      size_t pixels);

/* Forward-mode derivative (J v): flatten is a reordering, so the tangent is din reordered. */
void flatten_tangent(float *dout, const float *din, size_t batch, size_t channels,
                     size_t pixels);

#endif
