/* The grid runner. Runs are independent; each worker thread owns one trainer (allocated once)
 * and single-threaded BLAS; finished runs go to the run log under a lock, in any order. Every
 * summary is recomputed from the records in restart order, so the files do not depend on the
 * order in which runs finish. */
#include "grid/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grid/identity.h"
#include "grid/shard.h"
#include "grid/store.h"
#include "plot/plot.h"
#include "grid/progress.h"
#include "base/file.h"
#include "base/text.h"
#include "base/runtime.h"
#include "bntrain/theory.h"
#include "bntrain/train.h"

/* Seconds between refreshes of cells.csv and the heatmap while a grid runs. */
#define REFRESH_SECONDS 120.0

uint64_t grid_run_seed(const bn_grid_config *g, double x, double log10_lr, size_t restart) {
    uint64_t seed = rng_mix(g->experiment.seed ^ rng_mix(0x5eed0000ULL + restart));
    if (g->seed_mode == SEED_PER_CELL) {
        char key[96];
        run_key(key, sizeof key, x, log10_lr, restart);
        for (const char *c = key; *c; c++) seed = rng_mix(seed ^ (uint64_t)(unsigned char)*c);
    }
    return seed;
}

int grid_config_json(const bn_grid_config *g, char *buf, size_t capacity) {
    const bn_experiment *o = &g->experiment;
    bn_model_spec spec;
    if (experiment_model_spec(o, &spec, NULL)) return -1;
    double hidden[BN_MAX_HIDDEN];
    for (size_t i = 0; i < spec.n_hidden; i++) hidden[i] = (double)spec.hidden[i];
    size_t used = 0;
    int bad = text_append(buf, capacity, &used, "{\n  \"version\": \"%s\",\n", BNTRAIN_VERSION);
    bad |= text_append(buf, capacity, &used,
                  "  \"dataset\": \"%s\",\n  \"arch\": \"%s\",\n  \"batchnorm\": %s,\n",
                  o->dataset, arch_name(o->arch), o->batchnorm ? "true" : "false");
    bad |= text_append_json_list(buf, capacity, &used, "hidden", hidden, spec.n_hidden);
    bad |= text_append(buf, capacity, &used,
                  "  \"kernel\": %zu,\n  \"stride\": %zu,\n  \"padding\": %zu,\n"
                  "  \"input\": [%zu, %zu, %zu],\n",
                  spec.kernel, spec.stride, spec.padding, spec.in_channels, spec.in_height,
                  spec.in_width);
    bad |= text_append(buf, capacity, &used,
                  "  \"sigma_w2\": %.12g,\n  \"sigma_b2\": %.12g,\n  \"momentum\": %.12g,\n"
                  "  \"weight_decay\": %.12g,\n  \"loss\": \"%s\",\n  \"batch\": %zu,\n"
                  "  \"epochs\": %zu,\n  \"train_subset\": %zu,\n",
                  o->sigma_w2, o->sigma_b2, o->momentum, o->weight_decay,
                  o->loss == LOSS_MSE ? "mse" : "ce", o->batch, o->epochs, o->train_subset);
    char schedule[BN_LR_SCHEDULE_TEXT];
    bad |= lr_schedule_format(&o->lr_schedule, schedule, sizeof schedule) < 0;
    bad |= text_append(buf, capacity, &used, "  \"augment\": %s,\n  \"lr_schedule\": \"%s\",\n",
                  experiment_augment(o) ? "true" : "false", schedule);
    bad |= text_append(buf, capacity, &used,
                  "  \"seed\": %" PRIu64 ",\n  \"seed_mode\": \"%s\",\n  \"n_restarts\": %zu,\n"
                  "  \"x_name\": \"%s\",\n",
                  o->seed, g->seed_mode == SEED_PER_CELL ? "per-cell" : "per-restart",
                  g->n_restarts, g->x_name);
    if (strcmp(g->x_name, "sigma_w2") == 0)
        bad |= text_append(buf, capacity, &used, "  \"gamma\": %.12g,\n", o->gamma);
    bad |= text_append_json_list(buf, capacity, &used, "x_values", g->x_values, g->n_x);
    bad |= text_append_json_list(buf, capacity, &used, "log10_lr", g->log10_lrs, g->n_lr);
    /* what the network has, not what decides it: not part of the identity */
    bad |= text_append(buf, capacity, &used, "  \"parameters\": %zu,\n",
                       model_spec_parameters(&spec));
    bad |= text_append(buf, capacity, &used, "  \"title_note\": ");
    bad |= text_append_json_string(buf, capacity, &used, g->title_note ? g->title_note : "");
    bad |= text_append(buf, capacity, &used, "\n}\n");
    return bad ? -1 : (int)used;
}

