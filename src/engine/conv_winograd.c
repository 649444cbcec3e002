/* 3 x 3, stride-1, padding-1 convolutions by Winograd's minimal filtering F(m x m, 3 x 3)
 * (Lavin and Gray 2016): the layers that dominate VGG16 and the pre-activation ResNets.
 *
 * Each m x m block of outputs ("tile") is computed from the n x n block of inputs around it
 * (n = m + 2): v = B^T d B (input transform), u = G g G^T (filter transform), e = sum over input
 * channels of u . v (elementwise), y = A^T e A (output transform). The sums are n n matrix
 * products, one per transform position p, [out x in] x [in x tiles], done by the GEMM. The
 * backward pass is the exact adjoint of the forward: x = A dy A^T per tile, the weight gradient
 * G^T (sum over tiles of x . v) G as n n products [out x tiles] x [tiles x in], and the input
 * gradient B (sum over output channels of u . x) B^T scattered back to the overlapping n x n
 * input blocks. The kinds and their transforms: winograd_kinds.h. A layer takes F(4 x 4) (2.25
 * multiplications an output) unless its planes are so small that F(2 x 2) (4 an output, but
 * less padding) computes fewer products: VGG16's 2 x 2 layers.
 *
 * This is not the direct product's arithmetic: the other paths give bitwise the same results
 * as each other (conv.c), this one is within ~1e-6 (F(2 x 2)) or ~1e-5 (F(4 x 4)) relative of
 * them (tests/test_gradients.c states the measured errors). Whether a layer takes it, and which
 * kind, depends on its shape alone, never on threads or the instruction set, and the
 * forced-direct and out-of-memory path (winograd_*_direct below) computes the same chains
 * without scratch: so results stay bitwise the same across thread counts, CPU levels and memory.
 *
 * Determinism: each entry of a product is one fused multiply-add chain (gemm.h), over input
 * channels (forward), output channels (input gradient) or all tiles in order (weight gradient,
 * continued chunk after chunk). Chunks are whole rows of tiles, the same for every split of the
 * work into parts, and the input gradient is added row of tiles after row of tiles in one
 * fixed order. */
#include <math.h>
#include <string.h>

#include "bntrain/gemm.h"
#include "engine/conv_internal.h"
#include "engine/parallel.h"
#include "engine/settings.h"
#include "engine/winograd_kinds.h"
#include "base/cpu.h"
#include "engine/simd.h"

/* Fewest channels in and out: with fewer, the transforms cost more than the products save.
 * Planes of fewer than WINO_MIN_PIXELS outputs (2 x 2: one tile, three quarters of its inputs
 * padding) take it only from WINO_SMALL_PLANE_CHANNELS channels: at x1/4 width VGG16's
 * 128-channel 2 x 2 layers were 1.37x slower than their lowered products, at full width the
 * 512-channel ones 1.18x faster (bench_throughput --profile, 2026-12-06, before the filter
 * transform was vectorised). */
#define WINO_MIN_CHANNELS 16
#define WINO_MIN_PIXELS 16
#define WINO_SMALL_PLANE_CHANNELS 256
/* Transformed inputs and products of a chunk: n n (in + out) x tiles floats, about 1 MB (the
 * L2), but at least WINO_MIN_TILES tiles so that packing the transformed filters, once per
 * product, stays small next to the product. */
#define WINO_CHUNK_FLOATS (256u * 1024u)
#define WINO_MIN_TILES 128

int conv_winograd_applies(const conv_shape *s) {
    size_t channels = s->in_channels < s->out_channels ? s->in_channels : s->out_channels;
    return s->kernel == 3 && s->stride == 1 && s->padding == 1 && channels >= WINO_MIN_CHANNELS &&
           (out_pixels(s) >= WINO_MIN_PIXELS || channels >= WINO_SMALL_PLANE_CHANNELS) &&
           s->in_height == s->out_height && s->in_width == s->out_width && s->in_width >= 1 &&
           s->in_height >= 1 && s->in_width <= 2 * WINO_ROW_TILES;
}

static size_t tiles_of(size_t side, int m) {
    return (side + (size_t)m - 1) / (size_t)m;
}

/* F(4 x 4) unless F(2 x 2) computes fewer products (36 against 16 a tile), or a test limits
 * the layers to F(2 x 2). */
static const wino_kind *kind_of(const conv_shape *s) {
    size_t f4 = 36 * tiles_of(s->out_height, 4) * tiles_of(s->out_width, 4);
    size_t f2 = 16 * tiles_of(s->out_height, 2) * tiles_of(s->out_width, 2);
    return f4 < f2 && !settings_winograd_f2_forced() ? &wino_f4 : &wino_f2;
}

int conv_winograd_tile(const conv_shape *s) {
    return kind_of(s)->m;
}

/* ---- geometry --------------------------------------------------------------------------- */

/* The distance in floats between the n n matrices of one product (one per position p) that
 * hold `floats` each: a little more than `floats`, so that it is never a multiple of 4 KB. The
 * transforms read or write all n n matrices at once, 16 floats of each; at a distance of a
 * multiple of 4 KB (64 channels x 128 tiles) those all fall in one set of the L1 cache, more
 * than its ways: spreading them made VGG16 1.30x faster with F(4 x 4), 1.14x with F(2 x 2)
 * (bench_throughput, one core, Zen 4). At most floats + WINO_SPREAD. */
