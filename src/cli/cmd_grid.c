/* bntrain grid: the (gamma, log10 eta) phase diagram, parallel, crash-safe and resumable. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/cli.h"
#include "bntrain/data.h"
#include "grid/runner.h"
#include "cli/options.h"
#include "base/runtime.h"
#include "bntrain/train.h"

enum {
    OPT_GAMMA_RANGE = OPT_FIRST_COMMAND_SPECIFIC, OPT_LOG10_LR, OPT_RESTARTS, OPT_THREADS,
    OPT_OUT, OPT_FORCE, OPT_SEED_PER_CELL, OPT_COLOR_SCALE, OPT_SWEEP_SIGMA_W2, OPT_QUIET,
    OPT_TITLE_NOTE, OPT_HELP
};

static const struct option grid_only[] = {
    {"gamma", required_argument, NULL, OPT_GAMMA_RANGE},
    {"log10-lr", required_argument, NULL, OPT_LOG10_LR},
    {"restarts", required_argument, NULL, OPT_RESTARTS},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"out", required_argument, NULL, OPT_OUT},
    {"force", no_argument, NULL, OPT_FORCE},
    {"seed-per-cell", no_argument, NULL, OPT_SEED_PER_CELL},
    {"color-scale", required_argument, NULL, OPT_COLOR_SCALE},
    {"sweep-sigma-w2", required_argument, NULL, OPT_SWEEP_SIGMA_W2},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"title-note", required_argument, NULL, OPT_TITLE_NOTE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void print_help(void) {
    printf("usage: bntrain grid --dataset NAME [options]\n\n"
           "Trains a network for every (gamma, log10 eta) cell and restart, and writes to the\n"
           "output folder: config.json, runs.csv (one line per finished run, appended at once),\n"
           "cells.csv (per cell: mean and std of the test loss over restarts, explosions),\n"
           "theory.csv (eta_bar of the mean-field theory) and heatmap.png / heatmap.svg.\n"
           "Running the same command again resumes: finished runs are skipped.\n\n"
           "grid options:\n"
           "  --gamma RANGE      BatchNorm scales, start:stop:step or a,b,c (default 0.1:4.5:0.2)\n"
           "  --log10-lr RANGE   log10 learning rates (default -3:0.5:0.125)\n"
           "  --restarts N       runs per cell with different seeds (default 5)\n"
           "  --threads N        parallel runs (default: all cores)\n"
           "  --out DIR          output folder (default grid-DATASET-ARCH[-nobn])\n"
           "  --force            discard the results in DIR and start afresh\n"
           "  --seed-per-cell    a seed per cell and restart (default: per restart, so every\n"
           "                     cell of a restart starts from the same weights and batches)\n"
           "  --sweep-sigma-w2 RANGE  x axis is sigma_w^2 instead of gamma (the paper's\n"
           "                     vanilla baseline, Fig. 3; use with --no-bn)\n"
           "  --color-scale linear|log  heatmap colour scale (default linear)\n"
           "  --title-note TEXT  words added to the heatmap title\n"
           "  --quiet            no progress output\n\n"
           "network and training options:\n%s%s",
           options_model_help, options_training_help);
}

typedef struct {
    bn_grid_config grid;
    const char *gamma_text, *lr_text, *sigma_text;
} grid_args;

static int parse_args(int argc, char **argv, grid_args *a) {
    struct option all[64];
    options_merge(all, 64, options_model, options_training, grid_only);
    bn_grid_config *g = &a->grid;
    bn_error err;
    int code;
    optind = 1;
    opterr = 0;
    while ((code = getopt_long(argc, argv, "", all, NULL)) != -1) {
        switch (code) {
        case OPT_HELP: print_help(); return 0;
        case OPT_GAMMA_RANGE: a->gamma_text = optarg; break;
        case OPT_LOG10_LR: a->lr_text = optarg; break;
        case OPT_SWEEP_SIGMA_W2: a->sigma_text = optarg; break;
        case OPT_RESTARTS:
        case OPT_THREADS: {
            size_t *target = code == OPT_RESTARTS ? &g->n_restarts : &g->threads;
            if (parse_size(code == OPT_RESTARTS ? "restarts" : "threads", optarg, target, &err) ||
                *target == 0 || *target > 100000)
                return usage_error("grid", "--%s: '%s' is not a positive integer",
                                   code == OPT_RESTARTS ? "restarts" : "threads", optarg);
            break;
        }
        case OPT_OUT: g->out_dir = optarg; break;
        case OPT_FORCE: g->force = 1; break;
        case OPT_SEED_PER_CELL: g->seed_mode = SEED_PER_CELL; break;
        case OPT_QUIET: g->quiet = 1; break;
        case OPT_TITLE_NOTE: g->title_note = optarg; break;
        case OPT_COLOR_SCALE:
            if (strcmp(optarg, "linear") && strcmp(optarg, "log"))
                return usage_error("grid", "--color-scale: '%s' is not linear or log", optarg);
            g->log_color_scale = strcmp(optarg, "log") == 0;
            break;
        case '?':
        case ':':
            return usage_error("grid", "unknown option or missing value: '%s'", argv[optind - 1]);
        default:
            if (options_apply(&g->opts, code, optarg, &err) < 0)
                return usage_error("grid", "%s", err.msg);
        }
    }
    if (optind < argc) return usage_error("grid", "unexpected argument '%s'", argv[optind]);
    if (!g->opts.dataset) return usage_error("grid", "--dataset is required");
    return -1;
}

/* Turns the range texts into value lists; the sigma_w^2 sweep holds gamma at one value. */
static int resolve_axes(grid_args *a) {
    bn_grid_config *g = &a->grid;
    bn_error err;
    double *gammas = NULL;
    size_t n_gammas = 0;
    if (parse_range("gamma", a->gamma_text, &gammas, &n_gammas, &err))
        return usage_error("grid", "%s", err.msg);
    if (parse_range("log10-lr", a->lr_text, &g->log10_lrs, &g->n_lr, &err)) {
        free(gammas);
        return usage_error("grid", "%s", err.msg);
    }
    if (!a->sigma_text) {
        g->x_name = "gamma";
        g->x_values = gammas;
        g->n_x = n_gammas;
        return -1;
    }
    g->x_name = "sigma_w2";
    if (n_gammas != 1) {
        free(gammas);
        return usage_error("grid", "--sweep-sigma-w2 needs a single --gamma value");
    }
    g->opts.gamma = gammas[0];
    free(gammas);
    if (parse_range("sweep-sigma-w2", a->sigma_text, &g->x_values, &g->n_x, &err))
        return usage_error("grid", "%s", err.msg);
    for (size_t i = 0; i < g->n_x; i++)
        if (g->x_values[i] <= 0.0)
            return usage_error("grid", "--sweep-sigma-w2: values must be positive");
    return -1;
}

