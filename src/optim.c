/* SGD with momentum and optional weight decay. */
#include "bntrain/optim.h"

#include <stdint.h>
#include <string.h>

#include "bntrain/simd.h"

BN_HOT size_t sgd_step(float *params, const float *grads, float *velocity, size_t n, float lr,
                       float momentum, float weight_decay) {
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
