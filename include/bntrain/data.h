/* Datasets: MNIST, Fashion-MNIST (IDX, gzip or raw) and CIFAR-10 (binary batches, from the
 * extracted folder or the official tar.gz). Images are held once, as float NCHW, scaled to
 * [0, 1] and then normalised per channel to mean 0, variance 1 with training-set statistics. */
#ifndef BNTRAIN_DATA_H
#define BNTRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/error.h"

typedef struct {
    size_t n;            /* number of images */
    float *images;       /* n * channels * height * width, NCHW, normalised */
    uint8_t *labels;     /* n labels in [0, n_classes) */
} bn_split;

typedef struct {
    char name[32];       /* "mnist", "fashion-mnist", "cifar10", "mnist-sample" */
    size_t channels, height, width;
    size_t n_classes;    /* 10 for every supported dataset */
    bn_split train, test;
    double channel_mean[3]; /* training-set statistics of the [0, 1] pixels, per channel */
    double channel_std[3];
} bn_dataset;

/* Names accepted by dataset_load, NULL-terminated, for help texts and option checks. */
extern const char *const bn_dataset_names[];
int dataset_name_known(const char *name);

/* Image shape of a known dataset without loading it (for theory and config checks).
 * Returns -1 if the name is unknown. */
int dataset_shape(const char *name, size_t *channels, size_t *height, size_t *width);

/* The data root: data_dir if not NULL, else $BNTRAIN_DATA, else "data". */
const char *dataset_root(const char *data_dir);

/* Loads dataset `name` from its folder under the root (data_dir as in dataset_root).
 * Fashion-MNIST falls back to /usr/share/datasets/fashion-mnist. On failure returns -1 with
 * one line in err naming the file and what is wrong; ds is then empty (safe to free). */
int dataset_load(bn_dataset *ds, const char *name, const char *data_dir, bn_error *err);

/* Keeps the first n training images (n = 0 or n >= train.n keeps all). The normalisation
 * statistics stay those of the full training set. */
void dataset_truncate_train(bn_dataset *ds, size_t n);

void dataset_free(bn_dataset *ds);

/* Lower-level readers, exposed for tests. Each reads the whole file (gzip or raw, detected
 * from the content), checks magic, dimensions, counts and every label, and returns raw bytes
 * that the caller frees. */
int idx_read_images(const char *path, uint8_t **pixels, size_t *n, size_t *rows, size_t *cols,
                    bn_error *err);
int idx_read_labels(const char *path, uint8_t **labels, size_t *n, bn_error *err);

#endif
