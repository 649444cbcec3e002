/* SGD with momentum, as PyTorch's torch.optim.SGD (dampening 0, no Nesterov):
 * g <- g + weight_decay * theta;  v <- mu v + g;  theta <- theta - eta v. */
#ifndef BNTRAIN_OPTIM_H
#define BNTRAIN_OPTIM_H

#include <stddef.h>

/* Updates n parameters in place; returns 1 if any parameter is not finite after the step
 * (0 for a healthy run), so that divergence is detected in the same pass. */
size_t sgd_step(float *params, const float *grads, float *velocity, size_t n, float lr,
                float momentum, float weight_decay);

/* A weight matrix whose gradient is being computed by gemm_then: sgd_block is its epilogue,
 * updating each finished block of the gradient while it is in cache, exactly as sgd_step would
 * (the same operations on each entry, so the same bits). non_finite is raised if any updated
 * parameter is not finite. */
typedef struct {
    float *params, *velocity;
    const float *grads; /* the product's C */
    size_t row_stride;  /* of all three */
    float lr, momentum, weight_decay;
    _Atomic unsigned non_finite;
} bn_sgd_block;

void sgd_block(void *sgd_block_ctx, size_t row0, size_t col0, size_t rows, size_t cols);

#endif
