/* Winograd F(4 x 4, 3 x 3) (Lavin and Gray 2016, interpolation points 0, 1, -1, 2, -2 and
 * infinity): each 4 x 4 block of outputs from the 6 x 6 block of inputs around it, 36 products a
 * tile of 16 outputs (2.25 an output, against 4 for F(2 x 2) and 9 for the direct product).
 * Its transforms multiply by 2, 4, 5, 8 and 1/6, so it rounds more than F(2 x 2): the error
 * against the direct product that tests/test_gradients.c measures is stated there. */
#include "engine/winograd_kinds.h"

/* The 1-D transforms of six (or four, or three) values x[0], x[s], ... into o[0], o[so], ...,
 * for a type T of float or of vectors. ONE_SIXTH is a float constant, the same in both. */
#define ONE_SIXTH (1.0f / 6.0f)
#define F4_TRANSFORMS(T, suffix, ATTR)                                                             \
    /* B^T (6 x 6): rows 4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0;               \
     * 0 2 -1 -2 1 0; 0 4 0 -5 0 1 */                                                              \
    ATTR static inline void bt6##suffix(T *o, int so, const T *x, int s) {                         \
        T d0 = x[0], d1 = x[s], d2 = x[2 * s], d3 = x[3 * s], d4 = x[4 * s], d5 = x[5 * s];        \
        T a = d4 - 4.0f * d2, b = d3 - 4.0f * d1, c = d4 - d2, e = 2.0f * (d3 - d1);               \
        o[0] = (4.0f * d0 - 5.0f * d2) + d4;                                                       \
        o[so] = a + b, o[2 * so] = a - b, o[3 * so] = c + e, o[4 * so] = c - e;                    \
        o[5 * so] = (4.0f * d1 - 5.0f * d3) + d5;                                                  \
    }                                                                                              \
    /* B (the adjoint of bt6) */                                                                   \
    ATTR static inline void b6##suffix(T *o, int so, const T *x, int s) {                          \
        T e0 = x[0], e1 = x[s], e2 = x[2 * s], e3 = x[3 * s], e4 = x[4 * s], e5 = x[5 * s];        \
        T s12 = e1 + e2, s34 = e3 + e4;                                                            \
        o[0] = 4.0f * e0;                                                                          \
        o[so] = 4.0f * ((e2 - e1) + e5) + 2.0f * (e4 - e3);                                        \
        o[2 * so] = (-(5.0f * e0) - 4.0f * s12) - s34;                                             \
        o[3 * so] = ((e1 - e2) + 2.0f * (e3 - e4)) - 5.0f * e5;                                    \
        o[4 * so] = (e0 + s12) + s34;                                                              \
        o[5 * so] = e5;                                                                            \
    }                                                                                              \
    /* A^T (4 x 6): rows 1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1 */                \
    ATTR static inline void at6##suffix(T *o, int so, const T *x, int s) {                         \
        T s12 = x[s] + x[2 * s], d12 = x[s] - x[2 * s];                                            \
        T s34 = x[3 * s] + x[4 * s], d34 = x[3 * s] - x[4 * s];                                    \
        o[0] = (x[0] + s12) + s34, o[so] = d12 + 2.0f * d34, o[2 * so] = s12 + 4.0f * s34;         \
        o[3 * so] = (d12 + 8.0f * d34) + x[5 * s];                                                 \
    }                                                                                              \
    /* A (the adjoint of at6): four values to six */                                               \
    ATTR static inline void a6##suffix(T *o, int so, const T *z, int s) {                          \
        T p = z[0] + z[2 * s], q = z[s] + z[3 * s];                                                \
        T r = z[0] + 4.0f * z[2 * s], t = 2.0f * z[s] + 8.0f * z[3 * s];                           \
        o[0] = z[0], o[so] = p + q, o[2 * so] = p - q, o[3 * so] = r + t, o[4 * so] = r - t;       \
        o[5 * so] = z[3 * s];                                                                      \
    }                                                                                              \
    /* G (6 x 3): rows 1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6;      \
     * 0 0 1 */                                                                                    \
    ATTR static inline void g6##suffix(T *o, int so, const T *g, int s) {                          \
        T a = g[0] + g[2 * s], b = 0.25f * g[0] + g[2 * s], c = 0.5f * g[s];                       \
        o[0] = 0.25f * g[0];                                                                       \
        o[so] = (a + g[s]) * -ONE_SIXTH, o[2 * so] = (a - g[s]) * -ONE_SIXTH;                      \
        o[3 * so] = (b + c) * ONE_SIXTH, o[4 * so] = (b - c) * ONE_SIXTH;                          \
        o[5 * so] = g[2 * s];                                                                      \
    }                                                                                              \
    /* G^T (the adjoint of g6): six values to three */                                             \
    ATTR static inline void gt6##suffix(T *o, int so, const T *x, int s) {                         \
        T s12 = x[s] + x[2 * s], d21 = x[2 * s] - x[s];                                            \
        T s34 = x[3 * s] + x[4 * s], d34 = x[3 * s] - x[4 * s];                                    \
        o[0] = 0.25f * x[0] + (0.25f * s34 - s12) * ONE_SIXTH;                                     \
        o[so] = (d21 + 0.5f * d34) * ONE_SIXTH;                                                    \
        o[2 * so] = (s34 - s12) * ONE_SIXTH + x[5 * s];                                            \
    }                                                                                              \
    /* The tiles, row-major: columns first, then rows. */                                         \
    ATTR static inline void input_tile##suffix(T *v, const T *d) {                                 \
        T e[36];                                                                                   \
        for (int j = 0; j < 6; j++) bt6##suffix(e + j, 6, d + j, 6);                               \
        for (int i = 0; i < 6; i++) bt6##suffix(v + 6 * i, 1, e + 6 * i, 1);                       \
    }                                                                                              \
    ATTR static inline void input_tile_adjoint##suffix(T *d, const T *e) {                         \
        T f[36];                                                                                   \
        for (int j = 0; j < 6; j++) b6##suffix(f + j, 6, e + j, 6);                                \
        for (int i = 0; i < 6; i++) b6##suffix(d + 6 * i, 1, f + 6 * i, 1);                        \
    }                                                                                              \
    ATTR static inline void output_tile##suffix(T *y, const T *m) {                                \
        T e[24]; /* A^T m, 4 x 6 */                                                                \
        for (int j = 0; j < 6; j++) at6##suffix(e + j, 6, m + j, 6);                               \
        for (int a = 0; a < 4; a++) at6##suffix(y + 4 * a, 1, e + 6 * a, 1);                       \
    }                                                                                              \
    ATTR static inline void output_tile_adjoint##suffix(T *x, const T *z) {                        \
        T f[24]; /* A z, 6 x 4 */                                                                  \
        for (int b = 0; b < 4; b++) a6##suffix(f + b, 4, z + b, 4);                                \
        for (int i = 0; i < 6; i++) a6##suffix(x + 6 * i, 1, f + 4 * i, 1);                        \
    }                                                                                              \
    ATTR static inline void filter_tile##suffix(T *u, const T *g) {                                \
        T t[18]; /* G g, 6 x 3 */                                                                  \
        for (int j = 0; j < 3; j++) g6##suffix(t + j, 3, g + j, 3);                                \
        for (int i = 0; i < 6; i++) g6##suffix(u + 6 * i, 1, t + 3 * i, 1);                        \
    }                                                                                              \
    ATTR static inline void filter_tile_adjoint##suffix(T *dg, const T *x) {                       \
        T t[18]; /* x G, 6 x 3 */                                                                  \
        for (int i = 0; i < 6; i++) gt6##suffix(t + 3 * i, 1, x + 6 * i, 1);                       \
        for (int j = 0; j < 3; j++) gt6##suffix(dg + j, 3, t + j, 3);                              \
    }

