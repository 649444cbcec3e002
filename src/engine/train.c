/* The training loop of one run. Nothing here allocates after trainer_create. */
#include "bntrain/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bntrain/augment.h"
#include "bntrain/loss.h"
#include "bntrain/optim.h"
#include "bntrain/rng.h"
#include "base/runtime.h"
#include "engine/parallel.h"

enum { STREAM_INIT = 1, STREAM_SHUFFLE = 2, STREAM_AUGMENT = 3 };

uint64_t train_stream_seed(uint64_t run_seed, uint64_t stream) {
    return rng_mix(rng_mix(run_seed) ^ (stream * 0xd1b54a32d192ed03ULL));
}

int trainer_create(bn_trainer *t, const bn_model_spec *spec, size_t batch, size_t n_train,
                   bn_error *err) {
    memset(t, 0, sizeof *t);
    if (model_create(&t->model, spec, batch, err)) return -1;
    size_t input_size = model_input_size(&t->model), image_floats, logit_floats;
    if (bn_mul_size(batch, input_size, &image_floats) ||
        bn_mul_size(batch, spec->n_classes, &logit_floats)) {
        trainer_free(t);
        return bn_fail(err, "batch size %zu is too large", batch);
    }
    t->n_order = n_train;
    t->order = malloc((n_train ? n_train : 1) * sizeof *t->order);
    t->batch_images = malloc(image_floats * sizeof *t->batch_images);
    t->batch_labels = malloc(batch);
    t->dlogits = malloc(logit_floats * sizeof *t->dlogits);
    if (!t->order || !t->batch_images || !t->batch_labels || !t->dlogits) {
        trainer_free(t);
        return bn_fail(err, "out of memory for the training buffers");
    }
    return 0;
}

void trainer_free(bn_trainer *t) {
    model_free(&t->model);
    free(t->order);
    free(t->batch_images);
    free(t->batch_labels);
    free(t->dlogits);
    memset(t, 0, sizeof *t);
}

bn_trainer_memory trainer_memory(const bn_trainer *t) {
    const bn_model *m = &t->model;
    size_t other_floats = m->n_buffers + m->n_stats + m->n_grad_scratch +
                          m->max_batch * (model_input_size(m) + m->spec.n_classes);
    return (bn_trainer_memory){
        .parameters = 3 * m->n_params * sizeof(float),
        .activations = 2 * m->n_acts * sizeof(float),
        .other = other_floats * sizeof(float) + m->max_batch + t->n_order * sizeof *t->order};
}

size_t trainer_bytes(const bn_trainer *t) {
    bn_trainer_memory b = trainer_memory(t);
    return b.parameters + b.activations + b.other;
}

int trainer_plan_bytes(const bn_model_spec *spec, size_t batch, size_t n_train, size_t *bytes,
                       bn_error *err) {
    bn_trainer plan = {.n_order = n_train};
    if (model_plan(&plan.model, spec, batch, err)) return -1;
    *bytes = trainer_bytes(&plan);
    model_free(&plan.model);
    return 0;
}

/* Gathers the mini-batch into the trainer's buffers, normalised, each image cropped and flipped
 * with draws from augment_rng if augment is not NULL. */
static void gather_batch(bn_trainer *t, const bn_dataset *ds, const size_t *indices, size_t n,
                         const bn_augment *augment, bn_rng *augment_rng) {
    for (size_t i = 0; i < n; i++) t->batch_labels[i] = ds->train.labels[indices[i]];
    if (augment)
        augment_gather(augment, augment_rng, ds->train.pixels, indices, n, t->batch_images);
    else
        dataset_gather(ds, &ds->train, indices, n, t->batch_images);
}

void trainer_evaluate(bn_trainer *t, const bn_dataset *ds, const bn_split *split, bn_loss loss,
                      double *mean_loss, double *accuracy) {
    double loss_sum = 0.0;
    size_t n_correct = 0, chunk = t->model.max_batch;
    for (size_t start = 0; start < split->n; start += chunk) {
        size_t n = split->n - start < chunk ? split->n - start : chunk;
        dataset_normalise(ds, split, start, n, t->batch_images);
        const float *logits = model_forward(&t->model, t->batch_images, n, 0);
        loss_eval(loss, logits, split->labels + start, n, ds->n_classes, &loss_sum, &n_correct);
    }
    *mean_loss = split->n ? loss_sum / (double)split->n : NAN;
    *accuracy = split->n ? (double)n_correct / (double)split->n : NAN;
}

/* One SGD step at rate lr on the gathered batch, counting its correct predictions (train
 * mode, before the step) into n_correct; returns 0, or -1 if the loss or parameters are no
 * longer finite. */
static int train_step(bn_trainer *t, const bn_train_config *cfg, double lr, size_t n,
                      double *loss, size_t *n_correct) {
    bn_model *m = &t->model;
    const float *logits = model_forward(m, t->batch_images, n, 1);
    *loss = loss_forward_backward(cfg->loss, t->dlogits, logits, t->batch_labels, n,
                                  m->spec.n_classes);
    if (!isfinite(*loss)) return -1;
    double unused_loss_sum = 0.0;
    loss_eval(cfg->loss, logits, t->batch_labels, n, m->spec.n_classes, &unused_loss_sum,
              n_correct);
    int non_finite = model_backward_sgd(m, t->batch_images, t->dlogits, n, (float)lr,
                                        (float)cfg->momentum, (float)cfg->weight_decay);
    return non_finite ? -1 : 0;
}

/* cfg->on_step after every step_every-th step (global_step from 1); its verdict. */
static int step_callback(const bn_train_config *cfg, const bn_model *model, size_t epoch,
                         size_t global_step, double loss) {
    if (!cfg->on_step || !cfg->step_every || global_step % cfg->step_every) return 0;
    bn_step_stats stats = {.step = global_step, .epoch = epoch, .loss = loss};
    return cfg->on_step(&stats, model, cfg->step_ctx);
}

