/* The mean-field theory: hand-derived values for small networks, the properties the paper
 * states, the CSV the grid overlays, the command line, and the empirical check (measured
 * per-layer terms on freshly initialised networks against the theory). Tolerances of the
 * empirical part are justified in docs/theory.md, "Empirical check". */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bntrain/data.h"
#include "bntrain/theory.h"
#include "check.h"

#define PI 3.14159265358979323846
#define SIGMA_W2 2.0
#define SIGMA_B2 0.5
#define MOMENTUM 0.9

static bn_model_spec fc_spec(size_t in_units, const size_t *hidden, size_t n_hidden,
                             size_t n_classes, int batchnorm) {
    bn_model_spec s;
    memset(&s, 0, sizeof s);
    s.arch = ARCH_FC;
    s.in_channels = in_units;
    s.in_height = s.in_width = 1;
    s.n_hidden = n_hidden;
    memcpy(s.hidden, hidden, n_hidden * sizeof *hidden);
    s.n_classes = n_classes;
    s.batchnorm = batchnorm;
    return s;
}

static bn_theory_result evaluate(const bn_model_spec *spec, double gamma) {
    bn_theory_result r;
    bn_error err;
    int status = theory_evaluate(spec, gamma, SIGMA_W2, SIGMA_B2, MOMENTUM, &r, &err);
    CHECK_MSG(status == 0, "%s", err.msg);
    return r;
}

/* One hidden BN layer, N_0 = 4 -> N_1 = 8 -> 3: q^1 = s_b^2 + s_w^2 = 2.5; after BN + ReLU
 * q_hat^1 = gamma^2 / 2 and q_hat^1_xy = gamma^2 / (2 pi); q_tilde^1 = gamma^2 s_w^2 / (2 q^1)
 * = 0.196 and q_tilde^1_xy = 0.098 at gamma 0.7; f_1 = N_0 q_hat^0_xy (...) = 0 and
 * f_2 = N_1 gamma^2 / (2 pi) = 0.62388737692. */
static void test_one_hidden_bn(void) {
    const size_t hidden[] = {8};
    bn_model_spec spec = fc_spec(4, hidden, 1, 3, 1);
    double gamma = 0.7;
    bn_theory_result r = evaluate(&spec, gamma);
    CHECK(r.n_layers == 2);
    CHECK_CLOSE(r.layer[0].q_hat, 1.0, 1e-15);
    CHECK_CLOSE(r.layer[0].q_hat_xy, 0.0, 1e-15);
    CHECK_CLOSE(r.layer[0].q, 2.5, 1e-15);
    CHECK_CLOSE(r.layer[0].q_xy, 0.5, 1e-15);
    CHECK_CLOSE(r.layer[1].q_hat, gamma * gamma / 2.0, 1e-15);
    CHECK_CLOSE(r.layer[1].q_hat_xy, gamma * gamma / (2.0 * PI), 1e-15);
    CHECK_CLOSE(r.layer[0].qt, 0.196, 1e-14);
    CHECK_CLOSE(r.layer[0].qt_xy, 0.098, 1e-14);
    CHECK_CLOSE(r.layer[1].qt, 1.0, 1e-15);
    CHECK_CLOSE(r.f[0], 0.0, 1e-15);
    CHECK_CLOSE(r.f[1], 0.6238873769202297, 1e-13);
    CHECK_CLOSE(r.lambda_max, 0.6238873769202297, 1e-13);
    CHECK_CLOSE(r.eta_bar, 2.0 * 1.9 / 0.6238873769202297, 1e-12);
    CHECK_CLOSE(r.log10_eta_bar, log10(3.8 / 0.6238873769202297), 1e-12);
    /* x = y terms: N_1 q_hat^1 q_tilde^2 and N_0 q_hat^0 q_tilde^1. */
    CHECK_CLOSE(r.layer[1].trace, 8.0 * gamma * gamma / 2.0, 1e-14);
    CHECK_CLOSE(r.layer[0].trace, 4.0 * 0.196, 1e-14);
}

/* The same network without BN (eq. 20-22): c^1 = 0.5 / 2.5 = 0.2, q_hat^1 = q^1 / 2 = 1.25,
 * q_hat^1_xy = (2.5 / 2 pi)(sqrt(1 - c^2) + c pi / 2 + c asin c) = 0.53087195483,
 * q_tilde^1 = s_w^2 / 2 = 1, q_tilde^1_xy = s_w^2 (1/4 + asin(c) / 2 pi) = 0.56409421685,
 * f_2 = 8 q_hat^1_xy = 4.24697563863; nothing depends on gamma. */