#define WINO_SPREAD 32
static size_t spread(size_t floats) {
    size_t padded = floats + 16;
    return padded % 1024 == 0 ? padded + 16 : padded;
}

typedef struct {
    const wino_kind *kind;
    size_t m, n, positions; /* the kind's sides and n n */
    size_t th, tw;   /* tiles a column and a row of a plane */
    size_t rows;     /* rows of tiles a chunk (of the whole batch: sample n's row ty is n th + ty) */
    size_t tiles;    /* rows tw: a chunk's most tiles */
    /* The AVX-512 loops' groups of 16 tiles (wino_group): 16 of one row where a row has 16
     * tiles or more, or a number that does not divide 16; else whole rows, 16 / tw of them, so
     * that narrow planes leave no lane idle (one row of 8 tiles of a 32 x 32 plane would leave
     * half of them, one tile of a 4 x 4 plane 15 of 16). */
    size_t group_rows;
} wino_geom;

static wino_geom geometry(const conv_shape *s, size_t batch) {
    wino_geom g;
    g.kind = kind_of(s);
    g.m = (size_t)g.kind->m, g.n = (size_t)g.kind->n, g.positions = g.n * g.n;
    g.th = tiles_of(s->out_height, g.kind->m), g.tw = tiles_of(s->out_width, g.kind->m);
    size_t target = WINO_CHUNK_FLOATS / (g.positions * (s->in_channels + s->out_channels));
    if (target < WINO_MIN_TILES) target = WINO_MIN_TILES;
    g.rows = target / g.tw;
    if (g.rows == 0) g.rows = 1;
    if (g.rows > batch * g.th) g.rows = batch * g.th;
    g.tiles = g.rows * g.tw;
    g.group_rows = g.tw < 16 && 16 % g.tw == 0 ? 16 / g.tw : 1;
    return g;
}

/* A row of w columns (NULL: outside the plane, zero) at pad[offset], in a zeroed row buffer of
 * len floats: the portable loops' padded rows. */
static void padded_row(float *pad, const float *row, size_t w, size_t offset, size_t len) {
    memset(pad, 0, len * sizeof *pad);
    if (row) memcpy(pad + offset, row, w * sizeof *pad);
}

/* ---- the portable loops, tile by tile (the AVX-512 ones take groups of tiles, below) ----- */

static int rows_avx512(void) {
#ifdef CONV_X86
    return cpu_isa_level() == CPU_ISA_AVX512;
#else
    return 0;
#endif
}

/* The input transforms of a row of tw tiles from its n input rows r (in the plane, w columns,
 * NULL outside it): v[p ldp + t] for tile t. */
static void input_row(const wino_kind *k, float *v, size_t ldp, const float *const *r, size_t w,
                      size_t tw) {
    size_t n = (size_t)k->n, m = (size_t)k->m;
    float pad[6][WINO_ROW_FLOATS];
    for (size_t i = 0; i < n; i++) padded_row(pad[i], r[i], w, 1, m * tw + 2);
    for (size_t t = 0; t < tw; t++) {
        float d[WINO_MAX_POSITIONS], e[WINO_MAX_POSITIONS];
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) d[n * i + j] = pad[i][m * t + j];
        k->input_tile(e, d);
        for (size_t p = 0; p < n * n; p++) v[p * ldp + t] = e[p];
    }
}

/* The output transforms of a row of tiles, plus bias, into its m output rows o (in the plane,
 * w columns, NULL below it). */
static void output_row(const wino_kind *k, float *const *o, const float *e, size_t ldp, size_t w,
                       size_t tw, float bias) {
    size_t n = (size_t)k->n, m = (size_t)k->m;
    for (size_t t = 0; t < tw; t++) {
        float a[WINO_MAX_POSITIONS], y[16];
        for (size_t p = 0; p < n * n; p++) a[p] = e[p * ldp + t];
        k->output_tile(y, a);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < m && o[i] && m * t + j < w; j++)
                o[i][m * t + j] = y[m * i + j] + bias;
    }
}

/* The output gradient's transforms of a row of tiles from its m output-gradient rows z (in the
 * plane, w columns, NULL below it). */
static void grad_row(const wino_kind *k, float *x, size_t ldp, const float *const *z, size_t w,
                     size_t tw) {
    size_t n = (size_t)k->n, m = (size_t)k->m;
    float pad[4][WINO_ROW_FLOATS];
    for (size_t i = 0; i < m; i++) padded_row(pad[i], z[i], w, 0, m * tw);
    for (size_t t = 0; t < tw; t++) {
        float a[16], e[WINO_MAX_POSITIONS];
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < m; j++) a[m * i + j] = pad[i][m * t + j];
        k->output_tile_adjoint(e, a);
        for (size_t p = 0; p < n * n; p++) x[p * ldp + t] = e[p];
    }
}