/* The text of config.json for g, malloc'd (64 KiB: on the heap, not the stack, nor static: a
 * grid may be checked from two threads); NULL with err filled. */
static char *config_text(const bn_grid_config *g, bn_error *err) {
    size_t capacity = 1 << 16;
    char *json = malloc(capacity);
    if (!json || grid_config_json(g, json, capacity) < 0) {
        bn_fail(err, "%s", json ? "the configuration is too large to describe" : "out of memory");
        free(json);
        return NULL;
    }
    return json;
}

/* DIR/config.json against the configuration now: 0 equal or absent, 1 differs, -1 error. */
static int check_config_file(const bn_grid_config *g, const char *now, int *present,
                             bn_error *err) {
    char path[4200], *old;
    snprintf(path, sizeof path, "%s/config.json", g->out_dir);
    *present = access(path, F_OK) == 0;
    if (!*present) return 0;
    if (config_json_read(path, &old, err)) return -1;
    char differs[400];
    size_t n = config_differences(old, now, config_result_keys, differs, sizeof differs);
    free(old);
    if (n == 0) return 0;
    bn_fail(err, "%s holds a grid with another configuration: %s; use another --out or --force "
                 "to start afresh", path, differs);
    return 1;
}

/* DIR/runs.csv, or this shard's runs.K-of-N.csv. */
static void run_log_path(const bn_grid_config *g, char *path, size_t capacity) {
    char name[64];
    shard_log_name(name, sizeof name, g->shard, g->n_shards);
    snprintf(path, capacity, "%s/%s", g->out_dir, name);
}

/* DIR's run log against the configuration now (see grid_check_config). */
static int check_run_log(const bn_grid_config *g, uint64_t identity, int config_present,
                         bn_error *err) {
    char path[4200];
    uint64_t have = 0;
    run_log_path(g, path, sizeof path);
    int state = run_log_identity(path, &have, err);
    if (state < 0) return -1;
    if (state == RUN_LOG_EMPTY) return 0;
    if (!config_present)
        bn_fail(err, "%s/config.json is missing but %s holds results: restore it, or use --force "
                     "to discard those results (or choose another --out)", g->out_dir, path);
    else if (state == RUN_LOG_UNIDENTIFIED)
        bn_fail(err, "%s: no identity line: written by an older bntrain, so it cannot be tied "
                     "to a configuration; use --force to start afresh, or, if you know it was "
                     "made with this config.json, add '# bntrain grid config %016" PRIx64 "' as "
                     "its first line", path, identity);
    else if (have != identity)
        bn_fail(err, "%s belongs to configuration %016" PRIx64 ", not to this grid's %016" PRIx64
                     " (config.json agrees with this command: the file comes from another "
                     "grid); use another --out, or --force to start afresh",
                path, have, identity);
    else
        return 0;
    return 1;
}

int grid_check_config(const bn_grid_config *g, bn_error *err) {
    char *now = config_text(g, err);
    if (!now) return -1;
    int config_present = 0;
    int status = check_config_file(g, now, &config_present, err);
    if (status == 0) status = check_run_log(g, config_identity(now), config_present, err);
    free(now);
    return status;
}

int grid_make_dirs(const char *path, bn_error *err) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST)
            return bn_fail(err, "%s: cannot create folder: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) && errno != EEXIST)
        return bn_fail(err, "%s: cannot create folder: %s", buf, strerror(errno));
    return 0;
}

static int compare_slots(const void *a, const void *b) {
    const grid_run_slot *p = a, *q = b;
    if (p->predicted_unstable != q->predicted_unstable)
        return p->predicted_unstable - q->predicted_unstable;
    if (p->restart != q->restart) return p->restart < q->restart ? -1 : 1;
    if (p->ilr != q->ilr) return p->ilr < q->ilr ? -1 : 1;
    return p->ix < q->ix ? -1 : p->ix > q->ix;
}

