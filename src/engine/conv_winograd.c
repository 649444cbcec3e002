/* 3 x 3, stride-1, padding-1 convolutions by Winograd's minimal filtering F(2 x 2, 3 x 3)
 * (Lavin and Gray 2016): the layers that dominate VGG16 and the pre-activation ResNets.
 *
 * Each 2 x 2 block of outputs ("tile") is computed from the 4 x 4 block of inputs around it:
 * v = B^T d B (input transform), u = G g G^T (filter transform), m = sum over input channels
 * of u . v (elementwise), y = A^T m A (output transform). The sums are 16 matrix products,
 * one per transform position p, [out x in] x [in x tiles], done by the GEMM; they take 16
 * multiplications per tile where the direct product takes 36, and the transforms are additions
 * (and halvings, which are exact). The backward pass is the exact adjoint of the forward:
 * x = A dy A^T per tile, the weight gradient G^T (sum over tiles of x . v) G as 16 products
 * [out x tiles] x [tiles x in], and the input gradient B (sum over output channels of u . x) B^T
 * scattered back to the overlapping 4 x 4 input blocks.
 *
 * This is not the direct product's arithmetic: the other paths give bitwise the same results
 * as each other (conv.c), this one is within ~1e-6 relative of them (tests/test_gradients.c
 * states the measured error). Whether a layer takes it depends on its shape alone
 * (conv_winograd_applies), never on threads or the instruction set, and the forced-direct and
 * out-of-memory path (winograd_*_direct below) computes the same chains without scratch: so
 * results stay bitwise the same across thread counts, CPU levels and memory.
 *
 * Determinism: each entry of a product is one fused multiply-add chain (gemm.h), over input
 * channels (forward), output channels (input gradient) or all tiles in order (weight gradient,
 * continued chunk after chunk). Chunks are whole rows of tiles, the same for every split of the
 * work into parts, and the input gradient is added row of tiles after row of tiles in one
 * fixed order. */
#include <math.h>
#include <string.h>

#include "bntrain/gemm.h"
#include "engine/conv_internal.h"
#include "engine/parallel.h"
#include "engine/settings.h"
#include "base/cpu.h"
#include "engine/simd.h"

/* Fewest channels in and out: with fewer, the transforms cost more than the products save.
 * Planes of fewer than WINO_MIN_PIXELS outputs (2 x 2: one tile, three quarters of its inputs
 * padding) take it only from WINO_SMALL_PLANE_CHANNELS channels: at x1/4 width VGG16's
 * 128-channel 2 x 2 layers were 1.37x slower than their lowered products, at full width the
 * 512-channel ones 1.18x faster (bench_throughput --profile, 2026-12-06, before the filter
 * transform was vectorised). */
#define WINO_MIN_CHANNELS 16
#define WINO_MIN_PIXELS 16
#define WINO_SMALL_PLANE_CHANNELS 256
/* Most tiles a row (input width 128): the row buffers live on the stack, with room for the
 * AVX-512 loops' whole vectors past a row's end. */
#define WINO_ROW_TILES 64
#define WINO_ROW_FLOATS (2 * WINO_ROW_TILES + 34)
/* Transformed inputs and products of a chunk: 16 (in + out) x tiles floats, about 1 MB (the
 * L2), but at least WINO_MIN_TILES tiles so that packing the transformed filters, once per
 * product, stays small next to the product. */
#define WINO_CHUNK_FLOATS (256u * 1024u)
#define WINO_MIN_TILES 128

int conv_winograd_applies(const conv_shape *s) {
    size_t channels = s->in_channels < s->out_channels ? s->in_channels : s->out_channels;
    return s->kernel == 3 && s->stride == 1 && s->padding == 1 && channels >= WINO_MIN_CHANNELS &&
           (out_pixels(s) >= WINO_MIN_PIXELS || channels >= WINO_SMALL_PLANE_CHANNELS) &&
           s->in_height == s->out_height && s->in_width == s->out_width && s->in_width >= 1 &&
           s->in_height >= 1 && s->in_width <= 2 * WINO_ROW_TILES;
}

/* ---- the transforms: one tile's, shared by the row loops and the direct path ------------ */

/* B^T on four values, G on three, A^T on four, and their adjoints. Only additions and
 * halvings: every CPU level and the direct path compute them alike. */
#define BT4(a, b, c, d, o0, o1, o2, o3) (o0 = (a) - (c), o1 = (b) + (c), o2 = (c) - (b), o3 = (b) - (d))
#define B4(e0, e1, e2, e3, o0, o1, o2, o3)                                                         \
    (o0 = (e0), o1 = (e1) - (e2) + (e3), o2 = (e1) + (e2) - (e0), o3 = -(e3))
#define AT4(a, b, c, d, o0, o1) (o0 = (a) + (b) + (c), o1 = (b) - (c) - (d))
#define A2(z0, z1, o0, o1, o2, o3) (o0 = (z0), o1 = (z0) + (z1), o2 = (z0) - (z1), o3 = -(z1))

