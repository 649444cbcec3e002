/* bntrain curves: learning curves of a list of gammas x restarts (the paper's Fig. 4),
 * checkpointed after every epoch and resumable. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/runtime.h"
#include "bntrain/data.h"
#include "bntrain/experiment.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "curves/curves.h"

typedef struct {
    bn_curves_config curves;
    const char *gamma_text;
    char default_out[256]; /* curves-DATASET-ARCH when --out is not given */
} curves_args;

#define CURVES(field) offsetof(curves_args, curves.field)

static const cli_option curves_options[] = {
    OPTION_TITLE("curves options:"),
    OPTION_VALUE("gamma", "LIST", option_set_text, offsetof(curves_args, gamma_text),
                 "BatchNorm scales at init, a,b,c or start:stop:step (default 0.1,1)"),
    OPTION_VALUE("restarts", "N", option_set_count, CURVES(n_restarts),
                 "trainings per gamma with different seeds (default 5; restart r\n"
                 "of every gamma starts from the same weights and batches)"),
    OPTION_INCLUDE(options_threads, CURVES(threads)),
    OPTION_VALUE("out", "DIR", option_set_text, CURVES(out_dir),
                 "output folder (default curves-DATASET-ARCH)"),
    OPTION_FLAG("force", option_set_flag, CURVES(force),
                "discard the curves and checkpoints in DIR and start afresh"),
    OPTION_FLAG("quiet", option_set_flag, CURVES(quiet), "no line per epoch"),
    OPTION_TITLE("network and training options:"),
    OPTION_INCLUDE(options_model, CURVES(experiment)),
    OPTION_IGNORE(options_verbose),
    OPTION_INCLUDE(options_training, CURVES(experiment)),
    OPTION_INCLUDE(options_lr, CURVES(experiment)),
    OPTION_END,
};

const cli_command curves_command = {
    .name = "curves",
    .target_bytes = sizeof(curves_args),
    .about =
        "usage: bntrain curves --dataset NAME --arch NAME [options]\n\n"
        "Trains every gamma x restart run and writes to the output folder: config.json,\n"
        "curves.csv (one line per run and epoch: train and test loss and accuracy, appended\n"
        "at once), checkpoints/ (each run's state after its last epoch) and curves.png /\n"
        "curves.svg (accuracy against epoch, as the paper's Fig. 4). Running the same\n"
        "command again resumes every run from its checkpoint, bitwise as if never stopped.\n"
        "Under mpirun (README, section Cluster) rank 0 writes the folder and hands the\n"
        "runs to the other ranks, each training with --threads threads; rerun with any\n"
        "number of ranks, or none, to resume.\n\n",
    .options = curves_options,
};

enum { MAX_CURVES_RESTARTS = 1000, MAX_CURVES_GAMMAS = 8 };

/* The gamma list, checked before the output folder is touched. */
static int resolve_gammas(curves_args *a) {
    bn_curves_config *c = &a->curves;
    bn_error err;
    if (parse_range("gamma", a->gamma_text, &c->gammas, &c->n_gammas, &err))
        return usage_error("curves", "%s", err.msg);
    if (c->n_gammas > MAX_CURVES_GAMMAS)
        return usage_error("curves", "--gamma: %zu values, at most %d (one colour each)",
                           c->n_gammas, MAX_CURVES_GAMMAS);
    for (size_t i = 0; i < c->n_gammas; i++)
        if (!(c->gammas[i] > 0.0))
            return usage_error("curves", "--gamma: values must be positive, got %.12g",
                               c->gammas[i]);
    if (c->n_restarts == 0 || c->n_restarts > MAX_CURVES_RESTARTS)
        return usage_error("curves", "--restarts: %zu is not from 1 to %d", c->n_restarts,
                           MAX_CURVES_RESTARTS);
    return -1;
}

