/* Machine facts for logs. The OpenBLAS functions serve the benchmarks, whose GEMM ceiling
 * is OpenBLAS's sgemm: bntrain's own training and evaluation use gemm.h, not OpenBLAS. */
#define _GNU_SOURCE
#include "base/runtime.h"

#include "bntrain/gemm.h"

#include <cblas.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
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

/* OpenBLAS core names whose sgemm kernels use AVX-512, and those that use AVX2 + FMA. */
static const char *const avx512_cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
static const char *const avx2_cores[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake",
                                         "SapphireRapids", NULL};

static int core_in(const char *core, const char *const *list) {
    for (; *list; list++)
        if (strcasecmp(core, *list) == 0) return 1;
    return 0;
}

static int cpu_has_avx512(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

static int cpu_has_avx2(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* The kernel to switch to, or NULL if the current one already uses what the CPU has. */
static const char *better_kernel(const char *core) {
    if (cpu_has_avx512() && !core_in(core, avx512_cores)) return "SkylakeX";
    if (!cpu_has_avx512() && cpu_has_avx2() && !core_in(core, avx2_cores)) return "Haswell";
    return NULL;
}

#define KERNEL_NOTE_VAR "BNTRAIN_BLAS_KERNEL_NOTE"

void runtime_choose_blas_kernel(char **argv) {
    const char *keep = getenv("BNTRAIN_KEEP_BLAS_KERNEL");
    if ((keep && strcmp(keep, "1") == 0) || getenv(KERNEL_NOTE_VAR)) return;
    const char *core = runtime_blas_kernel(), *better = better_kernel(core);
    if (!better) return;
    char note[160];
    snprintf(note, sizeof note, "bntrain chose %s: OpenBLAS had picked %s on a CPU with %s",
             better, core, strcmp(better, "SkylakeX") == 0 ? "AVX-512" : "AVX2");
    if (setenv("OPENBLAS_CORETYPE", better, 1) || setenv(KERNEL_NOTE_VAR, note, 1)) return;
    execv("/proc/self/exe", argv);
    /* The re-execution failed: carry on with the kernel we have. */
    unsetenv(KERNEL_NOTE_VAR);
}

const char *runtime_blas_kernel_note(void) {
    const char *note = getenv(KERNEL_NOTE_VAR);
    return note ? note : "";
}

void runtime_describe(FILE *out, size_t threads) {
    fprintf(out, "bntrain %s: %zu cores, %zu threads, bntrain's %s GEMM kernel\n",
            BNTRAIN_VERSION, runtime_cores(), threads, gemm_isa());
}

double wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
