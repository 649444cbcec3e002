/* bntrain theory: the mean-field lower bound on lambda_max and eta_bar = 2(1 + mu)/lambda_max
 * per gamma, for the BatchNorm network and the vanilla one (a table, CSV, or the paper's Fig. 1
 * as PNG + SVG); and --check, which measures the bound's per-layer terms on freshly initialised
 * networks and sets them beside the theory. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bntrain/data.h"
#include "bntrain/experiment.h"
#include "bntrain/theory.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "plot/plot.h"

#define DEFAULT_GAMMA "0.1:4.5:0.05"
#define DEFAULT_CHECK_GAMMA "0.5,1,2,4"

typedef struct {
    bn_experiment experiment;
    const char *gamma_text; /* NULL: the default of the mode */
    int csv, check;
    const char *plot_path;
    bn_theory_variant variant;
    size_t samples, calibration, seeds;
} theory_args;

static const char *const variant_names[] = {"paper", "population", NULL};
_Static_assert(THEORY_PAPER == 0 && THEORY_POPULATION == 1, "variant_names follows the enum");

#define THEORY(field) offsetof(theory_args, field)

static const cli_option theory_options[] = {
    OPTION_TITLE("options:"),
    OPTION_INCLUDE(options_model, THEORY(experiment)),
    /* Accepted as by train; theory has nothing more to say. */
    OPTION_IGNORE(options_verbose),
    OPTION_VALUE("gamma", "RANGE", option_set_text, THEORY(gamma_text),
                 "start:stop:step or a,b,c (default " DEFAULT_GAMMA "; " DEFAULT_CHECK_GAMMA
                 " with --check)"),
    OPTION_FLAG("csv", option_set_flag, THEORY(csv), "CSV on stdout"),
    OPTION_VALUE("plot", "FILE.png", option_set_text, THEORY(plot_path),
                 "also draw lambda_max and log10 eta_bar against gamma (+ SVG)"),
    OPTION_CHOICE("variant", "V", variant_names, THEORY(variant),
                  "paper (default) or population: BatchNorm divides by the\n"
                  "population variance s^2 = q - mean^2, not the paper's q\n"
                  "(the table; --check shows both)"),
    OPTION_FLAG("check", option_set_flag, THEORY(check),
                "measure the bound's per-layer terms on freshly initialised\n"
                "networks (the network --no-bn selects) and compare with theory"),
    OPTION_VALUE("samples", "M", option_set_count, THEORY(samples),
                 "check: images in the plug-in sum (default 1000)"),
    OPTION_VALUE("calibration", "N", option_set_count, THEORY(calibration),
                 "check: further images for the BatchNorm statistics (default\n"
                 "10000, fewer if the training set is smaller)"),
    OPTION_VALUE("seeds", "N", option_set_count, THEORY(seeds),
                 "check: networks averaged over (default 3)"),
    OPTION_VALUE("seed", "S", option_set_seed, THEORY(experiment.seed),
                 "check: seed of the first network (default 1)"),
    OPTION_END,
};

const cli_command theory_command = {
    .name = "theory",
    .about =
        "usage: bntrain theory --dataset NAME [options]\n\n"
        "Prints, per gamma, the mean-field lower bound on lambda_max of the Fisher information\n"
        "(Claim 3.1 of the paper), eta_bar = 2(1 + mu) / lambda_max and log10 eta_bar, for\n"
        "the BatchNorm network and for the vanilla one (which does not depend on gamma). The\n"
        "dataset only sets the input shape, except for --check. See docs/theory.md.\n\n",
    .options = theory_options,
    .target_bytes = sizeof(theory_args),
};

static void describe_network(FILE *out, const bn_model_spec *s) {
    fprintf(out, "%s, input %zux%zux%zu, hidden ", arch_name(s->arch), s->in_channels, s->in_height,
            s->in_width);
    for (size_t i = 0; i < s->n_hidden; i++)
        fprintf(out, "%s%zu", i ? "-" : "", s->hidden[i]);
    if (s->arch == ARCH_CNN)
        fprintf(out, " (%zux%zu, stride %zu, padding %zu)", s->kernel, s->kernel, s->stride,
                s->padding);
    fprintf(out, ", %zu outputs", s->n_classes);
}

typedef struct {
    double lambda, eta, log10_eta;
} theory_point;

