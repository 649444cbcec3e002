/* bntrain's own single-precision matrix product, C = [C +] op(A) op(B).
 *
 * Why not BLAS: every entry of C is one fused multiply-add chain over k = 0 .. K-1 in order,
 * starting from 0 (or from C when accumulating). Nothing else changes its bits: not the
 * blocking, not the CPU level (AVX-512, AVX2 + FMA and the portable fallback give the same
 * result), and not the number of threads, which only decides who computes which entries. So
 * one training run can use several cores and still give bitwise the same result as on one;
 * OpenBLAS's threaded sgemm changes bits with the thread count (measured on most of the
 * paper's shapes).
 *
 * Operands are views with two strides: op(A)[i][k] = a[i * a_row + k * a_col], so a
 * transposed operand is the same memory with the strides swapped; or matrices stored in
 * panels (below), the layout in which the kernel reads its right-hand operand. */
#ifndef BNTRAIN_GEMM_H
#define BNTRAIN_GEMM_H

#include <stddef.h>

/* Panels: a rows x cols matrix stored as ceil(cols / GEMM_PANEL) blocks of GEMM_PANEL columns,
 * each block rows x GEMM_PANEL row-major, one after the other (the last one padded), so that
 * entry (i, j) is at (j / GEMM_PANEL) rows GEMM_PANEL + i GEMM_PANEL + j % GEMM_PANEL. A right-hand
 * operand kept in panels is read in place, never packed; a weight kept so that its rows are
 * a layer's inputs is the forward pass's operand as it is (linear.h). Its transpose, the input
 * gradient's operand, is read in place too where k is at least 256: the product is then
 * computed as C^T, with the weight on the left. */
#define GEMM_PANEL 32

typedef struct {
    const float *data;
    size_t row_stride, col_stride;
    /* 0 for a strided view; else the view is of a matrix in panels, panel_stride (rows x
     * GEMM_PANEL) floats apart: the matrix itself, or (panels_transposed) its transpose */
    size_t panel_stride;
    int panels_transposed;
} bn_matrix;

/* A row-major rows x cols matrix, and its transpose. */
static inline bn_matrix matrix_rows(const float *data, size_t cols) {
    return (bn_matrix){data, cols, 1, 0, 0};
}
static inline bn_matrix matrix_transposed(const float *data, size_t cols) {
    return (bn_matrix){data, 1, cols, 0, 0};
}
/* A rows x cols matrix in panels, and its transpose (a cols x rows operand). */
static inline bn_matrix matrix_panels(const float *data, size_t rows) {
    return (bn_matrix){data, 0, 0, rows * GEMM_PANEL, 0};
}
static inline bn_matrix matrix_panels_transposed(const float *data, size_t rows) {
    return (bn_matrix){data, 0, 0, rows * GEMM_PANEL, 1};
}
/* Floats a rows x cols matrix in panels takes, padding included. */
static inline size_t panels_floats(size_t rows, size_t cols) {
    return (cols + GEMM_PANEL - 1) / GEMM_PANEL * GEMM_PANEL * rows;
}

/* C (m x n, row-major with row stride ldc) = op(A) op(B) (accumulate = 0) or C + op(A) op(B)
 * (accumulate = 1), op(A) m x k, op(B) k x n. Uses up to the calling thread's thread budget
 * (1 unless the run that owns the thread set one: a training run sets it from its
 * bn_core_share, train.h). Allocates only each thread's packing buffers (parallel.h's
 * scratch: grown to the largest size asked for, which gemm_consume's can be, then kept until
 * the thread ends). */
void gemm(size_t m, size_t n, size_t k, bn_matrix a, bn_matrix b, float *c, size_t ldc,
          int accumulate);
/* The packing buffers' floats a thread keeps once it has run a product, for the memory
 * check (gemm_consume's A buffer can grow past them: to its share's rows x k, k <= 256). */
size_t gemm_thread_floats(void);

/* As gemm, on the calling thread alone: for work that its caller has already split into
 * parts (parallel.h). */
void gemm_one_thread(size_t m, size_t n, size_t k, bn_matrix a, bn_matrix b, float *c,
                     size_t ldc, int accumulate);

/* As gemm, with C (m x n) in panels: c holds panels_floats(m, n) floats. Padding is not
 * written. */
void gemm_panels(size_t m, size_t n, size_t k, bn_matrix a, bn_matrix b, float *c,
                 int accumulate);

/* C = bias + op(A) op(B): each entry's chain starts from bias[i] (bias_per_row) or bias[j]
 * instead of from a copy of the bias written into C first (a pass over C that cost 2 % of a
 * CNN step). threads: 1 for the calling thread alone, 0 for its thread budget. */
void gemm_biased(size_t threads, size_t m, size_t n, size_t k, bn_matrix a, bn_matrix b,
                 const float *bias, int bias_per_row, float *c, size_t ldc);

/* C = op(A) op(B) handed to a consumer (below), consume(ctx, i0, j0, rows, cols, tile, ld),
 * one finished tile at a time (tile[i ld + j] is entry (i0 + i, j0 + j), the same bits gemm
 * gives), instead of being stored: for a consumer that needs each entry once, right away (an
 * optimizer step on a weight gradient), this saves writing C and reading it back. A tile never
 * spans two panels (j0 is a multiple of GEMM_PANEL, cols <= GEMM_PANEL), and the tiles come
 * down each panel's columns in order of i0, panel after panel: a consumer that keeps its own
 * arrays in panels sweeps them in memory order. With threads > 1 (0: the calling thread's
 * budget), consume runs on several threads at once, each on its own panels. Needs
 * 0 < k <= GEMM_CONSUME_MAX_K (every chain done in one pass); returns 0 and does nothing
 * otherwise, 1 when done. */
#define GEMM_CONSUME_MAX_K 256
typedef void (*gemm_tile_fn)(void *ctx, size_t i0, size_t j0, size_t rows, size_t cols,
                             const float *tile, size_t ld);
/* Bytes in a cache line, the unit of a prefetch. */
#define GEMM_LINE_BYTES 64
/* The memory a consumer will touch for a tile: two runs of `lines` cache lines each from
 * start[0] and start[1] (they may be the same run; lines 0: nothing). */
typedef struct {
    const void *start[2];
    size_t lines;
} gemm_prefetch;
typedef void (*gemm_ahead_fn)(void *ctx, size_t i0, size_t j0, size_t rows, size_t cols,
                              gemm_prefetch *runs);
/* consume(ctx, ...) takes each tile; ahead (may be NULL) says what consume will touch for a
 * tile, and the GEMM prefetches that while it computes the tile before it. A consumer that
 * streams arrays larger than the caches (an optimizer's weights and velocities) stalls on
 * each tile's first touch otherwise, and prefetching a whole tile at once from the consumer
 * itself stalled too: more lines than the core can have in flight. */
typedef struct {
    gemm_tile_fn consume;
    gemm_ahead_fn ahead;
    void *ctx;
} gemm_consumer;
int gemm_consume(size_t threads, size_t m, size_t n, size_t k, bn_matrix a, bn_matrix b,
                 gemm_consumer consumer);

/* Rows [p0, p0 + rows) x columns [j0, j0 + cols) of x (cols <= GEMM_PANEL) as one panel of
 * the GEMM's right-hand operand, dst[p GEMM_PANEL + j], zero beyond cols: the GEMM's own
 * packing (transposing in registers where x is column-major), for kernels elsewhere that
 * want its layout. */
void gemm_pack_panel(float *dst, bn_matrix x, size_t p0, size_t rows, size_t j0, size_t cols);

#endif
