/* Layer kernels: linear, convolution (lowered to GEMM), BatchNorm, ReLU and the two losses.
 * Plain functions over explicit buffers; backward passes accumulate. */
#include "bntrain/layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void linear_forward(float *out, const float *in, const float *weight, const float *bias,
                    size_t batch, size_t in_dim, size_t out_dim) {
    for (size_t n = 0; n < batch; n++) memcpy(out + n * out_dim, bias, out_dim * sizeof *out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, (int)out_dim, (int)in_dim,
                1.0f, in, (int)in_dim, weight, (int)in_dim, 1.0f, out, (int)out_dim);
}

/* Column sums of a batch x dim matrix, accumulated into sums (bias gradients). */
static void add_column_sums(float *sums, const float *m, size_t batch, size_t dim) {
    for (size_t n = 0; n < batch; n++)
        for (size_t j = 0; j < dim; j++) sums[j] += m[n * dim + j];
}

void linear_backward(float *din, float *dweight, float *dbias, const float *dout,
                     const float *in, const float *weight, size_t batch, size_t in_dim,
                     size_t out_dim) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out_dim, (int)in_dim, (int)batch,
                1.0f, dout, (int)out_dim, in, (int)in_dim, 1.0f, dweight, (int)in_dim);
    add_column_sums(dbias, dout, batch, out_dim);
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)batch, (int)in_dim,
                    (int)out_dim, 1.0f, dout, (int)out_dim, weight, (int)in_dim, 1.0f, din,
                    (int)in_dim);
}

size_t conv_out_size(size_t in, size_t kernel, size_t stride, size_t padding) {
    if (stride == 0 || kernel == 0 || in + 2 * padding < kernel) return 0;
    return (in + 2 * padding - kernel) / stride + 1;
}

static size_t conv_patch_size(const conv_shape *s) {
    return s->in_channels * s->kernel * s->kernel;
}

size_t conv_workspace_floats(const conv_shape *shape, size_t batch) {
    size_t columns = batch * shape->out_height * shape->out_width;
    return (conv_patch_size(shape) + shape->out_channels) * columns;
}

/* Lowers the batch to a (Cin K K) x (N P) matrix, P = output pixels, so that the whole batch is
 * one GEMM: for these small feature maps one large GEMM beats N small ones. */
static void im2col(float *cols, const float *in, const conv_shape *s, size_t batch) {
    size_t k = s->kernel, pixels = s->out_height * s->out_width, width = batch * pixels;
    size_t in_plane = s->in_height * s->in_width;
    for (size_t c = 0; c < s->in_channels; c++)
        for (size_t ky = 0; ky < k; ky++)
            for (size_t kx = 0; kx < k; kx++) {
                float *row = cols + ((c * k + ky) * k + kx) * width;
                for (size_t n = 0; n < batch; n++) {
                    const float *plane = in + (n * s->in_channels + c) * in_plane;
                    for (size_t oy = 0; oy < s->out_height; oy++) {
                        /* unsigned wrap-around makes padding rows fail the bound check */
                        size_t iy = oy * s->stride + ky - s->padding;
                        float *dst = row + n * pixels + oy * s->out_width;
                        for (size_t ox = 0; ox < s->out_width; ox++) {
                            size_t ix = ox * s->stride + kx - s->padding;
                            dst[ox] = (iy < s->in_height && ix < s->in_width)
                                          ? plane[iy * s->in_width + ix]
                                          : 0.0f;
                        }
                    }
                }
            }
}

/* Adjoint of im2col: scatters the column gradients back, accumulating into din. */
static void col2im_add(float *din, const float *cols, const conv_shape *s, size_t batch) {
    size_t k = s->kernel, pixels = s->out_height * s->out_width, width = batch * pixels;
    size_t in_plane = s->in_height * s->in_width;
    for (size_t c = 0; c < s->in_channels; c++)
        for (size_t ky = 0; ky < k; ky++)
            for (size_t kx = 0; kx < k; kx++) {
                const float *row = cols + ((c * k + ky) * k + kx) * width;
                for (size_t n = 0; n < batch; n++) {
                    float *plane = din + (n * s->in_channels + c) * in_plane;
                    for (size_t oy = 0; oy < s->out_height; oy++) {
                        size_t iy = oy * s->stride + ky - s->padding;
                        if (iy >= s->in_height) continue;
                        const float *src = row + n * pixels + oy * s->out_width;
                        for (size_t ox = 0; ox < s->out_width; ox++) {
                            size_t ix = ox * s->stride + kx - s->padding;
                            if (ix < s->in_width) plane[iy * s->in_width + ix] += src[ox];
                        }
                    }
                }
            }
}

