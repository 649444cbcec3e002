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

typedef void (*bn_part_fn)(void *ctx, size_t part, size_t parts);

/* fn(ctx, part, parts) for part = 0 .. parts - 1, concurrently where threads are free; returns
 * when all are done. */
void parallel_parts(size_t parts, bn_part_fn fn, void *ctx);

/* Part `part` of [0, n) split into `parts` ranges whose bounds are multiples of `align`. */
void part_range(size_t n, size_t part, size_t parts, size_t align, size_t *lo, size_t *hi);

#endif
