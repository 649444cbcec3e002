/* GEMM ceiling measurements: the sgemm calls of a training step, or a big square, timed on one
 * or more threads at once, each thread with its own buffers and single-threaded BLAS. */
#include "gemm_ceiling.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "bntrain/layers.h"
#include "bntrain/rng.h"
#include "base/runtime.h"
#include "bntrain/train.h"
#include "blas_runtime.h"

static gemm_op make_op(int trans_a, int trans_b, size_t m, size_t n, size_t k, float beta,
                       const char *role, size_t layer) {
    return (gemm_op){trans_a, trans_b, m, n, k, beta, role, layer};
}

/* linear_forward / linear_backward: batch x in -> batch x out; the weight is kept as its
 * transpose (in x out, layers.h), and its gradient comes out so. The first layer computes no
 * input gradient (din is NULL there). */
static size_t linear_ops(const bn_layer *l, size_t i, size_t batch, gemm_op *ops) {
    size_t in = l->fan_in, out = l->out_c, n = 0;
    ops[n++] = make_op(0, 0, batch, out, in, 1.0f, "forward", i);
    ops[n++] = make_op(1, 0, in, out, batch, 0.0f, "weight grad", i);
    if (i > 0) ops[n++] = make_op(0, 1, batch, in, out, 0.0f, "input grad", i);
    return n;
}

/* conv_forward / conv_backward: the batch is lowered to a patch x (batch * pixels) matrix. */
static size_t conv_ops(const bn_layer *l, size_t i, size_t batch, gemm_op *ops) {
    size_t patch = l->fan_in, width = batch * l->out_h * l->out_w, out = l->out_c, n = 0;
    ops[n++] = make_op(0, 0, out, width, patch, 1.0f, "forward", i);
    ops[n++] = make_op(0, 1, out, patch, width, 0.0f, "weight grad", i);
    if (i > 0) ops[n++] = make_op(1, 0, patch, width, out, 0.0f, "input grad", i);
    return n;
}

size_t gemm_ops_of_model(const bn_model *model, size_t batch, gemm_op *ops) {
    size_t n = 0;
    for (size_t i = 0; i < model->n_layers; i++) {
        const bn_layer *l = &model->layers[i];
        if (l->kind == LAYER_LINEAR) n += linear_ops(l, i, batch, ops + n);
        if (l->kind == LAYER_CONV) n += conv_ops(l, i, batch, ops + n);
    }
    return n;
}

gemm_op gemm_op_square(size_t n) {
    return make_op(0, 0, n, n, n, 0.0f, "square", 0);
}

double gemm_op_flops(const gemm_op *op) {
    return 2.0 * (double)op->m * (double)op->n * (double)op->k;
}

double gemm_ops_flops(const gemm_op *ops, size_t n_ops) {
    double flops = 0.0;
    for (size_t i = 0; i < n_ops; i++)
        flops += gemm_op_flops(&ops[i]);
    return flops;
}

static void run_op(const gemm_op *op, const float *a, const float *b, float *c) {
    /* Row-major leading dimensions: the stored width of each operand. */
    int lda = (int)(op->trans_a ? op->m : op->k), ldb = (int)(op->trans_b ? op->k : op->n);
    cblas_sgemm(CblasRowMajor, op->trans_a ? CblasTrans : CblasNoTrans,
                op->trans_b ? CblasTrans : CblasNoTrans, (int)op->m, (int)op->n, (int)op->k, 1.0f,
                a, lda, b, ldb, op->beta, c, (int)op->n);
}

typedef struct {
    float *a, *b, *c;
} gemm_buffers;

static void fill_uniform(float *x, size_t n, bn_rng *rng) {
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(2.0 * rng_uniform(rng) - 1.0);
}

/* Buffers big enough for every op, filled with values in [-1, 1]: zeros or denormals could
 * take faster or slower paths than real activations do. */
