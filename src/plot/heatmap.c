/* The heatmap of a grid run (the paper's Fig. 2): one rectangle per (x, log10 eta) cell coloured
 * by the mean test loss, exploded cells white in a thin dark frame, cells not run yet hatched
 * grey, the theory line
 * eta_bar (solid red) and eta_bar/2 (dashed red), the measured boundary as diamonds, a colour
 * bar and a legend. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot/plot.h"

/* The figure's geometry, in pixels. */
enum {
    FIGURE_WIDTH = 900,
    FIGURE_HEIGHT = 700,
    AREA_LEFT = 100,
    AREA_TOP = 78,
    AREA_RIGHT = 680,
    AREA_BOTTOM = 556,
    BAR_LEFT = 708,
    BAR_WIDTH = 20,
    BAR_STEPS = 128,
    LEGEND_FIRST_ROW = 652, /* centre of the first legend row */
    LEGEND_ROW_HEIGHT = 30,
    HATCH_SPACING = 8,
    MARKER_RADIUS = 7,
};
#define THEORY_WIDTH 2.5
#define HALF_WIDTH 2.0

static const plot_rgb grey_text = {90, 90, 90};

/* ---- Colour scale ---------------------------------------------------------------------- */

typedef struct {
    double lo, hi;
    int log;         /* colour by log10 of the loss */
    int clipped;     /* hi is the 95th percentile: a few huge losses would flatten the rest */
    int log_refused; /* log was asked for but some loss is not positive */
} color_scale;

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A range of zero width (one cell, or all losses equal) widened symmetrically about its value,
 * which then sits mid-bar with ticks on either side: by a factor of 2 each way on a log scale,
 * by half the value each way on a linear one (by 1 around a loss of 0). */
static void widen_empty_range(color_scale *scale) {
    double value = scale->lo;
    if (scale->log) {
        scale->lo = value / 2;
        scale->hi = value * 2;
    } else {
        double half_width = value != 0 ? fabs(value) / 2 : 1;
        scale->lo = value - half_width;
        scale->hi = value + half_width;
    }
}

static int color_scale_init(color_scale *scale, const plot_grid *grid, int log_color_scale) {
    size_t n_cells = grid->n_x * grid->n_y, n = 0;
    double *losses = malloc((n_cells ? n_cells : 1) * sizeof(double));
    if (!losses) return -1;
    for (size_t i = 0; i < n_cells; i++)
        if (grid->cells[i].state == PLOT_CELL_DONE) losses[n++] = grid->cells[i].test_loss_mean;
    memset(scale, 0, sizeof *scale);
    scale->lo = 0;
    scale->hi = 1;
    if (n > 0) {
        qsort(losses, n, sizeof(double), compare_doubles);
        double p95 = losses[(size_t)floor(0.95 * (double)(n - 1))];
        scale->lo = losses[0];
        scale->hi = losses[n - 1];
        if (p95 > scale->lo && scale->hi > 10 * p95) {
            scale->hi = p95;
            scale->clipped = 1;
        }
    }
    free(losses);
    scale->log = log_color_scale && scale->lo > 0;
    scale->log_refused = log_color_scale && !scale->log;
    if (!(scale->hi > scale->lo)) widen_empty_range(scale);
    return 0;
}

/* Position of a loss on the colour bar, 0 at the bottom and 1 at the top (clamped later). */
static double color_position(const color_scale *scale, double loss) {
    if (scale->log) return loss > 0 ? log10(loss / scale->lo) / log10(scale->hi / scale->lo) : 0;
    return (loss - scale->lo) / (scale->hi - scale->lo);
}

/* ---- Cells ----------------------------------------------------------------------------- */

/* Cell edges halfway between neighbouring values, the outer ones half a step outside. */
static void cell_edges(const double *values, size_t n, double *edges) {
    if (n == 1) {
        edges[0] = values[0] - 0.5;
        edges[1] = values[0] + 0.5;
        return;
    }
    for (size_t i = 1; i < n; i++)
        edges[i] = (values[i - 1] + values[i]) / 2;
    edges[0] = values[0] - (values[1] - values[0]) / 2;
    edges[n] = values[n - 1] + (values[n - 1] - values[n - 2]) / 2;
}

