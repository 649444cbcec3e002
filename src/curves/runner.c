/* The curves runner: the runs of a `bntrain curves` folder, their checkpoints, curves.csv and
 * the figure. */
#include "curves/curves.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/runtime.h"
#include "base/text.h"
#include "bntrain/checkpoint.h"
#include "bntrain/rng.h"
#include "bntrain/schedule.h"
#include "bntrain/train.h"
#include "curves/log.h"
#include "grid/identity.h"
#include "grid/runner.h"
#include "plot/plot.h"

/* The keys of config.json that decide the curves (all but the version). */
static const char *const curves_result_keys[] = {
    "kind",         "dataset",  "arch",         "width_mult", "init",        "batchnorm",
    "hidden",       "kernel",   "stride",       "padding",    "input",       "sigma_w2",
    "sigma_b2",     "momentum", "weight_decay", "loss",       "batch",       "epochs",
    "train_subset", "seed",     "lr",           "augment",    "lr_schedule", "gammas",
    "n_restarts",   NULL};

/* The figure is redrawn at most this often while runs go on (and once at the end). */
#define REFRESH_SECONDS 30.0

uint64_t curves_run_seed(const bn_curves_config *c, size_t restart) {
    return train_stream_seed(c->experiment.seed, 1000 + (uint64_t)restart);
}

static int write_config(const bn_curves_config *c, const bn_model_spec *spec, char *buf,
                        size_t capacity) {
    const bn_experiment *e = &c->experiment;
    char label[32];
    arch_label(spec, label, sizeof label);
    double hidden[BN_MAX_HIDDEN];
    for (size_t i = 0; i < spec->n_hidden; i++)
        hidden[i] = (double)spec->hidden[i];
    size_t used = 0;
    int bad = text_append(buf, capacity, &used,
                          "{\n  \"version\": \"%s\",\n  \"kind\": \"curves\",\n", BNTRAIN_VERSION);
    bad |= text_append(buf, capacity, &used,
                       "  \"dataset\": \"%s\",\n  \"arch\": \"%s\",\n  \"width_mult\": %.12g,\n"
                       "  \"init\": \"%s\",\n  \"batchnorm\": %s,\n",
                       e->dataset, label, spec->width_mult,
                       spec->init == INIT_PYTORCH ? "pytorch" : "gaussian",
                       spec->batchnorm ? "true" : "false");
    bad |= text_append_json_list(buf, capacity, &used, "hidden", hidden, spec->n_hidden);
    bad |= text_append(buf, capacity, &used,
                       "  \"kernel\": %zu,\n  \"stride\": %zu,\n  \"padding\": %zu,\n"
                       "  \"input\": [%zu, %zu, %zu],\n",
                       spec->kernel, spec->stride, spec->padding, spec->in_channels,
                       spec->in_height, spec->in_width);
    bad |= text_append(buf, capacity, &used,
                       "  \"sigma_w2\": %.12g,\n  \"sigma_b2\": %.12g,\n  \"momentum\": %.12g,\n"
                       "  \"weight_decay\": %.12g,\n  \"loss\": \"%s\",\n  \"batch\": %zu,\n"
                       "  \"epochs\": %zu,\n  \"train_subset\": %zu,\n  \"seed\": %" PRIu64 ",\n"
                       "  \"lr\": %.12g,\n",
                       e->sigma_w2, e->sigma_b2, e->momentum, e->weight_decay,
                       e->loss == LOSS_MSE ? "mse" : "ce", e->batch, e->epochs, e->train_subset,
                       e->seed, e->lr);
    char schedule[BN_LR_SCHEDULE_TEXT];
    bad |= lr_schedule_format(&e->lr_schedule, schedule, sizeof schedule) < 0;
    bad |= text_append(buf, capacity, &used, "  \"augment\": %s,\n  \"lr_schedule\": \"%s\",\n",
                       experiment_augment(e) ? "true" : "false", schedule);
    bad |= text_append_json_list(buf, capacity, &used, "gammas", c->gammas, c->n_gammas);
    bad |= text_append(buf, capacity, &used, "  \"n_restarts\": %zu,\n", c->n_restarts);
    /* what the network has, not what decides it: not part of the identity */
    bad |= text_append(buf, capacity, &used, "  \"parameters\": %zu\n}\n",
                       model_spec_parameters(spec));
    return bad ? -1 : 0;
}

