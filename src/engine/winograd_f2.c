/* Winograd F(2 x 2, 3 x 3) (Lavin and Gray 2016): each 2 x 2 block of outputs from the 4 x 4
 * block of inputs around it, 16 products a tile where the direct product takes 36. Its
 * transforms are additions and halvings only, all exact but the sums' roundings: the most
 * accurate kind, taken where F(4 x 4) would compute mostly padding (conv_winograd.c). */
#include "engine/winograd_kinds.h"

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


#ifdef CONV_X86
#define V512 __attribute__((target("avx512f"), always_inline))
TILE_TRANSFORMS(__m512, _v, V512)
FILTER_TRANSFORMS(__m512, _v, V512)

static const int32_t even_lanes[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
static const int32_t odd_lanes[16] = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
const int32_t wino_low_pairs[16] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
const int32_t wino_high_pairs[16] = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

/* Lanes k of floats 2 k and 2 k + 1 of a 32-float window (wino_window's two vectors). */
V512 static inline void deinterleave(const __m512 *win, __m512 *even, __m512 *odd) {
    *even = _mm512_permutex2var_ps(win[0], _mm512_loadu_si512(even_lanes), win[1]);
    *odd = _mm512_permutex2var_ps(win[0], _mm512_loadu_si512(odd_lanes), win[1]);
}

/* The group loops. */
__attribute__((target("avx512f"))) static void input_group_avx512(float *v, size_t ldp,
                                                                   const float *const *r,
                                                                   const wino_group *g) {
    __m512 d[16], e[16], win[2];
    wino_window_plan first, last; /* columns 0-1 of the blocks, and 2-3 */
    wino_plan(&first, 2, g, 0), wino_plan(&last, 2, g, 2);
    for (int i = 0; i < 4; i++) {
        wino_window(win, 2, &first, r + i, 4);
        deinterleave(win, &d[4 * i], &d[4 * i + 1]);
        wino_window(win, 2, &last, r + i, 4);
        deinterleave(win, &d[4 * i + 2], &d[4 * i + 3]);
    }
    input_tile_v(e, d);
    for (int p = 0; p < 16; p++) _mm512_mask_storeu_ps(v + p * ldp, g->lanes, e[p]);
}

__attribute__((target("avx512f"))) static void output_group_avx512(float *const *o,
                                                                    const float *m, size_t ldp,
                                                                    const wino_group *g,
                                                                    float bias) {
    __m512i lo = _mm512_loadu_si512(wino_low_pairs), hi = _mm512_loadu_si512(wino_high_pairs);
    __m512 b = _mm512_set1_ps(bias), e[16], y[4], win[2];
    for (int p = 0; p < 16; p++) e[p] = _mm512_maskz_loadu_ps(g->lanes, m + p * ldp);
    output_tile_v(y, e);
    for (int q = 0; q < 4; q++) y[q] = y[q] + b;
    wino_window_plan plan;
    wino_plan(&plan, 2, g, 0);
    for (int a = 0; a < 2; a++) {
        win[0] = _mm512_permutex2var_ps(y[2 * a], lo, y[2 * a + 1]);
        win[1] = _mm512_permutex2var_ps(y[2 * a], hi, y[2 * a + 1]);
        wino_window_store(o + a, 2, &plan, win, 2);
    }
}

__attribute__((target("avx512f"))) static void grad_group_avx512(float *x, size_t ldp,
                                                                  const float *const *z,
                                                                  const wino_group *g) {
    __m512 zt[4], e[16], win[2];
    wino_window_plan plan;
    wino_plan(&plan, 2, g, 0);
    for (int a = 0; a < 2; a++) {
        wino_window(win, 2, &plan, z + a, 2);
        deinterleave(win, &zt[2 * a], &zt[2 * a + 1]);
    }
    output_tile_adjoint_v(e, zt);
    for (int p = 0; p < 16; p++) _mm512_mask_storeu_ps(x + p * ldp, g->lanes, e[p]);
}

/* A row of tiles' 4 x 4 input-gradient blocks into the input gradient's rows, 16 tiles at a
 * time, as winograd_f4.c's add_blocks_avx512: block column j of tile t, then j + 2 of tile
 * t - 1. */
__attribute__((target("avx512f"))) static void add_blocks_avx512(float *const *rows,
                                                                  const float *d, size_t w,
                                                                  size_t tw) {
    __m512i lo = _mm512_loadu_si512(wino_low_pairs), hi = _mm512_loadu_si512(wino_high_pairs);
    __m512 zero = _mm512_setzero_ps();
    size_t chunks = (2 * tw + 2 + 31) / 32;
    for (int i = 0; i < 4; i++) {
        if (!rows[i]) continue;
        __m512 carry = zero;
        for (size_t c = 0; c < chunks; c++) {
            __mmask16 mask = 16 * c < tw ? first_lanes(tw - 16 * c) : 0;
            __m512 dj[4];
            for (int j = 0; j < 4; j++)
                dj[j] = _mm512_maskz_loadu_ps(mask, d + (4 * i + j) * WINO_ROW_TILES + 16 * c);
            __m512 a[2] = {_mm512_permutex2var_ps(dj[0], lo, dj[1]),
                           _mm512_permutex2var_ps(dj[0], hi, dj[1])};
            __m512 b[2] = {_mm512_permutex2var_ps(dj[2], lo, dj[3]),
                           _mm512_permutex2var_ps(dj[2], hi, dj[3])};
            for (int k = 0; k < 2; k++) {
                __m512i before = _mm512_castps_si512(k ? b[k - 1] : carry);
                __m512 moved = _mm512_castsi512_ps(
                    _mm512_alignr_epi32(_mm512_castps_si512(b[k]), before, 14));
                __m512 sum = (zero + a[k]) + moved;
                long col = (long)(32 * c + 16 * k) - 1;
                __mmask16 inside = wino_columns(col, w);
                if (!inside) continue;
                float *at = (float *)((uintptr_t)rows[i] + (uintptr_t)(col * 4));
                _mm512_mask_storeu_ps(at, inside, _mm512_maskz_loadu_ps(inside, at) + sum);
            }
            carry = b[1];
        }
    }
}

#endif

WINO_TILE_FUNCTIONS

const wino_kind wino_f2 = {
    .m = 2, .n = 4, WINO_TILE_TABLE,
#ifdef CONV_X86
    .input_group_v = input_group_avx512, .output_group_v = output_group_avx512,
    .grad_group_v = grad_group_avx512, .add_blocks_v = add_blocks_avx512,
#endif
};
