/* bench_throughput: how many training samples per second bntrain processes on real data, and
 * how close that is to the machine's GEMM ceiling.
 *
 *   bench_throughput --arch fc --dataset mnist --threads 1
 *   bench_throughput --arch cnn --dataset cifar10 --threads 2
 *   bench_throughput --arch vgg16 --width-mult 0.25 --profile
 *   bench_throughput --gemm --threads 2
 *
 * Training: the dataset is loaded once; each of --threads concurrent runs owns a trainer and
 * single-threaded BLAS, as `bntrain grid` runs them. Each run trains windows of --window steps
 * through trainer_run (so the timed code is the engine's own loop, batch gathering, augmentation
 * and SGD included, model initialisation and data loading excluded) until it runs at a steady
 * speed (steady_state.h), waits for the other runs, then times windows for at least
 * --min-seconds, then evaluates the whole test set, timed on its own. The report ends with one
 * `result key=value ...` line for scripts (bench/run.sh). */
#include <getopt.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/runtime.h"
#include "blas_runtime.h"
#include "bntrain/data.h"
#include "bntrain/experiment.h"
#include "bntrain/train.h"
#include "cli/options.h"
#include "engine/parallel.h"
#include "engine/settings.h"
#include "gemm_ceiling.h"
#include "steady_state.h"

enum { EXIT_USAGE = 2, EXIT_RUNTIME = 1 };

/* The big square of the GEMM ceiling: large enough that OpenBLAS runs at its peak. */
#define SQUARE_SIZE 2048
/* Entries of C checked per sgemm call, and the largest error (relative to sum |a b|) that
 * float rounding explains: about K * 2^-24 at worst for the deepest sum here (K = 28800) is
 * 1.7e-3, and typical errors are far smaller. A wrong kernel gives errors of order 1. */
#define CHECK_SAMPLES 64
#define CHECK_TOLERANCE 1e-3

typedef struct {
    int gemm_only, layers;
    bn_experiment net; /* network and training options, the paper's defaults */
    size_t threads, cores_per_run, run_epochs;
    steady_options steady;
    double ceiling_seconds;
} bench_options;

static void print_help(void) {
    printf("usage: bench_throughput [--arch NAME] [--dataset NAME] [options]\n"
           "       bench_throughput --gemm [--threads N]\n\n"
           "Steady-state training throughput (batch 128, BN, ReLU, mse, SGD momentum 0.9) on\n"
           "real data, excluding data loading, initialisation and evaluation; the test-set\n"
           "evaluation time; and the GEMM ceiling measured in the same process.\n\n"
           "options:\n"
           "  --arch NAME          fc, cnn, vgg16, preact-resnet18, preact-resnetN (default fc)\n"
           "  --width-mult F       vgg16, preact-resnet: channel counts times F (default 1)\n"
           "  --augment on|off     default on for vgg16 and preact-resnet, as bntrain trains them\n"
           "  --dataset NAME       default mnist for fc, cifar10 for the others\n"
           "  --data-dir DIR       data root (default $BNTRAIN_DATA, else data/)\n"
           "  --threads N          concurrent independent runs, one core each (default 1)\n"
           "  --cores-per-run M    cores each run's kernels use (default 1; same results)\n"
           "  --window N           steps per timing window (default 50)\n"
           "  --min-warmup N       warm up at least N steps, until two windows agree (200)\n"
           "  --max-warmup N       stop waiting for two windows to agree after N steps (1000)\n"
           "  --tolerance F        two windows agree if they differ by at most F (0.03)\n"
           "  --min-seconds S      time whole windows for at least S seconds (default 5)\n"
           "  --batch N            mini-batch size (default 128)\n"
           "  --run-epochs E       epochs of the grid run that runs/hour counts (default 5)\n"
           "  --ceiling-seconds S  seconds for each GEMM ceiling measurement (default 1)\n"
           "  --winograd KIND      auto (F(4x4,3x3), F(2x2,3x3) on small planes; default) or\n"
           "                       f2 (F(2x2,3x3) everywhere), for A/B runs\n"
           "  --profile            also the milliseconds per step of each layer's forward and\n"
           "                       backward pass in the first run's timed steps, and their\n"
           "                       shares (--layers: the same)\n"
           "  --gemm               only the GEMM ceiling: every sgemm of both networks' steps\n"
           "                       and a %d^3 square, on 1 and on --threads threads\n",
           SQUARE_SIZE);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "bench_throughput: ");
    vfprintf(stderr, fmt, args);
    fprintf(stderr, " (see --help)\n");
    va_end(args);
    return EXIT_USAGE;
}