static int evaluate(const bn_model_spec *spec, const theory_args *a, int batchnorm, double gamma,
                    theory_point *p, bn_error *err) {
    bn_model_spec s = *spec;
    s.batchnorm = batchnorm;
    bn_theory_config cfg;
    theory_config_paper(&cfg, gamma, a->experiment.sigma_w2, a->experiment.sigma_b2,
                        a->experiment.momentum);
    cfg.variant = a->variant;
    bn_theory_result r;
    if (theory_evaluate_config(&s, &cfg, &r, err)) return -1;
    *p = (theory_point){r.lambda_max, r.eta_bar, r.log10_eta_bar};
    return 0;
}

static void print_table(const theory_args *a, const bn_model_spec *spec, const double *gamma,
                        const theory_point *bn, const theory_point *vanilla, size_t n) {
    if (a->csv) {
        printf("gamma,lambda_max_bn,eta_bar_bn,log10_eta_bar_bn,lambda_max_vanilla,"
               "eta_bar_vanilla,log10_eta_bar_vanilla\n");
        for (size_t i = 0; i < n; i++)
            printf("%.12g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n", gamma[i], bn[i].lambda, bn[i].eta,
                   bn[i].log10_eta, vanilla[i].lambda, vanilla[i].eta, vanilla[i].log10_eta);
        return;
    }
    printf("# %s: ", a->experiment.dataset);
    describe_network(stdout, spec);
    printf("\n# sigma_w2 %g, sigma_b2 %g, momentum %g, %s theory; the vanilla network does not "
           "depend on gamma\n",
           a->experiment.sigma_w2, a->experiment.sigma_b2, a->experiment.momentum,
           a->variant == THEORY_PAPER ? "the paper's" : "population-variance");
    printf("%8s %13s %11s %9s %13s %11s %9s\n", "gamma", "lambda_bn", "eta_bar_bn", "log10_bn",
           "lambda_van", "eta_bar_van", "log10_van");
    for (size_t i = 0; i < n; i++)
        printf("%8.4g %13.6g %11.5g %9.4f %13.6g %11.5g %9.4f\n", gamma[i], bn[i].lambda, bn[i].eta,
               bn[i].log10_eta, vanilla[i].lambda, vanilla[i].eta, vanilla[i].log10_eta);
}

static int plot_table(const theory_args *a, const bn_model_spec *spec, const double *gamma,
                      const theory_point *bn, const theory_point *vanilla, size_t n,
                      bn_error *err) {
    double *columns = malloc(4 * n * sizeof *columns);
    if (!columns) return bn_fail(err, "out of memory");
    double *lambda_bn = columns, *lambda_vanilla = columns + n, *eta_bn = columns + 2 * n,
           *eta_vanilla = columns + 3 * n;
    for (size_t i = 0; i < n; i++) {
        lambda_bn[i] = bn[i].lambda;
        lambda_vanilla[i] = vanilla[i].lambda;
        eta_bn[i] = bn[i].log10_eta;
        eta_vanilla[i] = vanilla[i].log10_eta;
    }
    char title[256];
    snprintf(title, sizeof title, "%s on %s (σ_{w}^{2} = %g, σ_{b}^{2} = %g, μ = %g)",
             arch_name(spec->arch), a->experiment.dataset, a->experiment.sigma_w2,
             a->experiment.sigma_b2, a->experiment.momentum);
    int status = plot_theory_figure(a->plot_path, title, gamma, n, lambda_bn, lambda_vanilla,
                                    eta_bn, eta_vanilla, err);
    free(columns);
    return status;
}

static int run_table(const theory_args *a, const bn_model_spec *spec, const double *gamma,
                     size_t n) {
    bn_error err;
    theory_point *points = malloc(2 * n * sizeof *points);
    if (!points) {
        fprintf(stderr, "bntrain theory: out of memory\n");
        return EXIT_RUNTIME;
    }
    theory_point *bn = points, *vanilla = points + n;
    int status = 0;
    for (size_t i = 0; i < n && !status; i++)
        status = evaluate(spec, a, 1, gamma[i], &bn[i], &err) ||
                 evaluate(spec, a, 0, gamma[i], &vanilla[i], &err);
    if (!status) {
        print_table(a, spec, gamma, bn, vanilla, n);
        if (a->plot_path) status = plot_table(a, spec, gamma, bn, vanilla, n, &err);
    }
    free(points);
    if (status) fprintf(stderr, "bntrain theory: %s\n", err.msg);
    return status ? EXIT_RUNTIME : 0;
}

