/* The lambda figure (issue 22 item 4): the Fisher's lambda_max measured by `probe --lambda`
 * against gamma, beside the mean-field lower bound and, when a grid folder is given, the
 * lambda its measured boundary stands for, 2(1 + mu)/eta_emp: all three on one log10 axis, so
 * that the distances read as decades of eta_bar too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "plot/plot.h"

enum {
    FIGURE_WIDTH = 720,
    FIGURE_HEIGHT = 560,
    PANEL_LEFT = 120,
    PANEL_RIGHT = 690,
    PANEL_TOP = 62,
    PANEL_BOTTOM = 430,
    LEGEND_ROW = 520,
    MARKER_HALF = 5,
};
#define LINE_WIDTH 2.0
static const plot_rgb measured_color = {213, 94, 0}, bound_color = {0, 0, 0},
                      grid_color = {0, 114, 178};

/* Keeps the whole network's (layer 0, `all`) lambda_max and lambda_bound rows. */
static int keep_lambda_row(void *ctx, size_t layer, const char *quantity, double value,
                           double spread) {
    (void)spread;
    plot_lambda_point *point = ctx;
    if (layer == 0 && strcmp(quantity, "lambda_max") == 0) point->lambda_max = value;
    if (layer == 0 && strcmp(quantity, "lambda_bound") == 0) point->lambda_bound = value;
    return 0;
}

int plot_lambda_read(const char *dir, plot_lambda_point *point, bn_error *err) {
    char path[4200], *json = NULL;
    size_t length;
    point->lambda_max = point->lambda_bound = NAN;
    if (plot_probe_rows(dir, keep_lambda_row, point, err)) return -1;
    if (!(point->lambda_max > 0)) return 1;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (read_file(path, &json, &length, err)) return -1;
    point->gamma = plot_json_number(json, "gamma");
    point->momentum = plot_json_number(json, "momentum");
    point->batchnorm = strstr(json, "\"batchnorm\": true") != NULL;
    free(json);
    if (!isfinite(point->gamma) || !isfinite(point->momentum))
        return bn_fail(err, "%s: no gamma or momentum", path);
    return 0;
}

static int by_gamma(const void *a, const void *b) {
    const plot_lambda_point *p = a, *q = b;
    return (p->gamma > q->gamma) - (p->gamma < q->gamma);
}

/* The y range over every finite log10 value drawn, 5 % wider on each side. */
static void y_range(const plot_lambda_point *pts, size_t n, const double *grid_log10_lambda,
                    size_t n_grid, plot_axes *axes) {
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v[2] = {log10(pts[i].lambda_max), log10(pts[i].lambda_bound)};
        for (int k = 0; k < 2; k++)
            if (isfinite(v[k])) lo = fmin(lo, v[k]), hi = fmax(hi, v[k]);
    }
    for (size_t i = 0; i < n_grid; i++)
        if (isfinite(grid_log10_lambda[i]))
            lo = fmin(lo, grid_log10_lambda[i]), hi = fmax(hi, grid_log10_lambda[i]);
    double margin = hi > lo ? 0.05 * (hi - lo) : 0.5;
    axes->y_min = lo - margin;
    axes->y_max = hi + margin;
}

static void add_series(plot_layout *layout, const plot_axes *axes, const double *x,
                       const double *log10_y, size_t n, plot_rgb color, double dash, int markers) {
    double x_px[PLOT_LAMBDA_MAX_POINTS], y_px[PLOT_LAMBDA_MAX_POINTS];
    size_t m = 0;
    for (size_t i = 0; i < n && m < PLOT_LAMBDA_MAX_POINTS; i++)
        if (isfinite(log10_y[i])) {
            x_px[m] = plot_axes_x_px(axes, x[i]);
            y_px[m++] = plot_axes_y_px(axes, log10_y[i]);
        }
    const plot_path_style style = {axes->left, axes->top, axes->right, axes->bottom, dash, dash};
    if (m > 1) plot_add_path(layout, x_px, y_px, m, &style, color, LINE_WIDTH);
    for (size_t i = 0; markers && i < m; i++)
        plot_add_rect(layout, x_px[i] - MARKER_HALF, y_px[i] - MARKER_HALF, x_px[i] + MARKER_HALF,
                      y_px[i] + MARKER_HALF, color, "marker");
}