/* Diagonal hatching on global 45-degree lines x + y = k * HATCH_SPACING, so neighbouring cells
 * join up; inset by a pixel so the anti-aliased ends stay inside the cell. */
static void add_hatch(plot_layout *layout, double x0, double y0, double x1, double y1) {
    x0 += 1;
    y0 += 1;
    x1 -= 1;
    y1 -= 1;
    for (double c = ceil((x0 + y0) / HATCH_SPACING) * HATCH_SPACING; c < x1 + y1;
         c += HATCH_SPACING) {
        double xa = fmax(x0, c - y1), xb = fmin(x1, c - y0);
        if (xb > xa) plot_add_segment(layout, xa, c - xa, xb, c - xb, plot_not_run_hatch, 1);
    }
}

/* The frame of an exploded cell: one pixel wide, inset by a pixel so that neighbouring
 * exploded cells stay apart and half a heatmap of them reads as cells, not as empty page. Four
 * whole-pixel rects, so the PNG and the SVG draw the same frame; a cell too small to hold one
 * (a grid of hundreds of columns) stays plain white. */
static void add_exploded_frame(plot_layout *layout, double x0, double y0, double x1, double y1) {
    x0 += 1;
    y0 += 1;
    x1 -= 1;
    y1 -= 1;
    if (x1 - x0 < 4 || y1 - y0 < 4) return;
    const plot_rgb ink = plot_exploded_frame;
    plot_add_rect(layout, x0, y0, x1, y0 + 1, ink, "exploded-frame");
    plot_add_rect(layout, x0, y1 - 1, x1, y1, ink, "exploded-frame");
    plot_add_rect(layout, x0, y0 + 1, x0 + 1, y1 - 1, ink, "exploded-frame");
    plot_add_rect(layout, x1 - 1, y0 + 1, x1, y1 - 1, ink, "exploded-frame");
}

static void add_cell(plot_layout *layout, const plot_cell *cell, const color_scale *scale,
                     double x0, double y0, double x1, double y1) {
    plot_rgb fill = cell->state == PLOT_CELL_EXPLODED ? plot_white
                    : cell->state == PLOT_CELL_NOT_RUN
                        ? plot_not_run_fill
                        : plot_viridis(color_position(scale, cell->test_loss_mean));
    plot_add_rect(layout, x0, y0, x1, y1, fill, "cell");
    if (cell->state == PLOT_CELL_NOT_RUN) add_hatch(layout, x0, y0, x1, y1);
    if (cell->state == PLOT_CELL_EXPLODED) add_exploded_frame(layout, x0, y0, x1, y1);
}

/* The outer edges of cell_edges: the axis limits. */
static void outer_edges(const double *values, size_t n, double *lo, double *hi) {
    double first_step = n > 1 ? values[1] - values[0] : 1;
    double last_step = n > 1 ? values[n - 1] - values[n - 2] : 1;
    *lo = values[0] - first_step / 2;
    *hi = values[n - 1] + last_step / 2;
}

static int add_cells(plot_layout *layout, const plot_grid *grid, const plot_axes *axes,
                     const color_scale *scale) {
    double *x_edges = malloc((grid->n_x + 1) * sizeof(double));
    double *y_edges = malloc((grid->n_y + 1) * sizeof(double));
    if (!x_edges || !y_edges) {
        free(x_edges);
        free(y_edges);
        return -1;
    }
    cell_edges(grid->x, grid->n_x, x_edges);
    cell_edges(grid->log10_lr, grid->n_y, y_edges);
    /* whole-pixel edges: cells tile without seams, and PNG and SVG agree exactly */
    for (size_t i = 0; i <= grid->n_x; i++)
        x_edges[i] = round(plot_axes_x_px(axes, x_edges[i]));
    for (size_t i = 0; i <= grid->n_y; i++)
        y_edges[i] = round(plot_axes_y_px(axes, y_edges[i]));
    for (size_t iy = 0; iy < grid->n_y; iy++)
        for (size_t ix = 0; ix < grid->n_x; ix++)
            add_cell(layout, &grid->cells[iy * grid->n_x + ix], scale, x_edges[ix], y_edges[iy + 1],
                     x_edges[ix + 1], y_edges[iy]);
    free(x_edges);
    free(y_edges);
    return 0;
}

