/* The convolution's lowering (im2col: each output pixel's taps as a column) and its adjoint,
 * raising (col2im: column gradients added back into the input planes), for chunks of samples:
 * by output rows with bound checks (padding), by a table of tap offsets (no padding), or with
 * AVX-512 permutations where the rows are short (the tap_plan says which). Every path copies
 * the same values and adds each element's taps in (ky, kx) order: the same bits. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/conv_internal.h"
#include "engine/simd.h"

/* One output row's samples of lowered row (c, ky, kx): input row iy sampled at ox * stride +
 * kx. Where the kernel overhangs the padded border the value is 0; unsigned wrap-around makes
 * indices left of the border fail the bound check too. */
static inline void lower_row(float *dst, const float *plane, const conv_shape *s, size_t iy,
                             size_t kx) {
    if (iy >= s->in_height) {
        memset(dst, 0, s->out_width * sizeof *dst);
        return;
    }
    const float *src = plane + iy * s->in_width;
    for (size_t ox = 0; ox < s->out_width; ox++) {
        size_t ix = ox * s->stride + kx - s->padding;
        dst[ox] = ix < s->in_width ? src[ix] : 0.0f;
    }
}

#define RAISE_PREFETCH_FLOATS 512 /* how far ahead of its stores raising fetches din */

BN_HOT static void gather_taps(float *restrict dst, const float *restrict src,
                               const int32_t *restrict offsets, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = src[offsets[i]];
}

#ifdef CONV_X86
/* The next output row's inputs in lower_taps_avx512's walk: down a plane, then the next. */
static inline void next_row(const float **row, size_t *n, size_t *oy, const float *src,
                            size_t stride, size_t step, size_t out_h) {
    if (++*oy < out_h) {
        *row += step;
        return;
    }
    *oy = 0;
    *row = src + ++*n * stride;
}

/* One tap of `samples` planes (src at the tap's first input, planes `stride` floats apart):
 * dst[n P + oy W_out + ox] = src[n stride + oy stride W + ox stride]. */
__attribute__((target("avx512f"))) static void
lower_taps_avx512(float *dst, const float *src, size_t stride, size_t samples,
                  const tap_plan *plan, const conv_shape *s) {
    /* locals, not s->...: the vector stores may alias anything, and reloading the shape after
     * each one made this loop latency-bound */
    const size_t out_w = s->out_width, out_h = s->out_height, step = s->stride * s->in_width;
    const size_t span = (out_w - 1) * s->stride + 1;
    const __mmask16 lo = first_lanes(span), hi = first_lanes(span > 16 ? span - 16 : 0);
    const __mmask16 out = first_lanes(out_w);
    const __m512i pick = _mm512_loadu_si512(plan->lower_pick);
    if (plan->lower_pairs) {
        /* two output rows (the next row may start the next sample) to one permutation and
         * one store: the rows are adjacent in dst */
        const __m512i pair = _mm512_loadu_si512(plan->pair_pick);
        const __mmask16 both = first_lanes(2 * out_w);
        size_t rows = samples * out_h, n = 0, oy = 0;
        const float *row = src;
        for (size_t q = 0; q + 2 <= rows; q += 2, dst += 2 * out_w) {
            const float *first = row;
            next_row(&row, &n, &oy, src, stride, step, out_h);
            __m512 a = _mm512_maskz_loadu_ps(lo, first), b = _mm512_maskz_loadu_ps(lo, row);
            next_row(&row, &n, &oy, src, stride, step, out_h);
            _mm512_mask_storeu_ps(dst, both, _mm512_permutex2var_ps(a, pair, b));
        }
        if (rows % 2) _mm512_mask_storeu_ps(dst, out, tap_row(row, lo, hi, pick));
        return;
    }
    for (size_t n = 0; n < samples; n++) {
        const float *row = src + n * stride;
        for (size_t oy = 0; oy < out_h; oy++, row += step, dst += out_w)
            _mm512_mask_storeu_ps(dst, out, tap_row(row, lo, hi, pick));
    }
}