/* The four tile transforms, for a type T of float or of vectors of floats (GCC's vector
 * operators): the portable and direct paths use the float ones, the AVX-512 row loops the same
 * operations on 16 tiles at once, so both give the same bits. ATTR: the vector ones' target. */
#define TILE_TRANSFORMS(T, suffix, ATTR)                                                           \
    /* v = B^T d B of a 4 x 4 block d (row-major) */                                               \
    ATTR static inline void input_tile##suffix(T v[16], const T d[16]) {                           \
        T e[16];                                                                                   \
        for (int j = 0; j < 4; j++)                                                                \
            BT4(d[j], d[4 + j], d[8 + j], d[12 + j], e[j], e[4 + j], e[8 + j], e[12 + j]);         \
        for (int i = 0; i < 4; i++)                                                                \
            BT4(e[4 * i], e[4 * i + 1], e[4 * i + 2], e[4 * i + 3], v[4 * i], v[4 * i + 1],        \
                v[4 * i + 2], v[4 * i + 3]);                                                       \
    }                                                                                              \
    /* d = B e B^T: the adjoint of input_tile */                                                   \
    ATTR static inline void input_tile_adjoint##suffix(T d[16], const T e[16]) {                   \
        T f[16];                                                                                   \
        for (int j = 0; j < 4; j++)                                                                \
            B4(e[j], e[4 + j], e[8 + j], e[12 + j], f[j], f[4 + j], f[8 + j], f[12 + j]);          \
        for (int i = 0; i < 4; i++)                                                                \
            B4(f[4 * i], f[4 * i + 1], f[4 * i + 2], f[4 * i + 3], d[4 * i], d[4 * i + 1],         \
               d[4 * i + 2], d[4 * i + 3]);                                                        \
    }                                                                                              \
    /* y = A^T m A (2 x 2, row-major) of a 4 x 4 block m */                                        \
    ATTR static inline void output_tile##suffix(T y[4], const T m[16]) {                           \
        T e[8];                                                                                    \
        for (int j = 0; j < 4; j++) AT4(m[j], m[4 + j], m[8 + j], m[12 + j], e[j], e[4 + j]);      \
        AT4(e[0], e[1], e[2], e[3], y[0], y[1]);                                                   \
        AT4(e[4], e[5], e[6], e[7], y[2], y[3]);                                                   \
    }                                                                                              \
    /* x = A z A^T of a 2 x 2 block z: the adjoint of output_tile */                               \
    ATTR static inline void output_tile_adjoint##suffix(T x[16], const T z[4]) {                   \
        T e[8];                                                                                    \
        A2(z[0], z[1], e[0], e[1], e[2], e[3]);                                                    \
        A2(z[2], z[3], e[4], e[5], e[6], e[7]);                                                    \
        for (int j = 0; j < 4; j++) A2(e[j], e[4 + j], x[j], x[4 + j], x[8 + j], x[12 + j]);      \
    }

TILE_TRANSFORMS(float, , __attribute__((always_inline)))

/* The filter transform and its adjoint, for float or vectors as TILE_TRANSFORMS. */
#define FILTER_TRANSFORMS(T, suffix, ATTR)                                                         \
    /* u = G g G^T of a 3 x 3 filter g (row-major) */                                              \
    ATTR static inline void filter_tile##suffix(T u[16], const T g[9]) {                           \
        T t[12]; /* G g, 4 x 3 */                                                                  \
        for (int j = 0; j < 3; j++) {                                                              \
            T a = g[j], b = g[3 + j], c = g[6 + j], e = a + c;                                     \
            t[j] = a, t[3 + j] = 0.5f * (e + b), t[6 + j] = 0.5f * (e - b), t[9 + j] = c;          \
        }                                                                                          \
        for (int i = 0; i < 4; i++) {                                                              \
            T a = t[3 * i], b = t[3 * i + 1], c = t[3 * i + 2], e = a + c;                         \
            u[4 * i] = a, u[4 * i + 1] = 0.5f * (e + b), u[4 * i + 2] = 0.5f * (e - b),            \
                      u[4 * i + 3] = c;                                                            \
        }                                                                                          \
    }                                                                                              \
    /* dg = G^T x G: the adjoint of filter_tile */                                                 \
    ATTR static inline void filter_tile_adjoint##suffix(T dg[9], const T x[16]) {                  \
        T t[12]; /* x G, 4 x 3 */                                                                  \
        for (int i = 0; i < 4; i++) {                                                              \
            T a = x[4 * i], b = x[4 * i + 1], c = x[4 * i + 2], d = x[4 * i + 3];                  \
            T h = 0.5f * (b + c);                                                                  \
            t[3 * i] = a + h, t[3 * i + 1] = 0.5f * (b - c), t[3 * i + 2] = h + d;                 \
        }                                                                                          \
        for (int j = 0; j < 3; j++) {                                                              \
            T a = t[j], b = t[3 + j], c = t[6 + j], d = t[9 + j], h = 0.5f * (b + c);              \
            dg[j] = a + h, dg[3 + j] = 0.5f * (b - c), dg[6 + j] = h + d;                          \
        }                                                                                          \
    }