static int x_is_sigma_w2(const bn_grid_config *g) {
    return strcmp(g->x_name, "sigma_w2") == 0;
}

/* The network's hyper-parameters at grid column x. */
static void column_parameters(const bn_grid_config *g, double x, double *gamma,
                              double *sigma_w2) {
    *gamma = x_is_sigma_w2(g) ? g->experiment.gamma : x;
    *sigma_w2 = x_is_sigma_w2(g) ? x : g->experiment.sigma_w2;
}

/* Runs that the theory expects to be stable go first: they are the long ones (diverging runs
 * stop early), so starting them first keeps every core busy until the end. */
grid_run_slot *grid_run_order(const bn_grid_config *g, const bn_model_spec *spec) {
    size_t total = g->n_x * g->n_lr * g->n_restarts, n = 0;
    grid_run_slot *order = malloc((total ? total : 1) * sizeof *order);
    double *log10_eta_bar = malloc((g->n_x ? g->n_x : 1) * sizeof *log10_eta_bar);
    if (!order || !log10_eta_bar) {
        free(order);
        free(log10_eta_bar);
        return NULL;
    }
    for (size_t ix = 0; ix < g->n_x; ix++) {
        double gamma, sigma_w2;
        bn_theory_result theory;
        column_parameters(g, g->x_values[ix], &gamma, &sigma_w2);
        log10_eta_bar[ix] = theory_evaluate(spec, gamma, sigma_w2, g->experiment.sigma_b2,
                                            g->experiment.momentum, &theory, NULL) == 0
                                ? theory.log10_eta_bar
                                : INFINITY;
    }
    for (size_t r = 0; r < g->n_restarts; r++)
        for (size_t ilr = 0; ilr < g->n_lr; ilr++)
            for (size_t ix = 0; ix < g->n_x; ix++)
                order[n++] = (grid_run_slot){ix, ilr, r, g->log10_lrs[ilr] > log10_eta_bar[ix]};
    free(log10_eta_bar);
    qsort(order, n, sizeof *order, compare_slots);
    return order;
}

/* The runs of the grid (of this shard) not yet in the store, in grid_run_order. */
static grid_run_slot *list_pending(const bn_grid_config *g, const bn_model_spec *spec,
                                   const grid_store *store, size_t *n_pending, size_t *n_slice) {
    size_t total = g->n_x * g->n_lr * g->n_restarts, n = 0;
    grid_run_slot *order = grid_run_order(g, spec);
    if (!order) return NULL;
    size_t first = g->n_shards ? g->shard - 1 : 0, step = g->n_shards ? g->n_shards : 1;
    *n_slice = 0;
    for (size_t i = first; i < total; i += step) {
        const grid_run_slot *p = &order[i];
        long k = grid_store_index(store, g->x_values[p->ix], g->log10_lrs[p->ilr], p->restart);
        ++*n_slice;
        if (!store->done[k]) order[n++] = *p;
    }
    *n_pending = n;
    return order;
}

int grid_write_theory(const bn_grid_config *g, const bn_model_spec *spec, uint64_t identity,
                      bn_error *err) {
    enum { N_POINTS = 221 };
    double lo = g->x_values[0], hi = g->x_values[0], x[N_POINTS];
    for (size_t i = 1; i < g->n_x; i++) {
        if (g->x_values[i] < lo) lo = g->x_values[i];
        if (g->x_values[i] > hi) hi = g->x_values[i];
    }
    size_t n = hi > lo ? N_POINTS : 1;
    for (size_t i = 0; i < n; i++) x[i] = n > 1 ? lo + (hi - lo) * (double)i / (n - 1) : lo;
    char path[4200];
    snprintf(path, sizeof path, "%s/theory.csv", g->out_dir);
    const bn_experiment *e = &g->experiment;
    char first_line[64];
    identity_line(first_line, sizeof first_line, identity);
    return theory_write_csv(path, first_line, spec, x, n, x_is_sigma_w2(g), e->gamma, e->sigma_w2,
                            e->sigma_b2, e->momentum, err);
}

