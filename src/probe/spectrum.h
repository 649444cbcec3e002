/* The probe's dense linear algebra: second-moment matrices of examples, and the summary of a
 * spectrum (probe_symmetric_eigenvalues, in bntrain/probe.h, computes it). */
#ifndef BNTRAIN_PROBE_SPECTRUM_H
#define BNTRAIN_PROBE_SPECTRUM_H

#include <stddef.h>

#include "bntrain/probe.h"

typedef struct {
    double lambda_max;
    double lambda_min; /* the smallest eigenvalue above BN_PROBE_RELATIVE_ZERO * lambda_max */
    double condition;  /* lambda_max / lambda_min (0 for a zero matrix) */
    size_t rank;       /* eigenvalues above that threshold */
} spectrum_summary;

/* eigenvalues: d of them, descending. */
void spectrum_summarise(const double *eigenvalues, size_t d, spectrum_summary *s);

/* moment (d x d, row-major) += sum over the rows of chunk (rows x d) of x x^T, split over
 * threads by rows of moment; the same bits for any thread count. */
void moment_accumulate(double *moment, const float *chunk, size_t rows, size_t d, size_t threads);

#endif
