/* Tests of the augmentation (bntrain/augment.h): the padding value of each channel and the
 * dataset's table, every crop and flip of a small hand-made image against the padded image
 * built literally, the offsets at their extremes by hand, the draws' distribution, and the
 * gather's draws in sample order. */
#include <stdlib.h>
#include <string.h>

#include "bntrain/augment.h"
#include "check.h"

/* A 2-channel 3 x 4 image (not square: rows and columns cannot be mixed up), padding 2. */
enum { C = 2, H = 3, W = 4, PAD = 2 };

static void small_augment(bn_augment *a) {
    bn_dataset ds = {.channels = C, .height = H, .width = W};
    ds.channel_mean[0] = 0.25;
    ds.channel_std[0] = 0.5;
    ds.channel_mean[1] = 0.5;
    ds.channel_std[1] = 0.25;
    dataset_set_lookup(&ds);
    augment_setup(a, &ds, PAD);
    /* Bytes that read as themselves, so that every output names its source pixel. */
    for (size_t c = 0; c < C; c++)
        for (size_t v = 0; v < 256; v++)
            a->normalised[c][v] = (float)v;
}

/* Pixel value c * 100 + y * 10 + x: each tells where it came from. */
static void small_image(uint8_t *image) {
    for (size_t c = 0; c < C; c++)
        for (size_t y = 0; y < H; y++)
            for (size_t x = 0; x < W; x++)
                image[(c * H + y) * W + x] = (uint8_t)(c * 100 + y * 10 + x);
}

/* A raw black pixel, normalised: (0 - mean) / std, not 0; the table is the dataset's. */
static void check_padding_value(void) {
    bn_augment a;
    small_augment(&a);
    CHECK(a.pad_value[0] == -0.5f && a.pad_value[1] == -2.0f);
    bn_dataset ds = {.channels = 3, .height = H, .width = W};
    for (size_t c = 0; c < 3; c++) {
        ds.channel_mean[c] = 0.1 * (double)(c + 1);
        ds.channel_std[c] = 0.3;
    }
    dataset_set_lookup(&ds);
    augment_setup(&a, &ds, PAD);
    CHECK(memcmp(a.normalised, ds.normalised, sizeof a.normalised) == 0);
    for (size_t c = 0; c < 3; c++)
        CHECK(a.pad_value[c] == ds.normalised[c][0]);
    small_augment(&a);
    CHECK(a.channels == C && a.height == H && a.width == W && a.pad == PAD);
}

/* torchvision's way, literally: pad with the fill, cut the window at (top, left), mirror. */
static float reference_pixel(const bn_augment *a, const uint8_t *image, bn_crop crop, size_t c,
                             size_t y, size_t x) {
    float padded[C][H + 2 * PAD][W + 2 * PAD];
    for (size_t py = 0; py < H + 2 * PAD; py++)
        for (size_t px = 0; px < W + 2 * PAD; px++) {
            int inside = py >= PAD && py < H + PAD && px >= PAD && px < W + PAD;
            padded[c][py][px] = inside ? a->normalised[c][image[(c * H + py - PAD) * W + px - PAD]]
                                       : a->pad_value[c];
        }
    size_t column = crop.flip ? W - 1 - x : x;
    return padded[c][crop.top + y][crop.left + column];
}

static void check_every_crop(void) {
    bn_augment a;
    small_augment(&a);
    uint8_t image[C * H * W];
    float out[C * H * W];
    small_image(image);
    size_t wrong = 0;
    for (size_t top = 0; top <= 2 * PAD; top++)
        for (size_t left = 0; left <= 2 * PAD; left++)
            for (int flip = 0; flip <= 1; flip++) {
                bn_crop crop = {top, left, flip};
                augment_image(&a, crop, image, out);
                for (size_t c = 0; c < C; c++)
                    for (size_t y = 0; y < H; y++)
                        for (size_t x = 0; x < W; x++)
                            wrong += out[(c * H + y) * W + x] !=
                                     reference_pixel(&a, image, crop, c, y, x);
            }
    CHECK_MSG(wrong == 0, "%zu pixels differ from the padded image's window", wrong);
}

