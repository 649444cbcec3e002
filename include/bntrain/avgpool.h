/* Global average pooling (PyTorch's AdaptiveAvgPool2d(1) and flatten, or F.avg_pool2d over
 * the whole plane): the last conv block's activation to the rows of the linear layer after it.
 * Conventions shared by all layers: bntrain/layers.h. */
#ifndef BNTRAIN_AVGPOOL_H
#define BNTRAIN_AVGPOOL_H

#include <stddef.h>

/* From a channel-major C x N x P block (P = H W pixels) to N x C rows, the linear layer's
 * layout, as flatten does for the conv-to-linear boundary: out[n C + c] is the mean of
 * in[(c N + n) P + p] over p, summed in double in the order of p and rounded once. Only the
 * channel-major layout: the pooled activation is always a conv block's, never a network
 * input. */
void global_avgpool_forward(float *out, const float *in, size_t batch, size_t channels,
                            size_t pixels);
/* Writes din (C x N x P): din[(c N + n) P + p] = dout[n C + c] / P. */
void global_avgpool_backward(float *din, const float *dout, size_t batch, size_t channels,
                             size_t pixels);

/* Forward-mode derivative (J v): pooling is linear, so the tangent is the pooled din. */
void global_avgpool_tangent(float *dout, const float *din, size_t batch, size_t channels,
                            size_t pixels);

#endif
