/* The convolution's kernels that do not lower: on AVX-512, the forward pass in registers by
 * output rows, the forward pass vectorised over output channels in tiles, and the weight
 * (and bias) gradient of 3 x 3 layers broadcast from the input rows; everywhere, the bias
 * gradient's row sums and the direct loops (the fallback when scratch memory runs out, and
 * the tests' reference). Each computes the lowered product's chains, in the same order. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "bntrain/gemm.h"
#include "engine/conv_internal.h"
#include "engine/parallel.h"
#include "engine/simd.h"

/* A row's sum from its 16 lanes (element i in lane i % 16, for i < whole) and its tail
 * [whole, width), as conv_row_sums finishes it: the tail in order, then the lanes, then added to
 * the old sum when accumulating. */
static float row_total(float old, const float *row, size_t whole, size_t width,
                       const float *lanes, int accumulate) {
    float total = 0.0f;
    for (size_t j = whole; j < width; j++) total += row[j];
    for (size_t k = 0; k < 16; k++) total += lanes[k];
    return (accumulate ? old : 0.0f) + total;
}

/* Bias gradients of a channel-major output gradient: one contiguous row sum per channel. */
BN_HOT void conv_row_sums(float *sums, const float *m, size_t rows, size_t width, int accumulate) {
    for (size_t r = 0; r < rows; r++) {
        float lanes[16] = {0};
        size_t i = 0;
        for (; i + 16 <= width; i += 16)
            for (size_t k = 0; k < 16; k++) lanes[k] += m[r * width + i + k];
        sums[r] = row_total(sums[r], m + r * width, i, width, lanes, accumulate);
    }
}

void conv_row_sums_part(float *sums, const float *m, size_t rows, size_t width, int accumulate,
                        size_t part, size_t parts) {
    size_t r0, r1;
    part_range(rows, part, parts, 1, &r0, &r1);
    conv_row_sums(sums + r0, m + r0 * width, r1 - r0, width, accumulate);
}

/* ---- direct computation: the same chains without lowering ------------------------------- */

/* Entry (r, j) of the lowered input, j = n P + p. */
static float lowered_at(const conv_input *x, size_t r, size_t j) {
    const conv_shape *s = x->shape;
    size_t k = s->kernel, pixels = out_pixels(s);
    size_t c = r / (k * k), ky = r / k % k, kx = r % k, n = j / pixels, p = j % pixels;
    size_t iy = p / s->out_width * s->stride + ky - s->padding;
    size_t ix = p % s->out_width * s->stride + kx - s->padding;
    if (iy >= s->in_height || ix >= s->in_width) return 0.0f;
    return x->data[plane_offset(s, x->batch, n, c, x->channel_major) + iy * s->in_width + ix];
}

/* out = bias (0 if NULL) + W lowered, each entry's chain over the rows in order. */
void conv_forward_direct(float *out, const conv_input *x, const float *weight, const float *bias,
                         size_t n0, size_t n1) {
    const conv_shape *s = x->shape;
    size_t patch = patch_size(s), pixels = out_pixels(s), width = x->batch * pixels;
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t j = n0 * pixels; j < n1 * pixels; j++) {
            float acc = bias ? bias[co] : 0.0f;
            for (size_t r = 0; r < patch; r++) acc = fmaf(weight[co * patch + r], lowered_at(x, r, j), acc);
            out[co * width + j] = acc;
        }
}

/* Weight gradients of rows [r0, r1) (chains over the columns in order) and, if din, the input
 * gradient of channels [r0, r1) / K K (column gradients as chains over the output channels,
 * raised in tap order). */
