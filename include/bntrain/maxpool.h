/* 2 x 2 max-pooling with stride 2 (PyTorch's MaxPool2d(2)). Conventions shared by all layers:
 * bntrain/layers.h. */
#ifndef BNTRAIN_MAXPOOL_H
#define BNTRAIN_MAXPOOL_H

#include <stddef.h>

/* Output side for an input side: in / 2, rounded down as PyTorch's (ceil_mode = False): the
 * last row or column of an odd side is never read. */
size_t maxpool_out_size(size_t in);

/* Pools each of `planes` contiguous height x width planes into an out_size(height) x
 * out_size(width) plane, in the same order. Both activation layouts are lists of planes: a
 * channel-major C x N x H x W block (the conv blocks') is planes = C N, an N x C x H x W one
 * (a network input) planes = N C, and the output keeps the input's layout.
 *
 * Each 2 x 2 window is scanned as PyTorch scans it, top-left, top-right, bottom-left,
 * bottom-right, and a later element replaces the maximum if it is greater or NaN: a tie goes
 * to the first of the tied elements in that order, and a NaN wins (the last NaN, if several),
 * so a diverged input gives a NaN output. */
void maxpool_forward(float *out, const float *in, size_t planes, size_t height, size_t width);
/* Writes din (in's layout and size): each window's dout goes to the element the forward pass
 * picked, with the same rule, and every other element (and an odd side's last row or column)
 * gets 0. Which element that was is recomputed from in, the forward pass's input: see
 * maxpool.c. */
void maxpool_backward(float *din, const float *dout, const float *in, size_t planes, size_t height,
                      size_t width);

/* Forward-mode derivative (J v): each window's output tangent is the input tangent din of the
 * element the forward pass picked (recomputed from in with the same rule). */
void maxpool_tangent(float *dout, const float *din, const float *in, size_t planes,
                     size_t height, size_t width);

#endif
