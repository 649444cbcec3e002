/* bntrain grid: the (gamma, log10 eta) phase diagram, parallel, crash-safe and resumable. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/runtime.h"
#include "bntrain/data.h"
#include "bntrain/experiment.h"
#include "bntrain/train.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "grid/merge.h"
#include "grid/runner.h"
#include "grid/shard.h"

typedef struct {
    bn_grid_config grid;
    const char *gamma_text, *lr_text, *sigma_text;
    const char *shard_text; /* --shard K/N or auto */
    int merge, partial;
    char default_out[256]; /* grid-DATASET-ARCH[-nobn] when --out is not given */
} grid_args;

static int set_seed_per_cell(void *field, const char *name, const char *arg, bn_error *err) {
    *(bn_seed_mode *)field = SEED_PER_CELL;
    return 0;
}

#define GRID(field) offsetof(grid_args, grid.field)

static const cli_option grid_options[] = {
    OPTION_TITLE("grid options:"),
    OPTION_VALUE("gamma", "RANGE", option_set_text, offsetof(grid_args, gamma_text),
                 "BatchNorm scales, start:stop:step or a,b,c (default 0.1:4.5:0.2)"),
    OPTION_VALUE("log10-lr", "RANGE", option_set_text, offsetof(grid_args, lr_text),
                 "log10 learning rates (default -3:0.5:0.125)"),
    OPTION_VALUE("restarts", "N", option_set_count, GRID(n_restarts),
                 "runs per cell with different seeds (default 5)"),
    OPTION_INCLUDE(options_threads, GRID(threads)),
    OPTION_VALUE("out", "DIR", option_set_text, GRID(out_dir),
                 "output folder (default grid-DATASET-ARCH[-nobn])"),
    OPTION_FLAG("force", option_set_flag, GRID(force),
                "discard the results in DIR and start afresh"),
    OPTION_FLAG("seed-per-cell", set_seed_per_cell, GRID(seed_mode),
                "a seed per cell and restart (default: per restart, so every\n"
                "cell of a restart starts from the same weights and batches)"),
    OPTION_VALUE("sweep-sigma-w2", "RANGE", option_set_text, offsetof(grid_args, sigma_text),
                 "x axis is sigma_w^2 instead of gamma (the paper's\n"
                 "vanilla baseline, Fig. 3; use with --no-bn)"),
    OPTION_INCLUDE(options_color_scale, GRID(log_color_scale)),
    OPTION_VALUE("title-note", "TEXT", option_set_text, GRID(title_note),
                 "words added to the heatmap title"),
    OPTION_FLAG("quiet", option_set_flag, GRID(quiet), "no progress output"),
    OPTION_TITLE("cluster options (README, section Cluster):"),
    OPTION_VALUE("shard", "K/N|auto", option_set_text, offsetof(grid_args, shard_text),
                 "run shard K of N of the grid (every N-th run) into DIR/runs.K-of-N.csv;\n"
                 "auto: K and N from the Slurm job array (SLURM_ARRAY_TASK_*)"),
    OPTION_FLAG("merge", option_set_flag, offsetof(grid_args, merge),
                "train nothing: join the shards' runs in DIR and write cells.csv,\n"
                "theory.csv and the heatmap (exit 1 if runs are missing)"),
    OPTION_FLAG("partial", option_set_flag, offsetof(grid_args, partial),
                "with --merge: draw even if runs are missing"),
    OPTION_TITLE("network and training options:"),
    OPTION_INCLUDE(options_model, GRID(experiment)),
    /* Accepted as by train; the grid's log describes the runtime unless --quiet. */
    OPTION_IGNORE(options_verbose),
    OPTION_INCLUDE(options_training, GRID(experiment)),
    OPTION_END,
};

