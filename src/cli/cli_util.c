/* Helpers shared by the subcommands: usage errors, the resources a run needs checked before
 * it starts, loading an experiment's data, stop signals. */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/resources.h"
#include "base/runtime.h"
#include "bntrain/train.h"
#include "cli/cli.h"

int usage_error(const char *command, const char *fmt, ...) {
    /* under mpirun every rank finds the same error in the same command line: rank 0 says it */
    if (cluster_launched_rank() > 0) {
        cluster_wait_for_rank0_exit();
        return EXIT_USAGE;
    }
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "bntrain %s: ", command);
    vfprintf(stderr, fmt, args);
    fprintf(stderr, " (see bntrain help %s)\n", command);
    va_end(args);
    return EXIT_USAGE;
}

int cli_read_dataset(const bn_experiment *e, bn_dataset *ds, bn_error *err) {
    if (dataset_load(ds, e->dataset, e->data_dir, err)) return EXIT_RUNTIME;
    dataset_truncate_train(ds, e->train_subset);
    size_t n_train = ds->train.n;
    if (e->batch <= n_train) return 0;
    dataset_free(ds);
    bn_fail(err, "--batch %zu is larger than the %zu training images", e->batch, n_train);
    return EXIT_USAGE;
}

int cli_load_dataset(const char *command, const bn_experiment *e, bn_dataset *ds) {
    bn_error err;
    int status = cli_read_dataset(e, ds, &err);
    if (status == EXIT_USAGE) return usage_error(command, "%s", err.msg);
    if (status) fprintf(stderr, "bntrain %s: %s\n", command, err.msg);
    return status;
}

static double mib(size_t bytes) {
    return (double)bytes / (1024.0 * 1024.0);
}

void cli_describe_memory(const char *command, const bn_dataset *ds, const bn_trainer *t,
                         size_t runs) {
    size_t image = ds->channels * ds->height * ds->width;
    size_t data = (ds->train.n + ds->test.n) * (image + 1); /* a byte per pixel and label */
    bn_trainer_memory b = trainer_memory(t);
    fprintf(stderr,
            "bntrain %s: memory: dataset %.0f MiB (8-bit, shared), %.0f MiB per run x %zu "
            "(activations and their gradients %.0f, parameters with gradients and velocities "
            "%.0f, other %.0f)\n",
            command, mib(data), mib(trainer_bytes(t)), runs, mib(b.activations),
            mib(b.parameters), mib(b.other));
}

/* More threads than this per core only slow a run down (they share the cores), yet the results
 * are the same bits on any count, so a few per core stay allowed, to check that claim or to
 * fill cores the affinity mask hides. */
enum { THREADS_PER_CORE_CAP = 4 };

/* Training and test images of a dataset as dataset_load reads them (all of them: --train-subset
 * cuts the training set after loading). Fixed by each dataset's format (the bundled sample:
 * data/README.md). */
static void dataset_images(const char *name, size_t *train, size_t *test) {
    static const struct {
        const char *name;
        size_t train, test;
    } counts[] = {{"mnist", 60000, 10000},
                  {"fashion-mnist", 60000, 10000},
                  {"mnist-sample", 4000, 1000},
                  {"cifar10", 50000, 10000}};
    *train = *test = 0;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (strcmp(name, counts[i].name) == 0) {
            *train = counts[i].train;
            *test = counts[i].test;
        }
}

/* What a command holds: the dataset once (a byte per pixel and a label per image: it stays in
 * the 8-bit form it is read in, and runs normalise their batches), a trainer per run in progress
 * with the scratch its run keeps (a Winograd layer's transformed filters), the scratch each
 * thread keeps (a chunk of lowered or transformed inputs, the GEMM's packing buffers), a
 * measurement's workspace (train --track-lambda's Fisher; probe's network of --samples and its
 * Fisher), and, in address space, a stack per thread the team starts. */
typedef struct {
    size_t dataset_bytes, trainer_bytes, trainers, measure_bytes, stack_bytes, stacks;
    size_t thread_scratch_bytes, threads;
    const char *measure_option; /* the option that sizes the measurement, for the advice */
} memory_need;

