/* The layers the deep networks add (issue 21): 2 x 2 max-pooling, global average pooling and
 * the residual addition. Finite differences of each backward pass (finite_diff.h), the
 * max-pooling's tie and NaN rule and its odd sides by hand, two residual blocks built as
 * residual.h says a model builds them (an identity shortcut, and a 1 x 1, stride 2 projection
 * beside a 3 x 3, stride 2 branch), and every layer on 1, 2 and 3 threads, bitwise. Parity with
 * PyTorch for the same layers and the no-bias convolutions: test_parity.c. */
#include <stdlib.h>
#include <string.h>

#include "bntrain/layers.h"
#include "bntrain/rng.h"
#include "base/cpu.h"
#include "check.h"
#include "engine/parallel.h"
#include "finite_diff.h"

static bn_rng rng;

static float *random_floats(size_t n, double scale) {
    float *x = malloc(n * sizeof *x);
    randomize_from(&rng, x, n, scale);
    return x;
}

/* ---- max-pooling ---- */

typedef struct {
    size_t planes, height, width;
    float *in, *out, *probe;
} pool_case;

static size_t pooled_floats(const pool_case *c) {
    return c->planes * maxpool_out_size(c->height) * maxpool_out_size(c->width);
}

static double maxpool_probe(void *ctx) {
    pool_case *c = ctx;
    maxpool_forward(c->out, c->in, c->planes, c->height, c->width);
    return dot(c->out, c->probe, pooled_floats(c));
}

static void check_maxpool_gradient(size_t planes, size_t height, size_t width) {
    pool_case c = {planes, height, width, NULL, NULL, NULL};
    size_t n = planes * height * width, no = pooled_floats(&c);
    c.in = random_floats(n, 1), c.probe = random_floats(no, 1), c.out = malloc(no * 4);
    float *din = malloc(n * 4);
    maxpool_forward(c.out, c.in, planes, height, width);
    maxpool_backward(din, c.probe, c.in, planes, height, width);
    CHECK_MSG(fd_error(maxpool_probe, &c, c.in, din, n) < FD_TOL, "maxpool d/din %zux%zu", height,
              width);
    free(c.in), free(c.probe), free(c.out), free(din);
}

/* PyTorch's rule (maxpool.h), checked against torch 1.13 by hand and by the parity fixture: a
 * tie goes to the first element in scan order, a NaN wins, the last of several NaNs. */
static void test_maxpool_ties(void) {
    const float nan = NAN;
    /* plane 0: ties in every window; plane 1: a NaN top-left, and two NaNs at the bottom (one
     * line per row of the two 4 x 4 planes) */
    /* clang-format off */
    const float in[2 * 16] = {1,   1, 2,   2,
                              1,   1, 2,   2,
                              0,   3, 5,   5,
                              3,   0, 5,   5,
                              nan, 1, 0,   4,
                              2,   3, 1,   7,
                              0,   1, 1,   2,
                              0,   0, nan, nan};
    /* clang-format on */
    float out[8], din[32], dout[8] = {10, 20, 30, 40, 50, 60, 70, 80};
    maxpool_forward(out, in, 2, 4, 4);
    maxpool_backward(din, dout, in, 2, 4, 4);
    const float want_out[4] = {1, 2, 3, 5};
    const float want_din[16] = {10, 0, 20, 0, 0, 0, 0, 0, 0, 30, 40, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < 4; i++)
        CHECK_MSG(out[i] == want_out[i], "tie window %zu", i);
    for (size_t i = 0; i < 16; i++)
        CHECK_MSG(din[i] == want_din[i], "tie din[%zu] = %g", i, din[i]);
    CHECK(isnan(out[4]) && out[5] == 7 && out[6] == 1 && isnan(out[7]));
    CHECK(din[16] == 50 && din[17] == 0 && din[20] == 0 && din[21] == 0); /* the NaN took it */
    CHECK(din[16 + 7] == 60 && din[16 + 9] == 70);
    CHECK(din[16 + 14] == 0 && din[16 + 15] == 80); /* the last of two NaNs */
}

/* The AVX-512 backward pass (16 windows at a time, masked at a row's end) against the portable
 * one, bitwise, on rows of 1 to 37 windows with ties, NaNs and signed zeros. */