FILTER_TRANSFORMS(float, , __attribute__((always_inline)))

/* ---- geometry --------------------------------------------------------------------------- */

typedef struct {
    size_t th, tw;   /* tiles a column and a row of a plane */
    size_t rows;     /* rows of tiles a chunk (of the whole batch: sample n's row ty is n th + ty) */
    size_t tiles;    /* rows tw: a chunk's most tiles */
} wino_geom;

static wino_geom geometry(const conv_shape *s, size_t batch) {
    wino_geom g;
    g.th = (s->out_height + 1) / 2, g.tw = (s->out_width + 1) / 2;
    size_t target = WINO_CHUNK_FLOATS / (16 * (s->in_channels + s->out_channels));
    if (target < WINO_MIN_TILES) target = WINO_MIN_TILES;
    g.rows = target / g.tw;
    if (g.rows == 0) g.rows = 1;
    if (g.rows > batch * g.th) g.rows = batch * g.th;
    g.tiles = g.rows * g.tw;
    return g;
}

/* Row iy of a plane from column -1 to 2 tw, zero outside the plane (and for a vector beyond,
 * which the AVX-512 loops load): pad[x + 1]. */
static void padded_row(float *pad, const float *plane, const conv_shape *s, size_t tw, long iy) {
    size_t w = s->in_width, len = 2 * tw + 34;
    if (iy < 0 || (size_t)iy >= s->in_height) {
        memset(pad, 0, len * sizeof *pad);
        return;
    }
    pad[0] = 0.0f;
    memcpy(pad + 1, plane + (size_t)iy * w, w * sizeof *pad);
    for (size_t x = w + 1; x < len; x++) pad[x] = 0.0f;
}

/* Output-gradient row oy from column 0 to 2 tw, zero outside the plane and for a vector
 * beyond. */
static void out_row(float *pad, const float *plane, const conv_shape *s, size_t tw, size_t oy) {
    size_t w = s->out_width, len = 2 * tw + 32;
    if (oy >= s->out_height) {
        memset(pad, 0, len * sizeof *pad);
        return;
    }
    memcpy(pad, plane + oy * w, w * sizeof *pad);
    for (size_t x = w; x < len; x++) pad[x] = 0.0f;
}

/* ---- row loops (vectorised across the tiles of a row) ----------------------------------- */

/* The input transforms of a row of tw tiles from its four padded input rows r (r[i][x + 1]):
 * v[p ldp + t] for tile t. */
static void input_row_portable(float *v, size_t ldp, const float *r0, const float *r1,
                             const float *r2, const float *r3, size_t tw) {
    for (size_t t = 0; t < tw; t++) {
        float d[16], e[16];
        for (int j = 0; j < 4; j++)
            d[j] = r0[2 * t + j], d[4 + j] = r1[2 * t + j], d[8 + j] = r2[2 * t + j],
            d[12 + j] = r3[2 * t + j];
        input_tile(e, d);
        for (int p = 0; p < 16; p++) v[p * ldp + t] = e[p];
    }
}

/* The output transforms of a row of tiles: output rows o0 and o1 (2 tw columns), plus bias. */
static void output_row_portable(float *o0, float *o1, const float *m, size_t ldp, size_t tw,
                              float bias) {
    for (size_t t = 0; t < tw; t++) {
        float e[16], y[4];
        for (int p = 0; p < 16; p++) e[p] = m[p * ldp + t];
        output_tile(y, e);
        o0[2 * t] = y[0] + bias, o0[2 * t + 1] = y[1] + bias;
        o1[2 * t] = y[2] + bias, o1[2 * t + 1] = y[3] + bias;
    }
}

/* The output gradient's transforms of a row of tiles from its two output-gradient rows. */
static void grad_row_portable(float *x, size_t ldp, const float *z0, const float *z1, size_t tw) {
    for (size_t t = 0; t < tw; t++) {
        float z[4] = {z0[2 * t], z0[2 * t + 1], z1[2 * t], z1[2 * t + 1]}, e[16];
        output_tile_adjoint(e, z);
        for (int p = 0; p < 16; p++) x[p * ldp + t] = e[p];
    }
}

/* The adjoint input transforms of a row of tiles: d[q tw + t] is entry q of tile t's 4 x 4
 * input-gradient block. */
static void input_grad_row_portable(float *d, const float *e, size_t ldp, size_t tw) {
    for (size_t t = 0; t < tw; t++) {
        float a[16], b[16];
        for (int p = 0; p < 16; p++) a[p] = e[p * ldp + t];
        input_tile_adjoint(b, a);
        for (int q = 0; q < 16; q++) d[q * WINO_ROW_TILES + t] = b[q];
    }
}

#ifdef CONV_X86
#define V512 __attribute__((target("avx512f"), always_inline))
TILE_TRANSFORMS(__m512, _v, V512)
FILTER_TRANSFORMS(__m512, _v, V512)