char *curves_config_json(const bn_curves_config *c, bn_error *err) {
    bn_model_spec spec;
    if (experiment_model_spec(&c->experiment, &spec, err)) return NULL;
    size_t capacity = 1 << 16;
    char *json = malloc(capacity);
    if (!json || write_config(c, &spec, json, capacity)) {
        bn_fail(err, "%s", json ? "the configuration is too large to describe" : "out of memory");
        free(json);
        return NULL;
    }
    return json;
}

uint64_t curves_identity(const char *json) {
    return config_identity_of(json, curves_result_keys);
}

/* ---- what is done: the table of records ---- */

typedef struct {
    const bn_curves_config *c;
    uint64_t identity;
    size_t n_epochs;
    curves_record *table; /* [(gamma * n_restarts + restart) * n_epochs + epoch - 1] */
    unsigned char *have;  /* same index */
} curves_table;

static size_t run_count(const bn_curves_config *c) {
    return c->n_gammas * c->n_restarts;
}

static long gamma_index(const bn_curves_config *c, double gamma) {
    for (size_t i = 0; i < c->n_gammas; i++)
        if (c->gammas[i] == gamma) return (long)i;
    return -1;
}

static int table_create(curves_table *t, const bn_curves_config *c) {
    t->c = c;
    t->n_epochs = c->experiment.epochs;
    size_t n = run_count(c) * t->n_epochs;
    t->table = calloc(n ? n : 1, sizeof *t->table);
    t->have = calloc(n ? n : 1, 1);
    return t->table && t->have ? 0 : -1;
}

static void table_free(curves_table *t) {
    free(t->table);
    free(t->have);
}

/* The slot of a record, or -1 if it is not one of this configuration's runs and epochs. */
static long slot_of(const curves_table *t, const curves_record *r) {
    long g = gamma_index(t->c, r->gamma);
    if (g < 0 || r->restart >= t->c->n_restarts || r->epoch == 0 || r->epoch > t->n_epochs)
        return -1;
    return (long)((((size_t)g * t->c->n_restarts + r->restart) * t->n_epochs) + r->epoch - 1);
}

static void table_put(curves_table *t, const curves_record *r) {
    long slot = slot_of(t, r);
    if (slot < 0) return;
    t->table[slot] = *r;
    t->have[slot] = 1;
}

/* Whether run (g, restart) is finished: every epoch recorded, or an explosion. */
static int run_finished(const curves_table *t, size_t run) {
    const unsigned char *have = t->have + run * t->n_epochs;
    const curves_record *records = t->table + run * t->n_epochs;
    for (size_t e = 0; e < t->n_epochs; e++) {
        if (!have[e]) return 0;
        if (records[e].exploded) return 1;
    }
    return 1;
}

/* How many of run's first epochs are recorded (1..n all recorded, n+1 not). */
static size_t recorded_epochs(const curves_table *t, size_t run) {
    size_t n = 0;
    while (n < t->n_epochs && t->have[run * t->n_epochs + n])
        n++;
    return n;
}

static int load_log(curves_table *t, const char *path, bn_error *err) {
    curves_record *records;
    size_t n;
    if (curves_log_read(path, t->identity, &records, &n, err)) return -1;
    for (size_t i = 0; i < n; i++)
        table_put(t, &records[i]);
    free(records);
    return 0;
}

