/* Convolution as matrix products over the lowered input (im2col), one chunk of samples at a
 * time, and, where the lowering costs more than it saves, without it.
 *
 * The lowered input of a whole batch is large (CIFAR-10's second layer: 270 x 6272 floats,
 * 6.8 MB): written in one piece it went out to memory and came back twice, for the forward
 * product and for the weight gradient, and lowering plus raising took 18 % of a step. Here
 * each part lowers a chunk of samples small enough to stay in the core's L2 cache and uses it
 * at once. Three passes skip the lowering on AVX-512 (all in conv_kernels.c):
 * - the forward pass of a layer whose output rows fill most of a vector (the paper's first:
 *   15 outputs a row, 27 taps) computes each row of up to 16 channels in registers;
 * - the forward pass of a 3 x 3, stride-2 layer with short rows (the paper's second and
 *   third: 7 and 3 outputs a row) sums tiles of pixels x 16-channel vectors in registers,
 *   over blocks of input channels whose weights stay in L1;
 * - the weight gradient of a 3 x 3 layer broadcasts each tap's input from the input rows
 *   into the output gradient, transposed a block of pixels at a time, and sums the bias
 *   gradient from the same blocks; the input gradient keeps its product and its raise
 *   (col2im), in chunks.
 *
 * None of this changes a bit: every output entry is one ordered chain of fused
 * multiply-adds (gemm.h), over the lowered rows for the output and over the columns, chunk
 * after chunk in order, for the weight gradient; the input gradient adds each sample's taps
 * in (ky, kx) order whatever the chunk. conv_forward_direct and conv_backward_direct compute
 * the same chains without lowering, as the fallback and as the tests' reference.
 *
 * This file holds the two passes, which follow the plan made for the layer's shape
 * (conv_plan.c); the lowering and raising are in conv_lower.c, the register kernels and the
 * direct loops in conv_kernels.c, what they share in conv_internal.h. */
#include "bntrain/conv.h"

#include <stddef.h>

#include "bntrain/gemm.h"
#include "bntrain/residual.h"
#include "engine/conv_internal.h"
#include "engine/parallel.h"
#include "engine/settings.h"

size_t conv_out_size(size_t in, size_t kernel, size_t stride, size_t padding) {
    if (stride == 0 || kernel == 0 || in + 2 * padding < kernel) return 0;
    return (in + 2 * padding - kernel) / stride + 1;
}


/* ---- the two passes ---------------------------------------------------------------------- */

typedef struct {
    float *out, *din, *dweight, *dbias;
    const float *weight, *bias, *dout;
    conv_input x;
    int accumulate;
    tap_plan plan; /* prepared once per pass, read by every part */
} conv_call;

/* Forward, one range of samples per part: the outputs of different samples are independent. */
static void forward_part(void *ctx, size_t part, size_t parts) {
    const conv_call *a = ctx;
    const conv_shape *s = a->x.shape;
    size_t patch = patch_size(s), pixels = out_pixels(s), width = a->x.batch * pixels, n0, n1;
    part_range(a->x.batch, part, parts, 1, &n0, &n1);
    int forced_direct = settings_conv_direct_forced();
#ifdef CONV_X86
    if (a->plan.direct_rows && !forced_direct) {
        conv_forward_rows_avx512(a->out, &a->x, a->weight, a->bias, &a->plan, n0, n1);
        return;
    }
    if (a->plan.cotile >= 0 && !forced_direct) {
        const cotile_kind *k = &conv_cotile_kinds[a->plan.cotile];
        float *taps = thread_scratch(SCRATCH_CONV, conv_cotile_scratch_floats(s, k));
        if (taps) {
            conv_cotile_fns[a->plan.cotile](a->out, &a->x, a->weight, a->bias, n0, n1, taps);
            return;
        }
    }
#endif
    size_t per = conv_chunk_samples(s, patch, a->x.batch);
    float *chunk = forced_direct ? NULL : thread_scratch(SCRATCH_CONV, per * patch * pixels);
    if (!chunk) {
        conv_forward_direct(a->out, &a->x, a->weight, a->bias, n0, n1);
        return;
    }
    for (size_t n = n0; n < n1; n += per) {
        size_t m = n1 - n < per ? n1 - n : per, cols = m * pixels;
        conv_lower_chunk(chunk, cols, &a->x, &a->plan, 0, patch, n, n + m);
        gemm_biased(1, s->out_channels, cols, patch, matrix_rows(a->weight, patch),
                    matrix_rows(chunk, cols), a->bias, 1, a->out + n * pixels, width);
    }
}

/* Backward, one range of lowered rows per part, in whole input channels when din is wanted
 * (raising a channel needs all its taps): each part owns its columns of the weight gradient
 * and its channels of din, and walks all samples chunk by chunk in order. */
