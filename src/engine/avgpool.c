/* Global average pooling, forward and backward, split over the run's cores by channels: each
 * part writes its channels' outputs (a column of the N x C rows) and gradients. */
#include "bntrain/avgpool.h"

#include "engine/parallel.h"

/* One pass's operands, shared by the parts. */
typedef struct {
    float *dst;
    const float *src;
    size_t batch, channels, pixels;
    int backward; /* 0: src C x N x P, dst N x C; 1: src N x C, dst C x N x P */
} avgpool_call;

static float plane_mean(const float *plane, size_t pixels) {
    double sum = 0.0;
    for (size_t p = 0; p < pixels; p++)
        sum += plane[p];
    return (float)(sum / (double)pixels);
}

static void fill(float *plane, float value, size_t pixels) {
    for (size_t p = 0; p < pixels; p++)
        plane[p] = value;
}

static void avgpool_part(void *ctx, size_t part, size_t parts) {
    const avgpool_call *a = ctx;
    size_t lo, hi;
    part_range(a->channels, part, parts, 1, &lo, &hi);
    for (size_t c = lo; c < hi; c++)
        for (size_t n = 0; n < a->batch; n++) {
            size_t plane = (c * a->batch + n) * a->pixels, row = n * a->channels + c;
            if (a->backward)
                fill(a->dst + plane, a->src[row] / (float)a->pixels, a->pixels);
            else
                a->dst[row] = plane_mean(a->src + plane, a->pixels);
        }
}

static size_t avgpool_parts(size_t batch, size_t channels, size_t pixels) {
    size_t parts = loop_parts(batch * channels * pixels);
    return parts < channels ? parts : channels;
}

void global_avgpool_forward(float *out, const float *in, size_t batch, size_t channels,
                            size_t pixels) {
    avgpool_call call = {out, in, batch, channels, pixels, 0};
    parallel_parts(avgpool_parts(batch, channels, pixels), avgpool_part, &call);
}

void global_avgpool_backward(float *din, const float *dout, size_t batch, size_t channels,
                             size_t pixels) {
    avgpool_call call = {din, dout, batch, channels, pixels, 1};
    parallel_parts(avgpool_parts(batch, channels, pixels), avgpool_part, &call);
}

void global_avgpool_tangent(float *dout, const float *din, size_t batch, size_t channels,
                            size_t pixels) {
    global_avgpool_forward(dout, din, batch, channels, pixels);
}