enum {
    OPT_GEMM = 2000,
    OPT_THREADS,
    OPT_CORES_PER_RUN,
    OPT_WINDOW,
    OPT_MIN_WARMUP,
    OPT_MAX_WARMUP,
    OPT_TOLERANCE,
    OPT_MIN_SECONDS,
    OPT_RUN_EPOCHS,
    OPT_CEILING,
    OPT_LAYERS,
    OPT_HELP_BENCH,
    OPT_ARCH,
    OPT_DATASET,
    OPT_DATA_DIR,
    OPT_BATCH,
    OPT_WIDTH_MULT,
    OPT_AUGMENT,
    OPT_WINOGRAD
};

static const struct option bench_long_options[] = {
    {"arch", required_argument, NULL, OPT_ARCH},
    {"dataset", required_argument, NULL, OPT_DATASET},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"width-mult", required_argument, NULL, OPT_WIDTH_MULT},
    {"augment", required_argument, NULL, OPT_AUGMENT},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"cores-per-run", required_argument, NULL, OPT_CORES_PER_RUN},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"min-warmup", required_argument, NULL, OPT_MIN_WARMUP},
    {"max-warmup", required_argument, NULL, OPT_MAX_WARMUP},
    {"tolerance", required_argument, NULL, OPT_TOLERANCE},
    {"min-seconds", required_argument, NULL, OPT_MIN_SECONDS},
    {"run-epochs", required_argument, NULL, OPT_RUN_EPOCHS},
    {"ceiling-seconds", required_argument, NULL, OPT_CEILING},
    {"winograd", required_argument, NULL, OPT_WINOGRAD},
    {"gemm", no_argument, NULL, OPT_GEMM},
    {"layers", no_argument, NULL, OPT_LAYERS},
    {"profile", no_argument, NULL, OPT_LAYERS},
    {"help", no_argument, NULL, OPT_HELP_BENCH},
    {NULL, 0, NULL, 0},
};

static size_t *size_option(bench_options *o, int code) {
    switch (code) {
    case OPT_THREADS:
        return &o->threads;
    case OPT_CORES_PER_RUN:
        return &o->cores_per_run;
    case OPT_WINDOW:
        return &o->steady.window_steps;
    case OPT_MIN_WARMUP:
        return &o->steady.min_warmup_steps;
    case OPT_MAX_WARMUP:
        return &o->steady.max_warmup_steps;
    case OPT_RUN_EPOCHS:
        return &o->run_epochs;
    default:
        return NULL;
    }
}

/* Returns -1 to go on, else the exit status (0 after --help). */
static int apply_option(bench_options *o, int code, const char *arg, const char *name) {
    bn_error err;
    size_t *size = size_option(o, code);
    if (size) {
        if (parse_size(name, arg, size, &err)) return usage_error("%s", err.msg);
        if (*size == 0 && code != OPT_MIN_WARMUP) return usage_error("--%s must be positive", name);
        return -1;
    }
    switch (code) {
    case OPT_GEMM:
        o->gemm_only = 1;
        return -1;
    case OPT_LAYERS:
        o->layers = 1;
        return -1;
    case OPT_HELP_BENCH:
        print_help();
        return 0;
    case OPT_WINOGRAD:
        if (strcmp(arg, "auto") && strcmp(arg, "f2"))
            return usage_error("--winograd must be auto or f2, not '%s'", arg);
        settings_force_winograd_f2(strcmp(arg, "f2") == 0);
        return -1;
    case OPT_CEILING:
    case OPT_TOLERANCE:
    case OPT_MIN_SECONDS: {
        double *value = code == OPT_CEILING     ? &o->ceiling_seconds
                        : code == OPT_TOLERANCE ? &o->steady.tolerance
                                                : &o->steady.min_seconds;
        if (parse_double(name, arg, value, &err)) return usage_error("%s", err.msg);
        return *value > 0.0 ? -1 : usage_error("--%s must be positive", name);
    }
    default:
        if (options_apply(options_model, &o->net, name, arg, &err) < 0 ||
            options_apply(options_training, &o->net, name, arg, &err) < 0)
            return usage_error("%s", err.msg);
        return -1;
    }
}

