/* Global average pooling, forward and backward, split over the run's cores by channels: each
 * part writes its channels' outputs (a column of the N x C rows) and gradients. */
#include "bntrain/avgpool.h"

#include "engine/parallel.h"

/* One pass's operands, shared by the parts. */
typedef struct {
    float *dst;
    const float *src;
    size_t batch, channels, pixels;
} avgpool_call;

static void forward_part(void *ctx, size_t part, size_t parts) {
    const avgpool_call *a = ctx;
    size_t lo, hi;
    part_range(a->channels, part, parts, 1, &lo, &hi);
    for (size_t c = lo; c < hi; c++)
        for (size_t n = 0; n < a->batch; n++) {
            const float *plane = a->src + (c * a->batch + n) * a->pixels;
            double sum = 0.0;
            for (size_t p = 0; p < a->pixels; p++)
                sum += plane[p];
            a->dst[n * a->channels + c] = (float)(sum / (double)a->pixels);
        }
}

static void backward_part(void *ctx, size_t part, size_t parts) {
    const avgpool_call *a = ctx;
    size_t lo, hi;
    part_range(a->channels, part, parts, 1, &lo, &hi);
    for (size_t c = lo; c < hi; c++)
        for (size_t n = 0; n < a->batch; n++) {
            float *plane = a->dst + (c * a->batch + n) * a->pixels;
            float share = a->src[n * a->channels + c] / (float)a->pixels;
            for (size_t p = 0; p < a->pixels; p++)
                plane[p] = share;
        }
}

static size_t avgpool_parts(size_t batch, size_t channels, size_t pixels) {
    size_t parts = loop_parts(batch * channels * pixels);
    return parts < channels ? parts : channels;
}

void global_avgpool_forward(float *out, const float *in, size_t batch, size_t channels,
                            size_t pixels) {
    avgpool_call call = {out, in, batch, channels, pixels};
    parallel_parts(avgpool_parts(batch, channels, pixels), forward_part, &call);
}

void global_avgpool_backward(float *din, const float *dout, size_t batch, size_t channels,
                             size_t pixels) {
    avgpool_call call = {din, dout, batch, channels, pixels};
    parallel_parts(avgpool_parts(batch, channels, pixels), backward_part, &call);
}
