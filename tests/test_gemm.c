/* bntrain's GEMM against its specification: every entry of C is the ordered chain of fused
 * multiply-adds over k, starting from 0, from C when accumulating, or from a bias per row or
 * per column (gemm_biased). The test computes that
 * chain with fmaf and demands the same bits, for every instruction-set level the CPU has, for
 * 1 to 4 threads, for transposed and strided operands, and for shapes that cross every block
 * edge (MR = 12, NR = 32, MC = 96, KC = 256, NC = 1024); and checks the chain itself against
 * a double-precision product, so that a consistent but wrong definition cannot pass.
 * gemm_consume must hand over the same bits, tile by tile, each entry once. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "bntrain/gemm.h"
#include "base/cpu.h"
#include "engine/parallel.h"
#include "engine/settings.h"
#include "check.h"

typedef struct {
    size_t m, n, k;
} shape;

static const shape shapes[] = {
    {1, 1, 1},     {1, 1, 300},   {12, 32, 256}, {13, 33, 257},  {11, 31, 7},
    {30, 27, 700}, {97, 65, 300}, {5, 1030, 40}, {130, 17, 513}, {128, 10, 100},
    {3, 200, 1},   {64, 64, 0},
};

static uint32_t lcg = 12345;

static float random_float(void) {
    lcg = lcg * 1664525u + 1013904223u;
    return (float)((int)(lcg >> 8) % 2001 - 1000) / 613.0f;
}

static void fill(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = random_float();
}

/* op(X) as a view of memory stored with the given layout: 0 row-major, 1 transposed, 2 every
 * other element of a row-major matrix twice as wide (a general stride), 3 in panels, 4 the
 * transpose of a matrix in panels. */
enum { LAYOUTS = 5 };

static bn_matrix view(const float *data, size_t rows, size_t cols, int layout) {
    if (layout == 1) return matrix_transposed(data, rows);
    if (layout == 2) return (bn_matrix){data, 2 * cols, 2, 0, 0};
    if (layout == 3) return matrix_panels(data, rows);
    if (layout == 4) return matrix_panels_transposed(data, cols);
    return matrix_rows(data, cols);
}

/* Floats the memory behind view(data, rows, cols, layout) takes. */
static size_t layout_floats(size_t rows, size_t cols, int layout) {
    if (layout == 3) return panels_floats(rows, cols) + 1;
    if (layout == 4) return panels_floats(cols, rows) + 1;
    return 2 * (rows * cols + 1);
}

/* The test's own reading of a view, written from gemm.h's definitions. */
static float element(bn_matrix x, size_t i, size_t j) {
    if (!x.panel_stride) return x.data[i * x.row_stride + j * x.col_stride];
    size_t r = x.panels_transposed ? j : i, c = x.panels_transposed ? i : j;
    return x.data[c / GEMM_PANEL * x.panel_stride + r * GEMM_PANEL + c % GEMM_PANEL];
}

/* Where a chain starts: 0 from zero, 1 from C, 2 from bias[i], 3 from bias[j]. */
enum { START_ZERO, START_C, START_ROW_BIAS, START_COLUMN_BIAS, STARTS };

static float start_value(int start, const float *c0, const float *bias, size_t n, size_t i,
                         size_t j) {
    switch (start) {
    case START_C:
        return c0[i * n + j];
    case START_ROW_BIAS:
        return bias[i];
    case START_COLUMN_BIAS:
        return bias[j];
    }
    return 0.0f;
}

static void chain_reference(const shape *s, bn_matrix a, bn_matrix b, float *c, int start,
                            const float *bias) {
    for (size_t i = 0; i < s->m; i++)
        for (size_t j = 0; j < s->n; j++) {
            float acc = start_value(start, c, bias, s->n, i, j);
            for (size_t p = 0; p < s->k; p++) acc = fmaf(element(a, i, p), element(b, p, j), acc);
            c[i * s->n + j] = acc;
        }
}

/* The chain is a correctly rounded sum to within k float roundings of sum |a b|. */
static int close_to_exact(const shape *s, bn_matrix a, bn_matrix b, const float *c,
                          const float *c0, int start, const float *bias) {
    for (size_t i = 0; i < s->m; i++)
        for (size_t j = 0; j < s->n; j++) {
            double exact = start_value(start, c0, bias, s->n, i, j), bound = fabs(exact);
            for (size_t p = 0; p < s->k; p++) {
                double t = (double)element(a, i, p) * element(b, p, j);
                exact += t;
                bound += fabs(t);
            }
            if (fabs(c[i * s->n + j] - exact) > (double)(s->k + 1) * 6e-8 * bound + 1e-30)
                return 0;
        }
    return 1;
}

