/* Splitting one run's work between cores (see parallel.h). */
#include "engine/parallel.h"

#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/settings.h"

/* Per-thread state, not a process-wide setting: each thread belongs to at most one run at a
 * time, and that run sets its budget (parallel.h). */
static _Thread_local size_t thread_budget = 1;

void parallel_set_threads(size_t threads) {
    thread_budget = threads ? threads : 1;
}

size_t parallel_threads(void) {
    return thread_budget;
}

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

typedef struct {
    float *data[SCRATCH_SLOTS];
    size_t floats[SCRATCH_SLOTS];
} scratch_set;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void free_scratch(void *p) {
    scratch_set *set = p;
    for (int i = 0; i < SCRATCH_SLOTS; i++) free(set->data[i]);
    free(set);
}

static void make_scratch_key(void) {
    pthread_key_create(&scratch_key, free_scratch);
}

float *thread_scratch(bn_scratch_slot slot, size_t floats) {
    if (settings_scratch_refused()) return NULL;
    pthread_once(&scratch_once, make_scratch_key);
    scratch_set *set = pthread_getspecific(scratch_key);
    if (!set) {
        set = calloc(1, sizeof *set);
        if (!set) return NULL;
        if (pthread_setspecific(scratch_key, set)) {
            free(set);
            return NULL;
        }
    }
    if (set->floats[slot] >= floats) return set->data[slot];
    if (floats > (SIZE_MAX - 63) / sizeof(float)) return NULL;
    /* aligned_alloc wants a multiple of the alignment */
    size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    float *grown = aligned_alloc(64, bytes);
    if (!grown) return NULL;
    free(set->data[slot]);
    set->data[slot] = grown;
    set->floats[slot] = floats;
    return grown;
}

size_t thread_scratch_floats(bn_scratch_slot slot) {
    pthread_once(&scratch_once, make_scratch_key);
    const scratch_set *set = pthread_getspecific(scratch_key);
    return set ? set->floats[slot] : 0;
}

size_t loop_parts(size_t floats) {
    size_t threads = thread_budget;
    return threads > 1 && floats >= (1u << 15) ? threads : 1;
}
