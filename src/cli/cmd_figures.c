/* bntrain figures: the paper's Fig. 1 (theory), Fig. 2 (four phase diagrams), Fig. 3 (the
 * vanilla baseline), each heatmap with its measured boundary and its distance to eta_bar, and
 * Fig. 4 (learning curves of VGG16 and PreAct-ResNet18). A set of grids and curves folders, so
 * it resumes like them. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/runtime.h"
#include "bntrain/data.h"
#include "bntrain/experiment.h"
#include "bntrain/theory.h"
#include "bntrain/train.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "curves/curves.h"
#include "grid/boundary.h"
#include "grid/runner.h"
#include "plot/plot.h"

/* One heatmap of the paper. */
typedef struct {
    int number;        /* the paper's figure: 2 or 3 */
    const char *name;  /* sub-folder of the output folder */
    const char *label; /* for the summary */
    const char *dataset;
    bn_arch arch;
    int batchnorm; /* 0: the vanilla baseline, x axis sigma_w^2 */
} figure_grid;

/* Grouped by dataset so that each dataset is loaded once. */
static const figure_grid figure_grids[] = {
    {2, "fig2a_fc_mnist", "Fig. 2a FC/MNIST", "mnist", ARCH_FC, 1},
    {2, "fig2c_cnn_mnist", "Fig. 2c CNN/MNIST", "mnist", ARCH_CNN, 1},
    {3, "fig3_vanilla_fc_mnist", "Fig. 3 vanilla FC/MNIST", "mnist", ARCH_FC, 0},
    {2, "fig2b_fc_cifar10", "Fig. 2b FC/CIFAR-10", "cifar10", ARCH_FC, 1},
    {2, "fig2d_cnn_cifar10", "Fig. 2d CNN/CIFAR-10", "cifar10", ARCH_CNN, 1},
};
#define N_FIGURE_GRIDS (sizeof figure_grids / sizeof figure_grids[0])

/* The full version is the paper's setting; the quick one trades resolution for minutes, and
 * every reduction is written on the figures. */
typedef struct {
    const char *gamma, *log10_lr, *sigma_w2;
    size_t restarts, epochs, train_subset;
    const char *note;
} figure_settings;

static const figure_settings full_settings = {
    "0.1:4.5:0.2", "-3:0.5:0.125", "0.5:4.5:0.25", 5, 5, 0, NULL};
static const figure_settings quick_settings = {
    "0.1:4.1:0.5",
    "-3:0.5:0.25",
    "0.5:4.5:0.5",
    2,
    2,
    6000,
    "quick: 6000 train images, coarse grid (paper: all images, 5 epochs, 5 restarts)"};

/* Fig. 4: learning curves of the deep networks at gamma 0.1 and 1 (bntrain curves). */
typedef struct {
    const char *name, *label;
    bn_arch arch;
    size_t depth;
} figure_curves;

static const figure_curves figure_curve_sets[] = {
    {"fig4a_vgg16_cifar10", "Fig. 4a VGG16/CIFAR-10", ARCH_VGG16, 16},
    {"fig4b_preact_resnet18_cifar10", "Fig. 4b PreAct-ResNet18/CIFAR-10", ARCH_PREACT_RESNET, 18},
};
#define N_FIGURE_CURVES (sizeof figure_curve_sets / sizeof figure_curve_sets[0])

/* The paper's setting (section 6.5: lr 0.1, momentum 0.9, weight decay 5e-4, 5 trainings),
 * 100 epochs on all 50000 images at full width; the quick one at 1/8 of the width. */
typedef struct {
    double width_mult;
    size_t train_subset, epochs, restarts;
} curves_settings;

static const curves_settings full_curves = {1.0, 0, 100, 5};
static const curves_settings quick_curves = {0.125, 10000, 10, 2};

typedef struct {
    const char *out, *data_dir, *only_text;
    int quick, force, quiet;
    int only[5]; /* only[k]: figure k asked for (all of them without --only) */
    size_t threads;
} figures_args;

#define FIGURES(field) offsetof(figures_args, field)

