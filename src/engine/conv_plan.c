/* The convolution's planner: which path a layer's shape takes (the tap table, the vector
 * lowering and raising, the register kernels), the tap tables and permutations those paths
 * read, the tile kind and channel blocks of the forward pass vectorised over output channels,
 * the blocks of the direct weight gradient, and the sizes of chunks and parts (the two block
 * sizes that the kernels' loops call are inline in conv_internal.h). A plan depends on the
 * shape and the CPU's instruction set only; conv.c makes one per pass. */
#include <stddef.h>
#include <stdint.h>

#include "bntrain/gemm.h"
#include "base/cpu.h"
#include "engine/conv_internal.h"
#include "engine/parallel.h"

/* Floats of a lowered chunk: with its packed copy (the GEMM's B panels) it fits in a 2 MB L2. */
#define CHUNK_FLOATS (160u * 1024u)

#ifdef CONV_X86
#define COTILE_KIND_ENTRY(name, stride, px, rows, vectors) {stride, px, rows, vectors},
const cotile_kind conv_cotile_kinds[] = {COTILE_KINDS(COTILE_KIND_ENTRY)};

/* The kind that computes layer s, or -1: of those that fit its shape, the one whose passes
 * leave the fewest lanes unused, and of those the one with more vectors (fewer passes over
 * the input). The paper's second layer has 60 channels: 48 + 12 in passes of three vectors
 * left the second pass a vector three-quarters full whose tiles wait on their loads; 32 + 28
 * in passes of two ran its forward pass 1.09-1.13x faster (in-training A/B). */
static int cotile_pick(const conv_shape *s) {
    if (s->kernel != 3 || s->padding != 0) return -1;
    int best = -1;
    size_t best_unused = 0;
    for (size_t i = 0; i < sizeof conv_cotile_kinds / sizeof *conv_cotile_kinds; i++) {
        const cotile_kind *k = &conv_cotile_kinds[i];
        if (k->stride != s->stride || k->px != s->out_width || s->out_height % k->rows) continue;
        size_t lanes = 16 * k->vectors, passes = (s->out_channels + lanes - 1) / lanes;
        size_t unused = passes * lanes - s->out_channels;
        if (best < 0 || unused < best_unused) best = (int)i, best_unused = unused;
    }
    return best;
}

/* Floats of the scratch cotile_walk needs: each pass's weights tap-major and its bias, then
 * a group's partial sums of one pass. */
size_t conv_cotile_scratch_floats(const conv_shape *s, const cotile_kind *k) {
    size_t lanes = 16 * k->vectors, passes = (s->out_channels + lanes - 1) / lanes;
    size_t partials = COTILE_GROUP * (s->out_height / k->rows) * lanes * k->rows * k->px;
    return passes * lanes * (patch_size(s) + 1) + partials;
}
#endif

/* Tap offsets of the output pixels, where plan->table holds. */
static void plan_offsets(tap_plan *plan, const conv_shape *s) {
    for (size_t oy = 0; oy < s->out_height; oy++)
        for (size_t ox = 0; ox < s->out_width; ox++)
            plan->offsets[oy * s->out_width + ox] =
                (int32_t)(oy * s->stride * s->in_width + ox * s->stride);
}

/* Which paths the layer takes, given a tap table. */
static void plan_paths(tap_plan *plan, const conv_shape *s) {
#ifdef CONV_X86
    plan->vectors = cpu_isa_level() == CPU_ISA_AVX512 && s->out_width <= 16 &&
                    (s->out_width - 1) * s->stride < 32;
#endif
    plan->raise_rows = plan->vectors && s->in_width <= 32 && s->in_height <= RAISE_HEIGHT &&
                       s->kernel <= RAISE_KERNEL;
    plan->direct_rows = plan->vectors && 4 * s->out_width >= 3 * 16 &&
                        patch_size(s) <= DIRECT_ROWS_MAX_PATCH;
#ifdef CONV_X86
    /* its vectors of 16 output channels at least three quarters full */
    size_t vectors16 = (s->out_channels + 15) / 16;
    plan->direct_grad = cpu_isa_level() == CPU_ISA_AVX512 && s->kernel == 3 &&
                        4 * s->out_channels >= 3 * 16 * vectors16;
    if (cpu_isa_level() == CPU_ISA_AVX512 && !plan->direct_rows) plan->cotile = cotile_pick(s);
#endif
}

