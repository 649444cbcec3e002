/* BatchNorm: train mode (batch statistics in double, the affine pass, the full backward through
 * the statistics), the running-statistics update, eval mode (running statistics, and the
 * backward with them held fixed), and each fused with the ReLU after it. The fused and unfused
 * paths share their loops, with the ReLU a compile-time constant in each. Work is split by
 * channels, in blocks sized for the L2 cache. */
#include "bntrain/batchnorm.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/parallel.h"
#include "engine/simd.h"

/* BatchNorm statistics are accumulated in double, in a fixed order, so that they do not
 * depend on the vector width. Channels are processed in blocks so that the per-channel
 * accumulators live on the stack (nothing is allocated). */
#define BN_BLOCK 1024

/* Channels per block for the train-mode passes (of a part's `channels`): few enough that a
 * block's input, output gradient and input gradient (the backward's three arrays) stay in a
 * 2 MB L2 cache between the passes over it (statistics, then normalisation; sums, then input
 * gradient). A whole CIFAR-10 conv1 output is 3.4 MB per array, so its second pass came from
 * memory. With one location per channel (after a linear layer), though, a block is a piece
 * of every sample's row: 1 KB pieces 4 KB apart, each on a new page, which the hardware
 * prefetcher did not follow. There the block is every channel (up to BN_BLOCK), and the
 * passes stream their arrays in order (in-training A/B: the FC's BatchNorm passes
 * 1.15-1.3x). Blocking never changes a bit: every channel's sums run over that channel
 * alone. */
#define BN_BLOCK_BYTES (768u * 1024u)

/* How far ahead (2 KB) the first pass over a block prefetches its rows into L2: a conv layer's
 * arrays come from L3 on that pass, more lines than the hardware prefetcher keeps in flight. */
#define BN_PREFETCH_FLOATS 512

static size_t block_channels(size_t batch, size_t channels, size_t spatial) {
    if (spatial == 1) return channels < 1 ? 1 : channels > BN_BLOCK ? BN_BLOCK : channels;
    size_t per_channel = 3 * batch * spatial * sizeof(float);
    size_t nc = per_channel ? BN_BLOCK_BYTES / per_channel : BN_BLOCK;
    return nc < 1 ? 1 : nc > BN_BLOCK ? BN_BLOCK : nc;
}

/* Vectors of 8 floats and 8 doubles (GCC/Clang vector extensions): elementwise IEEE
 * operations, so every clone computes the same bits, and the compiler maps them to whatever
 * registers the clone has. */
typedef float f32x8 __attribute__((vector_size(32)));
typedef double f64x8 __attribute__((vector_size(64)));
typedef float f32x16 __attribute__((vector_size(64)));
typedef double f64x16 __attribute__((vector_size(128)));
typedef int32_t i32x16 __attribute__((vector_size(64)));

/* 16 floats as doubles, in two halves (elements 0-7, 8-15). Converted 16 at a time: GCC 12
 * converts 8 floats to 8 doubles as two halves of 4 and an insert, plus an extract when they
 * come from one register (three times the instructions of one AVX-512 conversion), and those
 * conversions bounded BatchNorm's statistics and gradient sums. */
static inline __attribute__((always_inline)) void widen16(f32x16 v, f64x8 *lo, f64x8 *hi) {
    f64x16 d = __builtin_convertvector(v, f64x16);
    /* halves by copies, which GCC keeps in registers (__builtin_shufflevector needs GCC 12) */
    memcpy(lo, &d, sizeof *lo);
    memcpy(hi, (const char *)&d + sizeof *lo, sizeof *hi);
}

/* An unaligned load of a vector of any size (a statement: a function returning a vector would
 * change the ABI of the clones without AVX). */
#define LOAD_VECTOR(v, p) memcpy(&(v), (p), sizeof(v))