#ifdef CONV_X86
__attribute__((target("avx512f"))) static void input_grad_row_avx512(const wino_kind *k, float *d,
                                                                      const float *e, size_t ldp,
                                                                      size_t tw) {
    int positions = k->n * k->n;
    for (size_t t = 0; t < tw; t += 16) {
        __mmask16 mask = first_lanes(tw - t);
        __m512 a[WINO_MAX_POSITIONS], b[WINO_MAX_POSITIONS];
        for (int p = 0; p < positions; p++) a[p] = _mm512_maskz_loadu_ps(mask, e + p * ldp + t);
        k->input_tile_adjoint_v(b, a);
        for (int q = 0; q < positions; q++)
            _mm512_mask_storeu_ps(d + q * WINO_ROW_TILES + t, mask, b[q]);
    }
}
#endif

/* The adjoint input transforms of a row of tiles: d[q WINO_ROW_TILES + t] is entry q of tile
 * t's n x n input-gradient block. */
static void input_grad_row(const wino_kind *k, float *d, const float *e, size_t ldp, size_t tw) {
#ifdef CONV_X86
    if (rows_avx512()) {
        input_grad_row_avx512(k, d, e, ldp, tw);
        return;
    }
#endif
    int positions = k->n * k->n;
    for (size_t t = 0; t < tw; t++) {
        float a[WINO_MAX_POSITIONS], b[WINO_MAX_POSITIONS];
        for (int p = 0; p < positions; p++) a[p] = e[p * ldp + t];
        k->input_tile_adjoint(b, a);
        for (int q = 0; q < positions; q++) d[q * WINO_ROW_TILES + t] = b[q];
    }
}

/* Adds a row of tiles' input-gradient blocks d (input_grad_row's) into the input gradient's
 * planes rows m ty - 1 .. m ty + m: per block row i, the n block columns j one after the
 * other into a zeroed padded row (so overlapping tiles meet in a fixed order), then the row
 * into the plane. */
BN_HOT static void add_grad_rows(float *plane, const float *d, const conv_shape *s,
                                 const wino_geom *g, size_t ty) {
    float acc[WINO_ROW_FLOATS];
    size_t m = g->m, n = g->n, tw = g->tw;
#ifdef CONV_X86
    if (rows_avx512()) {
        float *rows[6];
        for (size_t i = 0; i < n; i++) {
            long iy = (long)(m * ty + i) - 1;
            rows[i] = iy >= 0 && (size_t)iy < s->in_height ? plane + (size_t)iy * s->in_width : NULL;
        }
        g->kind->add_blocks_v(rows, d, s->in_width, tw);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) {
        long iy = (long)(m * ty + i) - 1;
        if (iy < 0 || (size_t)iy >= s->in_height) continue;
        for (size_t x = 0; x < m * tw + 2; x++) acc[x] = 0.0f;
        for (size_t j = 0; j < n; j++)
            for (size_t t = 0; t < tw; t++) acc[m * t + j] += d[(n * i + j) * WINO_ROW_TILES + t];
        float *row = plane + (size_t)iy * s->in_width;
        for (size_t x = 0; x < s->in_width; x++) row[x] += acc[x + 1];
    }
}

/* ---- groups of 16 tiles (the AVX-512 loops) ------------------------------------------------ */

/* The group of tiles that starts at tile t of tile row r (the chunk's rows ending at r1), in a
 * plane of w columns; offset: -1 for input blocks, 0 for output blocks. */
static wino_group group_at(const wino_geom *g, size_t r, size_t t, size_t r1, size_t w,
                           long offset) {
    wino_group grp = {.rows = 1, .tiles = 16, .x0 = (long)(g->m * t) + offset, .w = w};
    if (g->group_rows > 1) {
        grp.rows = r1 - r < g->group_rows ? r1 - r : g->group_rows;
        grp.tiles = g->tw, grp.x0 = offset;
    }
#ifdef CONV_X86
    size_t count = g->group_rows > 1 ? grp.rows * g->tw : g->tw - t < 16 ? g->tw - t : 16;
    grp.lanes = first_lanes(count);
#endif
    return grp;
}

/* Rows[q count + i]: row m ty + i + offset of the plane of tile row r + q (q < group_rows),
 * sample n's plane at base + n nstride, or NULL outside the plane (h rows of w). */
static void group_planes(const float **rows, const wino_geom *g, size_t r, size_t group_rows,
                         size_t count, long offset, const float *base, size_t nstride, size_t h,
                         size_t w) {
    for (size_t q = 0; q < group_rows; q++) {
        size_t n = (r + q) / g->th, ty = (r + q) % g->th;
        const float *plane = base + n * nstride;
        for (size_t i = 0; i < count; i++) {
            long y = (long)(g->m * ty + i) + offset;
            rows[q * count + i] = y >= 0 && (size_t)y < h ? plane + (size_t)y * w : NULL;
        }
    }
}

/* A set of planes (one per channel and sample) that a pass reads or writes by rows of tiles. */
typedef struct {
    const float *base;
    size_t channel_stride, sample_stride, h, w;
} wino_planes;

/* What a walk does with one group of tiles (grp: the AVX-512 loops' 16), or with one row of
 * tiles (grp NULL: the portable loops): channel c, the group's first tile at column `col` of
 * the chunk's tiles, rows[q count + i] its planes' rows (group_planes'). */
typedef void (*wino_group_fn)(void *ctx, size_t c, size_t col, const float *const *rows,
                              const wino_group *grp);