static size_t need_bytes(const memory_need *n, int address_space) {
    double total = (double)n->dataset_bytes + (double)n->trainer_bytes * (double)n->trainers +
                   (double)n->thread_scratch_bytes * (double)n->threads +
                   (double)n->measure_bytes;
    if (address_space) total += (double)n->stack_bytes * (double)n->stacks;
    return total >= (double)SIZE_MAX ? SIZE_MAX : (size_t)total;
}

/* The training images of the dataset's `train` that a run keeps: --train-subset, or all. */
static size_t kept_train_images(const bn_experiment *e, size_t train) {
    return e->train_subset && e->train_subset < train ? e->train_subset : train;
}

static int estimate_need(const char *command, const bn_experiment *e, const bn_model_spec *spec,
                         size_t trainers, size_t threads, memory_need *need) {
    size_t channels = 0, height = 0, width = 0; /* the name was checked with the spec */
    dataset_shape(e->dataset, &channels, &height, &width);
    size_t train, test;
    dataset_images(e->dataset, &train, &test);
    size_t kept = kept_train_images(e, train);
    bn_error err;
    size_t run_scratch;
    if (trainer_plan_bytes(spec, e->batch, kept, &need->trainer_bytes, &err) ||
        model_plan_scratch_bytes(spec, e->batch, &run_scratch, &need->thread_scratch_bytes,
                                 &err)) {
        fprintf(stderr, "bntrain %s: %s\n", command, err.msg);
        return EXIT_RUNTIME;
    }
    need->trainer_bytes += run_scratch;
    need->threads = threads;
    need->dataset_bytes = (train + test) * (channels * height * width + 1);
    need->trainers = trainers;
    need->stack_bytes = thread_stack_bytes();
    need->stacks = threads - 1;
    return 0;
}

size_t cli_sample_bytes(const bn_experiment *e, size_t samples) {
    size_t channels = 0, height = 0, width = 0;
    dataset_shape(e->dataset, &channels, &height, &width);
    double bytes = (double)samples * (double)(channels * height * width) * sizeof(float);
    return bytes >= (double)SIZE_MAX ? SIZE_MAX : (size_t)bytes;
}

int cli_check_samples(const char *command, const bn_experiment *e, const char *option,
                      size_t samples, size_t *image_bytes) {
    size_t train, test;
    dataset_images(e->dataset, &train, &test);
    size_t kept = kept_train_images(e, train);
    if (train && samples > kept)
        return usage_error(command, "%s %zu is larger than the %zu training images", option,
                           samples, kept);
    *image_bytes = cli_sample_bytes(e, samples);
    return 0;
}

int cli_check_batch(const char *command, const bn_experiment *e) {
    size_t unused;
    return cli_check_samples(command, e, "--batch", e->batch, &unused);
}

/* Caps an explicit --threads at THREADS_PER_CORE_CAP per core and at `useful` (a grid: its
 * runs left, but never below the cores, whose idle threads help the last runs). */
static size_t cap_threads(const char *command, size_t asked, size_t useful) {
    size_t cores = runtime_cores();
    if (asked == 0) return cores;
    size_t cap = THREADS_PER_CORE_CAP * cores, capped = asked;
    if (useful < cores) useful = cores;
    if (capped > cap) capped = cap;
    if (capped > useful) capped = useful;
    if (capped == asked) return asked;
    if (capped == useful && useful < cap)
        fprintf(stderr,
                "bntrain %s: note: --threads %zu capped at %zu (the runs left, or the cores: "
                "more threads would have nothing to do)\n",
                command, asked, capped);
    else
        fprintf(stderr, "bntrain %s: note: --threads %zu capped at %zu (%dx the %zu cores)\n",
                command, asked, capped, THREADS_PER_CORE_CAP, cores);
    return capped;
}