/* One vector's share of a row's moment: lanes += d, or (d - *mean)^2 */
static inline __attribute__((always_inline)) void moment_add(f64x8 *lanes, f64x8 d,
                                                             const double *mean) {
    if (mean) {
        d -= *mean;
        d *= d;
    }
    *lanes += d;
}

/* Up to 4 rows' moments at once, `ld` floats apart: their sums (mean NULL), or their sums of
 * (x - mean[r])^2, in double. Each row is summed in eight lanes in a fixed pattern (lane k
 * takes elements k, k + 8, ...), then its tail in order, then the lanes: the vector and scalar
 * clones give the same bits. One row's lanes are a single chain of dependent additions, 4
 * cycles per 8 floats, which bounded the statistics pass; ROWS rows are ROWS independent
 * chains. */
static inline __attribute__((always_inline)) void
rows_moment_body(const float *x, size_t ld, size_t n, const double *mean, double *out,
                 const size_t ROWS) {
    f64x8 lanes[4] = {{0}};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (size_t r = 0; r < ROWS; r++) {
            f32x16 v;
            if (!mean) __builtin_prefetch(x + r * ld + i + BN_PREFETCH_FLOATS, 0, 2);
            LOAD_VECTOR(v, x + r * ld + i);
            f64x8 lo, hi;
            widen16(v, &lo, &hi);
            moment_add(&lanes[r], lo, mean ? &mean[r] : NULL);
            moment_add(&lanes[r], hi, mean ? &mean[r] : NULL);
        }
    for (; i + 8 <= n; i += 8)
        for (size_t r = 0; r < ROWS; r++) {
            f32x8 v;
            LOAD_VECTOR(v, x + r * ld + i);
            moment_add(&lanes[r], __builtin_convertvector(v, f64x8), mean ? &mean[r] : NULL);
        }
    for (size_t r = 0; r < ROWS; r++) {
        double total = 0.0;
        for (size_t j = i; j < n; j++) {
            double d = x[r * ld + j];
            total += mean ? (d - mean[r]) * (d - mean[r]) : d;
        }
        for (size_t k = 0; k < 8; k++) total += lanes[r][k];
        out[r] = total;
    }
}

BN_HOT static void rows_moment(const float *x, size_t ld, size_t n, size_t rows,
                               const double *mean, double *out) {
    for (; rows >= 4; rows -= 4, x += 4 * ld, out += 4, mean = mean ? mean + 4 : NULL)
        rows_moment_body(x, ld, n, mean, out, 4);
    if (rows == 3) rows_moment_body(x, ld, n, mean, out, 3);
    if (rows == 2) rows_moment_body(x, ld, n, mean, out, 2);
    if (rows == 1) rows_moment_body(x, ld, n, mean, out, 1);
}

/* Per-channel mean and biased variance of channels [c0, c0 + nc), two passes. With one
 * location per channel (after a linear layer) the loops run along the channels, which are
 * contiguous; otherwise along each channel's contiguous rows. */
BN_HOT static void block_moments(const float *in, size_t batch, size_t channels, size_t spatial,
                                 size_t c0, size_t nc, double *mean, double *var) {
    for (size_t c = 0; c < nc; c++) mean[c] = var[c] = 0.0;
    double row[BN_BLOCK];
    for (size_t n = 0; n < batch; n++) {
        const float *x = in + (n * channels + c0) * spatial;
        if (spatial == 1) {
            for (size_t c = 0; c < nc; c++) mean[c] += x[c];
            continue;
        }
        rows_moment(x, spatial, spatial, nc, NULL, row);
        for (size_t c = 0; c < nc; c++) mean[c] += row[c];
    }
    double count = (double)(batch * spatial);
    for (size_t c = 0; c < nc; c++) mean[c] /= count;
    for (size_t n = 0; n < batch; n++) {
        const float *x = in + (n * channels + c0) * spatial;
        if (spatial == 1) {
            for (size_t c = 0; c < nc; c++) var[c] += ((double)x[c] - mean[c]) * ((double)x[c] - mean[c]);
            continue;
        }
        rows_moment(x, spatial, spatial, nc, mean, row);
        for (size_t c = 0; c < nc; c++) var[c] += row[c];
    }
    for (size_t c = 0; c < nc; c++) var[c] /= count;
}