void conv_backward_direct(float *din, float *dweight, const float *dout, const conv_input *x,
                          const float *weight, size_t r0, size_t r1, int accumulate) {
    const conv_shape *s = x->shape;
    size_t patch = patch_size(s), pixels = out_pixels(s), width = x->batch * pixels;
    size_t kk = s->kernel * s->kernel;
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t r = r0; r < r1; r++) {
            float acc = accumulate ? dweight[co * patch + r] : 0.0f;
            for (size_t j = 0; j < width; j++) acc = fmaf(dout[co * width + j], lowered_at(x, r, j), acc);
            dweight[co * patch + r] = acc;
        }
    if (!din) return;
    for (size_t c = r0 / kk; c < r1 / kk; c++)
        for (size_t n = 0; n < x->batch; n++) {
            float *plane = din + plane_offset(s, x->batch, n, c, x->channel_major);
            memset(plane, 0, s->in_height * s->in_width * sizeof *plane);
            for (size_t r = c * kk; r < (c + 1) * kk; r++) {
                size_t ky = r % kk / s->kernel, kx = r % s->kernel;
                for (size_t p = 0; p < pixels; p++) {
                    size_t iy = p / s->out_width * s->stride + ky - s->padding;
                    size_t ix = p % s->out_width * s->stride + kx - s->padding;
                    if (iy >= s->in_height || ix >= s->in_width) continue;
                    float column = 0.0f;
                    for (size_t co = 0; co < s->out_channels; co++)
                        column = fmaf(weight[co * patch + r], dout[co * width + n * pixels + p], column);
                    plane[iy * s->in_width + ix] += column;
                }
            }
        }
}

#ifdef CONV_X86
#define ROW_GROUP 16    /* output channels per register group of conv_forward_rows_avx512 */

/* Output rows [co0, co0 + group) x (sample n, output row oy) of the forward pass, in registers.
 * Per tap, the row's inputs are gathered by tap_row, as the lowering gathers them, and
 * multiplied into every channel's accumulator; each output is the GEMM's chain, the bias and
 * then one fused multiply-add per tap in order: the same bits. */
__attribute__((target("avx512f"), always_inline)) static inline void
forward_row_group(float *out, size_t width, const conv_input *x, const float *taps,
                  const float *bias, const tap_plan *plan, size_t n, size_t oy, size_t co0,
                  const size_t group) {
    const conv_shape *s = x->shape;
    const size_t k = s->kernel, in_w = s->in_width;
    const size_t span = (s->out_width - 1) * s->stride + 1;
    const __mmask16 lo = first_lanes(span), hi = first_lanes(span > 16 ? span - 16 : 0);
    const __m512i pick = _mm512_loadu_si512(plan->lower_pick);
    __m512 acc[ROW_GROUP];
    for (size_t g = 0; g < group; g++) acc[g] = _mm512_set1_ps(bias ? bias[co0 + g] : 0.0f);
    const float *w = taps;
    for (size_t c = 0; c < s->in_channels; c++) {
        const float *plane = x->data + plane_offset(s, x->batch, n, c, x->channel_major) +
                             oy * s->stride * in_w;
        for (size_t ky = 0; ky < k; ky++)
            for (size_t kx = 0; kx < k; kx++, w += group) {
                __m512 v = tap_row(plane + ky * in_w + kx, lo, hi, pick);
                for (size_t g = 0; g < group; g++)
                    acc[g] = _mm512_fmadd_ps(_mm512_set1_ps(w[g]), v, acc[g]);
            }
    }
    const __mmask16 lanes = first_lanes(s->out_width);
    float *dst = out + co0 * width + n * out_pixels(s) + oy * s->out_width;
    for (size_t g = 0; g < group; g++) _mm512_mask_storeu_ps(dst + g * width, lanes, acc[g]);
}

#define GROUP_CASE(g)                                                                          \
    case g:                                                                                    \
        forward_row_group(out, width, x, taps, bias, plan, n, oy, co0, g);                     \
        break;

/* The forward pass of samples [n0, n1) without lowering, where plan->direct_rows holds: an
 * output row fills most of a vector and the patch is short (the paper's first layer: 15
 * outputs a row, 27 taps). There the lowered product had K = 27, and lowering, packing and
 * storing took longer than the multiplications. Channels go in equal groups of at most
 * ROW_GROUP, one accumulator each. */
