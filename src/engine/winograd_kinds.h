/* The tile kinds of the Winograd convolutions (conv_winograd.c): F(2 x 2, 3 x 3)
 * (winograd_f2.c) and F(4 x 4, 3 x 3) (winograd_f4.c). A kind is its transforms: of one tile,
 * in floats (the portable row loops and the direct path), and of 16 tiles or 16 filters at once
 * in AVX-512 vectors. Both forms are the same operations in the same order, written once for a
 * type T of float or of vectors (GCC's vector operators, no contraction: -ffp-contract=off), so
 * every CPU level gives the same bits. Private to src/engine/. */
#ifndef BNTRAIN_ENGINE_WINOGRAD_KINDS_H
#define BNTRAIN_ENGINE_WINOGRAD_KINDS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/conv_internal.h"

/* Most tiles a row of any kind (F(2 x 2)'s at input width 128). A row of tiles' input-gradient
 * blocks are laid out d[q WINO_ROW_TILES + t], entry q of tile t. */
#define WINO_ROW_TILES 64
/* Floats of a row buffer of the portable loops: the m tw + 2 columns of a padded row. */
#define WINO_ROW_FLOATS (2 * WINO_ROW_TILES + 2)
/* Most transform positions of a tile (F(4 x 4)'s 6 x 6). */
#define WINO_MAX_POSITIONS 36

/* 16 tiles the AVX-512 loops transform at once: `tiles` tiles of each of `rows` rows of tiles
 * (16 of one row of a wide plane, or whole rows of a narrow one: 8 of 2 rows on 32 x 32 planes,
 * one of 16 on 4 x 4 ones), lane q tiles + t for tile t of row q. In each row, the tiles' blocks
 * start at column x0 (m t0 - 1 for inputs, m t0 for outputs, for the group's first tile t0),
 * a plane's rows having w columns. */
typedef struct wino_group {
    size_t rows, tiles;
    long x0;
    size_t w;
    __mmask16 lanes; /* the group's tiles: rows x tiles of them, or fewer at a row's end */
} wino_group;

typedef struct {
    int m, n; /* outputs and inputs a tile side (n = m + 2); n n transform positions */
    /* one tile: v = B^T d B, d = B e B^T (n n -> n n); y = A^T e A (n n -> m m), x = A z A^T
     * (m m -> n n); u = G g G^T (3 x 3 -> n n), dg = G^T x G; all row-major */
    void (*input_tile)(float *v, const float *d);
    void (*input_tile_adjoint)(float *d, const float *e);
    void (*output_tile)(float *y, const float *e);
    void (*output_tile_adjoint)(float *x, const float *z);
    void (*filter_tile)(float *u, const float *g);
    void (*filter_tile_adjoint)(float *dg, const float *x);
#ifdef CONV_X86
    /* A group of 16 tiles at once (wino_group), as the portable row loops of conv_winograd.c:
     * rows[q n + i] is input row i of the group's tile row q (from column -1 of its tiles'
     * blocks), out[q m + a] and z[q m + a] its output rows a, all straight in the planes, NULL
     * for a row outside the plane (zero); v[p ldp + lane] is position p of the group's tiles. */
    void (*input_group_v)(float *v, size_t ldp, const float *const *rows, const struct wino_group *g);
    void (*output_group_v)(float *const *out, const float *e, size_t ldp,
                           const struct wino_group *g, float bias);
    void (*grad_group_v)(float *x, size_t ldp, const float *const *z, const struct wino_group *g);
    /* add_grad_rows (conv_winograd.c) for one row of tw tiles, its n input-gradient rows
     * rows[i] in the plane (w columns, NULL outside it): the same additions in the same order */
    void (*add_blocks_v)(float *const *rows, const float *d, size_t w, size_t tw);
    /* 16 tiles (or filters) at once, one lane each */
    void (*input_tile_adjoint_v)(__m512 *d, const __m512 *e);
    void (*filter_tile_v)(__m512 *u, const __m512 *g);
    void (*filter_tile_adjoint_v)(__m512 *dg, const __m512 *x);
#endif
} wino_kind;

extern const wino_kind wino_f2, wino_f4;