F4_TRANSFORMS(float, , __attribute__((always_inline)))

#ifdef CONV_X86
#define V512 __attribute__((target("avx512f"), always_inline))
F4_TRANSFORMS(__m512, _v, V512)

/* Lanes k < 8 of row[4 k + j] from two vectors of 16 (the rest: don't care). */
static const int32_t stride4_lanes[4][16] = {
    {0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0},
    {1, 5, 9, 13, 17, 21, 25, 29, 0, 0, 0, 0, 0, 0, 0, 0},
    {2, 6, 10, 14, 18, 22, 26, 30, 0, 0, 0, 0, 0, 0, 0, 0},
    {3, 7, 11, 15, 19, 23, 27, 31, 0, 0, 0, 0, 0, 0, 0, 0}};
/* Lane k of 64-bit pairs interleaved: {0, 8, 1, 9, ...} and {4, 12, 5, 13, ...}. */
static const int64_t low_quads[8] = {0, 8, 1, 9, 2, 10, 3, 11};
static const int64_t high_quads[8] = {4, 12, 5, 13, 6, 14, 7, 15};

/* out[j] lane k = float 4 k + j of a 64-float window (wino_window's four vectors), j < count. */
V512 static inline void split4(__m512 *out, int count, const __m512 *win) {
    for (int j = 0; j < count; j++) {
        __m512i lanes = _mm512_loadu_si512(stride4_lanes[j]);
        __m512 lo = _mm512_permutex2var_ps(win[0], lanes, win[1]);
        __m512 hi = _mm512_permutex2var_ps(win[2], lanes, win[3]);
        out[j] = _mm512_shuffle_f32x4(lo, hi, _MM_SHUFFLE(1, 0, 1, 0));
    }
}

