/* bntrain figures: the paper's Fig. 1 (theory), Fig. 2 (four phase diagrams) and Fig. 3 (the
 * vanilla baseline), each heatmap with its measured boundary and its distance to eta_bar. A
 * set of grids, so it resumes like grid. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grid/boundary.h"
#include "cli/cli.h"
#include "bntrain/data.h"
#include "grid/runner.h"
#include "cli/options.h"
#include "plot/plot.h"
#include "base/file.h"
#include "base/runtime.h"
#include "bntrain/theory.h"
#include "bntrain/train.h"

/* One heatmap of the paper. */
typedef struct {
    const char *name;    /* sub-folder of the output folder */
    const char *label;   /* for the summary */
    const char *dataset;
    bn_arch arch;
    int batchnorm;       /* 0: the vanilla baseline, x axis sigma_w^2 */
} figure_grid;

/* Grouped by dataset so that each dataset is loaded once. */
static const figure_grid figure_grids[] = {
    {"fig2a_fc_mnist", "Fig. 2a FC/MNIST", "mnist", ARCH_FC, 1},
    {"fig2c_cnn_mnist", "Fig. 2c CNN/MNIST", "mnist", ARCH_CNN, 1},
    {"fig3_vanilla_fc_mnist", "Fig. 3 vanilla FC/MNIST", "mnist", ARCH_FC, 0},
    {"fig2b_fc_cifar10", "Fig. 2b FC/CIFAR-10", "cifar10", ARCH_FC, 1},
    {"fig2d_cnn_cifar10", "Fig. 2d CNN/CIFAR-10", "cifar10", ARCH_CNN, 1},
};
#define N_FIGURE_GRIDS (sizeof figure_grids / sizeof figure_grids[0])

/* The full version is the paper's setting; the quick one trades resolution for minutes, and
 * every reduction is written on the figures. */
typedef struct {
    const char *gamma, *log10_lr, *sigma_w2;
    size_t restarts, epochs, train_subset;
    const char *note;
} figure_settings;

static const figure_settings full_settings = {"0.1:4.5:0.2", "-3:0.5:0.125", "0.5:4.5:0.25",
                                              5, 5, 0, NULL};
static const figure_settings quick_settings = {
    "0.1:4.1:0.5", "-3:0.5:0.25", "0.5:4.5:0.5", 2, 2, 6000,
    "quick: 6000 train images, coarse grid (paper: all images, 5 epochs, 5 restarts)"};

enum { OPT_OUT = OPT_FIRST_COMMAND_SPECIFIC, OPT_QUICK, OPT_THREADS, OPT_FORCE, OPT_QUIET,
       OPT_HELP };

static const struct option figure_options[] = {
    {"out", required_argument, NULL, OPT_OUT},
    {"quick", no_argument, NULL, OPT_QUICK},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"force", no_argument, NULL, OPT_FORCE},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void print_help(void) {
    printf("usage: bntrain figures [--out DIR] [--quick] [--threads N] [--data-dir DIR]\n\n"
           "Regenerates the figures of \"Mean-field Analysis of Batch Normalization\":\n"
           "  fig1_fc.png, fig1_cnn.png   lambda_max bound and log10 eta_bar vs gamma, BN (red)\n"
           "                              and vanilla (blue), FC on MNIST and CNN on CIFAR-10\n"
           "  fig2*/heatmap.png            test loss over (gamma, log10 eta) after 5 epochs, mean\n"
           "                              of 5 restarts, FC and CNN on MNIST and CIFAR-10, with\n"
           "                              eta_bar and the measured boundary\n"
           "  fig3_vanilla_fc_mnist/       the vanilla FC baseline over (sigma_w^2, log10 eta)\n"
           "  boundary.csv (per figure) and summary.csv: the measured critical learning rate\n"
           "  per column and its distance to eta_bar in decades.\n"
           "Each figure is a grid folder: running the command again resumes it.\n\n"
           "options:\n"
           "  --out DIR          output folder (default figures, or figures-quick)\n"
           "  --quick            6000 training images, 2 epochs, 2 restarts, coarser grid:\n"
           "                     minutes instead of a night\n"
           "  --threads N        parallel runs (default: all cores)\n"
           "  --force            discard earlier results in the output folder\n"
           "  --data-dir DIR     data root (default: $BNTRAIN_DATA, else data/)\n"
           "  --quiet            no progress output\n");
}

typedef struct {
    const char *out, *data_dir;
    int quick, force, quiet;
    size_t threads;
} figures_args;