/* The extremes and the centre, by hand (channel 1, padding -2). */
static void check_by_hand(void) {
    bn_augment a;
    small_augment(&a);
    uint8_t image[C * H * W];
    float out[C * H * W], as_floats[C * H * W];
    small_image(image);
    for (size_t k = 0; k < C * H * W; k++)
        as_floats[k] = (float)image[k];
    const float *ch1 = out + H * W;
    const float p = -2.0f;
    /* Top-left window: the image moves down and right by the padding. */
    augment_image(&a, (bn_crop){0, 0, 0}, image, out);
    const float top_left[H * W] = {p, p, p, p, p, p, p, p, p, p, 100, 101};
    CHECK(memcmp(ch1, top_left, sizeof top_left) == 0);
    /* Bottom-right window: up and left. */
    augment_image(&a, (bn_crop){2 * PAD, 2 * PAD, 0}, image, out);
    const float bottom_right[H * W] = {122, 123, p, p, p, p, p, p, p, p, p, p};
    CHECK(memcmp(ch1, bottom_right, sizeof bottom_right) == 0);
    /* Centre: the image itself; flipped, each row reversed. */
    augment_image(&a, (bn_crop){PAD, PAD, 0}, image, out);
    CHECK(memcmp(out, as_floats, sizeof as_floats) == 0);
    augment_image(&a, (bn_crop){PAD, PAD, 1}, image, out);
    const float mirrored[H * W] = {103, 102, 101, 100, 113, 112, 111, 110, 123, 122, 121, 120};
    CHECK(memcmp(ch1, mirrored, sizeof mirrored) == 0);
    /* Flip after the crop: the window one column right of centre, mirrored. */
    augment_image(&a, (bn_crop){PAD, PAD + 1, 1}, image, out);
    const float shifted[H * W] = {p, 103, 102, 101, p, 113, 112, 111, p, 123, 122, 121};
    CHECK(memcmp(ch1, shifted, sizeof shifted) == 0);
    CHECK(out[0] == -0.5f && out[1] == 3.0f);
}

/* The CIFAR-10 recipe's offsets cover 0..8 uniformly and half the crops are mirrored. */
static void check_distribution(void) {
    bn_dataset ds = {.channels = 3, .height = 32, .width = 32};
    for (size_t c = 0; c < 3; c++)
        ds.channel_std[c] = 1.0;
    bn_augment a;
    augment_setup(&a, &ds, BN_AUGMENT_PAD);
    enum { DRAWS = 90000, SIDE = 2 * BN_AUGMENT_PAD + 1 };
    size_t tops[SIDE] = {0}, lefts[SIDE] = {0}, flips = 0, outside = 0;
    bn_rng rng;
    rng_seed(&rng, 5);
    for (size_t i = 0; i < DRAWS; i++) {
        bn_crop crop = augment_draw(&a, &rng);
        if (crop.top >= SIDE || crop.left >= SIDE || (crop.flip != 0 && crop.flip != 1)) {
            outside++;
            continue;
        }
        tops[crop.top]++;
        lefts[crop.left]++;
        flips += (size_t)crop.flip;
    }
    CHECK(outside == 0);
    /* 10000 expected per offset, standard deviation about 94: 5 % is over 5 of them. */
    for (size_t v = 0; v < SIDE; v++)
        CHECK_MSG(tops[v] > 9500 && tops[v] < 10500 && lefts[v] > 9500 && lefts[v] < 10500,
                  "offset %zu: %zu tops, %zu lefts of %d draws", v, tops[v], lefts[v], DRAWS);
    CHECK_MSG(flips > 44000 && flips < 46000, "%zu flips of %d draws", flips, DRAWS);
}

/* augment_gather draws for sample 0 first, then 1, ..., from the images the indices name. */
static void check_gather(void) {
    bn_augment a;
    small_augment(&a);
    enum { N_IMAGES = 3, N = 5 };
    uint8_t images[N_IMAGES][C * H * W];
    float batch[N][C * H * W], expected[C * H * W];
    for (size_t i = 0; i < N_IMAGES; i++) {
        small_image(images[i]);
        for (size_t k = 0; k < C * H * W; k++)
            images[i][k] = (uint8_t)(images[i][k] + 40 * i);
    }
    const size_t indices[N] = {2, 0, 2, 1, 0};
    bn_rng rng, replay;
    rng_seed(&rng, 9);
    rng_seed(&replay, 9);
    augment_gather(&a, &rng, &images[0][0], indices, N, &batch[0][0]);
    for (size_t i = 0; i < N; i++) {
        augment_image(&a, augment_draw(&a, &replay), images[indices[i]], expected);
        CHECK_MSG(memcmp(batch[i], expected, sizeof expected) == 0, "sample %zu", i);
    }
    CHECK(memcmp(&rng, &replay, sizeof rng) == 0);
}

int main(void) {
    check_padding_value();
    check_every_crop();
    check_by_hand();
    check_distribution();
    check_gather();
    return check_summary("test_augment");
}