typedef struct {
    const bn_grid_config *g;
    grid_store store;
    bn_run_log log;
    bn_progress progress;
    double last_refresh;
    _Atomic int failed;
    bn_error failure;
    bn_core_share cores;
} grid_state;

/* Removes DIR/name for each name, NULL-terminated (absent files are fine). */
static void remove_outputs(const char *dir, const char *const *names) {
    char path[4200];
    for (; *names; names++) {
        snprintf(path, sizeof path, "%s/%s", dir, *names);
        unlink(path);
    }
}

static const char *const heatmap_files[] = {"heatmap.png", "heatmap.svg", NULL};

/* Draws the heatmap from the folder's files, each checked to be this grid's first (cells.csv
 * and theory.csv are this process's, but a boundary.csv may come from elsewhere). */
static int draw_heatmap(const grid_state *s, bn_error *err) {
    const char *dir = s->g->out_dir;
    if (grid_check_identities(dir, s->store.shape.identity, err)) return -1;
    return plot_heatmap_dir(dir, s->g->log_color_scale, err);
}

/* Rewrites cells.csv and the heatmap while runs go on. A failure to write cells.csv stops the
 * grid; a failure to draw is said and the grid goes on (the next refresh may succeed). */
static int refresh_outputs(grid_state *s, bn_error *err) {
    s->last_refresh = wall_seconds();
    if (grid_store_write_cells(&s->store, s->g->out_dir, err)) return -1;
    bn_error plot_err;
    if (draw_heatmap(s, &plot_err) == 0) return 0;
    fprintf(stderr, "bntrain grid: warning: heatmap not drawn: %s\n", plot_err.msg);
    return 0;
}

static void record_failure(grid_state *s, const bn_error *err) {
    if (!s->failed) s->failure = *err;
    s->failed = 1;
}

static void finish_run(grid_state *s, const bn_run_record *record) {
    bn_error err;
    bn_run_record stored;
    if (run_log_append(&s->log, record, &stored, &err)) {
        record_failure(s, &err);
        return;
    }
    /* the stored values, as a resumed grid reads them back: cells.csv is the same either way */
    grid_store_add(&s->store, &stored);
    progress_run_done(&s->progress, &stored);
    if (!s->g->n_shards && wall_seconds() - s->last_refresh > REFRESH_SECONDS &&
        refresh_outputs(s, &err))
        record_failure(s, &err);
}

static void fill_record(bn_run_record *rec, const bn_run_result *result) {
    rec->exploded = result->exploded;
    rec->exploded_epoch = result->exploded_epoch;
    rec->exploded_step = result->exploded_step;
    rec->train_loss = result->exploded ? NAN : result->last.train_loss;
    rec->test_loss = result->exploded ? NAN : result->last.test_loss;
    rec->test_acc = result->exploded ? NAN : result->last.test_acc;
    rec->seconds = result->seconds;
}

/* Trains run p into *rec; 0 if it finished, -1 if a stop abandoned it (it is then simply
 * missing, and will be redone). */
static int train_run(const bn_grid_config *g, bn_core_share *cores, bn_trainer *t,
                     const bn_dataset *ds, const grid_run_slot *p, volatile sig_atomic_t *stop,
                     bn_run_record *rec) {
    double x = g->x_values[p->ix], log10_lr = g->log10_lrs[p->ilr];
    *rec = (bn_run_record){.x = x,
                           .log10_lr = log10_lr,
                           .lr = pow(10.0, log10_lr),
                           .restart = p->restart,
                           .seed = grid_run_seed(g, x, log10_lr, p->restart)};
    bn_train_config cfg = experiment_train_config(&g->experiment, cores);
    cfg.lr = rec->lr;
    cfg.seed = rec->seed;
    cfg.evaluate_last_epoch_only = 1;
    column_parameters(g, x, &cfg.gamma, &cfg.sigma_w2);
    bn_run_result result;
    trainer_run(t, ds, &cfg, NULL, NULL, stop, &result);
    if (result.interrupted) return -1;
    fill_record(rec, &result);
    return 0;
}

