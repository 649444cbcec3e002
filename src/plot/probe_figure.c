/* The figure of `bntrain probe` folders: one panel per quantity against the layer index, one
 * colour per folder (BatchNorm and vanilla side by side), error bars for the channel spread,
 * log10 of the value where a panel's values span more than two decades. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot/plot.h"

/* The figure's geometry, in pixels: panels in a grid of PANEL_COLUMNS, each a cell of
 * PANEL_WIDTH x PANEL_HEIGHT holding its title, plot area and axis labels. */
enum {
    FIGURE_WIDTH = 1000,
    PANEL_COLUMNS = 2,
    PANEL_WIDTH = 500,
    PANEL_HEIGHT = 330,
    FIGURE_TOP = 60, /* the first panel row starts here, below the title */
    TITLE_BASELINE = 36,
    AREA_LEFT = 110, /* within a panel cell */
    AREA_RIGHT = 480,
    AREA_TOP = 40,
    AREA_BOTTOM = 250,
    PANEL_TITLE_BASELINE = 28,
    LEGEND_GAP = 30, /* from the last panel row to the legend's first row */
    LEGEND_ROW_HEIGHT = 30,
    BOTTOM_MARGIN = 16,
};
#define LINE_WIDTH 2.0
#define DOT_HALF 3.5
#define BAR_HALF 4.0 /* half the width of an error bar's caps */
/* A panel's values are drawn as log10 when their largest is this times their smallest. */
#define LOG_SPAN 100.0

/* The quantities drawn, in panel order; those with a channel spread get error bars. */
static const struct {
    const char *quantity, *title;
    int spread;
} panels[] = {
    {"channel_mean_abs", "|channel mean| of pre-activations", 1},
    {"channel_var", "channel variance of pre-activations", 1},
    {"grad_norm", "|dL/dW| (Frobenius)", 0},
    {"grad_to_weight", "|dL/dW| / |W|", 0},
    {"input_cov_cond", "condition number, input covariance", 0},
    {"outgrad_cov_cond", "condition number, output-gradient cov.", 0},
};
enum { N_PANELS = sizeof panels / sizeof panels[0] };

/* ---- Reading a folder ------------------------------------------------------------------- */

static int parse_row(char *line, size_t *layer, char **quantity, double *value, double *spread) {
    char *fields[4], *p = line;
    size_t n = 0;
    /* strsep keeps empty fields (an empty spread) */
    while (n < 4 && (fields[n] = strsep(&p, ",")) != NULL)
        n++;
    if (n != 4 || p != NULL) return -1;
    char *end;
    if (strcmp(fields[0], "all") == 0) {
        *layer = 0;
    } else {
        unsigned long v = strtoul(fields[0], &end, 10);
        if (*end || end == fields[0] || v == 0) return -1;
        *layer = v;
    }
    *quantity = fields[1];
    *value = strtod(fields[2], &end);
    if (*end || end == fields[2]) return -1;
    *spread = NAN;
    if (*fields[3]) {
        *spread = strtod(fields[3], &end);
        if (*end) return -1;
    }
    return 0;
}

static int add_point(plot_probe_series *s, size_t panel, size_t layer, double value,
                     double spread) {
    plot_probe_curve *c = &s->curve[panel];
    double *v = realloc(c->value, (c->n + 1) * sizeof *v);
    if (!v) return -1;
    c->value = v;
    double *sp = realloc(c->spread, (c->n + 1) * sizeof *sp);
    if (!sp) return -1;
    c->spread = sp;
    size_t *l = realloc(c->layer, (c->n + 1) * sizeof *l);
    if (!l) return -1;
    c->layer = l;
    c->layer[c->n] = layer;
    c->value[c->n] = value;
    c->spread[c->n++] = spread;
    return 0;
}

/* "BN" or "vanilla" from config.json's batchnorm, then the folder's name. */
static void series_label(const char *dir, plot_probe_series *s) {
    char path[4200], *json = NULL;
    size_t length;
    bn_error ignored;
    const char *kind = "";
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (read_file(path, &json, &length, &ignored) == 0) {
        if (strstr(json, "\"batchnorm\": true")) kind = "BN: ";
        if (strstr(json, "\"batchnorm\": false")) kind = "vanilla: ";
    }
    free(json);
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    snprintf(s->label, sizeof s->label, "%s%s", kind, base);
}

int plot_probe_rows(const char *dir, plot_probe_row_fn row, void *ctx, bn_error *err) {
    char path[4200], *text = NULL;
    size_t length;
    snprintf(path, sizeof path, "%s/probe.csv", dir);
    if (read_file(path, &text, &length, err)) return -1;
    char *line, *rest = text;
    int status = 0;
    size_t line_no = 0;
    while (!status && (line = strsep(&rest, "\n")) != NULL) {
        line_no++;
        if (line_no == 1) {
            if (strcmp(line, "layer,quantity,value,spread") != 0)
                status = bn_fail(err, "%s: not a probe.csv (header '%s')", path, line);
            continue;
        }
        if (!*line) continue;
        if (!rest) break; /* a torn last line (no newline): dropped */
        size_t layer;
        char *quantity;
        double value, spread;
        if (parse_row(line, &layer, &quantity, &value, &spread))
            status = bn_fail(err, "%s: line %zu: not layer,quantity,value,spread", path, line_no);
        else if (row(ctx, layer, quantity, value, spread))
            status = bn_fail(err, "%s: out of memory", path);
    }
    free(text);
    return status;
}