__attribute__((target("avx512f"))) void
conv_forward_rows_avx512(float *out, const conv_input *x, const float *weight, const float *bias,
                         const tap_plan *plan, size_t n0, size_t n1) {
    const conv_shape *s = x->shape;
    size_t width = x->batch * out_pixels(s), channels = s->out_channels;
    size_t groups = (channels + ROW_GROUP - 1) / ROW_GROUP, patch = patch_size(s);
    size_t per_group = (channels + groups - 1) / groups;
    for (size_t co0 = 0; co0 < channels; co0 += per_group) {
        size_t group = channels - co0 < per_group ? channels - co0 : per_group;
        /* the group's weights tap-major, so that each tap's broadcasts are adjacent (with
         * the group's channels `patch` floats apart, the addresses took more registers than
         * the loop has and were spilled) */
        float taps[DIRECT_ROWS_MAX_PATCH * ROW_GROUP];
        for (size_t r = 0; r < patch; r++)
            for (size_t g = 0; g < group; g++) taps[r * group + g] = weight[(co0 + g) * patch + r];
        for (size_t n = n0; n < n1; n++)
            for (size_t oy = 0; oy < s->out_height; oy++) switch (group) {
                    GROUP_CASE(1) GROUP_CASE(2) GROUP_CASE(3) GROUP_CASE(4) GROUP_CASE(5)
                    GROUP_CASE(6) GROUP_CASE(7) GROUP_CASE(8) GROUP_CASE(9) GROUP_CASE(10)
                    GROUP_CASE(11) GROUP_CASE(12) GROUP_CASE(13) GROUP_CASE(14)
                    GROUP_CASE(15) GROUP_CASE(16)
                }
    }
}

/* ---- forward pass vectorised over output channels -------------------------------------- */

/* Where an output row is short (the paper's second and third layers: 7 and 3 outputs), a
 * vector across the row is mostly empty, and the lowered product's M (the output channels) is
 * too small for the GEMM's tiles. Here each vector holds 16 output channels of one output
 * pixel, and a tile of pixels (rows x px of one sample) x vectors of channels is summed in
 * registers: per tap, the tile's weights are loaded once and each pixel's input is broadcast
 * from the input rows, so nothing is lowered or packed. Each output is the GEMM's chain, the
 * bias and then one fused multiply-add per tap in order: the same bits. The tile shapes are
 * compiled for the strides and row lengths of COTILE_KINDS (conv_internal.h); other shapes are
 * lowered. */
#define COTILE_PIXELS 9  /* most pixels a tile holds */
#define COTILE_VECTORS 3 /* most vectors of 16 channels */

/* Pixel vectors a[0 .. pixels) (pixels <= 8) of 16 channels each, to 16 rows of dst (width
 * floats apart; only the rows of `channels`): row l gets a[0][l] .. a[pixels - 1][l]. An 8 x 16
 * transpose in 24 shuffles, then two masked stores per register (rows l and l + 4, or l + 8
 * and l + 12, in its halves); copying through memory took a tenth of the tile's time. The
 * upper half's store starts 8 floats before its row, inside the output: width >= 7. */
__attribute__((target("avx512f"), always_inline)) static inline void
store_transposed8(float *dst, size_t width, const __m512 *a, const size_t pixels,
                  __mmask16 channels) {
    __m512 p[8], t[8], u[8];
#pragma GCC unroll 8
    for (size_t q = 0; q < 8; q++) p[q] = q < pixels ? a[q] : _mm512_setzero_ps();
#pragma GCC unroll 4
    for (size_t q = 0; q < 8; q += 2) {
        t[q] = _mm512_unpacklo_ps(p[q], p[q + 1]);     /* per 128 bits: q[0] q+1[0] q[1] q+1[1] */
        t[q + 1] = _mm512_unpackhi_ps(p[q], p[q + 1]); /* and [2], [3] */
    }
#pragma GCC unroll 2
    for (size_t h = 0; h < 8; h += 4) { /* u[h + m]: pixels h .. h + 3 of lanes 4k + m */
        u[h] = _mm512_shuffle_ps(t[h], t[h + 2], 0x44);
        u[h + 1] = _mm512_shuffle_ps(t[h], t[h + 2], 0xee);
        u[h + 2] = _mm512_shuffle_ps(t[h + 1], t[h + 3], 0x44);
        u[h + 3] = _mm512_shuffle_ps(t[h + 1], t[h + 3], 0xee);
    }
    const __m512i low = _mm512_set_epi32(23, 22, 21, 20, 7, 6, 5, 4, 19, 18, 17, 16, 3, 2, 1, 0);
    const __m512i high = _mm512_set_epi32(31, 30, 29, 28, 15, 14, 13, 12, 27, 26, 25, 24, 11, 10, 9, 8);
    const __mmask16 first = first_lanes(pixels), second = (__mmask16)(first << 8);
#pragma GCC unroll 4
    for (size_t m = 0; m < 4; m++) {
        __m512 rows_lo = _mm512_permutex2var_ps(u[m], low, u[m + 4]);   /* rows m, m + 4 */
        __m512 rows_hi = _mm512_permutex2var_ps(u[m], high, u[m + 4]);  /* rows m + 8, m + 12 */
        const size_t l[4] = {m, m + 4, m + 8, m + 12};
        if (channels >> l[0] & 1) _mm512_mask_storeu_ps(dst + l[0] * width, first, rows_lo);
        if (channels >> l[1] & 1) _mm512_mask_storeu_ps(dst + l[1] * width - 8, second, rows_lo);
        if (channels >> l[2] & 1) _mm512_mask_storeu_ps(dst + l[2] * width, first, rows_hi);
        if (channels >> l[3] & 1) _mm512_mask_storeu_ps(dst + l[3] * width - 8, second, rows_hi);
    }
}

