/* Flatten: a channel-major (C x N x P) conv block to the N x (C P) rows of a linear layer, and
 * back for the gradient. Copies only. */
#include "bntrain/flatten.h"

#include <string.h>

/* A short copy in pieces of constant size, which the compiler turns into moves: a memcpy of
 * a run-time size is a library call, and flattening the paper's CNN (9 floats per channel
 * and sample) took 11 520 of them per pass, 1.5 % of a step. */
static inline void copy_floats(float *dst, const float *src, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) memcpy(dst + i, src + i, 16 * sizeof *dst);
    if (n - i >= 8) memcpy(dst + i, src + i, 8 * sizeof *dst), i += 8;
    if (n - i >= 4) memcpy(dst + i, src + i, 4 * sizeof *dst), i += 4;
    if (n - i >= 2) memcpy(dst + i, src + i, 2 * sizeof *dst), i += 2;
    if (n - i >= 1) dst[i] = src[i];
}

void flatten_forward(float *out, const float *in, size_t batch, size_t channels, size_t pixels) {
    for (size_t n = 0; n < batch; n++)
        for (size_t c = 0; c < channels; c++)
            copy_floats(out + n * channels * pixels + c * pixels, in + (c * batch + n) * pixels,
                        pixels);
}

void flatten_backward(float *din, const float *dout, size_t batch, size_t channels,
                      size_t pixels) {
    for (size_t c = 0; c < channels; c++)
        for (size_t n = 0; n < batch; n++)
            copy_floats(din + (c * batch + n) * pixels, dout + n * channels * pixels + c * pixels,
                        pixels);
}

void flatten_tangent(float *dout, const float *din, size_t batch, size_t channels,
                     size_t pixels) {
    flatten_forward(dout, din, batch, channels, pixels);
}
