/* Convolution as matrix products over the lowered input (im2col), one chunk of samples at a
 * time, and, where the lowering costs more than it saves, without it.
 *
 * The lowered input of a whole batch is large (CIFAR-10's second layer: 270 x 6272 floats,
 * 6.8 MB): written in one piece it went out to memory and came back twice, for the forward
 * product and for the weight gradient, and lowering plus raising took 18 % of a step. Here
 * each part lowers a chunk of samples small enough to stay in the core's L2 cache and uses it
 * at once. Three passes skip the lowering on AVX-512 (all are below):
 * - the forward pass of a layer whose output rows fill most of a vector (the paper's first:
 *   15 outputs a row, 27 taps) computes each row of up to 16 channels in registers;
 * - the forward pass of a 3 x 3, stride-2 layer with short rows (the paper's second and
 *   third: 7 and 3 outputs a row) sums tiles of pixels x 16-channel vectors in registers,
 *   over blocks of input channels whose weights stay in L1;
 * - the weight gradient of a 3 x 3 layer broadcasts each tap's input from the input rows
 *   into the output gradient, transposed a block of pixels at a time, and sums the bias
 *   gradient from the same blocks; the input gradient keeps its product and its raise
 *   (col2im), in chunks.
 *
 * None of this changes a bit: every output entry is one ordered chain of fused
 * multiply-adds (gemm.h), over the lowered rows for the output and over the columns, chunk
 * after chunk in order, for the weight gradient; the input gradient adds each sample's taps
 * in (ky, kx) order whatever the chunk. conv_direct computes the same chains without lowering,
 * as the fallback and as the tests' reference. */
#include <math.h>
#include <string.h>

#include "bntrain/gemm.h"
#include "bntrain/layers.h"
#include "base/cpu.h"
#include "engine/parallel.h"
#include "engine/settings.h"
#include "engine/simd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define CONV_X86 1
#include <immintrin.h>
#endif

/* Floats of a lowered chunk: with its packed copy (the GEMM's B panels) it fits in a 2 MB L2. */
#define CHUNK_FLOATS (160u * 1024u)

size_t conv_out_size(size_t in, size_t kernel, size_t stride, size_t padding) {
    if (stride == 0 || kernel == 0 || in + 2 * padding < kernel) return 0;
    return (in + 2 * padding - kernel) / stride + 1;
}

static size_t patch_size(const conv_shape *s) {
    return s->in_channels * s->kernel * s->kernel;
}

static size_t out_pixels(const conv_shape *s) {
    return s->out_height * s->out_width;
}

/* Where plane (n, c) of an activation starts, for either layout. */
static size_t plane_offset(const conv_shape *s, size_t batch, size_t n, size_t c,
                           int channel_major) {
    size_t plane = s->in_height * s->in_width;
    return (channel_major ? c * batch + n : n * s->in_channels + c) * plane;
}

/* The input of a convolution and its layout: what lowering reads. */
typedef struct {
    const float *data;
    int channel_major;
    const conv_shape *shape;
    size_t batch;
} conv_input;

/* ---- lowering and raising --------------------------------------------------------------- */

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

/* How one tap of one plane is lowered or raised, prepared once per chunk.
 *
 * Without padding every tap of every output pixel is inside the plane, and tap (ky, kx) of
 * output pixel i reads plane[ky W + kx + offsets[i]]: one table serves every tap, sample and
 * channel, instead of a call per output row with bound checks.
 *
 * With AVX-512 and no padding, an output row's taps span at most two vectors of the input row
 * when the row is short (the paper's layers: 15, 7 and 3 outputs at stride 2): lowering a row
 * is two loads and one permutation, raising it one permutation and a masked add, instead of a
 * scalar load per element (the compiler's gathers were emulated one element at a time, and
 * lowering took 15 % of a CNN step). Both are exact: copies, and the same single addition per
 * element and tap as the portable loops. */
#define TAP_TABLE 4096

#define RAISE_KERNEL 8  /* widest kernel, */
#define DIRECT_ROWS_MAX_PATCH 64 /* longest patch that forward_rows_avx512 takes (below) */
#define RAISE_HEIGHT 64 /* and tallest input, that raising by rows handles */
#define RAISE_PREFETCH_FLOATS 512 /* how far ahead of its stores raising fetches din */
#define ROW_GROUP 16    /* output channels per register group of forward_rows_avx512 */

