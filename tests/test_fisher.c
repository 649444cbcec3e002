/* The Fisher's F v and lambda_max (fisher.h): F v against F = J^T J / m built from an explicit
 * Jacobian, column by column, on tiny networks (fc with and without BatchNorm, each BatchNorm
 * mode, and a cnn), lambda_max against LAPACK's dense symmetric eigensolver (dsyev) of that F,
 * and Lanczos on diagonal operators with a known spectrum. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "bntrain/fisher.h"
#include "bntrain/model.h"
#include "bntrain/rng.h"
#include "check.h"
#include "finite_diff.h"

extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info);

static bn_rng rng;

/* ---- Lanczos on a diagonal operator ---- */
typedef struct {
    const double *diagonal;
    size_t dim;
    size_t applications;
} diagonal_operator;

static void diagonal_apply(void *ctx, const float *v, float *out) {
    diagonal_operator *d = ctx;
    for (size_t i = 0; i < d->dim; i++)
        out[i] = (float)(d->diagonal[i] * v[i]);
    d->applications++;
}

/* Spectrum: the top eigenvalue `top`, the next `second`, the rest spread over [0, rest_max]. */
static void check_diagonal(size_t dim, double top, double second, double rest_max,
                           const char *label) {
    double *diagonal = malloc(dim * sizeof *diagonal);
    float *start = malloc(dim * sizeof *start);
    for (size_t i = 0; i < dim; i++)
        diagonal[i] = rest_max * (double)i / (double)dim;
    diagonal[dim / 3] = top;
    diagonal[dim / 2] = second;
    randomize_from(&rng, start, dim, 1);
    diagonal_operator op = {diagonal, dim, 0};
    lanczos_workspace lz;
    bn_error err;
    fisher_result r;
    CHECK(lanczos_create(&lz, dim, 80, &err) == 0);
    CHECK(lanczos_largest(&lz, diagonal_apply, &op, start, 1e-3, &r, &err) == 0);
    CHECK_MSG(r.converged, "%s: not converged in %zu steps", label, r.iterations);
    CHECK_MSG(fabs(r.lambda_max - top) <= 1e-3 * top, "%s: lambda %.9g, expected %g", label,
              r.lambda_max, top);
    /* the recomputed residual agrees with the stopping estimate's bound, up to float vectors */
    CHECK_MSG(r.residual <= 2e-3 * top, "%s: residual %g", label, r.residual);
    CHECK(op.applications == r.iterations + 1);
    if (getenv("BNTRAIN_FD_REPORT"))
        printf("%s: lambda %.9g (exact %g) in %zu steps, residual %.3g\n", label, r.lambda_max, top,
               r.iterations, r.residual);
    lanczos_free(&lz);
    free(diagonal);
    free(start);
}

/* ---- the Fisher of a tiny network against its dense F ---- */

/* Largest eigenvalue of the dense symmetric p x p matrix a (destroyed). */
static double dense_largest(double *a, size_t p) {
    int n = (int)p, info = 0, lwork = -1;
    double *w = malloc(p * sizeof *w), query;
    dsyev_("N", "U", &n, a, &n, w, &query, &lwork, &info);
    lwork = (int)query;
    double *work = malloc((size_t)lwork * sizeof *work);
    dsyev_("N", "U", &n, a, &n, w, work, &lwork, &info);
    CHECK(info == 0);
    double largest = w[p - 1];
    free(w);
    free(work);
    return largest;
}