static void print_summary(const bn_curves_summary *s, const bn_curves_config *c) {
    if (s->interrupted)
        fprintf(stderr, "bntrain curves: interrupted by signal %d%s\n", s->interrupted,
                c->cluster ? " (mpirun ends the whole job when a rank dies, fails or is "
                             "interrupted: its message names the rank)"
                           : "");
    fprintf(stderr,
            "bntrain curves: %zu of %zu runs finished (%zu before this session, %zu exploded), "
            "%zu epochs trained now, %.1f s with the %s kernels; results in %s%s\n",
            s->runs_done_before + s->runs_done, s->runs, s->runs_done_before, s->exploded,
            s->epochs_now, s->seconds, cpu_isa_name(), c->out_dir,
            s->interrupted ? c->cluster ? "; run the same command again to resume, with any "
                                          "number of ranks"
                                        : "; run the same command again to resume"
                           : "");
}

/* A worker rank of an MPI job: loads the data and trains the runs rank 0 hands it. What stops
 * it is sent to rank 0, which says it (naming this rank) and ends the job; a worker writes only
 * its runs' checkpoints and prints nothing of its own. */
static int run_worker(bn_curves_config *c, const bn_model_spec *spec) {
    size_t runs = curves_runs_left(c);
    bn_dataset ds;
    int status = cli_worker_start(
        c->cluster, cli_check_runs_resources("curves", &c->experiment, spec, runs, &c->threads),
        &c->experiment, &ds);
    if (status) return status;
    curves_work(c, &ds, &cli_stop_signal);
    dataset_free(&ds);
    return 0;
}

static int run_curves(curves_args *a) {
    bn_curves_config *c = &a->curves;
    bn_error err;
    bn_model_spec spec;
    if (experiment_model_spec(&c->experiment, &spec, &err))
        return usage_error("curves", "%s", err.msg);
    if (!c->out_dir) {
        char label[32];
        arch_label(&spec, label, sizeof label);
        snprintf(a->default_out, sizeof a->default_out, "curves-%s-%s", c->experiment.dataset,
                 label);
        c->out_dir = a->default_out;
    }
    int status = cli_check_batch("curves", &c->experiment);
    if (status) return status;
    int distributed = c->cluster != NULL;
    if (distributed && c->cluster->rank > 0) return run_worker(c, &spec);
    int check = curves_check_config(c, &err);
    if (check > 0) return usage_error("curves", "%s", err.msg);
    if (check < 0) {
        fprintf(stderr, "bntrain curves: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    /* rank 0 of an MPI job neither trains nor reads the data: the workers check their own */
    bn_dataset ds = {0};
    if (!distributed) {
        size_t left = curves_runs_left(c);
        status = cli_check_runs_resources("curves", &c->experiment, &spec, left, &c->threads);
        if (status == 0) status = cli_load_dataset("curves", &c->experiment, &ds);
        if (status) return status;
    } else if (!c->quiet) {
        cli_log_cluster("curves", c->cluster, c->out_dir);
    }
    cli_catch_stop_signals();
    bn_curves_summary summary;
    status = curves_run(c, distributed ? NULL : &ds, &cli_stop_signal, &summary, &err);
    dataset_free(&ds);
    if (status) {
        fprintf(stderr, "bntrain curves: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    if (!c->quiet || summary.interrupted) print_summary(&summary, c);
    return summary.interrupted ? 128 + summary.interrupted : 0;
}

int cmd_curves(int argc, char **argv) {
    curves_args a = {.gamma_text = "0.1,1"};
    experiment_defaults(&a.curves.experiment);
    a.curves.n_restarts = 5;
    int status = options_parse(&curves_command, &a, argc, argv, NULL);
    if (status < 0 && !a.curves.experiment.dataset)
        status = usage_error("curves", "--dataset is required");
    if (status < 0) status = resolve_gammas(&a);
    bn_cluster cluster = {0};
    if (status < 0) status = cli_start_cluster("curves", &cluster, &a.curves.cluster);
    if (status < 0) status = run_curves(&a);
    cluster_end(&cluster);
    free(a.curves.gammas);
    return status;
}