const cli_command grid_command = {
    .name = "grid",
    .about = "usage: bntrain grid --dataset NAME [options]\n\n"
             "Trains a network for every (gamma, log10 eta) cell and restart, and writes to the\n"
             "output folder: config.json, runs.csv (one line per finished run, appended at once),\n"
             "cells.csv (per cell: mean and std of the test loss over restarts, explosions),\n"
             "theory.csv (eta_bar of the mean-field theory) and heatmap.png / heatmap.svg.\n"
             "Running the same command again resumes: finished runs are skipped.\n"
             "On a cluster, --shard K/N runs a slice of the grid per job and --merge joins\n"
             "the slices; the whole grid (no --shard) counts the shards' runs as done.\n\n",
    .options = grid_options,
    .target_bytes = sizeof(grid_args),
};

/* Caps that keep a grid's bookkeeping (a record and a flag per run, held in memory) small
 * beside its training: the paper's grids have 5 restarts and 3335 runs. */
enum { MAX_RESTARTS = 10000, MAX_GRID_RUNS = 10000000 };

/* Values of an axis that the network cannot take: gamma and sigma_w^2 must be positive. */
static int check_positive(const char *option, const double *values, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(values[i] > 0.0))
            return usage_error("grid", "--%s: values must be positive, got %.12g", option,
                               values[i]);
    return -1;
}

/* Every check that the options alone allow, made before the output folder is touched. */
static int check_size(const bn_grid_config *g) {
    if (g->n_restarts > MAX_RESTARTS)
        return usage_error("grid", "--restarts: %zu is too many, at most %d", g->n_restarts,
                           MAX_RESTARTS);
    double runs = (double)g->n_x * (double)g->n_lr * (double)g->n_restarts;
    if (runs > MAX_GRID_RUNS)
        return usage_error("grid", "the grid has %.0f runs, at most %d", runs, MAX_GRID_RUNS);
    return -1;
}

/* --shard, --merge and --partial, checked before anything is read or written. */
static int resolve_cluster_options(grid_args *a) {
    bn_grid_config *g = &a->grid;
    if (a->partial && !a->merge) return usage_error("grid", "--partial goes with --merge");
    if (!a->shard_text) return -1;
    if (a->merge) return usage_error("grid", "--shard and --merge: merge once, after every shard");
    if (g->force)
        return usage_error("grid", "--shard and --force: shards cannot start afresh over each "
                                   "other; remove DIR, or choose another --out");
    bn_error err;
    if (shard_parse(a->shard_text, &g->shard, &g->n_shards, &err))
        return usage_error("grid", "%s", err.msg);
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
        return check_positive("gamma", gammas, n_gammas);
    }
    g->x_name = "sigma_w2";
    if (n_gammas != 1) {
        free(gammas);
        return usage_error("grid", "--sweep-sigma-w2 needs a single --gamma value");
    }
    g->experiment.gamma = gammas[0];
    free(gammas);
    if (check_positive("gamma", &g->experiment.gamma, 1) >= 0) return EXIT_USAGE;
    if (parse_range("sweep-sigma-w2", a->sigma_text, &g->x_values, &g->n_x, &err))
        return usage_error("grid", "%s", err.msg);
    return check_positive("sweep-sigma-w2", g->x_values, g->n_x);
}

/* One word of a command line as the shell reads it back: bare if it holds only characters
 * no shell treats specially, else in single quotes (a quote inside as '\''). */
static void print_shell_word(FILE *out, const char *word) {
    if (*word && strspn(word, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                              "-_.,:/=+@%") == strlen(word)) {
        fputs(word, out);
        return;
    }
    fputc('\'', out);
    for (const char *c = word; *c; c++)
        if (*c == '\'')
            fputs("'\\''", out);
        else
            fputc(*c, out);
    fputc('\'', out);
}

static void log_start(int argc, char **argv, const bn_grid_config *g, size_t threads) {
    if (g->quiet) return;
    fprintf(stderr, "bntrain %s: grid", BNTRAIN_VERSION);
    for (int i = 1; i < argc; i++) {
        fputc(' ', stderr);
        print_shell_word(stderr, argv[i]);
    }
    fprintf(stderr, "\n");
    runtime_describe(stderr, threads);
}

static const char *runs_word(size_t n) {
    return n == 1 ? "run" : "runs";
}

/* What the grid will hold in memory: the dataset once, a trainer per thread. The trainer is
 * only planned (model_plan sizes the arenas without allocating them). */
