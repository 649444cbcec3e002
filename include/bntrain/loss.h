/* The two losses over a batch of logits: mean squared error against the one-hot label, and
 * softmax cross-entropy. Conventions shared by all layers: bntrain/layers.h. */
#ifndef BNTRAIN_LOSS_H
#define BNTRAIN_LOSS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { LOSS_MSE, LOSS_CE } bn_loss;

/* Batch-mean loss, and its gradient written (not accumulated) to dlogits (may be NULL).
 * mse: 1/2 ||logits - onehot(label)||^2; ce: softmax cross-entropy. Returns the loss as a
 * double (the sum is accumulated in double). */
double loss_forward_backward(bn_loss loss, float *dlogits, const float *logits,
                             const uint8_t *labels, size_t batch, size_t n_classes);
/* Sum over the batch of the per-sample losses and of correct arg-max predictions. */
void loss_eval(bn_loss loss, const float *logits, const uint8_t *labels, size_t batch,
               size_t n_classes, double *loss_sum, size_t *n_correct);

#endif
