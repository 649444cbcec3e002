/* The matrix product behind every linear and convolution layer (see gemm.h for why it is
 * bntrain's own). Classic packed GEMM: op(B) is copied in blocks of KC x NC into panels of NR
 * columns, op(A) in blocks of MC x KC into panels of MR rows, and a register-blocked micro-kernel
 * multiplies one MR x NR tile of C at a time. Every kernel computes each entry as the same
 * ordered chain of fused multiply-adds, so the instruction set, the blocking and the split
 * between threads never change a bit. */
#define _GNU_SOURCE
#include "bntrain/gemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "engine/parallel.h"
#include "engine/simd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define GEMM_X86 1
#include <immintrin.h>
#endif

/* Tile and block sizes: a 12 x 32 tile keeps 24 of the 32 AVX-512 registers as accumulators;
 * a KC x NR panel of B (32 KiB) stays in L1 while the MC x KC block of A (96 KiB) streams
 * from L2. */
#define MR 12
#define NR 32
#define KC 256
#define MC 96
#define NC 1024
_Static_assert(GEMM_CONSUME_MAX_K <= KC, "gemm_consume packs all of k into one block");

/* ---- per-thread packing buffers ---------------------------------------------------------- */

typedef struct {
    float *a; /* MC x KC */
    float *b; /* KC x NC */
} pack_buffers;

/* The calling thread's buffers (parallel.h's scratch); 0 if memory ran out (the caller then
 * computes without packing: slower, same bits). */
static int thread_buffers(pack_buffers *buf) {
    buf->a = thread_scratch(SCRATCH_GEMM_A, (size_t)MC * KC);
    buf->b = thread_scratch(SCRATCH_GEMM_B, (size_t)KC * NC);
    return buf->a && buf->b;
}

size_t gemm_thread_floats(void) {
    return (size_t)MC * KC + (size_t)KC * NC;
}

/* ---- packing ------------------------------------------------------------------------------ */

/* Where entry (i, j) of a view is, from its data. */
static inline size_t view_offset(bn_matrix x, size_t i, size_t j) {
    if (!x.panel_stride) return i * x.row_stride + j * x.col_stride;
    if (x.panels_transposed) {
        size_t t = i;
        i = j;
        j = t;
    }
    return j / GEMM_PANEL * x.panel_stride + i * GEMM_PANEL + j % GEMM_PANEL;
}

static inline float at(bn_matrix x, size_t i, size_t j) {
    return x.data[view_offset(x, i, j)];
}

static bn_matrix transpose_view(bn_matrix x) {
    bn_matrix t = x;
    t.row_stride = x.col_stride;
    t.col_stride = x.row_stride;
    t.panels_transposed = x.panel_stride && !x.panels_transposed;
    return t;
}



/* Both operands' panels have one layout: kc rows p, `width` columns j, dst[p width + j]. A
 * panel of B is op(B) itself (width NR); a panel of A is op(A) transposed (width MR), so that
 * one routine packs both. */

#ifdef GEMM_X86
/* Transposes the 16 x 16 block r[i][j] in registers: afterwards r[j] holds column j. */
__attribute__((target("avx512f"), always_inline)) static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[4g + q], per 128-bit lane L: column 4L + q of rows 4g .. 4g + 3 */
    for (int g = 0; g < 4; g++) {
        __m512d lo = _mm512_castps_pd(t[4 * g]), hi = _mm512_castps_pd(t[4 * g + 1]);
        __m512d lo2 = _mm512_castps_pd(t[4 * g + 2]), hi2 = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo, lo2));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo, lo2));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi, hi2));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi, hi2));
    }
    for (int q = 0; q < 4; q++) {
        /* lanes: columns q and 8 + q (v0), 4 + q and 12 + q (v1), rows 0-3 and 4-7; w: 8-15 */
        __m512 v0 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88);
        __m512 v1 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xdd);
        __m512 w0 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88);
        __m512 w1 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xdd);
        r[q] = _mm512_shuffle_f32x4(v0, w0, 0x88);
        r[8 + q] = _mm512_shuffle_f32x4(v0, w0, 0xdd);
        r[4 + q] = _mm512_shuffle_f32x4(v1, w1, 0x88);
        r[12 + q] = _mm512_shuffle_f32x4(v1, w1, 0xdd);
    }
}

/* A panel whose columns are contiguous in memory (x.row_stride == 1) must be transposed:
 * one scalar at a time, that was as slow as the product itself where a panel meets few
 * columns of B (a convolution's weight gradient, N = 27 to 540) and a quarter of the FC
 * forward pass. Here blocks of 16 columns x 16 rows are transposed in registers and the rows
 * beyond the last multiple of 16 gathered. Returns 0 when offsets exceed 32 bits. */