static void test_one_hidden_vanilla(void) {
    const size_t hidden[] = {8};
    bn_model_spec spec = fc_spec(4, hidden, 1, 3, 0);
    bn_theory_result r = evaluate(&spec, 0.3);
    CHECK_CLOSE(r.layer[0].c_xy, 0.2, 1e-15);
    CHECK_CLOSE(r.layer[1].q_hat, 1.25, 1e-15);
    CHECK_CLOSE(r.layer[1].q_hat_xy, 0.5308719548290818, 1e-13);
    CHECK_CLOSE(r.layer[0].qt, 1.0, 1e-15);
    CHECK_CLOSE(r.layer[0].qt_xy, 0.564094216848975, 1e-13);
    CHECK_CLOSE(r.f[0], 0.0, 1e-15);
    CHECK_CLOSE(r.f[1], 4.246975638632654, 1e-13);
    bn_theory_result other = evaluate(&spec, 3.0);
    CHECK(other.lambda_max == r.lambda_max);
}

/* Two hidden BN layers 10 -> 20 -> 30 -> 5 at gamma 1.5: q^2 = s_b^2 + s_w^2 gamma^2 / 2 = 2.75,
 * q_tilde^2_xy = gamma^2 s_w^2 / (4 q^2) = 0.40909, f_2 = 20 gamma^2 / (2 pi) q_tilde^2_xy
 * = 2.92989781601, f_3 = 30 gamma^2 / (2 pi) = 10.7429586587 and q_tilde^1_xy = gamma^2 s_w^2
 * / (4 q^1) q_tilde^2_xy = 0.184090909. */
static void test_two_hidden_bn(void) {
    const size_t hidden[] = {20, 30};
    bn_model_spec spec = fc_spec(10, hidden, 2, 5, 1);
    bn_theory_result r = evaluate(&spec, 1.5);
    CHECK(r.n_layers == 3);
    CHECK_CLOSE(r.layer[1].q, 2.75, 1e-15);
    CHECK_CLOSE(r.f[0], 0.0, 1e-15);
    CHECK_CLOSE(r.f[1], 2.9298978160098916, 1e-13);
    CHECK_CLOSE(r.f[2], 10.742958658702936, 1e-13);
    CHECK_CLOSE(r.layer[0].qt_xy, 0.1840909090909091, 1e-13);
    CHECK_CLOSE(r.lambda_max, r.f[1] + r.f[2], 1e-13);
}

static bn_model_spec cnn_spec(size_t c, size_t h, size_t w, const size_t *hidden, size_t n_hidden,
                              size_t kernel, size_t stride, size_t padding, int batchnorm) {
    bn_model_spec s;
    memset(&s, 0, sizeof s);
    s.arch = ARCH_CNN;
    s.in_channels = c;
    s.in_height = h;
    s.in_width = w;
    s.n_hidden = n_hidden;
    memcpy(s.hidden, hidden, n_hidden * sizeof *hidden);
    s.kernel = kernel;
    s.stride = stride;
    s.padding = padding;
    s.n_classes = 10;
    s.batchnorm = batchnorm;
    return s;
}

/* |K_l| and N_{l-1} = C_{l-1} |F_l| of the paper's cnn (3x3, stride 2, no padding); the
 * supplement's example gives |K_0| = 1024, |F_1| = 9, |K_1| = 225 for CIFAR-10. The output
 * layer reads the flattened map: N_3 = C_3 |K_3|. */