/* out = (in - shift_in) * scale + shift_out per channel, for channels [c0, c0 + nc), then
 * max(0, .) if relu: BatchNorm and the ReLU after it in one pass. */
static inline __attribute__((always_inline)) void
affine_body(float *out, const float *in, size_t batch, size_t channels, size_t spatial, size_t c0,
            size_t nc, const float *shift_in, const float *scale, const float *shift_out,
            const int relu) {
    for (size_t n = 0; n < batch; n++) {
        const float *x = in + (n * channels + c0) * spatial;
        float *y = out + (n * channels + c0) * spatial;
        if (spatial == 1) {
            for (size_t c = 0; c < nc; c++) {
                float v = (x[c] - shift_in[c]) * scale[c] + shift_out[c];
                y[c] = relu && !(v > 0.0f) ? 0.0f : v;
            }
            continue;
        }
        for (size_t c = 0; c < nc; c++)
            for (size_t p = 0; p < spatial; p++) {
                float v = (x[c * spatial + p] - shift_in[c]) * scale[c] + shift_out[c];
                y[c * spatial + p] = relu && !(v > 0.0f) ? 0.0f : v;
            }
    }
}

/* relu is a constant in each of the two, so that neither inner loop tests it (a runtime flag
 * there cost 6 % of a CNN step). */
BN_HOT static void affine_plain(float *out, const float *in, size_t batch, size_t channels,
                                size_t spatial, size_t c0, size_t nc, const float *shift_in,
                                const float *scale, const float *shift_out) {
    affine_body(out, in, batch, channels, spatial, c0, nc, shift_in, scale, shift_out, 0);
}

BN_HOT static void affine_relu(float *out, const float *in, size_t batch, size_t channels,
                               size_t spatial, size_t c0, size_t nc, const float *shift_in,
                               const float *scale, const float *shift_out) {
    affine_body(out, in, batch, channels, spatial, c0, nc, shift_in, scale, shift_out, 1);
}

static void block_affine(float *out, const float *in, size_t batch, size_t channels,
                         size_t spatial, size_t c0, size_t nc, const float *shift_in,
                         const float *scale, const float *shift_out, int relu) {
    (relu ? affine_relu : affine_plain)(out, in, batch, channels, spatial, c0, nc, shift_in, scale,
                                        shift_out);
}


/* One train-mode BatchNorm call's operands, shared by the parts (one range of channels each). */
typedef struct {
    float *out, *mean, *rstd, *batch_var;
    const float *in, *gamma, *beta;
    size_t batch, channels, spatial;
    int relu;
} bn_train_call;

static void batchnorm_train_part(void *ctx, size_t part, size_t parts) {
    const bn_train_call *a = ctx;
    size_t lo, hi;
    part_range(a->channels, part, parts, 1, &lo, &hi);
    size_t block = block_channels(a->batch, hi - lo, a->spatial);
    for (size_t c0 = lo; c0 < hi; c0 += block) {
        size_t nc = hi - c0 < block ? hi - c0 : block;
        double mu[BN_BLOCK], var[BN_BLOCK];
        float scale[BN_BLOCK];
        block_moments(a->in, a->batch, a->channels, a->spatial, c0, nc, mu, var);
        for (size_t c = 0; c < nc; c++) {
            a->mean[c0 + c] = (float)mu[c];
            a->batch_var[c0 + c] = (float)var[c];
            a->rstd[c0 + c] = (float)(1.0 / sqrt(var[c] + (double)BN_EPS));
            scale[c] = a->rstd[c0 + c] * a->gamma[c0 + c];
        }
        block_affine(a->out, a->in, a->batch, a->channels, a->spatial, c0, nc, a->mean + c0,
                     scale, a->beta + c0, a->relu);
    }
}

