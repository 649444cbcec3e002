/* bntrain probe's statistics (src/probe, bntrain/probe.h):
 * - on a 3-layer fc net (two hidden layers and the output), with and without BatchNorm,
 *   against PyTorch (tests/fixtures/probe_fc_{bn,nobn}.bin, tests/make_fixtures.py
 *   probe_records): channel moments of the pre-activations, weight-gradient norms and ratios,
 *   the eigenvalues of both Kronecker factors and the per-class output gradient;
 * - the eigensolver (LAPACK dsyevd) against a direct computation: cyclic Jacobi rotations in
 *   double precision on the covariance of random examples, and a matrix of known spectrum;
 * - the spectrum's summary (rank and lambda_min over the non-zero spectrum) on a
 *   rank-deficient covariance, and bitwise-identical reports on 1 and 2 threads. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bntrain/linear.h"
#include "bntrain/model.h"
#include "bntrain/probe.h"
#include "bntrain/rng.h"
#include "check.h"
#include "fixture.h"
#include "probe/spectrum.h"

/* float32 activations from two engines summed in different orders: a relative 1e-4 is far
 * below any real difference (a wrong scale, a missing 1/n, a channel mix-up). */
#define PROBE_TOL 1e-4

/* ---- a direct eigensolver: cyclic Jacobi, for the check of LAPACK's ---- */

/* Eigenvalues of the symmetric d x d matrix a (destroyed), descending: rotations until the
 * off-diagonal mass is below 1e-26 of the total. Slow (d^3 per sweep) but plainly correct. */
static void jacobi_eigenvalues(double *a, size_t d, double *eigenvalues) {
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, total = 0.0;
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j < d; j++) {
                total += a[i * d + j] * a[i * d + j];
                if (i != j) off += a[i * d + j] * a[i * d + j];
            }
        if (off <= 1e-26 * total) break;
        for (size_t p = 0; p < d; p++)
            for (size_t q = p + 1; q < d; q++) {
                double apq = a[p * d + q];
                if (apq == 0.0) continue;
                double theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (size_t k = 0; k < d; k++) { /* columns p, q */
                    double akp = a[k * d + p], akq = a[k * d + q];
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for (size_t k = 0; k < d; k++) { /* rows p, q */
                    double apk = a[p * d + k], aqk = a[q * d + k];
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
            }
    }
    for (size_t i = 0; i < d; i++)
        eigenvalues[i] = a[i * d + i];
    for (size_t i = 0; i < d; i++) /* descending */
        for (size_t j = i + 1; j < d; j++)
            if (eigenvalues[j] > eigenvalues[i]) {
                double t = eigenvalues[i];
                eigenvalues[i] = eigenvalues[j];
                eigenvalues[j] = t;
            }
}

/* The covariance of `rows` random examples of dimension d, some coordinates always zero (a
 * rank-deficient factor, as MNIST's black border pixels make), two ways: moment_accumulate +
 * dsyevd against a direct double sum + Jacobi. */
static void check_eigensolver(void) {
    enum { D = 24, ROWS = 40, DEAD = 5 };
    bn_rng rng;
    rng_seed(&rng, 7);
    float x[ROWS * D];
    for (size_t r = 0; r < ROWS; r++)
        for (size_t i = 0; i < D; i++)
            x[r * D + i] = i < DEAD ? 0.0f : (float)(rng_normal(&rng) * (1.0 + (double)i));
    double ours[D * D] = {0}, direct[D * D] = {0}, ev[D], ev_direct[D];
    moment_accumulate(ours, x, ROWS, D, 3);
    for (size_t i = 0; i < D; i++)
        for (size_t j = 0; j < D; j++)
            for (size_t r = 0; r < ROWS; r++)
                direct[i * D + j] += (double)x[r * D + i] * x[r * D + j];
    for (size_t i = 0; i < D * D; i++)
        CHECK(ours[i] == direct[i]); /* the same sums in order */
    bn_error err;
    CHECK(probe_symmetric_eigenvalues(ours, D, ev, &err) == 0);
    jacobi_eigenvalues(direct, D, ev_direct);
    for (size_t i = 0; i < D; i++)
        CHECK_CLOSE(ev[i], ev_direct[i], 1e-10 * ev_direct[0]);
    spectrum_summary s;
    spectrum_summarise(ev, D, &s);
    CHECK(s.rank == D - DEAD);
    CHECK_CLOSE(s.lambda_min, ev_direct[D - DEAD - 1], 1e-9);
    CHECK_CLOSE(s.condition, ev_direct[0] / ev_direct[D - DEAD - 1], 1e-6);

    /* A known spectrum: Q diag(1..6) Q^T with Q a Householder reflection. */
    enum { K = 6 };
    double v[K], norm = 0.0, a[K * K], known[K];
    for (size_t i = 0; i < K; i++) {
        v[i] = rng_normal(&rng);
        norm += v[i] * v[i];
    }
    for (size_t i = 0; i < K; i++)
        for (size_t j = 0; j < K; j++) {
            double sum = 0.0;
            for (size_t k = 0; k < K; k++) {
                double qik = (i == k) - 2.0 * v[i] * v[k] / norm;
                double qjk = (j == k) - 2.0 * v[j] * v[k] / norm;
                sum += qik * (double)(k + 1) * qjk;
            }
            a[i * K + j] = sum;
        }
    CHECK(probe_symmetric_eigenvalues(a, K, known, &err) == 0);
    for (size_t i = 0; i < K; i++)
        CHECK_CLOSE(known[i], (double)(K - i), 1e-12);
}

