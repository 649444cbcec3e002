/* Datasets: MNIST, Fashion-MNIST (IDX, gzip or raw) and CIFAR-10 (binary batches, from the
 * extracted folder or the official tar.gz). Images are held once, as their 8-bit pixels NCHW
 * (a quarter of float: CIFAR-10 is 184 MB, not 737), and normalised when a batch is gathered:
 * scaled to [0, 1], then per channel to mean 0, variance 1 with training-set statistics, by a
 * lookup table of the 256 values each channel can take. */
#ifndef BNTRAIN_DATA_H
#define BNTRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/error.h"

typedef struct {
    size_t n;            /* number of images */
    uint8_t *pixels;     /* n * channels * height * width, NCHW, raw bytes */
    uint8_t *labels;     /* n labels in [0, n_classes) */
} bn_split;

typedef struct {
    char name[32];       /* "mnist", "fashion-mnist", "cifar10", "mnist-sample" */
    size_t channels, height, width;
    size_t n_classes;    /* 10 for every supported dataset */
    bn_split train, test;
    double channel_mean[3]; /* training-set statistics of the [0, 1] pixels, per channel */
    double channel_std[3];
    /* normalised[c][v]: what byte v of channel c stands for, (v / 255 - mean) / std computed
     * in double and rounded to float once (dataset_set_lookup) */
    float normalised[3][256];
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

/* Fills ds->normalised from ds->channel_mean and channel_std (for ds->channels channels). */
void dataset_set_lookup(bn_dataset *ds);

/* Normalises images [first, first + n) of split into out (n x C x H x W floats). */
void dataset_normalise(const bn_dataset *ds, const bn_split *split, size_t first, size_t n,
                       float *out);

/* Normalises the images split's indices[0..n) name into out (n x C x H x W floats). */
void dataset_gather(const bn_dataset *ds, const bn_split *split, const size_t *indices, size_t n,
                    float *out);

/* A float copy of images [first, first + n) of split, normalised, for the code that reads a
 * whole sample as one array (probe, Fisher, theory --check); the caller frees it. NULL with one
 * line in err when out of memory. */
float *dataset_float_copy(const bn_dataset *ds, const bn_split *split, size_t first, size_t n,
                          bn_error *err);

/* Lower-level readers, exposed for tests. Each reads the whole file (gzip or raw, detected
 * from the content), checks magic, dimensions, counts and every label, and returns raw bytes
 * that the caller frees. */
int idx_read_images(const char *path, uint8_t **pixels, size_t *n, size_t *rows, size_t *cols,
                    bn_error *err);
int idx_read_labels(const char *path, uint8_t **labels, size_t *n, bn_error *err);

#endif
