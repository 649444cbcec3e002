/* The residual addition of a ResNet block: out = branch + shortcut, elementwise. Conventions
 * shared by all layers: bntrain/layers.h.
 *
 * How a model uses it (a plain layer list, as darknet's shortcut layer): a block's input x is
 * an earlier layer's output, kept in the activation arena like every output; the block's last
 * layer is a residual layer, out = branch + x, naming the layer whose output x is. Forward:
 * residual_forward(out, branch, x). Backward: the gradient of both operands is dout itself.
 * x has two readers, the branch's first layer and the sum (or, with a projection shortcut, the
 * branch's first convolution and the 1 x 1 projection), and its gradient is the sum of
 * theirs. The backward walk meets the sum first, which writes dx; the other reader writes its
 * share into the model's gradient scratch, and residual_backward(dx, scratch) adds it in
 * (model.h: bn_layer.add_input_grad). */
#ifndef BNTRAIN_RESIDUAL_H
#define BNTRAIN_RESIDUAL_H

#include <stddef.h>

/* out[i] = branch[i] + shortcut[i] for i < n; any layout, the same for all three (out may be
 * either operand). */
void residual_forward(float *out, const float *branch, const float *shortcut, size_t n);
/* dsaved[i] += dout[i]: the shortcut's gradient added to what the branch wrote into the saved
 * buffer's gradient. */
void residual_backward(float *dsaved, const float *dout, size_t n);

/* Forward-mode derivative (J v): the sum of the operands' tangents. */
void residual_tangent(float *dout, const float *dbranch, const float *dshortcut, size_t n);

#endif