/* ---- the PyTorch fixtures ---- */

static int fixture_path(char *path, size_t size, const char *name) {
    return snprintf(path, size, "%s/tests/fixtures/%s.bin", check_source_dir(), name) >= (int)size;
}

/* The fixture's net: fc, input 1 x h x w, its hidden widths, BatchNorm or not; parameters
 * from its init/ records in PyTorch's parameters() order (the arena's). */
static int load_model(const fixture *fx, bn_model *m, size_t *batch) {
    const fixture_tensor *spec = fixture_get(fx, "spec"), *hidden = fixture_get(fx, "hidden");
    const fixture_tensor *input = fixture_get(fx, "input");
    if (!spec || spec->count != 10 || !hidden || !input || input->ndim != 4) return -1;
    bn_model_spec s;
    model_spec_paper(&s, ARCH_FC, input->dims[1], input->dims[2], input->dims[3],
                     spec->data[8] != 0.0f);
    s.n_hidden = hidden->count;
    for (size_t i = 0; i < s.n_hidden; i++)
        s.hidden[i] = (size_t)hidden->data[i];
    s.n_classes = (size_t)spec->data[7];
    *batch = input->dims[0];
    bn_error err;
    if (model_create(m, &s, *batch, &err)) return -1;
    size_t next = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        const bn_layer *l = &m->layers[i];
        size_t offsets[2], counts[2], n = 0;
        if (l->kind == LAYER_LINEAR) {
            offsets[0] = l->weight, counts[0] = l->fan_in * l->out_c;
            offsets[1] = l->bias, counts[1] = l->out_c;
            n = 2;
        } else if (l->kind == LAYER_BATCHNORM) {
            offsets[0] = l->gamma, offsets[1] = l->beta, counts[0] = counts[1] = l->out_c;
            n = 2;
        }
        for (size_t k = 0; k < n; k++) {
            const fixture_tensor *t;
            do
                t = next < fx->n_tensors ? &fx->tensors[next++] : NULL;
            while (t && strncmp(t->name, "init/", 5) != 0);
            if (!t || t->count != counts[k]) return -1;
            if (l->kind == LAYER_LINEAR && k == 0)
                linear_weight_from_rows(m->params + offsets[k], t->data, l->fan_in, l->out_c);
            else
                memcpy(m->params + offsets[k], t->data, counts[k] * sizeof(float));
        }
    }
    return 0;
}

static double value_of(const bn_probe_report *r, size_t layer, const char *quantity,
                       double *spread) {
    const bn_probe_row *row = probe_report_find(r, layer, quantity);
    CHECK_MSG(row != NULL, "no row %zu,%s", layer, quantity);
    if (spread) *spread = row ? row->spread : NAN;
    return row ? row->value : NAN;
}

static void check_eigenvalues(const fixture *fx, const char *tag, size_t k, const double *ours,
                              size_t d) {
    char name[64];
    snprintf(name, sizeof name, "probe/%s_eig/%zu", tag, k);
    const fixture_tensor *t = fixture_get(fx, name);
    CHECK_MSG(t && t->count == d && ours, "%s: missing or %zu eigenvalues", name, d);
    if (!t || t->count != d || !ours) return;
    for (size_t i = 0; i < d; i++)
        CHECK_CLOSE(ours[i], t->data[i], PROBE_TOL * t->data[0]);
}