/* Keeps a per-layer row of a drawn quantity (layer 0 is the `all` rows, not drawn here). */
static int keep_series_row(void *ctx, size_t layer, const char *quantity, double value,
                           double spread) {
    plot_probe_series *s = ctx;
    for (size_t p = 0; p < N_PANELS && layer > 0; p++)
        if (strcmp(quantity, panels[p].quantity) == 0 && add_point(s, p, layer, value, spread))
            return -1;
    return 0;
}

int plot_probe_read(const char *dir, plot_probe_series *s, bn_error *err) {
    memset(s, 0, sizeof *s);
    int status = plot_probe_rows(dir, keep_series_row, s, err);
    if (!status) series_label(dir, s);
    return status;
}

void plot_probe_free(plot_probe_series *s) {
    for (size_t p = 0; p < PLOT_PROBE_PANELS; p++) {
        free(s->curve[p].layer);
        free(s->curve[p].value);
        free(s->curve[p].spread);
    }
    memset(s, 0, sizeof *s);
}

/* ---- One panel -------------------------------------------------------------------------- */

/* The panel's value range over every series (with error bars when drawn), and whether it is
 * drawn as log10 (every value positive and spanning more than LOG_SPAN). */
static void panel_range(const plot_probe_series *series, size_t n_series, size_t panel, double *lo,
                        double *hi, size_t *max_layer, int *log_scale) {
    double min_value = INFINITY, max_value = -INFINITY;
    *lo = INFINITY, *hi = -INFINITY, *max_layer = 1;
    for (size_t i = 0; i < n_series; i++) {
        const plot_probe_curve *c = &series[i].curve[panel];
        for (size_t k = 0; k < c->n; k++) {
            double v = c->value[k], s = panels[panel].spread ? c->spread[k] : NAN;
            if (!isfinite(v)) continue;
            min_value = fmin(min_value, v);
            max_value = fmax(max_value, v);
            *lo = fmin(*lo, isfinite(s) ? v - s : v);
            *hi = fmax(*hi, isfinite(s) ? v + s : v);
            if (c->layer[k] > *max_layer) *max_layer = c->layer[k];
        }
    }
    *log_scale = min_value > 0 && max_value > LOG_SPAN * min_value;
    if (*log_scale) {
        *lo = log10(fmax(*lo, min_value / 2)); /* a bar reaching 0 or below is cut there */
        *hi = log10(*hi);
    }
    if (!(*lo <= *hi)) *lo = 0, *hi = 1;
    if (*hi - *lo < 1e-12 * fmax(1, fabs(*hi))) *lo -= 0.5, *hi += 0.5;
    double pad = 0.05 * (*hi - *lo);
    *lo -= pad;
    *hi += pad;
}

static double scaled(double v, int log_scale) {
    return log_scale ? (v > 0 ? log10(v) : -INFINITY) : v;
}

static void add_error_bar(plot_layout *layout, const plot_axes *axes, double x, double lo,
                          double hi, plot_rgb color) {
    double y_lo = plot_axes_y_px(axes, fmax(lo, axes->y_min));
    double y_hi = plot_axes_y_px(axes, fmin(hi, axes->y_max));
    plot_add_segment(layout, x, y_lo, x, y_hi, color, 1.0);
    plot_add_segment(layout, x - BAR_HALF, y_lo, x + BAR_HALF, y_lo, color, 1.0);
    plot_add_segment(layout, x - BAR_HALF, y_hi, x + BAR_HALF, y_hi, color, 1.0);
}

static void add_curve(plot_layout *layout, const plot_axes *axes, const plot_probe_curve *c,
                      int bars, int log_scale, plot_rgb color, double *xy) {
    double *x_px = xy, *y_px = xy + c->n;
    for (size_t k = 0; k < c->n; k++) {
        x_px[k] = plot_axes_x_px(axes, (double)c->layer[k]);
        double v = scaled(c->value[k], log_scale);
        y_px[k] = isfinite(v) ? plot_axes_y_px(axes, v) : NAN;
    }
    const plot_path_style style = {axes->left, axes->top, axes->right, axes->bottom, 0, 0};
    plot_add_path(layout, x_px, y_px, c->n, &style, color, LINE_WIDTH);
    for (size_t k = 0; k < c->n; k++) {
        if (!isfinite(y_px[k])) continue;
        plot_add_rect(layout, x_px[k] - DOT_HALF, y_px[k] - DOT_HALF, x_px[k] + DOT_HALF,
                      y_px[k] + DOT_HALF, color, "point");
        if (bars && isfinite(c->spread[k]) && c->spread[k] > 0)
            add_error_bar(layout, axes, x_px[k], scaled(c->value[k] - c->spread[k], log_scale),
                          scaled(c->value[k] + c->spread[k], log_scale), color);
    }
}