__attribute__((target("avx512f"))) static int transpose_panel_avx512(float *dst, bn_matrix x,
                                                                   size_t p0, size_t kc,
                                                                   size_t j0, size_t cols,
                                                                   size_t width) {
    if (x.col_stride * 16 * sizeof(float) > 0x7fffffffu) return 0;
    __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i offsets = _mm512_mullo_epi32(lanes, _mm512_set1_epi32((int)x.col_stride));
    size_t whole = kc / 16 * 16;
    /* rows far apart: the lines 64 floats along each row are fetched ahead; rows of a matrix
     * in panels (32 floats apart) are one contiguous block, which needs no such help */
    int prefetch_rows_ahead = x.col_stride > 2 * GEMM_PANEL;
    for (size_t c0 = 0; c0 < cols; c0 += 16) {
        size_t n = cols - c0 < 16 ? cols - c0 : 16;
        __mmask16 mask = (__mmask16)((1u << n) - 1);
        const float *src = x.data + (j0 + c0) * x.col_stride + p0;
        for (size_t p = 0; p < whole && n == 16; p += 16) { /* the common case, unmasked */
            __m512 r[16];
            for (size_t j = 0; j < 16; j++) {
                r[j] = _mm512_loadu_ps(src + j * x.col_stride + p);
                if (prefetch_rows_ahead)
                    _mm_prefetch((const char *)(src + j * x.col_stride + p + 64), _MM_HINT_T0);
            }
            transpose16(r);
            for (size_t q = 0; q < 16; q++) _mm512_storeu_ps(dst + (p + q) * width + c0, r[q]);
        }
        for (size_t p = 0; p < whole && n < 16; p += 16) {
            __m512 r[16];
            for (size_t j = 0; j < 16; j++)
                r[j] = j < n ? _mm512_loadu_ps(src + j * x.col_stride + p) : _mm512_setzero_ps();
            transpose16(r);
            for (size_t q = 0; q < 16; q++)
                _mm512_mask_storeu_ps(dst + (p + q) * width + c0, mask, r[q]);
        }
        for (size_t p = whole; p < kc; p++)
            _mm512_mask_storeu_ps(dst + p * width + c0, mask,
                                  _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, offsets,
                                                           src + p, 4));
    }
    return 1;
}
#endif

static int transpose_panel(float *dst, bn_matrix x, size_t p0, size_t kc, size_t j0, size_t cols,
                           size_t width) {
#ifdef GEMM_X86
    if (cpu_isa_level() == CPU_ISA_AVX512)
        return transpose_panel_avx512(dst, x, p0, kc, j0, cols, width);
#endif
    return 0;
}

static void pack_from_panels(float *dst, bn_matrix x, size_t p0, size_t kc, size_t j0,
                             size_t cols, size_t width);

/* Rows [p0, p0 + kc) x columns [j0, j0 + cols) of x into a panel. width is a constant at
 * both call sites, so the copy of a whole row is inlined. */
static inline __attribute__((always_inline)) void
pack_panel(float *dst, bn_matrix x, size_t p0, size_t kc, size_t j0, size_t cols,
           const size_t width) {
    if (x.panel_stride) {
        pack_from_panels(dst, x, p0, kc, j0, cols, width);
    } else if (x.col_stride == 1 && cols == width) {
        for (size_t p = 0; p < kc; p++)
            memcpy(dst + p * width, x.data + (p0 + p) * x.row_stride + j0, width * sizeof(float));
    } else if (x.col_stride == 1) {
        for (size_t p = 0; p < kc; p++)
            memcpy(dst + p * width, x.data + (p0 + p) * x.row_stride + j0, cols * sizeof(float));
    } else if (x.row_stride == 1 && transpose_panel(dst, x, p0, kc, j0, cols, width)) {
        return;
    } else if (x.row_stride == 1) {
        for (size_t j = 0; j < cols; j++) {
            const float *src = x.data + (j0 + j) * x.col_stride + p0;
            for (size_t p = 0; p < kc; p++) dst[p * width + j] = src[p];
        }
    } else {
        for (size_t p = 0; p < kc; p++)
            for (size_t j = 0; j < cols; j++) dst[p * width + j] = at(x, p0 + p, j0 + j);
    }
}

/* pack_panel from a matrix in panels. Where the view is the stored matrix, a panel row is
 * GEMM_PANEL contiguous floats; where it is the transpose, each run of GEMM_PANEL rows of the
 * view is a strided matrix (row stride 1, column stride GEMM_PANEL) that the transposing
 * pack takes 16 x 16 blocks of, all within 4 KB. */
__attribute__((noinline)) static void pack_from_panels(float *dst, bn_matrix x, size_t p0,
                                                       size_t kc, size_t j0, size_t cols,
                                                       size_t width) {
    if (!x.panels_transposed && j0 % GEMM_PANEL == 0 && cols <= GEMM_PANEL) {
        const float *src = x.data + view_offset(x, p0, j0);
        for (size_t p = 0; p < kc; p++)
            memcpy(dst + p * width, src + p * GEMM_PANEL, cols * sizeof(float));
    } else if (x.panels_transposed) {
        for (size_t p = 0; p < kc;) {
            size_t q = p0 + p, run = GEMM_PANEL - q % GEMM_PANEL;
            if (run > kc - p) run = kc - p;
            bn_matrix strided = {x.data + view_offset(x, q, 0), 1, GEMM_PANEL, 0, 0};
            pack_panel(dst + p * width, strided, 0, run, j0, cols, width);
            p += run;
        }
    } else {
        for (size_t p = 0; p < kc; p++)
            for (size_t j = 0; j < cols; j++) dst[p * width + j] = at(x, p0 + p, j0 + j);
    }
}

/* Rows [i0, i0 + mr) x columns [p0, p0 + kc) of op(A): dst[p MR + i]. */
BN_HOT static void pack_a_panel(float *dst, bn_matrix a, size_t i0, size_t mr, size_t p0,
                                size_t kc) {
    pack_panel(dst, transpose_view(a), p0, kc, i0, mr, MR);
}

/* Rows [p0, p0 + kc) x columns [j0, j0 + nr) of op(B): dst[p NR + j], zero beyond nr so that
 * the kernel can always load whole vectors. */