static int buffers_create(gemm_buffers *buf, const gemm_op *ops, size_t n_ops, uint64_t seed) {
    size_t a = 1, b = 1, c = 1;
    for (size_t i = 0; i < n_ops; i++) {
        if (ops[i].m * ops[i].k > a) a = ops[i].m * ops[i].k;
        if (ops[i].k * ops[i].n > b) b = ops[i].k * ops[i].n;
        if (ops[i].m * ops[i].n > c) c = ops[i].m * ops[i].n;
    }
    buf->a = malloc(a * sizeof(float));
    buf->b = malloc(b * sizeof(float));
    buf->c = calloc(c, sizeof(float));
    if (!buf->a || !buf->b || !buf->c) return -1;
    bn_rng rng;
    rng_seed(&rng, seed);
    fill_uniform(buf->a, a, &rng);
    fill_uniform(buf->b, b, &rng);
    return 0;
}

static void buffers_free(gemm_buffers *buf) {
    free(buf->a);
    free(buf->b);
    free(buf->c);
}

static void run_sequence(const gemm_op *ops, size_t n_ops, gemm_buffers *buf) {
    for (size_t i = 0; i < n_ops; i++)
        run_op(&ops[i], buf->a, buf->b, buf->c);
}

/* Element (i, j) of op(A) and op(B) in their row-major storage. */
static float op_a(const gemm_op *op, const float *a, size_t i, size_t k) {
    return op->trans_a ? a[k * op->m + i] : a[i * op->k + k];
}

static float op_b(const gemm_op *op, const float *b, size_t k, size_t j) {
    return op->trans_b ? b[j * op->k + k] : b[k * op->n + j];
}

double gemm_op_check(const gemm_op *op, size_t n_samples, uint64_t seed) {
    gemm_buffers buf = {0};
    if (buffers_create(&buf, op, 1, seed)) {
        buffers_free(&buf);
        return -1.0;
    }
    run_op(op, buf.a, buf.b, buf.c); /* C starts at zero, so beta does not matter */
    bn_rng rng;
    rng_seed(&rng, seed ^ 0x9e3779b97f4a7c15ULL);
    double worst = 0.0;
    for (size_t s = 0; s < n_samples; s++) {
        size_t i = rng_below(&rng, op->m), j = rng_below(&rng, op->n);
        double exact = 0.0, scale = 0.0;
        for (size_t k = 0; k < op->k; k++) {
            double product = (double)op_a(op, buf.a, i, k) * (double)op_b(op, buf.b, k, j);
            exact += product;
            scale += fabs(product);
        }
        double error = fabs((double)buf.c[i * op->n + j] - exact) / (scale > 0.0 ? scale : 1.0);
        if (!(error <= worst)) worst = error; /* a NaN result counts as the worst */
    }
    buffers_free(&buf);
    return worst;
}

int gemm_time_sequence(const gemm_op *ops, size_t n_ops, size_t threads, double min_seconds,
                       gemm_timing *out) {
    double *seconds = calloc(threads, sizeof *seconds), start = 0.0;
    size_t *reps = calloc(threads, sizeof *reps);
    int failed = !seconds || !reps;
    /* As the grid does: one BLAS thread per caller, the callers are the parallelism. */
    blas_set_threads(1);
    if (!failed) {
#pragma omp parallel num_threads((int)threads)
        {
            size_t t = (size_t)omp_get_thread_num();
            gemm_buffers buf = {0};
            int ready = buffers_create(&buf, ops, n_ops, 1000 + t) == 0;
            if (!ready) {
#pragma omp atomic write
                failed = 1;
            }
            /* Warm-up: page faults, OpenBLAS's own buffers. */
            if (ready) run_sequence(ops, n_ops, &buf);
#pragma omp barrier
#pragma omp single
            start = wall_seconds();
            /* Every thread runs for the same wall time, so the cores compete all along. */
            while (ready && wall_seconds() - start < min_seconds) {
                run_sequence(ops, n_ops, &buf);
                reps[t]++;
            }
            seconds[t] = wall_seconds() - start;
            buffers_free(&buf);
        }
    }
    if (!failed) {
        double flops = gemm_ops_flops(ops, n_ops);
        *out = (gemm_timing){.threads = threads};
        for (size_t t = 0; t < threads; t++) {
            double gflops = 1e-9 * flops * (double)reps[t] / seconds[t];
            out->seconds_per_sequence += seconds[t] / (double)reps[t] / (double)threads;
            out->gflops_per_core += gflops / (double)threads;
            out->gflops_total += gflops;
        }
    }
    free(seconds);
    free(reps);
    return failed ? -1 : 0;
}
