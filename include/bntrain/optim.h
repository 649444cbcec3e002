/* SGD with momentum, as PyTorch's torch.optim.SGD (dampening 0, no Nesterov):
 * g <- g + weight_decay * theta;  v <- mu v + g;  theta <- theta - eta v. */
#ifndef BNTRAIN_OPTIM_H
#define BNTRAIN_OPTIM_H

#include <stddef.h>

/* Updates n parameters in place; returns 1 if any parameter is not finite after the step
 * (0 for a healthy run), so that divergence is detected in the same pass. */
size_t sgd_step(float *params, const float *grads, float *velocity, size_t n, float lr,
                float momentum, float weight_decay);

#endif
