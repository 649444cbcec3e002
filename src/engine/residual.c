/* The residual addition, forward and backward: both are one elementwise sum, dst = x + y
 * (the backward's x is dst itself), split over the run's cores in 16-float ranges. A sum of
 * two floats is the same whichever operand comes first, so the bits do not depend on which
 * buffer is the branch. */
#include "bntrain/residual.h"

#include "engine/parallel.h"
#include "engine/simd.h"

BN_HOT static void add_range(float *dst, const float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = x[i] + y[i];
}

typedef struct {
    float *dst;
    const float *x, *y;
    size_t n;
} add_call;

static void add_part(void *ctx, size_t part, size_t parts) {
    const add_call *a = ctx;
    size_t lo, hi;
    part_range(a->n, part, parts, 16, &lo, &hi);
    add_range(a->dst + lo, a->x + lo, a->y + lo, hi - lo);
}

static void add(float *dst, const float *x, const float *y, size_t n) {
    add_call call = {dst, x, y, n};
    parallel_parts(loop_parts(n), add_part, &call);
}

void residual_forward(float *out, const float *branch, const float *shortcut, size_t n) {
    add(out, branch, shortcut, n);
}

void residual_backward(float *dsaved, const float *dout, size_t n) {
    add(dsaved, dsaved, dout, n);
}

void residual_tangent(float *dout, const float *dbranch, const float *dshortcut, size_t n) {
    residual_forward(dout, dbranch, dshortcut, n);
}