static void run_one(grid_state *s, bn_trainer *t, const bn_dataset *ds, const grid_run_slot *p,
                    volatile sig_atomic_t *stop) {
    bn_run_record rec;
    if (train_run(s->g, &s->cores, t, ds, p, stop, &rec)) return;
#pragma omp critical(grid_results)
    finish_run(s, &rec);
}

/* What the grid's pool of trainers works through (trainer_pool_run). */
typedef struct {
    grid_state *s;
    const bn_dataset *ds;
    const grid_run_slot *pending;
    volatile sig_atomic_t *stop;
} grid_pool;

static void pool_run(void *ctx, bn_trainer *t, size_t item) {
    grid_pool *p = ctx;
    if (!*p->stop && !p->s->failed) run_one(p->s, t, p->ds, &p->pending[item], p->stop);
}

static void pool_failed(void *ctx, const bn_error *err) {
    grid_pool *p = ctx;
#pragma omp critical(grid_results)
    record_failure(p->s, err);
}

/* Rank 0 of an MPI job: the records the workers send, and their failures. */
static int cluster_result(void *ctx, const void *record) {
    grid_state *s = ctx;
    finish_run(s, record);
    return s->failed;
}

static void cluster_failure(void *ctx, const bn_error *err) {
    record_failure(ctx, err);
}

/* The runs, in the order of `pending`: to this process's pool of trainers, or, on rank 0 of an
 * MPI job, to the workers (grid_work), each record then finished here as the pool's are. */
static void run_pending(grid_state *s, const bn_dataset *ds, const bn_model_spec *spec,
                        const grid_run_slot *pending, size_t n_pending,
                        volatile sig_atomic_t *stop) {
    if (s->g->cluster && s->g->cluster->active) {
        /* unacknowledged: a grid worker keeps no state that must wait for runs.csv */
        bn_cluster_sink sink = {sizeof *pending, sizeof(bn_run_record), cluster_result,
                                cluster_failure, s, 0};
        bn_error err;
        if (cluster_serve(s->g->cluster, pending, n_pending, &sink, stop, &err))
            record_failure(s, &err);
        return;
    }
    size_t cores = s->g->threads ? s->g->threads : runtime_cores();
    grid_pool pool = {s, ds, pending, stop};
    trainer_pool_run(&s->cores, cores, spec, s->g->experiment.batch, ds->train.n, n_pending,
                     pool_run, pool_failed, &pool);
}

/* A worker rank's pool: each thread asks rank 0 for runs until there are none. */
typedef struct {
    const bn_grid_config *g;
    const bn_dataset *ds;
    bn_core_share cores;
    volatile sig_atomic_t *stop;
} grid_worker;

static void worker_lane(void *ctx, bn_trainer *t, size_t lane) {
    grid_worker *w = ctx;
    grid_run_slot p;
    bn_run_record rec;
    while (!*w->stop && cluster_next_item(w->g->cluster, &p, sizeof p))
        if (train_run(w->g, &w->cores, t, w->ds, &p, w->stop, &rec) == 0)
            cluster_send_result(w->g->cluster, &rec, sizeof rec);
}

static void worker_failed(void *ctx, const bn_error *err) {
    grid_worker *w = ctx;
    cluster_send_failure(w->g->cluster, err->msg);
}

void grid_work(const bn_grid_config *g, const bn_dataset *ds, volatile sig_atomic_t *stop) {
    bn_model_spec spec;
    bn_error err;
    if (experiment_model_spec(&g->experiment, &spec, &err)) {
        cluster_send_failure(g->cluster, err.msg);
    } else {
        size_t threads = g->threads ? g->threads : runtime_cores();
        grid_worker w = {.g = g, .ds = ds, .stop = stop};
        /* one lane per thread, each asking for runs until rank 0 has none */
        trainer_pool_run(&w.cores, threads, &spec, g->experiment.batch, ds->train.n, threads,
                         worker_lane, worker_failed, &w);
        cluster_report_stop(g->cluster, *stop);
    }
}

/* The end of a grid, finished, interrupted or failed (failed: err holds why) once the runs
 * were read: cells.csv and the heatmap are brought up to date with the records on disk (after
 * a failure only if runs were added), and whatever of them cannot be is removed rather than
 * left to describe fewer runs than runs.csv holds (a full disk, say). A failure's message
 * then says how many runs are safe and how to go on. */