static int parse_args(int argc, char **argv, figures_args *a) {
    bn_error err;
    int code;
    optind = 1;
    opterr = 0;
    while ((code = getopt_long(argc, argv, "", figure_options, NULL)) != -1) {
        switch (code) {
        case OPT_HELP: print_help(); return 0;
        case OPT_OUT: a->out = optarg; break;
        case OPT_QUICK: a->quick = 1; break;
        case OPT_FORCE: a->force = 1; break;
        case OPT_QUIET: a->quiet = 1; break;
        case OPT_DATA_DIR: a->data_dir = optarg; break;
        case OPT_THREADS:
            if (parse_size("threads", optarg, &a->threads, &err) || a->threads == 0)
                return usage_error("figures", "--threads: '%s' is not a positive integer",
                                   optarg);
            break;
        default:
            return usage_error("figures", "unknown option or missing value: '%s'",
                               argv[optind - 1]);
        }
    }
    if (optind < argc) return usage_error("figures", "unexpected argument '%s'", argv[optind]);
    if (!a->out) a->out = a->quick ? "figures-quick" : "figures";
    return -1;
}

/* Fig. 1: the theory curves of the paper's two architectures. */
static int theory_figure(const char *out, const char *dataset, bn_arch arch, bn_error *err) {
    enum { N = 89 };
    double gamma[N], lambda_bn[N], lambda_vanilla[N], eta_bn[N], eta_vanilla[N];
    size_t c, h, w;
    bn_model_spec bn, vanilla;
    dataset_shape(dataset, &c, &h, &w);
    model_spec_paper(&bn, arch, c, h, w, 1);
    model_spec_paper(&vanilla, arch, c, h, w, 0);
    for (size_t i = 0; i < N; i++) {
        bn_theory_result r;
        gamma[i] = 0.1 + 0.05 * (double)i;
        if (theory_evaluate(&bn, gamma[i], 2.0, 0.5, 0.9, &r, err)) return -1;
        lambda_bn[i] = r.lambda_max;
        eta_bn[i] = r.log10_eta_bar;
        if (theory_evaluate(&vanilla, gamma[i], 2.0, 0.5, 0.9, &r, err)) return -1;
        lambda_vanilla[i] = r.lambda_max;
        eta_vanilla[i] = r.log10_eta_bar;
    }
    char path[4200], title[160];
    snprintf(path, sizeof path, "%s/fig1_%s.png", out, arch_name(arch));
    snprintf(title, sizeof title,
             "Fig. 1: %s, %s input (\u03c3_{w}^{2} = 2, \u03c3_{b}^{2} = 0.5, \u03bc = 0.9)",
             arch == ARCH_FC ? "FC 3 x 1000" : "CNN 30-60-90 channels",
             strcmp(dataset, "mnist") == 0 ? "MNIST" : "CIFAR-10");
    return plot_theory_figure(path, title, gamma, N, lambda_bn, lambda_vanilla, eta_bn,
                              eta_vanilla, err);
}

/* The grid configuration of one heatmap. The caller frees x_values and log10_lrs. */
static int figure_config(const figure_grid *f, const figure_settings *set, const figures_args *a,
                         char *dir, size_t dir_capacity, bn_grid_config *g, bn_error *err) {
    memset(g, 0, sizeof *g);
    options_defaults(&g->opts);
    g->opts.dataset = f->dataset;
    g->opts.data_dir = a->data_dir;
    g->opts.arch = f->arch;
    g->opts.batchnorm = f->batchnorm;
    g->opts.epochs = set->epochs;
    g->opts.train_subset = set->train_subset;
    g->n_restarts = set->restarts;
    g->threads = a->threads;
    g->force = a->force;
    g->quiet = a->quiet;
    g->title_note = set->note;
    g->seed_mode = SEED_PER_RESTART;
    snprintf(dir, dir_capacity, "%s/%s", a->out, f->name);
    g->out_dir = dir;
    g->x_name = f->batchnorm ? "gamma" : "sigma_w2";
    if (parse_range("log10-lr", set->log10_lr, &g->log10_lrs, &g->n_lr, err)) return -1;
    return parse_range(f->batchnorm ? "gamma" : "sigma-w2",
                       f->batchnorm ? set->gamma : set->sigma_w2, &g->x_values, &g->n_x, err);
}

/* A loss this far above that of predicting all zeros has blown up even if it is finite. */
static double diverged_loss(bn_loss loss) {
    return 10.0 * (loss == LOSS_MSE ? 0.5 : log(10.0));
}

typedef struct {
    bn_dataset ds;
    const char *name; /* the dataset in ds, or NULL */
} dataset_cache;

