/* Data augmentation of training images as practitioners train CIFAR-10, torchvision's
 *   Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), ToTensor(), Normalize(m, s)])
 * applied to the 8-bit images bntrain holds, normalised on the way out by the dataset's lookup
 * table: the padding is a raw pixel 0 (black), which is (0 - mean_c) / std_c in channel c once
 * normalised, not a normalised 0; the crop's
 * top and left offsets are uniform in [0, 2 pad] and the crop is then mirrored left to right
 * with probability 1/2, drawn in that order as torchvision draws them. The crop has the
 * image's own size. The draws come from the caller's generator, one sample after another in
 * sample order, so a batch's crops depend only on the generator, never on threads. */
#ifndef BNTRAIN_AUGMENT_H
#define BNTRAIN_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/data.h"
#include "bntrain/rng.h"

/* torchvision's RandomCrop(32, padding=4) of the CIFAR-10 recipe. */
#define BN_AUGMENT_PAD 4

typedef struct {
    size_t channels, height, width;
    size_t pad;
    float normalised[3][256]; /* the dataset's lookup table (data.h), copied */
    float pad_value[3]; /* per channel: a raw 0 pixel, normalised as the dataset's pixels are */
} bn_augment;

/* Where one sample's crop starts in the padded image, and whether it is mirrored. */
typedef struct {
    size_t top, left; /* in [0, 2 pad] */
    int flip;
} bn_crop;

/* The augmentation of ds's images (their shape and channel statistics) with padding pad. */
void augment_setup(bn_augment *a, const bn_dataset *ds, size_t pad);

/* One sample's draws: top, then left, uniform in [0, 2 pad], then the flip with probability
 * 1/2. */
bn_crop augment_draw(const bn_augment *a, bn_rng *rng);

/* Writes crop of the image in (C x H x W bytes) into out (the same shape, normalised floats):
 * out's pixel (y, x) is the padded image's (top + y, left + x), or (top + y, left + W - 1 - x)
 * if flipped. Cropping the bytes and then normalising gives the very floats that normalising
 * and then cropping would: each output value is one table entry either way. */
void augment_image(const bn_augment *a, bn_crop crop, const uint8_t *in, float *out);

/* Gathers a mini-batch into out (n x C x H x W): image indices[i] of pixels, each cropped by
 * a crop drawn for it, sample 0 first. */
void augment_gather(const bn_augment *a, bn_rng *rng, const uint8_t *pixels,
                    const size_t *indices, size_t n, float *out);

#endif
