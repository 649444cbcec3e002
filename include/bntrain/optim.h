/* SGD with momentum, as PyTorch's torch.optim.SGD (dampening 0, no Nesterov):
 * g <- g + weight_decay * theta;  v <- mu v + g;  theta <- theta - eta v. */
#ifndef BNTRAIN_OPTIM_H
#define BNTRAIN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/gemm.h"

/* Updates n parameters in place; returns 1 if any parameter is not finite after the step
 * (0 for a healthy run), so that divergence is detected in the same pass. */
size_t sgd_step(float *params, const float *grads, float *velocity, size_t n, float lr,
                float momentum, float weight_decay);

/* The same step on a matrix of parameters in panels (gemm.h: a linear weight) whose gradient
 * arrives tile by tile (gemm_consume), so that the gradient is never stored: sgd_tile is the
 * consumer, ctx an sgd_matrix. Each entry gets exactly sgd_step's update, bit for bit. Tiles
 * may be consumed on several threads at once; non_finite becomes 1 if any updated parameter
 * is not finite. */
typedef struct {
    float *params, *velocity; /* both in panels, the same layout */
    size_t panel_stride;      /* floats from one panel to the next */
    float lr, momentum, weight_decay;
    _Atomic uint32_t non_finite;
} sgd_matrix;
void sgd_tile(void *ctx, size_t i0, size_t j0, size_t rows, size_t cols, const float *grads,
              size_t ld);
/* The rows of parameters and velocities sgd_tile will touch for a tile (gemm_ahead_fn). */
void sgd_tile_ahead(void *ctx, size_t i0, size_t j0, size_t rows, size_t cols,
                    gemm_prefetch *runs);
/* sgd_tile and sgd_tile_ahead on s, as gemm_consume's consumer. */
gemm_consumer sgd_consumer(sgd_matrix *s);

#endif
