/* How one run shares cores: work split into a fixed number of parts, each part a function
 * call. Inside an OpenMP team (a grid's workers, or `bntrain train`'s) the parts are tasks,
 * which the team's idle threads take from the barrier they wait at; outside any team they run
 * on a new team of `parts` threads. Nested parallel regions are not used: libgomp starts new
 * threads for every nested region (measured: milliseconds each on a 2-core guest).
 *
 * Callers split work so that every output is written by one part in a fixed order: who runs
 * a part never changes a bit. */
#ifndef BNTRAIN_PARALLEL_H
#define BNTRAIN_PARALLEL_H

#include <stddef.h>

/* The calling thread's thread budget: how many threads the work it starts may use (the GEMM,
 * and the run's elementwise loops through loop_parts), at least 1, 1 until set. Per-thread
 * state, set by the run that owns the thread: train.c sets it before every step from the
 * run's bn_core_share, so that each run of a grid has its own share of the cores as runs start
 * and end. Results do not depend on it. */
void parallel_set_threads(size_t threads);
size_t parallel_threads(void);

typedef void (*bn_part_fn)(void *ctx, size_t part, size_t parts);

/* fn(ctx, part, parts) for part = 0 .. parts - 1, concurrently where threads are free; returns
 * when all are done. */
void parallel_parts(size_t parts, bn_part_fn fn, void *ctx);

/* Part `part` of [0, n) split into `parts` ranges whose bounds are multiples of `align`. */
void part_range(size_t n, size_t part, size_t parts, size_t align, size_t *lo, size_t *hi);

/* Scratch memory a thread keeps for its whole life, one buffer per slot: the GEMM's packing
 * panels, a convolution's lowered chunk, and a Winograd convolution's transformed filters
 * (conv_winograd.c). Each part of a split uses the buffers of the
 * thread that runs it, so no two parts share one. */
typedef enum { SCRATCH_GEMM_A, SCRATCH_GEMM_B, SCRATCH_CONV, SCRATCH_WINOGRAD, SCRATCH_SLOTS } bn_scratch_slot;

/* The calling thread's buffer in `slot`, 64-byte aligned, at least `floats` floats: allocated
 * on the thread's first call and grown (never shrunk) when a call asks for more, so a run's
 * steps after its first allocate nothing. Freed when the thread ends. NULL if memory ran out
 * (callers then take a slower path that gives the same bits), or while tests make it fail
 * (settings.h). */
float *thread_scratch(bn_scratch_slot slot, size_t floats);
/* The floats the calling thread holds in `slot` (0 before its first call): what the memory
 * check's accounting (conv_scratch_floats, gemm_thread_floats) is tested against. */
size_t thread_scratch_floats(bn_scratch_slot slot);

/* Parts for a run's own elementwise loops over `floats` values: the run's share of the cores
 * (parallel_threads()), or 1 when the work is too small to be worth waking helpers. */
size_t loop_parts(size_t floats);

#endif