static const cli_option figures_options[] = {
    OPTION_TITLE("options:"),
    OPTION_VALUE("out", "DIR", option_set_text, FIGURES(out),
                 "output folder (default figures, or figures-quick)"),
    OPTION_FLAG("quick", option_set_flag, FIGURES(quick),
                "6000 training images, 2 epochs, 2 restarts, coarser grid:\n"
                "minutes instead of a night"),
    OPTION_VALUE("only", "LIST", option_set_text, FIGURES(only_text),
                 "these figures only, e.g. 2,3 or 4 (default 1,2,3,4)"),
    OPTION_INCLUDE(options_threads, FIGURES(threads)),
    OPTION_FLAG("force", option_set_flag, FIGURES(force),
                "discard earlier results in the output folder"),
    OPTION_INCLUDE(options_data_dir, FIGURES(data_dir)),
    OPTION_FLAG("quiet", option_set_flag, FIGURES(quiet), "no progress output"),
    OPTION_END,
};

const cli_command figures_command = {
    .name = "figures",
    .about =
        "usage: bntrain figures [--out DIR] [--quick] [--threads N] [--data-dir DIR]\n\n"
        "Regenerates the figures of \"Mean-field Analysis of Batch Normalization\":\n"
        "  fig1_fc.png, fig1_cnn.png   lambda_max bound and log10 eta_bar vs gamma, BN (red)\n"
        "                              and vanilla (blue), FC on MNIST and CNN on CIFAR-10\n"
        "  fig2*/heatmap.png            test loss over (gamma, log10 eta) after 5 epochs, mean\n"
        "                              of 5 restarts, FC and CNN on MNIST and CIFAR-10, with\n"
        "                              eta_bar and the measured boundary\n"
        "  fig3_vanilla_fc_mnist/       the vanilla FC baseline over (sigma_w^2, log10 eta)\n"
        "  boundary.csv (per figure) and summary.csv: the measured critical learning rate\n"
        "  per column and its distance to eta_bar in decades.\n"
        "  fig4*/curves.png             train (dashed) and test (solid) accuracy against epoch,\n"
        "                              gamma 0.1 and 1, VGG16 and PreAct-ResNet18 on CIFAR-10\n"
        "                              (lr 0.1, momentum 0.9, weight decay 5e-4, 100 epochs,\n"
        "                              5 trainings; --quick: width x1/8, 10000 images, 10\n"
        "                              epochs, 2 trainings)\n"
        "Each figure is a grid or curves folder: running the command again resumes it.\n\n",
    .options = figures_options,
    .target_bytes = sizeof(figures_args),
};

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
    return plot_theory_figure(path, title, gamma, N, lambda_bn, lambda_vanilla, eta_bn, eta_vanilla,
                              err);
}