/* One tile's share of input channels: output rows [oy0, oy0 + ROWS) of sample n, channels
 * [co0, co0 + 16 VECTORS) of which `valid` exist, summed over `in_channels` input channels. in:
 * the tile's first input of the first of them, channels plane_step apart; w: their weights,
 * tap-major, `lanes` floats per tap. The sums start from `start` (the pass's bias for the first
 * channels, else the partial sums that the previous channels left) and go to `partial`, or
 * with partial NULL (the last channels) to the output. Parking the sums in memory between
 * channels keeps each FMA chain in order: the same bits as one walk over all channels. */
__attribute__((target("avx512f"), always_inline)) static inline void
cotile_tile(float *out, size_t width, size_t j0, const float *in, size_t plane_step,
            size_t in_channels, size_t in_w, size_t row_step, const float *w, size_t lanes,
            const float *start, int start_is_bias, float *partial, size_t co0, size_t valid,
            const size_t STRIDE, const size_t PX, const size_t ROWS, const size_t VECTORS) {
    __m512 acc[COTILE_VECTORS][COTILE_PIXELS];
#pragma GCC unroll 3
    for (size_t v = 0; v < VECTORS; v++) {
        __m512 b = _mm512_loadu_ps(start + 16 * v);
#pragma GCC unroll 9
        for (size_t q = 0; q < ROWS * PX; q++)
            acc[v][q] = start_is_bias ? b : _mm512_loadu_ps(start + 16 * (v * ROWS * PX + q));
    }
    for (size_t c = 0; c < in_channels; c++, in += plane_step)
#pragma GCC unroll 3
        for (size_t ky = 0; ky < 3; ky++)
#pragma GCC unroll 3
            for (size_t kx = 0; kx < 3; kx++, w += lanes) {
                __m512 wv[COTILE_VECTORS];
#pragma GCC unroll 3
                for (size_t v = 0; v < VECTORS; v++) wv[v] = _mm512_loadu_ps(w + 16 * v);
#pragma GCC unroll 3
                for (size_t r = 0; r < ROWS; r++)
#pragma GCC unroll 9
                    for (size_t ox = 0; ox < PX; ox++) {
                        __m512 x = _mm512_set1_ps(in[r * row_step + ky * in_w + kx + ox * STRIDE]);
#pragma GCC unroll 3
                        for (size_t v = 0; v < VECTORS; v++)
                            acc[v][r * PX + ox] = _mm512_fmadd_ps(wv[v], x, acc[v][r * PX + ox]);
                    }
            }
    if (partial) {
#pragma GCC unroll 3
        for (size_t v = 0; v < VECTORS; v++)
#pragma GCC unroll 9
            for (size_t q = 0; q < ROWS * PX; q++)
                _mm512_storeu_ps(partial + 16 * (v * ROWS * PX + q), acc[v][q]);
        return;
    }
    /* to the channel-major output: each channel's pixels of the tile are adjacent */
#pragma GCC unroll 3
    for (size_t v = 0; v < VECTORS; v++) {
        size_t count = valid > 16 * v ? valid - 16 * v : 0;
        __mmask16 channels = first_lanes(count);
        float *dst = out + (co0 + 16 * v) * width + j0;
#pragma GCC unroll 2
        for (size_t q = 0; q < ROWS * PX; q += 8)
            store_transposed8(dst + q, width, &acc[v][q], ROWS * PX - q < 8 ? ROWS * PX - q : 8,
                              channels);
    }
}