static int parse_args(int argc, char **argv, bench_options *o) {
    memset(o, 0, sizeof *o);
    experiment_defaults(&o->net);
    o->threads = 1;
    o->cores_per_run = 1;
    steady_defaults(&o->steady);
    o->run_epochs = o->net.epochs;
    o->ceiling_seconds = 1.0;
    int code, index = 0;
    opterr = 0;
    while ((code = getopt_long(argc, argv, "", bench_long_options, &index)) != -1) {
        if (code == '?' || code == ':')
            return usage_error("unknown option or missing value: '%s'", argv[optind - 1]);
        const char *name = "option";
        for (const struct option *opt = bench_long_options; opt->name; opt++)
            if (opt->val == code) name = opt->name;
        int status = apply_option(o, code, optarg, name);
        if (status >= 0) return status;
    }
    if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o->net.dataset) o->net.dataset = o->net.arch == ARCH_FC ? "mnist" : "cifar10";
    /* the deep networks train with cross-entropy, as Fig. 4 does (pytorch_bench.py too): with
     * the squared loss a full-width VGG16 diverged in PyTorch at the bench's lr */
    if (arch_is_deep(o->net.arch)) o->net.loss = LOSS_CE;
    if (o->steady.max_warmup_steps < o->steady.min_warmup_steps)
        return usage_error("--max-warmup %zu is below --min-warmup %zu", o->steady.max_warmup_steps,
                           o->steady.min_warmup_steps);
    return -1;
}

/* ---- GEMM ceiling ---- */

static const char *op_name(const gemm_op *op) {
    static const char *const names[2][2] = {{"NN", "NT"}, {"TN", "TT"}};
    return names[op->trans_a][op->trans_b];
}

static int time_ops(const gemm_op *ops, size_t n, size_t threads, double seconds,
                    gemm_timing *timing) {
    if (gemm_time_sequence(ops, n, threads, seconds, timing) == 0) return 0;
    fprintf(stderr, "bench_throughput: out of memory for the GEMM buffers\n");
    return -1;
}

/* The paper's network for a dataset's image shape, and its GEMM calls at batch size batch. */
static int network_ops(bn_arch arch, const char *dataset, size_t batch, gemm_op *ops,
                       size_t *n_ops) {
    size_t c, h, w;
    bn_model_spec spec;
    bn_model model;
    bn_error err;
    if (dataset_shape(dataset, &c, &h, &w)) return -1;
    model_spec_paper(&spec, arch, c, h, w, 1);
    if (model_create(&model, &spec, batch, &err)) {
        fprintf(stderr, "bench_throughput: %s\n", err.msg);
        return -1;
    }
    *n_ops = gemm_ops_of_model(&model, batch, ops);
    model_free(&model);
    return 0;
}

/* One network's step: every call alone on one thread (checked against a double-precision
 * reference, then timed), then the whole step on 1 and on `threads` threads. Fills the
 * per-core GFLOP/s of the step on 1 and on all threads, and raises *max_error. */