/* The grid configuration of one heatmap. The caller frees x_values and log10_lrs. */
static int figure_config(const figure_grid *f, const figure_settings *set, const figures_args *a,
                         char *dir, size_t dir_capacity, bn_grid_config *g, bn_error *err) {
    memset(g, 0, sizeof *g);
    experiment_defaults(&g->experiment);
    g->experiment.dataset = f->dataset;
    g->experiment.data_dir = a->data_dir;
    g->experiment.arch = f->arch;
    g->experiment.batchnorm = f->batchnorm;
    g->experiment.epochs = set->epochs;
    g->experiment.train_subset = set->train_subset;
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

typedef struct {
    bn_dataset ds;
    const char *name;    /* the dataset in ds, or NULL */
    size_t train_subset; /* and its training subset */
} dataset_cache;

/* Loads the experiment's dataset unless the cache holds it: the figures of one dataset and
 * training subset share it. Returns 0, or the exit status after saying what is wrong. */
static int ensure_dataset(dataset_cache *cache, const bn_experiment *e) {
    if (cache->name && strcmp(cache->name, e->dataset) == 0 &&
        cache->train_subset == e->train_subset)
        return 0;
    if (cache->name) dataset_free(&cache->ds);
    cache->name = NULL;
    int status = cli_load_dataset("figures", e, &cache->ds);
    if (status == 0) {
        cache->name = e->dataset;
        cache->train_subset = e->train_subset;
    }
    return status;
}

/* The grid's threads capped and its memory checked before its data is read, as `grid` does
 * (cli_util.c). Returns 0, or the exit status after saying what is wrong. */
static int check_resources(bn_grid_config *g) {
    bn_model_spec spec;
    bn_error err;
    if (experiment_model_spec(&g->experiment, &spec, &err)) {
        fprintf(stderr, "bntrain figures: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    return cli_check_grid_resources("figures", g, &spec);
}

/* Runs one heatmap's grid, then measures its boundary and draws it. Returns 1 if
 * interrupted. */
static int run_figure(const figure_grid *f, const bn_grid_config *g, const bn_dataset *ds,
                      bn_boundary_summary *summary, bn_error *err) {
    if (!g->quiet) fprintf(stderr, "bntrain figures: %s in %s\n", f->label, g->out_dir);
    bn_grid_summary grid_summary;
    if (grid_run(g, ds, &cli_stop_signal, &grid_summary, err)) return -1;
    if (grid_summary.interrupted) return 1;
    if (boundary_write(g->out_dir, boundary_diverged_loss(g->experiment.loss), summary, err)) return -1;
    return plot_heatmap_dir(g->out_dir, 0, err);
}

static int append_summary(char *csv, size_t capacity, size_t *used, const figure_grid *f,
                          const bn_boundary_summary *s) {
    int n = snprintf(csv + *used, capacity - *used, "%s,%s,%s,%zu,%zu,%.4f,%.4f,%.4f,%.4f\n",
                     f->name, f->dataset, arch_name(f->arch), s->n_x, s->n_measured,
                     s->mean_abs_decades, s->max_abs_decades, s->mean_decades, s->lr_step_decades);
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

/* The summary.csv text, one line per figure. */
typedef struct {
    char text[4096];
    size_t used;
} summary_csv;

/* One heatmap, from its configuration to its line in the summary. Returns 0, or the exit
 * status after saying what is wrong. */
static int make_figure(const figure_grid *f, const figure_settings *set, const figures_args *a,
                       dataset_cache *cache, summary_csv *csv) {
    char dir[4200];
    bn_grid_config g;
    bn_boundary_summary s;
    bn_error err;
    int status = -1, load_status = 0;
    if (figure_config(f, set, a, dir, sizeof dir, &g, &err) == 0 &&
        (a->force || grid_check_config(&g, &err) == 0)) {
        load_status = check_resources(&g);
        if (load_status == 0) load_status = ensure_dataset(cache, &g.experiment);
        if (load_status == 0) status = run_figure(f, &g, &cache->ds, &s, &err);
    }
    free(g.x_values);
    free(g.log10_lrs);
    if (load_status) return load_status;
    if (status < 0) {
        fprintf(stderr, "bntrain figures: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    if (status == 1) {
        fprintf(stderr,
                "bntrain figures: interrupted by signal %d; run the same command again "
                "to resume\n",
                (int)cli_stop_signal);
        return 128 + (int)cli_stop_signal;
    }
    print_summary(f, &s);
    append_summary(csv->text, sizeof csv->text, &csv->used, f, &s);
    return 0;
}

static void curves_config(const figure_curves *f, const curves_settings *set,
                          const figures_args *a, char *dir, size_t dir_capacity,
                          bn_curves_config *c) {
    static double gammas[2] = {0.1, 1.0};
    memset(c, 0, sizeof *c);
    experiment_defaults(&c->experiment);
    bn_experiment *e = &c->experiment;
    e->dataset = "cifar10";
    e->data_dir = a->data_dir;
    e->arch = f->arch;
    e->depth = f->depth;
    e->width_mult = set->width_mult;
    e->train_subset = set->train_subset;
    e->epochs = set->epochs;
    e->lr = 0.1;
    e->momentum = 0.9;
    e->weight_decay = 5e-4;
    e->loss = LOSS_CE;
    c->gammas = gammas;
    c->n_gammas = 2;
    c->n_restarts = set->restarts;
    c->threads = a->threads;
    c->force = a->force;
    c->quiet = 1;
    snprintf(dir, dir_capacity, "%s/%s", a->out, f->name);
    c->out_dir = dir;
}

/* One panel of Fig. 4: its curves, resumed where they stopped, and its numbers. Returns 0, or
 * the exit status after saying what is wrong. */
static int make_curves_figure(const figure_curves *f, const figures_args *a,
                              dataset_cache *cache) {
    char dir[4200];
    bn_curves_config c;
    bn_error err;
    bn_model_spec spec;
    curves_config(f, a->quick ? &quick_curves : &full_curves, a, dir, sizeof dir, &c);
    int status = experiment_model_spec(&c.experiment, &spec, &err) || curves_check_config(&c, &err)
                     ? EXIT_RUNTIME
                     : 0;
    if (status) fprintf(stderr, "bntrain figures: %s\n", err.msg);
    if (status == 0)
        status = cli_check_runs_resources("figures", &c.experiment, &spec,
                                          curves_runs_left(&c), &c.threads);
    if (status == 0) status = ensure_dataset(cache, &c.experiment);
    if (status) return status;
    if (!a->quiet) fprintf(stderr, "bntrain figures: %s in %s\n", f->label, dir);
    bn_curves_summary summary;
    if (curves_run(&c, &cache->ds, &cli_stop_signal, &summary, &err) ||
        curves_report(&c, f->label, stdout, &err)) {
        fprintf(stderr, "bntrain figures: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    if (!summary.interrupted) return 0;
    fprintf(stderr, "bntrain figures: interrupted by signal %d; run the same command again "
                    "to resume\n", summary.interrupted);
    return 128 + summary.interrupted;
}

/* --only's list into a->only; without it, every figure. Returns -1, or the exit status. */
static int parse_only(figures_args *a) {
    for (int k = 1; k <= 4; k++) a->only[k] = a->only_text == NULL;
    if (!a->only_text) return -1;
    double *values;
    size_t n;
    bn_error err;
    if (parse_range("only", a->only_text, &values, &n, &err))
        return usage_error("figures", "%s", err.msg);
    int status = -1;
    for (size_t i = 0; i < n && status < 0; i++) {
        if (values[i] != 1 && values[i] != 2 && values[i] != 3 && values[i] != 4)
            status = usage_error("figures", "--only: %g is not a figure of the paper (1 to 4)",
                                 values[i]);
        else
            a->only[(int)values[i]] = 1;
    }
    free(values);
    return status;
}

static int make_figures(const figures_args *a) {
    const figure_settings *set = a->quick ? &quick_settings : &full_settings;
    bn_error err;
    char path[4200];
    summary_csv csv;
    csv.used = (size_t)snprintf(csv.text, sizeof csv.text,
                                "figure,dataset,arch,columns,columns_measured,"
                                "mean_abs_decades,max_abs_decades,mean_decades,"
                                "lr_step_decades\n");
    double start = wall_seconds();
    cli_catch_stop_signals();
    if (grid_make_dirs(a->out, &err) ||
        (a->only[1] && (theory_figure(a->out, "mnist", ARCH_FC, &err) ||
                        theory_figure(a->out, "cifar10", ARCH_CNN, &err)))) {
        fprintf(stderr, "bntrain figures: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    dataset_cache cache = {.name = NULL};
    int status = 0;
    for (size_t i = 0; i < N_FIGURE_GRIDS && status == 0; i++)
        if (a->only[figure_grids[i].number])
            status = make_figure(&figure_grids[i], set, a, &cache, &csv);
    for (size_t i = 0; i < N_FIGURE_CURVES && status == 0 && a->only[4]; i++)
        status = make_curves_figure(&figure_curve_sets[i], a, &cache);
    if (cache.name) dataset_free(&cache.ds);
    if (status) return status;
    snprintf(path, sizeof path, "%s/summary.csv", a->out);
    if ((a->only[2] || a->only[3]) && write_file_atomic(path, csv.text, csv.used, &err)) {
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
    int status = options_parse(&figures_command, &a, argc, argv, NULL);
    if (status >= 0) return status;
    if (!a.out) a.out = a.quick ? "figures-quick" : "figures";
    status = parse_only(&a);
    return status >= 0 ? status : make_figures(&a);
}