/* Planes [c0, c1) of sample n into L2. In the channel-major layout a sample's planes lie a
 * batch of planes apart, each on its own page, where the hardware prefetcher does not follow
 * (in-training A/B of cotile_walk, which takes a share of the next sample's planes per tile:
 * the third layer's forward pass 1.09-1.12x, the second's 1.01-1.05x). */
__attribute__((target("avx512f"))) static void prefetch_planes(const conv_input *x, size_t n,
                                                               size_t c0, size_t c1) {
    const conv_shape *s = x->shape;
    size_t bytes = s->in_height * s->in_width * sizeof(float);
    for (size_t c = c0; c < c1; c++) {
        const char *plane = (const char *)(x->data + plane_offset(s, x->batch, n, c, x->channel_major));
        for (size_t b = 0; b < bytes; b += 64) _mm_prefetch(plane + b, _MM_HINT_T1);
        _mm_prefetch(plane + bytes - 1, _MM_HINT_T1);
    }
}

/* The next planes that walk order (below) reads for the first time, while the tile of
 * (pass, block, n) runs: the next sample's planes of the block in pass 0, and in the last
 * pass's last block the next group's first. */
__attribute__((target("avx512f"))) static void
cotile_prefetch(const conv_input *x, size_t p, size_t passes, size_t b, size_t blocks, size_t n,
                size_t g0, size_t g1, size_t n1, size_t tile, size_t tiles) {
    size_t in_c = x->shape->in_channels, next_n, next_b;
    if (p == 0 && n + 1 < g1) next_n = n + 1, next_b = b;
    else if (p == 0 && b + 1 < blocks) next_n = g0, next_b = b + 1;
    else if (p + 1 == passes && b + 1 == blocks && n + 1 == g1 && g1 < n1) next_n = g1, next_b = 0;
    else return;
    size_t c0 = in_c * next_b / blocks, c1 = in_c * (next_b + 1) / blocks;
    prefetch_planes(x, next_n, c0 + (c1 - c0) * tile / tiles, c0 + (c1 - c0) * (tile + 1) / tiles);
}

/* Samples [n0, n1) of the forward pass by tiles of kind (STRIDE, PX, ROWS, VECTORS), ROWS
 * dividing the output's height. Samples go in groups, and the input channels in blocks whose
 * weights fit L1: a pass's weights for all channels (the paper's third layer: 540 taps x 32
 * lanes, 69 KB) did not, and every tile streamed them from L2 again. */
