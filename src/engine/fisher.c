/* The Fisher information's largest eigenvalue: Lanczos with full reorthogonalisation over an
 * operator, and the Fisher's operator F v = J^T (J v) / m on a copy of the network (the
 * tangent pass, then the backward pass). Everything is allocated by the *_create functions. */
#include "bntrain/fisher.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bntrain/layers.h"
#include "bntrain/rng.h"
#include "base/lapack.h"
#include "base/runtime.h"


void fisher_options_default(fisher_options *o) {
    o->bn_mode = FISHER_BN_POPULATION;
    o->tolerance = 1e-3;
    o->max_iterations = 40;
    o->seed = 1;
}

static const char *const bn_mode_names[] = {"population", "running", "batch"};

const char *fisher_bn_mode_name(fisher_bn_mode mode) {
    return bn_mode_names[mode];
}

int fisher_bn_mode_from_name(const char *name, fisher_bn_mode *mode) {
    for (size_t i = 0; i < sizeof bn_mode_names / sizeof *bn_mode_names; i++)
        if (strcmp(name, bn_mode_names[i]) == 0) {
            *mode = (fisher_bn_mode)i;
            return 0;
        }
    return -1;
}

/* ---- Lanczos ---- */

int lanczos_create(lanczos_workspace *lz, size_t dim, size_t max_iterations, bn_error *err) {
    memset(lz, 0, sizeof *lz);
    size_t basis_floats, k = max_iterations;
    if (dim == 0 || k == 0) return bn_fail(err, "Lanczos needs a dimension and iterations");
    if (bn_mul_size(k + 1, dim, &basis_floats) || k > 10000)
        return bn_fail(err, "Lanczos basis of %zu x %zu is too large", k + 1, dim);
    lz->dim = dim;
    lz->max_iterations = k;
    lz->basis = malloc(basis_floats * sizeof *lz->basis);
    lz->product = malloc(dim * sizeof *lz->product);
    lz->w = malloc(dim * sizeof *lz->w);
    lz->alpha = malloc(k * sizeof(double));
    lz->beta = malloc(k * sizeof(double));
    lz->diag = malloc(k * sizeof(double));
    lz->offdiag = malloc(k * sizeof(double));
    lz->eigvec = malloc(k * k * sizeof(double));
    lz->lapack_work = malloc(2 * k * sizeof(double));
    if (!lz->basis || !lz->product || !lz->w || !lz->alpha || !lz->beta || !lz->diag ||
        !lz->offdiag || !lz->eigvec || !lz->lapack_work) {
        lanczos_free(lz);
        return bn_fail(err, "out of memory for a Lanczos basis of %zu x %zu", k + 1, dim);
    }
    return 0;
}

size_t lanczos_bytes(size_t dim, size_t max_iterations) {
    size_t k = max_iterations;
    return ((k + 1) * dim + dim) * sizeof(float) +
           (dim + 4 * k + k * k + 2 * k) * sizeof(double);
}

void lanczos_free(lanczos_workspace *lz) {
    free(lz->basis);
    free(lz->product);
    free(lz->w);
    free(lz->alpha);
    free(lz->beta);
    free(lz->diag);
    free(lz->offdiag);
    free(lz->eigvec);
    free(lz->lapack_work);
    memset(lz, 0, sizeof *lz);
}

static double dot_fd(const float *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* The largest eigenpair of the k x k tridiagonal (alpha, beta): its eigenvalue, and the
 * eigenvector in lz->eigvec + (k - 1) k. */
static int tridiagonal_largest(lanczos_workspace *lz, size_t k, double *theta, bn_error *err) {
    memcpy(lz->diag, lz->alpha, k * sizeof(double));
    if (k > 1) memcpy(lz->offdiag, lz->beta, (k - 1) * sizeof(double));
    const lapack_functions *lapack = lapack_load(err);
    if (!lapack) return -1;
    int n = (int)k, info = 0;
    /* eigenvalues (ascending) and eigenvectors of the symmetric tridiagonal */
    lapack->dstev("V", &n, lz->diag, lz->offdiag, lz->eigvec, &n, lz->lapack_work, &info, 1);
    if (info != 0) return bn_fail(err, "LAPACK dstev failed (info %d)", info);
    *theta = lz->diag[k - 1];
    return 0;
}

/* w minus its components along basis vectors 0..j, twice (classical Gram-Schmidt repeated:
 * "twice is enough" keeps the basis orthogonal to rounding). */
static void orthogonalise(lanczos_workspace *lz, size_t j) {
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i <= j; i++) {
            const float *q = lz->basis + i * lz->dim;
            double c = dot_fd(q, lz->w, lz->dim);
            for (size_t d = 0; d < lz->dim; d++)
                lz->w[d] -= c * q[d];
        }
}