static int report_network(bn_arch arch, const char *dataset, const bench_options *o,
                          double *gflops_1t, double *gflops_nt, double *max_error) {
    gemm_op ops[GEMM_MAX_OPS];
    size_t n_ops;
    gemm_timing t;
    if (network_ops(arch, dataset, o->net.batch, ops, &n_ops)) return -1;
    printf("%s/%s step at batch %zu: %zu sgemm calls, %.2f MFLOP per sample\n", arch_name(arch),
           dataset, o->net.batch, n_ops, 1e-6 * gemm_ops_flops(ops, n_ops) / (double)o->net.batch);
    printf("  layer  role         op      M      N      K   GFLOP/s (1 thread)   max error\n");
    for (size_t i = 0; i < n_ops; i++) {
        double error = gemm_op_check(&ops[i], CHECK_SAMPLES, 1 + i);
        if (error < 0.0 || time_ops(&ops[i], 1, 1, 0.25 * o->ceiling_seconds, &t)) return -1;
        printf("  %5zu  %-11s  %s  %5zu  %5zu  %5zu   %7.1f              %9.2e%s\n", ops[i].layer,
               ops[i].role, op_name(&ops[i]), ops[i].m, ops[i].n, ops[i].k, t.gflops_per_core,
               error, error <= CHECK_TOLERANCE ? "" : "  WRONG");
        if (!(error <= *max_error)) *max_error = error;
    }
    if (time_ops(ops, n_ops, 1, o->ceiling_seconds, &t)) return -1;
    *gflops_1t = t.gflops_per_core;
    printf("  whole step, 1 thread: %.1f GFLOP/s, %.2f ms per step\n", t.gflops_per_core,
           1e3 * t.seconds_per_sequence);
    if (time_ops(ops, n_ops, o->threads, o->ceiling_seconds, &t)) return -1;
    *gflops_nt = t.gflops_per_core;
    printf("  whole step, %zu threads at once: %.1f GFLOP/s per core, %.1f in all\n\n", o->threads,
           t.gflops_per_core, t.gflops_total);
    return 0;
}

static int run_gemm_only(const bench_options *o) {
    gemm_op square = gemm_op_square(SQUARE_SIZE);
    gemm_timing one, all;
    printf("GEMM ceiling: single-threaded OpenBLAS sgemm, %s kernels, %zu cores\n\n", blas_kernel(),
           runtime_cores());
    if (time_ops(&square, 1, 1, o->ceiling_seconds, &one) ||
        time_ops(&square, 1, o->threads, o->ceiling_seconds, &all))
        return EXIT_RUNTIME;
    printf("square %d^3: %.1f GFLOP/s on 1 thread; %zu threads at once: %.1f per core, "
           "%.1f in all\n\n",
           SQUARE_SIZE, one.gflops_per_core, o->threads, all.gflops_per_core, all.gflops_total);
    double fc_1t, fc_nt, cnn_1t, cnn_nt, max_error = gemm_op_check(&square, CHECK_SAMPLES, 0);
    if (max_error < 0.0 || report_network(ARCH_FC, "mnist", o, &fc_1t, &fc_nt, &max_error) ||
        report_network(ARCH_CNN, "cifar10", o, &cnn_1t, &cnn_nt, &max_error))
        return EXIT_RUNTIME;
    printf("largest error of any sgemm checked: %.2e (%s)\n\n", max_error,
           max_error <= CHECK_TOLERANCE ? "float rounding" : "WRONG RESULTS from this kernel");
    printf("result mode=gemm kernel=%s cores=%zu threads=%zu square_gflops_1t=%.2f "
           "square_gflops_per_core=%.2f square_gflops_total=%.2f fc_step_gflops_1t=%.2f "
           "fc_step_gflops_per_core=%.2f cnn_step_gflops_1t=%.2f cnn_step_gflops_per_core=%.2f "
           "max_error=%.3g\n",
           blas_kernel(), runtime_cores(), o->threads, one.gflops_per_core, all.gflops_per_core,
           all.gflops_total, fc_1t, fc_nt, cnn_1t, cnn_nt, max_error);
    return max_error <= CHECK_TOLERANCE ? 0 : EXIT_RUNTIME;
}

/* ---- training throughput ---- */

