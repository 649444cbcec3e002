/* Learning-rate schedules over a run's epochs, stepped once per epoch as PyTorch's schedulers
 * are when scheduler.step() is called at the end of every epoch:
 *   constant       the lr throughout (the paper's training);
 *   step:E1,E2,... torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[E1, E2, ...],
 *                  gamma=0.1): epochs 1..E1 use lr, epochs E1+1..E2 lr * 0.1, and so on;
 *   cosine         torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=0):
 *                  epoch e uses lr (1 + cos(pi (e - 1) / epochs)) / 2, computed by PyTorch's own
 *                  recursive (chainable) formula so that the values are PyTorch's to the bit. */
#ifndef BNTRAIN_SCHEDULE_H
#define BNTRAIN_SCHEDULE_H

#include <stddef.h>

#include "bntrain/error.h"

#define BN_MAX_MILESTONES 16
/* Bytes that hold any schedule's text: "step:" and 16 milestones of up to 10 digits. */
#define BN_LR_SCHEDULE_TEXT 200

typedef enum { LR_CONSTANT, LR_STEP, LR_COSINE } bn_lr_schedule_kind;

typedef struct {
    bn_lr_schedule_kind kind;
    size_t n_milestones;                  /* step: the 1-based epochs after which lr drops */
    size_t milestones[BN_MAX_MILESTONES]; /* strictly increasing, >= 1 */
} bn_lr_schedule;

/* Parses "constant", "step:E1,E2,..." (1 to BN_MAX_MILESTONES strictly increasing positive
 * whole numbers) or "cosine"; on anything else returns -1 with one line in err saying what is
 * wrong (the caller prefixes the option's name). *s is left as it was on failure. */
int lr_schedule_parse(const char *text, bn_lr_schedule *s, bn_error *err);

/* The canonical text of s ("step:30,60"), which lr_schedule_parse reads back; returns the
 * length, or -1 if it does not fit in capacity (BN_LR_SCHEDULE_TEXT always does). */
int lr_schedule_format(const bn_lr_schedule *s, char *buf, size_t capacity);

/* The learning rate of 1-based epoch `epoch` of a run of `epochs` epochs whose base rate is
 * lr (epoch 1 always uses lr). */
double lr_schedule_at(const bn_lr_schedule *s, double lr, size_t epoch, size_t epochs);

#endif