/* A kind's file defines its transforms as static inline functions of one tile (input_tile,
 * input_tile_adjoint, output_tile, output_tile_adjoint, filter_tile, filter_tile_adjoint) and,
 * on x86, of 16 lanes (the same names with _v); these give them addresses for wino_kind, whose
 * table entries WINO_TILE_TABLE fills. */
#define WINO_TILE_FUNCTIONS_1                                                                      \
    static void input_1(float *v, const float *d) { input_tile(v, d); }                            \
    static void input_adjoint_1(float *d, const float *e) { input_tile_adjoint(d, e); }            \
    static void output_1(float *y, const float *e) { output_tile(y, e); }                          \
    static void output_adjoint_1(float *x, const float *z) { output_tile_adjoint(x, z); }          \
    static void filter_1(float *u, const float *g) { filter_tile(u, g); }                          \
    static void filter_adjoint_1(float *dg, const float *x) { filter_tile_adjoint(dg, x); }
#define WINO_TABLE_1                                                                               \
    .input_tile = input_1, .input_tile_adjoint = input_adjoint_1, .output_tile = output_1,         \
    .output_tile_adjoint = output_adjoint_1, .filter_tile = filter_1,                              \
    .filter_tile_adjoint = filter_adjoint_1
#ifdef CONV_X86
#define WINO_TILE_FUNCTIONS                                                                        \
    WINO_TILE_FUNCTIONS_1                                                                          \
    __attribute__((target("avx512f"))) static void input_adjoint_16(__m512 *d, const __m512 *e) {  \
        input_tile_adjoint_v(d, e);                                                                \
    }                                                                                              \
    __attribute__((target("avx512f"))) static void filter_16(__m512 *u, const __m512 *g) {         \
        filter_tile_v(u, g);                                                                       \
    }                                                                                              \
    __attribute__((target("avx512f"))) static void filter_adjoint_16(__m512 *dg,                   \
                                                                     const __m512 *x) {            \
        filter_tile_adjoint_v(dg, x);                                                              \
    }
#define WINO_TILE_TABLE                                                                            \
    WINO_TABLE_1, .input_tile_adjoint_v = input_adjoint_16, .filter_tile_v = filter_16,            \
        .filter_tile_adjoint_v = filter_adjoint_16
#else
#define WINO_TILE_FUNCTIONS WINO_TILE_FUNCTIONS_1
#define WINO_TILE_TABLE WINO_TABLE_1
#endif

#ifdef CONV_X86
/* Lane k: row[2 k] and row[2 k + 1] interleaved back, the inverse of a stride-2 split. */
extern const int32_t wino_low_pairs[16], wino_high_pairs[16];
/* Lane k of row[2 k + j] from two vectors of 16; lanes k < 8 of row[4 k + j] from two vectors
 * of 16 (the rest: don't care); 64-bit pairs interleaved: {0, 8, 1, 9, ...} and {4, 12, 5, 13,
 * ...}. */
extern const int32_t wino_stride2_lanes[2][16], wino_stride4_lanes[4][16];
extern const int64_t wino_low_quads[8], wino_high_quads[8];