size_t curves_runs_left(const bn_curves_config *c) {
    size_t total = run_count(c);
    if (c->force) return total;
    bn_error err;
    char *json = curves_config_json(c, &err);
    curves_table t = {0};
    if (!json || table_create(&t, c)) {
        free(json);
        table_free(&t);
        return total;
    }
    t.identity = curves_identity(json);
    char path[4200];
    snprintf(path, sizeof path, "%s/curves.csv", c->out_dir);
    size_t left = total;
    if (load_log(&t, path, &err) == 0) {
        left = 0;
        for (size_t run = 0; run < total; run++)
            left += !run_finished(&t, run);
    }
    free(json);
    table_free(&t);
    return left;
}

/* ---- the figure ---- */

/* Train and test accuracy of one gamma's restarts as the figure takes them (NaN where an
 * epoch is not recorded or exploded), and the epoch each restart exploded in (0: none). */
static void series_values(const curves_table *t, size_t g, double *train, double *test,
                          size_t *exploded_epoch) {
    size_t n_restarts = t->c->n_restarts, per_gamma = n_restarts * t->n_epochs;
    for (size_t r = 0; r < n_restarts; r++)
        exploded_epoch[r] = 0;
    for (size_t i = 0; i < per_gamma; i++) {
        const curves_record *r = &t->table[g * per_gamma + i];
        int have = t->have[g * per_gamma + i], ok = have && !r->exploded;
        train[i] = ok ? r->train_acc : NAN;
        test[i] = ok ? r->test_acc : NAN;
        if (have && r->exploded) exploded_epoch[i / t->n_epochs] = r->epoch;
    }
}

static void figure_title(const bn_curves_config *c, char *title, size_t size) {
    const bn_experiment *e = &c->experiment;
    bn_model_spec spec;
    char label[32] = "?";
    if (experiment_model_spec(e, &spec, NULL) == 0) arch_label(&spec, label, sizeof label);
    char subset[48] = "";
    if (e->train_subset) snprintf(subset, sizeof subset, ", %zu training images", e->train_subset);
    snprintf(title, size, "%s (width x%g) on %s%s: batch %zu, lr %g, momentum %g, wd %g", label,
             e->width_mult, e->dataset, subset, e->batch, e->lr, e->momentum, e->weight_decay);
}

static int draw(const curves_table *t, bn_error *err) {
    const bn_curves_config *c = t->c;
    size_t per_gamma = c->n_restarts * t->n_epochs, n_series = c->n_gammas;
    double *values = malloc(2 * n_series * (per_gamma ? per_gamma : 1) * sizeof *values);
    size_t *exploded = malloc(n_series * c->n_restarts * sizeof *exploded);
    plot_curve_series *series = calloc(n_series, sizeof *series);
    int status = -1;
    if (!values || !exploded || !series) {
        bn_fail(err, "out of memory for the curves figure");
        goto done;
    }
    for (size_t g = 0; g < n_series; g++) {
        double *train = values + 2 * g * per_gamma, *test = train + per_gamma;
        series_values(t, g, train, test, exploded + g * c->n_restarts);
        series[g] = (plot_curve_series){.gamma = c->gammas[g],
                                        .n_restarts = c->n_restarts,
                                        .train_acc = train,
                                        .test_acc = test,
                                        .exploded_epoch = exploded + g * c->n_restarts};
    }
    char title[256], png[4200], svg[4200];
    figure_title(c, title, sizeof title);
    plot_curves_figure figure = {
        .title = title, .n_epochs = t->n_epochs, .series = series, .n_series = n_series};
    snprintf(png, sizeof png, "%s/curves.png", c->out_dir);
    snprintf(svg, sizeof svg, "%s/curves.svg", c->out_dir);
    status = plot_curves(&figure, png, svg, err);
done:
    free(values);
    free(exploded);
    free(series);
    return status;
}

/* ---- the runs ---- */

/* A run as it is handed out (to a thread of this process, or to a worker rank): its index
 * (gamma * n_restarts + restart) and how many of its first epochs curves.csv holds, which its
 * checkpoint must not exceed (a worker does not read curves.csv). */
typedef struct {
    size_t run, recorded;
} curves_item;