/* The adjoint, for all taps of one input channel at once: each input row is summed in
 * registers over the taps that reach it, in (ky, kx) order from 0, and stored once; no
 * zeroing pass, no read-modify-write (a masked add per tap and output row, after a memset,
 * took 10 % of a CNN step). Lanes a tap does not reach add +0, which changes no sum: the
 * partial sums start at +0 and are never -0. cols: the channel's first tap row, rows ld
 * apart; planes `stride` floats apart. K (the kernel) and HI (whether an input row spans a
 * second vector) are constants in the paper's case (raise_3x3_narrow): with them at run time
 * the loop's branches and its spilled masks took most of its time, a sixth of a layer's
 * backward pass. */
__attribute__((target("avx512f"), always_inline)) static inline void
raise_channel_body(float *dst, const float *cols, size_t ld, size_t stride, size_t samples,
                   const tap_plan *plan, const conv_shape *s, const size_t K, const int HI) {
    const size_t out_w = s->out_width, in_w = s->in_width, pixels = out_pixels(s);
    const __mmask16 in = first_lanes(out_w), lo = first_lanes(in_w);
    const __mmask16 hi = first_lanes(in_w > 16 ? in_w - 16 : 0);
    __m512i pick_lo[RAISE_KERNEL] = {{0}}, pick_hi[RAISE_KERNEL] = {{0}};
    __mmask16 lanes_lo[RAISE_KERNEL] = {0}, lanes_hi[RAISE_KERNEL] = {0};
#pragma GCC unroll 8
    for (size_t kx = 0; kx < K; kx++) {
        pick_lo[kx] = _mm512_loadu_si512(plan->raise_pick[kx]);
        pick_hi[kx] = _mm512_loadu_si512(plan->raise_pick[kx] + 16);
        lanes_lo[kx] = (__mmask16)plan->raise_lanes[kx];
        lanes_hi[kx] = (__mmask16)(plan->raise_lanes[kx] >> 16);
    }
    for (size_t n = 0; n < samples; n++) {
        float *row = dst + n * stride;
        const float *sample = cols + n * pixels;
        for (size_t iy = 0; iy < s->in_height; iy++, row += in_w) {
            __m512 acc_lo = _mm512_setzero_ps(), acc_hi = _mm512_setzero_ps();
            /* the taps ky that reach row iy, in ascending order */
            for (unsigned taps = plan->row_taps[iy]; taps; taps &= taps - 1) {
                size_t ky = (size_t)__builtin_ctz(taps);
                const float *src = sample + ky * K * ld + plan->row_oy[iy][ky] * out_w;
#pragma GCC unroll 8
                for (size_t kx = 0; kx < K; kx++, src += ld) {
                    __m512 c = _mm512_maskz_loadu_ps(in, src);
                    acc_lo = _mm512_add_ps(acc_lo, _mm512_maskz_permutexvar_ps(lanes_lo[kx], pick_lo[kx], c));
                    if (HI)
                        acc_hi = _mm512_add_ps(acc_hi,
                                               _mm512_maskz_permutexvar_ps(lanes_hi[kx], pick_hi[kx], c));
                }
            }
            _mm512_mask_storeu_ps(row, lo, acc_lo);
            if (HI) _mm512_mask_storeu_ps(row + 16, hi, acc_hi);
            _mm_prefetch((const char *)(row + RAISE_PREFETCH_FLOATS), _MM_HINT_T1);
        }
    }
}

__attribute__((target("avx512f"))) static void
raise_3x3_narrow(float *dst, const float *cols, size_t ld, size_t stride, size_t samples,
                 const tap_plan *plan, const conv_shape *s) {
    raise_channel_body(dst, cols, ld, stride, samples, plan, s, 3, 0);
}

__attribute__((target("avx512f"))) static void
raise_channel_avx512(float *dst, const float *cols, size_t ld, size_t stride, size_t samples,
                     const tap_plan *plan, const conv_shape *s) {
    if (s->kernel == 3 && s->in_width <= 16) {
        raise_3x3_narrow(dst, cols, ld, stride, samples, plan, s);
        return;
    }
    raise_channel_body(dst, cols, ld, stride, samples, plan, s, s->kernel, s->in_width > 16);
}
#endif

/* One tap of `samples` planes, lowered into dst (P floats per sample) or raised from cols,
 * when plan->table holds. */
static void lower_taps(float *dst, const float *src, size_t stride, size_t samples,
                       const tap_plan *plan, const conv_shape *s) {
#ifdef CONV_X86
    if (plan->vectors) {
        lower_taps_avx512(dst, src, stride, samples, plan, s);
        return;
    }
#endif
    for (size_t n = 0; n < samples; n++)
        gather_taps(dst + n * out_pixels(s), src + n * stride, plan->offsets, out_pixels(s));
}

