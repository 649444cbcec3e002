/* Tests of the grid store (src/grid/store.c) on a 2 x 2 grid with 3 restarts: the index of a
 * run, add / duplicate / not in the grid, the done and exploded counts, and cells.csv written
 * to a temporary folder: per cell the restarts done and exploded, the mean and sample
 * standard deviation of the test loss over the restarts that did not explode, the exploded
 * flag, the same bytes whatever the order in which runs were added, and the identity line of
 * the grid's configuration first. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "grid/results.h"
#include "base/file.h"
#include "grid/store.h"

static const double x_values[] = {0.5, 1.0}, log10_lrs[] = {-2.0, -1.0};
static const grid_shape shape = {.x_name = "gamma",
                                 .x_values = x_values,
                                 .n_x = 2,
                                 .log10_lrs = log10_lrs,
                                 .n_lr = 2,
                                 .n_restarts = 3,
                                 .identity = 0x0123456789abcdefULL};

static bn_run_record finished(double x, double log10_lr, size_t restart, double test_loss,
                              double test_acc) {
    return (bn_run_record){.x = x,
                           .log10_lr = log10_lr,
                           .lr = pow(10.0, log10_lr),
                           .restart = restart,
                           .seed = 100 + restart,
                           .train_loss = test_loss,
                           .test_loss = test_loss,
                           .test_acc = test_acc,
                           .seconds = 1.0};
}

static bn_run_record exploded(double x, double log10_lr, size_t restart) {
    bn_run_record r = finished(x, log10_lr, restart, NAN, NAN);
    r.exploded = 1;
    r.exploded_epoch = 1;
    r.exploded_step = 7;
    return r;
}

/* The runs of the test grid; the (1, -1) cell has none.
 *   (0.5, -2): losses 1, 2, 3          -> mean 2, std 1, accuracy 0.6
 *   (1, -2):   0.5, exploded, 1.5      -> mean 1, std sqrt(1/2), one explosion
 *   (0.5, -1): exploded, 4, not run    -> mean 4, std 0 (one finite run) */
enum { N_RUNS = 8 };

static void make_runs(bn_run_record *runs) {
    runs[0] = finished(0.5, -2, 0, 1.0, 0.5);
    runs[1] = finished(0.5, -2, 1, 2.0, 0.6);
    runs[2] = finished(0.5, -2, 2, 3.0, 0.7);
    runs[3] = finished(1.0, -2, 0, 0.5, 0.9);
    runs[4] = exploded(1.0, -2, 1);
    runs[5] = finished(1.0, -2, 2, 1.5, 0.8);
    runs[6] = exploded(0.5, -1, 0);
    runs[7] = finished(0.5, -1, 1, 4.0, 0.25);
}

static const char expected_cells[] =
    "# bntrain grid config 0123456789abcdef\n"
    "gamma,log10_lr,lr,n_restarts,restarts_done,restarts_exploded,exploded,test_loss_mean,"
    "test_loss_std,test_acc_mean\n"
    "0.5,-2,0.01,3,3,0,0,2,1,0.600000\n"
    "1,-2,0.01,3,3,1,1,1,0.707106781,0.850000\n"
    "0.5,-1,0.1,3,2,1,1,4,0,0.250000\n"
    "1,-1,0.1,3,0,0,0,nan,nan,nan\n";

static void check_index(void) {
    grid_store s;
    bn_error err;
    CHECK(grid_store_create(&s, &shape, &err) == 0);
    /* Index order: log10 eta, then x, then restart. */
    CHECK(grid_store_index(&s, 0.5, -2, 0) == 0);
    CHECK(grid_store_index(&s, 0.5, -2, 2) == 2);
    CHECK(grid_store_index(&s, 1.0, -2, 0) == 3);
    CHECK(grid_store_index(&s, 0.5, -1, 1) == 7);
    CHECK(grid_store_index(&s, 1.0, -1, 2) == 11);
    /* Values are compared at 12 significant digits, as runs.csv prints them. */
    CHECK(grid_store_index(&s, 0.5 + 1e-15, -1.0 - 1e-15, 0) == 6);
    CHECK(grid_store_index(&s, 0.7, -2, 0) == -1);
    CHECK(grid_store_index(&s, 0.5, -1.5, 0) == -1);
    CHECK(grid_store_index(&s, 0.5, -2, 3) == -1);
    grid_store_free(&s);
}

