/* What the machine and the BLAS library are: cores, BLAS threads and kernel, peak memory. */
#ifndef BNTRAIN_RUNTIME_H
#define BNTRAIN_RUNTIME_H

#include <stddef.h>
#include <stdio.h>

/* Cores this process may run on (affinity mask), at least 1. */
size_t runtime_cores(void);
/* Threads OpenBLAS may use for one GEMM call from the calling context. */
void runtime_set_blas_threads(size_t n);
/* The OpenBLAS kernel family in use (e.g. "Haswell", "SkylakeX"). */
const char *runtime_blas_kernel(void);
/* Peak resident memory of this process in bytes (0 if unknown). */
size_t runtime_peak_rss_bytes(void);
/* Checks OpenBLAS's kernel against the CPU. Where OpenBLAS runs a narrower kernel than the
 * CPU supports (AVX2 kernels on an AVX-512 CPU, say because OPENBLAS_CORETYPE names an older
 * core or OpenBLAS does not know the CPU), the process re-executes itself with
 * OPENBLAS_CORETYPE set to the widest kernel the CPU has: OpenBLAS reads that variable only
 * when it loads. Never picks a kernel the CPU lacks. BNTRAIN_KEEP_BLAS_KERNEL=1 turns this
 * off. Returns if nothing needs to change or the re-execution fails. */
void runtime_choose_blas_kernel(char **argv);
/* How the kernel was chosen, for verbose output ("" if bntrain changed nothing). */
const char *runtime_blas_kernel_note(void);
/* Seconds on a monotonic clock, for timings. */
double wall_seconds(void);
/* One line: version, cores, threads and GEMM kernel, for logs and --verbose. */
void runtime_describe(FILE *out, size_t threads);

#endif