static const int32_t even_lanes[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
static const int32_t odd_lanes[16] = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
static const int32_t low_pairs[16] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
static const int32_t high_pairs[16] = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

/* Lanes k of row[2 k] and of row[2 k + 1], k < 16. */
V512 static inline void deinterleave(const float *row, __m512 *even, __m512 *odd) {
    __m512 a = _mm512_loadu_ps(row), b = _mm512_loadu_ps(row + 16);
    *even = _mm512_permutex2var_ps(a, _mm512_loadu_si512(even_lanes), b);
    *odd = _mm512_permutex2var_ps(a, _mm512_loadu_si512(odd_lanes), b);
}

/* The row loops below, 16 tiles at a time. */
__attribute__((target("avx512f"))) static void input_row_avx512(float *v, size_t ldp,
                                                                 const float *const r[4],
                                                                 size_t tw) {
    for (size_t t = 0; t < tw; t += 16) {
        __mmask16 mask = first_lanes(tw - t);
        __m512 d[16], e[16];
        for (int i = 0; i < 4; i++) {
            deinterleave(r[i] + 2 * t, &d[4 * i], &d[4 * i + 1]);
            deinterleave(r[i] + 2 * t + 2, &d[4 * i + 2], &d[4 * i + 3]);
        }
        input_tile_v(e, d);
        for (int p = 0; p < 16; p++) _mm512_mask_storeu_ps(v + p * ldp + t, mask, e[p]);
    }
}

__attribute__((target("avx512f"))) static void output_row_avx512(float *o0, float *o1,
                                                                  const float *m, size_t ldp,
                                                                  size_t tw, float bias) {
    __m512i lo = _mm512_loadu_si512(low_pairs), hi = _mm512_loadu_si512(high_pairs);
    __m512 b = _mm512_set1_ps(bias);
    for (size_t t = 0; t < tw; t += 16) {
        __mmask16 mask = first_lanes(tw - t);
        __m512 e[16], y[4];
        for (int p = 0; p < 16; p++) e[p] = _mm512_maskz_loadu_ps(mask, m + p * ldp + t);
        output_tile_v(y, e);
        for (int q = 0; q < 4; q++) y[q] = y[q] + b;
        _mm512_storeu_ps(o0 + 2 * t, _mm512_permutex2var_ps(y[0], lo, y[1]));
        _mm512_storeu_ps(o0 + 2 * t + 16, _mm512_permutex2var_ps(y[0], hi, y[1]));
        _mm512_storeu_ps(o1 + 2 * t, _mm512_permutex2var_ps(y[2], lo, y[3]));
        _mm512_storeu_ps(o1 + 2 * t + 16, _mm512_permutex2var_ps(y[2], hi, y[3]));
    }
}

__attribute__((target("avx512f"))) static void grad_row_avx512(float *x, size_t ldp,
                                                                const float *z0, const float *z1,
                                                                size_t tw) {
    for (size_t t = 0; t < tw; t += 16) {
        __mmask16 mask = first_lanes(tw - t);
        __m512 z[4], e[16];
        deinterleave(z0 + 2 * t, &z[0], &z[1]);
        deinterleave(z1 + 2 * t, &z[2], &z[3]);
        output_tile_adjoint_v(e, z);
        for (int p = 0; p < 16; p++) _mm512_mask_storeu_ps(x + p * ldp + t, mask, e[p]);
    }
}

__attribute__((target("avx512f"))) static void input_grad_row_avx512(float *d, const float *e,
                                                                      size_t ldp, size_t tw) {
    for (size_t t = 0; t < tw; t += 16) {
        __mmask16 mask = first_lanes(tw - t);
        __m512 a[16], b[16];
        for (int p = 0; p < 16; p++) a[p] = _mm512_maskz_loadu_ps(mask, e + p * ldp + t);
        input_tile_adjoint_v(b, a);
        for (int q = 0; q < 16; q++) _mm512_mask_storeu_ps(d + q * WINO_ROW_TILES + t, mask, b[q]);
    }
}
#endif

static int rows_avx512(void) {
#ifdef CONV_X86
    return cpu_isa_level() == CPU_ISA_AVX512;
#else
    return 0;
#endif
}

static void input_row(float *v, size_t ldp, const float *r0, const float *r1, const float *r2,
                      const float *r3, size_t tw) {
#ifdef CONV_X86
    if (rows_avx512()) {
        const float *const r[4] = {r0, r1, r2, r3};
        input_row_avx512(v, ldp, r, tw);
        return;
    }
#endif
    input_row_portable(v, ldp, r0, r1, r2, r3, tw);
}

static void output_row(float *o0, float *o1, const float *m, size_t ldp, size_t tw, float bias) {
#ifdef CONV_X86
    if (rows_avx512()) {
        output_row_avx512(o0, o1, m, ldp, tw, bias);
        return;
    }
#endif
    output_row_portable(o0, o1, m, ldp, tw, bias);
}

static void grad_row(float *x, size_t ldp, const float *z0, const float *z1, size_t tw) {
#ifdef CONV_X86
    if (rows_avx512()) {
        grad_row_avx512(x, ldp, z0, z1, tw);
        return;
    }
#endif
    grad_row_portable(x, ldp, z0, z1, tw);
}

static void input_grad_row(float *d, const float *e, size_t ldp, size_t tw) {
#ifdef CONV_X86
    if (rows_avx512()) {
        input_grad_row_avx512(d, e, ldp, tw);
        return;
    }
#endif
    input_grad_row_portable(d, e, ldp, tw);
}

/* Adds a row of tiles' input-gradient blocks d (input_grad_row's) into the input gradient's
 * planes rows 2 ty - 1 .. 2 ty + 2: per block row i, the four block columns j one after the
 * other into a zeroed padded row (so overlapping tiles meet in a fixed order), then the row
 * into the plane. */
BN_HOT static void add_grad_rows(float *plane, const float *d, const conv_shape *s, size_t tw,
                                 size_t ty) {
    float acc[2 * WINO_ROW_TILES + 2];
    for (int i = 0; i < 4; i++) {
        long iy = 2 * (long)ty - 1 + i;
        if (iy < 0 || (size_t)iy >= s->in_height) continue;
        for (size_t x = 0; x < 2 * tw + 2; x++) acc[x] = 0.0f;
        for (int j = 0; j < 4; j++)
            for (size_t t = 0; t < tw; t++) acc[2 * t + j] += d[(4 * i + j) * WINO_ROW_TILES + t];
        float *row = plane + (size_t)iy * s->in_width;
        for (size_t x = 0; x < s->in_width; x++) row[x] += acc[x + 1];
    }
}

/* ---- filters ------------------------------------------------------------------------------ */

#ifdef CONV_X86
/* Lanes k: offsets 9 k, the filters of 16 consecutive input channels. */
static const int32_t filter_lanes[16] = {0, 9, 18, 27, 36, 45, 54, 63, 72, 81, 90, 99, 108, 117, 126, 135};

/* transform_filters and store_filter_grads (below), 16 input channels at a time. */
__attribute__((target("avx512f"))) static void transform_filters_avx512(
    float *u, size_t ldp, size_t ld, const float *weight, const conv_shape *s, size_t c0, size_t c1) {
    __m512i lanes = _mm512_loadu_si512(filter_lanes);
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t ci = c0; ci < c1; ci += 16) {
            __mmask16 mask = first_lanes(c1 - ci);
            const float *w = weight + (co * s->in_channels + ci) * 9;
            __m512 g[9], t[16];
            for (int k = 0; k < 9; k++)
                g[k] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, lanes, w + k, 4);
            filter_tile_v(t, g);
            for (int p = 0; p < 16; p++) _mm512_mask_storeu_ps(u + p * ldp + co * ld + ci - c0, mask, t[p]);
        }
}