static void test_maxpool_levels(void) {
    for (size_t w = 2; w <= 74; w += 8) {
        size_t h = 4, planes = 3, n = planes * h * w, outs = planes * (h / 2) * (w / 2);
        float *in = random_floats(n, 1), *dout = random_floats(outs, 1);
        float *din_fast = malloc(n * sizeof(float)), *din_portable = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i += 7) in[i] = in[i + 1 < n ? i + 1 : i]; /* ties */
        for (size_t i = 3; i < n; i += 23) in[i] = NAN;
        for (size_t i = 5; i < n; i += 29) in[i] = -0.0f, in[i - 1] = 0.0f;
        int best = cpu_limit_isa(CPU_ISA_AVX512);
        maxpool_backward(din_fast, dout, in, planes, h, w);
        cpu_limit_isa(CPU_ISA_PORTABLE);
        maxpool_backward(din_portable, dout, in, planes, h, w);
        cpu_limit_isa(best);
        CHECK_MSG(memcmp(din_fast, din_portable, n * sizeof(float)) == 0,
                  "maxpool backward, width %zu: CPU levels bitwise alike", w);
        free(in), free(dout), free(din_fast), free(din_portable);
    }
}

/* Odd sides are rounded down: the last row and column are never read, and their gradient is
 * written as 0 (din starts as garbage here). */
static void test_maxpool_odd(void) {
    CHECK(maxpool_out_size(7) == 3 && maxpool_out_size(8) == 4 && maxpool_out_size(1) == 0);
    size_t h = 5, w = 7, n = 3 * h * w;
    float *in = random_floats(n, 1), din[3 * 5 * 7], out[3 * 2 * 3], dout[3 * 2 * 3];
    for (size_t i = 0; i < n; i++)
        din[i] = 99.0f;
    for (size_t i = 0; i < 18; i++)
        dout[i] = 1.0f + (float)i;
    /* a huge value in the unread row and column must not be picked */
    for (size_t p = 0; p < 3; p++)
        in[p * h * w + 4 * w + 1] = in[p * h * w + 6] = 1e30f;
    maxpool_forward(out, in, 3, h, w);
    maxpool_backward(din, dout, in, 3, h, w);
    double routed = 0.0;
    for (size_t p = 0; p < 3; p++)
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++) {
                float g = din[(p * h + y) * w + x];
                if (y == 4 || x == 6) CHECK_MSG(g == 0.0f, "odd side din (%zu, %zu) = %g", y, x, g);
                routed += g;
            }
    CHECK(routed == 171.0); /* every window's dout went somewhere, once: 1 + ... + 18 */
    for (size_t i = 0; i < 18; i++)
        CHECK(out[i] < 1e30f);
    free(in);
}

/* ---- global average pooling ---- */

typedef struct {
    size_t batch, channels, pixels;
    float *in, *out, *probe;
} avgpool_case;

static double avgpool_probe(void *ctx) {
    avgpool_case *c = ctx;
    global_avgpool_forward(c->out, c->in, c->batch, c->channels, c->pixels);
    return dot(c->out, c->probe, c->batch * c->channels);
}

static void check_avgpool(size_t batch, size_t channels, size_t pixels) {
    avgpool_case c = {batch, channels, pixels, NULL, NULL, NULL};
    size_t n = batch * channels * pixels, no = batch * channels;
    c.in = random_floats(n, 1), c.probe = random_floats(no, 1), c.out = malloc(no * 4);
    float *din = malloc(n * 4);
    global_avgpool_forward(c.out, c.in, batch, channels, pixels);
    double worst = 0.0;
    for (size_t ch = 0; ch < channels; ch++)
        for (size_t s = 0; s < batch; s++) {
            double sum = 0.0;
            for (size_t p = 0; p < pixels; p++)
                sum += c.in[(ch * batch + s) * pixels + p];
            worst = fmax(worst, fabs(sum / (double)pixels - c.out[s * channels + ch]));
        }
    CHECK_MSG(worst < 1e-6, "global average pooling: mean off by %g", worst);
    global_avgpool_backward(din, c.probe, batch, channels, pixels);
    CHECK(din[(2 * batch + 1) * pixels + pixels - 1] == c.probe[channels + 2] / (float)pixels);
    CHECK_MSG(fd_error(avgpool_probe, &c, c.in, din, n) < FD_TOL, "avgpool d/din");
    free(c.in), free(c.probe), free(c.out), free(din);
}

