/* SGD with momentum and optional weight decay. */
#include "bntrain/optim.h"

#include <stdint.h>
#include <string.h>

#include "bntrain/gemm.h"
#include "engine/parallel.h"
#include "engine/simd.h"

BN_HOT static uint32_t sgd_range(float *params, const float *grads, float *velocity, size_t n,
                                 float lr, float momentum, float weight_decay) {
    /* Divergence is detected in the same pass, from the exponent bits (all ones for inf and
     * NaN): an integer OR reduction vectorises, a float compare-and-count does not. */
    uint32_t non_finite = 0;
    for (size_t i = 0; i < n; i++) {
        float g = grads[i] + weight_decay * params[i];
        velocity[i] = momentum * velocity[i] + g;
        params[i] -= lr * velocity[i];
        uint32_t bits;
        memcpy(&bits, &params[i], sizeof bits);
        non_finite |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
    }
    return non_finite;
}

typedef struct {
    float *params, *velocity;
    const float *grads;
    size_t n;
    float lr, momentum, weight_decay;
    _Atomic uint32_t non_finite;
} sgd_call;

static void sgd_part(void *ctx, size_t part, size_t parts) {
    sgd_call *a = ctx;
    size_t lo, hi;
    part_range(a->n, part, parts, 16, &lo, &hi);
    if (sgd_range(a->params + lo, a->grads + lo, a->velocity + lo, hi - lo, a->lr, a->momentum,
                  a->weight_decay))
        a->non_finite = 1;
}

/* Parameters are independent: the run's parts (loop_parts) take equal shares. */
size_t sgd_step(float *params, const float *grads, float *velocity, size_t n, float lr,
                float momentum, float weight_decay) {
    size_t parts = loop_parts(n);
    if (parts <= 1) return sgd_range(params, grads, velocity, n, lr, momentum, weight_decay);
    sgd_call call = {params, velocity, grads, n, lr, momentum, weight_decay, 0};
    parallel_parts(parts, sgd_part, &call);
    return call.non_finite;
}

/* Where entry (i, j) of the matrix is. */
static size_t matrix_at(const sgd_matrix *s, size_t i, size_t j) {
    return j / GEMM_PANEL * s->panel_stride + i * GEMM_PANEL + j % GEMM_PANEL;
}

void sgd_tile(void *ctx, size_t i0, size_t j0, size_t rows, size_t cols, const float *grads,
              size_t ld) {
    sgd_matrix *s = ctx;
    uint32_t non_finite = 0;
    if (cols == GEMM_PANEL && ld == GEMM_PANEL) { /* whole panel rows: one contiguous run */
        size_t at = matrix_at(s, i0, j0), run = rows * GEMM_PANEL;
        non_finite = sgd_range(s->params + at, grads, s->velocity + at, run, s->lr, s->momentum,
                               s->weight_decay);
    } else {
        for (size_t i = 0; i < rows; i++) {
            size_t at = matrix_at(s, i0 + i, j0);
            non_finite |= sgd_range(s->params + at, grads + i * ld, s->velocity + at, cols,
                                    s->lr, s->momentum, s->weight_decay);
        }
    }
    if (non_finite) s->non_finite = 1;
}

/* Cache lines that n floats from p span. */
static size_t lines_spanned(const float *p, size_t n) {
    uintptr_t first = (uintptr_t)p / GEMM_LINE_BYTES;
    uintptr_t last = ((uintptr_t)(p + n) - 1) / GEMM_LINE_BYTES;
    return (size_t)(last - first + 1);
}

/* A tile's rows of a matrix in panels are one contiguous run (padding included) whatever its
 * columns: the run is prefetched whole. */
void sgd_tile_ahead(void *ctx, size_t i0, size_t j0, size_t rows, size_t cols,
                    gemm_prefetch *runs) {
    const sgd_matrix *s = ctx;
    size_t at = matrix_at(s, i0, j0), run = rows * GEMM_PANEL;
    size_t lines = lines_spanned(s->params + at, run);
    size_t velocity_lines = lines_spanned(s->velocity + at, run);
    (void)cols;
    runs->start[0] = s->params + at;
    runs->start[1] = s->velocity + at;
    runs->lines = lines > velocity_lines ? lines : velocity_lines;
}

gemm_consumer sgd_consumer(sgd_matrix *s) {
    return (gemm_consumer){.consume = sgd_tile, .ahead = sgd_tile_ahead, .ctx = s};
}
