/* One training run: initialise, SGD over shuffled mini-batches for some epochs, evaluate on the
 * test set after each epoch, stop at once if the run diverges. A bn_trainer holds every buffer
 * a run needs, allocated once and reused by every run a worker thread does. */
#ifndef BNTRAIN_TRAIN_H
#define BNTRAIN_TRAIN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "bntrain/data.h"
#include "bntrain/error.h"
#include "bntrain/loss.h"
#include "bntrain/model.h"
#include "bntrain/rng.h"
#include "bntrain/schedule.h"

/* Cores shared by the runs in progress (a grid's, or one `bntrain train`): each run's kernels
 * split into cores / runs_in_flight parts (parallel.h), re-read at every step, so that when
 * fewer runs remain than cores the idle cores help the rest instead of waiting for them. The
 * results do not depend on it (gemm.h). */
typedef struct {
    size_t cores;
    _Atomic size_t runs_in_flight;
} bn_core_share;

/* After every step_every-th training step: the step counted from 1 over the whole run, its
 * epoch, the batch's loss before the step, and the model after it (read-only). A non-zero
 * return stops the run (treated as interrupted). */
typedef struct {
    size_t step, epoch;
    double loss;
} bn_step_stats;
typedef int (*bn_step_callback)(const bn_step_stats *stats, const bn_model *model, void *ctx);

typedef struct {
    bn_loss loss;
    double gamma, lr, momentum, weight_decay;
    double sigma_w2, sigma_b2;
    size_t batch, epochs;
    uint64_t seed; /* the run's seed: initial weights and batch order derive from it */
    int evaluate_last_epoch_only; /* grids record only the final test loss: skipping the
                                     earlier evaluations saves a pass over the test set per
                                     epoch (test_loss and test_acc are NaN before the last) */
    bn_core_share *cores;         /* NULL: the calling thread's thread budget
                                     as it is (gemm.h) */
    int augment;                  /* training batches cropped and flipped (bntrain/augment.h:
                                     padding BN_AUGMENT_PAD, the dataset's channel statistics);
                                     the test set never */
    bn_lr_schedule lr_schedule;   /* lr is epoch 1's rate; all zeros: constant */
    bn_step_callback on_step;     /* NULL, or called every step_every steps (bn_step_stats) */
    size_t step_every;
    void *step_ctx;
} bn_train_config;

typedef struct {
    size_t epoch; /* 1-based */
    double lr;    /* the epoch's learning rate (the config's lr_schedule) */
    /* train_loss and train_acc: means over the epoch's steps, in train mode, each batch
     * before its step (as a PyTorch loop that sums loss.item() and correct predictions) */
    double train_loss, train_acc, test_loss, test_acc, seconds;
} bn_epoch_stats;

typedef struct {
    int exploded;          /* loss or parameters became non-finite */
    size_t exploded_epoch; /* 1-based epoch and step within it; 0 if not exploded */
    size_t exploded_step;
    int interrupted;       /* stopped by the caller's flag: an incomplete run, not a result */
    size_t epochs_done;
    bn_epoch_stats last;   /* the last completed epoch (zeros if none) */
    double seconds;        /* wall time of the whole run */
} bn_run_result;

/* Called after each epoch; a non-zero return stops the run (treated as interrupted). */
typedef int (*bn_epoch_callback)(const bn_epoch_stats *stats, void *ctx);

typedef struct {
    bn_model model;
    size_t *order;        /* training-set permutation, reshuffled each epoch */
    size_t n_order;
    float *batch_images;  /* gathered mini-batch */
    uint8_t *batch_labels;
    float *dlogits;
    bn_rng shuffle_rng; /* the batch order's generator, as it is between epochs */
    bn_rng augment_rng; /* the crops' and flips' generator (--augment), likewise */
    size_t epochs_done; /* of the run in progress */
} bn_trainer;

int trainer_create(bn_trainer *t, const bn_model_spec *spec, size_t batch, size_t n_train,
                   bn_error *err);
void trainer_free(bn_trainer *t);
/* Bytes a trainer holds: the model's arenas and the batch buffers (what each grid thread
 * needs on top of the shared dataset). */
size_t trainer_bytes(const bn_trainer *t);
/* trainer_bytes in three parts, for the memory reports: the parameters with their gradients
 * and velocities; the activations (every layer's output for the batch, and its gradient: most
 * of a deep network's memory); and the rest (BatchNorm statistics, gradient scratch, the batch
 * buffers, the batch order). */
typedef struct {
    size_t parameters, activations, other;
} bn_trainer_memory;
bn_trainer_memory trainer_memory(const bn_trainer *t);
/* What trainer_bytes would say of a trainer trainer_create would make, without allocating:
 * to check that the trainers of a run or grid fit in memory before making any. */
int trainer_plan_bytes(const bn_model_spec *spec, size_t batch, size_t n_train, size_t *bytes,
                       bn_error *err);

/* Runs training; stop (may be NULL) is polled between steps. The last partial mini-batch of
 * each epoch (n_train mod batch samples) is dropped: a tiny batch would give BatchNorm noisy
 * statistics; the reshuffle puts those samples in full batches in other epochs. */
void trainer_run(bn_trainer *t, const bn_dataset *ds, const bn_train_config *cfg,
                 bn_epoch_callback on_epoch, void *ctx, volatile sig_atomic_t *stop,
                 bn_run_result *result);

/* trainer_run in two parts, so that a run can resume from a checkpoint (checkpoint.h):
 * trainer_start initialises the model and the batch order from cfg->seed (epochs_done = 0);
 * trainer_continue trains epochs epochs_done + 1 to cfg->epochs. A trainer whose state was
 * saved after epoch e and loaded into a started trainer continues bitwise as the run that
 * never stopped. */
void trainer_start(bn_trainer *t, const bn_train_config *cfg);
void trainer_continue(bn_trainer *t, const bn_dataset *ds, const bn_train_config *cfg,
                      bn_epoch_callback on_epoch, void *ctx, volatile sig_atomic_t *stop,
                      bn_run_result *result);
/* Independent runs spread over threads, as a grid's and the curves' are: `threads` threads take
 * items 0..n_items-1 one at a time, each thread making its trainer (for spec, batch, n_train)
 * when it gets its first item and calling run(ctx, trainer, item). While there are more runs
 * than threads each run is single-threaded; at the tail (or with fewer runs than threads from
 * the start) a run's kernels split into tasks (bn_core_share, parallel.h) that the threads
 * without a run take from the loop's closing barrier; the results are the same bits either
 * way. cores is reset to `threads` cores and no run in flight. A trainer that cannot be made is
 * reported once per thread through failed(ctx, err), serialised; run decides itself whether to
 * go on (a stop flag, an earlier failure). */
typedef void (*bn_pool_run)(void *ctx, bn_trainer *t, size_t item);
typedef void (*bn_pool_failed)(void *ctx, const bn_error *err);
void trainer_pool_run(bn_core_share *cores, size_t threads, const bn_model_spec *spec,
                      size_t batch, size_t n_train, size_t n_items, bn_pool_run run,
                      bn_pool_failed failed, void *ctx);

/* Eval-mode mean loss and accuracy over a split of ds, in chunks of the trainer's batch size,
 * each normalised into the trainer's batch buffer first. */
void trainer_evaluate(bn_trainer *t, const bn_dataset *ds, const bn_split *split, bn_loss loss,
                      double *mean_loss, double *accuracy);

/* Streams of randomness derived from a run's seed, so that init, batch order and augmentation
 * are independent of each other. */
uint64_t train_stream_seed(uint64_t run_seed, uint64_t stream);

#endif