typedef struct {
    steady_result steady; /* warm-up, timed steps and their seconds */
    double eval_seconds;  /* the whole test set, eval mode */
    int failed;
    /* --layers: the model's layer_seconds over the timed steps, and its layers */
    double layer_seconds[2 * BN_MAX_LAYERS];
    size_t n_layers;
    bn_layer layers[BN_MAX_LAYERS];
} run_timing;

static int keep_epoch_seconds(const bn_epoch_stats *stats, void *ctx) {
    *(double *)ctx = stats->seconds;
    return 0;
}

/* One epoch over the first `steps` batches of the training set: one window of the steady-state
 * timing. The test set is cut to one image so that the epoch's time is training alone;
 * trainer_run initialises the model before the epoch's clock starts. Returns -1 if the run
 * exploded. */
static int timed_epoch(bn_trainer *t, const bn_dataset *ds, const bn_train_config *cfg,
                       size_t steps, double *seconds) {
    bn_dataset view = *ds;
    view.train.n = steps * cfg->batch;
    view.test.n = 1;
    bn_run_result result;
    trainer_run(t, &view, cfg, keep_epoch_seconds, seconds, NULL, &result);
    return result.exploded || result.epochs_done != 1 ? -1 : 0;
}

/* One epoch of the paper's training; the other fields keep trainer_run's defaults (zero). */
static bn_train_config train_config(const bn_experiment *o, uint64_t seed) {
    bn_train_config cfg = experiment_train_config(o, NULL);
    cfg.epochs = 1;
    cfg.seed = seed;
    return cfg;
}

/* One run's steps, as the steady-state timing runs them (steady_run_fn). */
typedef struct {
    bn_trainer *trainer;
    const bn_dataset *ds;
    const bn_train_config *cfg;
} run_window;

static double run_window_steps(void *ctx, size_t steps) {
    run_window *w = ctx;
    double seconds;
    return timed_epoch(w->trainer, w->ds, w->cfg, steps, &seconds) ? -1.0 : seconds;
}

/* Every run starts its timed steps together, after all have warmed up, so that the runs
 * compete for memory bandwidth and caches all along, as a grid's runs do. */
static void time_runs(const bench_options *o, const bn_model_spec *spec, const bn_dataset *ds,
                      run_timing *timings) {
    size_t window = o->steady.window_steps;
    blas_set_threads(1);
    /* A thread per core: the first o->threads train, the others take the runs' kernel tasks
     * (parallel.h) from the barriers they wait at, as a grid's idle threads do. */
#pragma omp parallel num_threads((int)(o->threads * o->cores_per_run))
    {
        size_t i = (size_t)omp_get_thread_num();
        int trains = i < o->threads;
        run_timing *r = trains ? &timings[i] : NULL;
        bn_trainer trainer;
        bn_error err;
        bn_train_config cfg = train_config(&o->net, 1 + i);
        run_window steps = {&trainer, ds, &cfg};
        parallel_set_threads(o->cores_per_run);
        if (trains) {
            r->failed = trainer_create(&trainer, spec, o->net.batch, window * o->net.batch, &err);
            if (r->failed) fprintf(stderr, "bench_throughput: run %zu: %s\n", i, err.msg);
            if (!r->failed)
                r->failed = steady_warm_up(&o->steady, run_window_steps, &steps, &r->steady);
        }
#pragma omp barrier
        if (trains && !r->failed && o->layers) {
            memset(r->layer_seconds, 0, sizeof r->layer_seconds);
            trainer.model.layer_seconds = r->layer_seconds;
            r->n_layers = trainer.model.n_layers;
            memcpy(r->layers, trainer.model.layers, r->n_layers * sizeof *r->layers);
        }
        if (trains && !r->failed)
            r->failed = steady_time(&o->steady, run_window_steps, &steps, &r->steady);
        if (trains && !r->failed) trainer.model.layer_seconds = NULL;
        if (trains && r->failed)
            fprintf(stderr, "bench_throughput: run %zu failed or exploded\n", i);
#pragma omp barrier
        if (trains && !r->failed) {
            double start = wall_seconds(), loss, accuracy;
            trainer_evaluate(&trainer, ds, &ds->test, o->net.loss, &loss, &accuracy);
            r->eval_seconds = wall_seconds() - start;
        }
        if (trains) trainer_free(&trainer); /* also safe after a failed trainer_create */
    }
}