static void log_memory(const bn_model_spec *spec, const bn_grid_config *g, const bn_dataset *ds,
                       size_t threads) {
    bn_trainer plan = {.n_order = ds->train.n};
    bn_error err;
    if (model_plan(&plan.model, spec, g->experiment.batch, &err)) return;
    cli_describe_memory("grid", ds, &plan, threads);
    model_free(&plan.model);
}

static void log_end(const bn_grid_summary *s, const bn_grid_config *g) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double cpu = (double)usage.ru_utime.tv_sec + 1e-6 * (double)usage.ru_utime.tv_usec +
                 (double)usage.ru_stime.tv_sec + 1e-6 * (double)usage.ru_stime.tv_usec;
    /* mpirun stops every rank with SIGTERM when one dies or fails, and says which */
    const char *cause = g->cluster ? " (mpirun ends the whole job when a rank dies, fails or is "
                                     "interrupted: its message names the rank)"
                                   : "";
    if (s->interrupted)
        fprintf(stderr,
                "bntrain grid: interrupted by signal %d%s: %zu of %zu %s %s on disk in %s; "
                "run the same command again to resume%s\n",
                s->interrupted, cause, s->done_before + s->done_now, s->total, runs_word(s->total),
                s->done_before + s->done_now == 1 ? "is" : "are", g->out_dir,
                g->cluster ? ", with any number of ranks" : "");
    else if (!g->quiet)
        fprintf(stderr, "bntrain grid: %zu %s done (%zu new), %zu exploded; results in %s\n",
                s->done_before + s->done_now, runs_word(s->done_before + s->done_now), s->done_now,
                s->exploded, g->out_dir);
    if (!g->quiet || s->interrupted)
        fprintf(stderr, "bntrain grid: real %.1f s, cpu %.1f s, peak memory %.1f MiB\n", s->seconds,
                cpu, (double)runtime_peak_rss_bytes() / (1024.0 * 1024.0));
}

/* Names the default folder if --out is not given, and checks the folder's config.json and run
 * log against the command (unless --force): 0, or the exit status after a message. */
