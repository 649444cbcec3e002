/* The GEMM ceiling: how fast single-threaded OpenBLAS sgemm runs on this machine, on a big
 * square and on the exact calls of one training step of a network, with one thread or with
 * one independent caller per core at once (as a grid runs). A training step cannot beat the
 * time its own GEMMs take, so these numbers say how much of the machine bntrain uses. */
#ifndef BENCH_GEMM_CEILING_H
#define BENCH_GEMM_CEILING_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/model.h"

/* One cblas_sgemm call, row-major: C (m x n) = op(A) (m x k) op(B) (k x n) + beta C. */
typedef struct {
    int trans_a, trans_b;
    size_t m, n, k;
    float beta;
    const char *role; /* "forward", "weight grad", "input grad", "square" */
    size_t layer;     /* index into the model's layer list (0 for the square) */
} gemm_op;

enum { GEMM_MAX_OPS = 3 * BN_MAX_LAYERS };

/* The sgemm calls of one training step of `model` at `batch` samples, in the order and with
 * the shapes that src/engine/linear.c and conv.c use (linear: X W^T, dY^T X, dY W; conv lowered
 * over the whole batch: W cols, dP cols^T, W^T dP). Keep in step with them. Returns how many
 * (at most GEMM_MAX_OPS). */
size_t gemm_ops_of_model(const bn_model *model, size_t batch, gemm_op *ops);

/* A square n x n x n product. */
gemm_op gemm_op_square(size_t n);

/* Floating-point operations of one call (2 m n k). */
double gemm_op_flops(const gemm_op *op);
double gemm_ops_flops(const gemm_op *ops, size_t n_ops);

typedef struct {
    size_t threads;
    double seconds_per_sequence; /* mean over threads of one pass over the ops */
    double gflops_per_core;      /* mean over threads */
    double gflops_total;         /* sum over threads: the whole machine */
} gemm_timing;

/* Calls the ops in sequence, over and over for at least min_seconds, on `threads` threads at
 * once (each with its own buffers and one BLAS thread). Returns -1 if out of memory. */
int gemm_time_sequence(const gemm_op *ops, size_t n_ops, size_t threads, double min_seconds,
                       gemm_timing *out);

/* Checks that the BLAS computes this op correctly: runs it once on values in [-1, 1] and
 * compares n_samples entries of C with a double-precision dot product. Returns the largest
 * error relative to sum_k |a_ik b_kj| (float rounding gives about 1e-7 to 1e-5; a wrong
 * kernel gives order 1), or a negative value if out of memory. */
double gemm_op_check(const gemm_op *op, size_t n_samples, uint64_t seed);

#endif