static void test_paper_cnn_geometry(void) {
    const size_t mnist_k[] = {784, 169, 36, 4, 1}, mnist_fan_in[] = {9, 270, 540, 360};
    const size_t cifar_k[] = {1024, 225, 49, 9, 1}, cifar_fan_in[] = {27, 270, 540, 810};
    for (int d = 0; d < 2; d++) {
        bn_model_spec spec;
        model_spec_paper(&spec, ARCH_CNN, d ? 3 : 1, d ? 32 : 28, d ? 32 : 28, 1);
        bn_theory_result r = evaluate(&spec, 1.0);
        const size_t *k = d ? cifar_k : mnist_k, *fan_in = d ? cifar_fan_in : mnist_fan_in;
        CHECK(r.n_layers == 4);
        for (size_t l = 0; l < 4; l++) {
            CHECK(r.layer[l].in_locations == k[l]);
            CHECK(r.layer[l].out_locations == k[l + 1]);
            CHECK(r.layer[l].fan_in == fan_in[l]);
            CHECK(r.layer[l].taps == (l < 3 ? 9 : k[3]));
            CHECK_CLOSE(r.layer[l].tap_fraction, 1.0, 1e-15);
            /* The fc output layer reads independent weights at every location: no gradient
             * correlation between locations reaches any layer. */
            CHECK(r.layer[l].qt_ab == 0.0);
        }
    }
}

/* 1x5x5 input, 3x3 kernel, stride 2 -> 2x2 map of 4 channels, BN: the output layer has
 * N_1 = 4 channels x 4 locations, so f_2 = 16 gamma^2 / (2 pi); q_tilde^1 summed over the
 * 4 locations is gamma^2 s_w^2 / (2 q^1), as for an fc layer. */
static void test_small_cnn(void) {
    const size_t hidden[] = {4};
    bn_model_spec spec = cnn_spec(1, 5, 5, hidden, 1, 3, 2, 0, 1);
    double gamma = 1.3;
    bn_theory_result r = evaluate(&spec, gamma);
    CHECK(r.layer[1].fan_in == 16);
    CHECK_CLOSE(r.f[1], 16.0 * gamma * gamma / (2.0 * PI), 1e-13);
    CHECK_CLOSE(r.layer[0].qt, gamma * gamma * SIGMA_W2 / (2.0 * 2.5), 1e-14);
    CHECK_CLOSE(r.layer[0].q_hat_ab, 0.0, 1e-15);
    CHECK_CLOSE(r.layer[1].q_hat_ab, gamma * gamma / (2.0 * PI), 1e-15);
}

/* Zero padding: a 3x3 input, 3x3 kernel, stride 1, padding 1 keeps 7 of the 9 (position, tap)
 * pairs per dimension inside the input, so q^1 = s_b^2 + s_w^2 (49 / 81) q_hat^0. */
static void test_padding(void) {
    const size_t hidden[] = {2};
    bn_model_spec spec = cnn_spec(1, 3, 3, hidden, 1, 3, 1, 1, 0);
    bn_theory_result r = evaluate(&spec, 1.0);
    CHECK_CLOSE(r.layer[0].tap_fraction, 49.0 / 81.0, 1e-15);
    CHECK_CLOSE(r.layer[0].q, SIGMA_B2 + SIGMA_W2 * 49.0 / 81.0, 1e-15);
    CHECK(r.layer[0].out_locations == 9);
}

/* A conv layer whose kernel covers the input is an fc layer: 3x2x2 input, 2x2 kernel (one
 * location), against 12 -> 7 -> 10 fc; and 1x1 kernels on a 1x1 map against fc. */
static void test_cnn_reduces_to_fc(void) {
    for (int bn = 0; bn < 2; bn++) {
        const size_t one[] = {7}, two[] = {5, 6};
        bn_model_spec cnn = cnn_spec(3, 2, 2, one, 1, 2, 1, 0, bn),
                      fc = fc_spec(12, one, 1, 10, bn);
        CHECK_CLOSE(evaluate(&cnn, 0.8).lambda_max, evaluate(&fc, 0.8).lambda_max, 1e-13);
        cnn = cnn_spec(4, 1, 1, two, 2, 1, 1, 0, bn);
        fc = fc_spec(4, two, 2, 10, bn);
        CHECK_CLOSE(evaluate(&cnn, 2.2).lambda_max, evaluate(&fc, 2.2).lambda_max, 1e-13);
    }
}

/* THEORY_POPULATION on mean-zero data: the forward pass is the paper's, but BN divides by the
 * population variance: s_1^2 = s_w^2 (q_hat^0 - q_hat^0_xy) = 2 (bias drops out), and
 * s_2^2 = s_w^2 gamma^2 (1/2 - 1/(2 pi)) = 1.53380275609 at gamma 1.5. */