static int check_folder(grid_args *a) {
    bn_grid_config *g = &a->grid;
    bn_error err;
    if (!g->out_dir) {
        snprintf(a->default_out, sizeof a->default_out, "grid-%s-%s%s", g->experiment.dataset,
                 arch_name(g->experiment.arch), g->experiment.batchnorm ? "" : "-nobn");
        g->out_dir = a->default_out;
    }
    if (g->force) return 0;
    int check = grid_check_config(g, &err);
    if (check > 0) return usage_error("grid", "%s", err.msg);
    if (check < 0) {
        fprintf(stderr, "bntrain grid: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    return 0;
}

/* grid --merge: the shards' runs joined, and the whole grid's outputs drawn. */
static int merge_grid(grid_args *a) {
    bn_grid_config *g = &a->grid;
    int check = check_folder(a);
    if (check) return check;
    grid_merge_summary m;
    bn_error err;
    int status = grid_merge(g, a->partial, &m, &err);
    if (m.logs.torn_lines)
        fprintf(stderr, "bntrain grid: skipped %zu torn last %s (a shard killed mid-write)\n",
                m.logs.torn_lines, m.logs.torn_lines == 1 ? "line" : "lines");
    if (m.logs.deduplicated)
        fprintf(stderr,
                "bntrain grid: note: %zu %s recorded twice with the same results, counted once "
                "(first: %s)\n",
                m.logs.deduplicated, runs_word(m.logs.deduplicated), m.logs.first_duplicate);
    if (status) {
        fprintf(stderr, "bntrain grid: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    if (m.missing)
        fprintf(stderr, "bntrain grid: warning: drawn with %zu of %zu runs missing (%s)\n",
                m.missing, m.total, m.logs.n_shards ? m.missing_by_shard : "runs.csv only");
    if (!g->quiet || m.missing)
        fprintf(stderr,
                "bntrain grid: merged %zu %s from %zu run %s (%zu shards), %zu exploded; "
                "results in %s\n",
                m.done, runs_word(m.done), m.logs.n_logs, m.logs.n_logs == 1 ? "log" : "logs",
                m.logs.n_shards, m.exploded, g->out_dir);
    return 0;
}

/* A worker rank of an MPI job: loads the data and trains what rank 0 hands it. What stops it
 * is sent to rank 0, which says it (naming this rank) and ends the grid; a worker writes no
 * file and prints nothing of its own. */
static int run_worker(bn_grid_config *g, const bn_model_spec *spec) {
    bn_dataset ds;
    int status = cli_worker_start(g->cluster, cli_check_grid_resources("grid", g, spec),
                                  &g->experiment, &ds);
    if (status) return status;
    grid_work(g, &ds, &cli_stop_signal);
    dataset_free(&ds);
    return 0;
}

static int run_grid(int argc, char **argv, grid_args *a) {
    bn_grid_config *g = &a->grid;
    bn_error err;
    bn_model_spec spec;
    if (experiment_model_spec(&g->experiment, &spec, &err))
        return usage_error("grid", "%s", err.msg);
    if (arch_is_deep(spec.arch))
        return usage_error("grid",
                           "--arch %s: a grid overlays the mean-field theory, which covers "
                           "fc and cnn only; train deep networks with `bntrain train`",
                           arch_name(spec.arch));
    int batch = cli_check_batch("grid", &g->experiment);
    if (batch) return batch;
    int distributed = g->cluster != NULL;
    if (distributed && g->cluster->rank > 0) return run_worker(g, &spec);
    int check = check_folder(a);
    if (check) return check;
    /* rank 0 of an MPI job neither trains nor reads the data: the workers check their own */
    int limits = distributed ? 0 : cli_check_grid_resources("grid", g, &spec);
    if (limits) return limits;
    size_t threads = g->threads ? g->threads : runtime_cores();
    log_start(argc, argv, g, threads);
    bn_dataset ds = {0};
    int status = distributed ? 0 : cli_load_dataset("grid", &g->experiment, &ds);
    if (status) return status;
    if (distributed && !g->quiet)
        cli_log_cluster("grid", g->cluster, g->out_dir);
    else if (!distributed && !g->quiet)
        log_memory(&spec, g, &ds, threads);
    cli_catch_stop_signals();
    bn_grid_summary summary;
    status = grid_run(g, distributed ? NULL : &ds, &cli_stop_signal, &summary, &err);
    dataset_free(&ds);
    if (summary.torn_bytes)
        fprintf(stderr, "bntrain grid: dropped a torn last line (%zu bytes) from runs.csv\n",
                summary.torn_bytes);
    if (status) {
        fprintf(stderr, "bntrain grid: %s\n", err.msg);
        return status > 0 ? EXIT_USAGE : EXIT_RUNTIME;
    }
    log_end(&summary, g);
    return summary.interrupted ? 128 + summary.interrupted : 0;
}

int cmd_grid(int argc, char **argv) {
    grid_args a = {.gamma_text = "0.1:4.5:0.2", .lr_text = "-3:0.5:0.125"};
    experiment_defaults(&a.grid.experiment);
    a.grid.n_restarts = 5;
    a.grid.seed_mode = SEED_PER_RESTART;
    int status = options_parse(&grid_command, &a, argc, argv, NULL);
    if (status < 0 && !a.grid.experiment.dataset)
        status = usage_error("grid", "--dataset is required");
    if (status < 0) status = resolve_axes(&a);
    if (status < 0) status = resolve_cluster_options(&a);
    if (status < 0) status = check_size(&a.grid);
    bn_cluster cluster = {0};
    if (status < 0) status = cli_start_cluster("grid", &cluster, &a.grid.cluster);
    if (status < 0 && a.grid.cluster && (a.merge || a.grid.n_shards))
        status = usage_error("grid", "%s runs in one process, not under mpirun",
                             a.merge ? "--merge" : "--shard");
    if (status < 0) status = a.merge ? merge_grid(&a) : run_grid(argc, argv, &a);
    cluster_end(&cluster);
    free(a.grid.x_values);
    free(a.grid.log10_lrs);
    return status;
}
