/* 2 x 2 max-pooling with stride 2, forward and backward, split over the run's cores by planes.
 *
 * The backward pass recomputes which element of each window was the maximum from the forward
 * pass's input instead of reading indices the forward pass saved. The model keeps every
 * layer's output in its activation arena, so that input is there anyway, and recomputing
 * needs no buffer of indices beside it; both passes pick through the one function
 * (window_pick), so they cannot disagree. The price is reading 4 floats instead of an index
 * per window in the backward pass, which writes those 4 floats of din anyway: a pass of
 * memory on a layer that is a small part of a step next to the convolutions around it. */
#include "bntrain/maxpool.h"

#include <math.h>

#include "engine/parallel.h"
#include "engine/simd.h"

size_t maxpool_out_size(size_t in) {
    return in / 2;
}

/* Which of the window's four elements is the maximum (0 top-left, 1 top-right, 2 bottom-left,
 * 3 bottom-right), by PyTorch's rule (maxpool.h): in scan order, an element takes over if it
 * is greater than the maximum so far or NaN. */
static inline int window_pick(const float *top, const float *bottom) {
    float v[4] = {top[0], top[1], bottom[0], bottom[1]};
    int pick = 0;
    for (int i = 1; i < 4; i++)
        if (v[i] > v[pick] || isnan(v[i])) pick = i;
    return pick;
}

BN_HOT static void pool_planes(float *out, const float *in, size_t planes, size_t height,
                               size_t width) {
    size_t out_h = height / 2, out_w = width / 2;
    for (size_t p = 0; p < planes; p++, in += height * width)
        for (size_t oy = 0; oy < out_h; oy++) {
            const float *top = in + 2 * oy * width, *bottom = top + width;
            for (size_t ox = 0; ox < out_w; ox++, out++) {
                int pick = window_pick(top + 2 * ox, bottom + 2 * ox);
                *out = (pick < 2 ? top : bottom)[2 * ox + (pick & 1)];
            }
        }
}

BN_HOT static void unpool_planes(float *din, const float *dout, const float *in, size_t planes,
                                 size_t height, size_t width) {
    size_t out_h = height / 2, out_w = width / 2;
    for (size_t p = 0; p < planes; p++, in += height * width, din += height * width) {
        for (size_t oy = 0; oy < out_h; oy++) {
            const float *top = in + 2 * oy * width, *bottom = top + width;
            float *dtop = din + 2 * oy * width, *dbottom = dtop + width;
            for (size_t ox = 0; ox < out_w; ox++, dout++) {
                int pick = window_pick(top + 2 * ox, bottom + 2 * ox);
                dtop[2 * ox] = pick == 0 ? *dout : 0.0f;
                dtop[2 * ox + 1] = pick == 1 ? *dout : 0.0f;
                dbottom[2 * ox] = pick == 2 ? *dout : 0.0f;
                dbottom[2 * ox + 1] = pick == 3 ? *dout : 0.0f;
            }
            /* an odd width's last column, which no window reads */
            if (width % 2) dtop[width - 1] = dbottom[width - 1] = 0.0f;
        }
        if (height % 2)
            for (size_t x = 0; x < width; x++)
                din[(height - 1) * width + x] = 0.0f;
    }
}

/* One pass's operands, shared by the parts (one range of planes each). */
typedef struct {
    float *dst;
    const float *src, *in; /* in: the forward pass's input, for the backward */
    size_t planes, height, width;
} maxpool_call;

static void forward_part(void *ctx, size_t part, size_t parts) {
    const maxpool_call *a = ctx;
    size_t lo, hi, plane_out = (a->height / 2) * (a->width / 2);
    part_range(a->planes, part, parts, 1, &lo, &hi);
    pool_planes(a->dst + lo * plane_out, a->src + lo * a->height * a->width, hi - lo, a->height,
                a->width);
}

static void backward_part(void *ctx, size_t part, size_t parts) {
    const maxpool_call *a = ctx;
    size_t lo, hi, plane_in = a->height * a->width;
    part_range(a->planes, part, parts, 1, &lo, &hi);
    unpool_planes(a->dst + lo * plane_in, a->src + lo * (a->height / 2) * (a->width / 2),
                  a->in + lo * plane_in, hi - lo, a->height, a->width);
}

static size_t pool_parts(size_t planes, size_t height, size_t width) {
    size_t parts = loop_parts(planes * height * width);
    return parts < planes ? parts : planes;
}

void maxpool_forward(float *out, const float *in, size_t planes, size_t height, size_t width) {
    maxpool_call call = {out, in, NULL, planes, height, width};
    parallel_parts(pool_parts(planes, height, width), forward_part, &call);
}

void maxpool_backward(float *din, const float *dout, const float *in, size_t planes, size_t height,
                      size_t width) {
    maxpool_call call = {din, dout, in, planes, height, width};
    parallel_parts(pool_parts(planes, height, width), backward_part, &call);
}

void maxpool_tangent(float *dout, const float *din, const float *in, size_t planes,
                     size_t height, size_t width) {
    size_t out_h = height / 2, out_w = width / 2;
    for (size_t p = 0; p < planes; p++, in += height * width, din += height * width)
        for (size_t oy = 0; oy < out_h; oy++) {
            const float *top = in + 2 * oy * width, *bottom = top + width;
            const float *dtop = din + 2 * oy * width, *dbottom = dtop + width;
            for (size_t ox = 0; ox < out_w; ox++, dout++) {
                int pick = window_pick(top + 2 * ox, bottom + 2 * ox);
                *dout = (pick < 2 ? dtop : dbottom)[2 * ox + (pick & 1)];
            }
        }
}