static void check_network(const bn_model_spec *spec, fisher_bn_mode mode, const char *label) {
    size_t n = 7;
    bn_model model;
    bn_error err;
    CHECK(model_create(&model, spec, n, &err) == 0);
    model_init(&model, 1.3, 2.0, 0.5, &rng);
    float *input = malloc(n * model_input_size(&model) * sizeof(float));
    randomize_from(&rng, input, n * model_input_size(&model), 1);
    /* running statistics away from the initial 0 and 1, for FISHER_BN_RUNNING */
    model_forward(&model, input, n, 1);
    fisher_options options;
    fisher_options_default(&options);
    options.bn_mode = mode;
    fisher_workspace fw;
    CHECK_MSG(fisher_create(&fw, spec, n, &options, &err) == 0, "%s: %s", label, err.msg);
    CHECK(fisher_prepare(&fw, &model, input, n, &err) == 0);
    /* the explicit Jacobian, one column J e_p per trained parameter p */
    size_t n_params = fw.model.n_params, outputs = n * spec->n_classes, p_count = 0;
    size_t *index = malloc(n_params * sizeof *index);
    for (size_t i = 0; i < n_params; i++)
        if (fw.mask[i] != 0.0f) index[p_count++] = i;
    CHECK(p_count == model_parameter_count(&model));
    double *jacobian = malloc(outputs * p_count * sizeof *jacobian);
    float *e = calloc(n_params, sizeof *e);
    int train = mode == FISHER_BN_BATCH;
    for (size_t c = 0; c < p_count; c++) {
        e[index[c]] = 1.0f;
        const float *column = model_tangent(&fw.model, input, e, fw.tangents, fw.scratch, n, train);
        for (size_t o = 0; o < outputs; o++)
            jacobian[o * p_count + c] = column[o];
        e[index[c]] = 0.0f;
    }
    double *dense = calloc(p_count * p_count, sizeof *dense);
    for (size_t a = 0; a < p_count; a++)
        for (size_t b = 0; b < p_count; b++) {
            double s = 0.0;
            for (size_t o = 0; o < outputs; o++)
                s += jacobian[o * p_count + a] * jacobian[o * p_count + b];
            dense[a * p_count + b] = s / (double)n;
        }
    /* F v against the dense product for a random direction */
    float *v = calloc(n_params, sizeof *v), *fv = malloc(n_params * sizeof *fv);
    for (size_t c = 0; c < p_count; c++)
        v[index[c]] = (float)rng_normal(&rng);
    fisher_apply(&fw, v, fv);
    double worst = 0.0, scale = 0.0;
    for (size_t a = 0; a < p_count; a++) {
        double s = 0.0;
        for (size_t b = 0; b < p_count; b++)
            s += dense[a * p_count + b] * v[index[b]];
        if (fabs(s) > scale) scale = fabs(s);
        if (fabs(s - fv[index[a]]) > worst) worst = fabs(s - fv[index[a]]);
    }
    CHECK_MSG(worst <= 1e-4 * scale, "%s: F v error %g of %g", label, worst, scale);
    size_t outside = 0;
    for (size_t i = 0; i < n_params; i++)
        outside += fw.mask[i] == 0.0f && fv[i] != 0.0f;
    CHECK(outside == 0);
    double exact = dense_largest(dense, p_count);
    fisher_result r;
    CHECK(fisher_measure_in(&fw, &model, input, n, &r, &err) == 0);
    CHECK_MSG(r.converged && fabs(r.lambda_max - exact) <= 1e-3 * exact,
              "%s: lambda %.9g, dense %.9g, converged %d", label, r.lambda_max, exact, r.converged);
    CHECK_MSG(r.residual <= 2e-3 * exact, "%s: residual %g", label, r.residual);
    /* the one-shot call agrees bitwise with the workspace's */
    fisher_result again;
    CHECK(fisher_measure(&model, input, n, &options, &again, &err) == 0);
    CHECK(again.lambda_max == r.lambda_max && again.iterations == r.iterations);
    if (getenv("BNTRAIN_FD_REPORT"))
        printf("%s: lambda %.9g, dense %.9g, %zu steps, residual %.3g, F v error %.3g\n", label,
               r.lambda_max, exact, r.iterations, r.residual, worst / scale);
    fisher_free(&fw);
    free(index), free(jacobian), free(e), free(dense), free(v), free(fv), free(input);
    model_free(&model);
}

static void check_paper_network(bn_arch arch, int batchnorm, fisher_bn_mode mode) {
    bn_model_spec spec;
    model_spec_paper(&spec, arch, 1, 7, 7, batchnorm);
    spec.n_hidden = 2, spec.hidden[0] = 6, spec.hidden[1] = 5, spec.n_classes = 3;
    char label[64];
    snprintf(label, sizeof label, "%s bn=%d %s", arch_name(arch), batchnorm,
             fisher_bn_mode_name(mode));
    check_network(&spec, mode, label);
}

static void test_bad_options(void) {
    bn_model_spec spec;
    model_spec_paper(&spec, ARCH_FC, 1, 4, 4, 1);
    fisher_options options;
    fisher_options_default(&options);
    options.tolerance = 0.0;
    fisher_workspace fw;
    bn_error err;
    CHECK(fisher_create(&fw, &spec, 3, &options, &err) == -1);
    fisher_bn_mode mode;
    CHECK(fisher_bn_mode_from_name("batch", &mode) == 0 && mode == FISHER_BN_BATCH);
    CHECK(fisher_bn_mode_from_name("train", &mode) == -1);
}

/* fisher_plan_bytes, what commands check against the memory before reading data, is what
 * fisher_create allocates: the heap grows by it, give or take the layer list and malloc's own
 * headers (glibc's mallinfo2; AddressSanitizer's allocator does not report there). */
static void check_plan_bytes(void) {
#if defined(__SANITIZE_ADDRESS__)
    printf("test_fisher: plan bytes against the heap skipped under AddressSanitizer\n");
#else
    bn_model_spec spec;
    model_spec_paper(&spec, ARCH_CNN, 3, 32, 32, 1);
    size_t planned = 0;
    bn_error err;
    CHECK(fisher_plan_bytes(&spec, 300, NULL, &planned, &err) == 0);
    struct mallinfo2 before = mallinfo2();
    fisher_workspace fw;
    CHECK_MSG(fisher_create(&fw, &spec, 300, NULL, &err) == 0, "%s", err.msg);
    struct mallinfo2 after = mallinfo2();
    double grown = (double)(after.uordblks + after.hblkhd) - (double)(before.uordblks + before.hblkhd);
    CHECK_MSG(grown >= (double)planned && grown <= (double)planned + 64 * 1024,
              "fisher_create grew the heap by %.0f bytes, planned %zu", grown, planned);
    fisher_free(&fw);
#endif
}

int main(void) {
    rng_seed(&rng, 77);
    check_diagonal(400, 10.0, 9.0, 5.0, "diagonal, gap 10%");
    check_diagonal(2000, 100.0, 99.0, 50.0, "diagonal, gap 1%");
    check_diagonal(300, 3.0, 0.5, 0.4, "diagonal, wide gap");
    check_paper_network(ARCH_FC, 0, FISHER_BN_POPULATION);
    check_paper_network(ARCH_FC, 1, FISHER_BN_POPULATION);
    check_paper_network(ARCH_FC, 1, FISHER_BN_RUNNING);
    check_paper_network(ARCH_FC, 1, FISHER_BN_BATCH);
    check_paper_network(ARCH_CNN, 1, FISHER_BN_POPULATION);
    check_paper_network(ARCH_CNN, 1, FISHER_BN_BATCH);
    test_bad_options();
    check_plan_bytes();
    return check_summary("test_fisher");
}