/* ---- --check ---------------------------------------------------------------------------- */

static void print_check_header(const theory_args *a, const bn_model_spec *spec, size_t m,
                               size_t n_calibration, const bn_check_result *r) {
    if (a->csv) {
        printf("gamma,layer,f_paper,f_refined,f_measured,f_measured_stderr,ratio_paper,"
               "ratio_refined,s2_refined,s2_measured,jensen\n");
        return;
    }
    printf("# check on %s: ", a->experiment.dataset);
    describe_network(stdout, spec);
    printf(", %s\n# sigma_w2 %g, sigma_b2 %g; %zu networks (seeds %llu..), %zu output "
           "components each\n",
           spec->batchnorm ? "BatchNorm" : "vanilla", a->experiment.sigma_w2,
           a->experiment.sigma_b2, a->seeds, (unsigned long long)a->experiment.seed,
           spec->n_classes);
    printf("# m = %zu training images (the first) in the plug-in sum; the next %zu give the "
           "BatchNorm statistics and the input order parameters\n",
           m, n_calibration);
    printf("# the data's input order parameters: q_hat^0 %.4f, q_hat^0_xy %.4f, q_hat^0_ab %.4f "
           "(the paper assumes 1, 0, 0)\n",
           r->input_q_hat, r->input_q_hat_xy, r->input_q_hat_ab);
    printf("# f_paper: the paper's theory; f_refined: population BatchNorm variance, the data's "
           "input order parameters, m samples\n# f_measured: mean over networks (stderr: its "
           "standard error); s2, jensen: BatchNorm variance and mean(s2) mean(1/s2)\n");
    printf("%6s %5s %12s %12s %12s %10s %8s %8s %8s %8s %7s\n", "gamma", "layer", "f_paper",
           "f_refined", "f_measured", "stderr", "m/paper", "m/refin", "s2_ref", "s2_meas",
           "jensen");
}

/* A number for a check row, or the placeholder of a value that does not apply ("-" in the
 * table, an empty CSV field). */
static void format_cell(char *out, size_t size, int csv, int width, int precision, double value,
                        int applies) {
    if (csv && applies)
        snprintf(out, size, "%.9g", value);
    else if (csv)
        out[0] = '\0';
    else if (applies)
        snprintf(out, size, "%*.*f", width, precision, value);
    else
        snprintf(out, size, "%*s", width, "-");
}

/* One row; layer 0 is the sum over layers. gamma is NaN for the vanilla network (it does not
 * depend on gamma); bn holds a hidden BN layer's s2 (refined, measured) and Jensen factor. */
static void print_check_row(int csv, double gamma, size_t layer, double paper, double refined,
                            double measured, double stderr_measured, const double *bn) {
    char name[16], gamma_text[32], ratio_paper[32], bn_text[3][32];
    snprintf(name, sizeof name, layer ? "%zu" : "sum", layer);
    format_cell(gamma_text, sizeof gamma_text, csv, 6, 3, gamma, !isnan(gamma));
    /* The paper's f_1 is exactly zero for mean-zero data: no ratio to print. */
    format_cell(ratio_paper, sizeof ratio_paper, csv, 8, 3, measured / paper, paper > 0.0);
    for (int i = 0; i < 3; i++)
        format_cell(bn_text[i], sizeof bn_text[i], csv, i < 2 ? 8 : 7, 4, bn ? bn[i] : 0.0,
                    bn != NULL);
    if (csv)
        printf("%s,%s,%.9g,%.9g,%.9g,%.6g,%s,%.6g,%s,%s,%s\n", gamma_text, name, paper, refined,
               measured, stderr_measured, ratio_paper, measured / refined, bn_text[0], bn_text[1],
               bn_text[2]);
    else
        printf("%s %5s %12.5g %12.5g %12.5g %10.3g %s %8.3f %s %s %s\n", gamma_text, name, paper,
               refined, measured, stderr_measured, ratio_paper, measured / refined, bn_text[0],
               bn_text[1], bn_text[2]);
}