/* The walk that every transform between planes and the chunk takes: channels [c0, c1), tile
 * rows [r0, r1) in order, groups of tiles (or single rows) of `count` plane rows each from row
 * m ty + offset, so that the bits never depend on which loops ran. */
static void walk_groups(const wino_geom *g, const wino_planes *planes, long offset, size_t count,
                        size_t c0, size_t c1, size_t r0, size_t r1, wino_group_fn fn, void *ctx) {
    const float *rows[16 * 6];
    int grouped = rows_avx512();
    for (size_t c = c0; c < c1; c++) {
        const float *base = planes->base + c * planes->channel_stride;
        for (size_t r = r0; r < r1;) {
            wino_group grp = group_at(g, r, 0, r1, planes->w, offset);
            size_t span = grouped ? grp.rows : 1;
            group_planes(rows, g, r, span, count, offset, base, planes->sample_stride, planes->h,
                         planes->w);
            for (size_t t = 0; grouped && t < g->tw; t += 16) {
                if (t > 0) grp = group_at(g, r, t, r1, planes->w, offset);
                fn(ctx, c, (r - r0) * g->tw + t, rows, &grp);
            }
            if (!grouped) fn(ctx, c, (r - r0) * g->tw, rows, NULL);
            r += span;
        }
    }
}

/* ---- filters ------------------------------------------------------------------------------ */

#ifdef CONV_X86
/* Lanes k: offsets 9 k, the filters of 16 consecutive input channels. */
static const int32_t filter_lanes[16] = {0, 9, 18, 27, 36, 45, 54, 63, 72, 81, 90, 99, 108, 117, 126, 135};

/* transform_filters and store_filter_grads (below), 16 input channels at a time. */
__attribute__((target("avx512f"))) static void transform_filters_avx512(
    const wino_kind *k, float *u, size_t ldp, size_t ld, const float *weight, const conv_shape *s,
    size_t c0, size_t c1) {
    __m512i lanes = _mm512_loadu_si512(filter_lanes);
    int positions = k->n * k->n;
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t ci = c0; ci < c1; ci += 16) {
            __mmask16 mask = first_lanes(c1 - ci);
            const float *w = weight + (co * s->in_channels + ci) * 9;
            __m512 g[9], t[WINO_MAX_POSITIONS];
            for (int q = 0; q < 9; q++)
                g[q] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, lanes, w + q, 4);
            k->filter_tile_v(t, g);
            for (int p = 0; p < positions; p++)
                _mm512_mask_storeu_ps(u + p * ldp + co * ld + ci - c0, mask, t[p]);
        }
}

__attribute__((target("avx512f"))) static void store_filter_grads_avx512(
    const wino_kind *k, float *dweight, const float *du, size_t ldp, size_t ld,
    const conv_shape *s, size_t c0, size_t c1, int accumulate) {
    __m512i lanes = _mm512_loadu_si512(filter_lanes);
    int positions = k->n * k->n;
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t ci = c0; ci < c1; ci += 16) {
            __mmask16 mask = first_lanes(c1 - ci);
            float *w = dweight + (co * s->in_channels + ci) * 9;
            __m512 x[WINO_MAX_POSITIONS], dg[9];
            for (int p = 0; p < positions; p++)
                x[p] = _mm512_maskz_loadu_ps(mask, du + p * ldp + co * ld + ci - c0);
            k->filter_tile_adjoint_v(dg, x);
            for (int q = 0; q < 9; q++) {
                if (accumulate)
                    dg[q] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, lanes, w + q, 4) + dg[q];
                _mm512_mask_i32scatter_ps(w + q, mask, lanes, dg[q], 4);
            }
        }
}
#endif

/* The forward pass's layout, u[p ldp + ci cout + co] for input channels [c0, c1): each
 * position's filters are the product's left operand transposed, so that packing it is a copy
 * (the layout below made the GEMM transpose them chunk after chunk). */
#ifdef CONV_X86
__attribute__((target("avx512f"))) static void transform_filters_by_input_avx512(
    const wino_kind *k, float *u, size_t ldp, const float *weight, const conv_shape *s, size_t c0,
    size_t c1) {
    size_t cin = s->in_channels, cout = s->out_channels;
    /* lanes: 16 output channels, 9 cin floats apart */
    __m512i lanes = _mm512_mullo_epi32(_mm512_loadu_si512(filter_lanes), _mm512_set1_epi32((int)cin));
    int positions = k->n * k->n;
    for (size_t ci = c0; ci < c1; ci++)
        for (size_t co = 0; co < cout; co += 16) {
            __mmask16 mask = first_lanes(cout - co);
            const float *w = weight + (co * cin + ci) * 9;
            __m512 g[9], t[WINO_MAX_POSITIONS];
            for (int q = 0; q < 9; q++)
                g[q] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, lanes, w + q, 4);
            k->filter_tile_v(t, g);
            for (int p = 0; p < positions; p++)
                _mm512_mask_storeu_ps(u + p * ldp + ci * cout + co, mask, t[p]);
        }
}
#endif

