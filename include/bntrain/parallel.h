/* Deterministic parallelism inside one run. Work is cut into blocks whose boundaries depend
 * only on the matrix shapes, never on the thread count, and each block is an OpenMP task. A
 * lone run (bntrain train) or the last runs of a grid then use every idle core, and the result
 * is bit-identical whether one thread or sixty-four execute the blocks. Outside a parallel
 * region the tasks simply run in order on the calling thread. */
#ifndef BNTRAIN_PARALLEL_H
#define BNTRAIN_PARALLEL_H

#include <cblas.h>
#include <stddef.h>

/* cblas_sgemm (row-major) with C split into fixed blocks of rows or columns, computed as
 * tasks. Same arguments as cblas_sgemm without the order. */
void gemm(CBLAS_TRANSPOSE trans_a, CBLAS_TRANSPOSE trans_b, size_t m, size_t n, size_t k,
          float alpha, const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
          size_t ldc);

/* Number of blocks for a dimension of the given size: fixed by the size alone. */
size_t parallel_blocks(size_t size, size_t min_block);

#endif