BN_HOT static void pack_b_panel(float *dst, bn_matrix b, size_t p0, size_t kc, size_t j0,
                                size_t nr) {
    /* whole rows cleared, a constant size the compiler stores in two vectors: clearing only
     * the NR - nr floats past nr was a rep stos per row, whose start-up cost made this loop
     * 45 % of a first layer's weight gradient */
    if (nr < NR)
        for (size_t p = 0; p < kc; p++) memset(dst + p * NR, 0, NR * sizeof(float));
    pack_panel(dst, b, p0, kc, j0, nr, NR);
}

void gemm_pack_panel(float *dst, bn_matrix x, size_t p0, size_t rows, size_t j0, size_t cols) {
    pack_b_panel(dst, x, p0, rows, j0, cols);
}

/* ---- micro-kernels: C tile (mr x nr) = [C +] A panel x B panel ----------------------------- */

typedef struct {
    size_t mr, nr, kc;
    const float *a, *b; /* packed panels (B: or B's own rows, read in place) */
    size_t ldb;         /* floats from one row of B's panel to the next: NR when packed */
    float *c;
    size_t ldc;
    int load_c; /* start each chain from C (accumulating, or a later block of k) */
    /* otherwise from 0, or from a bias: bias[i] for the tile's row i (bias_per_row) or
     * bias[j] for its column j */
    const float *bias;
    int bias_per_row;
    gemm_prefetch prefetch; /* lines to prefetch (choose_tile_prefetching's kernels only) */
} tile_job;

/* Where entry (i, j) of a tile starts its chain when it does not load C. */
static inline float tile_start(const tile_job *t, size_t i, size_t j) {
    return t->bias ? t->bias[t->bias_per_row ? i : j] : 0.0f;
}

static void tile_portable(const tile_job *t) {
    for (size_t i = 0; i < t->mr; i++)
        for (size_t j = 0; j < t->nr; j++) {
            float acc = t->load_c ? t->c[i * t->ldc + j] : tile_start(t, i, j);
            for (size_t p = 0; p < t->kc; p++)
                acc = fmaf(t->a[p * MR + i], t->b[p * t->ldb + j], acc);
            t->c[i * t->ldc + j] = acc;
        }
}

/* Line q of the consumer's runs, alternating between the two. */
static inline const char *prefetch_line(const gemm_prefetch *pf, size_t q) {
    return (const char *)pf->start[q & 1] + (q >> 1) * GEMM_LINE_BYTES;
}

/* The lines no k step of the tile had room for (all of them for the kernels that do not
 * spread them: kc steps take prefetch slots kc / 2). */
static inline void prefetch_rest(const gemm_prefetch *pf, size_t from) {
    for (size_t q = from; q < 2 * pf->lines; q++) __builtin_prefetch(prefetch_line(pf, q), 1);
}

#ifdef GEMM_X86
/* rows, halves and prefetching are constants at every call site, so the loops over rows
 * unroll, the accumulators live in registers and a kernel without prefetching has no test
 * for it. halves = 1 when the tile is at most 16 columns wide. prefetching: one line of the
 * consumer's runs every other k step, so that only a few are in flight at a time. */
__attribute__((target("avx512f"), always_inline)) static inline void
tile_avx512_body(const tile_job *t, const size_t rows, const int halves, const int prefetching) {
    __m512 acc0[MR], acc1[MR];
    __mmask16 mask0 = t->nr >= 16 ? 0xffff : (__mmask16)((1u << t->nr) - 1);
    __mmask16 mask1 = t->nr >= 32 ? 0xffff : t->nr > 16 ? (__mmask16)((1u << (t->nr - 16)) - 1) : 0;
    for (size_t i = 0; i < rows; i++) {
        if (t->load_c) {
            acc0[i] = _mm512_maskz_loadu_ps(mask0, t->c + i * t->ldc);
            if (halves == 2) acc1[i] = _mm512_maskz_loadu_ps(mask1, t->c + i * t->ldc + 16);
        } else if (t->bias && t->bias_per_row) {
            acc0[i] = acc1[i] = _mm512_set1_ps(t->bias[i]);
        } else if (t->bias) {
            acc0[i] = _mm512_maskz_loadu_ps(mask0, t->bias);
            if (halves == 2) acc1[i] = _mm512_maskz_loadu_ps(mask1, t->bias + 16);
        } else {
            acc0[i] = acc1[i] = _mm512_setzero_ps();
        }
    }
    const float *a = t->a, *b = t->b;
    size_t slots = prefetching ? 2 * t->prefetch.lines : 0;
    for (size_t p = 0; p < t->kc; p++, a += MR, b += t->ldb) {
        if (prefetching && p % 2 == 0 && p / 2 < slots)
            __builtin_prefetch(prefetch_line(&t->prefetch, p / 2), 1);
        /* unaligned loads: B may be an operand kept in panels, read in place */
        __m512 b0 = _mm512_loadu_ps(b), b1 = halves == 2 ? _mm512_loadu_ps(b + 16) : b0;
        for (size_t i = 0; i < rows; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
            if (halves == 2) acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
        }
    }
    for (size_t i = 0; i < rows; i++) {
        _mm512_mask_storeu_ps(t->c + i * t->ldc, mask0, acc0[i]);
        if (halves == 2) _mm512_mask_storeu_ps(t->c + i * t->ldc + 16, mask1, acc1[i]);
    }
    if (prefetching) prefetch_rest(&t->prefetch, (t->kc + 1) / 2);
}

__attribute__((target("avx512f"), always_inline)) static inline void
tile_avx512_rows(const tile_job *t, const size_t rows, const int halves) {
    tile_avx512_body(t, rows, halves, 0);
}