static void transform_filters_by_input(const wino_kind *k, float *u, size_t ldp,
                                       const float *weight, const conv_shape *s, size_t c0,
                                       size_t c1) {
#ifdef CONV_X86
    if (rows_avx512()) {
        transform_filters_by_input_avx512(k, u, ldp, weight, s, c0, c1);
        return;
    }
#endif
    int positions = k->n * k->n;
    size_t cin = s->in_channels, cout = s->out_channels;
    for (size_t ci = c0; ci < c1; ci++)
        for (size_t co = 0; co < cout; co++) {
            float t[WINO_MAX_POSITIONS];
            k->filter_tile(t, weight + (co * cin + ci) * 9);
            for (int p = 0; p < positions; p++) u[p * ldp + ci * cout + co] = t[p];
        }
}

/* The backward pass's layout, u[p ldp + co ld + (ci - c0)] for input channels [c0, c1). */
static void transform_filters(const wino_kind *k, float *u, size_t ldp, size_t ld,
                              const float *weight, const conv_shape *s, size_t c0, size_t c1) {
#ifdef CONV_X86
    if (rows_avx512()) {
        transform_filters_avx512(k, u, ldp, ld, weight, s, c0, c1);
        return;
    }
#endif
    int positions = k->n * k->n;
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t ci = c0; ci < c1; ci++) {
            float t[WINO_MAX_POSITIONS];
            k->filter_tile(t, weight + (co * s->in_channels + ci) * 9);
            for (int p = 0; p < positions; p++) u[p * ldp + co * ld + ci - c0] = t[p];
        }
}

/* The weight gradient of input channels [c0, c1) from its transform-domain sums
 * du[p ldp + co ld + (ci - c0)]: written, or added to dweight (accumulate). */
static void store_filter_grads(const wino_kind *k, float *dweight, const float *du, size_t ldp,
                               size_t ld, const conv_shape *s, size_t c0, size_t c1,
                               int accumulate) {
#ifdef CONV_X86
    if (rows_avx512()) {
        store_filter_grads_avx512(k, dweight, du, ldp, ld, s, c0, c1, accumulate);
        return;
    }
#endif
    int positions = k->n * k->n;
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t ci = c0; ci < c1; ci++) {
            float x[WINO_MAX_POSITIONS], dg[9];
            for (int p = 0; p < positions; p++) x[p] = du[p * ldp + co * ld + ci - c0];
            k->filter_tile_adjoint(dg, x);
            float *w = dweight + (co * s->in_channels + ci) * 9;
            for (int q = 0; q < 9; q++) w[q] = accumulate ? w[q] + dg[q] : dg[q];
        }
}

/* ---- the direct path: the same chains, without scratch ------------------------------------ */

/* Tile (n, ty, tx)'s n x n input block of channel c. */
static void input_block(float *d, const wino_geom *g, const conv_input *x, size_t n, size_t c,
                        size_t ty, size_t tx) {
    const conv_shape *s = x->shape;
    const float *plane = x->data + plane_offset(s, x->batch, n, c, x->channel_major);
    for (size_t i = 0; i < g->n; i++)
        for (size_t j = 0; j < g->n; j++) {
            long iy = (long)(g->m * ty + i) - 1, ix = (long)(g->m * tx + j) - 1;
            int inside = iy >= 0 && ix >= 0 && (size_t)iy < s->in_height && (size_t)ix < s->in_width;
            d[g->n * i + j] = inside ? plane[(size_t)iy * s->in_width + (size_t)ix] : 0.0f;
        }
}

/* Tile (n, ty, tx)'s transformed output gradient of channel co. */
static void grad_block(float *xt, const wino_geom *g, const float *dout, const conv_shape *s,
                       size_t batch, size_t n, size_t co, size_t ty, size_t tx) {
    const float *plane = dout + (co * batch + n) * out_pixels(s);
    float z[16];
    for (size_t a = 0; a < g->m; a++)
        for (size_t b = 0; b < g->m; b++) {
            size_t oy = g->m * ty + a, ox = g->m * tx + b;
            z[g->m * a + b] =
                oy < s->out_height && ox < s->out_width ? plane[oy * s->out_width + ox] : 0.0f;
        }
    g->kind->output_tile_adjoint(xt, z);
}

static void winograd_forward_direct(float *out, const conv_input *x, const float *weight,
                                    const float *bias, size_t n0, size_t n1) {
    const conv_shape *s = x->shape;
    wino_geom g = geometry(s, x->batch);
    const wino_kind *k = g.kind;
    size_t pixels = out_pixels(s);
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t n = n0; n < n1; n++)
            for (size_t ty = 0; ty < g.th; ty++)
                for (size_t tx = 0; tx < g.tw; tx++) {
                    float e[WINO_MAX_POSITIONS] = {0}, y[16];
                    for (size_t ci = 0; ci < s->in_channels; ci++) {
                        float u[WINO_MAX_POSITIONS], d[WINO_MAX_POSITIONS], v[WINO_MAX_POSITIONS];
                        k->filter_tile(u, weight + (co * s->in_channels + ci) * 9);
                        input_block(d, &g, x, n, ci, ty, tx);
                        k->input_tile(v, d);
                        for (size_t p = 0; p < g.positions; p++) e[p] = fmaf(u[p], v[p], e[p]);
                    }
                    k->output_tile(y, e);
                    float b = bias ? bias[co] : 0.0f;
                    float *plane = out + (co * x->batch + n) * pixels;
                    for (size_t a = 0; a < g.m; a++)
                        for (size_t c = 0; c < g.m; c++) {
                            size_t oy = g.m * ty + a, ox = g.m * tx + c;
                            if (oy < s->out_height && ox < s->out_width)
                                plane[oy * s->out_width + ox] = y[g.m * a + c] + b;
                        }
                }
}

