/* The description of an experiment: the dataset, the network and its training
 * hyper-parameters, with the paper's defaults; and what follows from it: the network's
 * specification and the training configuration of a run. The command line fills it from its
 * options; the grid runner trains it at every (gamma or sigma_w^2, eta) of a grid. */
#ifndef BNTRAIN_EXPERIMENT_H
#define BNTRAIN_EXPERIMENT_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/error.h"
#include "bntrain/loss.h"
#include "bntrain/model.h"
#include "bntrain/schedule.h"
#include "bntrain/train.h"

typedef struct {
    const char *dataset;  /* NULL until a dataset is named */
    const char *data_dir; /* NULL: $BNTRAIN_DATA, else data/ */
    bn_arch arch;
    int batchnorm;
    size_t n_hidden; /* 0: the paper's widths / channels */
    size_t hidden[BN_MAX_HIDDEN];
    size_t kernel, stride, padding;
    size_t depth;      /* preact-resnet: 18 or 6n + 2 (vgg16: 16; fc, cnn: 0) */
    double width_mult; /* vgg16, preact-resnet: every channel count times this (default 1) */
    int init;          /* a bn_init, or -1: the arch's default (INIT_GAUSSIAN for fc and cnn,
                          INIT_PYTORCH for vgg16 and preact-resnet: model.h) */
    double sigma_w2, sigma_b2;
    double momentum, weight_decay;
    bn_loss loss;
    size_t batch, epochs;
    uint64_t seed;
    size_t train_subset; /* 0: the whole training set */
    double gamma, lr;
    int augment; /* 1 on, 0 off, -1: the architecture's default (experiment_augment) */
    bn_lr_schedule lr_schedule;
} bn_experiment;

/* The paper's defaults: fc, BN on, sigma_w^2 = 2, sigma_b^2 = 0.5, mu = 0.9, batch 128,
 * mse loss, 3x3 kernels stride 2 no padding, seed 1, gamma 1, lr 0.01 constant, 5 epochs,
 * augmentation as the architecture has it by default; no dataset. */
void experiment_defaults(bn_experiment *e);

/* Whether an architecture trains on augmented batches unless told otherwise: not the paper's
 * fc and cnn (its Fig. 2 and 3 train on the images as they are); the deep networks of its
 * Fig. 4 as practitioners train them on CIFAR-10. */
int experiment_default_augment(bn_arch arch);

/* Whether the experiment's runs train on augmented batches: its augment, or its
 * architecture's default if not given. */
int experiment_augment(const bn_experiment *e);

/* Fills spec with the network the experiment describes and checks that it fits the
 * dataset's input (a dataset must be named). */
int experiment_model_spec(const bn_experiment *e, bn_model_spec *spec, bn_error *err);

/* The training configuration of a run of the experiment at its gamma and lr, seeded with its
 * seed, on the cores of `cores` (NULL: as trainer_run says). */
bn_train_config experiment_train_config(const bn_experiment *e, bn_core_share *cores);

#endif