void conv_forward(float *out, const float *in, const float *weight, const float *bias,
                  const conv_shape *s, size_t batch, float *workspace) {
    size_t patch = conv_patch_size(s), pixels = s->out_height * s->out_width;
    size_t width = batch * pixels;
    float *cols = workspace, *product = workspace + patch * width;
    im2col(cols, in, s, batch);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->out_channels, (int)width,
                (int)patch, 1.0f, weight, (int)patch, cols, (int)width, 0.0f, product,
                (int)width);
    for (size_t n = 0; n < batch; n++)
        for (size_t co = 0; co < s->out_channels; co++) {
            const float *src = product + co * width + n * pixels;
            float *dst = out + (n * s->out_channels + co) * pixels;
            for (size_t p = 0; p < pixels; p++) dst[p] = src[p] + bias[co];
        }
}

void conv_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                   const float *weight, const conv_shape *s, size_t batch, float *workspace) {
    size_t patch = conv_patch_size(s), pixels = s->out_height * s->out_width;
    size_t width = batch * pixels;
    float *cols = workspace, *dproduct = workspace + patch * width;
    /* Re-lowering the input is cheaper than keeping every layer's columns alive. */
    im2col(cols, in, s, batch);
    for (size_t n = 0; n < batch; n++)
        for (size_t co = 0; co < s->out_channels; co++) {
            const float *src = dout + (n * s->out_channels + co) * pixels;
            float *dst = dproduct + co * width + n * pixels;
            float sum = 0.0f;
            for (size_t p = 0; p < pixels; p++) {
                dst[p] = src[p];
                sum += src[p];
            }
            dbias[co] += sum;
        }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)s->out_channels, (int)patch,
                (int)width, 1.0f, dproduct, (int)width, cols, (int)width, 1.0f, dweight,
                (int)patch);
    if (!din) return;
    /* The columns are no longer needed: their space receives the column gradients. */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)patch, (int)width,
                (int)s->out_channels, 1.0f, weight, (int)patch, dproduct, (int)width, 0.0f,
                cols, (int)width);
    col2im_add(din, cols, s, batch);
}

/* Mean and biased variance of one channel over the batch, accumulated in double. */
static void channel_moments(const float *in, size_t batch, size_t channels, size_t spatial,
                            size_t c, double *mean, double *var) {
    double sum = 0.0;
    for (size_t n = 0; n < batch; n++) {
        const float *x = in + (n * channels + c) * spatial;
        for (size_t p = 0; p < spatial; p++) sum += x[p];
    }
    double count = (double)(batch * spatial), mu = sum / count, sq = 0.0;
    for (size_t n = 0; n < batch; n++) {
        const float *x = in + (n * channels + c) * spatial;
        for (size_t p = 0; p < spatial; p++) sq += ((double)x[p] - mu) * ((double)x[p] - mu);
    }
    *mean = mu;
    *var = sq / count;
}

/* out = (in - mean) * rstd * gamma + beta over one channel. */
static void channel_affine(float *out, const float *in, size_t batch, size_t channels,
                           size_t spatial, size_t c, float mean, float scale, float shift) {
    for (size_t n = 0; n < batch; n++) {
        const float *x = in + (n * channels + c) * spatial;
        float *y = out + (n * channels + c) * spatial;
        for (size_t p = 0; p < spatial; p++) y[p] = (x[p] - mean) * scale + shift;
    }
}

void batchnorm_forward(float *out, float *mean, float *rstd, float *batch_var, const float *in,
                       const float *gamma, const float *beta, size_t batch, size_t channels,
                       size_t spatial) {
    for (size_t c = 0; c < channels; c++) {
        double mu, var;
        channel_moments(in, batch, channels, spatial, c, &mu, &var);
        mean[c] = (float)mu;
        batch_var[c] = (float)var;
        rstd[c] = (float)(1.0 / sqrt(var + (double)BN_EPS));
        channel_affine(out, in, batch, channels, spatial, c, mean[c], rstd[c] * gamma[c],
                       beta[c]);
    }
}

void batchnorm_update_running(float *running_mean, float *running_var, const float *mean,
                              const float *batch_var, size_t channels, size_t count) {
    float unbias = count > 1 ? (float)count / (float)(count - 1) : 1.0f;
    for (size_t c = 0; c < channels; c++) {
        running_mean[c] = (1.0f - BN_RUNNING_MOMENTUM) * running_mean[c] +
                          BN_RUNNING_MOMENTUM * mean[c];
        running_var[c] = (1.0f - BN_RUNNING_MOMENTUM) * running_var[c] +
                         BN_RUNNING_MOMENTUM * batch_var[c] * unbias;
    }
}

void batchnorm_forward_eval(float *out, const float *in, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var, size_t batch,
                            size_t channels, size_t spatial) {
    for (size_t c = 0; c < channels; c++) {
        float rstd = 1.0f / sqrtf(running_var[c] + BN_EPS);
        channel_affine(out, in, batch, channels, spatial, c, running_mean[c], rstd * gamma[c],
                       beta[c]);
    }
}