/* Weight gradient of input channels [c0, c1) and, if din, their input gradient. */
static void winograd_backward_direct(float *din, float *dweight, const float *dout,
                                     const conv_input *x, const float *weight, size_t c0,
                                     size_t c1, int accumulate) {
    const conv_shape *s = x->shape;
    size_t batch = x->batch;
    wino_geom g = geometry(s, batch);
    const wino_kind *k = g.kind;
    for (size_t co = 0; co < s->out_channels; co++)
        for (size_t ci = c0; ci < c1; ci++) {
            float du[WINO_MAX_POSITIONS] = {0}, dg[9];
            for (size_t n = 0; n < batch; n++)
                for (size_t ty = 0; ty < g.th; ty++)
                    for (size_t tx = 0; tx < g.tw; tx++) {
                        float xt[WINO_MAX_POSITIONS], d[WINO_MAX_POSITIONS], v[WINO_MAX_POSITIONS];
                        grad_block(xt, &g, dout, s, batch, n, co, ty, tx);
                        input_block(d, &g, x, n, ci, ty, tx);
                        k->input_tile(v, d);
                        for (size_t p = 0; p < g.positions; p++) du[p] = fmaf(xt[p], v[p], du[p]);
                    }
            k->filter_tile_adjoint(dg, du);
            float *w = dweight + (co * s->in_channels + ci) * 9;
            for (int q = 0; q < 9; q++) w[q] = accumulate ? w[q] + dg[q] : dg[q];
        }
    if (!din) return;
    float blocks[WINO_MAX_POSITIONS * WINO_ROW_TILES];
    for (size_t ci = c0; ci < c1; ci++)
        for (size_t n = 0; n < batch; n++) {
            float *plane = din + plane_offset(s, batch, n, ci, x->channel_major);
            memset(plane, 0, s->in_height * s->in_width * sizeof *plane);
            for (size_t ty = 0; ty < g.th; ty++) {
                for (size_t tx = 0; tx < g.tw; tx++) {
                    float e[WINO_MAX_POSITIONS] = {0}, d[WINO_MAX_POSITIONS];
                    for (size_t co = 0; co < s->out_channels; co++) {
                        float u[WINO_MAX_POSITIONS], xt[WINO_MAX_POSITIONS];
                        k->filter_tile(u, weight + (co * s->in_channels + ci) * 9);
                        grad_block(xt, &g, dout, s, batch, n, co, ty, tx);
                        for (size_t p = 0; p < g.positions; p++) e[p] = fmaf(u[p], xt[p], e[p]);
                    }
                    k->input_tile_adjoint(d, e);
                    for (size_t q = 0; q < g.positions; q++) blocks[q * WINO_ROW_TILES + tx] = d[q];
                }
                add_grad_rows(plane, blocks, s, &g, ty);
            }
        }
}

/* ---- the passes ---------------------------------------------------------------------------- */

typedef struct {
    float *out, *din, *dweight, *dbias;
    const float *weight, *bias, *dout;
    conv_input x;
    int accumulate;
    wino_geom g;
    /* The calling thread's SCRATCH_WINOGRAD, shared by the parts (NULL: the direct path):
     * the forward's transformed filters, P cout cin floats (P = n n positions) written by all
     * parts before any reads them; the backward's per-part slices, 2 x P cout k floats at
     * 2 x P cout c0. One buffer per run, not per thread: on 64 threads a 512-channel layer's
     * filters are transformed once, not 64 times into 64 copies of 36 MB. Parts never ask for
     * this slot themselves, so a thread that runs another run's parts while it waits cannot
     * move it. */
    float *filters;
} wino_call;

typedef struct {
    const wino_kind *kind;
    float *v;
    size_t ldp, ld, c0, w, tw;
} inputs_walk;

static void transform_input_group(void *ctx, size_t c, size_t col, const float *const *rows,
                                  const wino_group *grp) {
    const inputs_walk *a = ctx;
    float *v = a->v + (c - a->c0) * a->ld + col;
#ifdef CONV_X86
    if (grp) {
        a->kind->input_group_v(v, a->ldp, rows, grp);
        return;
    }
#endif
    input_row(a->kind, v, a->ldp, rows, a->w, a->tw);
}

/* Transformed inputs of channels [c0, c1), tile rows [r0, r1) of the batch: v[p ldp + (c - c0)
 * ld + (r - r0) tw + tx]. */
static void transform_inputs(float *v, size_t ldp, size_t ld, const conv_input *x,
                             const wino_geom *g, size_t c0, size_t c1, size_t r0, size_t r1) {
    const conv_shape *s = x->shape;
    size_t plane = s->in_height * s->in_width;
    wino_planes planes = {x->data, x->channel_major ? x->batch * plane : plane,
                          x->channel_major ? plane : s->in_channels * plane, s->in_height,
                          s->in_width};
    inputs_walk walk = {g->kind, v, ldp, ld, c0, s->in_width, g->tw};
    walk_groups(g, &planes, -1, g->n, c0, c1, r0, r1, transform_input_group, &walk);
}