static void batchnorm_train(float *out, float *mean, float *rstd, float *batch_var,
                            const float *in, const float *gamma, const float *beta, size_t batch,
                            size_t channels, size_t spatial, int relu) {
    bn_train_call call = {out,   mean,  rstd,  batch_var, in,     gamma,
                          beta,  batch, channels, spatial, relu};
    size_t parts = loop_parts(batch * channels * spatial);
    parallel_parts(parts < channels ? parts : channels, batchnorm_train_part, &call);
}

void batchnorm_forward(float *out, float *mean, float *rstd, float *batch_var, const float *in,
                       const float *gamma, const float *beta, size_t batch, size_t channels,
                       size_t spatial) {
    batchnorm_train(out, mean, rstd, batch_var, in, gamma, beta, batch, channels, spatial, 0);
}

void batchnorm_relu_forward(float *out, float *mean, float *rstd, float *batch_var,
                            const float *in, const float *gamma, const float *beta, size_t batch,
                            size_t channels, size_t spatial) {
    batchnorm_train(out, mean, rstd, batch_var, in, gamma, beta, batch, channels, spatial, 1);
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

static void batchnorm_eval(float *out, const float *in, const float *gamma, const float *beta,
                           const float *running_mean, const float *running_var, size_t batch,
                           size_t channels, size_t spatial, int relu) {
    for (size_t c0 = 0; c0 < channels; c0 += BN_BLOCK) {
        size_t nc = channels - c0 < BN_BLOCK ? channels - c0 : BN_BLOCK;
        float scale[BN_BLOCK];
        for (size_t c = 0; c < nc; c++)
            scale[c] = gamma[c0 + c] / sqrtf(running_var[c0 + c] + BN_EPS);
        block_affine(out, in, batch, channels, spatial, c0, nc, running_mean + c0, scale,
                     beta + c0, relu);
    }
}

void batchnorm_forward_eval(float *out, const float *in, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var, size_t batch,
                            size_t channels, size_t spatial) {
    batchnorm_eval(out, in, gamma, beta, running_mean, running_var, batch, channels, spatial, 0);
}

void batchnorm_relu_forward_eval(float *out, const float *in, const float *gamma,
                                 const float *beta, const float *running_mean,
                                 const float *running_var, size_t batch, size_t channels,
                                 size_t spatial) {
    batchnorm_eval(out, in, gamma, beta, running_mean, running_var, batch, channels, spatial, 1);
}

/* The gradient reaching BatchNorm's output: g = dout, or with a ReLU fused after it, dout
 * where the ReLU's output was positive. That side is recomputed from BatchNorm's input with
 * the forward pass's own expression, (x - mean) scale + shift, scale = rstd gamma, shift =
 * beta (NULL: no ReLU): the same bits decide it, and the backward reads two arrays instead
 * of three. */
static inline float relu_grad(float g, float x, float mean, float scale, const float *shift,
                              size_t c) {
    if (!shift) return g;
    /* a bit mask, not a branch: half the ReLUs are off, in no predictable pattern */
    uint32_t bits, keep = (uint32_t)-(int32_t)((x - mean) * scale + shift[c] > 0.0f);
    memcpy(&bits, &g, sizeof bits);
    bits &= keep;
    memcpy(&g, &bits, sizeof g);
    return g;
}

/* Sums of g and g xhat along one contiguous row of a channel, xhat = (x - mean) rstd, g as
 * relu_grad (relu: whether a ReLU is fused; scale, shift: its recomputation). Sixteen double
 * lanes in a fixed
 * pattern: a single double chain over the N H W locations of a channel was latency-bound at
 * 4 cycles an element, and the auto-vectoriser kept the scalar version of this loop. */
static inline __attribute__((always_inline)) void
grad_sums_row(const float *x, const float *dout, size_t n, float mean, float rstd, const int relu,
              float scale, float shift, double *sum_dout, double *sum_dout_xhat) {
    f64x8 s_lo = {0}, s_hi = {0}, sx_lo = {0}, sx_hi = {0};
    size_t p = 0;
    for (; p + 16 <= n; p += 16) {
        f32x16 xv, g;
        __builtin_prefetch(x + p + BN_PREFETCH_FLOATS, 0, 2);
        __builtin_prefetch(dout + p + BN_PREFETCH_FLOATS, 0, 2);
        LOAD_VECTOR(xv, x + p);
        LOAD_VECTOR(g, dout + p);
        f32x16 xhat = (xv - mean) * rstd;
        if (relu) /* a mask, not a branch: half the ReLUs are off, in no predictable pattern */
            g = (f32x16)((i32x16)g & ((xv - mean) * scale + shift > (f32x16){0}));
        f64x8 gd_lo, gd_hi, xd_lo, xd_hi;
        widen16(g, &gd_lo, &gd_hi);
        widen16(xhat, &xd_lo, &xd_hi);
        s_lo += gd_lo;
        s_hi += gd_hi;
        sx_lo += gd_lo * xd_lo;
        sx_hi += gd_hi * xd_hi;
    }
    double s = 0.0, sx = 0.0;
    for (; p < n; p++) {
        float xhat = (x[p] - mean) * rstd, g = relu_grad(dout[p], x[p], mean, scale, relu ? &shift : NULL, 0);
        s += g;
        sx += (double)g * xhat;
    }
    for (size_t k = 0; k < 8; k++) {
        s += s_lo[k];
        sx += sx_lo[k];
    }
    for (size_t k = 0; k < 8; k++) {
        s += s_hi[k];
        sx += sx_hi[k];
    }
    *sum_dout = s;
    *sum_dout_xhat = sx;
}

/* Per-channel sums of g and of g * xhat, g as relu_grad (relu_shift: beta + c0 with a fused
 * ReLU, else NULL; scale: rstd gamma per channel), xhat = (in - mean) * rstd, in double. */
static inline __attribute__((always_inline)) void
grad_sums_body(const float *dout, const float *relu_shift, const float *in, size_t batch,
               size_t channels, size_t spatial, size_t c0, size_t nc, const float *mean,
               const float *rstd, const float *scale, double *sum_dout, double *sum_dout_xhat) {
    for (size_t c = 0; c < nc; c++) sum_dout[c] = sum_dout_xhat[c] = 0.0;
    for (size_t n = 0; n < batch; n++) {
        size_t first = (n * channels + c0) * spatial;
        const float *x = in + first, *d = dout + first;
        if (spatial == 1) {
            for (size_t c = 0; c < nc; c++) {
                float xhat = (x[c] - mean[c]) * rstd[c];
                float g = relu_grad(d[c], x[c], mean[c], scale[c], relu_shift, c);
                sum_dout[c] += g;
                sum_dout_xhat[c] += (double)g * xhat;
            }
            continue;
        }
        for (size_t c = 0; c < nc; c++) {
            double s, sx;
            grad_sums_row(x + c * spatial, d + c * spatial, spatial, mean[c], rstd[c],
                          relu_shift != NULL, scale[c], relu_shift ? relu_shift[c] : 0.0f, &s,
                          &sx);
            sum_dout[c] += s;
            sum_dout_xhat[c] += sx;
        }
    }
}

/* Called with relu_shift a constant NULL or not, as affine_body's relu. */
BN_HOT static void grad_sums_plain(const float *dout, const float *in, size_t batch,
                                   size_t channels, size_t spatial, size_t c0, size_t nc,
                                   const float *mean, const float *rstd, const float *scale,
                                   double *sum_dout, double *sum_dout_xhat) {
    grad_sums_body(dout, NULL, in, batch, channels, spatial, c0, nc, mean, rstd, scale, sum_dout,
                   sum_dout_xhat);
}

BN_HOT static void grad_sums_relu(const float *dout, const float *relu_shift, const float *in,
                                  size_t batch, size_t channels, size_t spatial, size_t c0,
                                  size_t nc, const float *mean, const float *rstd,
                                  const float *scale, double *sum_dout, double *sum_dout_xhat) {
    grad_sums_body(dout, relu_shift, in, batch, channels, spatial, c0, nc, mean, rstd, scale,
                   sum_dout, sum_dout_xhat);
}

static void block_grad_sums(const float *dout, const float *relu_shift, const float *in,
                            size_t batch, size_t channels, size_t spatial, size_t c0, size_t nc,
                            const float *mean, const float *rstd, const float *scale,
                            double *sum_dout, double *sum_dout_xhat) {
    if (relu_shift)
        grad_sums_relu(dout, relu_shift, in, batch, channels, spatial, c0, nc, mean, rstd, scale,
                       sum_dout, sum_dout_xhat);
    else
        grad_sums_plain(dout, in, batch, channels, spatial, c0, nc, mean, rstd, scale, sum_dout,
                        sum_dout_xhat);
}

/* din = scale (g - a - xhat b) per channel, g as relu_grad, xhat = (in - mean) * rstd. */
static inline __attribute__((always_inline)) void
input_grad_body(float *din, const float *dout, const float *relu_shift, const float *in,
                size_t batch, size_t channels, size_t spatial, size_t c0, size_t nc,
                const float *mean, const float *rstd, const float *scale, const float *a,
                const float *b) {
    for (size_t n = 0; n < batch; n++) {
        size_t first = (n * channels + c0) * spatial;
        const float *x = in + first, *d = dout + first;
        float *dx = din + first;
        if (spatial == 1) {
            for (size_t c = 0; c < nc; c++) {
                float xhat = (x[c] - mean[c]) * rstd[c];
                float g = relu_grad(d[c], x[c], mean[c], scale[c], relu_shift, c);
                dx[c] = scale[c] * (g - a[c] - xhat * b[c]);
            }
            continue;
        }
        for (size_t c = 0; c < nc; c++)
            for (size_t p = 0; p < spatial; p++) {
                size_t i = c * spatial + p;
                float xhat = (x[i] - mean[c]) * rstd[c];
                float g = relu_grad(d[i], x[i], mean[c], scale[c], relu_shift, c);
                dx[i] = scale[c] * (g - a[c] - xhat * b[c]);
            }
    }
}

BN_HOT static void input_grad_plain(float *din, const float *dout, const float *in,
                                    size_t batch, size_t channels, size_t spatial, size_t c0,
                                    size_t nc, const float *mean, const float *rstd,
                                    const float *scale, const float *a, const float *b) {
    input_grad_body(din, dout, NULL, in, batch, channels, spatial, c0, nc, mean, rstd, scale, a,
                    b);
}

BN_HOT static void input_grad_relu(float *din, const float *dout, const float *relu_shift,
                                   const float *in, size_t batch, size_t channels,
                                   size_t spatial, size_t c0, size_t nc, const float *mean,
                                   const float *rstd, const float *scale, const float *a,
                                   const float *b) {
    input_grad_body(din, dout, relu_shift, in, batch, channels, spatial, c0, nc, mean, rstd,
                    scale, a, b);
}

static void block_input_grad(float *din, const float *dout, const float *relu_shift,
                             const float *in, size_t batch, size_t channels, size_t spatial,
                             size_t c0, size_t nc, const float *mean, const float *rstd,
                             const float *scale, const float *a, const float *b) {
    if (relu_shift)
        input_grad_relu(din, dout, relu_shift, in, batch, channels, spatial, c0, nc, mean, rstd,
                        scale, a, b);
    else
        input_grad_plain(din, dout, in, batch, channels, spatial, c0, nc, mean, rstd, scale, a,
                         b);
}

static void store_param_grads(float *dgamma, float *dbeta, const double *sum_dout,
                              const double *sum_dout_xhat, size_t nc, int accumulate) {
    for (size_t c = 0; c < nc; c++) {
        dgamma[c] = (accumulate ? dgamma[c] : 0.0f) + (float)sum_dout_xhat[c];
        dbeta[c] = (accumulate ? dbeta[c] : 0.0f) + (float)sum_dout[c];
    }
}

/* One train-mode BatchNorm backward call's operands, shared by the parts. */
typedef struct {
    float *din, *dgamma, *dbeta;
    const float *dout, *relu_shift, *in, *mean, *rstd, *gamma; /* relu_shift: beta, or NULL */
    size_t batch, channels, spatial;
    int accumulate;
} bn_backward_call;

static void batchnorm_backward_part(void *ctx, size_t part, size_t parts) {
    const bn_backward_call *a = ctx;
    double count = (double)(a->batch * a->spatial);
    size_t lo, hi;
    part_range(a->channels, part, parts, 1, &lo, &hi);
    size_t block = block_channels(a->batch, hi - lo, a->spatial);
    for (size_t c0 = lo; c0 < hi; c0 += block) {
        size_t nc = hi - c0 < block ? hi - c0 : block;
        double sum_dout[BN_BLOCK], sum_dout_xhat[BN_BLOCK];
        float scale[BN_BLOCK], mean_dout[BN_BLOCK], mean_dout_xhat[BN_BLOCK];
        /* rstd gamma, as the forward pass computed it: din's factor and the fused ReLU's side */
        for (size_t c = 0; c < nc; c++) scale[c] = a->rstd[c0 + c] * a->gamma[c0 + c];
        const float *relu_shift = a->relu_shift ? a->relu_shift + c0 : NULL;
        block_grad_sums(a->dout, relu_shift, a->in, a->batch, a->channels, a->spatial, c0, nc,
                        a->mean + c0, a->rstd + c0, scale, sum_dout, sum_dout_xhat);
        store_param_grads(a->dgamma + c0, a->dbeta + c0, sum_dout, sum_dout_xhat, nc,
                          a->accumulate);
        /* din = gamma rstd (g - mean(g) - xhat mean(g xhat)) */
        for (size_t c = 0; c < nc; c++) {
            mean_dout[c] = (float)(sum_dout[c] / count);
            mean_dout_xhat[c] = (float)(sum_dout_xhat[c] / count);
        }
        block_input_grad(a->din, a->dout, relu_shift, a->in, a->batch, a->channels, a->spatial,
                         c0, nc, a->mean + c0, a->rstd + c0, scale, mean_dout, mean_dout_xhat);
    }
}

static void batchnorm_train_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                                     const float *relu_shift, const float *in, const float *mean,
                                     const float *rstd, const float *gamma, size_t batch,
                                     size_t channels, size_t spatial, int accumulate) {
    bn_backward_call call = {din,  dgamma, dbeta, dout,     relu_shift, in,        mean,
                             rstd, gamma,  batch, channels, spatial,    accumulate};
    size_t parts = loop_parts(batch * channels * spatial);
    parallel_parts(parts < channels ? parts : channels, batchnorm_backward_part, &call);
}

void batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                        const float *in, const float *mean, const float *rstd, const float *gamma,
                        size_t batch, size_t channels, size_t spatial, int accumulate) {
    batchnorm_train_backward(din, dgamma, dbeta, dout, NULL, in, mean, rstd, gamma, batch,
                             channels, spatial, accumulate);
}

void batchnorm_relu_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                             const float *in, const float *mean, const float *rstd,
                             const float *gamma, const float *beta, size_t batch,
                             size_t channels, size_t spatial, int accumulate) {
    batchnorm_train_backward(din, dgamma, dbeta, dout, beta, in, mean, rstd, gamma, batch,
                             channels, spatial, accumulate);
}

void batchnorm_backward_eval(float *din, float *dgamma, float *dbeta, const float *dout,
                             const float *in, const float *gamma, const float *running_mean,
                             const float *running_var, size_t batch, size_t channels,
                             size_t spatial, int accumulate) {
    for (size_t c0 = 0; c0 < channels; c0 += BN_BLOCK) {
        size_t nc = channels - c0 < BN_BLOCK ? channels - c0 : BN_BLOCK;
        double sum_dout[BN_BLOCK], sum_dout_xhat[BN_BLOCK];
        float rstd[BN_BLOCK], scale[BN_BLOCK], zero[BN_BLOCK];
        for (size_t c = 0; c < nc; c++) {
            rstd[c] = 1.0f / sqrtf(running_var[c0 + c] + BN_EPS);
            scale[c] = gamma[c0 + c] * rstd[c];
            zero[c] = 0.0f;
        }
        block_grad_sums(dout, NULL, in, batch, channels, spatial, c0, nc, running_mean + c0, rstd,
                        scale, sum_dout, sum_dout_xhat);
        store_param_grads(dgamma + c0, dbeta + c0, sum_dout, sum_dout_xhat, nc, accumulate);
        /* The statistics are constants here: din = gamma rstd dout. */
        if (din)
            block_input_grad(din, dout, NULL, in, batch, channels, spatial, c0, nc, running_mean + c0,
                             rstd, scale, zero, zero);
    }
}

