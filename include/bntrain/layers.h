/* The layers, each a pair of plain functions over explicit buffers and sizes. Activations are
 * NCHW (a fully connected activation is N x C with H = W = 1). Nothing here allocates.
 *
 * Gradients: backward functions WRITE the input gradient din (in a sequential network every
 * activation has exactly one consumer) and, with accumulate = 0, also write the parameter
 * gradients; accumulate = 1 adds to them instead. Writing rather than zeroing and adding
 * saves two passes over 11 MB of gradients per step of the paper's FC net (measured: the
 * zeroing passes cost about 8 % of a training step). */
#ifndef BNTRAIN_LAYERS_H
#define BNTRAIN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/gemm.h"

/* The one BatchNorm epsilon, used by forward, backward and eval (as PyTorch). */
#define BN_EPS 1e-5f
/* PyTorch's running-statistics momentum. */
#define BN_RUNNING_MOMENTUM 0.1f

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

typedef struct {
    size_t in_channels, in_height, in_width;
    size_t out_channels, out_height, out_width;
    size_t kernel, stride, padding;
} conv_shape;

/* Output side for one spatial dimension, or 0 if the kernel does not fit. */
size_t conv_out_size(size_t in, size_t kernel, size_t stride, size_t padding);

/* 2-D cross-correlation as PyTorch's Conv2d: weight is Cout x Cin x K x K. The output is
 * channel-major, C x N x H x W ("CNHW"): that is the layout the GEMM produces, so no
 * transposition is needed, and it gives BatchNorm one contiguous block per channel. The input
 * is NCHW (in_channel_major = 0, the network input) or CNHW (the previous conv block).
 * Computed as products over the lowered input (im2col) in chunks of samples, with the
 * calling thread's scratch memory (parallel.h), or in registers where that is faster (all
 * three of the paper's layers); see conv.c. */
void conv_forward(float *out, const float *in, int in_channel_major, const float *weight,
                  const float *bias, const conv_shape *shape, size_t batch);
/* dout is CNHW; in is the forward pass's input (lowered again here, except for a 3 x 3
 * layer's weight gradient on AVX-512, which reads it in place); din (may be NULL) has the
 * input's layout. */
void conv_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                   int in_channel_major, const float *weight, const conv_shape *shape,
                   size_t batch, int accumulate);

/* Between a channel-major (C x N x P) conv block and a linear layer: out[n, c P + p] =
 * in[c, n, p], PyTorch's flatten order of an NCHW tensor. */
void flatten_forward(float *out, const float *in, size_t batch, size_t channels, size_t pixels);
void flatten_backward(float *din, const float *dout, size_t batch, size_t channels,
                      size_t pixels);

/* BatchNorm addresses element (n, c, p) at in[(n channels + c) spatial + p] (NCHW). For a
 * channel-major CNHW activation pass batch = 1 and spatial = N H W: the same formula then
 * walks each channel's contiguous block.
 *
 * Train mode: normalises each channel with the batch statistics (biased variance) and
 * saves mean and 1/sqrt(var + eps) for the backward pass; batch_var receives the biased
 * variance so the caller can update the running statistics. */
void batchnorm_forward(float *out, float *mean, float *rstd, float *batch_var, const float *in,
                       const float *gamma, const float *beta, size_t batch, size_t channels,
                       size_t spatial);
/* running = (1 - m) running + m batch, with the unbiased variance for running_var. */
void batchnorm_update_running(float *running_mean, float *running_var, const float *mean,
                              const float *batch_var, size_t channels, size_t count);
/* Eval mode: normalises with the running statistics. */
void batchnorm_forward_eval(float *out, const float *in, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var, size_t batch,
                            size_t channels, size_t spatial);
/* Full gradient through the batch statistics (train mode). */
void batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                        const float *in, const float *mean, const float *rstd, const float *gamma,
                        size_t batch, size_t channels, size_t spatial, int accumulate);
/* BatchNorm and the ReLU after it in one pass (what a block Linear|Conv -> BN -> ReLU runs):
 * out is the ReLU's output, bit for bit relu(batchnorm(in)); BatchNorm's own output is never
 * written. The backward takes the ReLU's output gradient dout and gives bitwise what
 * relu_backward followed by batchnorm_backward give. */
void batchnorm_relu_forward(float *out, float *mean, float *rstd, float *batch_var,
                            const float *in, const float *gamma, const float *beta, size_t batch,
                            size_t channels, size_t spatial);
void batchnorm_relu_forward_eval(float *out, const float *in, const float *gamma,
                                 const float *beta, const float *running_mean,
                                 const float *running_var, size_t batch, size_t channels,
                                 size_t spatial);
/* dout: the gradient of the ReLU's output. Which ReLUs were on is recomputed from in, mean,
 * rstd, gamma and beta exactly as the forward pass decided it. */
void batchnorm_relu_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                             const float *in, const float *mean, const float *rstd,
                             const float *gamma, const float *beta, size_t batch,
                             size_t channels, size_t spatial, int accumulate);
/* Gradient with the statistics held fixed (eval / population mode). */
void batchnorm_backward_eval(float *din, float *dgamma, float *dbeta, const float *dout,
                             const float *in, const float *gamma, const float *running_mean,
                             const float *running_var, size_t batch, size_t channels,
                             size_t spatial, int accumulate);

void relu_forward(float *out, const float *in, size_t n);
/* din = dout where out > 0, else 0. */
void relu_backward(float *din, const float *dout, const float *out, size_t n);

typedef enum { LOSS_MSE, LOSS_CE } bn_loss;

/* Batch-mean loss, and its gradient written (not accumulated) to dlogits (may be NULL).
 * mse: 1/2 ||logits - onehot(label)||^2; ce: softmax cross-entropy. Returns the loss as a
 * double (the sum is accumulated in double). */
double loss_forward_backward(bn_loss loss, float *dlogits, const float *logits,
                             const uint8_t *labels, size_t batch, size_t n_classes);
/* Sum over the batch of the per-sample losses and of correct arg-max predictions. */
void loss_eval(bn_loss loss, const float *logits, const uint8_t *labels, size_t batch,
               size_t n_classes, double *loss_sum, size_t *n_correct);

#endif
