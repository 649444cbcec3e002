/* A run's state between two epochs, on disk, so that a killed run resumes bitwise where it
 * stopped: the model's parameters, momentum buffers and BatchNorm running statistics, the
 * batch order and its generator, and the number of epochs done; tied to the configuration
 * (an identity hash the caller gives) and to the run (its seed), with a checksum over all of
 * it.
 *
 * Format (native byte order, little-endian on every machine bntrain targets): "BNTRCKPT",
 * u32 version (1), u32 0, u64 identity, seed, epochs_done, n_params, n_buffers, n_order,
 * u64 shuffle_rng[4], u64 augment_rng[4], float params[n_params], float velocity[n_params], float
 * buffers[n_buffers], u64 order[n_order], u64 FNV-1a 64 of every byte before it. */
#ifndef BNTRAIN_CHECKPOINT_H
#define BNTRAIN_CHECKPOINT_H

#include <stdint.h>

#include "bntrain/error.h"
#include "bntrain/train.h"

/* Writes the trainer's state atomically (temp file, fsync, rename, fsync of the folder): a
 * kill at any moment leaves the previous checkpoint or this one. */
int checkpoint_save(const char *path, const bn_trainer *t, uint64_t identity, uint64_t seed,
                    bn_error *err);

/* Loads a checkpoint into a trainer made for the same network (trainer_start'ed or not): 0
 * loaded, 1 there is none at path (the run starts from its beginning), -1 refused, with err
 * naming the file and what is wrong: not a checkpoint, cut short, checksum mismatch, another
 * configuration or run, another network shape. A refused checkpoint leaves the trainer's
 * state undefined: start it again. */
int checkpoint_load(const char *path, bn_trainer *t, uint64_t identity, uint64_t seed,
                    bn_error *err);

#endif