/* This run's share of the cores for the next step. */
static void take_core_share(bn_core_share *share) {
    if (!share) return;
    size_t runs = share->runs_in_flight;
    parallel_set_threads(share->cores / (runs ? runs : 1));
}

static void mark_exploded(bn_run_result *r, size_t epoch, size_t step) {
    r->exploded = 1;
    r->exploded_epoch = epoch;
    r->exploded_step = step;
}

void trainer_start(bn_trainer *t, const bn_train_config *cfg) {
    bn_rng init_rng;
    rng_seed(&init_rng, train_stream_seed(cfg->seed, STREAM_INIT));
    rng_seed(&t->shuffle_rng, train_stream_seed(cfg->seed, STREAM_SHUFFLE));
    rng_seed(&t->augment_rng, train_stream_seed(cfg->seed, STREAM_AUGMENT));
    model_init(&t->model, cfg->gamma, cfg->sigma_w2, cfg->sigma_b2, &init_rng);
    for (size_t i = 0; i < t->n_order; i++) t->order[i] = i;
    t->epochs_done = 0;
}

void trainer_run(bn_trainer *t, const bn_dataset *ds, const bn_train_config *cfg,
                 bn_epoch_callback on_epoch, void *ctx, volatile sig_atomic_t *stop,
                 bn_run_result *result) {
    trainer_start(t, cfg);
    trainer_continue(t, ds, cfg, on_epoch, ctx, stop, result);
}

void trainer_continue(bn_trainer *t, const bn_dataset *ds, const bn_train_config *cfg,
                      bn_epoch_callback on_epoch, void *ctx, volatile sig_atomic_t *stop,
                      bn_run_result *result) {
    double run_start = wall_seconds();
    if (cfg->cores) cfg->cores->runs_in_flight++;
    memset(result, 0, sizeof *result);
    result->epochs_done = t->epochs_done;
    bn_augment augment;
    augment_setup(&augment, ds, BN_AUGMENT_PAD);
    size_t n_train = ds->train.n;
    if (n_train > t->n_order) n_train = t->n_order;
    size_t steps = cfg->batch ? n_train / cfg->batch : 0;

    for (size_t epoch = t->epochs_done + 1; epoch <= cfg->epochs && !result->exploded; epoch++) {
        double epoch_start = wall_seconds(), loss_sum = 0.0;
        double lr = lr_schedule_at(&cfg->lr_schedule, cfg->lr, epoch, cfg->epochs);
        size_t n_correct = 0;
        rng_shuffle(&t->shuffle_rng, t->order, n_train);
        for (size_t step = 0; step < steps; step++) {
            if (stop && *stop) {
                result->interrupted = 1;
                goto done;
            }
            double loss;
            take_core_share(cfg->cores);
            gather_batch(t, ds, t->order + step * cfg->batch, cfg->batch,
                         cfg->augment ? &augment : NULL, &t->augment_rng);
            if (train_step(t, cfg, lr, cfg->batch, &loss, &n_correct)) {
                mark_exploded(result, epoch, step + 1);
                goto done;
            }
            loss_sum += loss;
            if (step_callback(cfg, &t->model, epoch, (epoch - 1) * steps + step + 1, loss)) {
                result->interrupted = 1;
                goto done;
            }
        }
        double n_seen = (double)(steps * cfg->batch);
        bn_epoch_stats stats = {.epoch = epoch, .lr = lr,
                                .train_loss = steps ? loss_sum / steps : NAN,
                                .train_acc = steps ? (double)n_correct / n_seen : NAN,
                                .test_loss = NAN, .test_acc = NAN};
        take_core_share(cfg->cores);
        if (!cfg->evaluate_last_epoch_only || epoch == cfg->epochs)
            trainer_evaluate(t, ds, &ds->test, cfg->loss, &stats.test_loss, &stats.test_acc);
        stats.seconds = wall_seconds() - epoch_start;
        t->epochs_done = epoch;
        result->epochs_done = epoch;
        result->last = stats;
        /* Eval mode uses the running statistics, which can overflow on their own. */
        if (isnan(stats.test_loss) && !isnan(stats.test_acc)) mark_exploded(result, epoch, steps);
        if (isinf(stats.test_loss)) mark_exploded(result, epoch, steps);
        if (on_epoch && on_epoch(&stats, ctx)) {
            result->interrupted = !result->exploded;
            break;
        }
    }
done:
    if (cfg->cores) cfg->cores->runs_in_flight--;
    result->seconds = wall_seconds() - run_start;
}

void trainer_pool_run(bn_core_share *cores, size_t threads, const bn_model_spec *spec,
                      size_t batch, size_t n_train, size_t n_items, bn_pool_run run,
                      bn_pool_failed failed, void *ctx) {
    if (n_items == 0) return;
    cores->cores = threads;
    cores->runs_in_flight = 0;
#pragma omp parallel num_threads((int)threads)
    {
        bn_trainer trainer;
        bn_error err;
        int state = 0; /* 0: no trainer yet, 1: ready, -1: could not be made */
#pragma omp for schedule(dynamic, 1)
        for (size_t i = 0; i < n_items; i++) {
            if (state == 0) {
                state = trainer_create(&trainer, spec, batch, n_train, &err) == 0 ? 1 : -1;
                if (state < 0) {
#pragma omp critical(trainer_pool_failed)
                    failed(ctx, &err);
                }
            }
            if (state > 0) run(ctx, &trainer, i);
        }
        if (state > 0) trainer_free(&trainer);
    }
}