typedef struct {
    double samples_per_s;         /* all runs together */
    double samples_per_s_per_run; /* mean over runs */
    double eval_seconds;          /* mean over runs */
    double epoch_seconds;         /* one run's full epoch plus test evaluation */
    double runs_per_hour;         /* grid runs of run_epochs epochs, all threads */
} throughput;

static double run_samples_per_s(const bench_options *o, const run_timing *r) {
    return (double)(r->steady.timed_steps * o->net.batch) / r->steady.timed_seconds;
}

static int summarise(const bench_options *o, const bn_dataset *ds, const run_timing *timings,
                     throughput *out) {
    memset(out, 0, sizeof *out);
    double n = (double)o->threads;
    for (size_t i = 0; i < o->threads; i++) {
        if (timings[i].failed) return -1;
        out->samples_per_s += run_samples_per_s(o, &timings[i]);
        out->eval_seconds += timings[i].eval_seconds / n;
    }
    out->samples_per_s_per_run = out->samples_per_s / n;
    /* trainer_run drops the last partial batch of an epoch. */
    double epoch_samples = (double)(ds->train.n / o->net.batch * o->net.batch);
    double train_epoch_seconds = epoch_samples / out->samples_per_s_per_run;
    out->epoch_seconds = train_epoch_seconds + out->eval_seconds;
    /* A grid run evaluates the test set once, after its last epoch. */
    out->runs_per_hour =
        n * 3600.0 / ((double)o->run_epochs * train_epoch_seconds + out->eval_seconds);
    return 0;
}

typedef struct {
    double flops_per_sample;   /* GEMM work of one training sample */
    double peak_gflops;        /* the square, per core, with o->threads threads at once */
    double step_gflops;        /* the network's own GEMM calls alone, per core */
    double gemm_samples_per_s; /* per run, if everything but the GEMMs were free */
} ceiling;

static int measure_ceiling(const bench_options *o, const bn_model *model, ceiling *c) {
    gemm_op ops[GEMM_MAX_OPS], square = gemm_op_square(SQUARE_SIZE);
    size_t n_ops = gemm_ops_of_model(model, o->net.batch, ops);
    gemm_timing peak, step;
    /* as many single-threaded sgemm callers at once as the runs use cores */
    size_t callers = o->threads * o->cores_per_run;
    if (time_ops(&square, 1, callers, o->ceiling_seconds, &peak) ||
        time_ops(ops, n_ops, callers, o->ceiling_seconds, &step))
        return -1;
    c->flops_per_sample = gemm_ops_flops(ops, n_ops) / (double)o->net.batch;
    c->peak_gflops = peak.gflops_per_core;
    c->step_gflops = step.gflops_per_core;
    c->gemm_samples_per_s = (double)o->net.batch / step.seconds_per_sequence;
    return 0;
}

static const char *layer_name(const bn_layer *layers, size_t i) {
    switch (layers[i].kind) {
    case LAYER_LINEAR:
        return "linear";
    case LAYER_CONV:
        return "conv";
    case LAYER_BATCHNORM: /* timed with the ReLU after it, which the engine fuses */
        return layers[i + 1].kind == LAYER_RELU ? "batchnorm+relu" : "batchnorm";
    case LAYER_RELU:
        return "relu";
    case LAYER_FLATTEN:
        return "flatten";
    case LAYER_MAXPOOL:
        return "maxpool";
    case LAYER_AVGPOOL:
        return "avgpool";
    case LAYER_RESIDUAL:
        return "residual";
    }
    return "?";
}