/* ---- Theory line and measured boundary ------------------------------------------------- */

static plot_path_style area_style(const plot_axes *axes, double dash_on, double dash_off) {
    plot_path_style style = {axes->left, axes->top, axes->right, axes->bottom, dash_on, dash_off};
    return style;
}

/* eta_bar and eta_bar / 2: log10 shifted down by log10(2). */
static int add_theory(plot_layout *layout, const plot_grid *grid, const plot_axes *axes) {
    size_t n = grid->n_theory;
    double *x_px = malloc((n ? n : 1) * sizeof(double)),
           *y_px = malloc((n ? n : 1) * sizeof(double));
    double *half_px = malloc((n ? n : 1) * sizeof(double));
    int status = x_px && y_px && half_px ? 0 : -1;
    for (size_t i = 0; status == 0 && i < n; i++) {
        x_px[i] = plot_axes_x_px(axes, grid->theory_x[i]);
        y_px[i] = plot_axes_y_px(axes, grid->theory_log10_eta_bar[i]);
        half_px[i] = plot_axes_y_px(axes, grid->theory_log10_eta_bar[i] - log10(2));
    }
    if (status == 0) {
        plot_path_style solid = area_style(axes, 0, 0), dashed = area_style(axes, 10, 6);
        plot_add_path(layout, x_px, half_px, n, &dashed, plot_red, HALF_WIDTH);
        plot_add_path(layout, x_px, y_px, n, &solid, plot_red, THEORY_WIDTH);
    }
    free(x_px);
    free(y_px);
    free(half_px);
    return status;
}

static void add_diamond(plot_layout *layout, double x, double y) {
    const double r = MARKER_RADIUS;
    const double xy[8] = {x, y - r, x + r, y, x, y + r, x - r, y};
    plot_add_polygon(layout, xy, 4, plot_white, plot_black, 1.5);
}

static void add_boundary(plot_layout *layout, const plot_grid *grid, const plot_axes *axes) {
    for (size_t i = 0; i < grid->n_boundary; i++) {
        double x = plot_axes_x_px(axes, grid->boundary_x[i]);
        double y = plot_axes_y_px(axes, grid->boundary_log10_lr[i]);
        if (x >= axes->left && x <= axes->right && y >= axes->top && y <= axes->bottom)
            add_diamond(layout, x, y);
    }
}

/* ---- Colour bar ------------------------------------------------------------------------ */

/* Ticks for a log colour bar: 1-2-5 per decade, or every integer mantissa if that gives too
 * few, or plain linear ticks over a range narrower than that. Each tick's label step is its
 * decade, so 0.02 prints as "0.02". */