typedef struct {
    int table, vectors, raise_rows, direct_rows, direct_grad;
    int cotile; /* the forward pass's kind in cotile_kinds (AVX-512), or -1 */
    int32_t offsets[TAP_TABLE];
    int32_t lower_pick[16]; /* lane ox of an output row: input column ox stride */
    int lower_pairs;        /* two output rows' inputs fit one load each, their outputs a vector */
    int32_t pair_pick[16];  /* then lane out_w + ox: column ox stride of the second load */
    /* Raising by input rows: lane ix of tap column kx takes output column raise_pick[kx][ix]
     * where bit ix of raise_lanes[kx] is set; input row iy is reached by the taps ky of bit ky
     * of row_taps[iy], from output row row_oy[iy][ky]. */
    int32_t raise_pick[RAISE_KERNEL][32];
    uint32_t raise_lanes[RAISE_KERNEL];
    uint8_t row_taps[RAISE_HEIGHT], row_oy[RAISE_HEIGHT][RAISE_KERNEL];
} tap_plan;

#ifdef CONV_X86
static int cotile_pick(const conv_shape *s);
#endif

static void plan_taps(tap_plan *plan, const conv_shape *s) {
    plan->table = s->padding == 0 && out_pixels(s) <= TAP_TABLE &&
                  s->in_height * s->in_width <= INT32_MAX;
    plan->vectors = plan->raise_rows = plan->direct_rows = plan->direct_grad = 0;
    plan->lower_pairs = 0;
    plan->cotile = -1;
    if (!plan->table) return;
    for (size_t oy = 0; oy < s->out_height; oy++)
        for (size_t ox = 0; ox < s->out_width; ox++)
            plan->offsets[oy * s->out_width + ox] =
                (int32_t)(oy * s->stride * s->in_width + ox * s->stride);
#ifdef CONV_X86
    plan->vectors = cpu_isa_level() == CPU_ISA_AVX512 && s->out_width <= 16 &&
                    (s->out_width - 1) * s->stride < 32;
#endif
    plan->raise_rows = plan->vectors && s->in_width <= 32 && s->in_height <= RAISE_HEIGHT &&
                       s->kernel <= RAISE_KERNEL;
    plan->direct_rows = plan->vectors && 4 * s->out_width >= 3 * 16 &&
                        patch_size(s) <= DIRECT_ROWS_MAX_PATCH;
#ifdef CONV_X86
    /* its vectors of 16 output channels at least three quarters full */
    size_t vectors16 = (s->out_channels + 15) / 16;
    plan->direct_grad = cpu_isa_level() == CPU_ISA_AVX512 && s->kernel == 3 &&
                        4 * s->out_channels >= 3 * 16 * vectors16;
    if (cpu_isa_level() == CPU_ISA_AVX512 && !plan->direct_rows) plan->cotile = cotile_pick(s);
#endif
    if (!plan->vectors) return;
    for (size_t i = 0; i < 16; i++)
        plan->lower_pick[i] = (int32_t)(i < s->out_width ? i * s->stride : 0);
    size_t span = (s->out_width - 1) * s->stride + 1;
    plan->lower_pairs = 2 * s->out_width <= 16 && span <= 16;
    for (size_t i = 0; i < 16; i++)
        plan->pair_pick[i] = i < s->out_width       ? plan->lower_pick[i]
                             : i < 2 * s->out_width ? (int32_t)(16 + (i - s->out_width) * s->stride)
                                                    : 0;
    if (!plan->raise_rows) return;
    for (size_t kx = 0; kx < s->kernel; kx++) {
        plan->raise_lanes[kx] = 0;
        for (size_t ix = 0; ix < 32; ix++) {
            size_t d = ix - kx; /* wraps for ix < kx, and then fails the test */
            int hit = ix >= kx && d % s->stride == 0 && d / s->stride < s->out_width;
            plan->raise_pick[kx][ix] = (int32_t)(hit ? d / s->stride : 0);
            plan->raise_lanes[kx] |= (uint32_t)hit << ix;
        }
    }
    for (size_t iy = 0; iy < s->in_height; iy++) {
        plan->row_taps[iy] = 0;
        for (size_t ky = 0; ky < s->kernel; ky++) {
            size_t d = iy - ky;
            if (iy < ky || d % s->stride || d / s->stride >= s->out_height) continue;
            plan->row_taps[iy] |= (uint8_t)(1u << ky);
            plan->row_oy[iy][ky] = (uint8_t)(d / s->stride);
        }
    }
}