/* Sums over one channel of dout and of dout * xhat, xhat = (in - mean) * rstd. */
static void channel_grad_sums(const float *dout, const float *in, size_t batch, size_t channels,
                              size_t spatial, size_t c, float mean, float rstd, double *sum_dout,
                              double *sum_dout_xhat) {
    double s = 0.0, sx = 0.0;
    for (size_t n = 0; n < batch; n++) {
        const float *g = dout + (n * channels + c) * spatial;
        const float *x = in + (n * channels + c) * spatial;
        for (size_t p = 0; p < spatial; p++) {
            s += g[p];
            sx += (double)g[p] * ((x[p] - mean) * rstd);
        }
    }
    *sum_dout = s;
    *sum_dout_xhat = sx;
}

void batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                        const float *in, const float *mean, const float *rstd, const float *gamma,
                        size_t batch, size_t channels, size_t spatial) {
    double count = (double)(batch * spatial);
    for (size_t c = 0; c < channels; c++) {
        double sum_dout, sum_dout_xhat;
        channel_grad_sums(dout, in, batch, channels, spatial, c, mean[c], rstd[c], &sum_dout,
                          &sum_dout_xhat);
        dgamma[c] += (float)sum_dout_xhat;
        dbeta[c] += (float)sum_dout;
        /* din = gamma rstd (dout - mean(dout) - xhat mean(dout xhat)) */
        float scale = gamma[c] * rstd[c];
        float mean_dout = (float)(sum_dout / count);
        float mean_dout_xhat = (float)(sum_dout_xhat / count);
        for (size_t n = 0; n < batch; n++) {
            const float *g = dout + (n * channels + c) * spatial;
            const float *x = in + (n * channels + c) * spatial;
            float *dx = din + (n * channels + c) * spatial;
            for (size_t p = 0; p < spatial; p++) {
                float xhat = (x[p] - mean[c]) * rstd[c];
                dx[p] += scale * (g[p] - mean_dout - xhat * mean_dout_xhat);
            }
        }
    }
}

void batchnorm_backward_eval(float *din, float *dgamma, float *dbeta, const float *dout,
                             const float *in, const float *gamma, const float *running_mean,
                             const float *running_var, size_t batch, size_t channels,
                             size_t spatial) {
    for (size_t c = 0; c < channels; c++) {
        float rstd = 1.0f / sqrtf(running_var[c] + BN_EPS);
        double sum_dout, sum_dout_xhat;
        channel_grad_sums(dout, in, batch, channels, spatial, c, running_mean[c], rstd,
                          &sum_dout, &sum_dout_xhat);
        dgamma[c] += (float)sum_dout_xhat;
        dbeta[c] += (float)sum_dout;
        if (!din) continue;
        float scale = gamma[c] * rstd;
        for (size_t n = 0; n < batch; n++) {
            const float *g = dout + (n * channels + c) * spatial;
            float *dx = din + (n * channels + c) * spatial;
            for (size_t p = 0; p < spatial; p++) dx[p] += scale * g[p];
        }
    }
}

void relu_forward(float *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void relu_backward(float *din, const float *dout, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) din[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}

/* Loss of one sample; writes d(loss)/d(logits) scaled by grad_scale into grad if not NULL. */
static double sample_loss(bn_loss loss, float *grad, const float *logits, uint8_t label,
                          size_t n_classes, float grad_scale) {
    double total = 0.0;
    if (loss == LOSS_MSE) {
        for (size_t k = 0; k < n_classes; k++) {
            double diff = (double)logits[k] - (k == label ? 1.0 : 0.0);
            total += 0.5 * diff * diff;
            if (grad) grad[k] = (float)diff * grad_scale;
        }
        return total;
    }
    float max_logit = logits[0];
    for (size_t k = 1; k < n_classes; k++)
        if (logits[k] > max_logit) max_logit = logits[k];
    double sum_exp = 0.0;
    for (size_t k = 0; k < n_classes; k++) sum_exp += exp((double)(logits[k] - max_logit));
    double log_sum_exp = log(sum_exp) + (double)max_logit;
    if (grad)
        for (size_t k = 0; k < n_classes; k++) {
            double p = exp((double)logits[k] - log_sum_exp);
            grad[k] = (float)(p - (k == label ? 1.0 : 0.0)) * grad_scale;
        }
    return log_sum_exp - (double)logits[label];
}

double loss_forward_backward(bn_loss loss, float *dlogits, const float *logits,
                             const uint8_t *labels, size_t batch, size_t n_classes) {
    double total = 0.0;
    float scale = 1.0f / (float)batch;
    for (size_t n = 0; n < batch; n++)
        total += sample_loss(loss, dlogits ? dlogits + n * n_classes : NULL,
                             logits + n * n_classes, labels[n], n_classes, scale);
    return total / (double)batch;
}

static size_t argmax(const float *v, size_t n) {
    size_t best = 0;
    for (size_t k = 1; k < n; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

void loss_eval(bn_loss loss, const float *logits, const uint8_t *labels, size_t batch,
               size_t n_classes, double *loss_sum, size_t *n_correct) {
    for (size_t n = 0; n < batch; n++) {
        const float *row = logits + n * n_classes;
        *loss_sum += sample_loss(loss, NULL, row, labels[n], n_classes, 0.0f);
        if (argmax(row, n_classes) == labels[n]) (*n_correct)++;
    }
}