/* gemm_panels: C in panels gets the same bits, and its padding is left alone. */
static void check_panels_c(const shape *s, bn_matrix a, bn_matrix b, int start, const float *c0,
                           const float *expected, size_t threads) {
    size_t floats = panels_floats(s->m, s->n) + 1;
    float *c = malloc(floats * sizeof(float));
    for (size_t e = 0; e < floats; e++) c[e] = -7.0f; /* padding's sentinel */
    bn_matrix layout = matrix_panels(c, s->m);
    for (size_t i = 0; i < s->m; i++)
        for (size_t j = 0; j < s->n; j++)
            c[(j / GEMM_PANEL) * layout.panel_stride + i * GEMM_PANEL + j % GEMM_PANEL] =
                c0[i * s->n + j];
    gemm_panels(s->m, s->n, s->k, a, b, c, start == START_C);
    int same = 1, padding_kept = 1;
    for (size_t e = 0; e + 1 < floats; e++) {
        size_t j = e / layout.panel_stride * GEMM_PANEL + e % GEMM_PANEL,
               i = e % layout.panel_stride / GEMM_PANEL;
        if (j < s->n)
            same &= memcmp(&c[e], &expected[i * s->n + j], sizeof(float)) == 0;
        else
            padding_kept &= c[e] == -7.0f;
    }
    CHECK_MSG(same && padding_kept && c[floats - 1] == -7.0f,
              "%zu x %zu x %zu, start %d, %s, %zu threads: C in panels %s", s->m, s->n, s->k,
              start, cpu_isa_name(), threads, same ? "has its padding written" : "has other bits");
    free(c);
}

static void test_shape(const shape *s, int layout_a, int layout_b, int start, int best) {
    size_t a_floats = layout_floats(s->m, s->k, layout_a);
    size_t b_floats = layout_floats(s->k, s->n, layout_b);
    float *a_data = malloc(a_floats * sizeof(float)), *b_data = malloc(b_floats * sizeof(float));
    size_t c_floats = s->m * s->n > 0 ? s->m * s->n : 1;
    float *c0 = malloc(c_floats * sizeof(float)), *expected = malloc(c_floats * sizeof(float));
    float *c = malloc(c_floats * sizeof(float));
    float *bias = malloc((s->m + s->n + 1) * sizeof(float));
    fill(bias, s->m + s->n + 1);
    fill(a_data, a_floats);
    fill(b_data, b_floats);
    fill(c0, c_floats);
    bn_matrix a = view(a_data, s->m, s->k, layout_a), b = view(b_data, s->k, s->n, layout_b);
    memcpy(expected, c0, c_floats * sizeof(float));
    chain_reference(s, a, b, expected, start, bias);
    CHECK_MSG(close_to_exact(s, a, b, expected, c0, start, bias),
              "the fmaf chain is not the product (%zu x %zu x %zu)", s->m, s->n, s->k);
    for (int level = best; level >= 0; level--) {
        cpu_limit_isa(level);
        for (size_t threads = 1; threads <= 4; threads++) {
            /* the portable kernel is slow: it is checked on one and two threads */
            if (level == 0 && threads > 2) break;
            parallel_set_threads(threads);
            memcpy(c, c0, c_floats * sizeof(float));
            if (start >= START_ROW_BIAS)
                gemm_biased(0, s->m, s->n, s->k, a, b, bias, start == START_ROW_BIAS, c, s->n);
            else
                gemm(s->m, s->n, s->k, a, b, c, s->n, start == START_C);
            CHECK_MSG(memcmp(c, expected, s->m * s->n * sizeof(float)) == 0,
                      "%zu x %zu x %zu, layouts %d %d, start %d, %s, %zu threads: not the "
                      "chain's bits",
                      s->m, s->n, s->k, layout_a, layout_b, start, cpu_isa_name(), threads);
            if (start <= START_C) check_panels_c(s, a, b, start, c0, expected, threads);
        }
    }
    cpu_limit_isa(best);
    parallel_set_threads(1);
    free(a_data);
    free(b_data);
    free(c0);
    free(expected);
    free(c);
    free(bias);
}