/* Lanes of columns [x0, x0 + 16) of a row of w columns that are inside it. */
static inline __mmask16 wino_columns(long x0, size_t w) {
    long lo = x0 < 0 ? -x0 : 0, hi = (long)w - x0;
    if (hi <= lo) return 0;
    if (hi > 16) hi = 16;
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* Lanes [lo, hi) of 16 (lo may be negative, hi past 16). */
static inline __mmask16 wino_lanes(long lo, long hi) {
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* A group's row windows: lane l of vector k is float 16 k + l of the window row made of each
 * tile row q's columns [x0 + shift, x0 + shift + m tiles) one after the other, from the rows
 * rows[q stride] (zero outside the plane and for a NULL row): the same lanes as 16 k + l of one
 * long row, so that the kinds' stride-m splits serve wide and narrow planes alike. A plan lists
 * the masked loads (or stores) that make them, one per tile row and vector it meets: made once
 * a group, used for each of its rows. The masked lanes are never read, column -1 included (the
 * address is formed as an integer for that reason). */
typedef struct {
    int count;
    int begin[5]; /* vector k's parts: [begin[k], begin[k + 1]) (they come in vector order) */
    struct {
        int vector, row;
        long col;        /* the column lane 0 of the vector reads in the row */
        __mmask16 mask;  /* the lanes of the row's window inside the plane */
    } part[20];
} wino_window_plan;

static inline void wino_plan(wino_window_plan *plan, int m, const wino_group *g, long shift) {
    long width = m * (long)g->tiles;
    plan->count = 0;
    for (int k = 0; k <= m; k++) plan->begin[k] = 0;
    for (long q = 0; q < (long)g->rows; q++) {
        long first = q * width, last = first + width;
        for (long k = first / 16; 16 * k < last; k++) {
            long col = g->x0 + shift + 16 * k - first;
            __mmask16 mask = wino_columns(col, g->w) & wino_lanes(first - 16 * k, last - 16 * k);
            if (!mask) continue;
            plan->part[plan->count].vector = (int)k, plan->part[plan->count].row = (int)q;
            plan->part[plan->count].col = col, plan->part[plan->count].mask = mask;
            plan->count++;
            plan->begin[k + 1] = plan->count;
        }
    }
    for (int k = 1; k <= m; k++)
        if (plan->begin[k] < plan->begin[k - 1]) plan->begin[k] = plan->begin[k - 1];
}

__attribute__((target("avx512f"), always_inline)) static inline void
wino_window(__m512 *vec, int count, const wino_window_plan *plan, const float *const *rows,
            size_t stride) {
    /* vector by vector, so that each stays in a register */
    for (int k = 0; k < count; k++) {
        __m512 acc = _mm512_setzero_ps();
        for (int i = plan->begin[k]; i < plan->begin[k + 1]; i++) {
            const float *row = rows[(size_t)plan->part[i].row * stride];
            if (row)
                acc = _mm512_mask_loadu_ps(
                    acc, plan->part[i].mask,
                    (const void *)((uintptr_t)row + (uintptr_t)(plan->part[i].col * 4)));
        }
        vec[k] = acc;
    }
}

/* The inverse for output rows: the vectors' lanes into each tile row's columns (those inside
 * the plane; none for a NULL row), out[q stride]. */
__attribute__((target("avx512f"), always_inline)) static inline void
wino_window_store(float *const *out, size_t stride, const wino_window_plan *plan,
                  const __m512 *vec, int count) {
    for (int k = 0; k < count; k++)
        for (int i = plan->begin[k]; i < plan->begin[k + 1]; i++) {
            float *row = out[(size_t)plan->part[i].row * stride];
            if (row)
                _mm512_mask_storeu_ps(
                    (void *)((uintptr_t)row + (uintptr_t)(plan->part[i].col * 4)),
                    plan->part[i].mask, vec[k]);
        }
}

/* The stride-m split of a window of m vectors (wino_window's; m = 2 or 4, a constant where
 * this is inlined): out[j] lane k = float m k + j of the window, for j < count. */
__attribute__((target("avx512f"), always_inline)) static inline void
wino_split(__m512 *out, int count, const __m512 *win, const int m) {
    for (int j = 0; j < count; j++) {
        if (m == 2) {
            out[j] = _mm512_permutex2var_ps(win[0], _mm512_loadu_si512(wino_stride2_lanes[j]),
                                            win[1]);
            continue;
        }
        __m512i lanes = _mm512_loadu_si512(wino_stride4_lanes[j]);
        __m512 lo = _mm512_permutex2var_ps(win[0], lanes, win[1]);
        __m512 hi = _mm512_permutex2var_ps(win[2], lanes, win[3]);
        out[j] = _mm512_shuffle_f32x4(lo, hi, _MM_SHUFFLE(1, 0, 1, 0));
    }
}

/* The inverse: float m k + j of the window = y[j] lane k (m vectors y, m of the window). */
__attribute__((target("avx512f"), always_inline)) static inline void
wino_join(__m512 *win, const __m512 *y, const int m) {
    __m512i lo = _mm512_loadu_si512(wino_low_pairs), hi = _mm512_loadu_si512(wino_high_pairs);
    if (m == 2) {
        win[0] = _mm512_permutex2var_ps(y[0], lo, y[1]);
        win[1] = _mm512_permutex2var_ps(y[0], hi, y[1]);
        return;
    }
    __m512i lo2 = _mm512_loadu_si512(wino_low_quads), hi2 = _mm512_loadu_si512(wino_high_quads);
    __m512d p[2] = {_mm512_castps_pd(_mm512_permutex2var_ps(y[0], lo, y[1])),
                    _mm512_castps_pd(_mm512_permutex2var_ps(y[0], hi, y[1]))};
    __m512d q[2] = {_mm512_castps_pd(_mm512_permutex2var_ps(y[2], lo, y[3])),
                    _mm512_castps_pd(_mm512_permutex2var_ps(y[2], hi, y[3]))};
    for (int h = 0; h < 2; h++) {
        win[2 * h] = _mm512_castpd_ps(_mm512_permutex2var_pd(p[h], lo2, q[h]));
        win[2 * h + 1] = _mm512_castpd_ps(_mm512_permutex2var_pd(p[h], hi2, q[h]));
    }
}

/* The group loops of a kind of output side m (n = m + 2), around its transform of 16 tiles:
 * wino_input_blocks gathers the group's n x n input blocks d (d[n i + j]: row i, column j of
 * each lane's block) from the rows r (as input_group_v's); wino_output_blocks writes the m x m
 * output blocks y (bias added) to the rows o (output_group_v's); wino_grad_blocks gathers the
 * m x m output-gradient blocks from the rows z (grad_group_v's); wino_store_positions writes a
 * transform's n n positions to v[p ldp + lane] and wino_load_positions reads them. */
__attribute__((target("avx512f"), always_inline)) static inline void
wino_input_blocks(__m512 *d, const float *const *r, const wino_group *g, const int m) {
    const int n = m + 2;
    __m512 win[4];
    wino_window_plan first, last; /* columns 0 .. m - 1 of the blocks, and m, m + 1 */
    wino_plan(&first, m, g, 0), wino_plan(&last, m, g, m);
    for (int i = 0; i < n; i++) {
        wino_window(win, m, &first, r + i, (size_t)n);
        wino_split(d + n * i, m, win, m);
        wino_window(win, m, &last, r + i, (size_t)n);
        wino_split(d + n * i + m, 2, win, m);
    }
}

__attribute__((target("avx512f"), always_inline)) static inline void
wino_output_blocks(float *const *o, __m512 *y, const wino_group *g, float bias, const int m) {
    __m512 b = _mm512_set1_ps(bias), win[4];
    for (int q = 0; q < m * m; q++) y[q] = y[q] + b;
    wino_window_plan plan;
    wino_plan(&plan, m, g, 0);
    for (int a = 0; a < m; a++) {
        wino_join(win, y + m * a, m);
        wino_window_store(o + a, (size_t)m, &plan, win, m);
    }
}

__attribute__((target("avx512f"), always_inline)) static inline void
wino_grad_blocks(__m512 *z_blocks, const float *const *z, const wino_group *g, const int m) {
    __m512 win[4];
    wino_window_plan plan;
    wino_plan(&plan, m, g, 0);
    for (int a = 0; a < m; a++) {
        wino_window(win, m, &plan, z + a, (size_t)m);
        wino_split(z_blocks + m * a, m, win, m);
    }
}

__attribute__((target("avx512f"), always_inline)) static inline void
wino_store_positions(float *v, size_t ldp, const __m512 *e, const wino_group *g, const int m) {
    for (int p = 0; p < (m + 2) * (m + 2); p++) _mm512_mask_storeu_ps(v + p * ldp, g->lanes, e[p]);
}

__attribute__((target("avx512f"), always_inline)) static inline void
wino_load_positions(__m512 *e, const float *v, size_t ldp, const wino_group *g, const int m) {
    for (int p = 0; p < (m + 2) * (m + 2); p++) e[p] = _mm512_maskz_loadu_ps(g->lanes, v + p * ldp);
}

/* A row of tiles' n x n input-gradient blocks d[q WINO_ROW_TILES + t] into the input
 * gradient's rows, 16 tiles at a time: as add_grad_rows (conv_winograd.c), each row's sum
 * starts from 0 and takes, column by column, block column j of tile t, then block column
 * j + m of tile t - 1 (the join of the blocks' columns 0 .. m - 1, then of m and m + 1 moved
 * one tile on, the last tile's carried to the next 16), then goes into the plane's row. Adding
 * 0 where add_grad_rows adds nothing gives the same bits: a sum that starts from +0 is never
 * -0. */
__attribute__((target("avx512f"), always_inline)) static inline void
wino_add_blocks(float *const *rows, const float *d, size_t w, size_t tw, const int m) {
    const int n = m + 2;
    __m512 zero = _mm512_setzero_ps();
    size_t chunks = ((size_t)m * tw + 2 + 16 * (size_t)m - 1) / (16 * (size_t)m);
    for (int i = 0; i < n; i++) {
        if (!rows[i]) continue;
        __m512 carry = zero;
        for (size_t c = 0; c < chunks; c++) {
            __mmask16 mask = 16 * c < tw ? first_lanes(tw - 16 * c) : 0;
            __m512 dj[6], a[4], b[4];
            for (int j = 0; j < n; j++)
                dj[j] = _mm512_maskz_loadu_ps(mask, d + (n * i + j) * WINO_ROW_TILES + 16 * c);
            __m512 last[4] = {dj[m], dj[m + 1], zero, zero};
            wino_join(a, dj, m), wino_join(b, last, m);
            for (int k = 0; k < m; k++) {
                __m512i before = _mm512_castps_si512(k ? b[k - 1] : carry), next = _mm512_castps_si512(b[k]);
                /* the shift is an immediate: a literal for each m (Clang wants one) */
                __m512 moved = _mm512_castsi512_ps(m == 2 ? _mm512_alignr_epi32(next, before, 14)
                                                          : _mm512_alignr_epi32(next, before, 12));
                __m512 sum = (zero + a[k]) + moved;
                long col = (long)(16 * (size_t)m * c + 16 * (size_t)k) - 1;
                __mmask16 inside = wino_columns(col, w);
                if (!inside) continue;
                float *at = (float *)((uintptr_t)rows[i] + (uintptr_t)(col * 4));
                _mm512_mask_storeu_ps(at, inside, _mm512_maskz_loadu_ps(inside, at) + sum);
            }
            carry = b[m - 1];
        }
    }
}
/* A kind's group functions for wino_kind (input_group_v, output_group_v, grad_group_v,
 * add_blocks_v): the walks above around the kind's transforms of 16 tiles (input_tile_v,
 * output_tile_v, output_tile_adjoint_v), for its output side M. */
#define WINO_GROUP_FUNCTIONS(M)                                                                    \
    __attribute__((target("avx512f"))) static void input_group_avx512(                            \
        float *v, size_t ldp, const float *const *r, const wino_group *g) {                        \
        __m512 d[((M) + 2) * ((M) + 2)], e[((M) + 2) * ((M) + 2)];                                 \
        wino_input_blocks(d, r, g, M);                                                             \
        input_tile_v(e, d);                                                                        \
        wino_store_positions(v, ldp, e, g, M);                                                     \
    }                                                                                              \
    __attribute__((target("avx512f"))) static void output_group_avx512(                           \
        float *const *o, const float *m, size_t ldp, const wino_group *g, float bias) {            \
        __m512 e[((M) + 2) * ((M) + 2)], y[(M) * (M)];                                             \
        wino_load_positions(e, m, ldp, g, M);                                                      \
        output_tile_v(y, e);                                                                       \
        wino_output_blocks(o, y, g, bias, M);                                                      \
    }                                                                                              \
    __attribute__((target("avx512f"))) static void grad_group_avx512(                             \
        float *x, size_t ldp, const float *const *z, const wino_group *g) {                        \
        __m512 zt[(M) * (M)], e[((M) + 2) * ((M) + 2)];                                            \
        wino_grad_blocks(zt, z, g, M);                                                             \
        output_tile_adjoint_v(e, zt);                                                              \
        wino_store_positions(x, ldp, e, g, M);                                                     \
    }                                                                                              \
    __attribute__((target("avx512f"))) static void add_blocks_avx512(                             \
        float *const *rows, const float *d, size_t w, size_t tw) {                                 \
        wino_add_blocks(rows, d, w, tw, M);                                                        \
    }
#endif

#endif