__attribute__((target("avx512f"))) static void store_filter_grads_avx512(
    float *dweight, const float *du, size_t ldp, size_t ld, const conv_shape *s, size_t c0,
    size_t c1, int accumulate) {
    __m512i lanes = _mm512_loadu_si512(filter_lanes);
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t ci = c0; ci < c1; ci += 16) {
            __mmask16 mask = first_lanes(c1 - ci);
            float *w = dweight + (co * s->in_channels + ci) * 9;
            __m512 x[16], dg[9];
            for (int p = 0; p < 16; p++) x[p] = _mm512_maskz_loadu_ps(mask, du + p * ldp + co * ld + ci - c0);
            filter_tile_adjoint_v(dg, x);
            for (int q = 0; q < 9; q++) {
                if (accumulate)
                    dg[q] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, lanes, w + q, 4) + dg[q];
                _mm512_mask_i32scatter_ps(w + q, mask, lanes, dg[q], 4);
            }
        }
}
#endif

/* u[p ldp + co ld + (ci - c0)] for input channels [c0, c1). */
static void transform_filters(float *u, size_t ldp, size_t ld, const float *weight,
                              const conv_shape *s, size_t c0, size_t c1) {
#ifdef CONV_X86
    if (rows_avx512()) {
        transform_filters_avx512(u, ldp, ld, weight, s, c0, c1);
        return;
    }
#endif
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t ci = c0; ci < c1; ci++) {
            float t[16];
            filter_tile(t, weight + (co * s->in_channels + ci) * 9);
            for (int p = 0; p < 16; p++) u[p * ldp + co * ld + ci - c0] = t[p];
        }
}

/* The weight gradient of input channels [c0, c1) from its transform-domain sums
 * du[p ldp + co ld + (ci - c0)]: written, or added to dweight (accumulate). */
static void store_filter_grads(float *dweight, const float *du, size_t ldp, size_t ld,
                               const conv_shape *s, size_t c0, size_t c1, int accumulate) {
#ifdef CONV_X86
    if (rows_avx512()) {
        store_filter_grads_avx512(dweight, du, ldp, ld, s, c0, c1, accumulate);
        return;
    }
#endif
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t ci = c0; ci < c1; ci++) {
            float x16[16], dg[9];
            for (int p = 0; p < 16; p++) x16[p] = du[p * ldp + co * ld + ci - c0];
            filter_tile_adjoint(dg, x16);
            float *w = dweight + (co * s->in_channels + ci) * 9;
            for (int q = 0; q < 9; q++) w[q] = accumulate ? w[q] + dg[q] : dg[q];
        }
}