static void backward_part(void *ctx, size_t part, size_t parts) {
    const conv_call *a = ctx;
    const conv_shape *s = a->x.shape;
    size_t patch = patch_size(s), pixels = out_pixels(s), width = a->x.batch * pixels;
    int forced_direct = settings_conv_direct_forced();
    int direct_grad = a->plan.direct_grad && !forced_direct; /* never set without AVX-512 */
    size_t group = a->din || direct_grad ? s->kernel * s->kernel : 1, g0, g1;
    part_range(patch / group, part, parts, 1, &g0, &g1);
    size_t r0 = g0 * group, r1 = g1 * group, rows = r1 - r0;
    /* one scratch block serves the direct weight gradient, then the chunks of din */
    size_t per = rows ? conv_chunk_samples(s, rows, a->x.batch) : 0;
    size_t floats = a->din || !direct_grad ? per * rows * pixels : 0;
    if (direct_grad && conv_grad_scratch_floats(g0, g1) > floats)
        floats = conv_grad_scratch_floats(g0, g1);
    float *chunk = forced_direct || rows == 0 ? NULL : thread_scratch(SCRATCH_CONV, floats);
    /* the bias gradient: part 0's with the direct weight gradient where its blocks allow (it
     * reads the output gradient's blocks anyway; without scratch, by rows), else a share of
     * the rows in every part */
    float *dbias = NULL;
    if (a->dbias && !(direct_grad && conv_grad_blocks_aligned(s)))
        conv_row_sums_part(a->dbias, a->dout, s->out_channels, width, a->accumulate, part, parts);
    else if (a->dbias && part == 0 && !chunk)
        conv_row_sums(a->dbias, a->dout, s->out_channels, width, a->accumulate);
    else if (part == 0)
        dbias = a->dbias;
    if (rows == 0) return;
    if (!chunk) {
        conv_backward_direct(a->din, a->dweight, a->dout, &a->x, a->weight, r0, r1, a->accumulate);
        return;
    }
#ifdef CONV_X86
    if (direct_grad) {
        conv_weight_grad_rows_avx512(a->dweight, dbias, a->dout, &a->x, g0, g1, a->accumulate,
                                     chunk);
        if (!a->din) return;
    }
#endif
    for (size_t n = 0; n < a->x.batch; n += per) {
        size_t m = a->x.batch - n < per ? a->x.batch - n : per, cols = m * pixels;
        const float *dout = a->dout + n * pixels;
        if (!direct_grad) {
            conv_lower_chunk(chunk, cols, &a->x, &a->plan, r0, r1, n, n + m);
            gemm_one_thread(s->out_channels, rows, cols, matrix_rows(dout, width),
                            matrix_transposed(chunk, cols), a->dweight + r0, patch,
                            a->accumulate || n > 0);
        }
        if (!a->din) continue;
        /* The chunk's lowered rows are used: their space receives the column gradients. */
        gemm_one_thread(rows, cols, s->out_channels, matrix_transposed(a->weight + r0, patch),
                        matrix_rows(dout, width), chunk, cols, 0);
        conv_raise_chunk(a->din, chunk, cols, &a->x, &a->plan, g0, g1, n, n + m);
    }
}

void conv_forward(float *out, const float *in, int in_channel_major, const float *weight,
                  const float *bias, const conv_shape *s, size_t batch) {
    conv_call call = {.out = out, .weight = weight, .bias = bias,
                      .x = {in, in_channel_major, s, batch}};
    if (conv_winograd_applies(s)) {
        conv_winograd_forward(out, &call.x, weight, bias);
        return;
    }
    conv_plan_taps(&call.plan, s);
    parallel_parts(conv_pass_parts(s, batch, batch), forward_part, &call);
}

void conv_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                   int in_channel_major, const float *weight, const conv_shape *s,
                   size_t batch, int accumulate) {
    conv_call call = {.din = din, .dweight = dweight, .dbias = dbias, .weight = weight, .dout = dout,
                      .x = {in, in_channel_major, s, batch}, .accumulate = accumulate};
    if (conv_winograd_applies(s)) {
        conv_winograd_backward(din, dweight, dbias, dout, &call.x, weight, accumulate);
        return;
    }
    conv_plan_taps(&call.plan, s);
    size_t groups = din || call.plan.direct_grad ? s->in_channels : patch_size(s);
    parallel_parts(conv_pass_parts(s, batch, groups), backward_part, &call);
}

void conv_scratch_floats(const conv_shape *s, size_t batch, size_t *per_run, size_t *per_thread) {
    *per_run = 0;
    if (conv_winograd_applies(s)) {
        *per_run = conv_winograd_run_floats(s);
        *per_thread = conv_winograd_thread_floats(s, batch);
        return;
    }
    size_t chunk = conv_chunk_floats_bound(s, batch), grad = conv_grad_scratch_floats(0, s->in_channels);
    *per_thread = chunk > grad ? chunk : grad;
#ifdef CONV_X86
    tap_plan plan;
    conv_plan_taps(&plan, s);
    if (plan.cotile >= 0) {
        size_t taps = conv_cotile_scratch_floats(s, &conv_cotile_kinds[plan.cotile]);
        if (taps > *per_thread) *per_thread = taps;
    }
#endif
}

/* Two forward passes: the convolution is bilinear in (input, weight). */
void conv_tangent(float *dout, float *scratch, const float *in, const float *din,
                  int in_channel_major, const float *weight, const float *dweight,
                  const float *dbias, const conv_shape *shape, size_t batch) {
    conv_forward(dout, in, in_channel_major, dweight, dbias, shape, batch);
    if (!din) return;
    conv_forward(scratch, din, in_channel_major, weight, NULL, shape, batch);
    residual_forward(dout, dout, scratch,
                     shape->out_channels * shape->out_height * shape->out_width * batch);
}
