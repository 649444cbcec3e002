/* bntrain train: one network, per-epoch train loss, test loss, test accuracy, learning rate
 * and seconds; with --track-lambda, the Fisher's lambda_max every N steps (fisher.h). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/cpu.h"
#include "base/runtime.h"
#include "bntrain/data.h"
#include "bntrain/experiment.h"
#include "bntrain/fisher.h"
#include "bntrain/train.h"
#include "cli/cli.h"
#include "cli/options.h"

typedef struct {
    bn_experiment experiment;
    int verbose, json;
    size_t threads; /* 0: all cores */
    /* What every --json line says of the training: its augmentation and schedule. */
    char json_tail[BN_LR_SCHEDULE_TEXT + 60];
    size_t track_lambda;   /* 0: off; else measure lambda_max every track_lambda steps */
    size_t lambda_samples; /* 0: the default, LAMBDA_SAMPLES capped by the training set */
} train_args;

/* --lambda-samples' default: the m of the theory's check and of issue 22. */
#define LAMBDA_SAMPLES 1000

/* The Fisher workspace of --track-lambda, made once before training, and the latest
 * measurement, which the epoch records repeat. */
typedef struct {
    const train_args *args;
    fisher_workspace fisher;
    float *images; /* the first `samples` training images, normalised (owned) */
    size_t samples;
    double momentum, lambda_max, eta_bar;
    int measured, failed;
    bn_error err;
} lambda_tracker;

static const cli_option train_options[] = {
    OPTION_TITLE("options:"),
    OPTION_INCLUDE(options_model, offsetof(train_args, experiment)),
    OPTION_INCLUDE(options_verbose, offsetof(train_args, verbose)),
    OPTION_INCLUDE(options_training, offsetof(train_args, experiment)),
    OPTION_INCLUDE(options_point, offsetof(train_args, experiment)),
    OPTION_INCLUDE(options_threads, offsetof(train_args, threads)),
    OPTION_FLAG("json", option_set_flag, offsetof(train_args, json),
                "one JSON object per epoch on stdout"),
    OPTION_VALUE("track-lambda", "N", option_set_count, offsetof(train_args, track_lambda),
                 "every N steps, the largest eigenvalue of the Fisher (mse) and\n"
                 "eta_bar_measured = 2(1 + momentum) / lambda_max, beside the loss"),
    OPTION_VALUE("lambda-samples", "M", option_set_count, offsetof(train_args, lambda_samples),
                 "--track-lambda on the first M training images (default 1000, or\n"
                 "the training set if smaller)"),
    OPTION_END,
};

const cli_command train_command = {
    .name = "train",
    .about =
        "usage: bntrain train --dataset NAME [options]\n\n"
        "Trains one network and prints, per epoch, the mean training loss, the test loss\n"
        "(eval mode, whole test set), the test accuracy, the learning rate and the seconds\n"
        "it took. A run whose loss or parameters become non-finite stops and reports when\n"
        "it exploded (exit 0).\n"
        "--threads above 4x the cores is capped with a note; a run that does not fit in\n"
        "memory (free memory, ulimit -v, cgroup limit) is refused before it starts (exit 1).\n"
        "--track-lambda N: after every N-th step, lambda_max of the Fisher F = (1/M) sum J^T J\n"
        "of the mse model on the first M training images (BatchNorm in population mode on\n"
        "them; Lanczos to 1e-3, docs/theory.md), in a record of its own (step, loss,\n"
        "lambda_max, eta_bar_measured) and repeated in the epoch records.\n\n",
    .options = train_options,
    .target_bytes = sizeof(train_args),
};

/* The latest lambda_max and eta_bar as the epoch records' last fields ("" if not tracked;
 * null / nan before the first measurement). */
static void format_lambda(char *text, size_t size, const lambda_tracker *t, int json) {
    text[0] = '\0';
    if (!t) return;
    if (json && !t->measured)
        snprintf(text, size, ", \"lambda_max\": null, \"eta_bar_measured\": null");
    else if (json)
        snprintf(text, size, ", \"lambda_max\": %.9g, \"eta_bar_measured\": %.9g", t->lambda_max,
                 t->eta_bar);
    else
        snprintf(text, size, "  %12.6g  %12.6g", t->measured ? t->lambda_max : NAN,
                 t->measured ? t->eta_bar : NAN);
}

