/* SGD with momentum and optional weight decay. */
#include "bntrain/optim.h"

#include <stdint.h>
#include <string.h>

#include "bntrain/parallel.h"
#include "bntrain/simd.h"

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

/* How far ahead along a row sgd_tile prefetches, in floats: two 32-column tiles, which the
 * GEMM takes long enough over for the lines to arrive. */
#define SGD_PREFETCH_AHEAD 64

/* A later tile's rows of parameters and velocity: gemm_consume walks along rows of tiles,
 * and its rows lie a row's length (4 KB for 1000 inputs) apart, where the hardware
 * prefetcher, which stops at page boundaries, does not follow. */
static void prefetch_tile(const sgd_matrix *s, size_t i0, size_t j0, size_t rows, size_t cols) {
    for (size_t i = 0; i < rows; i++) {
        const float *p = s->params + (i0 + i) * s->row_stride + j0;
        const float *v = s->velocity + (i0 + i) * s->row_stride + j0;
        for (size_t j = 0; j < cols; j += 16) {
            __builtin_prefetch(p + j, 1);
            __builtin_prefetch(v + j, 1);
        }
    }
}

void sgd_tile(void *ctx, size_t i0, size_t j0, size_t rows, size_t cols, const float *grads,
              size_t ld) {
    sgd_matrix *s = ctx;
    if (j0 + SGD_PREFETCH_AHEAD + cols <= s->row_stride)
        prefetch_tile(s, i0, j0 + SGD_PREFETCH_AHEAD, rows, cols);
    uint32_t non_finite = 0;
    for (size_t i = 0; i < rows; i++) {
        size_t at = (i0 + i) * s->row_stride + j0;
        non_finite |= sgd_range(s->params + at, grads + i * ld, s->velocity + at, cols, s->lr,
                                s->momentum, s->weight_decay);
    }
    if (non_finite) s->non_finite = 1;
}