/* gemm_consume: what the consumer is handed, entry by entry. */
typedef struct {
    float *c;
    unsigned char *seen; /* times each entry was handed over */
    size_t n;
    int track_order;         /* 1 thread only: the previous tile, and whether one came late */
    size_t last_i0, last_j0;
    int out_of_order, spans_panels;
    _Atomic int calls;
    /* 1 thread: the tile announced ahead while the tile before it was computed (announced),
     * which the next tile consumed must be (expected), and whether one was not */
    int announced, has_expected;
    size_t ahead[4], expected[4];
    int not_announced, announcements;
} consumed;

/* The consumer's ahead: the first line of its next tile in c. */
static void consume_ahead(void *ctx, size_t i0, size_t j0, size_t rows, size_t cols,
                          gemm_prefetch *runs) {
    consumed *k = ctx;
    if (k->track_order) {
        k->announced = 1;
        k->announcements++;
        k->ahead[0] = i0, k->ahead[1] = j0, k->ahead[2] = rows, k->ahead[3] = cols;
    }
    runs->start[0] = runs->start[1] = k->c + i0 * k->n + j0;
    runs->lines = 1;
}

static void consume_tile(void *ctx, size_t i0, size_t j0, size_t rows, size_t cols,
                         const float *tile, size_t ld) {
    consumed *k = ctx;
    if (j0 % GEMM_PANEL || cols > GEMM_PANEL) k->spans_panels = 1;
    if (k->track_order) {
        if (k->calls && (j0 < k->last_j0 || (j0 == k->last_j0 && i0 <= k->last_i0)))
            k->out_of_order = 1;
        k->last_i0 = i0;
        k->last_j0 = j0;
        size_t got[4] = {i0, j0, rows, cols};
        if (k->has_expected && memcmp(got, k->expected, sizeof got)) k->not_announced = 1;
        k->has_expected = k->announced;
        memcpy(k->expected, k->ahead, sizeof k->expected);
        k->announced = 0;
    }
    k->calls++;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            k->c[(i0 + i) * k->n + j0 + j] = tile[i * ld + j];
            k->seen[(i0 + i) * k->n + j0 + j]++;
        }
}

/* Every entry handed over exactly once, with the bits of the chain from zero; k = 0 and
 * k > GEMM_CONSUME_MAX_K refused without a call. */
static void test_consume(const shape *s, int layout_a, int layout_b, int best) {
    size_t a_floats = layout_floats(s->m, s->k, layout_a);
    size_t b_floats = layout_floats(s->k, s->n, layout_b);
    float *a_data = malloc(a_floats * sizeof(float)), *b_data = malloc(b_floats * sizeof(float));
    size_t entries = s->m * s->n;
    float *expected = calloc(entries + 1, sizeof(float)), *c = calloc(entries + 1, sizeof(float));
    unsigned char *seen = calloc(entries + 1, 1);
    fill(a_data, a_floats);
    fill(b_data, b_floats);
    bn_matrix a = view(a_data, s->m, s->k, layout_a), b = view(b_data, s->k, s->n, layout_b);
    chain_reference(s, a, b, expected, START_ZERO, NULL);
    int takes = s->k > 0 && s->k <= GEMM_CONSUME_MAX_K;
    for (int level = best; level >= 0; level--) {
        cpu_limit_isa(level);
        for (size_t run = 0; run < 6; run++) {
            size_t threads = 1 + run / 2;
            int with_ahead = run % 2;
            consumed k = {.c = c, .seen = seen, .n = s->n, .track_order = threads == 1};
            memset(seen, 0, entries + 1);
            gemm_consumer consumer = {consume_tile, with_ahead ? consume_ahead : NULL, &k};
            int done = gemm_consume(threads, s->m, s->n, s->k, a, b, consumer);
            CHECK_MSG(done == takes && (takes || k.calls == 0),
                      "%zu x %zu x %zu: gemm_consume returned %d after %d calls", s->m, s->n,
                      s->k, done, (int)k.calls);
            if (!takes) continue;
            int once = 1;
            for (size_t e = 0; e < entries; e++) once &= seen[e] == 1;
            CHECK_MSG(once && memcmp(c, expected, entries * sizeof(float)) == 0,
                      "%zu x %zu x %zu, layouts %d %d, %s, %zu threads%s: consumed tiles are not "
                      "the chain's bits, each once",
                      s->m, s->n, s->k, layout_a, layout_b, cpu_isa_name(), threads,
                      with_ahead ? ", prefetching" : "");
            CHECK_MSG(!k.not_announced, "%zu x %zu x %zu: a tile other than the one announced "
                      "ahead was consumed", s->m, s->n, s->k);
            if (threads == 1)
                CHECK_MSG(k.announcements == (with_ahead ? k.calls - 1 : 0),
                          "%zu x %zu x %zu: %d tiles announced ahead of %d", s->m, s->n, s->k,
                          k.announcements, (int)k.calls);
            CHECK_MSG(!k.spans_panels, "%zu x %zu x %zu: a tile spans two panels", s->m,
                      s->n, s->k);
            if (threads == 1)
                CHECK_MSG(!k.out_of_order, "%zu x %zu x %zu: tiles not down each panel in turn",
                          s->m, s->n, s->k);
        }
    }
    cpu_limit_isa(best);
    free(a_data);
    free(b_data);
    free(expected);
    free(c);
    free(seen);
}