static int print_epoch(const bn_epoch_stats *s, void *ctx) {
    const lambda_tracker *t = ctx;
    const train_args *out = t->args;
    char lambda[96];
    format_lambda(lambda, sizeof lambda, out->track_lambda ? t : NULL, out->json);
    if (out->json)
        printf("{\"epoch\": %zu, \"train_loss\": %.9g, \"test_loss\": %.9g, "
               "\"test_acc\": %.6f, \"lr\": %.9g, %s\"seconds\": %.3f%s}\n",
               s->epoch, s->train_loss, s->test_loss, s->test_acc, s->lr, out->json_tail,
               s->seconds, lambda);
    else
        printf("%5zu  %12.6f  %12.6f  %8.4f  %10.4g  %8.2f%s\n", s->epoch, s->train_loss,
               s->test_loss, s->test_acc, s->lr, s->seconds, lambda);
    fflush(stdout);
    return 0;
}

/* --track-lambda's measurement after a step, and its record. */
static int track_lambda(const bn_step_stats *s, const bn_model *model, void *ctx) {
    lambda_tracker *t = ctx;
    fisher_result r;
    if (fisher_measure_in(&t->fisher, model, t->images, t->samples, &r, &t->err)) {
        t->failed = 1;
        return 1;
    }
    t->measured = 1;
    t->lambda_max = r.lambda_max;
    t->eta_bar = 2.0 * (1.0 + t->momentum) / r.lambda_max;
    if (t->args->json)
        printf("{\"step\": %zu, \"epoch\": %zu, \"train_loss\": %.9g, \"lambda_max\": %.9g, "
               "\"eta_bar_measured\": %.9g, \"lanczos_iterations\": %zu, "
               "\"lanczos_residual\": %.6g, \"lambda_seconds\": %.3f}\n",
               s->step, s->epoch, s->loss, t->lambda_max, t->eta_bar, r.iterations, r.residual,
               r.seconds);
    else
        printf("# step %zu (epoch %zu): train_loss %.6f  lambda_max %.6g  eta_bar_measured "
               "%.6g  (%zu Lanczos steps, residual %.3g, %.2f s)\n",
               s->step, s->epoch, s->loss, t->lambda_max, t->eta_bar, r.iterations, r.residual,
               r.seconds);
    fflush(stdout);
    return 0;
}

static void lambda_tracker_free(lambda_tracker *t) {
    fisher_free(&t->fisher);
    free(t->images);
    t->images = NULL;
}

/* Checks --track-lambda's options against the data and makes the Fisher workspace; 0, or the
 * exit status. */
static int lambda_tracker_setup(lambda_tracker *t, const train_args *a, const bn_model_spec *spec,
                                const bn_dataset *ds) {
    if (a->experiment.loss != LOSS_MSE)
        return usage_error("train", "--track-lambda measures the Fisher of the mse model; "
                                    "it needs --loss mse");
    if (a->lambda_samples > ds->train.n)
        return usage_error("train", "--lambda-samples %zu is more than the %zu training images",
                           a->lambda_samples, ds->train.n);
    t->samples = a->lambda_samples ? a->lambda_samples
                                   : (ds->train.n < LAMBDA_SAMPLES ? ds->train.n : LAMBDA_SAMPLES);
    t->momentum = a->experiment.momentum;
    t->images = dataset_float_copy(ds, &ds->train, 0, t->samples, &t->err);
    if (!t->images || fisher_create(&t->fisher, spec, t->samples, NULL, &t->err)) {
        fprintf(stderr, "bntrain train: --track-lambda: %s\n", t->err.msg);
        lambda_tracker_free(t);
        return EXIT_RUNTIME;
    }
    return 0;
}

static void print_explosion(const bn_run_result *r, int json) {
    if (json)
        printf("{\"exploded\": true, \"epoch\": %zu, \"step\": %zu}\n", r->exploded_epoch,
               r->exploded_step);
    else
        printf("exploded at epoch %zu, step %zu: loss or parameters became non-finite\n",
               r->exploded_epoch, r->exploded_step);
}

/* The network trained, first: its name, width and parameter count (PyTorch's count); in JSON
 * also the instruction-set level its kernels ran at (the same bits at any: a fact of the run,
 * like the seconds). */