/* --layers: run 0's milliseconds per timed step in each layer, and the share of the step. */
static void print_layers(const bench_options *o, const run_timing *r) {
    double steps = (double)r->steady.timed_steps, step_ms = 1e3 * r->steady.timed_seconds / steps;
    printf("layers of run 0, ms per step (of %.2f ms; the rest: loss, SGD outside the layers, "
           "batch copies):\n",
           step_ms);
    printf("  layer  kind             out     forward  backward   share\n");
    for (size_t i = 0; i < r->n_layers; i++) {
        double f = r->layer_seconds[i], b = r->layer_seconds[BN_MAX_LAYERS + i];
        if (f == 0.0 && b == 0.0) continue;
        double f_ms = 1e3 * f / steps, b_ms = 1e3 * b / steps;
        printf("  %5zu  %-15s %5zu  %8.3f  %8.3f  %5.1f %%\n", i, layer_name(r->layers, i),
               r->layers[i].out_c, f_ms, b_ms, 100.0 * (f_ms + b_ms) / step_ms);
    }
}

static void print_report(const bench_options *o, const char *arch, const bn_dataset *ds,
                         const run_timing *timings, const throughput *tp, const ceiling *c,
                         double load_seconds) {
    const bn_experiment *net = &o->net;
    double per_core = tp->samples_per_s_per_run / (double)o->cores_per_run;
    double gflops = 1e-9 * c->flops_per_sample * per_core;
    printf("data: %s loaded in %.2f s (%zu train, %zu test images)\n", ds->name, load_seconds,
           ds->train.n, ds->test.n);
    int all_steady = 1;
    for (size_t i = 0; i < o->threads; i++) {
        const steady_result *st = &timings[i].steady;
        all_steady &= st->steady;
        printf("run %zu: %.1f samples/s training (%zu steps in %.2f s after %zu warm-up steps, "
               "%s), test set evaluated in %.2f s\n",
               i, run_samples_per_s(o, &timings[i]), st->timed_steps, st->timed_seconds,
               st->warmup_steps, st->steady ? "steady" : "NOT STEADY: windows never agreed",
               timings[i].eval_seconds);
    }
    printf("training: %.1f samples/s in all, %.1f per run (batch %zu; warm-up in windows of %zu "
           "steps until two agree within %.0f %% after at least %zu steps, then at least %.1f s "
           "timed)\n",
           tp->samples_per_s, tp->samples_per_s_per_run, net->batch, o->steady.window_steps,
           100.0 * o->steady.tolerance, o->steady.min_warmup_steps, o->steady.min_seconds);
    if (o->layers) print_layers(o, &timings[0]);
    printf("full epoch per run (estimated: %zu steps at that rate + measured test evaluation): "
           "%.1f s\n",
           ds->train.n / net->batch, tp->epoch_seconds);
    printf("runs/hour (grid runs: %zu epochs on the full training set, then the test set; "
           "%zu at once): %.1f\n",
           o->run_epochs, o->threads, tp->runs_per_hour);
    printf("GEMM work: %.2f MFLOP per sample -> %.1f GFLOP/s per core\n",
           1e-6 * c->flops_per_sample, gflops);
    printf("GEMM ceiling per core (%zu at once): %d^3 square %.1f GFLOP/s -> %.0f %% of it; "
           "this network's sgemm calls alone %.1f GFLOP/s = %.1f samples/s -> %.0f %% of it\n",
           o->threads * o->cores_per_run, SQUARE_SIZE, c->peak_gflops,
           100.0 * gflops / c->peak_gflops, c->step_gflops, c->gemm_samples_per_s,
           100.0 * per_core / c->gemm_samples_per_s);
    printf("result mode=train arch=%s dataset=%s threads=%zu cores_per_run=%zu gemm=%s "
           "batch=%zu width_mult=%g augment=%d steps=%zu warmup_steps=%zu steady=%d kernel=%s "
           "samples_per_s=%.2f samples_per_s_per_run=%.2f mflop_per_sample=%.3f "
           "gflops_per_core=%.2f peak_gflops_per_core=%.2f frac_peak=%.4f "
           "gemm_bound_samples_per_s=%.2f frac_gemm_bound=%.4f eval_seconds=%.3f "
           "epoch_seconds=%.2f runs_per_hour=%.2f load_seconds=%.2f\n",
           arch, ds->name, o->threads, o->cores_per_run, cpu_isa_name(), net->batch,
           net->width_mult, experiment_augment(net), timings[0].steady.timed_steps,
           timings[0].steady.warmup_steps, all_steady, blas_kernel(), tp->samples_per_s,
           tp->samples_per_s_per_run, 1e-6 * c->flops_per_sample, gflops, c->peak_gflops,
           gflops / c->peak_gflops, c->gemm_samples_per_s, per_core / c->gemm_samples_per_s,
           tp->eval_seconds, tp->epoch_seconds, tp->runs_per_hour, load_seconds);
}