/* The permutations of the vector lowering, where plan->vectors holds. */
static void plan_lower_picks(tap_plan *plan, const conv_shape *s) {
    for (size_t i = 0; i < 16; i++)
        plan->lower_pick[i] = (int32_t)(i < s->out_width ? i * s->stride : 0);
    size_t span = (s->out_width - 1) * s->stride + 1;
    plan->lower_pairs = 2 * s->out_width <= 16 && span <= 16;
    for (size_t i = 0; i < 16; i++)
        plan->pair_pick[i] = i < s->out_width       ? plan->lower_pick[i]
                             : i < 2 * s->out_width ? (int32_t)(16 + (i - s->out_width) * s->stride)
                                                    : 0;
}

/* The permutations and row taps of raising by input rows, where plan->raise_rows holds. */
static void plan_raise_rows(tap_plan *plan, const conv_shape *s) {
    for (size_t kx = 0; kx < s->kernel; kx++) {
        plan->raise_lanes[kx] = 0;
        for (size_t ix = 0; ix < 32; ix++) {
            size_t d = ix - kx; /* wraps for ix < kx, and then fails the test */
            int hit = ix >= kx && d % s->stride == 0 && d / s->stride < s->out_width;
            plan->raise_pick[kx][ix] = (int32_t)(hit ? d / s->stride : 0);
            plan->raise_lanes[kx] |= (uint32_t)hit << ix;
        }
    }
    for (size_t iy = 0; iy < s->in_height; iy++) {
        plan->row_taps[iy] = 0;
        for (size_t ky = 0; ky < s->kernel; ky++) {
            size_t d = iy - ky;
            if (iy < ky || d % s->stride || d / s->stride >= s->out_height) continue;
            plan->row_taps[iy] |= (uint8_t)(1u << ky);
            plan->row_oy[iy][ky] = (uint8_t)(d / s->stride);
        }
    }
}

void conv_plan_taps(tap_plan *plan, const conv_shape *s) {
    plan->table = s->padding == 0 && out_pixels(s) <= TAP_TABLE &&
                  s->in_height * s->in_width <= INT32_MAX;
    plan->vectors = plan->raise_rows = plan->direct_rows = plan->direct_grad = 0;
    plan->lower_pairs = 0;
    plan->cotile = -1;
    if (!plan->table) return;
    plan_offsets(plan, s);
    plan_paths(plan, s);
    if (!plan->vectors) return;
    plan_lower_picks(plan, s);
    if (!plan->raise_rows) return;
    plan_raise_rows(plan, s);
}

/* Whether conv_grad_block_rows's blocks all start at multiples of 16 pixels. */
int conv_grad_blocks_aligned(const conv_shape *s) {
    return conv_grad_block_rows(s) * s->out_width % 16 == 0;
}

/* Scratch floats conv_weight_grad_rows_avx512 needs for input channels [c0, c1). */
size_t conv_grad_scratch_floats(size_t c0, size_t c1) {
    return GRAD_BLOCK_PIXELS * GEMM_PANEL + (c1 - c0) * 9 * GEMM_PANEL;
}

/* Samples per chunk when `rows` lowered rows are lowered at once (at least one). */
size_t conv_chunk_samples(const conv_shape *s, size_t rows, size_t batch) {
    size_t per_sample = rows * out_pixels(s), samples = per_sample ? CHUNK_FLOATS / per_sample : 1;
    if (samples == 0) samples = 1;
    return samples < batch ? samples : batch;
}

/* A chunk of lowered rows: conv_chunk_samples keeps it under CHUNK_FLOATS unless one
 * sample's rows alone are more, and a part never has more rows than the patch. */
size_t conv_chunk_floats_bound(const conv_shape *s, size_t batch) {
    size_t one_sample = patch_size(s) * out_pixels(s);
    size_t chunk = one_sample > CHUNK_FLOATS ? one_sample : CHUNK_FLOATS;
    return batch * one_sample < chunk ? batch * one_sample : chunk;
}

/* Parts of a pass: the run's share of the cores when the lowered batch is large enough. */
size_t conv_pass_parts(const conv_shape *s, size_t batch, size_t units) {
    size_t parts = loop_parts(patch_size(s) * batch * out_pixels(s));
    return parts < units ? parts : units;
}
