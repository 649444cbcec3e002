/* Hot elementwise loops are compiled for several x86-64 levels and picked at run time (GCC
 * function multi-versioning): the portable build runs anywhere and still uses AVX-512 where
 * the CPU has it. The code is plain C with no reassociation (no -ffast-math, and -std=c11
 * turns off FMA contraction), so every version computes bit-identical results. */
#ifndef BNTRAIN_SIMD_H
#define BNTRAIN_SIMD_H

/* The clone is GCC's choice from the CPU, made when the program loads, before main: BNTRAIN_ISA
 * (cpu.h) cannot narrow it. To time what a narrower CPU runs in these loops too, build with
 * -DBNTRAIN_CLONES_UPTO_V3 (AVX2 + FMA at most) or -DBNTRAIN_NO_CLONES (the x86-64 baseline,
 * SSE2), as the README's "Instruction sets" does; the same bits either way. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(BNTRAIN_NO_CLONES)
#if defined(BNTRAIN_CLONES_UPTO_V3)
#define BN_HOT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define BN_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
#else
#define BN_HOT
#endif

#endif