/* The inverse of split4: float 4 k + j of the window = y[j] lane k. */
V512 static inline void join4(__m512 *win, const __m512 *y) {
    __m512i lo = _mm512_loadu_si512(wino_low_pairs), hi = _mm512_loadu_si512(wino_high_pairs);
    __m512i lo2 = _mm512_loadu_si512(low_quads), hi2 = _mm512_loadu_si512(high_quads);
    __m512d p[2] = {_mm512_castps_pd(_mm512_permutex2var_ps(y[0], lo, y[1])),
                    _mm512_castps_pd(_mm512_permutex2var_ps(y[0], hi, y[1]))};
    __m512d q[2] = {_mm512_castps_pd(_mm512_permutex2var_ps(y[2], lo, y[3])),
                    _mm512_castps_pd(_mm512_permutex2var_ps(y[2], hi, y[3]))};
    for (int h = 0; h < 2; h++) {
        win[2 * h] = _mm512_castpd_ps(_mm512_permutex2var_pd(p[h], lo2, q[h]));
        win[2 * h + 1] = _mm512_castpd_ps(_mm512_permutex2var_pd(p[h], hi2, q[h]));
    }
}

/* The group loops. */
__attribute__((target("avx512f"))) static void input_group_avx512(float *v, size_t ldp,
                                                                   const float *const *r,
                                                                   const wino_group *g) {
    __m512 d[36], e[36], win[4];
    wino_window_plan first, last; /* columns 0-3 of the blocks, and 4-5 */
    wino_plan(&first, 4, g, 0), wino_plan(&last, 4, g, 4);
    for (int i = 0; i < 6; i++) {
        wino_window(win, 4, &first, r + i, 6);
        split4(d + 6 * i, 4, win);
        wino_window(win, 4, &last, r + i, 6);
        split4(d + 6 * i + 4, 2, win);
    }
    input_tile_v(e, d);
    for (int p = 0; p < 36; p++) _mm512_mask_storeu_ps(v + p * ldp, g->lanes, e[p]);
}