/* ---- the direct path: the same chains, without scratch ------------------------------------ */

/* Tile (n, ty, tx)'s 4 x 4 input block of channel c. */
static void input_block(float d[16], const conv_input *x, size_t n, size_t c, size_t ty,
                        size_t tx) {
    const conv_shape *s = x->shape;
    const float *plane = x->data + plane_offset(s, x->batch, n, c, x->channel_major);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            long iy = 2 * (long)ty - 1 + i, ix = 2 * (long)tx - 1 + j;
            int inside = iy >= 0 && ix >= 0 && (size_t)iy < s->in_height && (size_t)ix < s->in_width;
            d[4 * i + j] = inside ? plane[(size_t)iy * s->in_width + (size_t)ix] : 0.0f;
        }
}

/* Tile (n, ty, tx)'s transformed output gradient of channel co. */
static void grad_block(float xt[16], const float *dout, const conv_shape *s, size_t batch,
                       size_t n, size_t co, size_t ty, size_t tx) {
    const float *plane = dout + (co * batch + n) * out_pixels(s);
    float z[4];
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            size_t oy = 2 * ty + a, ox = 2 * tx + b;
            z[2 * a + b] = oy < s->out_height && ox < s->out_width ? plane[oy * s->out_width + ox] : 0.0f;
        }
    output_tile_adjoint(xt, z);
}

static void winograd_forward_direct(float *out, const conv_input *x, const float *weight,
                                    const float *bias, size_t n0, size_t n1) {
    const conv_shape *s = x->shape;
    wino_geom g = geometry(s, x->batch);
    size_t pixels = out_pixels(s);
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t n = n0; n < n1; n++)
            for (size_t ty = 0; ty < g.th; ty++)
                for (size_t tx = 0; tx < g.tw; tx++) {
                    float m[16] = {0}, y[4];
                    for (size_t ci = 0; ci < s->in_channels; ci++) {
                        float u[16], d[16], v[16];
                        filter_tile(u, weight + (co * s->in_channels + ci) * 9);
                        input_block(d, x, n, ci, ty, tx);
                        input_tile(v, d);
                        for (int p = 0; p < 16; p++) m[p] = fmaf(u[p], v[p], m[p]);
                    }
                    output_tile(y, m);
                    float b = bias ? bias[co] : 0.0f;
                    float *plane = out + (co * x->batch + n) * pixels;
                    for (int a = 0; a < 2; a++)
                        for (int c = 0; c < 2; c++) {
                            size_t oy = 2 * ty + a, ox = 2 * tx + c;
                            if (oy < s->out_height && ox < s->out_width)
                                plane[oy * s->out_width + ox] = y[2 * a + c] + b;
                        }
                }
}

/* Weight gradient of input channels [c0, c1) and, if din, their input gradient. */
static void winograd_backward_direct(float *din, float *dweight, const float *dout,
                                     const conv_input *x, const float *weight, size_t c0,
                                     size_t c1, int accumulate) {
    const conv_shape *s = x->shape;
    size_t batch = x->batch;
    wino_geom g = geometry(s, batch);
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t ci = c0; ci < c1; ci++) {
            float du[16] = {0}, dg[9];
            for (size_t n = 0; n < batch; n++)
                for (size_t ty = 0; ty < g.th; ty++)
                    for (size_t tx = 0; tx < g.tw; tx++) {
                        float xt[16], d[16], v[16];
                        grad_block(xt, dout, s, batch, n, co, ty, tx);
                        input_block(d, x, n, ci, ty, tx);
                        input_tile(v, d);
                        for (int p = 0; p < 16; p++) du[p] = fmaf(xt[p], v[p], du[p]);
                    }
            filter_tile_adjoint(dg, du);
            float *w = dweight + (co * s->in_channels + ci) * 9;
            for (int k = 0; k < 9; k++) w[k] = accumulate ? w[k] + dg[k] : dg[k];
        }
    if (!din) return;
    float blocks[16 * WINO_ROW_TILES];
    for (size_t ci = c0; ci < c1; ci++)
        for (size_t n = 0; n < batch; n++) {
            float *plane = din + plane_offset(s, batch, n, ci, x->channel_major);
            memset(plane, 0, s->in_height * s->in_width * sizeof *plane);
            for (size_t ty = 0; ty < g.th; ty++) {
                for (size_t tx = 0; tx < g.tw; tx++) {
                    float e[16] = {0}, d[16];
                    for (size_t co = 0; co < s->out_channels; co++) {
                        float u[16], xt[16];
                        filter_tile(u, weight + (co * s->in_channels + ci) * 9);
                        grad_block(xt, dout, s, batch, n, co, ty, tx);
                        for (int p = 0; p < 16; p++) e[p] = fmaf(u[p], xt[p], e[p]);
                    }
                    input_tile_adjoint(d, e);
                    for (int q = 0; q < 16; q++) blocks[q * WINO_ROW_TILES + tx] = d[q];
                }
                add_grad_rows(plane, blocks, s, g.tw, ty);
            }
        }
}

