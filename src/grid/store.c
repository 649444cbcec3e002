/* Per-cell bookkeeping of a grid and cells.csv. */
#include "grid/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "grid/identity.h"

int grid_store_create(grid_store *s, const grid_shape *shape, bn_error *err) {
    memset(s, 0, sizeof *s);
    s->shape = *shape;
    size_t cells, n;
    if (bn_mul_size(shape->n_x, shape->n_lr, &cells) || bn_mul_size(cells, shape->n_restarts, &n))
        return bn_fail(err, "the grid is too large");
    s->done = calloc(n ? n : 1, 1);
    s->runs = calloc(n ? n : 1, sizeof *s->runs);
    if (!s->done || !s->runs) {
        grid_store_free(s);
        return bn_fail(err, "out of memory for a grid of %zu runs", n);
    }
    return 0;
}

void grid_store_free(grid_store *s) {
    free(s->done);
    free(s->runs);
    memset(s, 0, sizeof *s);
}

/* Grid values are compared as they are printed (12 significant digits), which is how they
 * were parsed and how they are written to runs.csv. */
static long find_value(const double *values, size_t n, double v) {
    char want[40], have[40];
    snprintf(want, sizeof want, "%.12g", v);
    for (size_t i = 0; i < n; i++) {
        snprintf(have, sizeof have, "%.12g", values[i]);
        if (strcmp(want, have) == 0) return (long)i;
    }
    return -1;
}

long grid_store_index(const grid_store *s, double x, double log10_lr, size_t restart) {
    const grid_shape *g = &s->shape;
    long ix = find_value(g->x_values, g->n_x, x);
    long ilr = find_value(g->log10_lrs, g->n_lr, log10_lr);
    if (ix < 0 || ilr < 0 || restart >= g->n_restarts) return -1;
    return ((long)ilr * (long)g->n_x + ix) * (long)g->n_restarts + (long)restart;
}

int grid_store_add(grid_store *s, const bn_run_record *r) {
    long i = grid_store_index(s, r->x, r->log10_lr, r->restart);
    if (i < 0) return -1;
    if (s->done[i]) return 0;
    s->done[i] = 1;
    s->runs[i] = *r;
    s->n_done++;
    s->n_exploded += r->exploded != 0;
    return 1;
}

typedef struct {
    size_t done, exploded, finite;
    double loss_mean, loss_std, acc_mean;
} cell_summary;

/* Summary over the restarts of one cell, summed in restart order. The mean and the sample
 * standard deviation are over the restarts that did not explode. */
static cell_summary summarize(const grid_store *s, size_t cell) {
    cell_summary c = {0};
    const unsigned char *done = s->done + cell * s->shape.n_restarts;
    const bn_run_record *runs = s->runs + cell * s->shape.n_restarts;
    double loss_sum = 0.0, acc_sum = 0.0;
    for (size_t r = 0; r < s->shape.n_restarts; r++) {
        if (!done[r]) continue;
        c.done++;
        if (runs[r].exploded) {
            c.exploded++;
            continue;
        }
        c.finite++;
        loss_sum += runs[r].test_loss;
        acc_sum += runs[r].test_acc;
    }
    c.loss_mean = c.finite ? loss_sum / (double)c.finite : NAN;
    c.acc_mean = c.finite ? acc_sum / (double)c.finite : NAN;
    double sq = 0.0;
    for (size_t r = 0; r < s->shape.n_restarts; r++)
        if (done[r] && !runs[r].exploded) sq += pow(runs[r].test_loss - c.loss_mean, 2);
    c.loss_std = c.finite > 1 ? sqrt(sq / (double)(c.finite - 1)) : (c.finite ? 0.0 : NAN);
    return c;
}

int grid_store_write_cells(const grid_store *s, const char *dir, bn_error *err) {
    const grid_shape *g = &s->shape;
    size_t cells = g->n_x * g->n_lr, capacity = 256 + cells * 200, used = 0;
    char *buf = malloc(capacity);
    if (!buf) return bn_fail(err, "out of memory for cells.csv");
    used += (size_t)identity_line(buf, capacity, g->identity);
    used += (size_t)snprintf(buf + used, capacity - used,
                             "%s,log10_lr,lr,n_restarts,restarts_done,restarts_exploded,"
                             "exploded,test_loss_mean,test_loss_std,test_acc_mean\n",
                             g->x_name);
    for (size_t ilr = 0; ilr < g->n_lr; ilr++)
        for (size_t ix = 0; ix < g->n_x; ix++) {
            cell_summary c = summarize(s, ilr * g->n_x + ix);
            double lr = pow(10.0, g->log10_lrs[ilr]);
            used += (size_t)snprintf(
                buf + used, capacity - used, "%.12g,%.12g,%.12g,%zu,%zu,%zu,%d,%.9g,%.9g,%.6f\n",
                g->x_values[ix], g->log10_lrs[ilr], lr, g->n_restarts, c.done, c.exploded,
                c.exploded > 0, c.loss_mean, c.loss_std, c.acc_mean);
        }
    char path[4200];
    snprintf(path, sizeof path, "%s/cells.csv", dir);
    int status = write_file_atomic(path, buf, used, err);
    free(buf);
    return status;
}