/* Where a run's records go, and its checkpoints. In an MPI job, the checkpoint is written by
 * the worker that trains the run, into DIR/checkpoints on the shared file system, and only once
 * rank 0 has answered that the epoch's record is fsync'd in curves.csv: so, as in one process,
 * a checkpoint never runs ahead of curves.csv (a resumed run retrains at most the epochs after
 * its checkpoint, whose records must then come out the same, and never lacks a record), and a
 * worker killed with SIGKILL leaves at worst a temporary file (checkpoint_save writes one and
 * renames it). Rank 0 writing the checkpoints itself would send the whole trainer state (for
 * VGG16, ~120 MB) through rank 0 every epoch and make it the bottleneck of every run. */
typedef struct {
    curves_table table; /* rank 0 and one process: every record on disk; a worker: unused */
    curves_log log;
    bn_core_share cores;
    double last_draw;
    size_t epochs_now, runs_done, exploded;
    _Atomic int failed;
    bn_error failure;
    int quiet;
    bn_cluster *worker; /* a worker rank: records go to rank 0 (NULL: to this process's log) */
} curves_state;

/* What a run knows while it trains: where it is, and its trainer. */
typedef struct {
    curves_state *s;
    bn_trainer *trainer;
    size_t run, restart, recorded;
    double gamma;
    uint64_t seed;
    char checkpoint[4200];
} run_context;

/* The first failure is kept (and, on a worker, sent to rank 0 at once, which stops handing out
 * runs and prints it naming this rank); later ones only stop the runs. */
static void record_failure(curves_state *s, const bn_error *err) {
    int first;
#pragma omp critical(curves_failure)
    {
        first = !s->failed;
        if (first) s->failure = *err;
        s->failed = 1;
    }
    if (first && s->worker) cluster_send_failure(s->worker, err->msg);
}

/* The log gets the record, unless it holds that epoch already (a resumed run retraining the
 * epoch after its last checkpoint), which must then say the same. A run counts as done (and as
 * exploded) with the record that finishes it. */
static int store_record(curves_state *s, const curves_record *r, bn_error *err) {
    long slot = slot_of(&s->table, r);
    if (slot >= 0 && s->table.have[slot]) {
        curves_record as_stored; /* the file holds 9 significant digits: compare those */
        if (curves_record_round_trip(r, &as_stored) == 0 &&
            curves_record_same(&s->table.table[slot], &as_stored))
            return 0;
        return bn_fail(err,
                       "%s: gamma %g, restart %zu, epoch %zu is recorded with other values "
                       "than the resumed run gives: the folder mixes two runs; use --force "
                       "to start afresh",
                       s->log.path, r->gamma, r->restart, r->epoch);
    }
    if (slot < 0)
        return bn_fail(err, "gamma %g, restart %zu, epoch %zu is not a run of %s", r->gamma,
                       r->restart, r->epoch, s->log.path);
    curves_record stored;
    if (curves_log_append(&s->log, r, &stored, err)) return -1;
    size_t run = (size_t)slot / s->table.n_epochs;
    int was_finished = run_finished(&s->table, run);
    table_put(&s->table, &stored);
    s->epochs_now++;
    if (!was_finished && run_finished(&s->table, run)) {
        s->runs_done++;
        s->exploded += (size_t)stored.exploded;
    }
    if (!s->quiet && stored.exploded)
        fprintf(stderr, "bntrain curves: gamma %g restart %zu epoch %zu: exploded\n", r->gamma,
                r->restart, r->epoch);
    else if (!s->quiet)
        fprintf(stderr,
                "bntrain curves: gamma %g restart %zu epoch %zu: train acc %.2f %%, "
                "test acc %.2f %% (%.1f s)\n",
                r->gamma, r->restart, r->epoch, 100.0 * r->train_acc, 100.0 * r->test_acc,
                r->seconds);
    return 0;
}

/* The record into curves.csv (and the figure, at most every REFRESH_SECONDS): by this process,
 * one thread at a time. 0, or -1 with err. */