__attribute__((target("avx512f"), always_inline)) static inline void
tile_avx512_rows_prefetching(const tile_job *t, const size_t rows, const int halves) {
    tile_avx512_body(t, rows, halves, 1);
}

#define ROWS_CASE(fn, r)                                                                       \
    case r:                                                                                    \
        if (t->nr > NR / 2)                                                                    \
            fn(t, r, 2);                                                                       \
        else                                                                                   \
            fn(t, r, 1);                                                                       \
        break;
#define ALL_ROWS(fn)                                                                           \
    ROWS_CASE(fn, 1) ROWS_CASE(fn, 2) ROWS_CASE(fn, 3) ROWS_CASE(fn, 4) ROWS_CASE(fn, 5)       \
    ROWS_CASE(fn, 6) ROWS_CASE(fn, 7) ROWS_CASE(fn, 8) ROWS_CASE(fn, 9) ROWS_CASE(fn, 10)      \
    ROWS_CASE(fn, 11) ROWS_CASE(fn, 12)

__attribute__((target("avx512f"))) static void tile_avx512(const tile_job *t) {
    switch (t->mr) { ALL_ROWS(tile_avx512_rows) }
}

__attribute__((target("avx512f"))) static void tile_avx512_prefetching(const tile_job *t) {
    switch (t->mr) { ALL_ROWS(tile_avx512_rows_prefetching) }
}

/* AVX2 has 16 registers: the tile is done in strips of up to 3 rows x 32 columns. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
tile_avx2_strip(const tile_job *t, size_t i0, const size_t rows) {
    __m256 acc[3][4];
    __m256i masks[4];
    for (size_t q = 0; q < 4; q++) {
        size_t lo = 8 * q, valid = t->nr > lo ? (t->nr - lo < 8 ? t->nr - lo : 8) : 0;
        int lanes[8];
        for (int l = 0; l < 8; l++) lanes[l] = (size_t)l < valid ? -1 : 0;
        masks[q] = _mm256_loadu_si256((const __m256i *)lanes);
    }
    float *c = t->c + i0 * t->ldc;
    for (size_t i = 0; i < rows; i++)
        for (size_t q = 0; q < 4; q++) {
            if (t->load_c)
                acc[i][q] = _mm256_maskload_ps(c + i * t->ldc + 8 * q, masks[q]);
            else if (t->bias && t->bias_per_row)
                acc[i][q] = _mm256_set1_ps(t->bias[i0 + i]);
            else if (t->bias)
                acc[i][q] = _mm256_maskload_ps(t->bias + 8 * q, masks[q]);
            else
                acc[i][q] = _mm256_setzero_ps();
        }
    const float *a = t->a + i0, *b = t->b;
    for (size_t p = 0; p < t->kc; p++, a += MR, b += t->ldb) {
        __m256 bv[4] = {_mm256_loadu_ps(b), _mm256_loadu_ps(b + 8), _mm256_loadu_ps(b + 16),
                        _mm256_loadu_ps(b + 24)};
        for (size_t i = 0; i < rows; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
            for (size_t q = 0; q < 4; q++) acc[i][q] = _mm256_fmadd_ps(ai, bv[q], acc[i][q]);
        }
    }
    for (size_t i = 0; i < rows; i++)
        for (size_t q = 0; q < 4; q++)
            _mm256_maskstore_ps(c + i * t->ldc + 8 * q, masks[q], acc[i][q]);
}

__attribute__((target("avx2,fma"))) static void tile_avx2(const tile_job *t) {
    size_t i = 0;
    for (; i + 3 <= t->mr; i += 3) tile_avx2_strip(t, i, 3);
    if (t->mr - i == 2) tile_avx2_strip(t, i, 2);
    if (t->mr - i == 1) tile_avx2_strip(t, i, 1);
}
#endif

typedef void (*tile_fn)(const tile_job *);

static tile_fn choose_tile(void) {
#ifdef GEMM_X86
    switch (cpu_isa_level()) {
    case CPU_ISA_AVX512:
        return tile_avx512;
    case CPU_ISA_AVX2:
        return tile_avx2;
    case CPU_ISA_PORTABLE:
        break;
    }
#endif
    return tile_portable;
}

/* The kernels that do not spread a consumer's prefetches prefetch all of them first. */
static void tile_prefetching_first(const tile_job *t) {
    prefetch_rest(&t->prefetch, 0);
    choose_tile()(t);
}

/* Whether choose_tile_prefetching's kernel spreads its prefetches over its k steps. */
static int prefetches_spread(void) {
    return cpu_isa_level() == CPU_ISA_AVX512;
}

/* A kernel that also prefetches t->prefetch. */
static tile_fn choose_tile_prefetching(void) {
#ifdef GEMM_X86
    if (prefetches_spread()) return tile_avx512_prefetching;
#endif
    return tile_prefetching_first;
}

/* ---- drivers ------------------------------------------------------------------------------- */

_Static_assert(NR == GEMM_PANEL && NC % NR == 0,
               "a tile's columns lie in one panel, and blocks start at a panel");

static size_t min_size(size_t a, size_t b) {
    return a < b ? a : b;
}

/* One product, or a thread's share of one: entries [i_lo, i_hi) x [j_lo, j_hi) of C, in the
 * whole product's coordinates (operands and C are never offset, which a view in panels
 * could not be at every row). */