static void log_start(int argc, char **argv, const bn_grid_config *g, size_t threads) {
    if (g->quiet) return;
    fprintf(stderr, "bntrain %s: grid", BNTRAIN_VERSION);
    for (int i = 1; i < argc; i++) fprintf(stderr, " %s", argv[i]);
    fprintf(stderr, "\n");
    runtime_describe(stderr, threads);
}

/* What the grid will hold in memory: the dataset once, a trainer per thread. */
static void log_memory(const bn_model_spec *spec, const bn_grid_config *g, const bn_dataset *ds,
                       size_t threads) {
    bn_trainer probe;
    bn_error err;
    if (trainer_create(&probe, spec, g->opts.batch, ds->train.n, &err)) return;
    double per_thread = (double)trainer_bytes(&probe) / (1024.0 * 1024.0);
    size_t image = ds->channels * ds->height * ds->width;
    double data = (double)((ds->train.n + ds->test.n) * (image * sizeof(float) + 1)) /
                  (1024.0 * 1024.0);
    fprintf(stderr, "bntrain grid: memory: dataset %.0f MiB (shared), %.0f MiB per thread x %zu\n",
            data, per_thread, threads);
    trainer_free(&probe);
}

static void log_end(const bn_grid_summary *s, const bn_grid_config *g) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double cpu = (double)usage.ru_utime.tv_sec + 1e-6 * (double)usage.ru_utime.tv_usec +
                 (double)usage.ru_stime.tv_sec + 1e-6 * (double)usage.ru_stime.tv_usec;
    if (s->interrupted)
        fprintf(stderr,
                "bntrain grid: interrupted by signal %d: %zu of %zu runs are on disk in %s; "
                "run the same command again to resume\n",
                s->interrupted, s->done_before + s->done_now, s->total, g->out_dir);
    else if (!g->quiet)
        fprintf(stderr, "bntrain grid: %zu runs done (%zu new), %zu exploded; results in %s\n",
                s->done_before + s->done_now, s->done_now, s->exploded, g->out_dir);
    if (!g->quiet || s->interrupted)
        fprintf(stderr, "bntrain grid: real %.1f s, cpu %.1f s, peak memory %.1f MiB\n",
                s->seconds, cpu, (double)runtime_peak_rss_bytes() / (1024.0 * 1024.0));
}

