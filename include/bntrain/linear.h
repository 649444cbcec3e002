/* The linear (fully connected) layer: out = in W^T + bias over a batch of rows, its weight kept
 * in the GEMM's panel layout. Conventions shared by all layers: bntrain/layers.h. */
#ifndef BNTRAIN_LINEAR_H
#define BNTRAIN_LINEAR_H

#include <stddef.h>

#include "bntrain/gemm.h"

/* A linear layer's weight W (out_dim x in_dim, PyTorch's) is stored as its transpose in
 * panels (gemm.h): W[o][i] at linear_weight_at(in_dim, o, i), linear_weight_floats floats
 * with zero padding. That is the forward product's right-hand operand as it is, so the
 * forward pass does not copy or transpose the weights (a transposing pack of the 11 MB of the
 * paper's FC net was 9 % of a step); the input gradient reads it in place too, as the
 * left-hand operand of its product turned around (gemm.h), and the weight gradient (same
 * layout) comes out in it. */
size_t linear_weight_floats(size_t in_dim, size_t out_dim);
size_t linear_weight_at(size_t in_dim, size_t o, size_t i);
/* From and to PyTorch's row-major layout (fixtures, tests); from_rows zeroes the padding. */
void linear_weight_from_rows(float *weight, const float *rows, size_t in_dim, size_t out_dim);
void linear_weight_to_rows(float *rows, const float *weight, size_t in_dim, size_t out_dim);

/* out[n, o] = sum_i in[n, i] W[o, i] + bias[o]. */
void linear_forward(float *out, const float *in, const float *weight, const float *bias,
                    size_t batch, size_t in_dim, size_t out_dim);
/* dweight is in the weight's layout. din may be NULL (first layer: no gradient wanted for the
 * input), and so may dweight (the caller takes the weight gradient from
 * linear_weight_grad_consume instead). */
void linear_backward(float *din, float *dweight, float *dbias, const float *dout,
                     const float *in, const float *weight, size_t batch, size_t in_dim,
                     size_t out_dim, int accumulate);
/* The weight gradient (the bits linear_backward writes) handed to consume tile by tile
 * (gemm.h's gemm_consume) instead of stored: tile entry (i, j) is the gradient of W[j0 + j]
 * [i0 + i], so a tile is rows of the weight's panels; 0 if the batch is too large for that
 * (more than GEMM_CONSUME_MAX_K), and nothing is done. */
int linear_weight_grad_consume(const float *dout, const float *in, size_t batch, size_t in_dim,
                               size_t out_dim, gemm_consumer consumer);

/* Forward-mode derivative (the tangent, J v): the change of out when in, the weight and the
 * bias move along din, dweight (the weight's layout) and dbias: out = din W^T + in dW^T + db.
 * din may be NULL (the network input, which no parameter moves). */
void linear_tangent(float *dout, const float *in, const float *din, const float *weight,
                    const float *dweight, const float *dbias, size_t batch, size_t in_dim,
                    size_t out_dim);

#endif