/* The unit Ritz vector of the k-step tridiagonal's largest eigenpair, sum_i s_i q_i: summed in
 * w (double), normalised into basis slot k (free: the basis has max_iterations + 1 slots). */
static float *ritz_vector(lanczos_workspace *lz, size_t k) {
    const double *s = lz->eigvec + (k - 1) * k;
    memset(lz->w, 0, lz->dim * sizeof *lz->w);
    for (size_t i = 0; i < k; i++) {
        const float *q = lz->basis + i * lz->dim;
        for (size_t d = 0; d < lz->dim; d++)
            lz->w[d] += s[i] * q[d];
    }
    double norm = 0.0;
    for (size_t d = 0; d < lz->dim; d++)
        norm += lz->w[d] * lz->w[d];
    norm = sqrt(norm);
    float *y = lz->basis + k * lz->dim;
    for (size_t d = 0; d < lz->dim; d++)
        y[d] = (float)(lz->w[d] / norm);
    return y;
}

int lanczos_largest(lanczos_workspace *lz, lanczos_operator apply, void *ctx, const float *start,
                    double tolerance, fisher_result *result, bn_error *err) {
    size_t dim = lz->dim, k = 0;
    double norm = 0.0, theta = 0.0;
    for (size_t d = 0; d < dim; d++)
        norm += (double)start[d] * start[d];
    if (!(norm > 0.0)) return bn_fail(err, "Lanczos start vector is zero");
    norm = sqrt(norm);
    for (size_t d = 0; d < dim; d++)
        lz->basis[d] = (float)(start[d] / norm);
    result->converged = 0;
    for (size_t j = 0; j < lz->max_iterations; j++) {
        const float *q = lz->basis + j * dim;
        apply(ctx, q, lz->product);
        for (size_t d = 0; d < dim; d++)
            lz->w[d] = lz->product[d];
        lz->alpha[j] = dot_fd(q, lz->w, dim);
        orthogonalise(lz, j);
        double beta = 0.0;
        for (size_t d = 0; d < dim; d++)
            beta += lz->w[d] * lz->w[d];
        lz->beta[j] = beta = sqrt(beta);
        k = j + 1;
        if (tridiagonal_largest(lz, k, &theta, err)) return -1;
        /* ||A y - theta y|| = beta_j |s_j| for the Ritz pair, in exact arithmetic */
        double estimate = beta * fabs(lz->eigvec[(k - 1) * k + (k - 1)]);
        if (estimate <= tolerance * fabs(theta) || k == dim) {
            result->converged = 1;
            break;
        }
        if (k == lz->max_iterations) break;
        float *next = lz->basis + k * dim;
        for (size_t d = 0; d < dim; d++)
            next[d] = (float)(lz->w[d] / beta);
    }
    const float *y = ritz_vector(lz, k);
    apply(ctx, y, lz->product);
    double residual = 0.0;
    for (size_t d = 0; d < dim; d++) {
        double r = lz->product[d] - theta * y[d];
        residual += r * r;
    }
    result->lambda_max = theta;
    result->iterations = k;
    result->residual = sqrt(residual);
    return 0;
}

/* ---- the Fisher of a model ---- */

/* 1 at every trained parameter of the arena (model_parameter_count of them). */
static void parameter_mask(const bn_model *m, float *mask) {
    memset(mask, 0, m->n_params * sizeof *mask);
    for (size_t i = 0; i < m->n_layers; i++) {
        const bn_layer *l = &m->layers[i];
        if (l->kind == LAYER_LINEAR)
            for (size_t o = 0; o < l->out_c; o++)
                for (size_t in = 0; in < l->fan_in; in++)
                    mask[l->weight + linear_weight_at(l->fan_in, o, in)] = 1.0f;
        if (l->kind == LAYER_CONV)
            for (size_t e = 0; e < l->n_weight; e++)
                mask[l->weight + e] = 1.0f;
        if ((l->kind == LAYER_LINEAR || l->kind == LAYER_CONV) && l->bias != BN_NONE)
            for (size_t c = 0; c < l->out_c; c++)
                mask[l->bias + c] = 1.0f;
        if (l->kind == LAYER_BATCHNORM)
            for (size_t c = 0; c < 2 * l->out_c; c++)
                mask[l->gamma + c] = 1.0f;
    }
}