static int store_and_draw(curves_state *s, const curves_record *r, bn_error *err) {
    int status;
#pragma omp critical(curves_log)
    {
        status = store_record(s, r, err);
        if (status == 0 && wall_seconds() - s->last_draw > REFRESH_SECONDS) {
            bn_error plot_err;
            s->last_draw = wall_seconds();
            if (draw(&s->table, &plot_err))
                fprintf(stderr, "bntrain curves: warning: figure not drawn: %s\n", plot_err.msg);
        }
    }
    return status;
}

/* A record on its way to curves.csv: stored here, or sent to rank 0, which answers once it is
 * stored. 0 when it is on disk; 1 when the run must stop without its checkpoint (this
 * process's failure is recorded; rank 0 failed or stops). */
static int deliver(curves_state *s, const curves_record *r) {
    if (s->worker) return cluster_exchange_result(s->worker, r, sizeof *r) != 0;
    bn_error err;
    if (store_and_draw(s, r, &err) == 0) return 0;
    record_failure(s, &err);
    return 1;
}

static curves_record record_of(const run_context *x, const bn_epoch_stats *stats, int exploded) {
    return (curves_record){.gamma = x->gamma,
                           .restart = x->restart,
                           .seed = x->seed,
                           .epoch = stats->epoch,
                           .lr = stats->lr,
                           .train_loss = exploded ? NAN : stats->train_loss,
                           .train_acc = exploded ? NAN : stats->train_acc,
                           .test_loss = exploded ? NAN : stats->test_loss,
                           .test_acc = exploded ? NAN : stats->test_acc,
                           .exploded = exploded,
                           .seconds = stats->seconds};
}

/* After each epoch: its record, then the run's checkpoint (in that order: a kill between the
 * two retrains the epoch, whose record must then come out the same). */
static int on_epoch(const bn_epoch_stats *stats, void *ctx) {
    run_context *x = ctx;
    int exploded = !isfinite(stats->train_loss) || !isfinite(stats->test_loss);
    curves_record r = record_of(x, stats, exploded);
    if (deliver(x->s, &r)) return 1;
    bn_error err;
    if (!exploded &&
        checkpoint_save(x->checkpoint, x->trainer, x->s->table.identity, x->seed, &err)) {
        record_failure(x->s, &err);
        return 1;
    }
    return x->s->failed;
}

/* Resumes run x from its checkpoint if there is one: 0, or -1 (refused checkpoint, or a log
 * that lacks epochs the checkpoint has done). */
static int resume(run_context *x, bn_error *err) {
    int loaded = checkpoint_load(x->checkpoint, x->trainer, x->s->table.identity, x->seed, err);
    if (loaded < 0) return -1;
    if (loaded == 1) return 0;
    if (x->trainer->epochs_done > x->recorded)
        return bn_fail(err,
                       "%s has done %zu epochs but %s/curves.csv lacks some of them: delete "
                       "the checkpoint to train that run again",
                       x->checkpoint, x->trainer->epochs_done, x->s->table.c->out_dir);
    return 0;
}

static void checkpoint_path(const bn_curves_config *c, size_t g, size_t restart, char *path,
                            size_t size) {
    snprintf(path, size, "%s/checkpoints/gamma%.12g_restart%zu.ckpt", c->out_dir, c->gammas[g],
             restart);
}