static void test_population_variant(void) {
    const size_t hidden[] = {20, 30};
    bn_model_spec spec = fc_spec(10, hidden, 2, 5, 1);
    bn_theory_config cfg;
    theory_config_paper(&cfg, 1.5, SIGMA_W2, SIGMA_B2, MOMENTUM);
    cfg.variant = THEORY_POPULATION;
    bn_theory_result pop, paper = evaluate(&spec, 1.5);
    bn_error err;
    CHECK(theory_evaluate_config(&spec, &cfg, &pop, &err) == 0);
    CHECK_CLOSE(pop.layer[0].bn_var, 2.0, 1e-15);
    CHECK_CLOSE(pop.layer[1].bn_var, 1.5338027560864709, 1e-13);
    CHECK_CLOSE(pop.layer[1].c_xy, 0.0, 1e-15);
    CHECK_CLOSE(pop.layer[2].q_hat_xy, paper.layer[2].q_hat_xy, 1e-15);
    CHECK_CLOSE(pop.f[2], paper.f[2], 1e-13);
    CHECK(pop.f[1] > paper.f[1]); /* s^2 < q: a larger backward gain */
}

/* What the paper states (section 4): for gamma up to about 3 BN lowers lambda_max below the
 * vanilla network's, and eta_bar falls as gamma grows; the vanilla bound grows with sigma_w^2
 * (its Fig. 3 baseline). */
static void test_paper_properties(void) {
    for (int arch = 0; arch < 2; arch++)
        for (int d = 0; d < 2; d++) {
            bn_model_spec bn, vanilla;
            size_t c = d ? 3 : 1, side = d ? 32 : 28;
            model_spec_paper(&bn, arch ? ARCH_CNN : ARCH_FC, c, side, side, 1);
            model_spec_paper(&vanilla, arch ? ARCH_CNN : ARCH_FC, c, side, side, 0);
            double lambda_vanilla = evaluate(&vanilla, 1.0).lambda_max, previous_eta = INFINITY;
            for (double gamma = 0.1; gamma < 4.51; gamma += 0.05) {
                bn_theory_result r = evaluate(&bn, gamma);
                if (gamma < 2.8) CHECK_MSG(r.lambda_max < lambda_vanilla, "gamma %g", gamma);
                if (gamma > 3.0) CHECK_MSG(r.lambda_max > lambda_vanilla, "gamma %g", gamma);
                CHECK_MSG(r.eta_bar < previous_eta, "gamma %g", gamma);
                previous_eta = r.eta_bar;
            }
            double previous_lambda = 0.0;
            for (double sigma_w2 = 0.5; sigma_w2 < 4.01; sigma_w2 += 0.25) {
                bn_theory_result r;
                CHECK(theory_evaluate(&vanilla, 1.0, sigma_w2, SIGMA_B2, MOMENTUM, &r, NULL) == 0);
                CHECK_MSG(r.lambda_max > previous_lambda, "sigma_w2 %g", sigma_w2);
                previous_lambda = r.lambda_max;
            }
        }
}

static void test_invalid(void) {
    const size_t hidden[] = {8};
    bn_model_spec bn = fc_spec(4, hidden, 1, 3, 1), vanilla = fc_spec(4, hidden, 1, 3, 0);
    bn_theory_result r;
    bn_error err;
    CHECK(theory_evaluate(&bn, 0.0, SIGMA_W2, SIGMA_B2, MOMENTUM, &r, &err) == -1);
    CHECK(theory_evaluate(&vanilla, 0.0, SIGMA_W2, SIGMA_B2, MOMENTUM, &r, &err) == 0);
    CHECK(theory_evaluate(&bn, 1.0, 0.0, SIGMA_B2, MOMENTUM, &r, &err) == -1);
    CHECK(theory_evaluate(&bn, 1.0, SIGMA_W2, -0.1, MOMENTUM, &r, &err) == -1);
    CHECK(theory_evaluate(&bn, 1.0, SIGMA_W2, SIGMA_B2, 1.0, &r, &err) == -1);
    /* A lone linear layer on mean-zero data: the bound is zero, eta_bar undefined. */
    bn_model_spec linear = fc_spec(4, hidden, 0, 3, 0);
    CHECK(theory_evaluate(&linear, 1.0, SIGMA_W2, SIGMA_B2, MOMENTUM, &r, &err) == -1);
    bn_model_spec too_small = cnn_spec(1, 2, 2, hidden, 1, 3, 1, 0, 1);
    CHECK(theory_evaluate(&too_small, 1.0, SIGMA_W2, SIGMA_B2, MOMENTUM, &r, &err) == -1);
}