static size_t log_ticks(const color_scale *scale, double *ticks, double *steps, size_t max) {
    static const double sparse[] = {1, 2, 5}, dense[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const double *sets[] = {sparse, dense};
    const size_t set_sizes[] = {3, 9};
    size_t n = 0;
    for (int s = 0; s < 2 && n < 3; s++) {
        n = 0;
        for (double k = floor(log10(scale->lo)); k <= ceil(log10(scale->hi)); k++)
            for (size_t m = 0; m < set_sizes[s]; m++) {
                double v = sets[s][m] * pow(10, k);
                if (v >= scale->lo * (1 - 1e-9) && v <= scale->hi * (1 + 1e-9) && n < max) {
                    ticks[n] = v;
                    steps[n++] = pow(10, k);
                }
            }
    }
    if (n >= 2) return n;
    double step;
    n = plot_nice_ticks(scale->lo, scale->hi, 5, ticks, max, &step);
    for (size_t i = 0; i < n; i++)
        steps[i] = step;
    return n;
}

static void add_bar_ticks(plot_layout *layout, const color_scale *scale, double bar_right,
                          double *widest) {
    double ticks[40], steps[40], step;
    size_t n = scale->log ? log_ticks(scale, ticks, steps, 40)
                          : plot_nice_ticks(scale->lo, scale->hi, 6, ticks, 40, &step);
    for (size_t i = 0; i < n; i++) {
        double y = floor(AREA_BOTTOM - color_position(scale, ticks[i]) * (AREA_BOTTOM - AREA_TOP));
        char label[32];
        plot_format_tick(ticks[i], scale->log ? steps[i] : step, label, sizeof label);
        plot_add_rect(layout, bar_right, y, bar_right + 5, y + 1, plot_black, NULL);
        plot_add_text(layout, bar_right + 9, y + 0.5 + 3.5 * PLOT_TEXT_SCALE, label,
                      PLOT_TEXT_SCALE, PLOT_ANCHOR_START, 0, plot_black);
        *widest = fmax(*widest, plot_text_width(label, PLOT_TEXT_SCALE));
    }
}

static void add_color_bar(plot_layout *layout, const color_scale *scale) {
    const double left = BAR_LEFT, right = BAR_LEFT + BAR_WIDTH, height = AREA_BOTTOM - AREA_TOP;
    for (int i = 0; i < BAR_STEPS; i++) {
        double y0 = round(AREA_BOTTOM - (i + 1) * height / BAR_STEPS);
        double y1 = round(AREA_BOTTOM - i * height / BAR_STEPS);
        plot_add_rect(layout, left, y0, right, y1, plot_viridis((i + 0.5) / BAR_STEPS), NULL);
    }
    if (scale->clipped) {
        /* matplotlib's "extend" triangle: losses above the top get the top colour */
        const double xy[6] = {left, AREA_TOP, right, AREA_TOP, (left + right) / 2, AREA_TOP - 18};
        plot_add_polygon(layout, xy, 3, plot_viridis(1), plot_black, 1);
    }
    plot_add_rect(layout, left - 1, AREA_TOP - 1, right + 1, AREA_TOP, plot_black, NULL);
    plot_add_rect(layout, left - 1, AREA_BOTTOM, right + 1, AREA_BOTTOM + 1, plot_black, NULL);
    plot_add_rect(layout, left - 1, AREA_TOP, left, AREA_BOTTOM, plot_black, NULL);
    plot_add_rect(layout, right, AREA_TOP, right + 1, AREA_BOTTOM, plot_black, NULL);
    double widest = 0;
    add_bar_ticks(layout, scale, right, &widest);
    const char *label = scale->clipped       ? (scale->log ? "mean test loss (log, clipped)"
                                                           : "mean test loss (clipped at top)")
                        : scale->log         ? "mean test loss (log scale)"
                        : scale->log_refused ? "mean test loss (linear: loss <= 0)"
                                             : "mean test loss";
    plot_add_text(layout, right + 9 + widest + 12 + 7 * PLOT_TEXT_SCALE,
                  (AREA_TOP + AREA_BOTTOM) / 2.0, label, PLOT_TEXT_SCALE, PLOT_ANCHOR_MIDDLE, 1,
                  plot_black);
}

/* ---- Legend ---------------------------------------------------------------------------- */

typedef enum { KEY_EXPLODED, KEY_NOT_RUN, KEY_THEORY, KEY_HALF, KEY_BOUNDARY } legend_key;

static void add_swatch(plot_layout *layout, legend_key key, double x, double y_mid) {
    const double x1 = x + PLOT_SWATCH_WIDTH, y0 = y_mid - PLOT_SWATCH_HEIGHT / 2.0,
                 y1 = y_mid + PLOT_SWATCH_HEIGHT / 2.0;
    const plot_rgb border = {110, 110, 110};
    switch (key) {
    case KEY_EXPLODED:
        add_exploded_frame(layout, x, y0, x1, y1);
        break;
    case KEY_NOT_RUN:
        plot_add_rect(layout, x, y0, x1, y1, border, NULL);
        plot_add_rect(layout, x + 1, y0 + 1, x1 - 1, y1 - 1, plot_not_run_fill, NULL);
        add_hatch(layout, x + 1, y0 + 1, x1 - 1, y1 - 1);
        break;
    case KEY_THEORY:
        plot_add_segment(layout, x + 2, y_mid, x1 - 2, y_mid, plot_red, THEORY_WIDTH);
        break;
    case KEY_HALF: {
        const plot_path_style style = {0, 0, FIGURE_WIDTH, FIGURE_HEIGHT, 10, 6};
        const double xs[2] = {x + 1, x1 - 1}, ys[2] = {y_mid, y_mid};
        plot_add_path(layout, xs, ys, 2, &style, plot_red, HALF_WIDTH);
        break;
    }
    case KEY_BOUNDARY:
        add_diamond(layout, x + PLOT_SWATCH_WIDTH / 2.0, y_mid);
        break;
    }
}

static size_t count_cells_run(const plot_grid *grid) {
    size_t n_run = 0;
    for (size_t i = 0; i < grid->n_x * grid->n_y; i++)
        n_run += grid->cells[i].state != PLOT_CELL_NOT_RUN;
    return n_run;
}

/* Entries left to right, wrapping into a second row, each row centred under the cell area.
 * "not run yet" only while some cell has not run: a finished grid has none to explain. */
static void add_legend(plot_layout *layout, const plot_grid *grid) {
    legend_key keys[5];
    const char *labels[5];
    size_t n = 0;
    keys[n] = KEY_EXPLODED;
    labels[n++] = "exploded (any restart)";
    if (count_cells_run(grid) < grid->n_x * grid->n_y) {
        keys[n] = KEY_NOT_RUN;
        labels[n++] = "not run yet";
    }
    if (grid->n_theory > 0) {
        keys[n] = KEY_THEORY;
        labels[n++] = PLOT_ETA_BAR " (theory)";
        keys[n] = KEY_HALF;
        labels[n++] = PLOT_ETA_BAR "/2";
    }
    if (grid->has_boundary) {
        keys[n] = KEY_BOUNDARY;
        labels[n++] = "measured boundary";
    }
    const plot_legend_box box = {(AREA_LEFT + AREA_RIGHT) / 2.0, 20, FIGURE_WIDTH - 20,
                                 LEGEND_FIRST_ROW, LEGEND_ROW_HEIGHT};
    double x[5], y_mid[5];
    plot_add_legend_labels(layout, &box, labels, n, x, y_mid);
    for (size_t i = 0; i < n; i++)
        add_swatch(layout, keys[i], x[i], y_mid[i]);
}

/* ---- Titles ---------------------------------------------------------------------------- */

static const char *dataset_title(const char *name) {
    if (strcmp(name, "mnist") == 0) return "MNIST";
    if (strcmp(name, "cifar10") == 0 || strcmp(name, "cifar-10") == 0) return "CIFAR-10";
    return *name ? name : "?";
}

static const char *arch_title(const char *name) {
    if (strcmp(name, "fc") == 0) return "FC";
    if (strcmp(name, "conv") == 0) return "Conv";
    if (strcmp(name, "cnn") == 0) return "CNN";
    return *name ? name : "?";
}

/* "MNIST, FC + BN: test loss after 5 epochs, mean of 5 restarts" */
static void format_title(const plot_grid *grid, char *out, size_t size) {
    char epochs[48] = "", restarts[48] = "";
    if (isfinite(grid->epochs))
        snprintf(epochs, sizeof epochs, " after %g epoch%s", grid->epochs,
                 grid->epochs == 1 ? "" : "s");
    if (isfinite(grid->n_restarts))
        snprintf(restarts, sizeof restarts, ", mean of %g restart%s", grid->n_restarts,
                 grid->n_restarts == 1 ? "" : "s");
    snprintf(out, size, "%s, %s%s: test loss%s%s", dataset_title(grid->dataset),
             arch_title(grid->arch),
             grid->batchnorm == 1   ? " + BN"
             : grid->batchnorm == 0 ? " (no BN)"
                                    : "",
             epochs, restarts);
}

/* The config's note and, while the grid is running, how far it has got. */
static void format_subtitle(const plot_grid *grid, char *out, size_t size) {
    size_t n_cells = grid->n_x * grid->n_y, n_run = count_cells_run(grid);
    char progress[64] = "";
    if (n_run < n_cells)
        snprintf(progress, sizeof progress, "%zu of %zu cell%s run", n_run, n_cells,
                 n_cells == 1 ? "" : "s");
    snprintf(out, size, "%s%s%s", grid->title_note, *grid->title_note && *progress ? "; " : "",
             progress);
}

static void add_titles(plot_layout *layout, const plot_grid *grid) {
    char title[256], subtitle[384];
    format_title(grid, title, sizeof title);
    format_subtitle(grid, subtitle, sizeof subtitle);
    const double centre = (AREA_LEFT + AREA_RIGHT) / 2.0;
    plot_add_title(layout, centre, *subtitle ? 30 : 44, title, FIGURE_WIDTH - 20);
    if (*subtitle)
        plot_add_text(layout, centre, 56, subtitle, 1.5, PLOT_ANCHOR_MIDDLE, 0, grey_text);
}

/* "gamma" as the Greek letter, "sigma_w2" as sigma_w^2, anything else as it is. */
static const char *x_title(const char *name) {
    if (strcmp(name, "gamma") == 0) return "γ";
    if (strcmp(name, "sigma_w2") == 0) return "σ_{w}^{2}";
    return name;
}

/* ---- The figure ------------------------------------------------------------------------ */

int plot_heatmap_layout(const plot_grid *grid, int log_color_scale, plot_layout *layout,
                        plot_axes *axes, bn_error *err) {
    plot_layout_init(layout, FIGURE_WIDTH, FIGURE_HEIGHT);
    if (grid->n_x == 0 || grid->n_y == 0) return bn_fail(err, "no cells to plot");
    double x_min, x_max, y_min, y_max;
    outer_edges(grid->x, grid->n_x, &x_min, &x_max);
    outer_edges(grid->log10_lr, grid->n_y, &y_min, &y_max);
    *axes =
        (plot_axes){AREA_LEFT, AREA_TOP, AREA_RIGHT, AREA_BOTTOM, x_min, x_max, y_min, y_max, 0};
    color_scale scale;
    if (color_scale_init(&scale, grid, log_color_scale) != 0 ||
        add_cells(layout, grid, axes, &scale) != 0 || add_theory(layout, grid, axes) != 0)
        return bn_fail(err, "out of memory while laying out the heatmap");
    add_boundary(layout, grid, axes);
    plot_add_axes(layout, axes, x_title(grid->x_name), "log_{10} η");
    add_color_bar(layout, &scale);
    add_legend(layout, grid);
    add_titles(layout, grid);
    return layout->out_of_memory ? bn_fail(err, "out of memory while laying out the heatmap") : 0;
}

int plot_heatmap_dir(const char *dir, int log_color_scale, bn_error *err) {
    plot_grid grid;
    if (plot_grid_read(dir, &grid, err) != 0) return -1;
    plot_layout layout;
    plot_axes axes;
    char path[4096];
    int status = plot_heatmap_layout(&grid, log_color_scale, &layout, &axes, err);
    if (status == 0 && snprintf(path, sizeof path, "%s/heatmap.png", dir) >= (int)sizeof path)
        status = bn_fail(err, "%s: path too long", dir);
    if (status == 0) status = plot_write_figure(&layout, path, err);
    plot_layout_free(&layout);
    plot_grid_free(&grid);
    return status;
}