typedef struct {
    size_t m, n, k;
    bn_matrix a, b;
    float *c;
    size_t ldc;
    size_t c_panel_stride; /* 0, or C is in panels (gemm_panels) */
    int accumulate;
    const float *bias; /* when not accumulating: chains start from it (gemm_biased) */
    int bias_per_row;
    gemm_consumer consumer; /* gemm_consume: C is handed over tile by tile, never stored */
    size_t i_lo, i_hi, j_lo, j_hi;
} gemm_call;

static inline float *c_at(const gemm_call *g, size_t i, size_t j) {
    if (g->c_panel_stride)
        return g->c + j / GEMM_PANEL * g->c_panel_stride + i * GEMM_PANEL + j % GEMM_PANEL;
    return g->c + i * g->ldc + j;
}

static inline size_t c_row_stride(const gemm_call *g) {
    return g->c_panel_stride ? GEMM_PANEL : g->ldc;
}

/* Where entry (i, j) starts its chain. */
static inline float call_start(const gemm_call *g, size_t i, size_t j) {
    if (g->accumulate) return *c_at(g, i, j);
    return g->bias ? g->bias[g->bias_per_row ? i : j] : 0.0f;
}

/* The chain of entry (i, j), straight from the operands. */
static inline float unpacked_entry(const gemm_call *g, size_t i, size_t j, float acc) {
    for (size_t p = 0; p < g->k; p++) acc = fmaf(at(g->a, i, p), at(g->b, p, j), acc);
    return acc;
}

/* Without packing buffers (out of memory): the same chains. */
static void gemm_unpacked(const gemm_call *g) {
    for (size_t i = g->i_lo; i < g->i_hi; i++)
        for (size_t j = g->j_lo; j < g->j_hi; j++)
            *c_at(g, i, j) = unpacked_entry(g, i, j, call_start(g, i, j));
}

/* The next tile's rows of C, so that its first loads do not wait for memory. */
static inline void prefetch_rows(const float *c, size_t ldc, size_t rows) {
    for (size_t i = 0; i < rows; i++) {
        __builtin_prefetch(c + i * ldc, 1);
        __builtin_prefetch(c + i * ldc + 16, 1);
    }
}

/* A product with at most this many rows reads whole panels of a row-major B in place: each
 * panel then serves at most 8 tiles, and copying it cost more than the strided reads (a
 * convolution's lowered input, 30 to 90 output channels: the copies were 4 % of a CNN step). */
#define B_IN_PLACE_MAX_ROWS MC

/* B's panel for columns [j, j + NR) and rows [p0, p0 + kc), and its row stride: read in place
 * when B is kept in panels, or is row-major with few rows of C to serve (rows) and the panel
 * is whole; else packed into dst. */
static const float *b_panel(float *dst, bn_matrix b, size_t p0, size_t kc, size_t j, size_t nr,
                            size_t rows, size_t *ldb) {
    *ldb = NR;
    if (b.panel_stride && !b.panels_transposed) return b.data + view_offset(b, p0, j);
    if (!b.panel_stride && b.col_stride == 1 && nr == NR && rows <= B_IN_PLACE_MAX_ROWS) {
        *ldb = b.row_stride;
        return b.data + view_offset(b, p0, j);
    }
    pack_b_panel(dst, b, p0, kc, j, nr);
    return dst;
}

/* The panel of B that the walk of gemm_serial reads after the one at columns jc + jr of the
 * k block at pc (the block's next panel, or the first of the k block after it), when B is kept
 * in panels and read in place; NULL otherwise, or at the end. *kc: that panel's rows. */
static const float *next_panel_in_place(const gemm_call *g, size_t jc, size_t nc, size_t pc,
                                        size_t jr, size_t *kc) {
    bn_matrix b = g->b;
    if (!b.panel_stride || b.panels_transposed) return NULL;
    *kc = min_size(KC, g->k - pc);
    if (jr + NR < nc) return b.data + view_offset(b, pc, jc + jr + NR);
    if (pc + KC >= g->k) return NULL;
    *kc = min_size(KC, g->k - pc - KC);
    return b.data + view_offset(b, pc + KC, jc);
}

/* Share `tile` of `tiles` of a panel of kc x NR floats read in place, as two halves. A linear
 * layer's weights come from L3 or memory the first time a block of rows meets them, at a
 * panel of 32 KB per tile of the first row block: faster than the hardware prefetcher
 * streams (each 4 KB page starts anew). So while the tiles of one panel run, each fetches a
 * share of the next panel, spread over its k steps (the same lines prefetched between tiles
 * stalled: more than the core can have in flight, and no faster than no prefetch at all). */
static gemm_prefetch panel_share(const float *panel, size_t kc, size_t tile, size_t tiles) {
    gemm_prefetch pf = {{NULL, NULL}, 0};
    size_t total = kc * NR * sizeof(float) / GEMM_LINE_BYTES, per = (total + tiles - 1) / tiles;
    size_t lo = tile * per;
    if (lo >= total) return pf;
    size_t count = min_size(per, total - lo), half = (count + 1) / 2;
    pf.start[0] = (const char *)panel + lo * GEMM_LINE_BYTES;
    pf.start[1] = (const char *)panel + (lo + count - half) * GEMM_LINE_BYTES; /* ends with it */
    pf.lines = half;
    return pf;
}