/* ---- theory_write_csv ------------------------------------------------------------------- */

static int read_file(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return 0;
}

/* Entries of dir other than . and .. (a leftover temp file shows as a second entry). */
static size_t count_entries(const char *dir) {
    DIR *d = opendir(dir);
    size_t n = 0;
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void test_write_csv(void) {
    char dir[] = "/tmp/test_theory.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], text[4096];
    snprintf(path, sizeof path, "%s/theory.csv", dir);
    bn_model_spec spec;
    model_spec_paper(&spec, ARCH_FC, 1, 28, 28, 1);
    const double gammas[] = {0.5, 1.0, 2.0};
    bn_error err;
    CHECK(theory_write_csv(path, NULL, &spec, gammas, 3, 0, 1.0, SIGMA_W2, SIGMA_B2, MOMENTUM,
                           &err) == 0);
    CHECK(read_file(path, text, sizeof text) == 0);
    CHECK(strncmp(text, "gamma,lambda_max,eta_bar,log10_eta_bar\n", 39) == 0);
    const char *line = strchr(text, '\n');
    for (size_t i = 0; i < 3 && line; i++) {
        double x, lambda, eta, log10_eta;
        CHECK(sscanf(line + 1, "%lf,%lf,%lf,%lf", &x, &lambda, &eta, &log10_eta) == 4);
        bn_theory_result r = evaluate(&spec, gammas[i]);
        CHECK(x == gammas[i]);
        CHECK_CLOSE(lambda, r.lambda_max, 1e-11);
        CHECK_CLOSE(eta, r.eta_bar, 1e-11);
        CHECK_CLOSE(log10_eta, r.log10_eta_bar, 1e-11);
        line = strchr(line + 1, '\n');
    }
    CHECK(count_entries(dir) == 1); /* no temp file left behind */

    /* The vanilla baseline of Fig. 3: x is sigma_w^2. */
    spec.batchnorm = 0;
    const double sigma_w2[] = {1.0, 2.0};
    /* and a first line before the header, as a grid writes its identity line */
    const char *first = "# bntrain grid config 00000000000000ab\n";
    CHECK(theory_write_csv(path, first, &spec, sigma_w2, 2, 1, 1.0, SIGMA_W2, SIGMA_B2, MOMENTUM,
                           &err) == 0);
    CHECK(read_file(path, text, sizeof text) == 0);
    CHECK(strncmp(text, first, strlen(first)) == 0);
    const char *header = text + strlen(first);
    CHECK(strncmp(header, "sigma_w2,lambda_max,eta_bar,log10_eta_bar\n", 42) == 0);
    bn_theory_result r;
    CHECK(theory_evaluate(&spec, 1.0, 1.0, SIGMA_B2, MOMENTUM, &r, &err) == 0);
    double x, lambda;
    CHECK(sscanf(header + 42, "%lf,%lf", &x, &lambda) == 2 && x == 1.0);
    CHECK_CLOSE(lambda, r.lambda_max, 1e-11);

    /* A bad value fails before the rename: the old file stays, no temp file is left. */
    const double bad[] = {1.0, -1.0};
    spec.batchnorm = 1;
    CHECK(theory_write_csv(path, NULL, &spec, bad, 2, 0, 1.0, SIGMA_W2, SIGMA_B2, MOMENTUM, &err) ==
          -1);
    CHECK(read_file(path, text, sizeof text) == 0 && strncmp(text, first, strlen(first)) == 0);
    CHECK(count_entries(dir) == 1);
    snprintf(path, sizeof path, "%s/missing/theory.csv", dir);
    CHECK(theory_write_csv(path, NULL, &spec, gammas, 3, 0, 1.0, SIGMA_W2, SIGMA_B2, MOMENTUM,
                           &err) == -1);
    CHECK_MSG(strstr(err.msg, "missing") != NULL, "%s", err.msg);
    snprintf(path, sizeof path, "%s/theory.csv", dir);
    unlink(path);
    rmdir(dir);
}

/* ---- the command line ------------------------------------------------------------------- */

/* Runs the binary with args; returns its exit status and its stdout in out. */
static int run_binary(const char *binary, const char *args, char *out, size_t size) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' theory %s 2>/dev/null", binary, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_cli(void) {
    const char *binary = check_binary();
    char out[8192];
    CHECK(run_binary(binary, "--help", out, sizeof out) == 0 && strstr(out, "usage:"));
    CHECK(run_binary(binary, "--gamma 1", out, sizeof out) == 2);
    CHECK(run_binary(binary, "--dataset mnist --gamma 0", out, sizeof out) == 2);
    CHECK(run_binary(binary, "--dataset mnist --gamma x", out, sizeof out) == 2);
    CHECK(run_binary(binary, "--dataset mnist --variant nope", out, sizeof out) == 2);
    CHECK(run_binary(binary, "--dataset mnist --bogus", out, sizeof out) == 2);
    CHECK(run_binary(binary, "--dataset mnist --plot /nonexistent-dir/x.png", out, sizeof out) ==
          1);
    CHECK(run_binary(binary, "--dataset cifar10 --arch cnn --csv --gamma 1,2", out, sizeof out) ==
          0);
    const char header[] = "gamma,lambda_max_bn,eta_bar_bn,log10_eta_bar_bn,lambda_max_vanilla,"
                          "eta_bar_vanilla,log10_eta_bar_vanilla\n";
    CHECK(strncmp(out, header, sizeof header - 1) == 0);
    bn_model_spec bn, vanilla;
    model_spec_paper(&bn, ARCH_CNN, 3, 32, 32, 1);
    model_spec_paper(&vanilla, ARCH_CNN, 3, 32, 32, 0);
    double v[7];
    CHECK(sscanf(out + sizeof header - 1, "%lf,%lf,%lf,%lf,%lf,%lf,%lf", &v[0], &v[1], &v[2], &v[3],
                 &v[4], &v[5], &v[6]) == 7);
    CHECK(v[0] == 1.0);
    CHECK_CLOSE(v[1], evaluate(&bn, 1.0).lambda_max, 1e-8);
    CHECK_CLOSE(v[6], evaluate(&vanilla, 1.0).log10_eta_bar, 1e-8);
}