static void run_one(curves_state *s, bn_trainer *trainer, const bn_dataset *ds,
                    const curves_item *item, volatile sig_atomic_t *stop) {
    const bn_curves_config *c = s->table.c;
    size_t g = item->run / c->n_restarts;
    run_context x = {.s = s,
                     .trainer = trainer,
                     .run = item->run,
                     .restart = item->run % c->n_restarts,
                     .recorded = item->recorded,
                     .gamma = c->gammas[g]};
    x.seed = curves_run_seed(c, x.restart);
    checkpoint_path(c, g, x.restart, x.checkpoint, sizeof x.checkpoint);
    bn_train_config cfg = experiment_train_config(&c->experiment, &s->cores);
    cfg.gamma = x.gamma;
    cfg.seed = x.seed;
    trainer_start(trainer, &cfg);
    bn_error err;
    if (resume(&x, &err)) {
        record_failure(s, &err);
        return;
    }
    bn_run_result result;
    trainer_continue(trainer, ds, &cfg, on_epoch, &x, stop, &result);
    if (s->failed || result.interrupted || !result.exploded) return;
    /* an explosion inside an epoch ends the run before that epoch's record */
    bn_epoch_stats last = {
        .epoch = result.exploded_epoch,
        .lr = lr_schedule_at(&cfg.lr_schedule, cfg.lr, result.exploded_epoch, cfg.epochs)};
    curves_record r = record_of(&x, &last, 1);
    if (last.epoch >= 1 && last.epoch <= c->experiment.epochs) deliver(s, &r);
}

/* What the curves' pool of trainers works through (trainer_pool_run): the pending runs, or, on
 * a worker rank, one lane per thread asking rank 0 for runs until it has none. */
typedef struct {
    curves_state *s;
    const bn_dataset *ds;
    const curves_item *pending;
    volatile sig_atomic_t *stop;
} curves_pool;

static void pool_run(void *ctx, bn_trainer *t, size_t item) {
    curves_pool *p = ctx;
    if (!*p->stop && !p->s->failed) run_one(p->s, t, p->ds, &p->pending[item], p->stop);
}

static void worker_lane(void *ctx, bn_trainer *t, size_t lane) {
    curves_pool *p = ctx;
    curves_item item;
    while (!*p->stop && !p->s->failed && cluster_next_item(p->s->worker, &item, sizeof item))
        run_one(p->s, t, p->ds, &item, p->stop);
}

static void pool_failed(void *ctx, const bn_error *err) {
    record_failure(((curves_pool *)ctx)->s, err);
}

/* Rank 0 of an MPI job: the records the workers send (each answered once stored), and their
 * failures. */
static int cluster_record(void *ctx, const void *record) {
    curves_state *s = ctx;
    bn_error err;
    if (!s->failed && store_and_draw(s, record, &err)) record_failure(s, &err);
    return s->failed;
}

static void cluster_failure(void *ctx, const bn_error *err) {
    record_failure(ctx, err);
}

/* The pending runs, in order: to this process's pool of trainers, or, on rank 0 of an MPI job,
 * to the workers (curves_work). */
static void run_pending(curves_state *s, const bn_dataset *ds, const bn_model_spec *spec,
                        const curves_item *pending, size_t n_pending, size_t threads,
                        volatile sig_atomic_t *stop) {
    const bn_curves_config *c = s->table.c;
    if (c->cluster && c->cluster->active) {
        bn_cluster_sink sink = {.item_bytes = sizeof *pending,
                                .result_bytes = sizeof(curves_record),
                                .on_result = cluster_record,
                                .on_failure = cluster_failure,
                                .ctx = s,
                                .acknowledge = 1};
        bn_error err;
        if (cluster_serve(c->cluster, pending, n_pending, &sink, stop, &err))
            record_failure(s, &err);
        return;
    }
    curves_pool pool = {s, ds, pending, stop};
    trainer_pool_run(&s->cores, threads, spec, c->experiment.batch, ds->train.n, n_pending,
                     pool_run, pool_failed, &pool);
}

