/* What the convolution's files share: conv.c (the two passes, following the plan),
 * conv_plan.c (the planner: which path a layer's shape takes, chunk sizes, tile kinds),
 * conv_lower.c (lowering and raising, im2col and col2im) and conv_kernels.c (the AVX-512
 * register kernels and the direct loops). Private to src/engine/. */
#ifndef BNTRAIN_ENGINE_CONV_INTERNAL_H
#define BNTRAIN_ENGINE_CONV_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/conv.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define CONV_X86 1
#include <immintrin.h>
#endif

static inline size_t patch_size(const conv_shape *s) {
    return s->in_channels * s->kernel * s->kernel;
}

static inline size_t out_pixels(const conv_shape *s) {
    return s->out_height * s->out_width;
}

/* Where plane (n, c) of an activation starts, for either layout. */
static inline size_t plane_offset(const conv_shape *s, size_t batch, size_t n, size_t c,
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

#define RAISE_KERNEL 8           /* widest kernel, */
#define RAISE_HEIGHT 64          /* and tallest input, that raising by rows handles */
#define DIRECT_ROWS_MAX_PATCH 64 /* longest patch that conv_forward_rows_avx512 takes */

typedef struct {
    int table, vectors, raise_rows, direct_rows, direct_grad;
    int cotile; /* the forward pass's kind in conv_cotile_kinds (AVX-512), or -1 */
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

/* ---- the planner (conv_plan.c) ---------------------------------------------------------- */

/* The block sizes that the kernels' loops ask for (conv_grad_block_rows, conv_cotile_blocks) are
 * inline here: called across files they changed the kernels' machine code. */

/* The plan of one pass over layer s: its tap table, and which of the paths below it takes
 * (conv.c's passes follow it). */
void conv_plan_taps(tap_plan *plan, const conv_shape *s);
/* Samples per chunk when `rows` lowered rows are lowered at once (at least one). */
size_t conv_chunk_samples(const conv_shape *s, size_t rows, size_t batch);
/* The most floats a chunk of lowered rows of layer s takes, for the memory check. */
size_t conv_chunk_floats_bound(const conv_shape *s, size_t batch);
/* Parts of a pass: the run's share of the cores when the lowered batch is large enough. */
size_t conv_pass_parts(const conv_shape *s, size_t batch, size_t units);

/* Output pixels per block of the direct weight gradient: their gradients for up to 32 output
 * channels, transposed into one GEMM panel (256 x 32 floats), stay in L1 while each input
 * channel's taps walk them. */
#define GRAD_BLOCK_PIXELS 256
/* Output rows per block: as many as fit GRAD_BLOCK_PIXELS, in a multiple that makes every
 * block start at a multiple of 16 pixels where one fits (rows of 3, 7 or 15: 80, 32 or 16), so
 * that the bias gradient's 16 lanes (conv_row_sums) can be summed block by block. */
static inline size_t conv_grad_block_rows(const conv_shape *s) {
    size_t w = s->out_width, unit = 1; /* fewest rows that end at a multiple of 16 pixels */
    while (unit * w % 16) unit *= 2;
    size_t rows = GRAD_BLOCK_PIXELS / w;
    if (rows >= unit) rows -= rows % unit;
    return rows ? rows : 1;
}

/* Whether conv_grad_block_rows's blocks all start at multiples of 16 pixels (then
 * conv_weight_grad_rows_avx512 sums the bias gradient too), and the scratch floats it needs for
 * input channels [c0, c1). */
int conv_grad_blocks_aligned(const conv_shape *s);
size_t conv_grad_scratch_floats(size_t c0, size_t c1);

/* ---- lowering and raising (conv_lower.c) ----------------------------------------------- */

/* Lowered rows [r0, r1) for samples [n0, n1) into dst, row r at dst + (r - r0) ld, sample n's
 * pixels at column (n - n0) P. Row r is tap (ky, kx) of input channel c, r = (c K + ky) K + kx. */
void conv_lower_chunk(float *dst, size_t ld, const conv_input *x, const tap_plan *plan, size_t r0,
                      size_t r1, size_t n0, size_t n1);
/* Adjoint of conv_lower_chunk for whole input channels [c0, c1): writes their planes of samples
 * [n0, n1) of din from the column gradients of rows [c0 K K, c1 K K) in src (row stride ld). */
void conv_raise_chunk(float *din, const float *src, size_t ld, const conv_input *x,
                      const tap_plan *plan, size_t c0, size_t c1, size_t n0, size_t n1);

/* ---- kernels (conv_kernels.c) ----------------------------------------------------------- */

/* Bias gradients of a channel-major output gradient: one contiguous row sum per channel. */
void conv_row_sums(float *sums, const float *m, size_t rows, size_t width, int accumulate);
/* Part `part` of `parts`' share of those rows: every part of a backward pass sums some, so
 * that no part reads the whole output gradient alone while the others wait (VGG16's first
 * layers: 32 MB, 2-3 ms). Each row's sum is the same whatever the parts. */
void conv_row_sums_part(float *sums, const float *m, size_t rows, size_t width, int accumulate,
                        size_t part, size_t parts);
/* The direct computation, without lowering: the same chains, the fallback and the tests'
 * reference. The forward pass of samples [n0, n1); the weight gradient of lowered rows
 * [r0, r1) and, if din, the input gradient of channels [r0, r1) / K K. */
void conv_forward_direct(float *out, const conv_input *x, const float *weight, const float *bias,
                         size_t n0, size_t n1);
void conv_backward_direct(float *din, float *dweight, const float *dout, const conv_input *x,
                          const float *weight, size_t r0, size_t r1, int accumulate);

/* ---- Winograd F(4 x 4, 3 x 3) and F(2 x 2, 3 x 3) (conv_winograd.c) ---------------------- */

/* Whether layer s takes the Winograd path: 3 x 3, stride 1, padding 1, enough channels, a
 * bounded width. Its shape alone decides, so results never depend on threads or the CPU. */
int conv_winograd_applies(const conv_shape *s);
/* The output tile side such a layer takes: 4, or 2 where its planes are small. */
int conv_winograd_tile(const conv_shape *s);
/* The two passes of such a layer, split into parts as conv.c's. */
void conv_winograd_forward(float *out, const conv_input *x, const float *weight,
                           const float *bias);
void conv_winograd_backward(float *din, float *dweight, float *dbias, const float *dout,
                            const conv_input *x, const float *weight, int accumulate);
/* Their scratch: the calling thread's filter buffer (SCRATCH_WINOGRAD, one per run) and each
 * part's chunk (SCRATCH_CONV, one per thread), in floats, for the memory check. */
size_t conv_winograd_run_floats(const conv_shape *s);
size_t conv_winograd_thread_floats(const conv_shape *s, size_t batch);

#ifdef CONV_X86
/* The first n of 16 lanes. */
static inline __mmask16 first_lanes(size_t n) {
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
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

/* The forward pass of samples [n0, n1) in registers, where plan->direct_rows holds. */
void conv_forward_rows_avx512(float *out, const conv_input *x, const float *weight,
                              const float *bias, const tap_plan *plan, size_t n0, size_t n1);

/* The weight gradient (and with dbias, the bias gradient) of input channels [c0, c1) without
 * lowering, where plan->direct_grad holds. scratch: conv_grad_scratch_floats. */
void conv_weight_grad_rows_avx512(float *dweight, float *dbias, const float *dout,
                                  const conv_input *x, size_t c0, size_t c1, int accumulate,
                                  float *scratch);

/* The forward pass vectorised over output channels (conv_kernels.c), in tiles of the kinds
 * below: the planner picks one for a layer (tap_plan's cotile), the kernels compile one walk
 * per kind. */
typedef struct {
    size_t stride, px, rows, vectors; /* px: the output row's length; rows per tile */
} cotile_kind;

/* The compiled kinds, X(name, stride, px, rows, vectors): at most 21 accumulators, so that
 * with the tile's weights and a broadcast they stay in the 32 registers (with 27 or 28, GCC
 * spilled a fifth of them). A pass's last vectors may be fewer. Rows of 7 have two kinds,
 * of three vectors and of two: cotile_pick takes the one that computes fewer unused lanes. */
#define COTILE_KINDS(X)                                                                            \
    X(cotile_s2_px7, 2, 7, 1, 3) X(cotile_s2_px7_v2, 2, 7, 1, 2) X(cotile_s2_px3, 2, 3, 3, 2)

extern const cotile_kind conv_cotile_kinds[];
/* Floats of the scratch a kind's walk needs. */
size_t conv_cotile_scratch_floats(const conv_shape *s, const cotile_kind *k);
/* The bytes of weights a block of input channels may have (with its inputs and partial sums,
 * within a 48 KB L1). */
#define COTILE_BLOCK_BYTES (20u * 1024u)

/* Blocks of input channels that cotile_walk splits a pass into: equal, and as few as keep a
 * block's weights (9 taps x lanes floats per channel) within COTILE_BLOCK_BYTES. */
static inline size_t conv_cotile_blocks(const conv_shape *s, size_t lanes) {
    size_t per_channel = 9 * lanes * sizeof(float);
    size_t blocks = (s->in_channels * per_channel + COTILE_BLOCK_BYTES - 1) / COTILE_BLOCK_BYTES;
    return blocks < 1 ? 1 : blocks > s->in_channels ? s->in_channels : blocks;
}

/* Samples a group of the walk takes each pass and block through. */
#define COTILE_GROUP 8

/* Samples [n0, n1) of the forward pass by one kind's tiles, scratch: conv_cotile_scratch_floats. */
typedef void (*cotile_fn)(float *, const conv_input *, const float *, const float *, size_t, size_t,
                          float *);
extern const cotile_fn conv_cotile_fns[]; /* as conv_cotile_kinds */
#endif

#endif