/* ---- the empirical check ---------------------------------------------------------------- */

static double sum(const double *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s;
}

static void print_check(const char *what, const bn_check_result *r) {
    printf("%s: base %.4f %.4f %.4f\n", what, r->input_q_hat, r->input_q_hat_xy, r->input_q_hat_ab);
    for (size_t l = 0; l < r->n_layers; l++)
        printf("  layer %zu: paper %10.4f refined %10.4f measured %10.4f +- %.4f\n", l + 1,
               r->paper[l], r->refined[l], r->measured[l], r->measured_stderr[l]);
}

/* The paper's data model exactly: 784 independent N(0, 1) components (fewer input dimensions
 * give the hidden representations a low-rank covariance, and BN's per-unit variances spread,
 * docs/theory.md). Hidden layers 512 wide, m = 500, three networks. Observed: every layer
 * l >= 2 within 1.5% of the refined theory (within 5% at width 256, where O(1/N) corrections
 * and the draw of the data show); the tolerances, 6% per layer and 4% for the sum, leave room
 * for both and for the ~1% standard error over three networks. */
static void test_check_gaussian(void) {
    size_t dim = 784, m = 500, n_calibration = 4000;
    float *x = malloc((m + n_calibration) * dim * sizeof *x);
    CHECK(x != NULL);
    if (!x) return;
    bn_rng rng;
    rng_seed(&rng, 7);
    for (size_t i = 0; i < (m + n_calibration) * dim; i++)
        x[i] = (float)rng_normal(&rng);
    const size_t hidden[] = {512, 512, 512};
    bn_model_spec spec = fc_spec(1, hidden, 3, 10, 1);
    spec.in_height = spec.in_width = 28;
    bn_check_config cfg = {.n_seeds = 3, .seed = 1};
    bn_check_result r;
    bn_error err;
    CHECK_MSG(theory_check(&spec, 1.0, SIGMA_W2, SIGMA_B2, x + m * dim, n_calibration, x, m, &cfg,
                           &r, &err) == 0,
              "%s", err.msg);
    print_check("gaussian fc 512, BN, gamma 1", &r);
    CHECK_CLOSE(r.input_q_hat_xy, 0.0, 1e-3);
    for (size_t l = 1; l < r.n_layers; l++)
        CHECK_MSG(fabs(r.measured[l] / r.refined[l] - 1.0) < 0.06, "layer %zu", l + 1);
    CHECK_MSG(fabs(sum(r.measured, 4) / sum(r.refined, 4) - 1.0) < 0.04, "sum");
    /* The paper's BN backward divides by q^l > s^2: its bound is low by a known factor
     * (about 1.59 at gamma 1, docs/theory.md), its output layer right. */
    CHECK_CLOSE(r.measured[3] / r.paper[3], 1.0, 0.04);
    double low = sum(r.measured, 4) / sum(r.paper, 4);
    CHECK_MSG(low > 1.4 && low < 1.8, "measured / paper %g", low);
    free(x);
}