/* Refuses, with the numbers, a need larger than what any limit leaves. */
static int check_memory(const char *command, const memory_need *need) {
    bn_memory_limit limits[MEMORY_LIMITS_MAX];
    size_t n = memory_limits(limits);
    for (size_t i = 0; i < n; i++) {
        size_t bytes = need_bytes(need, limits[i].address_space);
        if (bytes <= limits[i].available_bytes) continue;
        fprintf(stderr,
                "bntrain %s: not enough memory: needs %.1f MiB (dataset %.1f MiB, %.1f MiB per "
                "run x %zu",
                command, mib(bytes), mib(need->dataset_bytes), mib(need->trainer_bytes),
                need->trainers);
        fprintf(stderr, ", scratch %.1f MiB per thread x %zu", mib(need->thread_scratch_bytes),
                need->threads);
        if (need->measure_bytes)
            fprintf(stderr, ", measurement %.1f MiB", mib(need->measure_bytes));
        if (limits[i].address_space)
            fprintf(stderr, ", thread stacks %.1f MiB x %zu", mib(need->stack_bytes), need->stacks);
        fprintf(stderr, ") but %s leaves %.1f MiB available; use ", limits[i].name,
                mib(limits[i].available_bytes));
        if (need->measure_bytes > need->trainer_bytes * need->trainers)
            fprintf(stderr, "a smaller %s\n", need->measure_option);
        else
            fprintf(stderr, "fewer --threads or a smaller --batch\n");
        return EXIT_RUNTIME;
    }
    return 0;
}

/* Lowers *threads to what the system lets start at once, so OpenMP is never asked for a team
 * it cannot create (libgomp would end the process). */
static void fit_startable_threads(const char *command, size_t *threads) {
    int error;
    size_t started = threads_startable(*threads, &error);
    if (started >= *threads) return;
    fprintf(stderr, "bntrain %s: note: only %zu of %zu threads could be started (%s); using %zu\n",
            command, started, *threads, strerror(error), started);
    *threads = started;
}

/* `runs` networks trained at most one per thread; `useful`: the threads that can have work. */
static int check_resources(const char *command, const bn_experiment *e, const bn_model_spec *spec,
                           size_t runs, size_t useful, size_t measure_bytes,
                           const char *measure_option, size_t *threads) {
    *threads = cap_threads(command, *threads, useful);
    memory_need need;
    size_t trainers = runs < *threads ? runs : *threads;
    int status = estimate_need(command, e, spec, trainers, *threads, &need);
    need.measure_bytes = measure_bytes;
    need.measure_option = measure_option;
    if (status == 0) status = check_memory(command, &need);
    if (status == 0) fit_startable_threads(command, threads);
    return status;
}

/* One run: every thread takes parts of its kernels, so any count has work. */
int cli_check_run_resources(const char *command, const bn_experiment *e, const bn_model_spec *spec,
                            size_t measure_bytes, const char *measure_option, size_t *threads) {
    return check_resources(command, e, spec, 1, SIZE_MAX, measure_bytes, measure_option, threads);
}

int cli_check_grid_resources(const char *command, bn_grid_config *g,
                             const bn_model_spec *spec) {
    size_t left = grid_runs_left(g);
    return check_resources(command, &g->experiment, spec, left, left, 0, NULL, &g->threads);
}

int cli_check_runs_resources(const char *command, const bn_experiment *e,
                             const bn_model_spec *spec, size_t runs, size_t *threads) {
    return check_resources(command, e, spec, runs, runs, 0, NULL, threads);
}

int cli_start_cluster(const char *command, bn_cluster *cluster, bn_cluster **use) {
    bn_error err;
    if (cluster_start(cluster, &err)) {
        fprintf(stderr, "bntrain %s: %s\n", command, err.msg);
        return EXIT_RUNTIME;
    }
    *use = cluster->size > 1 ? cluster : NULL;
    return -1;
}

int cli_worker_start(bn_cluster *cluster, int resources, const bn_experiment *e, bn_dataset *ds) {
    if (resources) {
        cluster_send_failure(cluster, "not enough resources (this rank's message above)");
        return resources;
    }
    bn_error err;
    int status = cli_read_dataset(e, ds, &err);
    if (status) {
        cluster_send_failure(cluster, err.msg);
        return status;
    }
    cli_catch_stop_signals();
    return 0;
}

void cli_log_cluster(const char *command, const bn_cluster *cluster, const char *out_dir) {
    fprintf(stderr,
            "bntrain %s: MPI: %d ranks; rank 0 hands out the runs and writes %s, ranks 1-%d "
            "train them\n",
            command, cluster->size, out_dir, cluster->size - 1);
}

volatile sig_atomic_t cli_stop_signal;

static void on_stop_signal(int signo) {
    cli_stop_signal = signo;
    signal(signo, SIG_DFL);
}

void cli_catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