__attribute__((target("avx512f"), always_inline)) static inline void
cotile_walk(float *out, const conv_input *x, const float *weight, const float *bias,
            size_t n0, size_t n1, float *scratch, const size_t STRIDE, const size_t PX,
            const size_t ROWS, const size_t VECTORS) {
    const conv_shape *s = x->shape;
    size_t patch = patch_size(s), pixels = out_pixels(s), width = x->batch * pixels;
    size_t lanes = 16 * VECTORS, channels = s->out_channels;
    size_t passes = (channels + lanes - 1) / lanes, per_pass = lanes * (patch + 1);
    for (size_t p = 0; p < passes; p++) {
        float *taps = scratch + p * per_pass;
        for (size_t r = 0; r <= patch; r++)
            for (size_t l = 0; l < lanes; l++) {
                size_t co = p * lanes + l;
                float tap = 0.0f; /* lanes past the last channel; the bias row without a bias */
                if (co < channels && r < patch) tap = weight[co * patch + r];
                else if (co < channels && bias) tap = bias[co];
                taps[r * lanes + l] = tap;
            }
    }
    float *partials = scratch + passes * per_pass;
    size_t blocks = conv_cotile_blocks(s, lanes), tiles = s->out_height / ROWS;
    size_t tile_floats = lanes * ROWS * PX;
    size_t plane_step = plane_offset(s, x->batch, 0, 1, x->channel_major);
    size_t row_step = STRIDE * s->in_width;
    for (size_t g0 = n0; g0 < n1; g0 += COTILE_GROUP) {
        size_t g1 = n1 - g0 < COTILE_GROUP ? n1 : g0 + COTILE_GROUP;
        for (size_t p = 0; p < passes; p++) {
            size_t co0 = p * lanes, valid = channels - co0 < lanes ? channels - co0 : lanes;
            size_t vectors = (valid + 15) / 16;
            const float *taps = scratch + p * per_pass, *pass_bias = taps + patch * lanes;
            for (size_t b = 0; b < blocks; b++) {
                size_t c0 = s->in_channels * b / blocks, c1 = s->in_channels * (b + 1) / blocks;
                const float *w = taps + c0 * 9 * lanes;
                for (size_t n = g0; n < g1; n++) {
                    const float *sample = x->data + plane_offset(s, x->batch, n, c0, x->channel_major);
                    for (size_t t = 0; t < tiles; t++) {
                        cotile_prefetch(x, p, passes, b, blocks, n, g0, g1, n1, t, tiles);
                        float *partial = partials + ((n - g0) * tiles + t) * tile_floats;
                        const float *start = b == 0 ? pass_bias : partial;
                        float *to = b + 1 < blocks ? partial : NULL;
                        const float *first = sample + t * ROWS * row_step;
#define COTILE_CALL(v)                                                                         \
    cotile_tile(out, width, n * pixels + t * ROWS * PX, first, plane_step, c1 - c0, s->in_width, \
                row_step, w, lanes, start, b == 0, to, co0, valid, STRIDE, PX, ROWS, v)
                        if (vectors >= VECTORS) COTILE_CALL(VECTORS);
                        else if (vectors == 2) COTILE_CALL(2);
                        else COTILE_CALL(1);
#undef COTILE_CALL
                    }
                }
            }
        }
    }
}

#define COTILE_KIND_WALK(name, stride, px, rows, vectors)                                      \
    __attribute__((target("avx512f"))) static void name(float *out, const conv_input *x,      \
                                                        const float *weight, const float *bias, \
                                                        size_t n0, size_t n1, float *scratch) { \
        cotile_walk(out, x, weight, bias, n0, n1, scratch, stride, px, rows, vectors);          \
    }
COTILE_KINDS(COTILE_KIND_WALK)

#define COTILE_KIND_FN(name, stride, px, rows, vectors) name,
const cotile_fn conv_cotile_fns[] = {COTILE_KINDS(COTILE_KIND_FN)}; /* as conv_cotile_kinds */

__attribute__((target("avx512f"))) static float row_sum_total(float old, const float *row,
                                                              size_t whole, size_t width,
                                                              __m512 lanes, int accumulate) {
    float l[16];
    _mm512_storeu_ps(l, lanes);
    return row_total(old, row, whole, width, l, accumulate);
}

/* Adds output rows [q0, q1) (row q: sample q / H_out, output row q % H_out) to the sums of
 * the 9 taps of input channel c, sums[tap GEMM_PANEL + co], from the output gradient
 * transposed in panel (pixel GEMM_PANEL + co). Each sum is the GEMM's chain over the pixels
 * in order, one fused multiply-add per pixel, of the same products: the same bits. The taps'
 * inputs are broadcast from the input rows themselves, with the column offsets as constants,
 * so nothing is lowered. halves: vectors of 16 channels (1 or 2). */
