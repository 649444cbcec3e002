/* The tile kinds of the Winograd convolutions (conv_winograd.c): F(2 x 2, 3 x 3)
 * (winograd_f2.c) and F(4 x 4, 3 x 3) (winograd_f4.c). A kind is its transforms: of one tile,
 * in floats (the portable row loops and the direct path), and of 16 tiles or 16 filters at once
 * in AVX-512 vectors. Both forms are the same operations in the same order, written once for a
 * type T of float or of vectors (GCC's vector operators, no contraction: -ffp-contract=off), so
 * every CPU level gives the same bits. Private to src/engine/. */
#ifndef BNTRAIN_ENGINE_WINOGRAD_KINDS_H
#define BNTRAIN_ENGINE_WINOGRAD_KINDS_H

#include <stddef.h>

#include "engine/conv_internal.h"

/* Most tiles a row of any kind (F(2 x 2)'s at input width 128). A row of tiles' input-gradient
 * blocks are laid out d[q WINO_ROW_TILES + t], entry q of tile t. */
#define WINO_ROW_TILES 64
/* Floats of a row buffer: m tw + 2 columns of a row with room for the AVX-512 loops' whole
 * vectors past its end (at most m tw + 66 are touched). */
#define WINO_ROW_FLOATS (2 * WINO_ROW_TILES + 72)
/* Most transform positions of a tile (F(4 x 4)'s 6 x 6). */
#define WINO_MAX_POSITIONS 36

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
    /* 16 tiles of a row at once, as the portable row loops of conv_winograd.c: rows[i][x + 1]
     * is input column x of the tile row's input row i (n rows); out[a] and z[a] are its output
     * rows (m rows, from column 0); v[p ldp + t] is position p of tile t. */
    void (*input_row_v)(float *v, size_t ldp, const float *const *rows, size_t tw);
    void (*output_row_v)(float *const *out, const float *e, size_t ldp, size_t tw, float bias);
    void (*grad_row_v)(float *x, size_t ldp, const float *const *z, size_t tw);
    /* 16 tiles (or filters) at once, one lane each */
    void (*input_tile_adjoint_v)(__m512 *d, const __m512 *e);
    void (*filter_tile_v)(__m512 *u, const __m512 *g);
    void (*filter_tile_adjoint_v)(__m512 *dg, const __m512 *x);
#endif
} wino_kind;

extern const wino_kind wino_f2, wino_f4;

#ifdef CONV_X86
/* Lane k: row[2 k] and row[2 k + 1] interleaved back, the inverse of a stride-2 split. */
extern const int32_t wino_low_pairs[16], wino_high_pairs[16];
#endif

#endif
