/* The engine's process-wide settings, all for tests: each turns off a fast path so that a
 * test can check that the path taken instead gives the same bits. Each is made before any run
 * starts or between runs, never while a run is in flight (runs read them without locking, and
 * a run whose layers changed path halfway would no longer be the run the test meant). Every
 * setter returns the previous setting, so that a test can put it back. The other such setting,
 * the instruction-set limit, is cpu_limit_isa (base/cpu.h): the CPU's level is base's. */
#ifndef BNTRAIN_SETTINGS_H
#define BNTRAIN_SETTINGS_H

/* on: thread_scratch (parallel.h) returns NULL as if memory had run out, so that the GEMM and
 * the convolutions take the paths that need no scratch memory. */
int settings_refuse_scratch(int on);
int settings_scratch_refused(void);

/* on: convolutions are computed directly, neither lowered (im2col) into scratch memory nor by
 * the register paths (conv.c), the path taken when scratch memory runs out. */
int settings_force_conv_direct(int on);
int settings_conv_direct_forced(void);

/* on: Winograd layers take F(2 x 2, 3 x 3) whatever their shape, not F(4 x 4, 3 x 3)
 * (conv_winograd.c), for the tests of that kind on large planes and for A/B benchmarks. */
int settings_force_winograd_f2(int on);
int settings_winograd_f2_forced(void);

#endif
