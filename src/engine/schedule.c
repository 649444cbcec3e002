/* Learning-rate schedules: the parser of --lr-schedule's text and the rate of each epoch, as
 * PyTorch's MultiStepLR and CosineAnnealingLR give it (bntrain/schedule.h). */
#include "bntrain/schedule.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Python's math.pi, the double nearest pi. */
static const double PI = 3.141592653589793;

/* The milestone list of "step:E1,E2,...": positive whole numbers, strictly increasing (a
 * repeated milestone would be MultiStepLR's gamma squared, surely a typing slip here). */
static int parse_milestones(const char *text, const char *list, bn_lr_schedule *s, bn_error *err) {
    size_t n = 0, previous = 0;
    for (const char *p = list;; p++) {
        if (*p < '0' || *p > '9')
            return bn_fail(err, "'%s': milestones are whole epochs, as in step:30,60", text);
        char *end;
        errno = 0;
        unsigned long long epoch = strtoull(p, &end, 10);
        if (errno == ERANGE || epoch == 0 || epoch > 1000000000ULL)
            return bn_fail(err, "'%s': a milestone must be an epoch from 1 to 1e9", text);
        if (epoch <= previous) return bn_fail(err, "'%s': milestones must increase", text);
        if (n == BN_MAX_MILESTONES)
            return bn_fail(err, "'%s': at most %d milestones", text, BN_MAX_MILESTONES);
        s->milestones[n++] = previous = (size_t)epoch;
        p = end;
        if (*p == '\0') break;
        if (*p != ',')
            return bn_fail(err, "'%s': milestones are whole epochs, as in step:30,60", text);
    }
    s->n_milestones = n;
    return 0;
}

int lr_schedule_parse(const char *text, bn_lr_schedule *s, bn_error *err) {
    bn_lr_schedule parsed = {.kind = LR_CONSTANT};
    if (strcmp(text, "cosine") == 0)
        parsed.kind = LR_COSINE;
    else if (strncmp(text, "step:", 5) == 0) {
        parsed.kind = LR_STEP;
        if (parse_milestones(text, text + 5, &parsed, err)) return -1;
    } else if (strcmp(text, "constant") != 0)
        return bn_fail(err, "'%s' is not constant, step:E1,E2,... or cosine", text);
    *s = parsed;
    return 0;
}

int lr_schedule_format(const bn_lr_schedule *s, char *buf, size_t capacity) {
    const char *name = s->kind == LR_STEP ? "step:" : s->kind == LR_COSINE ? "cosine" : "constant";
    size_t used = (size_t)snprintf(buf, capacity, "%s", name);
    for (size_t i = 0; s->kind == LR_STEP && i < s->n_milestones && used < capacity; i++)
        used +=
            (size_t)snprintf(buf + used, capacity - used, "%s%zu", i ? "," : "", s->milestones[i]);
    return used < capacity ? (int)used : -1;
}

/* MultiStepLR's chainable step: at the boundary into epoch e + 1 (last_epoch = e), a milestone
 * e multiplies the current rate by gamma = 0.1; rates before are kept. */
static double step_at(const bn_lr_schedule *s, double lr, size_t epoch) {
    for (size_t i = 0; i < s->n_milestones && s->milestones[i] < epoch; i++)
        lr = lr * 0.1;
    return lr;
}

/* CosineAnnealingLR's chainable step from last_epoch - 1 to last_epoch (eta_min 0), in
 * PyTorch's order of operations:
 * (1 + cos(pi * t / T)) / (1 + cos(pi * (t - 1) / T)) * (lr - 0) + 0. For t < T the divisor
 * is positive, and a run of T epochs reaches at most t = T - 1. */
static double cosine_at(double lr, size_t epoch, size_t epochs) {
    double t_max = (double)epochs;
    for (size_t t = 1; t < epoch; t++)
        lr = (1.0 + cos(PI * (double)t / t_max)) / (1.0 + cos(PI * (double)(t - 1) / t_max)) *
                 (lr - 0.0) +
             0.0;
    return lr;
}

double lr_schedule_at(const bn_lr_schedule *s, double lr, size_t epoch, size_t epochs) {
    switch (s->kind) {
    case LR_STEP:
        return step_at(s, lr, epoch);
    case LR_COSINE:
        return cosine_at(lr, epoch, epochs);
    case LR_CONSTANT:
        break;
    }
    return lr;
}