/* ---- forward-mode derivatives: plain loops, sums in double (the Fisher's F v, not a hot
 * path of training) ---- */

/* dout = scale din + dgamma xhat + dbeta - (shift_din + shift_xhat xhat), per location of
 * channel c, xhat = (x - mean) rstd. */
static void tangent_channel(float *dout, const float *in, const float *din, size_t c,
                            size_t batch, size_t channels, size_t spatial, double mean,
                            double rstd, double scale, double dgamma, double dbeta,
                            double shift_din, double shift_xhat) {
    for (size_t n = 0; n < batch; n++) {
        size_t at = (n * channels + c) * spatial;
        for (size_t p = 0; p < spatial; p++) {
            double xhat = ((double)in[at + p] - mean) * rstd;
            dout[at + p] = (float)(scale * ((double)din[at + p] - shift_din - shift_xhat * xhat) +
                                   dgamma * xhat + dbeta);
        }
    }
}

void batchnorm_tangent(float *dout, const float *in, const float *din, const float *mean,
                       const float *rstd, const float *gamma, const float *dgamma,
                       const float *dbeta, size_t batch, size_t channels, size_t spatial) {
    double count = (double)(batch * spatial);
    for (size_t c = 0; c < channels; c++) {
        double sum_din = 0.0, sum_din_xhat = 0.0;
        for (size_t n = 0; n < batch; n++) {
            size_t at = (n * channels + c) * spatial;
            for (size_t p = 0; p < spatial; p++) {
                double xhat = ((double)in[at + p] - mean[c]) * rstd[c];
                sum_din += din[at + p];
                sum_din_xhat += din[at + p] * xhat;
            }
        }
        tangent_channel(dout, in, din, c, batch, channels, spatial, mean[c], rstd[c],
                        (double)gamma[c] * rstd[c], dgamma[c], dbeta[c], sum_din / count,
                        sum_din_xhat / count);
    }
}

void batchnorm_tangent_eval(float *dout, const float *in, const float *din, const float *gamma,
                            const float *dgamma, const float *dbeta, const float *running_mean,
                            const float *running_var, size_t batch, size_t channels,
                            size_t spatial) {
    for (size_t c = 0; c < channels; c++) {
        double rstd = 1.0 / sqrt((double)running_var[c] + BN_EPS);
        tangent_channel(dout, in, din, c, batch, channels, spatial, running_mean[c], rstd,
                        (double)gamma[c] * rstd, dgamma[c], dbeta[c], 0.0, 0.0);
    }
}