static int run_grid(int argc, char **argv, grid_args *a) {
    bn_grid_config *g = &a->grid;
    bn_error err;
    bn_model_spec spec;
    if (options_model_spec(&g->opts, &spec, &err)) return usage_error("grid", "%s", err.msg);
    static char default_out[256];
    if (!g->out_dir) {
        snprintf(default_out, sizeof default_out, "grid-%s-%s%s", g->opts.dataset,
                 arch_name(g->opts.arch), g->opts.batchnorm ? "" : "-nobn");
        g->out_dir = default_out;
    }
    if (!g->force) {
        int check = grid_check_config(g, &err);
        if (check > 0) return usage_error("grid", "%s", err.msg);
        if (check < 0) {
            fprintf(stderr, "bntrain grid: %s\n", err.msg);
            return EXIT_RUNTIME;
        }
    }
    size_t threads = g->threads ? g->threads : runtime_cores();
    log_start(argc, argv, g, threads);
    bn_dataset ds;
    if (dataset_load(&ds, g->opts.dataset, g->opts.data_dir, &err)) {
        fprintf(stderr, "bntrain grid: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    dataset_truncate_train(&ds, g->opts.train_subset);
    if (g->opts.batch > ds.train.n) {
        dataset_free(&ds);
        return usage_error("grid", "--batch %zu is larger than the %zu training images",
                           g->opts.batch, ds.train.n);
    }
    if (!g->quiet) log_memory(&spec, g, &ds, threads);
    cli_catch_stop_signals();
    bn_grid_summary summary;
    int status = grid_run(g, &ds, &cli_stop_signal, &summary, &err);
    dataset_free(&ds);
    if (summary.torn_bytes)
        fprintf(stderr, "bntrain grid: dropped a torn last line (%zu bytes) from runs.csv\n",
                summary.torn_bytes);
    if (status) {
        fprintf(stderr, "bntrain grid: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    log_end(&summary, g);
    return summary.interrupted ? 128 + summary.interrupted : 0;
}

int cmd_grid(int argc, char **argv) {
    grid_args a = {.gamma_text = "0.1:4.5:0.2", .lr_text = "-3:0.5:0.125"};
    options_defaults(&a.grid.opts);
    a.grid.n_restarts = 5;
    a.grid.seed_mode = SEED_PER_RESTART;
    int status = parse_args(argc, argv, &a);
    if (status < 0) status = resolve_axes(&a);
    if (status < 0) status = run_grid(argc, argv, &a);
    free(a.grid.x_values);
    free(a.grid.log10_lrs);
    return status;
}
