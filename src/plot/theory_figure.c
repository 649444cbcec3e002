/* The theory figure (the paper's Fig. 1): against gamma, the lower bound on lambda_max (left
 * panel) and log10 eta_bar (right panel), for BatchNorm (red) and vanilla (blue) networks. */
#include <math.h>
#include <stdlib.h>

#include "plot/plot.h"

enum {
    FIGURE_WIDTH = 1000,
    FIGURE_HEIGHT = 470,
    PANEL_TOP = 62,
    PANEL_BOTTOM = 352,
    PANEL_WIDTH = 375,
    LEFT_PANEL_LEFT = 105,
    RIGHT_PANEL_LEFT = 595,
    LEGEND_ROW = 446,
};
#define LINE_WIDTH 2.0

/* Finite range of up to two series (NULL ones skipped), widened by 5% on each side as
 * matplotlib does, and to a unit range if flat. Returns 0 if there is no finite value. */
static int padded_range(const double *a, const double *b, size_t n, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    const double *series[2] = {a, b};
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; series[s] && i < n; i++)
            if (isfinite(series[s][i])) {
                *lo = fmin(*lo, series[s][i]);
                *hi = fmax(*hi, series[s][i]);
            }
    if (!isfinite(*lo)) return 0;
    double margin = *hi > *lo ? 0.05 * (*hi - *lo) : 0.5;
    *lo -= margin;
    *hi += margin;
    return 1;
}

static int add_series(plot_layout *layout, const plot_axes *axes, const double *gamma,
                      const double *y, size_t n, plot_rgb color) {
    if (!y) return 0;
    double *x_px = malloc(n * sizeof(double)), *y_px = malloc(n * sizeof(double));
    if (!x_px || !y_px) {
        free(x_px);
        free(y_px);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        x_px[i] = plot_axes_x_px(axes, gamma[i]);
        y_px[i] = plot_axes_y_px(axes, y[i]);
    }
    const plot_path_style style = {axes->left, axes->top, axes->right, axes->bottom, 0, 0};
    plot_add_path(layout, x_px, y_px, n, &style, color, LINE_WIDTH);
    free(x_px);
    free(y_px);
    return 0;
}

static int add_panel(plot_layout *layout, double left, const double *gamma, size_t n,
                     const double *bn, const double *vanilla, const char *y_title) {
    plot_axes axes = {left, PANEL_TOP, left + PANEL_WIDTH, PANEL_BOTTOM, 0, 1, 0, 1, 0};
    if (!padded_range(gamma, NULL, n, &axes.x_min, &axes.x_max) ||
        !padded_range(bn, vanilla, n, &axes.y_min, &axes.y_max)) {
        /* nothing finite to draw: keep the empty axes so the figure still says what it is */
        axes.x_min = axes.y_min = 0;
        axes.x_max = axes.y_max = 1;
    }
    if (add_series(layout, &axes, gamma, vanilla, n, plot_blue) != 0 ||
        add_series(layout, &axes, gamma, bn, n, plot_red) != 0)
        return -1;
    plot_add_axes(layout, &axes, "γ", y_title);
    return 0;
}

static void add_legend(plot_layout *layout) {
    const char *const labels[2] = {"BatchNorm", "vanilla"};
    const plot_rgb colors[2] = {plot_red, plot_blue};
    const plot_legend_box box = {FIGURE_WIDTH / 2.0, 20, FIGURE_WIDTH - 20, LEGEND_ROW, 30};
    double x[2], y_mid[2];
    plot_add_legend_labels(layout, &box, labels, 2, x, y_mid);
    for (int i = 0; i < 2; i++)
        plot_add_segment(layout, x[i] + 2, y_mid[i], x[i] + PLOT_SWATCH_WIDTH - 2, y_mid[i],
                         colors[i], LINE_WIDTH);
}

int plot_theory_figure(const char *png_path, const char *title, const double *gamma, size_t n,
                       const double *lambda_bn, const double *lambda_vanilla,
                       const double *log10_eta_bn, const double *log10_eta_vanilla, bn_error *err) {
    if (n == 0 || !gamma) return bn_fail(err, "%s: no gamma values to plot", png_path);
    plot_layout layout;
    plot_layout_init(&layout, FIGURE_WIDTH, FIGURE_HEIGHT);
    int status = 0;
    if (add_panel(&layout, LEFT_PANEL_LEFT, gamma, n, lambda_bn, lambda_vanilla,
                  "λ_{max} (lower bound)") != 0 ||
        add_panel(&layout, RIGHT_PANEL_LEFT, gamma, n, log10_eta_bn, log10_eta_vanilla,
                  "log_{10} " PLOT_ETA_BAR) != 0)
        layout.out_of_memory = 1;
    add_legend(&layout);
    plot_add_title(&layout, FIGURE_WIDTH / 2.0, 34, title ? title : "", FIGURE_WIDTH - 20);
    if (layout.out_of_memory)
        status = bn_fail(err, "%s: out of memory while laying out the figure", png_path);
    else
        status = plot_write_figure(&layout, png_path, err);
    plot_layout_free(&layout);
    return status;
}
