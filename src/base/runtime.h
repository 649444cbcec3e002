/* What the machine is and how a process fares on it: cores, peak memory, elapsed time. */
#ifndef BNTRAIN_RUNTIME_H
#define BNTRAIN_RUNTIME_H

#include <stddef.h>
#include <stdio.h>

/* Cores this process may run on (affinity mask), at least 1. */
size_t runtime_cores(void);
/* Peak resident memory of this process in bytes (0 if unknown). */
size_t runtime_peak_rss_bytes(void);
/* Seconds on a monotonic clock, for timings. */
double wall_seconds(void);
/* One line: version, cores, threads and bntrain's GEMM kernel, for logs and --verbose. */
void runtime_describe(FILE *out, size_t threads);

#endif
