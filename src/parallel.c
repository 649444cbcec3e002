/* Shape-determined blocking of GEMMs into OpenMP tasks (see parallel.h). */
#include "bntrain/parallel.h"

/* At least this many rows or columns per block: below it the per-call packing of the other
 * operand starts to cost more than the parallelism gains. */
#define GEMM_MIN_BLOCK 128
#define MAX_BLOCKS 8

size_t parallel_blocks(size_t size, size_t min_block) {
    size_t blocks = size / min_block;
    if (blocks < 1) blocks = 1;
    return blocks > MAX_BLOCKS ? MAX_BLOCKS : blocks;
}

static void block_range(size_t size, size_t blocks, size_t i, size_t *start, size_t *count) {
    *start = size * i / blocks;
    *count = size * (i + 1) / blocks - *start;
}

void gemm(CBLAS_TRANSPOSE trans_a, CBLAS_TRANSPOSE trans_b, size_t m, size_t n, size_t k,
          float alpha, const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
          size_t ldc) {
    /* Split the larger side of C: its blocks are independent GEMMs with the full K, so every
     * element is summed exactly as in the same block run alone. */
    int split_rows = m > n;
    size_t blocks = parallel_blocks(split_rows ? m : n, GEMM_MIN_BLOCK);
    for (size_t i = 0; i < blocks; i++) {
#pragma omp task default(shared) firstprivate(i)
        {
            size_t start, count;
            block_range(split_rows ? m : n, blocks, i, &start, &count);
            const float *a_block = a, *b_block = b;
            float *c_block = c;
            if (split_rows) {
                a_block += trans_a == CblasNoTrans ? start * lda : start;
                c_block += start * ldc;
            } else {
                b_block += trans_b == CblasNoTrans ? start : start * ldb;
                c_block += start;
            }
            cblas_sgemm(CblasRowMajor, trans_a, trans_b, (int)(split_rows ? count : m),
                        (int)(split_rows ? n : count), (int)k, alpha, a_block, (int)lda, b_block,
                        (int)ldb, beta, c_block, (int)ldc);
        }
    }
#pragma omp taskwait
}