static void print_network(const bn_model *m, int json) {
    char label[32];
    arch_label(&m->spec, label, sizeof label);
    if (json)
        printf("{\"arch\": \"%s\", \"width_mult\": %g, \"parameters\": %zu, "
               "\"isa\": \"%s\"}\n",
               label, m->spec.width_mult, model_parameter_count(m), cpu_isa_name());
    else
        printf("# %s (width x%g): %zu parameters\n", label, m->spec.width_mult,
               model_parameter_count(m));
}

int cmd_train(int argc, char **argv) {
    train_args a = {.json = 0};
    experiment_defaults(&a.experiment);
    int status = options_parse(&train_command, &a, argc, argv, NULL);
    if (status >= 0) return status;
    if (!a.experiment.dataset) return usage_error("train", "--dataset is required");

    bn_error err;
    bn_model_spec spec;
    if (experiment_model_spec(&a.experiment, &spec, &err))
        return usage_error("train", "%s", err.msg);
    /* The run's matrix products use every core: bntrain's own GEMM gives the same bits with
     * any number of threads (gemm.h). */
    /* --track-lambda's workspace and its samples' floats, for its largest sample count (by
     * default at most LAMBDA_SAMPLES, fewer on a smaller training set) */
    size_t fisher_bytes = 0;
    if (a.track_lambda) {
        size_t samples = a.lambda_samples ? a.lambda_samples : LAMBDA_SAMPLES;
        size_t image_bytes = cli_sample_bytes(&a.experiment, samples);
        if (a.lambda_samples) { /* the default is capped by the training set later */
            status = cli_check_samples("train", &a.experiment, "--lambda-samples", samples,
                                       &image_bytes);
            if (status) return status;
        }
        if (fisher_plan_bytes(&spec, samples, NULL, &fisher_bytes, &err))
            return usage_error("train", "%s", err.msg);
        fisher_bytes += image_bytes;
    }
    status = cli_check_run_resources("train", &a.experiment, &spec, fisher_bytes, "--lambda-samples",
                                     &a.threads);
    if (status) return status;
    bn_core_share cores = {.cores = a.threads};
    if (a.verbose) runtime_describe(stderr, cores.cores);

    if (a.lambda_samples && !a.track_lambda)
        return usage_error("train", "--lambda-samples needs --track-lambda");
    bn_dataset ds;
    status = cli_load_dataset("train", &a.experiment, &ds);
    if (status) return status;
    lambda_tracker tracker = {.args = &a};
    if (a.track_lambda && (status = lambda_tracker_setup(&tracker, &a, &spec, &ds))) {
        dataset_free(&ds);
        return status;
    }
    bn_trainer trainer;
    if (trainer_create(&trainer, &spec, a.experiment.batch, ds.train.n, &err)) {
        fprintf(stderr, "bntrain train: %s\n", err.msg);
        lambda_tracker_free(&tracker);
        dataset_free(&ds);
        return EXIT_RUNTIME;
    }
    if (a.verbose) cli_describe_memory("train", &ds, &trainer, 1);
    bn_train_config cfg = experiment_train_config(&a.experiment, &cores);
    if (a.track_lambda) {
        cfg.on_step = track_lambda;
        cfg.step_every = a.track_lambda;
        cfg.step_ctx = &tracker;
    }
    char schedule[BN_LR_SCHEDULE_TEXT];
    lr_schedule_format(&cfg.lr_schedule, schedule, sizeof schedule);
    snprintf(a.json_tail, sizeof a.json_tail, "\"augment\": %s, \"lr_schedule\": \"%s\", ",
             cfg.augment ? "true" : "false", schedule);
    print_network(&trainer.model, a.json);
    if (!a.json)
        printf("epoch    train_loss     test_loss  test_acc          lr   seconds%s\n",
               a.track_lambda ? "    lambda_max  eta_bar_measured" : "");
    bn_run_result result;
    /* One thread trains; the team's others take its kernels' tasks (parallel.h). */
#pragma omp parallel num_threads((int)cores.cores)
#pragma omp single
    trainer_run(&trainer, &ds, &cfg, print_epoch, &tracker, NULL, &result);
    if (result.exploded) print_explosion(&result, a.json);
    trainer_free(&trainer);
    lambda_tracker_free(&tracker);
    dataset_free(&ds);
    if (tracker.failed) {
        fprintf(stderr, "bntrain train: --track-lambda: %s\n", tracker.err.msg);
        return EXIT_RUNTIME;
    }
    return 0;
}