/* ---- the passes ---------------------------------------------------------------------------- */

typedef struct {
    float *out, *din, *dweight, *dbias;
    const float *weight, *bias, *dout;
    conv_input x;
    int accumulate;
    wino_geom g;
    /* The calling thread's SCRATCH_WINOGRAD, shared by the parts (NULL: the direct path):
     * the forward's transformed filters, 16 cout cin floats written by all parts before any
     * reads them; the backward's per-part slices, 2 x 16 cout k floats at 2 x 16 cout c0.
     * One buffer per run, not per thread: on 64 threads a 512-channel layer's filters are
     * transformed once, not 64 times into 64 copies of 16 MB. Parts never ask for this slot
     * themselves, so a thread that runs another run's parts while it waits cannot move it. */
    float *filters;
} wino_call;

/* Transformed inputs of channels [c0, c1), tile rows [r0, r1) of the batch: v[p ldp + (c - c0)
 * ld + (r - r0) tw + tx]. */
static void transform_inputs(float *v, size_t ldp, size_t ld, const conv_input *x,
                             const wino_geom *g, size_t c0, size_t c1, size_t r0, size_t r1) {
    const conv_shape *s = x->shape;
    float pad[4][WINO_ROW_FLOATS];
    for (size_t c = c0; c < c1; c++)
        for (size_t r = r0; r < r1; r++) {
            size_t n = r / g->th, ty = r % g->th;
            const float *plane = x->data + plane_offset(s, x->batch, n, c, x->channel_major);
            for (int i = 0; i < 4; i++) padded_row(pad[i], plane, s, g->tw, 2 * (long)ty - 1 + i);
            input_row(v + (c - c0) * ld + (r - r0) * g->tw, ldp, pad[0], pad[1], pad[2], pad[3],
                      g->tw);
        }
}

/* The forward's filter transform, one range of input channels (whole vectors) per part. */
static void filter_part(void *ctx, size_t part, size_t parts) {
    const wino_call *a = ctx;
    const conv_shape *s = a->x.shape;
    size_t c0, c1;
    part_range(s->in_channels, part, parts, 16, &c0, &c1);
    if (c0 < c1)
        transform_filters(a->filters + c0, s->out_channels * s->in_channels, s->in_channels,
                          a->weight, s, c0, c1);
}

/* Forward: one range of samples per part, chunk by chunk of tile rows. */
static void forward_part(void *ctx, size_t part, size_t parts) {
    const wino_call *a = ctx;
    const conv_shape *s = a->x.shape;
    const wino_geom *g = &a->g;
    size_t n0, n1, cin = s->in_channels, cout = s->out_channels, pixels = out_pixels(s);
    part_range(a->x.batch, part, parts, 1, &n0, &n1);
    if (n0 == n1) return;
    const float *u = a->filters;
    float *v = u ? thread_scratch(SCRATCH_CONV, conv_winograd_thread_floats(s, a->x.batch)) : NULL;
    if (!v) {
        winograd_forward_direct(a->out, &a->x, a->weight, a->bias, n0, n1);
        return;
    }
    float *m = v + 16 * cin * g->tiles;
    float rows0[WINO_ROW_FLOATS], rows1[WINO_ROW_FLOATS];
    for (size_t r0 = n0 * g->th; r0 < n1 * g->th; r0 += g->rows) {
        size_t r1 = r0 + g->rows < n1 * g->th ? r0 + g->rows : n1 * g->th, cols = (r1 - r0) * g->tw;
        transform_inputs(v, cin * cols, cols, &a->x, g, 0, cin, r0, r1);
        for (int p = 0; p < 16; p++)
            gemm_one_thread(cout, cols, cin, matrix_rows(u + p * cout * cin, cin),
                            matrix_rows(v + p * cin * cols, cols), m + p * cout * cols, cols, 0);
        for (size_t co = 0; co < cout; co++) {
            float b = a->bias ? a->bias[co] : 0.0f;
            for (size_t r = r0; r < r1; r++) {
                size_t n = r / g->th, ty = r % g->th;
                output_row(rows0, rows1, m + co * cols + (r - r0) * g->tw, cout * cols, g->tw, b);
                float *plane = a->out + (co * a->x.batch + n) * pixels;
                memcpy(plane + 2 * ty * s->out_width, rows0, s->out_width * sizeof *rows0);
                if (2 * ty + 1 < s->out_height)
                    memcpy(plane + (2 * ty + 1) * s->out_width, rows1, s->out_width * sizeof *rows1);
            }
        }
    }
}