int fisher_create(fisher_workspace *fw, const bn_model_spec *spec, size_t max_samples,
                  const fisher_options *options, bn_error *err) {
    memset(fw, 0, sizeof *fw);
    fisher_options_default(&fw->options);
    if (options) fw->options = *options;
    if (!(fw->options.tolerance > 0.0) || fw->options.max_iterations == 0)
        return bn_fail(err, "Fisher: tolerance and max_iterations must be positive");
    fw->max_samples = max_samples;
    if (model_create(&fw->model, spec, max_samples, err)) return -1;
    bn_model *m = &fw->model;
    fw->tangents = malloc(m->n_acts * sizeof(float));
    fw->scratch = malloc(model_tangent_scratch_floats(m, max_samples) * sizeof(float));
    fw->dlogits = malloc(max_samples * spec->n_classes * sizeof(float));
    fw->mask = malloc(m->n_params * sizeof(float));
    fw->start = malloc(m->n_params * sizeof(float));
    fw->calibration = malloc((model_calibrate_scratch_doubles(m) + 1) * sizeof(double));
    if (!fw->tangents || !fw->scratch || !fw->dlogits || !fw->mask || !fw->start ||
        !fw->calibration) {
        fisher_free(fw);
        return bn_fail(err, "out of memory for the Fisher of %zu samples", max_samples);
    }
    if (lanczos_create(&fw->lanczos, m->n_params, fw->options.max_iterations, err)) {
        fisher_free(fw);
        return -1;
    }
    parameter_mask(m, fw->mask);
    return 0;
}

int fisher_plan_bytes(const bn_model_spec *spec, size_t max_samples, const fisher_options *options,
                      size_t *bytes, bn_error *err) {
    fisher_options o;
    fisher_options_default(&o);
    if (options) o = *options;
    bn_model plan;
    if (model_plan(&plan, spec, max_samples, err)) return -1;
    size_t floats = plan.n_acts + model_tangent_scratch_floats(&plan, max_samples) +
                    max_samples * spec->n_classes + 2 * plan.n_params;
    size_t doubles = model_calibrate_scratch_doubles(&plan) + 1;
    *bytes = model_bytes(&plan) + floats * sizeof(float) + doubles * sizeof(double) +
             lanczos_bytes(plan.n_params, o.max_iterations);
    model_free(&plan);
    return 0;
}

void fisher_free(fisher_workspace *fw) {
    model_free(&fw->model);
    free(fw->tangents);
    free(fw->scratch);
    free(fw->dlogits);
    free(fw->mask);
    free(fw->start);
    free(fw->calibration);
    lanczos_free(&fw->lanczos);
    memset(fw, 0, sizeof *fw);
}

static int batch_mode(const fisher_workspace *fw) {
    return fw->options.bn_mode == FISHER_BN_BATCH;
}

int fisher_prepare(fisher_workspace *fw, const bn_model *model, const float *input, size_t n,
                   bn_error *err) {
    bn_model *m = &fw->model;
    if (n == 0 || n > fw->max_samples)
        return bn_fail(err, "Fisher: %zu samples, the workspace holds 1 to %zu", n,
                       fw->max_samples);
    if (model->n_params != m->n_params || model->n_buffers != m->n_buffers)
        return bn_fail(err, "Fisher: the model is not the workspace's network");
    memcpy(m->params, model->params, m->n_params * sizeof(float));
    if (m->n_buffers) memcpy(m->buffers, model->buffers, m->n_buffers * sizeof(float));
    if (fw->options.bn_mode == FISHER_BN_POPULATION)
        model_calibrate_batchnorm_with(m, input, n, fw->calibration);
    fw->input = input;
    fw->n = n;
    model_forward(m, input, n, batch_mode(fw));
    return 0;
}

void fisher_apply(void *ctx, const float *v, float *out) {
    fisher_workspace *fw = ctx;
    bn_model *m = &fw->model;
    int train = batch_mode(fw);
    const float *jv = model_tangent(m, fw->input, v, fw->tangents, fw->scratch, fw->n, train);
    size_t outputs = fw->n * m->spec.n_classes;
    for (size_t i = 0; i < outputs; i++)
        fw->dlogits[i] = jv[i] / (float)fw->n;
    model_backward_overwrite(m, fw->input, fw->dlogits, fw->n, train);
    for (size_t i = 0; i < m->n_params; i++)
        out[i] = m->grads[i] * fw->mask[i];
}

int fisher_measure_in(fisher_workspace *fw, const bn_model *model, const float *input, size_t n,
                      fisher_result *result, bn_error *err) {
    double start_seconds = wall_seconds();
    memset(result, 0, sizeof *result);
    if (fisher_prepare(fw, model, input, n, err)) return -1;
    bn_rng rng;
    rng_seed(&rng, fw->options.seed);
    for (size_t i = 0; i < fw->model.n_params; i++)
        fw->start[i] = (float)rng_normal(&rng) * fw->mask[i];
    if (lanczos_largest(&fw->lanczos, fisher_apply, fw, fw->start, fw->options.tolerance, result,
                        err))
        return -1;
    result->seconds = wall_seconds() - start_seconds;
    return 0;
}

int fisher_measure(const bn_model *model, const float *input, size_t n,
                   const fisher_options *options, fisher_result *result, bn_error *err) {
    fisher_workspace fw;
    if (fisher_create(&fw, &model->spec, n, options, err)) return -1;
    int status = fisher_measure_in(&fw, model, input, n, result, err);
    fisher_free(&fw);
    return status;
}