/* ---- residual blocks ---- */

/* A pre-activation block without its BatchNorms: y = relu(x), out = conv_b(y) + shortcut, where
 * the shortcut is x itself or a projection conv_p(y), all channel-major, no biases. */
typedef struct {
    size_t batch;
    conv_shape branch, projection;
    int projected;
    float *x, *y, *w_branch, *w_projection, *z, *z_projection, *out, *probe;
} block_case;

static size_t block_in_floats(const block_case *c) {
    return c->batch * c->branch.in_channels * c->branch.in_height * c->branch.in_width;
}

static size_t block_out_floats(const block_case *c) {
    return c->batch * c->branch.out_channels * c->branch.out_height * c->branch.out_width;
}

static double block_probe(void *ctx) {
    block_case *c = ctx;
    relu_forward(c->y, c->x, block_in_floats(c));
    conv_forward(c->z, c->y, 1, c->w_branch, NULL, &c->branch, c->batch);
    const float *shortcut = c->x;
    if (c->projected) {
        conv_forward(c->z_projection, c->y, 1, c->w_projection, NULL, &c->projection, c->batch);
        shortcut = c->z_projection;
    }
    residual_forward(c->out, c->z, shortcut, block_out_floats(c));
    return dot(c->out, c->probe, block_out_floats(c));
}

static conv_shape conv_geometry(size_t in_channels, size_t side, size_t out_channels, size_t kernel,
                                size_t stride, size_t padding) {
    size_t out = conv_out_size(side, kernel, stride, padding);
    return (conv_shape){in_channels, side, side, out_channels, out, out, kernel, stride, padding};
}

/* The backward pass as residual.h prescribes: the branch takes dout as it is; the saved
 * buffer's gradient is written by its first consumer in the branch and then added to by
 * residual_backward (dx for the identity, dy, before the ReLU's backward, for a projection). */
static void check_block(size_t channels, size_t side, int projected) {
    block_case c = {.batch = 3, .projected = projected};
    size_t out_channels = projected ? 2 * channels : channels, stride = projected ? 2 : 1;
    c.branch = conv_geometry(channels, side, out_channels, 3, stride, 1);
    c.projection = conv_geometry(channels, side, out_channels, 1, 2, 0);
    size_t n = block_in_floats(&c), no = block_out_floats(&c);
    size_t nb = out_channels * channels * 9, np = out_channels * channels;
    c.x = random_floats(n, 1), c.w_branch = random_floats(nb, 0.5);
    c.w_projection = random_floats(np, 0.5), c.probe = random_floats(no, 1);
    /* x at least 0.02 from the ReLU's kink, so that the differences (steps up to 0.01) stay on
     * one side of it (one of the first draws was 6e-5 from it) */
    for (size_t i = 0; i < n; i++)
        c.x[i] += copysignf(0.02f, c.x[i]);
    c.y = malloc(n * 4), c.z = malloc(no * 4), c.z_projection = malloc(no * 4);
    c.out = malloc(no * 4);
    float *dx = malloc(n * 4), *dy = malloc(n * 4), *dy_projection = malloc(n * 4);
    float *dw_branch = malloc(nb * 4), *dw_projection = malloc(np * 4);
    block_probe(&c);
    conv_backward(dy, dw_branch, NULL, c.probe, c.y, 1, c.w_branch, &c.branch, c.batch, 0);
    if (projected) {
        conv_backward(dy_projection, dw_projection, NULL, c.probe, c.y, 1, c.w_projection,
                      &c.projection, c.batch, 0);
        residual_backward(dy, dy_projection, n);
    }
    relu_backward(dx, dy, c.y, n);
    if (!projected) residual_backward(dx, c.probe, n);
    const char *kind = projected ? "projection" : "identity";
    CHECK_MSG(fd_error(block_probe, &c, c.x, dx, n) < FD_TOL, "%s block d/dx", kind);
    CHECK_MSG(fd_error(block_probe, &c, c.w_branch, dw_branch, nb) < FD_TOL, "%s block d/dW", kind);
    if (projected)
        CHECK_MSG(fd_error(block_probe, &c, c.w_projection, dw_projection, np) < FD_TOL,
                  "projection block d/dW of the shortcut");
    free(c.x), free(c.y), free(c.w_branch), free(c.w_projection), free(c.z);
    free(c.z_projection), free(c.out), free(c.probe);
    free(dx), free(dy), free(dy_projection), free(dw_branch), free(dw_projection);
}

