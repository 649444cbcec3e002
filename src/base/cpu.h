/* The instruction-set level bntrain's hand-written kernels may use, detected once for the
 * whole program: the GEMM's micro-kernels and the convolution's register paths follow it, and
 * the benchmarks' OpenBLAS kernel chooser compares OpenBLAS's choice against it. */
#ifndef BNTRAIN_CPU_H
#define BNTRAIN_CPU_H

#include "bntrain/error.h"

/* Ordered: a wider level includes every narrower one. CPU_ISA_AVX512 is what GCC's x86-64-v4
 * target_clones level (simd.h) needs, AVX-512 F, BW, CD, DQ and VL; CPU_ISA_AVX2 is AVX2 with
 * FMA. */
typedef enum { CPU_ISA_PORTABLE = 0, CPU_ISA_AVX2 = 1, CPU_ISA_AVX512 = 2 } cpu_isa;

/* The widest level this CPU has. */
cpu_isa cpu_isa_supported(void);

/* The level the kernels use: the CPU's, or narrower where cpu_limit_isa says so. */
cpu_isa cpu_isa_level(void);

/* cpu_isa_level() as a name, for logs: "portable", "avx2" or "avx512". */
const char *cpu_isa_name(void);

/* A process-wide setting for tests and benchmarks: the kernels use at most `level` (never
 * more than the CPU has; CPU_ISA_AVX512 lifts the limit). Made before any run starts or between
 * runs, never while a run is in flight: a run that changed level halfway would mix kernels
 * (same bits, but its layers' plans were chosen for the old level). Returns the level now in
 * force. */
cpu_isa cpu_limit_isa(cpu_isa level);

/* The name of a level: "portable", "avx2" or "avx512". */
const char *cpu_isa_level_name(cpu_isa level);

/* The environment variable that limits the kernels for a whole process (bntrain, the bench):
 * to measure the AVX2 or portable paths on a wider CPU, or to check that they give the same
 * bits. */
#define CPU_ISA_ENV "BNTRAIN_ISA"

/* Applies $BNTRAIN_ISA with cpu_limit_isa, once, at a program's start (before any run): unset
 * or empty leaves the CPU's level. 0, or -1 with err saying why: a value that is not a level, or a level wider than the CPU has, which is refused rather
 * than quietly lowered, since a measurement labelled avx512 that ran AVX2 would be a false
 * one. */
int cpu_isa_from_env(bn_error *err);

#endif