static int ensure_dataset(dataset_cache *cache, const bn_grid_config *g, bn_error *err) {
    if (cache->name && strcmp(cache->name, g->opts.dataset) == 0) return 0;
    if (cache->name) dataset_free(&cache->ds);
    cache->name = NULL;
    if (dataset_load(&cache->ds, g->opts.dataset, g->opts.data_dir, err)) return -1;
    cache->name = g->opts.dataset;
    return 0;
}

/* Runs one heatmap's grid on the full training set held in the cache (truncated copies are
 * views: the first n images). */
static int run_figure(const figure_grid *f, const bn_grid_config *g, dataset_cache *cache,
                      bn_boundary_summary *summary, bn_error *err) {
    if (ensure_dataset(cache, g, err)) return -1;
    bn_dataset view = cache->ds;
    if (g->opts.train_subset && g->opts.train_subset < view.train.n)
        view.train.n = g->opts.train_subset;
    if (!g->quiet) fprintf(stderr, "bntrain figures: %s in %s\n", f->label, g->out_dir);
    bn_grid_summary grid_summary;
    if (grid_run(g, &view, &cli_stop_signal, &grid_summary, err)) return -1;
    if (grid_summary.interrupted) return 1;
    if (boundary_write(g->out_dir, diverged_loss(g->opts.loss), summary, err)) return -1;
    return plot_heatmap_dir(g->out_dir, 0, err);
}

static int append_summary(char *csv, size_t capacity, size_t *used, const figure_grid *f,
                          const bn_boundary_summary *s) {
    int n = snprintf(csv + *used, capacity - *used, "%s,%s,%s,%zu,%zu,%.4f,%.4f,%.4f,%.4f\n",
                     f->name, f->dataset, arch_name(f->arch), s->n_x, s->n_measured,
                     s->mean_abs_decades, s->max_abs_decades, s->mean_decades,
                     s->lr_step_decades);
    if (n < 0 || (size_t)n >= capacity - *used) return -1;
    *used += (size_t)n;
    return 0;
}

static void print_summary(const figure_grid *f, const bn_boundary_summary *s) {
    printf("%-24s |log10 eta_emp - log10 eta_bar|: mean %.2f, max %.2f decades over %zu of %zu "
           "columns (signed mean %+.2f; grid step %.3g decades)\n",
           f->label, s->mean_abs_decades, s->max_abs_decades, s->n_measured, s->n_x,
           s->mean_decades, s->lr_step_decades);
}

static int make_figures(const figures_args *a) {
    const figure_settings *set = a->quick ? &quick_settings : &full_settings;
    bn_error err;
    char dir[4200], csv[4096], path[4200];
    size_t used = (size_t)snprintf(csv, sizeof csv,
                                   "figure,dataset,arch,columns,columns_measured,"
                                   "mean_abs_decades,max_abs_decades,mean_decades,"
                                   "lr_step_decades\n");
    double start = wall_seconds();
    cli_catch_stop_signals();
    if (grid_make_dirs(a->out, &err) || theory_figure(a->out, "mnist", ARCH_FC, &err) ||
        theory_figure(a->out, "cifar10", ARCH_CNN, &err)) {
        fprintf(stderr, "bntrain figures: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    dataset_cache cache = {.name = NULL};
    int status = 0;
    for (size_t i = 0; i < N_FIGURE_GRIDS && status == 0; i++) {
        bn_grid_config g;
        bn_boundary_summary s;
        if (figure_config(&figure_grids[i], set, a, dir, sizeof dir, &g, &err)) {
            status = -1;
        } else {
            int check = a->force ? 0 : grid_check_config(&g, &err);
            status = check ? -1 : run_figure(&figure_grids[i], &g, &cache, &s, &err);
            if (status == 0) {
                print_summary(&figure_grids[i], &s);
                append_summary(csv, sizeof csv, &used, &figure_grids[i], &s);
            }
        }
        free(g.x_values);
        free(g.log10_lrs);
    }
    if (cache.name) dataset_free(&cache.ds);
    if (status > 0) {
        fprintf(stderr, "bntrain figures: interrupted by signal %d; run the same command again "
                        "to resume\n", (int)cli_stop_signal);
        return 128 + (int)cli_stop_signal;
    }
    snprintf(path, sizeof path, "%s/summary.csv", a->out);
    if (status < 0 || write_file_atomic(path, csv, used, &err)) {
        fprintf(stderr, "bntrain figures: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    if (!a->quiet)
        fprintf(stderr, "bntrain figures: done in %.0f s; figures and summary.csv in %s\n",
                wall_seconds() - start, a->out);
    return 0;
}

int cmd_figures(int argc, char **argv) {
    figures_args a = {0};
    int status = parse_args(argc, argv, &a);
    if (status >= 0) return status;
    return make_figures(&a);
}
