/* The losses: per-sample mean squared error or softmax cross-entropy (in double), their batch
 * mean with the gradient, and the evaluation sums (loss and correct predictions). */
#include "bntrain/loss.h"

#include <math.h>

/* Loss of one sample; writes d(loss)/d(logits) scaled by grad_scale into grad if not NULL. */
static double sample_loss(bn_loss loss, float *grad, const float *logits, uint8_t label,
                          size_t n_classes, float grad_scale) {
    double total = 0.0;
    if (loss == LOSS_MSE) {
        for (size_t k = 0; k < n_classes; k++) {
            double diff = (double)logits[k] - (k == label ? 1.0 : 0.0);
            total += 0.5 * diff * diff;
            if (grad) grad[k] = (float)diff * grad_scale;
        }
        return total;
    }
    float max_logit = logits[0];
    for (size_t k = 1; k < n_classes; k++)
        if (logits[k] > max_logit) max_logit = logits[k];
    double sum_exp = 0.0;
    for (size_t k = 0; k < n_classes; k++) sum_exp += exp((double)(logits[k] - max_logit));
    double log_sum_exp = log(sum_exp) + (double)max_logit;
    if (grad)
        for (size_t k = 0; k < n_classes; k++) {
            double p = exp((double)logits[k] - log_sum_exp);
            grad[k] = (float)(p - (k == label ? 1.0 : 0.0)) * grad_scale;
        }
    return log_sum_exp - (double)logits[label];
}

double loss_forward_backward(bn_loss loss, float *dlogits, const float *logits,
                             const uint8_t *labels, size_t batch, size_t n_classes) {
    double total = 0.0;
    float scale = 1.0f / (float)batch;
    for (size_t n = 0; n < batch; n++)
        total += sample_loss(loss, dlogits ? dlogits + n * n_classes : NULL,
                             logits + n * n_classes, labels[n], n_classes, scale);
    return total / (double)batch;
}

static size_t argmax(const float *v, size_t n) {
    size_t best = 0;
    for (size_t k = 1; k < n; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

void loss_eval(bn_loss loss, const float *logits, const uint8_t *labels, size_t batch,
               size_t n_classes, double *loss_sum, size_t *n_correct) {
    for (size_t n = 0; n < batch; n++) {
        const float *row = logits + n * n_classes;
        *loss_sum += sample_loss(loss, NULL, row, labels[n], n_classes, 0.0f);
        if (argmax(row, n_classes) == labels[n]) (*n_correct)++;
    }
}
