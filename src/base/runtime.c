/* Machine facts for logs: cores, peak memory, a monotonic clock, and the line that opens
 * every log. */
#define _GNU_SOURCE
#include "base/runtime.h"

#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/cpu.h"

size_t runtime_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return (size_t)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}

size_t runtime_peak_rss_bytes(void) {
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
    return (size_t)usage.ru_maxrss * 1024; /* Linux reports kilobytes */
}

void runtime_describe(FILE *out, size_t threads) {
    fprintf(out, "bntrain %s: %zu cores, %zu threads, bntrain's %s GEMM kernel", BNTRAIN_VERSION,
            runtime_cores(), threads, cpu_isa_name());
    if (cpu_isa_level() != cpu_isa_supported())
        fprintf(out, " (%s; the CPU has %s)", CPU_ISA_ENV, cpu_isa_level_name(cpu_isa_supported()));
    fputc('\n', out);
}

double wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