/* The forward's filter transform, one range of input channels per part. */
static void filter_part(void *ctx, size_t part, size_t parts) {
    const wino_call *a = ctx;
    const conv_shape *s = a->x.shape;
    size_t c0, c1;
    part_range(s->in_channels, part, parts, 1, &c0, &c1);
    if (c0 < c1)
        transform_filters_by_input(a->g.kind, a->filters, spread(s->out_channels * s->in_channels),
                                   a->weight, s, c0, c1);
}

typedef struct {
    const wino_kind *kind;
    const float *e, *bias;
    size_t ldp, cols, w, tw;
} outputs_walk;

static void store_output_group(void *ctx, size_t co, size_t col, const float *const *rows,
                               const wino_group *grp) {
    const outputs_walk *a = ctx;
    const float *e = a->e + co * a->cols + col;
    float bias = a->bias ? a->bias[co] : 0.0f;
    float *const *out = (float *const *)rows; /* the rows are the output's own */
#ifdef CONV_X86
    if (grp) {
        a->kind->output_group_v(out, e, a->ldp, grp, bias);
        return;
    }
#endif
    output_row(a->kind, out, e, a->ldp, a->w, a->tw, bias);
}

/* Output tile rows [r0, r1) of all output channels from their products e (channel co's at
 * e + co cols, positions ldp apart), plus bias, into the output planes. */
static void store_outputs(float *out, const float *e, size_t ldp, size_t cols, const wino_geom *g,
                          const conv_shape *s, size_t batch, const float *bias, size_t r0,
                          size_t r1) {
    size_t pixels = out_pixels(s);
    wino_planes planes = {out, batch * pixels, pixels, s->out_height, s->out_width};
    outputs_walk walk = {g->kind, e, bias, ldp, cols, s->out_width, g->tw};
    walk_groups(g, &planes, 0, g->m, 0, s->out_channels, r0, r1, store_output_group, &walk);
}

/* Forward: one range of samples per part, chunk by chunk of tile rows. */
static void forward_part(void *ctx, size_t part, size_t parts) {
    const wino_call *a = ctx;
    const conv_shape *s = a->x.shape;
    const wino_geom *g = &a->g;
    size_t n0, n1, cin = s->in_channels, cout = s->out_channels;
    part_range(a->x.batch, part, parts, 1, &n0, &n1);
    if (n0 == n1) return;
    const float *u = a->filters;
    float *v = u ? thread_scratch(SCRATCH_CONV, conv_winograd_thread_floats(s, a->x.batch)) : NULL;
    if (!v) {
        winograd_forward_direct(a->out, &a->x, a->weight, a->bias, n0, n1);
        return;
    }
    float *m = v + g->positions * (cin * g->tiles + WINO_SPREAD);
    size_t ldu = spread(cout * cin);
    for (size_t r0 = n0 * g->th; r0 < n1 * g->th; r0 += g->rows) {
        size_t r1 = r0 + g->rows < n1 * g->th ? r0 + g->rows : n1 * g->th, cols = (r1 - r0) * g->tw;
        size_t ldv = spread(cin * cols), ldm = spread(cout * cols);
        transform_inputs(v, ldv, cols, &a->x, g, 0, cin, r0, r1);
        for (size_t p = 0; p < g->positions; p++)
            gemm_one_thread(cout, cols, cin, matrix_transposed(u + p * ldu, cout),
                            matrix_rows(v + p * ldv, cols), m + p * ldm, cols, 0);
        store_outputs(a->out, m, ldm, cols, g, s, a->x.batch, a->bias, r0, r1);
    }
}

typedef struct {
    const wino_kind *kind;
    float *x;
    size_t ldp, ld, w, tw;
} grads_walk;

static void transform_grad_group(void *ctx, size_t co, size_t col, const float *const *rows,
                                 const wino_group *grp) {
    const grads_walk *a = ctx;
    float *x = a->x + co * a->ld + col;
#ifdef CONV_X86
    if (grp) {
        a->kind->grad_group_v(x, a->ldp, rows, grp);
        return;
    }
#endif
    grad_row(a->kind, x, a->ldp, rows, a->w, a->tw);
}

/* The transformed output gradient of all output channels, tile rows [r0, r1): x[p ldp + co
 * ld + (r - r0) tw + tx]. */
static void transform_grads(float *x, size_t ldp, size_t ld, const float *dout,
                            const conv_shape *s, size_t batch, const wino_geom *g, size_t r0,
                            size_t r1) {
    size_t pixels = out_pixels(s);
    wino_planes planes = {dout, batch * pixels, pixels, s->out_height, s->out_width};
    grads_walk walk = {g->kind, x, ldp, ld, s->out_width, g->tw};
    walk_groups(g, &planes, 0, g->m, 0, s->out_channels, r0, r1, transform_grad_group, &walk);
}