static void gemm_serial(const gemm_call *g) {
    pack_buffers buffers, *buf = &buffers;
    if (!thread_buffers(buf)) {
        gemm_unpacked(g);
        return;
    }
    tile_fn tile = choose_tile(), tile_prefetching = choose_tile_prefetching();
    size_t k = g->k, ldc = c_row_stride(g);
    const float *b_panels[NC / NR];
    size_t b_strides[NC / NR];
    for (size_t jc = g->j_lo; jc < g->j_hi; jc += NC) {
        size_t nc = min_size(NC, g->j_hi - jc);
        for (size_t pc = 0; pc < k; pc += KC) {
            size_t kc = min_size(KC, k - pc);
            for (size_t jr = 0; jr < nc; jr += NR)
                b_panels[jr / NR] = b_panel(buf->b + jr * kc, g->b, pc, kc, jc + jr,
                                            min_size(NR, nc - jr), g->i_hi - g->i_lo,
                                            &b_strides[jr / NR]);
            for (size_t ic = g->i_lo; ic < g->i_hi; ic += MC) {
                size_t mc = min_size(MC, g->i_hi - ic);
                for (size_t ir = 0; ir < mc; ir += MR)
                    pack_a_panel(buf->a + ir * kc, g->a, ic + ir, min_size(MR, mc - ir), pc, kc);
                size_t tiles = (mc + MR - 1) / MR, next_kc = 0;
                for (size_t jr = 0; jr < nc; jr += NR) {
                    /* the panels are in L2 once the first row block has read them; the
                     * same lines prefetched in a burst before each tile gained nothing */
                    const float *next = ic == g->i_lo && prefetches_spread()
                                            ? next_panel_in_place(g, jc, nc, pc, jr, &next_kc)
                                            : NULL;
                    for (size_t ir = 0; ir < mc; ir += MR) {
                        tile_job t = {.mr = min_size(MR, mc - ir),
                                      .nr = min_size(NR, nc - jr),
                                      .kc = kc,
                                      .a = buf->a + ir * kc,
                                      .b = b_panels[jr / NR],
                                      .ldb = b_strides[jr / NR],
                                      .c = c_at(g, ic + ir, jc + jr),
                                      .ldc = ldc,
                                      .load_c = g->accumulate || pc > 0,
                                      .bias = !g->bias         ? NULL
                                              : g->bias_per_row ? g->bias + ic + ir
                                                                : g->bias + jc + jr,
                                      .bias_per_row = g->bias_per_row};
                        if (ir + MR < mc) prefetch_rows(t.c + MR * ldc, ldc, MR);
                        if (next) t.prefetch = panel_share(next, next_kc, ir / MR, tiles);
                        (next ? tile_prefetching : tile)(&t);
                    }
                }
            }
        }
    }
}

/* ---- B kept in panels but transposed: the product computed as C^T = op(B)^T op(A)^T ---------
 *
 * A linear layer's input gradient multiplies by the transpose of the weight the forward pass
 * reads in place, so the packed walk copies all of the weight, transposing, before it can
 * start (a microbenchmark: 1.23x as long as the forward's product). Turned around, the weight
 * is the left-hand operand as it is stored: for k in one panel, a tile's MR rows of it are
 * one contiguous block, read by broadcasts in place; the right-hand operand is op(A)^T, the
 * small output gradient, packed once; and each finished tile is transposed in registers as it
 * is stored. Each entry is the same chain (a b = b a exactly), so the bits do not change. */

/* One tile of C^T: rows r of the stored matrix (C's columns j0 + r) by NR columns (C's rows
 * i0 + q) of the packed op(A)^T, over all k in one pass, so C is written once, never read. */
typedef struct {
    size_t mr, nr, k; /* tile rows (of the stored matrix) and columns, as tile_job's */
    /* row j0 of the stored matrix: entry (r, p) at a[p / P a_panel_stride + r P + p % P], with
     * P = GEMM_PANEL and a_panel_stride the floats from one of its panels to the next */
    const float *a;
    size_t a_panel_stride;
    const float *b;        /* packed: b[p NR + q] */
    float *c;              /* entry (i0, j0) of C */
    size_t ldc;
    /* the next MR rows of the stored matrix at row j0 + MR (NULL: none, or not this tile's to
     * fetch), next_lines cache lines of them in each panel */
    const float *a_next;
    size_t next_lines;
} turned_tile;