static void check_against_pytorch(const char *name) {
    char path[4096];
    fixture fx;
    bn_error err = {{0}};
    if (fixture_path(path, sizeof path, name)) return;
    int loaded = fixture_load(&fx, path, &err) == 0;
    CHECK_MSG(loaded, "%s", err.msg);
    if (!loaded) return;
    bn_model m;
    size_t n = 0;
    int built = load_model(&fx, &m, &n) == 0;
    CHECK_MSG(built, "%s: spec or init records do not match the net", name);
    const fixture_tensor *in = fixture_get(&fx, "input"), *lab = fixture_get(&fx, "labels");
    const fixture_tensor *moments = fixture_get(&fx, "probe/moments");
    const fixture_tensor *grads = fixture_get(&fx, "probe/gradients");
    const fixture_tensor *dlogit = fixture_get(&fx, "probe/dlogit");
    const fixture_tensor *loss = fixture_get(&fx, "loss");
    CHECK(built && lab && moments && grads && dlogit && loss && moments->count == 12 &&
          grads->count == 6 && dlogit->count == 20);
    if (!built || !lab || !moments || !grads || !dlogit || !loss || moments->count != 12 ||
        grads->count != 6 || dlogit->count != 20) {
        if (built) model_free(&m);
        fixture_free(&fx);
        return;
    }
    uint8_t labels[256];
    for (size_t i = 0; i < n && i < 256; i++)
        labels[i] = (uint8_t)lab->data[i];
    bn_probe_report r, r2;
    bn_probe_config cfg = {.threads = 1};
    CHECK(probe_run(&m, in->data, labels, n, LOSS_MSE, &cfg, &r, &err) == 0);
    CHECK(r.n_layers == 3);
    CHECK_CLOSE(value_of(&r, BN_PROBE_ALL, "loss", NULL), loss->data[0], PROBE_TOL);
    for (size_t k = 1; k <= 3 && r.n_layers == 3; k++) {
        const float *mo = moments->data + (k - 1) * 4, *g = grads->data + (k - 1) * 2;
        double spread, value = value_of(&r, k, "channel_mean_abs", &spread);
        CHECK_CLOSE(value, mo[0], PROBE_TOL);
        CHECK_CLOSE(spread, mo[1], PROBE_TOL);
        value = value_of(&r, k, "channel_var", &spread);
        CHECK_CLOSE(value, mo[2], PROBE_TOL);
        CHECK_CLOSE(spread, mo[3], PROBE_TOL);
        CHECK_CLOSE(value_of(&r, k, "grad_norm", NULL), g[0], PROBE_TOL);
        CHECK_CLOSE(value_of(&r, k, "grad_to_weight", NULL), g[1], PROBE_TOL);
        const bn_probe_layer *pl = &r.layers[k - 1];
        check_eigenvalues(&fx, "input", k, pl->x_eigenvalues, pl->x_dim);
        check_eigenvalues(&fx, "outgrad", k, pl->g_eigenvalues, pl->g_dim);
        CHECK_CLOSE(value_of(&r, k, "input_cov_lambda_max", NULL), pl->x_eigenvalues[0], 0);
    }
    for (size_t j = 0; j < 10; j++) {
        char q[32];
        snprintf(q, sizeof q, "dlogit_class_%zu", j);
        double spread, value = value_of(&r, 3, q, &spread);
        CHECK_CLOSE(value, dlogit->data[2 * j], PROBE_TOL);
        CHECK_CLOSE(spread, dlogit->data[2 * j + 1], PROBE_TOL);
    }
    /* The same bits on 2 threads, and with factors of dimension above 10 skipped: only the
     * output layer's output-gradient factor (dimension 10) and the 8-wide input of it stay. */
    bn_probe_config two = {.threads = 2, .eig_max_dim = 10};
    CHECK(probe_run(&m, in->data, labels, n, LOSS_MSE, &two, &r2, &err) == 0);
    CHECK(r2.layers[0].x_eigenvalues == NULL && r2.layers[2].g_eigenvalues != NULL);
    CHECK(probe_report_find(&r2, 1, "input_cov_lambda_max") == NULL &&
          probe_report_find(&r2, 1, "input_cov_dim") != NULL);
    for (size_t i = 0; i < r2.n_rows; i++) {
        const bn_probe_row *a = &r2.rows[i];
        const bn_probe_row *b = probe_report_find(&r, a->layer, a->quantity);
        CHECK_MSG(b && memcmp(&a->value, &b->value, sizeof a->value) == 0, "%zu,%s differs",
                  a->layer, a->quantity);
    }
    printf("%-14s %zu rows, layer 1 grad_norm %.6g\n", name, r.n_rows,
           value_of(&r, 1, "grad_norm", NULL));
    probe_report_free(&r);
    probe_report_free(&r2);
    model_free(&m);
    fixture_free(&fx);
}

/* probe_run refuses a batch the model was not made for. */
static void check_refusals(void) {
    bn_model_spec s;
    model_spec_paper(&s, ARCH_FC, 1, 2, 2, 1);
    s.n_hidden = 1;
    s.hidden[0] = 3;
    bn_model m;
    bn_error err;
    CHECK(model_create(&m, &s, 4, &err) == 0);
    float x[5 * 4] = {0};
    uint8_t y[5] = {0};
    bn_probe_report r;
    CHECK(probe_run(&m, x, y, 5, LOSS_MSE, &(bn_probe_config){0}, &r, &err) == -1);
    CHECK(strstr(err.msg, "5 samples") != NULL);
    probe_report_free(&r);
    CHECK(probe_run(&m, x, y, 0, LOSS_MSE, &(bn_probe_config){0}, &r, &err) == -1);
    probe_report_free(&r);
    model_free(&m);
}

int main(void) {
    check_eigensolver();
    check_against_pytorch("probe_fc_bn");
    check_against_pytorch("probe_fc_nobn");
    check_refusals();
    return check_summary("test_probe");
}