static int finish_outputs(grid_state *s, const bn_grid_summary *summary, int failed,
                          bn_error *err) {
    static const char *const cells_and_heatmap[] = {"cells.csv", "heatmap.png", "heatmap.svg",
                                                    NULL};
    const char *dir = s->g->out_dir, *removed = NULL;
    bn_error cause = *err, ignored;
    if (!failed || s->store.n_done > summary->done_before) {
        bn_error *out_err = failed ? &ignored : &cause;
        if (grid_store_write_cells(&s->store, dir, out_err)) {
            remove_outputs(dir, cells_and_heatmap);
            removed = "cells.csv and the heatmap were";
        } else if (draw_heatmap(s, out_err)) {
            remove_outputs(dir, heatmap_files);
            removed = "the heatmap was";
        }
    }
    if (!failed && !removed) return 0;
    char note[96] = "";
    if (removed) snprintf(note, sizeof note, "; %s removed rather than left stale", removed);
    return bn_fail(err,
                   "%s%s; %zu of %zu runs are on disk: once this is mended, run the same command "
                   "again to resume and write what is missing",
                   cause.msg, note, s->store.n_done, summary->total);
}

/* config.json for a shard: created by exactly one of the shards that start at once, and
 * checked by the others (1 if it describes another grid). */
static int create_config_once(const bn_grid_config *g, const char *json, bn_error *err) {
    char path[4200];
    int existed, present;
    snprintf(path, sizeof path, "%s/config.json", g->out_dir);
    if (write_file_exclusive(path, json, strlen(json), &existed, err)) return -1;
    return existed ? check_config_file(g, json, &present, err) : 0;
}

/* The runs already done: those of the run log, and for the whole grid (unless --force) those
 * of the shard files too, so that a grid run in shards can be finished or redrawn whole. */
static int read_done_runs(grid_state *s, const char *path, bn_error *err) {
    const bn_grid_config *g = s->g;
    if (!g->n_shards && !g->force) {
        grid_logs_report report;
        return grid_logs_collect(g->out_dir, s->store.shape.identity, &s->store, &report, err);
    }
    bn_run_record *records;
    size_t n, torn;
    if (run_log_read(path, &records, &n, &torn, err)) return -1;
    for (size_t i = 0; i < n; i++)
        grid_store_add(&s->store, &records[i]);
    free(records);
    return 0;
}

/* Checks the folder (unless --force), opens the run log (which refuses a log of another
 * configuration), reads the runs already done, and only then writes config.json and
 * theory.csv (a shard: config.json alone, if no other shard has): a refused folder is left as
 * it was. -1 on failure, 1 if refused for holding another configuration. */
static int prepare_outputs(grid_state *s, const bn_model_spec *spec, const char *json,
                           size_t *torn_bytes, bn_error *err) {
    const bn_grid_config *g = s->g;
    char path[4200];
    int check = g->force ? 0 : grid_check_config(g, err);
    if (check == 0 && g->n_shards) check = shard_check_split(g->out_dir, g->n_shards, err);
    if (check) return check;
    run_log_path(g, path, sizeof path);
    if (run_log_open(&s->log, path, g->x_name, s->store.shape.identity, g->force, torn_bytes,
                     err) ||
        read_done_runs(s, path, err))
        return -1;
    if (g->n_shards) return create_config_once(g, json, err);
    snprintf(path, sizeof path, "%s/config.json", g->out_dir);
    if (write_file_atomic(path, json, strlen(json), err)) return -1;
    return grid_write_theory(g, spec, s->store.shape.identity, err);
}

/* The axes of g, as the store indexes them (identity 0: not checked). */
static grid_shape shape_of(const bn_grid_config *g) {
    return (grid_shape){.x_name = g->x_name,
                        .x_values = g->x_values,
                        .n_x = g->n_x,
                        .log10_lrs = g->log10_lrs,
                        .n_lr = g->n_lr,
                        .n_restarts = g->n_restarts};
}