/* Backward: one range of input channels per part, all tile rows chunk by chunk in order. */
static void backward_part(void *ctx, size_t part, size_t parts) {
    const wino_call *a = ctx;
    const conv_shape *s = a->x.shape;
    const wino_geom *g = &a->g;
    size_t batch = a->x.batch, cin = s->in_channels, cout = s->out_channels, c0, c1;
    size_t width = batch * out_pixels(s), positions = g->positions;
    part_range(cin, part, parts, 1, &c0, &c1);
    size_t k = c1 - c0;
    if (a->dbias) conv_row_sums_part(a->dbias, a->dout, cout, width, a->accumulate, part, parts);
    if (k == 0) return;
    /* the transformed filters' slice and the weight gradient's sums, then the chunk's
     * transformed output gradient (all output channels) and inputs (the part's) */
    float *u = a->filters ? a->filters + 2 * positions * (cout + WINO_SPREAD) * c0 : NULL;
    float *xg = u ? thread_scratch(SCRATCH_CONV, conv_winograd_thread_floats(s, batch)) : NULL;
    if (!xg) {
        winograd_backward_direct(a->din, a->dweight, a->dout, &a->x, a->weight, c0, c1,
                                 a->accumulate);
        return;
    }
    size_t ldu = spread(cout * k);
    float *du = u + positions * ldu, *v = xg + positions * (cout * g->tiles + WINO_SPREAD);
    if (a->din) {
        transform_filters(g->kind, u, ldu, k, a->weight, s, c0, c1);
        for (size_t c = c0; c < c1; c++)
            for (size_t n = 0; n < batch; n++)
                memset(a->din + plane_offset(s, batch, n, c, a->x.channel_major), 0,
                       s->in_height * s->in_width * sizeof *a->din);
    }
    float blocks[WINO_MAX_POSITIONS * WINO_ROW_TILES];
    size_t total_rows = batch * g->th, span;
    for (size_t r0 = 0; r0 < total_rows; r0 += g->rows) {
        size_t r1 = r0 + g->rows < total_rows ? r0 + g->rows : total_rows, cols = (r1 - r0) * g->tw;
        size_t ldx = spread(cout * cols), ldv = spread(k * cols);
        transform_grads(xg, ldx, cols, a->dout, s, batch, g, r0, r1);
        transform_inputs(v, ldv, cols, &a->x, g, c0, c1, r0, r1);
        for (size_t p = 0; p < positions; p++)
            gemm_one_thread(cout, k, cols, matrix_rows(xg + p * ldx, cols),
                            matrix_transposed(v + p * ldv, cols), du + p * ldu, k, r0 > 0);
        if (!a->din) continue;
        /* the inputs are used: their space receives the input gradient's transforms */
        for (size_t p = 0; p < positions; p++)
            gemm_one_thread(k, cols, cout, matrix_transposed(u + p * ldu, k),
                            matrix_rows(xg + p * ldx, cols), v + p * ldv, cols, 0);
        for (size_t c = c0; c < c1; c++)
            for (size_t r = r0; r < r1; r += span) {
                /* a group's rows at once, as the other transforms (one row: portable loops) */
                span = !rows_avx512() ? 1 : r1 - r < g->group_rows ? r1 - r : g->group_rows;
                input_grad_row(g->kind, blocks, v + (c - c0) * cols + (r - r0) * g->tw, ldv,
                               span * g->tw);
                for (size_t q = 0; q < span; q++) {
                    size_t n = (r + q) / g->th, ty = (r + q) % g->th;
                    add_grad_rows(a->din + plane_offset(s, batch, n, c, a->x.channel_major),
                                  blocks + q * g->tw, s, g, ty);
                }
            }
    }
    store_filter_grads(g->kind, a->dweight, du, ldu, k, s, c0, c1, a->accumulate);
}

size_t conv_winograd_run_floats(const conv_shape *s) {
    size_t n = (size_t)kind_of(s)->n;
    return 2 * n * n * (s->out_channels + WINO_SPREAD) * s->in_channels;
}

size_t conv_winograd_thread_floats(const conv_shape *s, size_t batch) {
    wino_geom g = geometry(s, batch);
    return g.positions * ((s->in_channels + s->out_channels) * g.tiles + 2 * WINO_SPREAD);
}

/* The calling thread's filter buffer of `floats`, or NULL for the direct path. */
static float *filter_buffer(size_t floats) {
    return settings_conv_direct_forced() ? NULL : thread_scratch(SCRATCH_WINOGRAD, floats);
}

void conv_winograd_forward(float *out, const conv_input *x, const float *weight,
                           const float *bias) {
    const conv_shape *s = x->shape;
    wino_call call = {.out = out, .weight = weight, .bias = bias, .x = *x,
                      .g = geometry(s, x->batch),
                      .filters = filter_buffer(conv_winograd_run_floats(s))};
    size_t parts = conv_pass_parts(s, x->batch, x->batch);
    if (call.filters) parallel_parts(parts, filter_part, &call);
    parallel_parts(parts, forward_part, &call);
}

void conv_winograd_backward(float *din, float *dweight, float *dbias, const float *dout,
                            const conv_input *x, const float *weight, int accumulate) {
    wino_call call = {.din = din, .dweight = dweight, .dbias = dbias, .weight = weight,
                      .dout = dout, .x = *x, .accumulate = accumulate,
                      .g = geometry(x->shape, x->batch),
                      .filters = filter_buffer(conv_winograd_run_floats(x->shape))};
    parallel_parts(conv_pass_parts(x->shape, x->batch, x->shape->in_channels), backward_part,
                   &call);
}