/* Real MNIST (the bundled sample, else the shared copy): the paper's fc and cnn with BN at
 * gamma 1, m = 1000 images, BN statistics from the other 3000. The images are not the
 * paper's data model (pixel means are not zero, images are alike in class), which the
 * refined column absorbs only in part: measured / refined sums were 1.06 (fc) and 0.94
 * (cnn); the tolerance is 15%. The output layer sees only the population-normalised last
 * hidden layer: 0.98 (fc) and 0.96 (cnn, 0.95 on the full MNIST), tolerance 8%. */
static void test_check_mnist(void) {
    const char *source = check_source_dir(), *shared = check_shared_data();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/data", source);
    bn_dataset ds;
    bn_error err;
    const char *name = "mnist-sample";
    if (dataset_load(&ds, name, dir, &err)) {
        fprintf(stderr, "test_theory: %s; trying the shared MNIST\n", err.msg);
        name = "mnist";
        if (!shared || dataset_load(&ds, name, shared, &err)) {
            fprintf(stderr, "test_theory: NO MNIST DATA (bundled sample and $BNTRAIN_SHARED_DATA "
                            "both absent): the empirical check on real data did NOT run\n");
            CHECK(0);
            return;
        }
    }
    size_t m = 1000, dim = ds.channels * ds.height * ds.width;
    size_t n_calibration = ds.train.n - m < 3000 ? ds.train.n - m : 3000;
    float *images = dataset_float_copy(&ds, &ds.train, 0, m + n_calibration, &err);
    CHECK_MSG(images != NULL, "%s", err.msg);
    if (!images) {
        dataset_free(&ds);
        return;
    }
    for (int arch = 0; arch < 2; arch++) {
        bn_model_spec spec;
        model_spec_paper(&spec, arch ? ARCH_CNN : ARCH_FC, 1, 28, 28, 1);
        bn_check_config cfg = {.n_seeds = 3, .seed = 1};
        bn_check_result r;
        CHECK_MSG(theory_check(&spec, 1.0, SIGMA_W2, SIGMA_B2, images + m * dim, n_calibration,
                               images, m, &cfg, &r, &err) == 0,
                  "%s", err.msg);
        print_check(arch ? "mnist cnn, BN, gamma 1" : "mnist fc, BN, gamma 1", &r);
        double ratio = sum(r.measured, 4) / sum(r.refined, 4);
        CHECK_MSG(fabs(ratio - 1.0) < 0.15, "%s: measured / refined %g", arch_name(spec.arch),
                  ratio);
        CHECK_CLOSE(r.measured[3] / r.refined[3], 1.0, 0.08);
        CHECK(sum(r.measured, 4) > sum(r.paper, 4));
        /* The fc network's BN variances are the population variances of the refined theory;
         * the cnn's exceed them (per-channel BN also averages over the locations, whose means
         * differ on real images: docs/theory.md). */
        for (size_t l = 0; l + 1 < r.n_layers && arch == 0; l++)
            CHECK_CLOSE(r.bn_var_measured[l] / r.bn_var_theory[l], 1.0, 0.05);
    }
    free(images);
    dataset_free(&ds);
}

int main(void) {
    test_one_hidden_bn();
    test_one_hidden_vanilla();
    test_two_hidden_bn();
    test_paper_cnn_geometry();
    test_small_cnn();
    test_padding();
    test_cnn_reduces_to_fc();
    test_population_variant();
    test_paper_properties();
    test_invalid();
    test_write_csv();
    test_cli();
    test_check_gaussian();
    test_check_mnist();
    return check_summary("test_theory");
}
