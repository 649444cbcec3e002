/* bntrain train: one network, per-epoch train loss, test loss, test accuracy, learning rate
 * and seconds. */
#include <stddef.h>
#include <stdio.h>

#include "base/runtime.h"
#include "bntrain/data.h"
#include "bntrain/experiment.h"
#include "bntrain/train.h"
#include "cli/cli.h"
#include "cli/options.h"

typedef struct {
    bn_experiment experiment;
    int verbose, json;
    size_t threads; /* 0: all cores */
    /* What every --json line says of the training: its augmentation and schedule. */
    char json_tail[BN_LR_SCHEDULE_TEXT + 60];
} train_args;

static const cli_option train_options[] = {
    OPTION_TITLE("options:"),
    OPTION_INCLUDE(options_model, offsetof(train_args, experiment)),
    OPTION_INCLUDE(options_verbose, offsetof(train_args, verbose)),
    OPTION_INCLUDE(options_training, offsetof(train_args, experiment)),
    OPTION_INCLUDE(options_point, offsetof(train_args, experiment)),
    OPTION_INCLUDE(options_threads, offsetof(train_args, threads)),
    OPTION_FLAG("json", option_set_flag, offsetof(train_args, json),
                "one JSON object per epoch on stdout"),
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
        "memory (free memory, ulimit -v, cgroup limit) is refused before it starts (exit 1).\n\n",
    .options = train_options,
    .target_bytes = sizeof(train_args),
};

static int print_epoch(const bn_epoch_stats *s, void *ctx) {
    const train_args *out = ctx;
    if (out->json)
        printf("{\"epoch\": %zu, \"train_loss\": %.9g, \"test_loss\": %.9g, "
               "\"test_acc\": %.6f, \"lr\": %.9g, %s\"seconds\": %.3f}\n",
               s->epoch, s->train_loss, s->test_loss, s->test_acc, s->lr, out->json_tail,
               s->seconds);
    else
        printf("%5zu  %12.6f  %12.6f  %8.4f  %10.4g  %8.2f\n", s->epoch, s->train_loss,
               s->test_loss, s->test_acc, s->lr, s->seconds);
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

/* The network trained, first: its name, width and parameter count (PyTorch's count). */
static void print_network(const bn_model *m, int json) {
    char label[32];
    arch_label(&m->spec, label, sizeof label);
    if (json)
        printf("{\"arch\": \"%s\", \"width_mult\": %g, \"parameters\": %zu}\n", label,
               m->spec.width_mult, model_parameter_count(m));
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
    status = cli_check_train_resources(&a.experiment, &spec, &a.threads);
    if (status) return status;
    bn_core_share cores = {.cores = a.threads};
    if (a.verbose) runtime_describe(stderr, cores.cores);

    bn_dataset ds;
    status = cli_load_dataset("train", &a.experiment, &ds);
    if (status) return status;
    bn_trainer trainer;
    if (trainer_create(&trainer, &spec, a.experiment.batch, ds.train.n, &err)) {
        fprintf(stderr, "bntrain train: %s\n", err.msg);
        dataset_free(&ds);
        return EXIT_RUNTIME;
    }
    bn_train_config cfg = experiment_train_config(&a.experiment, &cores);
    char schedule[BN_LR_SCHEDULE_TEXT];
    lr_schedule_format(&cfg.lr_schedule, schedule, sizeof schedule);
    snprintf(a.json_tail, sizeof a.json_tail, "\"augment\": %s, \"lr_schedule\": \"%s\", ",
             cfg.augment ? "true" : "false", schedule);
    print_network(&trainer.model, a.json);
    if (!a.json) printf("epoch    train_loss     test_loss  test_acc          lr   seconds\n");
    bn_run_result result;
    /* One thread trains; the team's others take its kernels' tasks (parallel.h). */
#pragma omp parallel num_threads((int)cores.cores)
#pragma omp single
    trainer_run(&trainer, &ds, &cfg, print_epoch, &a, NULL, &result);
    if (result.exploded) print_explosion(&result, a.json);
    trainer_free(&trainer);
    dataset_free(&ds);
    return 0;
}