static void test_residual_values(void) {
    float a[5] = {1, -2, 0.5f, 3, 1e-8f}, b[5] = {0.25f, 2, -1, 4, 1}, out[5],
          g[5] = {1, 1, 1, 1, 1};
    residual_forward(out, a, b, 5);
    for (size_t i = 0; i < 5; i++)
        CHECK(out[i] == a[i] + b[i]);
    residual_forward(a, a, b, 5); /* in place: out may be an operand */
    CHECK(memcmp(a, out, sizeof out) == 0);
    residual_backward(g, b, 5);
    for (size_t i = 0; i < 5; i++)
        CHECK(g[i] == 1.0f + b[i]);
}

/* ---- threads ---- */

/* Each layer's forward and backward outputs, concatenated, for one thread budget. */
typedef void (*layer_run_fn)(float *result, const float *in, const float *dout);

#define THREAD_PLANES 128 /* 32 channels x 4 samples */
#define THREAD_SIDE 16    /* 128 planes of 16 x 16: 32768 floats, enough for loop_parts to split */
#define THREAD_FLOATS (THREAD_PLANES * THREAD_SIDE * THREAD_SIDE)
#define THREAD_POOLED (THREAD_PLANES * (THREAD_SIDE / 2) * (THREAD_SIDE / 2))

static void run_maxpool(float *result, const float *in, const float *dout) {
    maxpool_forward(result, in, THREAD_PLANES, THREAD_SIDE, THREAD_SIDE);
    maxpool_backward(result + THREAD_POOLED, dout, in, THREAD_PLANES, THREAD_SIDE, THREAD_SIDE);
}

static void run_avgpool(float *result, const float *in, const float *dout) {
    global_avgpool_forward(result, in, 4, 32, THREAD_SIDE * THREAD_SIDE);
    global_avgpool_backward(result + THREAD_PLANES, dout, 4, 32, THREAD_SIDE * THREAD_SIDE);
}

static void run_residual(float *result, const float *in, const float *dout) {
    residual_forward(result, in, dout, THREAD_FLOATS);
    memcpy(result + THREAD_FLOATS, in, THREAD_FLOATS * sizeof *in);
    residual_backward(result + THREAD_FLOATS, dout, THREAD_FLOATS);
}

/* 1 thread against 2 and 3 (an uneven split), bitwise. The input takes few distinct values, so
 * that most pooling windows hold ties. */
static void check_threads(const char *layer, layer_run_fn run) {
    float *in = malloc(THREAD_FLOATS * 4), *dout = random_floats(THREAD_FLOATS, 1);
    float *one = malloc(2 * THREAD_FLOATS * 4), *many = malloc(2 * THREAD_FLOATS * 4);
    for (size_t i = 0; i < THREAD_FLOATS; i++)
        in[i] = (float)(rng_next(&rng) % 4) - 1.5f;
    memset(one, 0, 2 * THREAD_FLOATS * 4);
    parallel_set_threads(1);
    run(one, in, dout);
    for (size_t threads = 2; threads <= 3; threads++) {
        memset(many, 0, 2 * THREAD_FLOATS * 4);
        parallel_set_threads(threads);
        CHECK_MSG(loop_parts(THREAD_FLOATS) == threads, "%s: the work is not split", layer);
        run(many, in, dout);
        CHECK_MSG(memcmp(one, many, 2 * THREAD_FLOATS * 4) == 0, "%s: 1 and %zu threads differ",
                  layer, threads);
    }
    parallel_set_threads(1);
    free(in), free(dout), free(one), free(many);
}

int main(void) {
    rng_seed(&rng, 2116);
    check_maxpool_gradient(6, 6, 8);
    check_maxpool_gradient(4, 7, 5);
    test_maxpool_ties();
    test_maxpool_odd();
    test_maxpool_levels();
    check_avgpool(3, 5, 16);
    check_avgpool(2, 4, 1);
    test_residual_values();
    check_block(3, 6, 0);
    check_block(3, 7, 1);
    check_threads("maxpool", run_maxpool);
    check_threads("global average pooling", run_avgpool);
    check_threads("residual", run_residual);
    return check_summary("test_layers");
}
