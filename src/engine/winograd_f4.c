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

const int32_t wino_stride4_lanes[4][16] = {
    {0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0},
    {1, 5, 9, 13, 17, 21, 25, 29, 0, 0, 0, 0, 0, 0, 0, 0},
    {2, 6, 10, 14, 18, 22, 26, 30, 0, 0, 0, 0, 0, 0, 0, 0},
    {3, 7, 11, 15, 19, 23, 27, 31, 0, 0, 0, 0, 0, 0, 0, 0}};
const int64_t wino_low_quads[8] = {0, 8, 1, 9, 2, 10, 3, 11};
const int64_t wino_high_quads[8] = {4, 12, 5, 13, 6, 14, 7, 15};

WINO_GROUP_FUNCTIONS(4)
#endif

WINO_TILE_FUNCTIONS

const wino_kind wino_f4 = {
    .m = 4, .n = 6, WINO_TILE_TABLE,
#ifdef CONV_X86
    .input_group_v = input_group_avx512, .output_group_v = output_group_avx512,
    .grad_group_v = grad_group_avx512, .add_blocks_v = add_blocks_avx512,
#endif
};