static void add_panel(plot_layout *layout, const plot_probe_series *series, size_t n_series,
                      size_t panel, double *xy) {
    double x0 = (double)(panel % PANEL_COLUMNS) * PANEL_WIDTH;
    double y0 = FIGURE_TOP + (double)(panel / PANEL_COLUMNS) * PANEL_HEIGHT;
    double lo, hi;
    size_t max_layer;
    int log_scale;
    panel_range(series, n_series, panel, &lo, &hi, &max_layer, &log_scale);
    plot_axes axes = {x0 + AREA_LEFT,
                      y0 + AREA_TOP,
                      x0 + AREA_RIGHT,
                      y0 + AREA_BOTTOM,
                      0.5,
                      (double)max_layer + 0.5,
                      lo,
                      hi,
                      1};
    for (size_t i = 0; i < n_series; i++)
        add_curve(layout, &axes, &series[i].curve[panel], panels[panel].spread, log_scale,
                  plot_category_color(i), xy);
    plot_add_axes(layout, &axes, "layer", log_scale ? "log_{10}" : "");
    plot_add_title(layout, x0 + (AREA_LEFT + AREA_RIGHT) / 2.0, y0 + PANEL_TITLE_BASELINE,
                   panels[panel].title, AREA_RIGHT - AREA_LEFT + 60);
}

int plot_probe_layout(const plot_probe_series *series, size_t n_series, const char *title,
                      plot_layout *layout, bn_error *err) {
    size_t rows = (N_PANELS + PANEL_COLUMNS - 1) / PANEL_COLUMNS;
    double legend_top = FIGURE_TOP + (double)rows * PANEL_HEIGHT + LEGEND_GAP;
    plot_layout_init(layout, FIGURE_WIDTH, (int)legend_top);
    if (n_series == 0 || n_series > PLOT_N_CATEGORIES)
        return bn_fail(err, "%zu probe folders in one figure: 1 to %d", n_series,
                       PLOT_N_CATEGORIES);
    size_t most = 1;
    for (size_t i = 0; i < n_series; i++)
        for (size_t p = 0; p < N_PANELS; p++)
            if (series[i].curve[p].n > most) most = series[i].curve[p].n;
    double *xy = malloc(2 * most * sizeof *xy);
    if (!xy) return bn_fail(err, "out of memory while laying out the probe figure");
    for (size_t p = 0; p < N_PANELS; p++)
        add_panel(layout, series, n_series, p, xy);
    free(xy);
    const char *labels[PLOT_N_CATEGORIES];
    double x[PLOT_N_CATEGORIES], y_mid[PLOT_N_CATEGORIES];
    for (size_t i = 0; i < n_series; i++)
        labels[i] = series[i].label;
    plot_legend_box box = {FIGURE_WIDTH / 2.0, 20, FIGURE_WIDTH - 20, legend_top,
                           LEGEND_ROW_HEIGHT};
    size_t legend_rows = plot_add_legend_labels(layout, &box, labels, n_series, x, y_mid);
    for (size_t i = 0; i < n_series; i++)
        plot_add_segment(layout, x[i] + 2, y_mid[i], x[i] + PLOT_SWATCH_WIDTH - 2, y_mid[i],
                         plot_category_color(i), LINE_WIDTH);
    layout->height = (int)(legend_top + (double)(legend_rows - 1) * LEGEND_ROW_HEIGHT +
                           PLOT_SWATCH_HEIGHT / 2.0 + BOTTOM_MARGIN);
    plot_add_title(layout, FIGURE_WIDTH / 2.0, TITLE_BASELINE, title ? title : "",
                   FIGURE_WIDTH - 20);
    if (layout->out_of_memory)
        return bn_fail(err, "out of memory while laying out the probe figure");
    return 0;
}

int plot_probe_figure(const char *const *dirs, size_t n_dirs, const char *png_path, bn_error *err) {
    if (n_dirs == 0 || n_dirs > PLOT_N_CATEGORIES)
        return bn_fail(err, "%zu probe folders: 1 to %d", n_dirs, PLOT_N_CATEGORIES);
    plot_probe_series series[PLOT_N_CATEGORIES];
    size_t n_read = 0;
    int status = 0;
    for (; n_read < n_dirs && !status; n_read++)
        status = plot_probe_read(dirs[n_read], &series[n_read], err);
    if (!status) {
        plot_layout layout;
        status = plot_probe_layout(
            series, n_dirs, "bntrain probe, per layer (bars: spread over channels)", &layout, err);
        if (!status) status = plot_write_figure(&layout, png_path, err);
        plot_layout_free(&layout);
    }
    for (size_t i = 0; i < n_read; i++)
        plot_probe_free(&series[i]);
    return status;
}
