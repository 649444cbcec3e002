/* The layers, each a pair of plain functions over explicit buffers and sizes. Activations are
 * NCHW (a fully connected activation is N x C with H = W = 1). Nothing here allocates.
 *
 * Gradients: backward functions WRITE the input gradient din (in a sequential network every
 * activation has exactly one consumer) and, with accumulate = 0, also write the parameter
 * gradients; accumulate = 1 adds to them instead. Writing rather than zeroing and adding
 * saves two passes over 11 MB of gradients per step of the paper's FC net (measured: the
 * zeroing passes cost about 8 % of a training step). An activation with two readers (a
 * residual block's input) gets its gradient written by the first reader the backward walk
 * meets, and the other's added with residual_backward (residual.h).
 *
 * Each layer kind has its own header (linear.h, conv.h, flatten.h, batchnorm.h, activation.h,
 * maxpool.h, avgpool.h, residual.h, loss.h); this one includes them all. */
#ifndef BNTRAIN_LAYERS_H
#define BNTRAIN_LAYERS_H

#include "bntrain/activation.h"
#include "bntrain/avgpool.h"
#include "bntrain/batchnorm.h"
#include "bntrain/conv.h"
#include "bntrain/flatten.h"
#include "bntrain/linear.h"
#include "bntrain/loss.h"
#include "bntrain/maxpool.h"
#include "bntrain/residual.h"

#endif
