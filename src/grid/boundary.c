/* Phase boundary of a grid: first diverged learning rate per column, against eta_bar. */
#include "grid/boundary.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "grid/identity.h"
#include "plot/plot.h"

/* log10 eta_bar at x, linear between the theory's samples; NaN outside them. */
static double theory_at(const plot_grid *g, double x) {
    for (size_t i = 0; i + 1 < g->n_theory; i++) {
        double x0 = g->theory_x[i], x1 = g->theory_x[i + 1];
        if (x < x0 || x > x1) continue;
        double t = x1 > x0 ? (x - x0) / (x1 - x0) : 0.0;
        return g->theory_log10_eta_bar[i] * (1.0 - t) + g->theory_log10_eta_bar[i + 1] * t;
    }
    if (g->n_theory == 1 && g->theory_x[0] == x) return g->theory_log10_eta_bar[0];
    return NAN;
}

static int diverged(const plot_cell *c, double diverged_loss) {
    return c->state == PLOT_CELL_EXPLODED ||
           (c->state == PLOT_CELL_DONE && c->test_loss_mean > diverged_loss);
}

/* The smallest log10 eta of column ix whose cell diverged, or NaN. */
static double first_diverged(const plot_grid *g, size_t ix, double diverged_loss) {
    for (size_t iy = 0; iy < g->n_y; iy++)
        if (diverged(&g->cells[iy * g->n_x + ix], diverged_loss)) return g->log10_lr[iy];
    return NAN;
}

int boundary_write(const char *dir, double diverged_loss, bn_boundary_summary *summary,
                   bn_error *err) {
    plot_grid g;
    uint64_t identity;
    memset(summary, 0, sizeof *summary);
    if (grid_folder_identity(dir, &identity, err) || grid_check_identities(dir, identity, err) ||
        plot_grid_read(dir, &g, err))
        return -1;
    /* A row's longest text: two %.12g (at most 19 characters each) and two %.6f of any double
     * (at most 317 each: DBL_MAX has 309 digits), from a theory.csv that may hold anything
     * finite, and the separators. */
    enum { ROW_MAX = 2 * 19 + 2 * 317 + 4 };
    size_t capacity = 128 + strlen(g.x_name) + g.n_x * ROW_MAX, used = 0;
    char *csv = malloc(capacity);
    if (!csv) {
        plot_grid_free(&g);
        return bn_fail(err, "out of memory");
    }
    used += (size_t)identity_line(csv, capacity, identity);
    used += (size_t)snprintf(csv + used, capacity - used,
                             "%s,log10_lr_emp,log10_eta_bar,distance_decades\n", g.x_name);
    double sum_abs = 0.0, sum = 0.0;
    summary->n_x = g.n_x;
    summary->lr_step_decades = g.n_y > 1 ? g.log10_lr[1] - g.log10_lr[0] : NAN;
    for (size_t ix = 0; ix < g.n_x; ix++) {
        double emp = first_diverged(&g, ix, diverged_loss), bar = theory_at(&g, g.x[ix]);
        double distance = emp - bar;
        used += (size_t)snprintf(csv + used, capacity - used, "%.12g,%.12g,%.6f,%.6f\n",
                                 g.x[ix], emp, bar, distance);
        if (!isfinite(distance)) continue;
        summary->n_measured++;
        sum_abs += fabs(distance);
        sum += distance;
        if (fabs(distance) > summary->max_abs_decades) summary->max_abs_decades = fabs(distance);
    }
    summary->mean_abs_decades = summary->n_measured ? sum_abs / summary->n_measured : NAN;
    summary->mean_decades = summary->n_measured ? sum / summary->n_measured : NAN;
    if (!summary->n_measured) summary->max_abs_decades = NAN;
    char path[4200];
    snprintf(path, sizeof path, "%s/boundary.csv", dir);
    int status = write_file_atomic(path, csv, used, err);
    free(csv);
    plot_grid_free(&g);
    return status;
}

double boundary_diverged_loss(bn_loss loss) {
    return 10.0 * (loss == LOSS_MSE ? 0.5 : log(10.0));
}

/* Whether a boundary can be measured from G alone: every cell has run (a cell not run yet
 * below a diverged one could move the boundary down) and there is a theory to compare with. */
static int measurable(const plot_grid *g) {
    if (!g->n_theory || g->n_x == 0) return 0;
    for (size_t k = 0; k < g->n_x * g->n_y; k++)
        if (g->cells[k].state == PLOT_CELL_NOT_RUN) return 0;
    return 1;
}

int boundary_ensure(const char *dir, int *written, bn_error *err) {
    *written = 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/boundary.csv", dir);
    if (access(path, F_OK) == 0) return 0;
    plot_grid g;
    if (plot_grid_read(dir, &g, err)) return -1;
    int ok = measurable(&g);
    bn_loss loss = strcmp(g.loss, "ce") == 0 ? LOSS_CE : LOSS_MSE;
    if (strcmp(g.loss, "ce") != 0 && strcmp(g.loss, "mse") != 0) ok = 0;
    plot_grid_free(&g);
    if (!ok) return 0;
    bn_boundary_summary summary;
    if (boundary_write(dir, boundary_diverged_loss(loss), &summary, err)) return -1;
    *written = 1;
    return 0;
}