size_t grid_runs_left(const bn_grid_config *g) {
    size_t total = g->n_x * g->n_lr * g->n_restarts;
    /* a shard's slice: the positions K-1, K-1+N, ... below total */
    if (g->n_shards) total = total >= g->shard ? (total - g->shard) / g->n_shards + 1 : 0;
    if (g->force) return total;
    grid_shape shape = shape_of(g);
    grid_store store;
    bn_error err;
    if (grid_store_create(&store, &shape, &err)) return total;
    char path[4200];
    run_log_path(g, path, sizeof path);
    bn_run_record *records;
    size_t n, torn;
    if (run_log_read(path, &records, &n, &torn, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            grid_store_add(&store, &records[i]);
        free(records);
    }
    size_t left = total > store.n_done ? total - store.n_done : 0;
    grid_store_free(&store);
    return left;
}

/* The whole grid (and grid --merge) locks DIR/.lock; a shard shares that lock with the other
 * shards, so that they run together but never beside a whole grid or a merge, and holds
 * DIR/.lock.K-of-N alone, so that the same shard never runs twice at once. */
static int lock_folder(const bn_grid_config *g, int *lock_fd, int *shard_lock_fd, bn_error *err) {
    if (!g->n_shards) return folder_lock(g->out_dir, "grid", lock_fd, err);
    char name[64], holder[160];
    if (folder_lock_named(g->out_dir, ".lock", 1,
                          "a bntrain grid without --shard, or grid "
                          "--merge, is writing this folder",
                          lock_fd, err))
        return -1;
    snprintf(name, sizeof name, ".lock.%zu-of-%zu", g->shard, g->n_shards);
    snprintf(holder, sizeof holder, "shard %zu/%zu is already running on this folder", g->shard,
             g->n_shards);
    if (folder_lock_named(g->out_dir, name, 0, holder, shard_lock_fd, err)) {
        close(*lock_fd);
        *lock_fd = -1;
        return -1;
    }
    return 0;
}

int grid_run(const bn_grid_config *g, const bn_dataset *ds, volatile sig_atomic_t *stop,
             bn_grid_summary *summary, bn_error *err) {
    memset(summary, 0, sizeof *summary);
    double start = wall_seconds();
    bn_model_spec spec;
    int lock_fd = -1, shard_lock_fd = -1;
    if (experiment_model_spec(&g->experiment, &spec, err) || grid_make_dirs(g->out_dir, err) ||
        lock_folder(g, &lock_fd, &shard_lock_fd, err))
        return -1;
    grid_state *s = calloc(1, sizeof *s);
    char *json = s ? config_text(g, err) : NULL;
    if (!json) {
        if (!s) bn_fail(err, "out of memory");
        free(s);
        close(lock_fd);
        close(shard_lock_fd);
        return -1;
    }
    s->g = g;
    s->log.fd = -1;
    int status = -1;
    size_t n_pending = 0;
    grid_run_slot *pending = NULL;
    grid_shape shape = shape_of(g);
    shape.identity = config_identity(json);
    if (grid_store_create(&s->store, &shape, err)) goto done;
    status = prepare_outputs(s, &spec, json, &summary->torn_bytes, err);
    if (status) goto done;
    status = -1;
    pending = list_pending(g, &spec, &s->store, &n_pending, &summary->total);
    if (!pending) {
        bn_fail(err, "out of memory for the run list");
        goto done;
    }
    summary->done_before = s->store.n_done;
    if (!g->n_shards && refresh_outputs(s, err)) {
        status = finish_outputs(s, summary, 1, err);
        goto done;
    }
    progress_start(&s->progress, summary->total, s->store.n_done, s->store.n_exploded,
                   g->x_name, g->quiet);
    run_pending(s, ds, &spec, pending, n_pending, stop);
    progress_finish(&s->progress);
    summary->done_now = s->store.n_done - summary->done_before;
    summary->exploded = s->store.n_exploded;
    summary->interrupted = *stop;
    if (s->failed) *err = s->failure;
    /* a shard's results are its run log alone: grid --merge draws them with the others' */
    if (g->n_shards)
        status = s->failed ? -1 : 0;
    else
        status = finish_outputs(s, summary, s->failed, err);
done:
    summary->seconds = wall_seconds() - start;
    free(json);
    free(pending);
    run_log_close(&s->log);
    grid_store_free(&s->store);
    free(s);
    close(lock_fd);
    close(shard_lock_fd);
    return status;
}
