/* bntrain probe: what happens inside a network across depth (issue 22), at initialisation or
 * after some training steps, on real images: per layer the pre-activations' channel moments,
 * the weight gradient's norm, the output gradient's input-independence and the Kronecker
 * factors of the Fisher block (bntrain/probe.h), into DIR/probe.csv and a table on stdout. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "base/runtime.h"
#include "base/text.h"
#include "bntrain/experiment.h"
#include "bntrain/fisher.h"
#include "bntrain/probe.h"
#include "bntrain/theory.h"
#include "bntrain/train.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "engine/parallel.h"

typedef struct {
    bn_experiment experiment;
    int verbose;
    size_t threads; /* 0: all cores */
    size_t steps, samples, eig_max_dim;
    const char *out_dir;
    int lambda;                    /* --lambda: also the Fisher's lambda_max */
    fisher_bn_mode lambda_bn_mode; /* --lambda-bn-mode */
} probe_args;

/* In fisher_bn_mode's order (OPTION_CHOICE writes the index). */
static const char *const lambda_bn_modes[] = {"population", "running", "batch", NULL};

/* A whole number >= 0 (size_t): --steps 0 probes the initial network. */
static int set_steps(void *field, const char *name, const char *arg, bn_error *err) {
    bn_error ignored;
    if (parse_size(name, arg, field, &ignored))
        return bn_fail(err, "--%s: '%s' is not a whole number >= 0", name, arg);
    return 0;
}

static const cli_option probe_options[] = {
    OPTION_TITLE("probe options:"),
    OPTION_VALUE("out", "DIR", option_set_text, offsetof(probe_args, out_dir),
                 "the folder of probe.csv, eigenvalues.csv and config.json (required)"),
    OPTION_VALUE("samples", "M", option_set_count, offsetof(probe_args, samples),
                 "probe on the first M training images, one batch (default 256)"),
    OPTION_VALUE("steps", "K", set_steps, offsetof(probe_args, steps),
                 "train K SGD steps first, on the first K x batch training images\n"
                 "(default 0: the network at initialisation)"),
    OPTION_VALUE("eig-max-dim", "D", option_set_count, offsetof(probe_args, eig_max_dim),
                 "skip Kronecker factors of dimension above D (default 2048)"),
    OPTION_FLAG("lambda", option_set_flag, offsetof(probe_args, lambda),
                "also measure lambda_max of the Fisher of the Gaussian (mse) model over\n"
                "all weights and biases on the M samples (Lanczos, relative tolerance 1e-3),\n"
                "with 2(1 + momentum)/lambda_max and the theory's bound where it has one"),
    OPTION_CHOICE("lambda-bn-mode", "MODE", lambda_bn_modes, offsetof(probe_args, lambda_bn_mode),
                  "BatchNorm statistics of --lambda's Jacobian: population (the M samples'\n"
                  "statistics held fixed, the theory's; default), running or batch"),
    OPTION_TITLE("network and training options:"),
    OPTION_INCLUDE(options_model, offsetof(probe_args, experiment)),
    OPTION_INCLUDE(options_training, offsetof(probe_args, experiment)),
    OPTION_INCLUDE(options_point, offsetof(probe_args, experiment)),
    OPTION_INCLUDE(options_verbose, offsetof(probe_args, verbose)),
    OPTION_INCLUDE(options_threads, offsetof(probe_args, threads)),
    OPTION_END,
};

const cli_command probe_command = {
    .name = "probe",
    .about = "usage: bntrain probe --dataset NAME --out DIR [options]\n\n"
             "One train-mode forward and backward pass over M training images, and per weight\n"
             "layer (numbered from 1 at the input): the mean and spread over channels of |channel\n"
             "mean| and channel variance of the pre-activations (channel_mean_abs, channel_var),\n"
             "the Frobenius norm of dL/dW (grad_norm) and its ratio to |W| (grad_to_weight), the\n"
             "Kronecker factors of the Fisher block (input_cov_*, outgrad_cov_*: dimension,\n"
             "lambda_max, lambda_min over the non-zero spectrum, condition number, rank;\n"
             "fisher_block_*: their products), and at the output layer, per class j,\n"
             "|mean_b dL_b/dz_j| with its std over the batch (dlogit_class_j). Rows at layer\n"
             "`all`: loss, grad_norm, dlogit_mean_to_std.\n"
             "Writes DIR/probe.csv (layer,quantity,value,spread), DIR/eigenvalues.csv and\n"
             "DIR/config.json atomically, and prints a table. `bntrain plot DIR [DIR2]` draws it.\n"
             "--epochs is not used (--steps says how long to train).\n\n",
    .options = probe_options,
    .target_bytes = sizeof(probe_args),
};

