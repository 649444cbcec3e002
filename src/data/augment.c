/* Random crop with padding and horizontal flip of 8-bit images, normalised as they are written
 * (bntrain/augment.h). */
#include "bntrain/augment.h"

#include <stddef.h>
#include <string.h>

void augment_setup(bn_augment *a, const bn_dataset *ds, size_t pad) {
    a->channels = ds->channels;
    a->height = ds->height;
    a->width = ds->width;
    a->pad = pad;
    memcpy(a->normalised, ds->normalised, sizeof a->normalised);
    /* A raw 0 pixel through the table: the padding is bit for bit what a black border in the
     * raw image would have become. */
    for (size_t c = 0; c < ds->channels && c < 3; c++)
        a->pad_value[c] = ds->normalised[c][0];
}

bn_crop augment_draw(const bn_augment *a, bn_rng *rng) {
    bn_crop crop;
    crop.top = rng_below(rng, 2 * a->pad + 1);
    crop.left = rng_below(rng, 2 * a->pad + 1);
    crop.flip = (int)rng_below(rng, 2);
    return crop;
}

/* One row of the crop: source columns left - pad + x (mirrored if flip), padding outside. */
static void crop_row(float *out, const uint8_t *row, size_t width, ptrdiff_t shift, int flip,
                     const float *table, float pad_value) {
    for (size_t x = 0; x < width; x++) {
        ptrdiff_t source = (ptrdiff_t)(flip ? width - 1 - x : x) + shift;
        out[x] = source >= 0 && source < (ptrdiff_t)width ? table[row[source]] : pad_value;
    }
}

void augment_image(const bn_augment *a, bn_crop crop, const uint8_t *in, float *out) {
    size_t h = a->height, w = a->width;
    ptrdiff_t down = (ptrdiff_t)crop.top - (ptrdiff_t)a->pad;
    ptrdiff_t shift = (ptrdiff_t)crop.left - (ptrdiff_t)a->pad;
    for (size_t c = 0; c < a->channels; c++)
        for (size_t y = 0; y < h; y++) {
            float *row_out = out + (c * h + y) * w;
            ptrdiff_t source = (ptrdiff_t)y + down;
            if (source < 0 || source >= (ptrdiff_t)h) {
                for (size_t x = 0; x < w; x++)
                    row_out[x] = a->pad_value[c];
                continue;
            }
            crop_row(row_out, in + (c * h + (size_t)source) * w, w, shift, crop.flip,
                     a->normalised[c], a->pad_value[c]);
        }
}

void augment_gather(const bn_augment *a, bn_rng *rng, const uint8_t *pixels,
                    const size_t *indices, size_t n, float *out) {
    size_t image_values = a->channels * a->height * a->width;
    for (size_t i = 0; i < n; i++) {
        bn_crop crop = augment_draw(a, rng);
        augment_image(a, crop, pixels + indices[i] * image_values, out + i * image_values);
    }
}