static void raise_taps(float *dst, const float *cols, size_t stride, size_t samples,
                       const tap_plan *plan, const conv_shape *s) {
    size_t pixels = out_pixels(s);
    for (size_t n = 0; n < samples; n++)
        for (size_t i = 0; i < pixels; i++) dst[n * stride + plan->offsets[i]] += cols[n * pixels + i];
}

/* Floats from plane (n, c) to plane (n + 1, c). */
static size_t sample_stride(const conv_input *x) {
    const conv_shape *s = x->shape;
    return (x->channel_major ? 1 : s->in_channels) * s->in_height * s->in_width;
}

/* Lowered rows [r0, r1) for samples [n0, n1) into dst, row r at dst + (r - r0) ld, sample n's
 * pixels at column (n - n0) P. Row r is tap (ky, kx) of input channel c, r = (c K + ky) K + kx. */
void conv_lower_chunk(float *dst, size_t ld, const conv_input *x, const tap_plan *plan, size_t r0,
                      size_t r1, size_t n0, size_t n1) {
    const conv_shape *s = x->shape;
    size_t k = s->kernel, pixels = out_pixels(s);
    for (size_t r = r0; r < r1; r++) {
        size_t c = r / (k * k), ky = r / k % k, kx = r % k;
        float *row = dst + (r - r0) * ld;
        const float *first = x->data + plane_offset(s, x->batch, n0, c, x->channel_major);
        if (plan->table) {
            lower_taps(row, first + ky * s->in_width + kx, sample_stride(x), n1 - n0, plan, s);
            continue;
        }
        for (size_t n = n0; n < n1; n++)
            for (size_t oy = 0; oy < s->out_height; oy++)
                lower_row(row + (n - n0) * pixels + oy * s->out_width,
                          first + (n - n0) * sample_stride(x), s,
                          oy * s->stride + ky - s->padding, kx);
    }
}

/* Adjoint of lower_row: adds one output row's column gradients back into an input plane. */
static inline void raise_row(float *plane, const float *src, const conv_shape *s, size_t iy,
                             size_t kx) {
    if (iy >= s->in_height) return;
    float *dst = plane + iy * s->in_width;
    for (size_t ox = 0; ox < s->out_width; ox++) {
        size_t ix = ox * s->stride + kx - s->padding;
        if (ix < s->in_width) dst[ix] += src[ox];
    }
}

/* Adjoint of conv_lower_chunk for whole input channels [c0, c1): writes their planes of samples
 * [n0, n1) of din from the column gradients of rows [c0 K K, c1 K K) in src (row stride ld).
 * Each element receives its taps in (ky, kx) order on every path: the same sums, bit for bit. */
void conv_raise_chunk(float *din, const float *src, size_t ld, const conv_input *x,
                      const tap_plan *plan, size_t c0, size_t c1, size_t n0, size_t n1) {
    const conv_shape *s = x->shape;
    size_t k = s->kernel, pixels = out_pixels(s), stride = sample_stride(x);
    for (size_t c = c0; c < c1; c++) {
        float *first = din + plane_offset(s, x->batch, n0, c, x->channel_major);
#ifdef CONV_X86
        if (plan->raise_rows) {
            raise_channel_avx512(first, src + (c - c0) * k * k * ld, ld, stride, n1 - n0, plan, s);
            continue;
        }
#endif
        for (size_t n = n0; n < n1; n++)
            memset(first + (n - n0) * stride, 0, s->in_height * s->in_width * sizeof *first);
        for (size_t ky = 0; ky < k; ky++)
            for (size_t kx = 0; kx < k; kx++) {
                const float *cols = src + (((c - c0) * k + ky) * k + kx) * ld;
                if (plan->table) {
                    raise_taps(first + ky * s->in_width + kx, cols, stride, n1 - n0, plan, s);
                    continue;
                }
                for (size_t n = n0; n < n1; n++)
                    for (size_t oy = 0; oy < s->out_height; oy++)
                        raise_row(first + (n - n0) * stride, cols + (n - n0) * pixels + oy * s->out_width,
                                  s, oy * s->stride + ky - s->padding, kx);
            }
    }
}