__attribute__((target("avx512f"), always_inline)) static inline void
grad_channel_block(float *sums, const float *panel, const conv_input *x, size_t c, size_t q0,
                   size_t q1, const size_t halves) {
    const conv_shape *s = x->shape;
    const size_t in_w = s->in_width, out_w = s->out_width, stride = s->stride;
    __m512 acc[9][2];
    for (size_t t = 0; t < 9; t++)
        for (size_t h = 0; h < halves; h++) acc[t][h] = _mm512_loadu_ps(sums + t * GEMM_PANEL + 16 * h);
    /* the rows' samples and first input rows, walked (a division per output row of 3 to 7
     * pixels cost a fifth of this loop) */
    size_t oy = q0 % s->out_height, row_step = stride * in_w;
    size_t sample_step = plane_offset(s, x->batch, 1, c, x->channel_major) -
                         plane_offset(s, x->batch, 0, c, x->channel_major);
    const float *plane = x->data + plane_offset(s, x->batch, q0 / s->out_height, c,
                                                x->channel_major);
    for (size_t q = q0; q < q1; q++) {
        const float *top = plane + oy * row_step;
        if (++oy == s->out_height) {
            oy = 0;
            plane += sample_step;
        }
        for (size_t ox = 0; ox < out_w; ox++, panel += GEMM_PANEL) {
            __m512 g[2];
            for (size_t h = 0; h < halves; h++) g[h] = _mm512_loadu_ps(panel + 16 * h);
            const float *in = top + ox * stride;
            for (size_t ky = 0; ky < 3; ky++)
                for (size_t kx = 0; kx < 3; kx++) {
                    __m512 v = _mm512_set1_ps(in[ky * in_w + kx]);
                    for (size_t h = 0; h < halves; h++)
                        acc[ky * 3 + kx][h] = _mm512_fmadd_ps(v, g[h], acc[ky * 3 + kx][h]);
                }
        }
    }
    for (size_t t = 0; t < 9; t++)
        for (size_t h = 0; h < halves; h++) _mm512_storeu_ps(sums + t * GEMM_PANEL + 16 * h, acc[t][h]);
}

/* The weight gradient of input channels [c0, c1) where plan->direct_grad holds (3 x 3 taps
 * without padding, output channels filling vectors of 16), 32 output channels at a time.
 * The lowered product's K was the whole batch's pixels and both its operands needed
 * transposing; a first layer's backward was 8 % of a CIFAR-10 step for 4.5 % of its FLOPs.
 * scratch: conv_grad_scratch_floats. */
__attribute__((target("avx512f"))) void
conv_weight_grad_rows_avx512(float *dweight, float *dbias, const float *dout, const conv_input *x,
                             size_t c0, size_t c1, int accumulate, float *scratch) {
    const conv_shape *s = x->shape;
    size_t patch = patch_size(s), channels = s->out_channels, rows = x->batch * s->out_height;
    size_t width = x->batch * out_pixels(s), block = conv_grad_block_rows(s);
    size_t r0 = c0 * 9, r1 = c1 * 9, whole = width - width % 16;
    float *panel = scratch, *sums = scratch + GRAD_BLOCK_PIXELS * GEMM_PANEL;
    for (size_t co0 = 0; co0 < channels; co0 += GEMM_PANEL) {
        size_t nco = channels - co0 < GEMM_PANEL ? channels - co0 : GEMM_PANEL;
        for (size_t r = r0; r < r1; r++)
            for (size_t co = 0; co < GEMM_PANEL; co++)
                sums[(r - r0) * GEMM_PANEL + co] =
                    accumulate && co < nco ? dweight[(co0 + co) * patch + r] : 0.0f;
        __m512 lanes[GEMM_PANEL];
        for (size_t co = 0; co < nco; co++) lanes[co] = _mm512_setzero_ps();
        for (size_t q0 = 0; q0 < rows; q0 += block) {
            size_t q1 = rows - q0 < block ? rows : q0 + block;
            size_t p0 = q0 * s->out_width, p1 = q1 * s->out_width;
            gemm_pack_panel(panel, matrix_transposed(dout, width), p0, p1 - p0, co0, nco);
            /* the bias gradient's lanes, as conv_row_sums adds them, while the block is in L1 */
            for (size_t co = 0; dbias && co < nco; co++)
                for (size_t p = p0; p < p1 && p < whole; p += 16)
                    lanes[co] = _mm512_add_ps(lanes[co], _mm512_loadu_ps(dout + (co0 + co) * width + p));
            for (size_t c = c0; c < c1; c++) {
                float *channel_sums = sums + (c - c0) * 9 * GEMM_PANEL;
                if (nco > 16)
                    grad_channel_block(channel_sums, panel, x, c, q0, q1, 2);
                else
                    grad_channel_block(channel_sums, panel, x, c, q0, q1, 1);
            }
        }
        for (size_t r = r0; r < r1; r++)
            for (size_t co = 0; co < nco; co++)
                dweight[(co0 + co) * patch + r] = sums[(r - r0) * GEMM_PANEL + co];
        for (size_t co = 0; dbias && co < nco; co++)
            dbias[co0 + co] = row_sum_total(dbias[co0 + co], dout + (co0 + co) * width, whole,
                                            width, lanes[co], accumulate);
    }
}
#endif
