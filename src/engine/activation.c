/* The ReLU, forward and backward, split over the run's cores in 16-float ranges. */
#include "bntrain/activation.h"

#include "engine/parallel.h"
#include "engine/simd.h"

BN_HOT static void relu_range(float *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

BN_HOT static void relu_backward_range(float *din, const float *dout, const float *out,
                                       size_t n) {
    for (size_t i = 0; i < n; i++) din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

/* Elementwise ReLU, one range per part (on 16-float boundaries). */
typedef struct {
    float *dst;
    const float *src, *out; /* out: the ReLU's output, for the backward */
    size_t n;
} relu_call;

static void relu_forward_part(void *ctx, size_t part, size_t parts) {
    const relu_call *a = ctx;
    size_t lo, hi;
    part_range(a->n, part, parts, 16, &lo, &hi);
    relu_range(a->dst + lo, a->src + lo, hi - lo);
}

static void relu_backward_part(void *ctx, size_t part, size_t parts) {
    const relu_call *a = ctx;
    size_t lo, hi;
    part_range(a->n, part, parts, 16, &lo, &hi);
    relu_backward_range(a->dst + lo, a->src + lo, a->out + lo, hi - lo);
}

void relu_forward(float *out, const float *in, size_t n) {
    relu_call call = {out, in, NULL, n};
    parallel_parts(loop_parts(n), relu_forward_part, &call);
}

void relu_backward(float *din, const float *dout, const float *out, size_t n) {
    relu_call call = {din, dout, out, n};
    parallel_parts(loop_parts(n), relu_backward_part, &call);
}

/* The same mask as the backward pass: ReLU's Jacobian is diagonal, so J v and J^T v agree. */
void relu_tangent(float *dout, const float *din, const float *out, size_t n) {
    relu_backward(dout, din, out, n);
}
