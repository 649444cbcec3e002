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
/* One line: version, cores, threads and BLAS kernel, for logs and --verbose. */
void runtime_describe(FILE *out, size_t threads);

#endif