void curves_work(const bn_curves_config *c, const bn_dataset *ds, volatile sig_atomic_t *stop) {
    bn_model_spec spec;
    bn_error err;
    curves_state *s = calloc(1, sizeof *s);
    char *json = s ? curves_config_json(c, &err) : NULL;
    if (!s || !json || experiment_model_spec(&c->experiment, &spec, &err)) {
        cluster_send_failure(c->cluster, s ? err.msg : "out of memory");
    } else {
        s->table.c = c;
        s->table.n_epochs = c->experiment.epochs;
        s->table.identity = curves_identity(json);
        s->log.fd = -1;
        s->worker = c->cluster;
        size_t threads = c->threads ? c->threads : runtime_cores();
        /* Lanes, each asking rank 0 for runs until it has none: one per thread, but no more
         * than this rank's share of the runs left, so that a few long runs (Fig. 4: 20) spread
         * over the ranks rather than all going to the first one's threads; a rank's threads
         * without a lane help its runs' kernels (trainer_pool_run), with the same bits. */
        size_t workers = (size_t)c->cluster->size - 1, left = curves_runs_left(c);
        size_t share = (left + workers - 1) / workers, lanes = threads;
        if (share > 0 && share < lanes) lanes = share;
        curves_pool pool = {s, ds, NULL, stop};
        trainer_pool_run(&s->cores, threads, &spec, c->experiment.batch, ds->train.n, lanes,
                         worker_lane, pool_failed, &pool);
        cluster_report_stop(c->cluster, *stop);
    }
    free(json);
    free(s);
}

/* config.json against this configuration: 1 (err filled) if it names another one (unless
 * force), 0 if not, -1 if it cannot be read. */
static int check_config(const bn_curves_config *c, const char *json, bn_error *err) {
    char path[4200], *old;
    size_t length;
    snprintf(path, sizeof path, "%s/config.json", c->out_dir);
    if (c->force || access(path, F_OK) != 0) return 0;
    if (read_file(path, &old, &length, err)) return -1;
    char differs[400];
    size_t n = config_differences(old, json, curves_result_keys, differs, sizeof differs);
    free(old);
    if (n == 0) return 0;
    bn_fail(err,
            "%s holds curves of another configuration: %s; use another --out or --force "
            "to start afresh",
            path, differs);
    return 1;
}

int curves_check_config(const bn_curves_config *c, bn_error *err) {
    char *json = curves_config_json(c, err);
    if (!json) return -1;
    int status = check_config(c, json, err);
    free(json);
    return status;
}

