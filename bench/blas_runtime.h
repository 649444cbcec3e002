/* OpenBLAS as the benchmarks use it: their GEMM ceiling is OpenBLAS's sgemm (gemm_ceiling.h).
 * bntrain itself never calls OpenBLAS (its own GEMM is include/bntrain/gemm.h), so only bench/
 * links it. */
#ifndef BNTRAIN_BENCH_BLAS_RUNTIME_H
#define BNTRAIN_BENCH_BLAS_RUNTIME_H

#include <stddef.h>

/* Threads OpenBLAS may use for one GEMM call from the calling context. */
void blas_set_threads(size_t n);
/* The OpenBLAS kernel family in use (e.g. "Haswell", "SkylakeX"). */
const char *blas_kernel(void);
/* Checks OpenBLAS's kernel against the CPU. Where OpenBLAS runs a narrower kernel than the
 * CPU supports (AVX2 kernels on an AVX-512 CPU, say because OPENBLAS_CORETYPE names an older
 * core or OpenBLAS does not know the CPU), the process re-executes itself with
 * OPENBLAS_CORETYPE set to the widest kernel the CPU has: OpenBLAS reads that variable only
 * when it loads. Never picks a kernel the CPU lacks. BNTRAIN_KEEP_BLAS_KERNEL=1 turns this
 * off. Returns if nothing needs to change or the re-execution fails. */
void blas_choose_kernel(char **argv);
/* How the kernel was chosen, for the benchmarks' output ("" if nothing was changed). */
const char *blas_kernel_note(void);

#endif
