/* The residual addition of a ResNet block: out = branch + shortcut, elementwise. Conventions
 * shared by all layers: bntrain/layers.h.
 *
 * How a model uses it (a plain layer list, as darknet's shortcut layer): a block's input x is
 * an earlier layer's output, kept in the activation arena like every output; the block's last
 * layer is a residual layer, out = branch + x, naming the layer whose output x is. Forward:
 * residual_forward(out, branch, x). Backward: the gradient of both operands is dout itself.
 * The branch takes it as it is (its last layer's output gradient is the residual layer's, no
 * copy). x, though, has two consumers, the branch's first layer and the shortcut, and its
 * gradient is the sum of theirs; in the backward walk the branch's first layer comes after the
 * residual layer and WRITES dx (layers.h), so the shortcut's share cannot be written first:
 * once the walk has passed the branch, residual_backward(dx, dout) ADDS dout into dx, as
 * darknet's shortcut layer adds its delta into the saved layer's. A projection shortcut (a
 * 1 x 1, stride 2 convolution of x, conv.h) writes its input gradient into a buffer of its
 * own, which residual_backward then adds into dx in the same way. */
#ifndef BNTRAIN_RESIDUAL_H
#define BNTRAIN_RESIDUAL_H

#include <stddef.h>

/* out[i] = branch[i] + shortcut[i] for i < n; any layout, the same for all three (out may be
 * either operand). */
void residual_forward(float *out, const float *branch, const float *shortcut, size_t n);
/* dsaved[i] += dout[i]: the shortcut's gradient added to what the branch wrote into the saved
 * buffer's gradient. */
void residual_backward(float *dsaved, const float *dout, size_t n);

#endif
