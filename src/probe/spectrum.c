/* The probe's Kronecker factors: second-moment matrices accumulated in double from examples
 * gathered in chunks, and their spectra from LAPACK. */
#include "probe/spectrum.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/lapack.h"
#include "engine/parallel.h"

/* dsyevd with JOBZ = 'N': Householder reduction to tridiagonal form (dsytrd), then the
 * eigenvalues alone by the root-free QL/QR iteration (dsterf). The issue asks for LAPACK's
 * symmetric eigensolver; dsyevd is the one that also serves eigenvectors fastest (divide and
 * conquer) should a probe need them, and for eigenvalues alone it costs what dsyev does. All
 * eigenvalues are wanted (a condition number needs both ends), so dsyevr's subset selection
 * buys nothing. Its relative accuracy is ~1e-16 * lambda_max per eigenvalue (BN_PROBE_RELATIVE_ZERO
 * rests on that). */
int probe_symmetric_eigenvalues(double *a, size_t d, double *eigenvalues, bn_error *err) {
    if (d == 0) return 0;
    if (d > (size_t)INT_MAX / 2 - 1)
        return bn_fail(err, "eigenproblem of dimension %zu: too large", d);
    const lapack_functions *lapack = lapack_load(err);
    if (!lapack) return -1;
    int n = (int)d, lwork = 2 * n + 1, liwork = 1, info = 0;
    double *work = malloc((size_t)lwork * sizeof *work);
    int iwork[1];
    if (!work) return bn_fail(err, "eigenproblem of dimension %zu: out of memory", d);
    /* Row-major upper = column-major lower: the same symmetric matrix. */
    lapack->dsyevd("N", "L", &n, a, &n, eigenvalues, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work);
    if (info != 0)
        return bn_fail(err, "LAPACK dsyevd failed on a %zu x %zu matrix (info %d)", d, d, info);
    for (size_t i = 0, j = d - 1; i < j; i++, j--) { /* ascending -> descending */
        double t = eigenvalues[i];
        eigenvalues[i] = eigenvalues[j];
        eigenvalues[j] = t;
    }
    return 0;
}

void spectrum_summarise(const double *eigenvalues, size_t d, spectrum_summary *s) {
    s->lambda_max = d ? eigenvalues[0] : 0.0;
    s->lambda_min = 0.0;
    s->rank = 0;
    double zero = s->lambda_max * BN_PROBE_RELATIVE_ZERO;
    for (size_t i = 0; i < d && eigenvalues[i] > zero; i++) {
        s->lambda_min = eigenvalues[i];
        s->rank++;
    }
    s->condition = s->rank ? s->lambda_max / s->lambda_min : 0.0;
}

typedef struct {
    double *moment;     /* d x d */
    const float *chunk; /* rows x d */
    size_t rows, d;
} accumulate_task;

/* Rows [lo, hi) of the moment matrix: each entry is a sum over the examples in their order,
 * by one part, so the bits do not depend on the split. Zeros (dead ReLU units, black pixels)
 * are skipped: they add nothing. */
static void accumulate_part(void *ctx, size_t part, size_t parts) {
    const accumulate_task *t = ctx;
    size_t lo, hi;
    part_range(t->d, part, parts, 1, &lo, &hi);
    for (size_t r = 0; r < t->rows; r++) {
        const float *x = t->chunk + r * t->d;
        for (size_t i = lo; i < hi; i++) {
            double xi = x[i];
            if (xi == 0.0) continue;
            double *row = t->moment + i * t->d;
            for (size_t j = 0; j < t->d; j++)
                row[j] += xi * (double)x[j];
        }
    }
}

void moment_accumulate(double *moment, const float *chunk, size_t rows, size_t d, size_t threads) {
    accumulate_task t = {.moment = moment, .chunk = chunk, .rows = rows, .d = d};
    size_t parts = threads ? threads : 1;
    if (parts > d) parts = d ? d : 1;
    if (parts == 1)
        accumulate_part(&t, 0, 1);
    else
        parallel_parts(parts, accumulate_part, &t);
}