static int write_config(const probe_args *a, const bn_model_spec *spec, bn_error *err) {
    const bn_experiment *e = &a->experiment;
    char label[32], json[4096], path[4200];
    arch_label(spec, label, sizeof label);
    double hidden[BN_MAX_HIDDEN];
    for (size_t i = 0; i < spec->n_hidden; i++)
        hidden[i] = (double)spec->hidden[i];
    size_t used = 0;
    int bad = text_append(json, sizeof json, &used,
                          "{\n  \"version\": \"%s\",\n  \"kind\": \"probe\",\n"
                          "  \"dataset\": \"%s\",\n  \"arch\": \"%s\",\n  \"width_mult\": %.12g,\n"
                          "  \"init\": \"%s\",\n  \"batchnorm\": %s,\n",
                          BNTRAIN_VERSION, e->dataset, label, spec->width_mult,
                          spec->init == INIT_PYTORCH ? "pytorch" : "gaussian",
                          spec->batchnorm ? "true" : "false");
    bad |= text_append_json_list(json, sizeof json, &used, "hidden", hidden, spec->n_hidden);
    bad |= text_append(json, sizeof json, &used,
                       "  \"gamma\": %.12g,\n  \"sigma_w2\": %.12g,\n  \"sigma_b2\": %.12g,\n"
                       "  \"loss\": \"%s\",\n  \"batch\": %zu,\n  \"lr\": %.12g,\n"
                       "  \"momentum\": %.12g,\n  \"weight_decay\": %.12g,\n  \"steps\": %zu,\n"
                       "  \"samples\": %zu,\n  \"seed\": %llu,\n  \"eig_max_dim\": %zu,\n"
                       "  \"lambda\": %s,\n  \"lambda_bn_mode\": \"%s\"\n}\n",
                       e->gamma, e->sigma_w2, e->sigma_b2, e->loss == LOSS_CE ? "ce" : "mse",
                       e->batch, e->lr, e->momentum, e->weight_decay, a->steps, a->samples,
                       (unsigned long long)e->seed, a->eig_max_dim, a->lambda ? "true" : "false",
                       fisher_bn_mode_name(a->lambda_bn_mode));
    if (bad) return bn_fail(err, "%s/config.json: too long", a->out_dir);
    snprintf(path, sizeof path, "%s/config.json", a->out_dir);
    return write_file_atomic(path, json, used, err);
}

/* The network to probe: initialised from the seed, then --steps SGD steps (one epoch over the
 * first steps x batch training images, without a test pass's effect on it). Its parameters and
 * BN running statistics are copied into probe_model. */
