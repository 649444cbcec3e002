/* BatchNorm (PyTorch's BatchNorm1d/2d): train mode with the batch statistics, eval mode with
 * the running ones, and both fused with the ReLU after it. Conventions shared by all layers:
 * bntrain/layers.h. */
#ifndef BNTRAIN_BATCHNORM_H
#define BNTRAIN_BATCHNORM_H

#include <stddef.h>

/* The one BatchNorm epsilon, used by forward, backward and eval (as PyTorch). */
#define BN_EPS 1e-5f
/* PyTorch's running-statistics momentum. */
#define BN_RUNNING_MOMENTUM 0.1f

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

/* Forward-mode derivatives (J v): the change of BatchNorm's output when its input moves along
 * din and gamma, beta along dgamma, dbeta. Train mode differentiates through the batch
 * statistics (mean and rstd of the forward pass): with xhat = (x - mean) rstd,
 * dout = gamma rstd (din - mean(din) - xhat mean(din xhat)) + dgamma xhat + dbeta, the means
 * over the channel's batch * spatial locations. Eval mode holds the running statistics fixed:
 * dout = gamma din / sqrt(running_var + eps) + dgamma xhat + dbeta. Same addressing as the
 * forward passes. */
void batchnorm_tangent(float *dout, const float *in, const float *din, const float *mean,
                       const float *rstd, const float *gamma, const float *dgamma,
                       const float *dbeta, size_t batch, size_t channels, size_t spatial);
void batchnorm_tangent_eval(float *dout, const float *in, const float *din, const float *gamma,
                            const float *dgamma, const float *dbeta, const float *running_mean,
                            const float *running_var, size_t batch, size_t channels,
                            size_t spatial);

#endif
