/* The linear layer: forward and backward as GEMM products over the weight in panels (no
 * transposing copies), and the conversions of the weight from and to PyTorch's row layout. */
#include "bntrain/linear.h"

#include <string.h>

#include "bntrain/gemm.h"
#include "engine/simd.h"

size_t linear_weight_floats(size_t in_dim, size_t out_dim) {
    return panels_floats(in_dim, out_dim);
}

size_t linear_weight_at(size_t in_dim, size_t o, size_t i) {
    return o / GEMM_PANEL * in_dim * GEMM_PANEL + i * GEMM_PANEL + o % GEMM_PANEL;
}

void linear_weight_from_rows(float *weight, const float *rows, size_t in_dim, size_t out_dim) {
    memset(weight, 0, linear_weight_floats(in_dim, out_dim) * sizeof *weight);
    for (size_t o = 0; o < out_dim; o++)
        for (size_t i = 0; i < in_dim; i++)
            weight[linear_weight_at(in_dim, o, i)] = rows[o * in_dim + i];
}

void linear_weight_to_rows(float *rows, const float *weight, size_t in_dim, size_t out_dim) {
    for (size_t o = 0; o < out_dim; o++)
        for (size_t i = 0; i < in_dim; i++)
            rows[o * in_dim + i] = weight[linear_weight_at(in_dim, o, i)];
}

void linear_forward(float *out, const float *in, const float *weight, const float *bias,
                    size_t batch, size_t in_dim, size_t out_dim) {
    gemm_biased(0, batch, out_dim, in_dim, matrix_rows(in, in_dim),
                matrix_panels(weight, in_dim), bias, 0, out, out_dim);
}

/* Bias gradients: column sums of a batch x dim matrix, written or added into sums. */
BN_HOT static void column_sums(float *sums, const float *m, size_t batch, size_t dim,
                               int accumulate) {
    if (!accumulate) memset(sums, 0, dim * sizeof *sums);
    for (size_t n = 0; n < batch; n++)
        for (size_t j = 0; j < dim; j++) sums[j] += m[n * dim + j];
}

void linear_backward(float *din, float *dweight, float *dbias, const float *dout,
                     const float *in, const float *weight, size_t batch, size_t in_dim,
                     size_t out_dim, int accumulate) {
    if (dweight)
        gemm_panels(in_dim, out_dim, batch, matrix_transposed(in, in_dim),
                    matrix_rows(dout, out_dim), dweight, accumulate);
    column_sums(dbias, dout, batch, out_dim, accumulate);
    if (din)
        gemm(batch, in_dim, out_dim, matrix_rows(dout, out_dim),
             matrix_panels_transposed(weight, in_dim), din, in_dim, 0);
}

int linear_weight_grad_consume(const float *dout, const float *in, size_t batch, size_t in_dim,
                               size_t out_dim, gemm_consumer consumer) {
    return gemm_consume(0, in_dim, out_dim, batch, matrix_transposed(in, in_dim),
                        matrix_rows(dout, out_dim), consumer);
}

void linear_tangent(float *dout, const float *in, const float *din, const float *weight,
                    const float *dweight, const float *dbias, size_t batch, size_t in_dim,
                    size_t out_dim) {
    gemm_biased(0, batch, out_dim, in_dim, matrix_rows(in, in_dim),
                matrix_panels(dweight, in_dim), dbias, 0, dout, out_dim);
    if (din)
        gemm(batch, out_dim, in_dim, matrix_rows(din, in_dim), matrix_panels(weight, in_dim),
             dout, out_dim, 1);
}