/* Folder, lock, configuration check, log and checkpoints folder; then config.json. */
static int prepare(curves_state *s, const char *json, int *lock_fd, bn_error *err) {
    const bn_curves_config *c = s->table.c;
    char path[4200];
    snprintf(path, sizeof path, "%s/checkpoints", c->out_dir);
    if (grid_make_dirs(path, err) || folder_lock(c->out_dir, "curves", lock_fd, err) ||
        check_config(c, json, err) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/curves.csv", c->out_dir);
    if (!c->force && load_log(&s->table, path, err)) return -1;
    if (curves_log_open(&s->log, path, s->table.identity, c->force, err)) return -1;
    snprintf(path, sizeof path, "%s/config.json", c->out_dir);
    return write_file_atomic(path, json, strlen(json), err);
}

/* Unfinished runs, restart by restart (every gamma of restart 0 first), each with the epochs
 * curves.csv holds of it. With --force the old checkpoints are removed, so that no run resumes
 * from them. */
static curves_item *list_pending(curves_state *s, size_t *n_pending) {
    const bn_curves_config *c = s->table.c;
    size_t total = run_count(c), n = 0;
    curves_item *pending = malloc((total ? total : 1) * sizeof *pending);
    if (!pending) return NULL;
    for (size_t r = 0; r < c->n_restarts; r++)
        for (size_t g = 0; g < c->n_gammas; g++) {
            size_t run = g * c->n_restarts + r;
            if (c->force) {
                char path[4200];
                checkpoint_path(c, g, r, path, sizeof path);
                unlink(path);
            }
            if (!run_finished(&s->table, run))
                pending[n++] = (curves_item){run, recorded_epochs(&s->table, run)};
        }
    *n_pending = n;
    return pending;
}

int curves_run(const bn_curves_config *c, const bn_dataset *ds, volatile sig_atomic_t *stop,
               bn_curves_summary *summary, bn_error *err) {
    memset(summary, 0, sizeof *summary);
    double start = wall_seconds();
    bn_model_spec spec;
    if (experiment_model_spec(&c->experiment, &spec, err)) return -1;
    char *json = curves_config_json(c, err);
    curves_state *s = json ? calloc(1, sizeof *s) : NULL;
    if (!s || table_create(&s->table, c)) {
        if (json && !s)
            bn_fail(err, "out of memory");
        else if (s)
            bn_fail(err, "out of memory for the curves table");
        if (s) table_free(&s->table);
        free(s);
        free(json);
        return -1;
    }
    s->table.identity = curves_identity(json);
    s->log.fd = -1;
    s->quiet = c->quiet;
    int lock_fd = -1, status = -1;
    curves_item *pending = NULL;
    size_t n_pending = 0;
    if (prepare(s, json, &lock_fd, err)) goto done;
    pending = list_pending(s, &n_pending);
    if (!pending) {
        bn_fail(err, "out of memory for the run list");
        goto done;
    }
    summary->runs = run_count(c);
    summary->runs_done_before = summary->runs - n_pending;
    size_t threads = c->threads ? c->threads : runtime_cores();
    run_pending(s, ds, &spec, pending, n_pending, threads, stop);
    summary->runs_done = s->runs_done;
    summary->epochs_now = s->epochs_now;
    summary->exploded = s->exploded;
    summary->interrupted = (int)*stop;
    if (s->failed) {
        *err = s->failure;
        goto done;
    }
    status = draw(&s->table, err);
done:
    summary->seconds = wall_seconds() - start;
    curves_log_close(&s->log);
    if (lock_fd >= 0) close(lock_fd);
    free(pending);
    table_free(&s->table);
    free(s);
    free(json);
    return status;
}

/* Mean, min and max of one epoch's accuracy over the restarts that recorded it (not exploded);
 * the number of those restarts. */
static size_t accuracy_spread(const curves_table *t, size_t g, size_t epoch, int test, double *mean,
                              double *lo, double *hi) {
    size_t n = 0;
    double sum = 0.0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t r = 0; r < t->c->n_restarts; r++) {
        size_t slot = (g * t->c->n_restarts + r) * t->n_epochs + epoch - 1;
        const curves_record *rec = &t->table[slot];
        if (!t->have[slot] || rec->exploded) continue;
        double v = 100.0 * (test ? rec->test_acc : rec->train_acc);
        sum += v;
        *lo = fmin(*lo, v);
        *hi = fmax(*hi, v);
        n++;
    }
    *mean = n ? sum / (double)n : NAN;
    return n;
}

static void report_gamma(const curves_table *t, size_t g, const char *label, FILE *out) {
    size_t epochs[3] = {1, (t->n_epochs + 1) / 2, t->n_epochs};
    fprintf(out, "%s gamma %-5g", label, t->c->gammas[g]);
    for (size_t i = 0; i < 3; i++) {
        if (i > 0 && epochs[i] == epochs[i - 1]) continue;
        double mean, lo, hi, train_mean, train_lo, train_hi;
        size_t n = accuracy_spread(t, g, epochs[i], 1, &mean, &lo, &hi);
        accuracy_spread(t, g, epochs[i], 0, &train_mean, &train_lo, &train_hi);
        fprintf(out, " | epoch %zu: test %.1f %% (%.1f-%.1f), train %.1f %%, %zu runs", epochs[i],
                mean, n ? lo : NAN, n ? hi : NAN, train_mean, n);
    }
    fputc('\n', out);
}

int curves_report(const bn_curves_config *c, const char *label, FILE *out, bn_error *err) {
    char *json = curves_config_json(c, err);
    curves_table t = {0};
    if (!json) return -1;
    int status = table_create(&t, c) ? bn_fail(err, "out of memory for the curves table") : 0;
    if (status == 0) {
        char path[4200];
        t.identity = curves_identity(json);
        snprintf(path, sizeof path, "%s/curves.csv", c->out_dir);
        status = load_log(&t, path, err);
    }
    for (size_t g = 0; status == 0 && g < c->n_gammas; g++)
        report_gamma(&t, g, label, out);
    table_free(&t);
    free(json);
    return status;
}
