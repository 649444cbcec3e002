/* OpenBLAS's threads and kernel, for the benchmarks' GEMM ceiling (see blas_runtime.h). */
#include "blas_runtime.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/cpu.h"

void blas_set_threads(size_t n) {
    openblas_set_num_threads(n > 0 ? (int)n : 1);
}

const char *blas_kernel(void) {
    return openblas_get_corename();
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

/* The kernel to switch to, or NULL if the current one already uses what bntrain's kernels
 * may: the level in force ($BNTRAIN_ISA, else the CPU's). A kernel wider than that level is
 * kept: OPENBLAS_CORETYPE chooses it (bench/run.sh --isa sets one to match). */
static const char *better_kernel(const char *core) {
    cpu_isa cpu = cpu_isa_level();
    if (cpu == CPU_ISA_AVX512 && !core_in(core, avx512_cores)) return "SkylakeX";
    if (cpu == CPU_ISA_AVX2 && !core_in(core, avx2_cores)) return "Haswell";
    return NULL;
}

#define KERNEL_NOTE_VAR "BNTRAIN_BLAS_KERNEL_NOTE"

void blas_choose_kernel(char **argv) {
    const char *keep = getenv("BNTRAIN_KEEP_BLAS_KERNEL");
    if ((keep && strcmp(keep, "1") == 0) || getenv(KERNEL_NOTE_VAR)) return;
    const char *core = blas_kernel(), *better = better_kernel(core);
    if (!better) return;
    char note[160];
    snprintf(note, sizeof note, "bntrain chose %s: OpenBLAS had picked %s on a CPU with %s",
             better, core, strcmp(better, "SkylakeX") == 0 ? "AVX-512" : "AVX2");
    if (setenv("OPENBLAS_CORETYPE", better, 1) || setenv(KERNEL_NOTE_VAR, note, 1)) return;
    execv("/proc/self/exe", argv);
    /* The re-execution failed: carry on with the kernel we have. */
    unsetenv(KERNEL_NOTE_VAR);
}

const char *blas_kernel_note(void) {
    const char *note = getenv(KERNEL_NOTE_VAR);
    return note ? note : "";
}
