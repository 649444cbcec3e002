/* The 2-D convolution layer (PyTorch's Conv2d): its shape and its two passes. Conventions
 * shared by all layers: bntrain/layers.h. */
#ifndef BNTRAIN_CONV_H
#define BNTRAIN_CONV_H

#include <stddef.h>

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
 * three of the paper's layers); see conv.c. 3 x 3, stride-1, padding-1 layers with at least 16
 * channels in and out (the deep networks') use Winograd F(4 x 4, 3 x 3) instead, F(2 x 2, 3 x 3)
 * on planes too small for 4 x 4 tiles (conv_winograd.c): within ~5e-6 (F(4 x 4)) or ~1e-6
 * relative of the direct product, not bitwise equal to it, but still bitwise the same for any
 * thread count, CPU level or memory. bias may be NULL: no bias, as for a convolution
 * followed by BatchNorm (whose batch mean would remove it); every path then starts its chains
 * from 0, and a non-NULL bias gives the same bits as before NULL was allowed. */
void conv_forward(float *out, const float *in, int in_channel_major, const float *weight,
                  const float *bias, const conv_shape *shape, size_t batch);
/* dout is CNHW; in is the forward pass's input (lowered again here, except for a 3 x 3
 * layer's weight gradient on AVX-512, which reads it in place); din (may be NULL) has the
 * input's layout; dbias may be NULL (a layer without bias). */
void conv_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                   int in_channel_major, const float *weight, const conv_shape *shape,
                   size_t batch, int accumulate);

/* The scratch memory the two passes of a layer take besides their arguments, in floats, for
 * the memory check: `per_run`, held by the calling thread for the run (a Winograd layer's
 * transformed filters and their gradient sums), and `per_thread`, the most that one part asks
 * of the thread that runs it (a chunk of lowered or transformed inputs). Both are kept by the
 * threads and reused by later layers and steps (parallel.h); the GEMM's packing panels come
 * on top (gemm_thread_floats). */
void conv_scratch_floats(const conv_shape *shape, size_t batch, size_t *per_run,
                         size_t *per_thread);

/* Forward-mode derivative (J v): dout = conv(din, W) + conv(in, dW) + db, in the output's
 * layout. din may be NULL (the network input); dbias may be NULL (no bias). scratch holds
 * one output (out_channels * out_height * out_width * batch floats) for the second product. */
void conv_tangent(float *dout, float *scratch, const float *in, const float *din,
                  int in_channel_major, const float *weight, const float *dweight,
                  const float *dbias, const conv_shape *shape, size_t batch);

#endif
