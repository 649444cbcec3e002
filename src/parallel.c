/* Splitting one run's work between cores (see parallel.h). */
#include "bntrain/parallel.h"

#include <omp.h>

void parallel_parts(size_t parts, bn_part_fn fn, void *ctx) {
    if (parts <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    if (omp_get_level() > 0) {
#pragma omp taskloop num_tasks(parts)
        for (size_t part = 0; part < parts; part++) fn(ctx, part, parts);
        return;
    }
#pragma omp parallel for num_threads((int)parts) schedule(static)
    for (size_t part = 0; part < parts; part++) fn(ctx, part, parts);
}

void part_range(size_t n, size_t part, size_t parts, size_t align, size_t *lo, size_t *hi) {
    size_t units = (n + align - 1) / align;
    *lo = units * part / parts * align;
    *hi = units * (part + 1) / parts * align;
    if (*lo > n) *lo = n;
    if (*hi > n) *hi = n;
}