static int check_sizes(const bench_options *o, const bn_dataset *ds) {
    size_t longest = o->steady.window_steps, needed;
    if (bn_mul_size(longest, o->net.batch, &needed) || needed > ds->train.n) {
        fprintf(stderr,
                "bench_throughput: --window %zu steps of %zu need more than the %zu training "
                "images of %s\n",
                longest, o->net.batch, ds->train.n, ds->name);
        return -1;
    }
    return 0;
}

static int run_training(const bench_options *o) {
    bn_error err;
    bn_model_spec spec;
    bn_dataset ds;
    char arch[32];
    if (experiment_model_spec(&o->net, &spec, &err)) return usage_error("%s", err.msg);
    arch_label(&spec, arch, sizeof arch);
    printf("bench_throughput: %s (width x%g, augmentation %s) on %s, batch %zu, %zu concurrent "
           "run(s) on %zu core(s) each, "
           "bntrain's %s GEMM; ceiling: OpenBLAS %s kernels%s%s%s; %zu cores\n",
           arch, o->net.width_mult, experiment_augment(&o->net) ? "on" : "off", o->net.dataset,
           o->net.batch, o->threads, o->cores_per_run, cpu_isa_name(), blas_kernel(),
           *blas_kernel_note() ? " (" : "", blas_kernel_note(), *blas_kernel_note() ? ")" : "",
           runtime_cores());
    double start = wall_seconds();
    if (dataset_load(&ds, o->net.dataset, o->net.data_dir, &err)) {
        fprintf(stderr, "bench_throughput: %s\n", err.msg);
        return EXIT_RUNTIME;
    }
    double load_seconds = wall_seconds() - start;
    int status = EXIT_RUNTIME;
    bn_model model = {0};
    run_timing *timings = calloc(o->threads, sizeof *timings);
    throughput tp;
    ceiling c;
    if (!timings) {
        fprintf(stderr, "bench_throughput: out of memory\n");
        goto done;
    }
    if (model_create(&model, &spec, o->net.batch, &err)) {
        fprintf(stderr, "bench_throughput: %s\n", err.msg);
        goto done;
    }
    if (check_sizes(o, &ds) || measure_ceiling(o, &model, &c)) goto done;
    time_runs(o, &spec, &ds, timings);
    if (summarise(o, &ds, timings, &tp)) {
        fprintf(stderr, "bench_throughput: a run failed or exploded: no throughput to report\n");
        goto done;
    }
    print_report(o, arch, &ds, timings, &tp, &c, load_seconds);
    status = 0;
done:
    model_free(&model);
    free(timings);
    dataset_free(&ds);
    return status;
}

int main(int argc, char **argv) {
    /* $BNTRAIN_ISA first: the OpenBLAS kernel below is chosen for the level in force. */
    bn_error err;
    if (cpu_isa_from_env(&err)) {
        fprintf(stderr, "bench_throughput: %s\n", err.msg);
        return 2;
    }
    /* The ceiling is OpenBLAS at its best for that level, chosen as bntrain chooses it. */
    blas_choose_kernel(argv);
    bench_options o;
    int status = parse_args(argc, argv, &o);
    if (status >= 0) return status;
    return o.gemm_only ? run_gemm_only(&o) : run_training(&o);
}