static void check_add(void) {
    grid_store s;
    bn_error err;
    CHECK(grid_store_create(&s, &shape, &err) == 0);
    bn_run_record runs[N_RUNS];
    make_runs(runs);
    for (size_t i = 0; i < N_RUNS; i++)
        CHECK(grid_store_add(&s, &runs[i]) == 1);
    CHECK(s.n_done == N_RUNS && s.n_exploded == 2);
    CHECK(s.done[0] && s.done[7] && !s.done[8] && !s.done[9]);
    /* A second record of a run changes nothing: the first one stays. */
    bn_run_record again = finished(0.5, -2, 1, 99.0, 0.0);
    CHECK(grid_store_add(&s, &again) == 0);
    CHECK(s.runs[1].test_loss == 2.0 && s.n_done == N_RUNS);
    bn_run_record outside = finished(2.0, -2, 0, 1.0, 0.5);
    CHECK(grid_store_add(&s, &outside) == -1);
    outside = finished(0.5, -2, 5, 1.0, 0.5);
    CHECK(grid_store_add(&s, &outside) == -1);
    CHECK(s.n_done == N_RUNS && s.n_exploded == 2);
    grid_store_free(&s);
}

/* Writes cells.csv of the runs added in the order given and returns its text (malloc'd). */
static char *cells_of(const char *dir, const bn_run_record *runs, const size_t *order) {
    grid_store s;
    bn_error err;
    CHECK(grid_store_create(&s, &shape, &err) == 0);
    for (size_t i = 0; i < N_RUNS; i++)
        grid_store_add(&s, &runs[order[i]]);
    CHECK_MSG(grid_store_write_cells(&s, dir, &err) == 0, "%s", err.msg);
    grid_store_free(&s);
    char path[512], *text = NULL;
    size_t length = 0;
    snprintf(path, sizeof path, "%s/cells.csv", dir);
    CHECK_MSG(read_file(path, &text, &length, &err) == 0, "%s", err.msg);
    return text;
}

static void check_cells(void) {
    char dir[] = "/tmp/bntrain_test_grid_store_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        check_failed++;
        return;
    }
    bn_run_record runs[N_RUNS];
    make_runs(runs);
    const size_t in_order[N_RUNS] = {0, 1, 2, 3, 4, 5, 6, 7};
    const size_t shuffled[N_RUNS] = {5, 2, 7, 0, 4, 6, 1, 3};
    char *first = cells_of(dir, runs, in_order);
    CHECK_MSG(first && strcmp(first, expected_cells) == 0, "cells.csv:\n%s", first ? first : "");
    char *second = cells_of(dir, runs, shuffled);
    CHECK(first && second && strcmp(first, second) == 0);
    free(first);
    free(second);

    /* The x column is named after the axis (a sigma_w^2 sweep). */
    grid_shape sweep = shape;
    sweep.x_name = "sigma_w2";
    grid_store s;
    bn_error err;
    CHECK(grid_store_create(&s, &sweep, &err) == 0);
    CHECK(grid_store_write_cells(&s, dir, &err) == 0);
    grid_store_free(&s);
    char path[512], *text = NULL;
    size_t length;
    snprintf(path, sizeof path, "%s/cells.csv", dir);
    CHECK(read_file(path, &text, &length, &err) == 0);
    const char *header = text ? strchr(text, '\n') : NULL;
    CHECK(header && strncmp(header + 1, "sigma_w2,log10_lr,", 18) == 0);
    free(text);
    CHECK(unlink(path) == 0 && rmdir(dir) == 0);

    /* An unwritable folder is an error with a message, not a crash. */
    CHECK(grid_store_create(&s, &shape, &err) == 0);
    CHECK(grid_store_write_cells(&s, "/nonexistent/folder", &err) == -1 && err.msg[0]);
    grid_store_free(&s);
}

static void check_too_large(void) {
    grid_shape huge = shape;
    huge.n_restarts = (size_t)-1 / 2;
    grid_store s;
    bn_error err;
    CHECK(grid_store_create(&s, &huge, &err) == -1 && strstr(err.msg, "too large"));
}

int main(void) {
    check_index();
    check_add();
    check_cells();
    check_too_large();
    return check_summary("test_grid_store");
}
