/* Machine and BLAS facts for logs, and the BLAS thread setting. */
#define _GNU_SOURCE
#include "bntrain/runtime.h"

#include <cblas.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

size_t runtime_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return (size_t)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}

void runtime_set_blas_threads(size_t n) {
    openblas_set_num_threads(n > 0 ? (int)n : 1);
}

const char *runtime_blas_kernel(void) {
    return openblas_get_corename();
}

size_t runtime_peak_rss_bytes(void) {
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
    return (size_t)usage.ru_maxrss * 1024; /* Linux reports kilobytes */
}

void runtime_describe(FILE *out, size_t threads) {
    fprintf(out, "bntrain %s: %zu cores, %zu threads, OpenBLAS %s kernels\n", BNTRAIN_VERSION,
            runtime_cores(), threads, runtime_blas_kernel());
}
