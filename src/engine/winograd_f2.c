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

const int32_t wino_low_pairs[16] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
const int32_t wino_high_pairs[16] = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
const int32_t wino_stride2_lanes[2][16] = {
    {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30},
    {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31}};

WINO_GROUP_FUNCTIONS(2)
#endif

WINO_TILE_FUNCTIONS

const wino_kind wino_f2 = {
    .m = 2, .n = 4, WINO_TILE_TABLE,
#ifdef CONV_X86
    .input_group_v = input_group_avx512, .output_group_v = output_group_avx512,
    .grad_group_v = grad_group_avx512, .add_blocks_v = add_blocks_avx512,
#endif
};
