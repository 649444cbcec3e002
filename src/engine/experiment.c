/* An experiment's defaults, and the network specification and training configuration it
 * describes. */
#include "bntrain/experiment.h"

#include <string.h>

#include "bntrain/data.h"

void experiment_defaults(bn_experiment *e) {
    memset(e, 0, sizeof *e);
    e->arch = ARCH_FC;
    e->batchnorm = 1;
    e->kernel = 3;
    e->stride = 2;
    e->padding = 0;
    e->width_mult = 1.0;
    e->init = -1;
    e->sigma_w2 = 2.0;
    e->sigma_b2 = 0.5;
    e->momentum = 0.9;
    e->loss = LOSS_MSE;
    e->batch = 128;
    e->epochs = 5;
    e->seed = 1;
    e->gamma = 1.0;
    e->lr = 0.01;
    e->augment = -1;
    e->lr_schedule = (bn_lr_schedule){.kind = LR_CONSTANT};
}

int experiment_default_augment(bn_arch arch) {
    switch (arch) {
    case ARCH_FC:
    case ARCH_CNN:
        return 0;
    case ARCH_VGG16:
    case ARCH_PREACT_RESNET:
        return 1; /* as the networks' reference training on CIFAR-10 */
    }
    return 0;
}

int experiment_augment(const bn_experiment *e) {
    return e->augment < 0 ? experiment_default_augment(e->arch) : e->augment != 0;
}

int experiment_model_spec(const bn_experiment *e, bn_model_spec *spec, bn_error *err) {
    if (!e->dataset) return bn_fail(err, "the experiment names no dataset");
    size_t c, h, w;
    if (dataset_shape(e->dataset, &c, &h, &w))
        return bn_fail(err, "unknown dataset '%s'", e->dataset);
    if (arch_is_deep(e->arch)) {
        model_spec_deep(spec, e->arch, e->depth, c, h, w);
        spec->batchnorm = e->batchnorm;
        spec->width_mult = e->width_mult;
    } else {
        model_spec_paper(spec, e->arch, c, h, w, e->batchnorm);
        if (e->n_hidden) {
            spec->n_hidden = e->n_hidden;
            memcpy(spec->hidden, e->hidden, sizeof spec->hidden);
        }
        spec->kernel = e->kernel;
        spec->stride = e->stride;
        spec->padding = e->padding;
    }
    if (e->init >= 0) spec->init = (bn_init)e->init;
    return model_spec_check(spec, err);
}

bn_train_config experiment_train_config(const bn_experiment *e, bn_core_share *cores) {
    return (bn_train_config){.loss = e->loss,
                             .gamma = e->gamma,
                             .lr = e->lr,
                             .momentum = e->momentum,
                             .weight_decay = e->weight_decay,
                             .sigma_w2 = e->sigma_w2,
                             .sigma_b2 = e->sigma_b2,
                             .batch = e->batch,
                             .epochs = e->epochs,
                             .seed = e->seed,
                             .cores = cores,
                             .augment = experiment_augment(e),
                             .lr_schedule = e->lr_schedule};
}
