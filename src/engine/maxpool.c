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
#include <stdint.h>

#include "base/cpu.h"
#include "engine/parallel.h"
#include "engine/simd.h"

size_t maxpool_out_size(size_t in) {
    return in / 2;
}

/* Which of the window's four elements is the maximum (0 top-left, 1 top-right, 2 bottom-left,
 * 3 bottom-right), by PyTorch's rule (maxpool.h): in scan order, an element takes over if it
 * is greater than the maximum so far or NaN (x != x). Written as selects, not branches, so that
 * the loops below compile to vector compares and blends (the branches mispredicted on every
 * other window: 19 ms of a VGG16 step's first pooling layer): the same choice either way. */
static inline int window_pick(float a, float b, float c, float d) {
    float max = a;
    int pick = 0, take;
    take = (b > max) | (b != b), max = take ? b : max, pick = take ? 1 : pick;
    take = (c > max) | (c != c), max = take ? c : max, pick = take ? 2 : pick;
    take = (d > max) | (d != d), pick = take ? 3 : pick;
    return pick;
}

/* The picked element itself. */
static inline float window_max(float a, float b, float c, float d) {
    float max = a;
    max = ((b > max) | (b != b)) ? b : max;
    max = ((c > max) | (c != c)) ? c : max;
    return ((d > max) | (d != d)) ? d : max;
}

BN_HOT static void pool_planes(float *out, const float *in, size_t planes, size_t height,
                               size_t width) {
    size_t out_h = height / 2, out_w = width / 2;
    for (size_t p = 0; p < planes; p++, in += height * width)
        for (size_t oy = 0; oy < out_h; oy++, out += out_w) {
            const float *top = in + 2 * oy * width, *bottom = top + width;
            for (size_t ox = 0; ox < out_w; ox++)
                out[ox] = window_max(top[2 * ox], top[2 * ox + 1], bottom[2 * ox],
                                     bottom[2 * ox + 1]);
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define MAXPOOL_X86 1
#include <immintrin.h>

static const int32_t even_lanes[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
static const int32_t odd_lanes[16] = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
static const int32_t low_pairs[16] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
static const int32_t high_pairs[16] = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

/* One window row of unpool_planes, 16 windows at a time: window_pick's rule as mask blends
 * (GCC does not vectorise the scalar loop: the four selected stores defeat its if-conversion,
 * and the branches mispredicted on every other window). Selections only, so the same bits. */
__attribute__((target("avx512f"))) static void unpool_row_avx512(float *dtop, float *dbottom,
                                                                  const float *top,
                                                                  const float *bottom,
                                                                  const float *dout,
                                                                  size_t out_w) {
    __m512i even = _mm512_loadu_si512(even_lanes), odd = _mm512_loadu_si512(odd_lanes);
    __m512i lo = _mm512_loadu_si512(low_pairs), hi = _mm512_loadu_si512(high_pairs);
    __m512 zero = _mm512_setzero_ps();
    for (size_t ox = 0; ox < out_w; ox += 16) {
        size_t n = out_w - ox < 16 ? out_w - ox : 16;
        __mmask16 windows = (__mmask16)((1u << n) - 1);
        __mmask16 first = (__mmask16)((1u << (n < 8 ? 2 * n : 16)) - 1);
        __mmask16 second = (__mmask16)(n > 8 ? (1u << (2 * n - 16)) - 1 : 0);
        __m512 t0 = _mm512_maskz_loadu_ps(first, top + 2 * ox);
        __m512 t1 = _mm512_maskz_loadu_ps(second, top + 2 * ox + 16);
        __m512 b0 = _mm512_maskz_loadu_ps(first, bottom + 2 * ox);
        __m512 b1 = _mm512_maskz_loadu_ps(second, bottom + 2 * ox + 16);
        __m512 a = _mm512_permutex2var_ps(t0, even, t1), b = _mm512_permutex2var_ps(t0, odd, t1);
        __m512 c = _mm512_permutex2var_ps(b0, even, b1), d = _mm512_permutex2var_ps(b0, odd, b1);
        __m512 g = _mm512_maskz_loadu_ps(windows, dout + ox), max = a;
        __m512 g0 = g, g1 = zero, g2 = zero, g3 = zero;
        __mmask16 take = _mm512_cmp_ps_mask(b, max, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
        max = _mm512_mask_mov_ps(max, take, b), g1 = _mm512_mask_mov_ps(g1, take, g);
        g0 = _mm512_mask_mov_ps(g0, take, zero);
        take = _mm512_cmp_ps_mask(c, max, _CMP_GT_OQ) | _mm512_cmp_ps_mask(c, c, _CMP_UNORD_Q);
        max = _mm512_mask_mov_ps(max, take, c), g2 = _mm512_mask_mov_ps(g2, take, g);
        g0 = _mm512_mask_mov_ps(g0, take, zero), g1 = _mm512_mask_mov_ps(g1, take, zero);
        take = _mm512_cmp_ps_mask(d, max, _CMP_GT_OQ) | _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q);
        g3 = _mm512_mask_mov_ps(g3, take, g), g2 = _mm512_mask_mov_ps(g2, take, zero);
        g0 = _mm512_mask_mov_ps(g0, take, zero), g1 = _mm512_mask_mov_ps(g1, take, zero);
        _mm512_mask_storeu_ps(dtop + 2 * ox, first, _mm512_permutex2var_ps(g0, lo, g1));
        _mm512_mask_storeu_ps(dtop + 2 * ox + 16, second, _mm512_permutex2var_ps(g0, hi, g1));
        _mm512_mask_storeu_ps(dbottom + 2 * ox, first, _mm512_permutex2var_ps(g2, lo, g3));
        _mm512_mask_storeu_ps(dbottom + 2 * ox + 16, second, _mm512_permutex2var_ps(g2, hi, g3));
    }
}
#endif

/* One window row: each window's dout to the element window_pick picks, 0 to the others. */
static void unpool_row(float *dtop, float *dbottom, const float *top, const float *bottom,
                       const float *dout, size_t out_w) {
#ifdef MAXPOOL_X86
    if (cpu_isa_level() == CPU_ISA_AVX512) {
        unpool_row_avx512(dtop, dbottom, top, bottom, dout, out_w);
        return;
    }
#endif
    for (size_t ox = 0; ox < out_w; ox++) {
        int pick = window_pick(top[2 * ox], top[2 * ox + 1], bottom[2 * ox], bottom[2 * ox + 1]);
        dtop[2 * ox] = pick == 0 ? dout[ox] : 0.0f;
        dtop[2 * ox + 1] = pick == 1 ? dout[ox] : 0.0f;
        dbottom[2 * ox] = pick == 2 ? dout[ox] : 0.0f;
        dbottom[2 * ox + 1] = pick == 3 ? dout[ox] : 0.0f;
    }
}

static void unpool_planes(float *din, const float *dout, const float *in, size_t planes,
                          size_t height, size_t width) {
    size_t out_h = height / 2, out_w = width / 2;
    for (size_t p = 0; p < planes; p++, in += height * width, din += height * width) {
        for (size_t oy = 0; oy < out_h; oy++, dout += out_w) {
            const float *top = in + 2 * oy * width, *bottom = top + width;
            float *dtop = din + 2 * oy * width, *dbottom = dtop + width;
            unpool_row(dtop, dbottom, top, bottom, dout, out_w);
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
                int pick = window_pick(top[2 * ox], top[2 * ox + 1], bottom[2 * ox],
                                       bottom[2 * ox + 1]);
                *dout = (pick < 2 ? dtop : dbottom)[2 * ox + (pick & 1)];
            }
        }
}
