/* SGD with momentum and optional weight decay. */
#include "bntrain/optim.h"

#include <float.h>

size_t sgd_step(float *params, const float *grads, float *velocity, size_t n, float lr,
                float momentum, float weight_decay) {
    size_t n_bad = 0;
    for (size_t i = 0; i < n; i++) {
        float g = grads[i] + weight_decay * params[i];
        velocity[i] = momentum * velocity[i] + g;
        params[i] -= lr * velocity[i];
        /* NaN fails every comparison, so this counts NaN and +-inf alike. */
        n_bad += !(params[i] >= -FLT_MAX && params[i] <= FLT_MAX);
    }
    return n_bad;
}
