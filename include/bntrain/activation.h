/* The ReLU activation, elementwise over n floats. Conventions shared by all layers:
 * bntrain/layers.h. */
#ifndef BNTRAIN_ACTIVATION_H
#define BNTRAIN_ACTIVATION_H

#include <stddef.h>

void relu_forward(float *out, const float *in, size_t n);
/* din = dout where out > 0, else 0. */
void relu_backward(float *din, const float *dout, const float *out, size_t n);

/* Forward-mode derivative (J v): dout = din where out > 0, else 0 (out: the ReLU's output). */
void relu_tangent(float *dout, const float *din, const float *out, size_t n);

#endif
