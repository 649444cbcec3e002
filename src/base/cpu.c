/* Which instruction-set level the CPU has and which the kernels may use (see cpu.h). */
#include "base/cpu.h"

#include <stdlib.h>
#include <string.h>

/* The level in force: the process-wide setting cpu_limit_isa makes (cpu.h says when it may
 * change), -1 until it is made or first asked for, which sets it to the CPU's level. Kept
 * rather than detected on every call: the GEMM asks for every panel it packs. Atomic (relaxed)
 * so that threads of a run reading it, and the first ask racing with another, are no data
 * race; both store the same value. */
static int level_in_force = -1;

cpu_isa cpu_isa_supported(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return CPU_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CPU_ISA_AVX2;
#endif
    return CPU_ISA_PORTABLE;
}

cpu_isa cpu_isa_level(void) {
    int level = __atomic_load_n(&level_in_force, __ATOMIC_RELAXED);
    if (level < 0) {
        level = (int)cpu_isa_supported();
        __atomic_store_n(&level_in_force, level, __ATOMIC_RELAXED);
    }
    return (cpu_isa)level;
}

static const char *const names[] = {"portable", "avx2", "avx512"};

const char *cpu_isa_level_name(cpu_isa level) {
    return names[level];
}

const char *cpu_isa_name(void) {
    return names[cpu_isa_level()];
}

cpu_isa cpu_limit_isa(cpu_isa level) {
    cpu_isa supported = cpu_isa_supported();
    __atomic_store_n(&level_in_force, (int)(level < supported ? level : supported),
                     __ATOMIC_RELAXED);
    return cpu_isa_level();
}

int cpu_isa_from_env(bn_error *err) {
    const char *value = getenv(CPU_ISA_ENV);
    if (!value || !*value) return 0;
    for (int level = CPU_ISA_PORTABLE; level <= CPU_ISA_AVX512; level++) {
        if (strcmp(value, names[level]) != 0) continue;
        cpu_isa supported = cpu_isa_supported();
        if ((cpu_isa)level > supported) {
            return bn_fail(err, "%s=%s: this CPU has %s at most", CPU_ISA_ENV, value,
                           names[supported]);
        }
        cpu_limit_isa((cpu_isa)level);
        return 0;
    }
    return bn_fail(err, "%s='%s': not an instruction-set level (portable, avx2 or avx512)",
                   CPU_ISA_ENV, value);
}
