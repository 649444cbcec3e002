/* Finite-difference checks of backward passes, shared by the tests that make them
 * (test_gradients.c, test_layers.c): central differences of a scalar probe loss, evaluated in
 * double from float activations, over every coordinate of a tensor (or a stride of them). */
#ifndef BNTRAIN_TEST_FINITE_DIFF_H
#define BNTRAIN_TEST_FINITE_DIFF_H

#include <math.h>
#include <stddef.h>

#include "bntrain/rng.h"

/* Float forward passes limit the accuracy of a difference quotient, and a step can cross a
 * ReLU kink. Each coordinate is therefore tried with five steps (and Richardson's
 * extrapolation of neighbouring ones) and the best agreement kept: a wrong backward term (a
 * missing 1/N, a wrong eps, a dropped mean term) is wrong at every step size, while rounding
 * noise (small steps) and kinks and curvature (large steps) are not. Whole networks use a
 * kink guard instead of the small steps (kink_guard). 2e-3 of the largest gradient is far
 * below what any such bug produces (dropping BatchNorm's mean term gives 0.4 to 1.0), and 10
 * times the worst network error over 31 random draws. */
#define FD_TOL 2e-3
static const double fd_steps[5] = {1e-2, 3e-3, 1e-3, 3e-4, 1e-4};

static inline void randomize_from(bn_rng *g, float *x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(scale * rng_normal(g));
}

static inline double dot(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

typedef double (*probe_fn)(void *ctx);

/* For whole networks: whether the last evaluation of f kept every ReLU on the same side of
 * its kink as at the unperturbed point. A difference across a kink measures nothing (with
 * BatchNorm every parameter moves every unit of the batch, and some unit is often within
 * 1e-4 of 0), so such steps are not used, and coordinates with no usable step are counted. */
typedef struct {
    int (*same_side)(void *ctx);
    size_t checked, skipped;
} kink_guard;

/* Central difference of f in *x with half-width step (the half-width actually taken, after
 * rounding to float, in *half). */
static inline double guarded_difference(probe_fn f, void *ctx, float *x, double step,
                                        kink_guard *guard, int *usable, double *half) {
    float saved = *x, up_x = saved + (float)step, down_x = saved - (float)step;
    *x = up_x;
    double up = f(ctx);
    int same = !guard || guard->same_side(ctx);
    *x = down_x;
    double down = f(ctx);
    same = same && (!guard || guard->same_side(ctx));
    *x = saved;
    *usable = same;
    *half = ((double)up_x - (double)down_x) / 2;
    return (up - down) / ((double)up_x - (double)down_x);
}

/* Compares analytic[i] with central differences of f in x[i] for every i (or a stride of
 * them for large tensors); returns the worst error relative to the largest gradient. */
static inline double fd_error_guarded(probe_fn f, void *ctx, float *x, const float *analytic,
                                      size_t n, kink_guard *guard) {
    double worst = 0.0, scale = 1e-3;
    for (size_t i = 0; i < n; i++)
        if (fabs(analytic[i]) > scale) scale = fabs(analytic[i]);
    size_t stride = n > 400 ? n / 400 : 1;
    for (size_t i = 0; i < n; i += stride) {
        double best = INFINITY, d[5], h[5];
        int usable[5];
        /* With the guard the two smallest steps are left out: they exist to step short of a
         * kink, which the guard now sees, and float rounding limits them to about 1e-3 of a
         * gradient, half the tolerance. */
        size_t steps = guard ? 3 : 5;
        for (size_t k = 0; k < steps; k++) {
            d[k] = guarded_difference(f, ctx, &x[i], fd_steps[k], guard, &usable[k], &h[k]);
            if (usable[k] && fabs(d[k] - analytic[i]) < best) best = fabs(d[k] - analytic[i]);
            /* Richardson's extrapolation of two steps cancels their h^2 error: at the larger
             * steps that leaves far less than float rounding leaves at the small ones */
            if (k == 0 || !usable[k] || !usable[k - 1]) continue;
            double r = h[k - 1] / h[k], extrapolated = d[k] + (d[k] - d[k - 1]) / (r * r - 1);
            if (fabs(extrapolated - analytic[i]) < best) best = fabs(extrapolated - analytic[i]);
        }
        if (guard) guard->checked++;
        if (best == INFINITY) {
            guard->skipped++;
            continue;
        }
        if (best / scale > worst) worst = best / scale;
    }
    return worst;
}

static inline double fd_error(probe_fn f, void *ctx, float *x, const float *analytic, size_t n) {
    return fd_error_guarded(f, ctx, x, analytic, n, NULL);
}

#endif