BN_HOT static void gather_taps(float *restrict dst, const float *restrict src,
                               const int32_t *restrict offsets, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = src[offsets[i]];
}

#ifdef CONV_X86
static __mmask16 first_lanes(size_t n) {
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

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

/* One output row's inputs of a tap, from the input row that starts them: two masked loads
 * (lo and hi lanes of the row's span) and one permutation (pick: lane ox from column ox
 * stride). Shared by the lowering and the register forward pass, which must gather alike. */
__attribute__((target("avx512f"), always_inline)) static inline __m512
tap_row(const float *row, __mmask16 lo, __mmask16 hi, __m512i pick) {
    __m512 a = _mm512_maskz_loadu_ps(lo, row);
    __m512 b = hi ? _mm512_maskz_loadu_ps(hi, row + 16) : _mm512_setzero_ps();
    return _mm512_permutex2var_ps(a, pick, b);
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
    for (size_t g = 0; g < group; g++) acc[g] = _mm512_set1_ps(bias[co0 + g]);
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
__attribute__((target("avx512f"))) static void
forward_rows_avx512(float *out, const conv_input *x, const float *weight, const float *bias,
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
 * compiled for the strides and row lengths below; other shapes are lowered. */
#define COTILE_PIXELS 9  /* most pixels a tile holds */
#define COTILE_VECTORS 3 /* most vectors of 16 channels */

typedef struct {
    size_t stride, px, rows, vectors; /* px: the output row's length; rows per tile */
} cotile_kind;

/* The compiled kinds, X(name, stride, px, rows, vectors): at most 21 accumulators, so that
 * with the tile's weights and a broadcast they stay in the 32 registers (with 27 or 28, GCC
 * spilled a fifth of them). A pass's last vectors may be fewer. Rows of 7 have two kinds,
 * of three vectors and of two: cotile_pick takes the one that computes fewer unused lanes. */
#define COTILE_KINDS(X)                                                                        \
    X(cotile_s2_px7, 2, 7, 1, 3) X(cotile_s2_px7_v2, 2, 7, 1, 2) X(cotile_s2_px3, 2, 3, 3, 2)

#define COTILE_KIND_ENTRY(name, stride, px, rows, vectors) {stride, px, rows, vectors},
static const cotile_kind cotile_kinds[] = {COTILE_KINDS(COTILE_KIND_ENTRY)};

/* The kind that computes layer s, or -1: of those that fit its shape, the one whose passes
 * leave the fewest lanes unused, and of those the one with more vectors (fewer passes over
 * the input). The paper's second layer has 60 channels: 48 + 12 in passes of three vectors
 * left the second pass a vector three-quarters full whose tiles wait on their loads; 32 + 28
 * in passes of two ran its forward pass 1.09-1.13x faster (in-training A/B). */
static int cotile_pick(const conv_shape *s) {
    if (s->kernel != 3 || s->padding != 0) return -1;
    int best = -1;
    size_t best_unused = 0;
    for (size_t i = 0; i < sizeof cotile_kinds / sizeof *cotile_kinds; i++) {
        const cotile_kind *k = &cotile_kinds[i];
        if (k->stride != s->stride || k->px != s->out_width || s->out_height % k->rows) continue;
        size_t lanes = 16 * k->vectors, passes = (s->out_channels + lanes - 1) / lanes;
        size_t unused = passes * lanes - s->out_channels;
        if (best < 0 || unused < best_unused) best = (int)i, best_unused = unused;
    }
    return best;
}

/* Samples a group of cotile_walk takes each pass and block through, and the bytes of weights
 * a block of input channels may have (with its inputs and partial sums, within a 48 KB L1). */
#define COTILE_GROUP 8
#define COTILE_BLOCK_BYTES (20u * 1024u)

/* Blocks of input channels that cotile_walk splits a pass into: equal, and as few as keep a
 * block's weights (9 taps x lanes floats per channel) within COTILE_BLOCK_BYTES. */
static size_t cotile_blocks(const conv_shape *s, size_t lanes) {
    size_t per_channel = 9 * lanes * sizeof(float);
    size_t blocks = (s->in_channels * per_channel + COTILE_BLOCK_BYTES - 1) / COTILE_BLOCK_BYTES;
    return blocks < 1 ? 1 : blocks > s->in_channels ? s->in_channels : blocks;
}

/* Floats of the scratch cotile_walk needs: each pass's weights tap-major and its bias, then
 * a group's partial sums of one pass. */
static size_t cotile_scratch_floats(const conv_shape *s, const cotile_kind *k) {
    size_t lanes = 16 * k->vectors, passes = (s->out_channels + lanes - 1) / lanes;
    size_t partials = COTILE_GROUP * (s->out_height / k->rows) * lanes * k->rows * k->px;
    return passes * lanes * (patch_size(s) + 1) + partials;
}

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
                taps[r * lanes + l] = co >= channels ? 0.0f : r < patch ? weight[co * patch + r] : bias[co];
            }
    }
    float *partials = scratch + passes * per_pass;
    size_t blocks = cotile_blocks(s, lanes), tiles = s->out_height / ROWS;
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

typedef void (*cotile_fn)(float *, const conv_input *, const float *, const float *, size_t,
                          size_t, float *);
#define COTILE_KIND_FN(name, stride, px, rows, vectors) name,
static const cotile_fn cotile_fns[] = {COTILE_KINDS(COTILE_KIND_FN)}; /* as cotile_kinds */

/* A row's sum from its 16 lanes (element i in lane i % 16, for i < whole) and its tail
 * [whole, width), as row_sums finishes it: the tail in order, then the lanes, then added to
 * the old sum when accumulating. */
static float row_total(float old, const float *row, size_t whole, size_t width,
                       const float *lanes, int accumulate) {
    float total = 0.0f;
    for (size_t j = whole; j < width; j++) total += row[j];
    for (size_t k = 0; k < 16; k++) total += lanes[k];
    return (accumulate ? old : 0.0f) + total;
}

#ifdef CONV_X86
__attribute__((target("avx512f"))) static float row_sum_total(float old, const float *row,
                                                              size_t whole, size_t width,
                                                              __m512 lanes, int accumulate) {
    float l[16];
    _mm512_storeu_ps(l, lanes);
    return row_total(old, row, whole, width, l, accumulate);
}
#endif

/* Bias gradients of a channel-major output gradient: one contiguous row sum per channel. */
BN_HOT static void row_sums(float *sums, const float *m, size_t rows, size_t width,
                            int accumulate) {
    for (size_t r = 0; r < rows; r++) {
        float lanes[16] = {0};
        size_t i = 0;
        for (; i + 16 <= width; i += 16)
            for (size_t k = 0; k < 16; k++) lanes[k] += m[r * width + i + k];
        sums[r] = row_total(sums[r], m + r * width, i, width, lanes, accumulate);
    }
}

/* ---- weight gradients without lowering ------------------------------------------------- */

/* Output pixels per block of the direct weight gradient: their gradients for up to 32 output
 * channels, transposed into one GEMM panel (256 x 32 floats), stay in L1 while each input
 * channel's taps walk them. */
#define GRAD_BLOCK_PIXELS 256
/* Output rows per block: as many as fit GRAD_BLOCK_PIXELS, in a multiple that makes every
 * block start at a multiple of 16 pixels where one fits (rows of 3, 7 or 15: 80, 32 or 16), so
 * that the bias gradient's 16 lanes (row_sums) can be summed block by block. */
static size_t grad_block_rows(const conv_shape *s) {
    size_t w = s->out_width, unit = 1; /* fewest rows that end at a multiple of 16 pixels */
    while (unit * w % 16) unit *= 2;
    size_t rows = GRAD_BLOCK_PIXELS / w;
    if (rows >= unit) rows -= rows % unit;
    return rows ? rows : 1;
}

/* Whether grad_block_rows's blocks all start at multiples of 16 pixels. */
static int grad_blocks_aligned(const conv_shape *s) {
    return grad_block_rows(s) * s->out_width % 16 == 0;
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

/* Scratch floats weight_grad_rows_avx512 needs for input channels [c0, c1). */
static size_t grad_scratch_floats(size_t c0, size_t c1) {
    return GRAD_BLOCK_PIXELS * GEMM_PANEL + (c1 - c0) * 9 * GEMM_PANEL;
}

/* The weight gradient of input channels [c0, c1) where plan->direct_grad holds (3 x 3 taps
 * without padding, output channels filling vectors of 16), 32 output channels at a time.
 * The lowered product's K was the whole batch's pixels and both its operands needed
 * transposing; a first layer's backward was 8 % of a CIFAR-10 step for 4.5 % of its FLOPs.
 * scratch: grad_scratch_floats. */
__attribute__((target("avx512f"))) static void
weight_grad_rows_avx512(float *dweight, float *dbias, const float *dout, const conv_input *x,
                        size_t c0, size_t c1, int accumulate, float *scratch) {
    const conv_shape *s = x->shape;
    size_t patch = patch_size(s), channels = s->out_channels, rows = x->batch * s->out_height;
    size_t width = x->batch * out_pixels(s), block = grad_block_rows(s);
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
            /* the bias gradient's lanes, as row_sums adds them, while the block is in L1 */
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
static void lower_chunk(float *dst, size_t ld, const conv_input *x, const tap_plan *plan,
                        size_t r0, size_t r1, size_t n0, size_t n1) {
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

/* Adjoint of lower_chunk for whole input channels [c0, c1): writes their planes of samples
 * [n0, n1) of din from the column gradients of rows [c0 K K, c1 K K) in src (row stride ld).
 * Each element receives its taps in (ky, kx) order on every path: the same sums, bit for bit. */
static void raise_chunk(float *din, const float *src, size_t ld, const conv_input *x,
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

/* Samples per chunk when `rows` lowered rows are lowered at once (at least one). */
static size_t chunk_samples(const conv_shape *s, size_t rows, size_t batch) {
    size_t per_sample = rows * out_pixels(s), samples = per_sample ? CHUNK_FLOATS / per_sample : 1;
    if (samples == 0) samples = 1;
    return samples < batch ? samples : batch;
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

/* out = bias + W lowered, each entry's chain over the rows in order. */
static void forward_direct(float *out, const conv_input *x, const float *weight,
                           const float *bias, size_t n0, size_t n1) {
    const conv_shape *s = x->shape;
    size_t patch = patch_size(s), pixels = out_pixels(s), width = x->batch * pixels;
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t j = n0 * pixels; j < n1 * pixels; j++) {
            float acc = bias[co];
            for (size_t r = 0; r < patch; r++) acc = fmaf(weight[co * patch + r], lowered_at(x, r, j), acc);
            out[co * width + j] = acc;
        }
}

/* Weight gradients of rows [r0, r1) (chains over the columns in order) and, if din, the input
 * gradient of channels [r0, r1) / K K (column gradients as chains over the output channels,
 * raised in tap order). */
static void backward_direct(float *din, float *dweight, const float *dout, const conv_input *x,
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

/* ---- the two passes ---------------------------------------------------------------------- */

typedef struct {
    float *out, *din, *dweight, *dbias;
    const float *weight, *bias, *dout;
    conv_input x;
    int accumulate;
    tap_plan plan; /* prepared once per pass, read by every part */
} conv_call;

/* Forward, one range of samples per part: the outputs of different samples are independent. */
static void forward_part(void *ctx, size_t part, size_t parts) {
    const conv_call *a = ctx;
    const conv_shape *s = a->x.shape;
    size_t patch = patch_size(s), pixels = out_pixels(s), width = a->x.batch * pixels, n0, n1;
    part_range(a->x.batch, part, parts, 1, &n0, &n1);
#ifdef CONV_X86
    if (a->plan.direct_rows && !settings_conv_direct_forced()) {
        forward_rows_avx512(a->out, &a->x, a->weight, a->bias, &a->plan, n0, n1);
        return;
    }
    if (a->plan.cotile >= 0 && !settings_conv_direct_forced()) {
        const cotile_kind *k = &cotile_kinds[a->plan.cotile];
        float *taps = thread_scratch(SCRATCH_CONV, cotile_scratch_floats(s, k));
        if (taps) {
            cotile_fns[a->plan.cotile](a->out, &a->x, a->weight, a->bias, n0, n1, taps);
            return;
        }
    }
#endif
    size_t per = chunk_samples(s, patch, a->x.batch);
    float *chunk =
        settings_conv_direct_forced() ? NULL : thread_scratch(SCRATCH_CONV, per * patch * pixels);
    if (!chunk) {
        forward_direct(a->out, &a->x, a->weight, a->bias, n0, n1);
        return;
    }
    for (size_t n = n0; n < n1; n += per) {
        size_t m = n1 - n < per ? n1 - n : per, cols = m * pixels;
        lower_chunk(chunk, cols, &a->x, &a->plan, 0, patch, n, n + m);
        gemm_biased(1, s->out_channels, cols, patch, matrix_rows(a->weight, patch),
                    matrix_rows(chunk, cols), a->bias, 1, a->out + n * pixels, width);
    }
}

/* Backward, one range of lowered rows per part, in whole input channels when din is wanted
 * (raising a channel needs all its taps): each part owns its columns of the weight gradient
 * and its channels of din, and walks all samples chunk by chunk in order. */
static void backward_part(void *ctx, size_t part, size_t parts) {
    const conv_call *a = ctx;
    const conv_shape *s = a->x.shape;
    size_t patch = patch_size(s), pixels = out_pixels(s), width = a->x.batch * pixels;
    /* never set without AVX-512 */
    int direct_grad = a->plan.direct_grad && !settings_conv_direct_forced();
    size_t group = a->din || direct_grad ? s->kernel * s->kernel : 1, g0, g1;
    part_range(patch / group, part, parts, 1, &g0, &g1);
    size_t r0 = g0 * group, r1 = g1 * group, rows = r1 - r0;
    if (rows == 0) return;
    /* one scratch block serves the direct weight gradient, then the chunks of din */
    size_t per = chunk_samples(s, rows, a->x.batch);
    size_t floats = a->din || !direct_grad ? per * rows * pixels : 0;
    if (direct_grad && grad_scratch_floats(g0, g1) > floats) floats = grad_scratch_floats(g0, g1);
    float *chunk = settings_conv_direct_forced() ? NULL : thread_scratch(SCRATCH_CONV, floats);
    /* the bias gradient: part 0's, with the direct weight gradient where its blocks allow */
    float *dbias = part == 0 ? a->dbias : NULL;
    if (dbias && !(chunk && direct_grad && grad_blocks_aligned(s))) {
        row_sums(dbias, a->dout, s->out_channels, width, a->accumulate);
        dbias = NULL;
    }
    if (!chunk) {
        backward_direct(a->din, a->dweight, a->dout, &a->x, a->weight, r0, r1, a->accumulate);
        return;
    }
#ifdef CONV_X86
    if (direct_grad) {
        weight_grad_rows_avx512(a->dweight, dbias, a->dout, &a->x, g0, g1, a->accumulate, chunk);
        if (!a->din) return;
    }
#endif
    for (size_t n = 0; n < a->x.batch; n += per) {
        size_t m = a->x.batch - n < per ? a->x.batch - n : per, cols = m * pixels;
        const float *dout = a->dout + n * pixels;
        if (!direct_grad) {
            lower_chunk(chunk, cols, &a->x, &a->plan, r0, r1, n, n + m);
            gemm_one_thread(s->out_channels, rows, cols, matrix_rows(dout, width),
                            matrix_transposed(chunk, cols), a->dweight + r0, patch,
                            a->accumulate || n > 0);
        }
        if (!a->din) continue;
        /* The chunk's lowered rows are used: their space receives the column gradients. */
        gemm_one_thread(rows, cols, s->out_channels, matrix_transposed(a->weight + r0, patch),
                        matrix_rows(dout, width), chunk, cols, 0);
        raise_chunk(a->din, chunk, cols, &a->x, &a->plan, g0, g1, n, n + m);
    }
}

/* Parts of a pass: the run's share of the cores when the lowered batch is large enough. */
static size_t pass_parts(const conv_shape *s, size_t batch, size_t units) {
    size_t parts = loop_parts(patch_size(s) * batch * out_pixels(s));
    return parts < units ? parts : units;
}

void conv_forward(float *out, const float *in, int in_channel_major, const float *weight,
                  const float *bias, const conv_shape *s, size_t batch) {
    conv_call call = {.out = out, .weight = weight, .bias = bias,
                      .x = {in, in_channel_major, s, batch}};
    plan_taps(&call.plan, s);
    parallel_parts(pass_parts(s, batch, batch), forward_part, &call);
}

void conv_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                   int in_channel_major, const float *weight, const conv_shape *s,
                   size_t batch, int accumulate) {
    conv_call call = {.din = din, .dweight = dweight, .dbias = dbias, .weight = weight, .dout = dout,
                      .x = {in, in_channel_major, s, batch}, .accumulate = accumulate};
    plan_taps(&call.plan, s);
    size_t groups = din || call.plan.direct_grad ? s->in_channels : patch_size(s);
    parallel_parts(pass_parts(s, batch, groups), backward_part, &call);
}
