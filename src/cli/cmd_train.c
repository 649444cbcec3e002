/* bntrain train: one network, per-epoch train loss, test loss, test accuracy and seconds. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "bntrain/data.h"
#include "cli/options.h"
#include "base/runtime.h"
#include "bntrain/train.h"

enum { OPT_JSON = OPT_FIRST_COMMAND_SPECIFIC, OPT_THREADS, OPT_HELP };

static const struct option train_only[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void print_help(void) {
    printf("usage: bntrain train --dataset NAME [options]\n\n"
           "Trains one network and prints, per epoch, the mean training loss, the test loss\n"
           "(eval mode, whole test set), the test accuracy and the seconds it took. A run whose\n"
           "loss or parameters become non-finite stops and reports when it exploded (exit 0).\n\n"
           "options:\n%s%s"
           "  --gamma G          BatchNorm scale at init (default 1)\n"
           "  --lr ETA           learning rate (default 0.01)\n"
           "  --threads N        cores for this run (default: all; same results with any)\n"
           "  --json             one JSON object per epoch on stdout\n",
           options_model_help, options_training_help);
}

typedef struct {
    int json;
    size_t threads; /* 0: all cores */
} train_output;

static int print_epoch(const bn_epoch_stats *s, void *ctx) {
    const train_output *out = ctx;
    if (out->json)
        printf("{\"epoch\": %zu, \"train_loss\": %.9g, \"test_loss\": %.9g, "
               "\"test_acc\": %.6f, \"seconds\": %.3f}\n",
               s->epoch, s->train_loss, s->test_loss, s->test_acc, s->seconds);
    else
        printf("%5zu  %12.6f  %12.6f  %8.4f  %8.2f\n", s->epoch, s->train_loss, s->test_loss,
               s->test_acc, s->seconds);
    fflush(stdout);
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

static int parse_args(int argc, char **argv, bn_options *opts, train_output *out) {
    struct option all[64], model_and_training[48];
    options_merge(model_and_training, 48, options_model, options_training, NULL);
    options_merge(all, 64, model_and_training, options_point, train_only);
    bn_error err;
    int code;
    optind = 1;
    opterr = 0;
    while ((code = getopt_long(argc, argv, "", all, NULL)) != -1) {
        if (code == OPT_HELP) {
            print_help();
            return 0;
        }
        if (code == '?' || code == ':')
            return usage_error("train", "unknown option or missing value: '%s'",
                               argv[optind - 1]);
        if (code == OPT_JSON) {
            out->json = 1;
            continue;
        }
        if (code == OPT_THREADS) {
            if (parse_size("threads", optarg, &out->threads, &err) || out->threads == 0)
                return usage_error("train", "--threads must be a positive whole number, not '%s'",
                                   optarg);
            continue;
        }
        if (options_apply(opts, code, optarg, &err) < 0) return usage_error("train", "%s", err.msg);
    }
    if (optind < argc) return usage_error("train", "unexpected argument '%s'", argv[optind]);
    if (!opts->dataset) return usage_error("train", "--dataset is required");
    return -1;
}

int cmd_train(int argc, char **argv) {
    bn_options opts;
    options_defaults(&opts);
    train_output out = {0};
    int status = parse_args(argc, argv, &opts, &out);
    if (status >= 0) return status;

    bn_error err;
    bn_model_spec spec;
    if (options_model_spec(&opts, &spec, &err)) return usage_error("train", "%s", err.msg);
    /* The run's matrix products use every core: bntrain's own GEMM gives the same bits with
     * any number of threads (gemm.h). */
    bn_core_share cores = {.cores = out.threads ? out.threads : runtime_cores()};
    if (opts.verbose) runtime_describe(stderr, cores.cores);

    bn_dataset ds;
    if (dataset_load(&ds, opts.dataset, opts.data_dir, &err)) {
        fprintf(stderr, "bntrain train: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    dataset_truncate_train(&ds, opts.train_subset);
    if (opts.batch > ds.train.n) {
        fprintf(stderr, "bntrain train: --batch %zu is larger than the %zu training images\n",
                opts.batch, ds.train.n);
        dataset_free(&ds);
        return EXIT_USAGE;
    }
    bn_trainer trainer;
    if (trainer_create(&trainer, &spec, opts.batch, ds.train.n, &err)) {
        fprintf(stderr, "bntrain train: %s\n", err.msg);
        dataset_free(&ds);
        return EXIT_RUNTIME;
    }
    bn_train_config cfg = {.loss = opts.loss,
                           .gamma = opts.gamma,
                           .lr = opts.lr,
                           .momentum = opts.momentum,
                           .weight_decay = opts.weight_decay,
                           .sigma_w2 = opts.sigma_w2,
                           .sigma_b2 = opts.sigma_b2,
                           .batch = opts.batch,
                           .epochs = opts.epochs,
                           .seed = opts.seed,
                           .cores = &cores};
    if (!out.json) printf("epoch    train_loss     test_loss  test_acc   seconds\n");
    bn_run_result result;
    /* One thread trains; the team's others take its kernels' tasks (parallel.h). */
#pragma omp parallel num_threads((int)cores.cores)
#pragma omp single
    trainer_run(&trainer, &ds, &cfg, print_epoch, &out, NULL, &result);
    if (result.exploded) print_explosion(&result, out.json);
    trainer_free(&trainer);
    dataset_free(&ds);
    return 0;
}