/* The product of one call, into c (m x n, holding c0 beforehand): gemm accumulating onto C,
 * gemm_biased from a bias per column, or gemm_consume, on the calling thread's budget. */
enum { CALL_ACCUMULATE, CALL_BIASED, CALL_CONSUME, CALLS };

static void product(int call, const shape *s, bn_matrix a, bn_matrix b, const float *bias,
                    const float *c0, float *c, unsigned char *seen) {
    memcpy(c, c0, s->m * s->n * sizeof(float));
    if (call == CALL_ACCUMULATE) {
        gemm(s->m, s->n, s->k, a, b, c, s->n, 1);
    } else if (call == CALL_BIASED) {
        gemm_biased(0, s->m, s->n, s->k, a, b, bias, 0, c, s->n);
    } else {
        consumed k = {.c = c, .seen = seen, .n = s->n};
        gemm_consume(0, s->m, s->n, s->k, a, b, (gemm_consumer){consume_tile, consume_ahead, &k});
    }
}

/* Where thread_scratch cannot allocate (made to fail here: settings.h), every call computes
 * without its packing buffers: slower, the same bits as with them, at every level, on one and
 * two threads, for the packed walk, the walk turned around (B in panels, transposed, k from
 * KC) and gemm_consume. */
static void test_without_scratch(int best) {
    settings_refuse_scratch(1);
    CHECK_MSG(!thread_scratch(SCRATCH_GEMM_A, 1), "thread_scratch allocates while refused");
    settings_refuse_scratch(0);
    CHECK_MSG(thread_scratch(SCRATCH_GEMM_A, 1), "thread_scratch refuses after the setting");
    const struct {
        shape s;
        int layout_a, layout_b;
    } cases[] = {{{13, 33, 257}, 0, 0},  {{97, 65, 300}, 1, 3},  {{200, 40, 1500}, 0, 4},
                 {{130, 70, 200}, 1, 0}, {{30, 100, 100}, 2, 4}, {{128, 10, 100}, 0, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const shape *s = &cases[i].s;
        size_t a_floats = layout_floats(s->m, s->k, cases[i].layout_a);
        size_t b_floats = layout_floats(s->k, s->n, cases[i].layout_b), entries = s->m * s->n;
        float *a_data = malloc(a_floats * sizeof(float));
        float *b_data = malloc(b_floats * sizeof(float)), *bias = malloc(s->n * sizeof(float));
        float *c0 = malloc(entries * sizeof(float)), *packed = malloc(entries * sizeof(float));
        float *unpacked = malloc(entries * sizeof(float));
        unsigned char *seen = calloc(entries, 1);
        fill(a_data, a_floats);
        fill(b_data, b_floats);
        fill(bias, s->n);
        fill(c0, entries);
        bn_matrix a = view(a_data, s->m, s->k, cases[i].layout_a);
        bn_matrix b = view(b_data, s->k, s->n, cases[i].layout_b);
        for (int level = best; level >= 0; level--)
            for (size_t threads = 1; threads <= 2; threads++)
                for (int call = 0; call < CALLS; call++) {
                    if (call == CALL_CONSUME && s->k > GEMM_CONSUME_MAX_K) continue;
                    cpu_limit_isa(level);
                    parallel_set_threads(threads);
                    product(call, s, a, b, bias, c0, packed, seen);
                    settings_refuse_scratch(1);
                    product(call, s, a, b, bias, c0, unpacked, seen);
                    settings_refuse_scratch(0);
                    CHECK_MSG(memcmp(packed, unpacked, entries * sizeof(float)) == 0,
                              "%zu x %zu x %zu, layouts %d %d, call %d, %s, %zu threads: other "
                              "bits without scratch memory",
                              s->m, s->n, s->k, cases[i].layout_a, cases[i].layout_b, call,
                              cpu_isa_name(), threads);
                }
        cpu_limit_isa(best);
        parallel_set_threads(1);
        free(a_data);
        free(b_data);
        free(bias);
        free(c0);
        free(packed);
        free(unpacked);
        free(seen);
    }
}

/* Large enough that a thread count or block edge changing the order would show: MC, KC and
 * NC are all crossed, and the threads split rows in one case and columns in the other. */
static void test_blocks(int best) {
    const shape big[] = {{200, 1100, 600}, {30, 20, 3000}};
    for (size_t i = 0; i < sizeof big / sizeof *big; i++)
        for (int start = START_C; start < STARTS; start++) test_shape(&big[i], 0, 1, start, best);
    /* the paper's FC layers: forward (weights in panels) and input gradient (their
     * transpose), batch 128 */
    const shape forward = {128, 1000, 784}, input_grad = {128, 784, 1000};
    test_shape(&forward, 0, 3, START_COLUMN_BIAS, best);
    test_shape(&input_grad, 0, 4, START_ZERO, best);
    /* B in panels, transposed, is computed turned around (C^T = op(B)^T op(A)^T) for k from KC
     * to where op(A)^T packed fills its budget, 128 Ki floats: several groups of C's rows, each
     * packed once (k = 1500: 64 rows a group), exactly one (k = 4096: 32 rows, one panel); k
     * one too long or one too short take the packed walk */
    const shape turned[] = {{200, 40, 1500}, {70, 45, 4096}, {40, 13, 4097}, {50, 70, 255}};
    for (size_t i = 0; i < sizeof turned / sizeof *turned; i++)
        test_shape(&turned[i], 0, 4, START_ZERO, best);
}

/* C's row stride is honoured, and the columns past n are left alone, both where B is row-major
 * and where B in panels, transposed, turns the product around (its tiles are stored
 * transposed, one row of C at a time). */
static void test_row_stride(void) {
    float a[2 * 3] = {1, 2, 3, 4, 5, 6}, b[3 * 2] = {1, 0, 0, 1, 1, 1};
    float c[2 * 4] = {9, 9, 9, 9, 9, 9, 9, 9};
    gemm(2, 2, 3, matrix_rows(a, 3), matrix_rows(b, 2), c, 4, 0);
    CHECK(c[0] == 4 && c[1] == 5 && c[2] == 9 && c[3] == 9);
    CHECK(c[4] == 10 && c[5] == 11 && c[6] == 9 && c[7] == 9);
    enum { M = 37, N = 45, K = 70, LDC = 50, C_PANELS = (N + GEMM_PANEL - 1) / GEMM_PANEL };
    static float x[M * K], w[C_PANELS * GEMM_PANEL * K], wide[M * LDC];
    static float in_panels[M * C_PANELS * GEMM_PANEL];
    fill(x, M * K);
    fill(w, C_PANELS * GEMM_PANEL * K);
    for (size_t e = 0; e < M * LDC; e++) wide[e] = -7.0f;
    bn_matrix wt = matrix_panels_transposed(w, N);
    gemm(M, N, K, matrix_rows(x, K), wt, wide, LDC, 0);
    gemm_panels(M, N, K, matrix_rows(x, K), wt, in_panels, 0); /* C in panels: never turned */
    int same = 1, gap_kept = 1;
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < LDC; j++) {
            float *e = &wide[i * LDC + j];
            if (j >= N)
                gap_kept &= *e == -7.0f;
            else
                same &= !memcmp(e, &in_panels[j / GEMM_PANEL * M * GEMM_PANEL + i * GEMM_PANEL +
                                              j % GEMM_PANEL],
                                sizeof(float));
        }
    CHECK_MSG(same && gap_kept, "B in panels, transposed, C's row stride %d: %s", LDC,
              same ? "columns past n written" : "other bits than with C in panels");
}

int main(void) {
    int best = cpu_limit_isa(CPU_ISA_AVX512);
    printf("gemm: widest kernel on this CPU: %s\n", cpu_isa_name());
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        for (int la = 0; la < LAYOUTS; la++)
            for (int lb = 0; lb < LAYOUTS; lb++)
                for (int start = 0; start < STARTS; start++)
                    test_shape(&shapes[i], la, lb, start, best);
    test_blocks(best);
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        for (int la = 0; la < LAYOUTS; la++)
            test_consume(&shapes[i], la, (la + 1) % LAYOUTS, best);
    const shape fc_weight_grad = {1000, 784, 128}; /* the paper's first FC layer, batch 128 */
    test_consume(&fc_weight_grad, 1, 0, best);
    test_row_stride();
    test_without_scratch(best);
    return check_summary("test_gemm");
}
