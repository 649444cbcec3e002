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
#endif

#endif