#ifdef GEMM_X86
__attribute__((target("avx512f"), always_inline)) static inline void
turned_tile_body(const turned_tile *t, const size_t rows, const int halves, const int prefetching) {
    __m512 acc0[MR], acc1[MR];
    for (size_t r = 0; r < rows; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
    const float *b = t->b;
    for (size_t p0 = 0; p0 < t->k; p0 += GEMM_PANEL) {
        const float *a = t->a + p0 / GEMM_PANEL * t->a_panel_stride;
        size_t steps = min_size(GEMM_PANEL, t->k - p0);
        const char *next = prefetching ? (const char *)(t->a_next + (a - t->a)) : NULL;
        for (size_t p = 0; p < steps; p++, b += NR) {
            if (prefetching && p < t->next_lines) __builtin_prefetch(next + p * GEMM_LINE_BYTES);
            if (prefetching && p + 1 == steps) /* a short last panel: the lines left over */
                for (size_t q = steps; q < t->next_lines; q++)
                    __builtin_prefetch(next + q * GEMM_LINE_BYTES);
            __m512 b0 = _mm512_load_ps(b), b1 = halves == 2 ? _mm512_load_ps(b + 16) : b0;
            for (size_t r = 0; r < rows; r++) {
                __m512 ar = _mm512_set1_ps(a[r * GEMM_PANEL + p]);
                acc0[r] = _mm512_fmadd_ps(ar, b0, acc0[r]);
                if (halves == 2) acc1[r] = _mm512_fmadd_ps(ar, b1, acc1[r]);
            }
        }
    }
    /* after the transpose, column q of the tile (C's row i0 + q) is one vector of rows lanes */
    __mmask16 lanes = (__mmask16)((1u << rows) - 1);
    for (int half = 0; half < halves; half++) {
        __m512 col[16];
        for (size_t r = 0; r < 16; r++)
            col[r] = r < rows ? (half ? acc1[r] : acc0[r]) : _mm512_setzero_ps();
        transpose16(col);
        size_t q0 = 16 * (size_t)half, q_end = min_size(t->nr, q0 + 16);
        for (size_t q = q0; q < q_end; q++)
            _mm512_mask_storeu_ps(t->c + q * t->ldc, lanes, col[q - q0]);
    }
}

__attribute__((target("avx512f"), always_inline)) static inline void
turned_tile_rows(const turned_tile *t, const size_t rows, const int halves) {
    turned_tile_body(t, rows, halves, 0);
}

__attribute__((target("avx512f"), always_inline)) static inline void
turned_tile_rows_prefetching(const turned_tile *t, const size_t rows, const int halves) {
    turned_tile_body(t, rows, halves, 1);
}

__attribute__((target("avx512f"))) static void turned_tile_avx512(const turned_tile *t) {
    if (t->a_next) {
        switch (t->mr) { ALL_ROWS(turned_tile_rows_prefetching) }
    } else {
        switch (t->mr) { ALL_ROWS(turned_tile_rows) }
    }
}
#endif

/* Floats of packed op(A)^T one pass over the stored matrix serves: columns of C's rows, all
 * of k, kept in L2 next to the matrix's blocks that stream past them. */
#define TURNED_B_FLOATS (128u * 1024u)

/* Whether a share is computed turned around: B kept in panels transposed, C plainly stored and
 * overwritten, a kernel for it, and k between KC and the budget. Storing a tile transposed
 * costs about as much as a dozen k steps: with the 10 outputs of the paper's last layer as k
 * its input gradient took 1.5x as long as the packed walk's (in-training). */
static int turns_around(const gemm_call *g) {
    return g->b.panel_stride && g->b.panels_transposed && !g->c_panel_stride &&
           !g->accumulate && !g->bias && !g->consumer.consume && g->k >= KC &&
           g->k * NR <= TURNED_B_FLOATS && cpu_isa_level() == CPU_ISA_AVX512;
}

/* The share [i_lo, i_hi) x [j_lo, j_hi) of C: for each group of C's rows whose op(A)^T fits
 * TURNED_B_FLOATS, packed once, the stored matrix is walked once, MR of its rows at a time,
 * each meeting every panel of the group while it is in L1. */
static void gemm_turned_serial(const gemm_call *g) {
#ifdef GEMM_X86
    size_t k = g->k, group = TURNED_B_FLOATS / (k * NR) * NR;
    float *b = thread_scratch(SCRATCH_GEMM_B, group * k);
    if (!b) {
        gemm_unpacked(g);
        return;
    }
    bn_matrix stored = g->b, at = transpose_view(g->a);
    stored.panels_transposed = 0;
    for (size_t i0 = g->i_lo; i0 < g->i_hi; i0 += group) {
        size_t i_hi = min_size(g->i_hi, i0 + group);
        for (size_t i = i0; i < i_hi; i += NR)
            pack_b_panel(b + (i - i0) * k, at, 0, k, i, min_size(NR, i_hi - i));
        for (size_t j = g->j_lo; j < g->j_hi; j += MR)
            for (size_t i = i0; i < i_hi; i += NR) {
                turned_tile t = {.mr = min_size(MR, g->j_hi - j),
                                 .nr = min_size(NR, i_hi - i),
                                 .k = k,
                                 .a = stored.data + view_offset(stored, j, 0),
                                 .a_panel_stride = stored.panel_stride,
                                 .b = b + (i - i0) * k,
                                 .c = c_at(g, i, j),
                                 .ldc = g->ldc};
                if (i + NR >= i_hi && j + MR < g->j_hi) {
                    t.a_next = t.a + MR * GEMM_PANEL;
                    t.next_lines = min_size(MR, g->j_hi - j - MR) * GEMM_PANEL * sizeof(float) /
                                   GEMM_LINE_BYTES;
                }
                turned_tile_avx512(&t);
            }
    }
#else
    gemm_unpacked(g);
#endif
}

/* What the consumer will touch for the tile after (i, j) in gemm_consume_serial's walk (rows:
 * the share's), or nothing. */
static gemm_prefetch next_tile_prefetch(const gemm_call *g, size_t i, size_t j, size_t rows) {
    gemm_prefetch pf = {{NULL, NULL}, 0};
    size_t next_i = i + MR, next_j = j;
    if (next_i >= g->i_lo + rows) {
        next_i = g->i_lo;
        next_j = j + NR;
    }
    if (g->consumer.ahead && next_j < g->j_hi)
        g->consumer.ahead(g->consumer.ctx, next_i, next_j, min_size(MR, g->i_lo + rows - next_i),
                          min_size(NR, g->j_hi - next_j), &pf);
    return pf;
}

/* gemm_consume's walk (k <= KC, so each tile is final after one pass): the share's whole A
 * is packed once (at most 256 floats a row), then each panel of columns is walked down, so
 * a consumer that keeps its arrays in panels sweeps them in memory order, and B's panel
 * stays in L1 while A streams from L2. */
static void gemm_consume_serial(const gemm_call *g) {
    _Alignas(64) float tile_c[MR * NR];
    size_t k = g->k, rows = g->i_hi - g->i_lo, padded_rows = (rows + MR - 1) / MR * MR;
    float *a = thread_scratch(SCRATCH_GEMM_A, padded_rows * k > (size_t)MC * KC
                                                  ? padded_rows * k
                                                  : (size_t)MC * KC);
    float *b = thread_scratch(SCRATCH_GEMM_B, (size_t)KC * NC);
    tile_fn tile = g->consumer.ahead ? choose_tile_prefetching() : choose_tile();
    for (size_t ir = 0; a && b && ir < rows; ir += MR)
        pack_a_panel(a + ir * k, g->a, g->i_lo + ir, min_size(MR, rows - ir), 0, k);
    for (size_t j = g->j_lo; j < g->j_hi; j += NR) {
        size_t nr = min_size(NR, g->j_hi - j);
        size_t ldb;
        const float *panel = a && b ? b_panel(b, g->b, 0, k, j, nr, rows, &ldb) : NULL;
        for (size_t ir = 0; ir < rows; ir += MR) {
            size_t mr = min_size(MR, rows - ir), i = g->i_lo + ir;
            if (panel) {
                tile_job t = {.mr = mr, .nr = nr, .kc = k, .a = a + ir * k, .b = panel,
                              .ldb = ldb, .c = tile_c, .ldc = NR,
                              .prefetch = next_tile_prefetch(g, i, j, rows)};
                tile(&t);
            } else { /* out of memory: the same chains, unpacked */
                for (size_t ii = 0; ii < mr; ii++)
                    for (size_t jj = 0; jj < nr; jj++)
                        tile_c[ii * NR + jj] = unpacked_entry(g, i + ii, j + jj, 0.0f);
            }
            g->consumer.consume(g->consumer.ctx, i, j, mr, nr, tile_c, NR);
        }
    }
}

static void run_share(const gemm_call *g) {
    if (g->i_lo < g->i_hi && g->j_lo < g->j_hi)
        (g->consumer.consume ? gemm_consume_serial
         : turns_around(g)   ? gemm_turned_serial
                             : gemm_serial)(g);
}

/* Thread `part` of `parts` takes a contiguous share of whole column panels (or, when there are
 * fewer column panels than threads, of row panels): who computes an entry changes, never how. */
static void gemm_part(void *call, size_t part, size_t parts) {
    const gemm_call *g = call;
    size_t col_panels = (g->n + NR - 1) / NR, row_panels = (g->m + MR - 1) / MR;
    gemm_call share = *g;
    if (col_panels >= parts || col_panels >= row_panels || g->consumer.consume) {
        share.j_lo = min_size(g->n, col_panels * part / parts * NR);
        share.j_hi = min_size(g->n, col_panels * (part + 1) / parts * NR);
    } else {
        share.i_lo = min_size(g->m, row_panels * part / parts * MR);
        share.i_hi = min_size(g->m, row_panels * (part + 1) / parts * MR);
    }
    run_share(&share);
}

/* Products smaller than this many multiply-adds run on one thread: waking helpers costs more. */
#define PARALLEL_MIN_WORK (1u << 20)

static void gemm_on(size_t threads, gemm_call g) {
    g.i_hi = g.m;
    g.j_hi = g.n;
    if (g.m == 0 || g.n == 0) return;
    if (g.k == 0) {
        if (!g.accumulate)
            for (size_t i = 0; i < g.m; i++)
                for (size_t j = 0; j < g.n; j++) *c_at(&g, i, j) = call_start(&g, i, j);
        return;
    }
    if (threads > 1 && (double)g.m * (double)g.n * (double)g.k < (double)PARALLEL_MIN_WORK)
        threads = 1;
    if (threads == 1) {
        run_share(&g);
        return;
    }
    parallel_parts(threads, gemm_part, &g);
}

void gemm(size_t m, size_t n, size_t k, bn_matrix a, bn_matrix b, float *c, size_t ldc,
          int accumulate) {
    gemm_on(parallel_threads(), (gemm_call){.m = m, .n = n, .k = k, .a = a, .b = b, .c = c,
                                        .ldc = ldc, .accumulate = accumulate});
}

void gemm_one_thread(size_t m, size_t n, size_t k, bn_matrix a, bn_matrix b, float *c,
                     size_t ldc, int accumulate) {
    gemm_on(1, (gemm_call){.m = m, .n = n, .k = k, .a = a, .b = b, .c = c, .ldc = ldc,
                           .accumulate = accumulate});
}

void gemm_panels(size_t m, size_t n, size_t k, bn_matrix a, bn_matrix b, float *c,
                 int accumulate) {
    gemm_on(parallel_threads(), (gemm_call){.m = m, .n = n, .k = k, .a = a, .b = b, .c = c,
                                        .c_panel_stride = m * GEMM_PANEL,
                                        .accumulate = accumulate});
}

void gemm_biased(size_t threads, size_t m, size_t n, size_t k, bn_matrix a, bn_matrix b,
                 const float *bias, int bias_per_row, float *c, size_t ldc) {
    gemm_on(threads ? threads : parallel_threads(),
            (gemm_call){.m = m, .n = n, .k = k, .a = a, .b = b, .c = c, .ldc = ldc,
                        .bias = bias, .bias_per_row = bias_per_row});
}

int gemm_consume(size_t threads, size_t m, size_t n, size_t k, bn_matrix a, bn_matrix b,
                 gemm_consumer consumer) {
    if (k == 0 || k > GEMM_CONSUME_MAX_K) return 0;
    gemm_on(threads ? threads : parallel_threads(),
            (gemm_call){.m = m, .n = n, .k = k, .a = a, .b = b, .consumer = consumer});
    return 1;
}