static int prepare_network(const probe_args *a, const bn_model_spec *spec, const bn_dataset *ds,
                           bn_model *probe_model) {
    bn_error err;
    bn_trainer trainer;
    if (trainer_create(&trainer, spec, a->experiment.batch, ds->train.n, &err)) {
        fprintf(stderr, "bntrain probe: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    bn_core_share cores = {.cores = a->threads};
    bn_train_config cfg = experiment_train_config(&a->experiment, &cores);
    cfg.epochs = 1;
    trainer_start(&trainer, &cfg);
    int status = 0;
    if (a->steps > 0) {
        bn_dataset view = *ds;
        view.train.n = a->steps * a->experiment.batch;
        bn_run_result result;
#pragma omp parallel num_threads((int)cores.cores)
#pragma omp single
        trainer_continue(&trainer, &view, &cfg, NULL, NULL, NULL, &result);
        if (result.exploded) {
            fprintf(stderr, "bntrain probe: the network exploded at step %zu of --steps %zu\n",
                    result.exploded_step, a->steps);
            status = EXIT_RUNTIME;
        }
    }
    bn_model *trained = &trainer.model;
    memcpy(probe_model->params, trained->params, trained->n_params * sizeof(float));
    if (trained->n_buffers)
        memcpy(probe_model->buffers, trained->buffers, trained->n_buffers * sizeof(float));
    trainer_free(&trainer);
    return status;
}

/* Usage errors that need the dataset: sizes against its training images. */
static int check_sizes(const probe_args *a, const bn_dataset *ds) {
    size_t n_train = ds->train.n;
    if (a->samples > n_train)
        return usage_error("probe", "--samples %zu is larger than the %zu training images",
                           a->samples, n_train);
    size_t needed;
    if (bn_mul_size(a->steps, a->experiment.batch, &needed) || needed > n_train)
        return usage_error("probe",
                           "--steps %zu x --batch %zu is more than the %zu training images",
                           a->steps, a->experiment.batch, n_train);
    return 0;
}

static int write_results(const probe_args *a, const bn_model_spec *spec,
                         const bn_probe_report *report) {
    bn_error err;
    char path[4200];
    snprintf(path, sizeof path, "%s/probe.csv", a->out_dir);
    int bad = probe_write_csv(path, report, &err);
    if (!bad) {
        snprintf(path, sizeof path, "%s/eigenvalues.csv", a->out_dir);
        bad = probe_write_eigenvalues(path, report, &err);
    }
    if (!bad) bad = write_config(a, spec, &err);
    if (bad) {
        fprintf(stderr, "bntrain probe: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    return 0;
}

/* Factors above --eig-max-dim, said on stderr (probe.csv has their *_dim rows only). */
static void note_skipped(const bn_probe_report *r, size_t max_dim) {
    for (size_t k = 0; k < r->n_layers; k++) {
        const bn_probe_layer *l = &r->layers[k];
        if (!l->x_eigenvalues)
            fprintf(stderr,
                    "bntrain probe: layer %zu: input covariance of dimension %zu "
                    "skipped (--eig-max-dim %zu)\n",
                    k + 1, l->x_dim, max_dim);
        if (!l->g_eigenvalues)
            fprintf(stderr,
                    "bntrain probe: layer %zu: output-gradient covariance of dimension "
                    "%zu skipped (--eig-max-dim %zu)\n",
                    k + 1, l->g_dim, max_dim);
    }
}

/* The Fisher's lambda_max on the probe's samples, measured before probe_run (which overwrites
 * the running statistics that --lambda-bn-mode running reads). */
static int measure_lambda(const probe_args *a, const bn_model *model, const float *images,
                          fisher_result *fr) {
    fisher_options options;
    fisher_options_default(&options);
    options.bn_mode = a->lambda_bn_mode;
    options.seed = a->experiment.seed;
    bn_error err;
    if (fisher_measure(model, images, a->samples, &options, fr, &err)) {
        fprintf(stderr, "bntrain probe: --lambda: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    if (!fr->converged)
        fprintf(stderr,
                "bntrain probe: note: lambda_max did not reach the tolerance in %zu Lanczos "
                "steps (residual %.3g)\n",
                fr->iterations, fr->residual);
    return 0;
}

/* Rows all,lambda_* of probe.csv: the measured lambda_max, eta_bar = 2(1 + mu)/lambda_max, and
 * the mean-field bound of Claim 3.1 beside them where the theory covers the network (the
 * paper's fc and cnn nets). */
static int add_lambda_rows(const probe_args *a, const bn_model_spec *spec, const fisher_result *fr,
                           bn_probe_report *report) {
    bn_error err;
    double mu = a->experiment.momentum, none = (double)NAN;
    int bad = probe_report_add(report, BN_PROBE_ALL, "lambda_max", fr->lambda_max, none, &err);
    bad |= probe_report_add(report, BN_PROBE_ALL, "lambda_iterations", (double)fr->iterations, none,
                            &err);
    bad |= probe_report_add(report, BN_PROBE_ALL, "lambda_residual", fr->residual, none, &err);
    bad |= probe_report_add(report, BN_PROBE_ALL, "eta_bar_measured", 2 * (1 + mu) / fr->lambda_max,
                            none, &err);
    bn_theory_result bound;
    bn_error theory_err;
    if (theory_evaluate(spec, a->experiment.gamma, a->experiment.sigma_w2, a->experiment.sigma_b2,
                        mu, &bound, &theory_err) == 0) {
        bad |= probe_report_add(report, BN_PROBE_ALL, "lambda_bound", bound.lambda_max, none, &err);
        bad |= probe_report_add(report, BN_PROBE_ALL, "eta_bar_bound", bound.eta_bar, none, &err);
    } else {
        fprintf(stderr, "bntrain probe: note: no theory bound for this network (%s)\n",
                theory_err.msg);
    }
    if (bad) {
        fprintf(stderr, "bntrain probe: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    return 0;
}

/* One line under the table: the measured lambda_max and eta_bar beside the bound's. */
static void print_lambda(const bn_probe_report *r) {
    const bn_probe_row *l = probe_report_find(r, BN_PROBE_ALL, "lambda_max");
    const bn_probe_row *e = probe_report_find(r, BN_PROBE_ALL, "eta_bar_measured");
    const bn_probe_row *it = probe_report_find(r, BN_PROBE_ALL, "lambda_iterations");
    if (!l || !e || !it) return;
    printf("lambda_max %.6g (Lanczos, %.0f steps), eta_bar = 2(1+mu)/lambda_max %.5g", l->value,
           it->value, e->value);
    const bn_probe_row *lb = probe_report_find(r, BN_PROBE_ALL, "lambda_bound");
    const bn_probe_row *eb = probe_report_find(r, BN_PROBE_ALL, "eta_bar_bound");
    if (lb && eb)
        printf("; theory: lambda_max >= %.6g, eta_bar <= %.5g (measured/bound %.3g)", lb->value,
               eb->value, l->value / lb->value);
    printf("\n");
}

static int probe_and_report(const probe_args *a, const bn_model_spec *spec, const bn_dataset *ds) {
    bn_error err;
    bn_model model;
    if (model_create(&model, spec, a->samples, &err)) {
        fprintf(stderr, "bntrain probe: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    int status = prepare_network(a, spec, ds, &model);
    bn_probe_report report = {0};
    bn_probe_config cfg = {.eig_max_dim = a->eig_max_dim, .threads = a->threads};
    parallel_set_threads(a->threads);
    fisher_result lambda;
    /* The probe's samples as one float array, which the probe and the Fisher read. */
    float *images = status ? NULL : dataset_float_copy(ds, &ds->train, 0, a->samples, &err);
    if (!status && !images) {
        fprintf(stderr, "bntrain probe: %s\n", err.msg);
        status = EXIT_RUNTIME;
    }
    if (!status && a->lambda) status = measure_lambda(a, &model, images, &lambda);
    if (!status && probe_run(&model, images, ds->train.labels, a->samples, a->experiment.loss,
                             &cfg, &report, &err)) {
        fprintf(stderr, "bntrain probe: %s\n", err.msg);
        status = EXIT_RUNTIME;
    }
    free(images);
    if (!status && a->lambda) status = add_lambda_rows(a, spec, &lambda, &report);
    if (!status) status = write_results(a, spec, &report);
    if (!status) {
        note_skipped(&report, a->eig_max_dim);
        char label[32];
        arch_label(spec, label, sizeof label);
        printf("# %s%s, %zu samples, %zu steps: %s/probe.csv\n", label,
               spec->batchnorm ? "" : " (no BN)", a->samples, a->steps, a->out_dir);
        probe_print_table(stdout, &report);
        print_lambda(&report);
    }
    probe_report_free(&report);
    model_free(&model);
    return status;
}

/* What the probe holds beside the trainer of --steps: its network with arenas for --samples
 * and, with --lambda, the Fisher's workspace for as many. 0, or the exit status. */
static int measurement_bytes(const probe_args *a, const bn_model_spec *spec, size_t *bytes) {
    bn_error err;
    size_t fisher_bytes = 0;
    fisher_options options;
    fisher_options_default(&options);
    options.bn_mode = a->lambda_bn_mode;
    if (model_plan_bytes(spec, a->samples, bytes, &err) ||
        (a->lambda && fisher_plan_bytes(spec, a->samples, &options, &fisher_bytes, &err))) {
        fprintf(stderr, "bntrain probe: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    *bytes += fisher_bytes;
    return 0;
}

int cmd_probe(int argc, char **argv) {
    probe_args a = {.samples = 256, .eig_max_dim = BN_PROBE_EIG_MAX_DIM};
    experiment_defaults(&a.experiment);
    int status = options_parse(&probe_command, &a, argc, argv, NULL);
    if (status >= 0) return status;
    if (!a.experiment.dataset) return usage_error("probe", "--dataset is required");
    if (!a.out_dir || !*a.out_dir) return usage_error("probe", "--out DIR is required");

    bn_error err;
    bn_model_spec spec;
    if (experiment_model_spec(&a.experiment, &spec, &err))
        return usage_error("probe", "%s", err.msg);
    size_t measure_bytes, image_bytes;
    status = cli_check_samples("probe", &a.experiment, "--samples", a.samples, &image_bytes);
    if (!status) status = measurement_bytes(&a, &spec, &measure_bytes);
    if (status) return status;
    measure_bytes += image_bytes;
    status = cli_check_run_resources("probe", &a.experiment, &spec, measure_bytes, "--samples",
                                     &a.threads);
    if (status) return status;
    if (a.verbose) runtime_describe(stderr, a.threads);

    bn_dataset ds;
    status = cli_load_dataset("probe", &a.experiment, &ds);
    if (status) return status;
    status = check_sizes(&a, &ds);
    if (status) {
        dataset_free(&ds);
        return status;
    }
    if (mkdir(a.out_dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "bntrain probe: --out %s: cannot create: %s\n", a.out_dir, strerror(errno));
        dataset_free(&ds);
        return EXIT_RUNTIME;
    }
    status = probe_and_report(&a, &spec, &ds);
    dataset_free(&ds);
    return status;
}