static void add_legend(plot_layout *layout, int with_grid) {
    const char *const labels[3] = {"λ_{max} measured (probe --lambda)", "lower bound (theory)",
                                   "2(1+μ)/η of the grid's boundary"};
    const plot_rgb colors[3] = {measured_color, bound_color, grid_color};
    const plot_legend_box box = {FIGURE_WIDTH / 2.0, 20, FIGURE_WIDTH - 20, LEGEND_ROW - 12, 26};
    double x[3], y_mid[3];
    size_t n = with_grid ? 3 : 2;
    plot_add_legend_labels(layout, &box, labels, n, x, y_mid);
    for (size_t i = 0; i < n; i++) {
        double left = x[i] + 2, right = x[i] + PLOT_SWATCH_WIDTH - 2, mid = (left + right) / 2;
        if (i == 1) { /* the bound is dashed */
            plot_add_segment(layout, left, y_mid[i], mid - 3, y_mid[i], colors[i], LINE_WIDTH);
            plot_add_segment(layout, mid + 3, y_mid[i], right, y_mid[i], colors[i], LINE_WIDTH);
        } else {
            plot_add_segment(layout, left, y_mid[i], right, y_mid[i], colors[i], LINE_WIDTH);
        }
    }
}

int plot_lambda_figure(plot_lambda_point *points, size_t n, const plot_grid *grid,
                       const char *png_path, bn_error *err) {
    if (n < 2 || n > PLOT_LAMBDA_MAX_POINTS)
        return bn_fail(err, "%s: %zu probe folders with lambda_max: 2 to %d needed", png_path, n,
                       PLOT_LAMBDA_MAX_POINTS);
    qsort(points, n, sizeof *points, by_gamma);
    double gamma[PLOT_LAMBDA_MAX_POINTS], measured[PLOT_LAMBDA_MAX_POINTS],
        bound[PLOT_LAMBDA_MAX_POINTS], grid_lambda[PLOT_LAMBDA_MAX_POINTS];
    for (size_t i = 0; i < n; i++) {
        gamma[i] = points[i].gamma;
        measured[i] = log10(points[i].lambda_max);
        bound[i] = points[i].lambda_bound > 0 ? log10(points[i].lambda_bound) : NAN;
    }
    /* eta_emp -> lambda with the probes' momentum (the grid's, if they were made alike) */
    size_t n_grid = grid ? grid->n_boundary : 0;
    if (n_grid > PLOT_LAMBDA_MAX_POINTS) n_grid = PLOT_LAMBDA_MAX_POINTS;
    for (size_t i = 0; i < n_grid; i++)
        grid_lambda[i] = log10(2 * (1 + points[0].momentum)) - grid->boundary_log10_lr[i];
    plot_axes axes = {PANEL_LEFT, PANEL_TOP, PANEL_RIGHT, PANEL_BOTTOM, 0, 1, 0, 1, 0};
    double x_lo = gamma[0], x_hi = gamma[n - 1];
    for (size_t i = 0; i < n_grid; i++)
        x_lo = fmin(x_lo, grid->boundary_x[i]), x_hi = fmax(x_hi, grid->boundary_x[i]);
    double margin = x_hi > x_lo ? 0.05 * (x_hi - x_lo) : 0.5;
    axes.x_min = x_lo - margin;
    axes.x_max = x_hi + margin;
    y_range(points, n, grid_lambda, n_grid, &axes);
    plot_layout layout;
    plot_layout_init(&layout, FIGURE_WIDTH, FIGURE_HEIGHT);
    add_series(&layout, &axes, gamma, bound, n, bound_color, 6, 0);
    if (n_grid) add_series(&layout, &axes, grid->boundary_x, grid_lambda, n_grid, grid_color, 0, 1);
    add_series(&layout, &axes, gamma, measured, n, measured_color, 0, 1);
    plot_add_axes(&layout, &axes, "γ", "log_{10} λ_{max}");
    add_legend(&layout, n_grid > 0);
    plot_add_title(&layout, FIGURE_WIDTH / 2.0, 34,
                   points[0].batchnorm ? "Fisher λ_{max} against γ (BN)"
                                       : "Fisher λ_{max} against γ",
                   FIGURE_WIDTH - 20);
    int status = layout.out_of_memory
                     ? bn_fail(err, "%s: out of memory while laying out the figure", png_path)
                     : plot_write_figure(&layout, png_path, err);
    plot_layout_free(&layout);
    return status;
}