static void print_check(const theory_args *a, int batchnorm, double gamma,
                        const bn_check_result *r) {
    double paper = 0.0, refined = 0.0, measured = 0.0;
    for (size_t l = 0; l < r->n_layers; l++) {
        double bn[3] = {r->bn_var_theory[l], r->bn_var_measured[l], r->bn_jensen[l]};
        int hidden_bn = batchnorm && l + 1 < r->n_layers;
        print_check_row(a->csv, gamma, l + 1, r->paper[l], r->refined[l], r->measured[l],
                        r->measured_stderr[l], hidden_bn ? bn : NULL);
        paper += r->paper[l];
        refined += r->refined[l];
        measured += r->measured[l];
    }
    print_check_row(a->csv, gamma, 0, paper, refined, measured, r->measured_sum_stderr, NULL);
}

static int run_check(const theory_args *a, const bn_model_spec *spec, const double *gamma,
                     size_t n) {
    bn_error err;
    bn_dataset ds;
    if (dataset_load(&ds, a->experiment.dataset, a->experiment.data_dir, &err)) {
        fprintf(stderr, "bntrain theory: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    size_t m = a->samples, dim = ds.channels * ds.height * ds.width;
    if (ds.train.n < m + 2) {
        size_t n_train = ds.train.n;
        dataset_free(&ds);
        return usage_error("theory",
                           "--samples %zu: %s has %zu training images, and the "
                           "BatchNorm statistics need 2 more",
                           m, a->experiment.dataset, n_train);
    }
    size_t n_calibration = ds.train.n - m < a->calibration ? ds.train.n - m : a->calibration;
    /* The check reads its images as one float array: a copy of just those, and the 8-bit set
     * freed before the check runs. */
    float *images = dataset_float_copy(&ds, &ds.train, 0, m + n_calibration, &err);
    dataset_free(&ds);
    if (!images) {
        fprintf(stderr, "bntrain theory: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    const float *samples = images, *calibration = images + m * dim;
    bn_check_config cfg = {.n_seeds = a->seeds, .seed = a->experiment.seed};
    /* The vanilla network does not depend on gamma: one row block. */
    size_t n_rows = spec->batchnorm ? n : 1;
    int status = 0;
    for (size_t i = 0; i < n_rows && !status; i++) {
        bn_check_result r;
        status = theory_check(spec, gamma[i], a->experiment.sigma_w2, a->experiment.sigma_b2,
                              calibration, n_calibration, samples, m, &cfg, &r, &err);
        if (status) break;
        if (i == 0) print_check_header(a, spec, m, n_calibration, &r);
        print_check(a, spec->batchnorm, spec->batchnorm ? gamma[i] : NAN, &r);
        fflush(stdout);
    }
    free(images);
    if (status) fprintf(stderr, "bntrain theory: %s\n", err.msg);
    return status ? EXIT_RUNTIME : 0;
}

int cmd_theory(int argc, char **argv) {
    theory_args a = {.variant = THEORY_PAPER, .samples = 1000, .calibration = 10000, .seeds = 3};
    experiment_defaults(&a.experiment);
    int status = options_parse(&theory_command, &a, argc, argv, NULL);
    if (status >= 0) return status;
    if (!a.experiment.dataset) return usage_error("theory", "--dataset is required");
    if (a.check && a.plot_path)
        return usage_error("theory", "--plot draws the theory table; it does not go with --check");

    bn_error err;
    bn_model_spec spec;
    if (experiment_model_spec(&a.experiment, &spec, &err))
        return usage_error("theory", "%s", err.msg);
    if (arch_is_deep(spec.arch))
        return usage_error("theory", "--arch %s: the mean-field theory covers fc and cnn only",
                           arch_name(spec.arch));
    double *gamma;
    size_t n;
    const char *gamma_text = a.gamma_text ? a.gamma_text
                             : a.check    ? DEFAULT_CHECK_GAMMA
                                          : DEFAULT_GAMMA;
    if (parse_range("gamma", gamma_text, &gamma, &n, &err))
        return usage_error("theory", "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        if (!(gamma[i] > 0.0)) {
            free(gamma);
            return usage_error("theory", "--gamma: values must be positive");
        }
    status = a.check ? run_check(&a, &spec, gamma, n) : run_table(&a, &spec, gamma, n);
    free(gamma);
    return status;
}