__attribute__((target("avx512f"))) static void output_group_avx512(float *const *o,
                                                                    const float *m, size_t ldp,
                                                                    const wino_group *g,
                                                                    float bias) {
    __m512 b = _mm512_set1_ps(bias), e[36], y[16], win[4];
    for (int p = 0; p < 36; p++) e[p] = _mm512_maskz_loadu_ps(g->lanes, m + p * ldp);
    output_tile_v(y, e);
    for (int q = 0; q < 16; q++) y[q] = y[q] + b;
    wino_window_plan plan;
    wino_plan(&plan, 4, g, 0);
    for (int a = 0; a < 4; a++) {
        join4(win, y + 4 * a);
        wino_window_store(o + a, 4, &plan, win, 4);
    }
}

__attribute__((target("avx512f"))) static void grad_group_avx512(float *x, size_t ldp,
                                                                  const float *const *z,
                                                                  const wino_group *g) {
    __m512 zt[16], e[36], win[4];
    wino_window_plan plan;
    wino_plan(&plan, 4, g, 0);
    for (int a = 0; a < 4; a++) {
        wino_window(win, 4, &plan, z + a, 4);
        split4(zt + 4 * a, 4, win);
    }
    output_tile_adjoint_v(e, zt);
    for (int p = 0; p < 36; p++) _mm512_mask_storeu_ps(x + p * ldp, g->lanes, e[p]);
}

/* A row of tiles' 6 x 6 input-gradient blocks d[q WINO_ROW_TILES + t] into the input gradient's
 * rows, 16 tiles at a time: as add_grad_rows, each row's sum starts from 0 and takes, column
 * by column, block column j of tile t, then block column j + 4 of tile t - 1 (join4 of the
 * blocks' columns 0-3, then of 4-5 moved one tile on, the last tile's carried to the next 16),
 * then goes into the plane's row. Adding 0 where add_grad_rows adds nothing gives the same bits:
 * a sum that starts from +0 is never -0. */
__attribute__((target("avx512f"))) static void add_blocks_avx512(float *const *rows,
                                                                  const float *d, size_t w,
                                                                  size_t tw) {
    __m512 zero = _mm512_setzero_ps();
    size_t chunks = (4 * tw + 2 + 63) / 64;
    for (int i = 0; i < 6; i++) {
        if (!rows[i]) continue;
        __m512 carry = zero;
        for (size_t c = 0; c < chunks; c++) {
            __mmask16 mask = 16 * c < tw ? first_lanes(tw - 16 * c) : 0;
            __m512 dj[6], a[4], b[4];
            for (int j = 0; j < 6; j++)
                dj[j] = _mm512_maskz_loadu_ps(mask, d + (6 * i + j) * WINO_ROW_TILES + 16 * c);
            __m512 last[4] = {dj[4], dj[5], zero, zero};
            join4(a, dj), join4(b, last);
            for (int k = 0; k < 4; k++) {
                __m512i before = _mm512_castps_si512(k ? b[k - 1] : carry);
                __m512 moved = _mm512_castsi512_ps(
                    _mm512_alignr_epi32(_mm512_castps_si512(b[k]), before, 12));
                __m512 sum = (zero + a[k]) + moved;
                long col = (long)(64 * c + 16 * k) - 1;
                __mmask16 inside = wino_columns(col, w);
                if (!inside) continue;
                float *at = (float *)((uintptr_t)rows[i] + (uintptr_t)(col * 4));
                _mm512_mask_storeu_ps(at, inside, _mm512_maskz_loadu_ps(inside, at) + sum);
            }
            carry = b[3];
        }
    }
}

#endif

WINO_TILE_FUNCTIONS

const wino_kind wino_f4 = {
    .m = 4, .n = 6, WINO_TILE_TABLE,
#ifdef CONV_X86
    .input_group_v = input_group_avx512, .output_group_v = output_group_avx512,
    .grad_group_v = grad_group_avx512, .add_blocks_v = add_blocks_avx512,
#endif
};