/* Backward: one range of input channels per part, all tile rows chunk by chunk in order. */
static void backward_part(void *ctx, size_t part, size_t parts) {
    const wino_call *a = ctx;
    const conv_shape *s = a->x.shape;
    const wino_geom *g = &a->g;
    size_t batch = a->x.batch, cin = s->in_channels, cout = s->out_channels, c0, c1;
    size_t width = batch * out_pixels(s);
    part_range(cin, part, parts, 1, &c0, &c1);
    size_t k = c1 - c0;
    if (part == 0 && a->dbias) conv_row_sums(a->dbias, a->dout, cout, width, a->accumulate);
    if (k == 0) return;
    /* the transformed filters' slice and the weight gradient's sums, then the chunk's
     * transformed output gradient (all output channels) and inputs (the part's) */
    float *u = a->filters ? a->filters + 2 * 16 * cout * c0 : NULL;
    float *xg = u ? thread_scratch(SCRATCH_CONV, conv_winograd_thread_floats(s, batch)) : NULL;
    if (!xg) {
        winograd_backward_direct(a->din, a->dweight, a->dout, &a->x, a->weight, c0, c1,
                                 a->accumulate);
        return;
    }
    float *du = u + 16 * cout * k, *v = xg + 16 * cout * g->tiles;
    if (a->din) {
        transform_filters(u, cout * k, k, a->weight, s, c0, c1);
        for (size_t c = c0; c < c1; c++)
            for (size_t n = 0; n < batch; n++)
                memset(a->din + plane_offset(s, batch, n, c, a->x.channel_major), 0,
                       s->in_height * s->in_width * sizeof *a->din);
    }
    float z0[WINO_ROW_FLOATS], z1[WINO_ROW_FLOATS], blocks[16 * WINO_ROW_TILES];
    size_t total_rows = batch * g->th;
    for (size_t r0 = 0; r0 < total_rows; r0 += g->rows) {
        size_t r1 = r0 + g->rows < total_rows ? r0 + g->rows : total_rows, cols = (r1 - r0) * g->tw;
        for (size_t co = 0; co < cout; co++)
            for (size_t r = r0; r < r1; r++) {
                size_t n = r / g->th, ty = r % g->th;
                const float *plane = a->dout + (co * batch + n) * out_pixels(s);
                out_row(z0, plane, s, g->tw, 2 * ty);
                out_row(z1, plane, s, g->tw, 2 * ty + 1);
                grad_row(xg + co * cols + (r - r0) * g->tw, cout * cols, z0, z1, g->tw);
            }
        transform_inputs(v, k * cols, cols, &a->x, g, c0, c1, r0, r1);
        for (int p = 0; p < 16; p++)
            gemm_one_thread(cout, k, cols, matrix_rows(xg + p * cout * cols, cols),
                            matrix_transposed(v + p * k * cols, cols), du + p * cout * k, k,
                            r0 > 0);
        if (!a->din) continue;
        /* the inputs are used: their space receives the input gradient's transforms */
        for (int p = 0; p < 16; p++)
            gemm_one_thread(k, cols, cout, matrix_transposed(u + p * cout * k, k),
                            matrix_rows(xg + p * cout * cols, cols), v + p * k * cols, cols, 0);
        for (size_t c = c0; c < c1; c++)
            for (size_t r = r0; r < r1; r++) {
                size_t n = r / g->th, ty = r % g->th;
                input_grad_row(blocks, v + (c - c0) * cols + (r - r0) * g->tw, k * cols, g->tw);
                add_grad_rows(a->din + plane_offset(s, batch, n, c, a->x.channel_major), blocks, s,
                              g->tw, ty);
            }
    }
    store_filter_grads(a->dweight, du, cout * k, k, s, c0, c1, a->accumulate);
}

size_t conv_winograd_run_floats(const conv_shape *s) {
    return 2 * 16 * s->out_channels * s->in_channels;
}

size_t conv_winograd_thread_floats(const conv_shape *s, size_t batch) {
    return 16 * (s->in_channels + s->out_channels) * geometry(s, batch).tiles;
}

/* The calling thread's filter buffer of `floats`, or NULL for the direct path. */
static float *filter_buffer(size_t floats) {
    return settings_conv_direct_forced() ? NULL : thread_scratch(SCRATCH_WINOGRAD, floats);
}

void conv_winograd_forward(float *out, const conv_input *x, const float *weight,
                           const float *bias) {
    const conv_shape *s = x->shape;
    wino_call call = {.out = out, .weight = weight, .bias = bias, .x = *x,
                      .g = geometry(s, x->batch),
                      .filters = filter_buffer(16 * s->out_channels * s->in_channels)};
    size_t parts = conv_pass_parts(s, x->batch, x->batch);
    if (call.filters) parallel_parts(parts, filter_part, &call);
    parallel_parts(parts, forward_part, &call);
}

void conv_winograd_backward(float *din, float *dweight, float *dbias, const float *dout,
                            const conv_input *x, const float *weight, int accumulate) {
    wino_call call = {.din = din, .dweight = dweight, .dbias = dbias, .weight = weight,
                      .dout = dout, .x = *x, .accumulate = accumulate,
                      .g = geometry(x->shape, x->batch),
                      .filters = filter_buffer(conv_winograd_run_floats(x->shape))};
    parallel_parts(conv_pass_parts(x->shape, x->batch, x->shape->in_channels), backward_part,
                   &call);
}
