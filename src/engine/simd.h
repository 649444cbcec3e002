/* Hot elementwise loops are compiled for several x86-64 levels and picked at run time (GCC
 * function multi-versioning): the portable build runs anywhere and still uses AVX-512 where
 * the CPU has it. The code is plain C with no reassociation (no -ffast-math, and -std=c11
 * turns off FMA contraction), so every version computes bit-identical results. */
#ifndef BNTRAIN_SIMD_H
#define BNTRAIN_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(BNTRAIN_NO_CLONES)
#define BN_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BN_HOT
#endif

#endif
