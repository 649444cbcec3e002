/* The learning curves (the paper's Fig. 4): train and test accuracy against epoch, one colour
 * per gamma. Each curve is the mean over the restarts that have a value at that epoch (test
 * solid, train dashed) over a translucent band from the least to the greatest of them; the
 * legend says how many restarts the points cover, and a cross above the x axis marks each epoch
 * in which a restart exploded. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot/plot.h"

/* The figure's geometry, in pixels; the height grows with the legend's rows. */
enum {
    FIGURE_WIDTH = 900,
    AREA_LEFT = 100,
    AREA_TOP = 70,
    AREA_RIGHT = 870,
    AREA_BOTTOM = 470,
    TITLE_BASELINE = 42,
    LEGEND_FIRST_ROW = 568, /* centre of the first legend row */
    LEGEND_ROW_HEIGHT = 30,
    BOTTOM_MARGIN = 16,
    EXPLODED_BASE = 9,     /* the first series' crosses sit this far above the x axis */
    EXPLODED_SPACING = 12, /* and each further series' this much higher */
};
#define LINE_WIDTH 2.0
#define DASH_ON 8.0
#define DASH_OFF 5.0
#define BAND_OPACITY 0.22
#define DOT_RADIUS 3.5
#define CROSS_HALF 4.5 /* half the width of an exploded cross */

static const plot_rgb grey_text = {90, 90, 90};
static const plot_rgb key_ink = {60, 60, 60};

typedef enum { CURVE_TEST, CURVE_TRAIN } curve_kind;

/* ---- Statistics over restarts ---------------------------------------------------------- */

/* One curve's points, in %: NaN (and count 0) where no restart has a value. */
typedef struct {
    double *mean, *lo, *hi;
    size_t *count;
} curve_points;

static void curve_points_free(curve_points *c) {
    free(c->mean);
    free(c->lo);
    free(c->hi);
    free(c->count);
    memset(c, 0, sizeof *c);
}

static int curve_points_alloc(curve_points *c, size_t n_epochs) {
    size_t n = n_epochs ? n_epochs : 1;
    c->mean = malloc(n * sizeof(double));
    c->lo = malloc(n * sizeof(double));
    c->hi = malloc(n * sizeof(double));
    c->count = malloc(n * sizeof(size_t));
    if (c->mean && c->lo && c->hi && c->count) return 0;
    curve_points_free(c);
    return -1;
}

/* The mean, least and greatest of the finite values at each epoch, summed in restart order. */
static void curve_points_compute(curve_points *c, const double *acc, size_t n_restarts,
                                 size_t n_epochs) {
    for (size_t e = 0; e < n_epochs; e++) {
        double sum = 0, lo = INFINITY, hi = -INFINITY;
        size_t count = 0;
        for (size_t r = 0; acc && r < n_restarts; r++) {
            double v = acc[r * n_epochs + e];
            if (!isfinite(v)) continue;
            sum += v;
            lo = fmin(lo, v);
            hi = fmax(hi, v);
            count++;
        }
        c->count[e] = count;
        c->mean[e] = count ? 100 * (sum / (double)count) : NAN;
        c->lo[e] = count ? 100 * lo : NAN;
        c->hi[e] = count ? 100 * hi : NAN;
    }
}

/* Both curves of a gamma. */
typedef struct {
    curve_points curve[2]; /* by curve_kind */
} series_points;

/* ---- Drawing one curve ----------------------------------------------------------------- */

static double clamp_percent(double v) {
    return fmin(100, fmax(0, v));
}

/* The band over epochs [first, last] (0-based, all with a value): the greatest values left to
 * right, then the least back. A lone epoch gets a bar as wide as a dot. */
static void add_band(plot_layout *layout, const plot_axes *axes, const curve_points *c,
                     size_t first, size_t last, plot_rgb color, double *xy) {
    if (first == last) {
        double x = plot_axes_x_px(axes, (double)(first + 1));
        double top = plot_axes_y_px(axes, clamp_percent(c->hi[first]));
        double bottom = plot_axes_y_px(axes, clamp_percent(c->lo[first]));
        const double bar[8] = {x - DOT_RADIUS, top,    x + DOT_RADIUS, top,
                               x + DOT_RADIUS, bottom, x - DOT_RADIUS, bottom};
        plot_add_translucent_polygon(layout, bar, 4, color, BAND_OPACITY);
        return;
    }
    size_t n = 0;
    for (size_t e = first; e <= last; e++, n++) {
        xy[2 * n] = plot_axes_x_px(axes, (double)(e + 1));
        xy[2 * n + 1] = plot_axes_y_px(axes, clamp_percent(c->hi[e]));
    }
    for (size_t e = last + 1; e-- > first; n++) {
        xy[2 * n] = plot_axes_x_px(axes, (double)(e + 1));
        xy[2 * n + 1] = plot_axes_y_px(axes, clamp_percent(c->lo[e]));
    }
    plot_add_translucent_polygon(layout, xy, n, color, BAND_OPACITY);
}

/* Bands over each stretch of epochs that have a value; none where every restart agrees (one
 * restart, or identical values), which would be a polygon without area. xy: 4 * n_epochs
 * doubles of scratch. */
static void add_bands(plot_layout *layout, const plot_axes *axes, const curve_points *c,
                      size_t n_epochs, plot_rgb color, const char *role, double *xy) {
    size_t first_item = layout->n_items;
    for (size_t first = 0; first < n_epochs;) {
        if (c->count[first] == 0) {
            first++;
            continue;
        }
        size_t last = first;
        while (last + 1 < n_epochs && c->count[last + 1] > 0)
            last++;
        int spread = 0;
        for (size_t e = first; e <= last; e++)
            spread |= c->hi[e] > c->lo[e];
        if (spread) add_band(layout, axes, c, first, last, color, xy);
        first = last + 1;
    }
    plot_tag_items(layout, first_item, role);
}

static void add_dot(plot_layout *layout, double x, double y, plot_rgb color, int hollow) {
    double xy[2 * 16];
    for (int k = 0; k < 16; k++) {
        xy[2 * k] = x + DOT_RADIUS * cos(k * M_PI / 8);
        xy[2 * k + 1] = y + DOT_RADIUS * sin(k * M_PI / 8);
    }
    plot_add_polygon(layout, xy, 16, hollow ? plot_white : color, color, 1.5);
}

/* The mean as a path broken where no restart has a value, clipped to the plot area; a mean
 * with no neighbour to join becomes a dot (hollow for train, as its line is broken). xy:
 * 2 * n_epochs doubles of scratch. */
static void add_mean(plot_layout *layout, const plot_axes *axes, const curve_points *c,
                     size_t n_epochs, curve_kind kind, plot_rgb color, double *xy) {
    double *x_px = xy, *y_px = xy + n_epochs;
    for (size_t e = 0; e < n_epochs; e++) {
        x_px[e] = plot_axes_x_px(axes, (double)(e + 1));
        y_px[e] = c->count[e] ? plot_axes_y_px(axes, c->mean[e]) : NAN;
    }
    const int dashed = kind == CURVE_TRAIN;
    const plot_path_style style = {axes->left,           axes->top, axes->right, axes->bottom,
                                   dashed ? DASH_ON : 0, DASH_OFF};
    size_t first_item = layout->n_items;
    plot_add_path(layout, x_px, y_px, n_epochs, &style, color, LINE_WIDTH);
    plot_tag_items(layout, first_item, dashed ? "mean-train" : "mean-test");
    first_item = layout->n_items;
    for (size_t e = 0; e < n_epochs; e++) {
        int alone =
            c->count[e] && (e == 0 || !c->count[e - 1]) && (e + 1 == n_epochs || !c->count[e + 1]);
        if (alone)
            add_dot(layout, x_px[e], plot_axes_y_px(axes, clamp_percent(c->mean[e])), color,
                    dashed);
    }
    plot_tag_items(layout, first_item, dashed ? "point-train" : "point-test");
}

/* ---- Exploded restarts ----------------------------------------------------------------- */

static void add_cross(plot_layout *layout, double x, double y, plot_rgb color) {
    plot_add_segment(layout, x - CROSS_HALF, y - CROSS_HALF, x + CROSS_HALF, y + CROSS_HALF, color,
                     LINE_WIDTH);
    plot_add_segment(layout, x - CROSS_HALF, y + CROSS_HALF, x + CROSS_HALF, y - CROSS_HALF, color,
                     LINE_WIDTH);
}

/* Is `epoch` the exploded epoch of restart r, and the first restart to explode then? */
static int first_to_explode_at(const plot_curve_series *s, size_t r, size_t epoch) {
    if (s->exploded_epoch[r] != epoch) return 0;
    for (size_t q = 0; q < r; q++)
        if (s->exploded_epoch[q] == epoch) return 0;
    return 1;
}

/* One cross per epoch in which some restart of series i exploded, in its colour, series above
 * series so that two gammas exploding in the same epoch stay apart. */
static void add_exploded(plot_layout *layout, const plot_axes *axes, const plot_curve_series *s,
                         size_t i, size_t n_epochs) {
    if (!s->exploded_epoch) return;
    size_t first_item = layout->n_items;
    const double y = axes->bottom - EXPLODED_BASE - EXPLODED_SPACING * (double)i;
    for (size_t r = 0; r < s->n_restarts; r++) {
        size_t epoch = s->exploded_epoch[r];
        if (epoch >= 1 && epoch <= n_epochs && first_to_explode_at(s, r, epoch))
            add_cross(layout, plot_axes_x_px(axes, (double)epoch), y, plot_category_color(i));
    }
    plot_tag_items(layout, first_item, "exploded-marker");
}

static size_t count_exploded(const plot_curve_series *s, size_t n_epochs) {
    size_t n = 0;
    for (size_t r = 0; s->exploded_epoch && r < s->n_restarts; r++)
        n += s->exploded_epoch[r] >= 1 && s->exploded_epoch[r] <= n_epochs;
    return n;
}

/* ---- Legend ---------------------------------------------------------------------------- */

/* "γ = 0.1 (5 runs)", "γ = 1 (2-5 runs, 1 exploded)": the least and greatest number of
 * restarts behind a point of either curve, or "no epoch done". */
static void series_label(const plot_curve_series *s, const series_points *p, size_t n_epochs,
                         char *out, size_t size) {
    size_t least = SIZE_MAX, most = 0;
    for (int k = 0; k < 2; k++)
        for (size_t e = 0; e < n_epochs; e++) {
            size_t count = p->curve[k].count[e];
            if (count == 0) continue;
            least = count < least ? count : least;
            most = count > most ? count : most;
        }
    char runs[64], exploded[48] = "";
    size_t n_exploded = count_exploded(s, n_epochs);
    if (most == 0)
        snprintf(runs, sizeof runs, "no epoch done");
    else if (least == most)
        snprintf(runs, sizeof runs, "%zu run%s", most, most == 1 ? "" : "s");
    else
        snprintf(runs, sizeof runs, "%zu-%zu runs", least, most);
    if (n_exploded) snprintf(exploded, sizeof exploded, ", %zu exploded", n_exploded);
    snprintf(out, size, "γ = %g (%s%s)", s->gamma, runs, exploded);
}

typedef enum { KEY_TEST, KEY_TRAIN, KEY_BAND, KEY_EXPLODED } legend_key;

static void add_band_swatch(plot_layout *layout, double x, double y_mid, plot_rgb color) {
    const double y0 = y_mid - PLOT_SWATCH_HEIGHT / 2.0, y1 = y_mid + PLOT_SWATCH_HEIGHT / 2.0;
    const double xy[8] = {x, y0, x + PLOT_SWATCH_WIDTH, y0, x + PLOT_SWATCH_WIDTH, y1, x, y1};
    plot_add_translucent_polygon(layout, xy, 4, color, BAND_OPACITY);
}

static void add_key_swatch(plot_layout *layout, legend_key key, double x, double y_mid) {
    const double xs[2] = {x + 2, x + PLOT_SWATCH_WIDTH - 2}, ys[2] = {y_mid, y_mid};
    const plot_path_style solid = {x, y_mid - 5, x + PLOT_SWATCH_WIDTH, y_mid + 5, 0, 0},
                          dashed = {x,         y_mid - 5, x + PLOT_SWATCH_WIDTH,
                                    y_mid + 5, DASH_ON,   DASH_OFF};
    switch (key) {
    case KEY_TEST:
        plot_add_path(layout, xs, ys, 2, &solid, key_ink, LINE_WIDTH);
        break;
    case KEY_TRAIN:
        plot_add_path(layout, xs, ys, 2, &dashed, key_ink, LINE_WIDTH);
        break;
    case KEY_BAND:
        add_band_swatch(layout, x, y_mid, key_ink);
        break;
    case KEY_EXPLODED:
        add_cross(layout, x + PLOT_SWATCH_WIDTH / 2.0, y_mid, key_ink);
        break;
    }
}

/* The gammas in the first rows, then the keys to line style, band and crosses in rows of their
 * own. Returns the middle of the last row. */
static double add_legend(plot_layout *layout, const plot_curves_figure *f,
                         const series_points *points) {
    char labels[PLOT_N_CATEGORIES][128];
    const char *label_ptrs[PLOT_N_CATEGORIES];
    double x[PLOT_N_CATEGORIES], y_mid[PLOT_N_CATEGORIES];
    int any_exploded = 0;
    for (size_t i = 0; i < f->n_series; i++) {
        series_label(&f->series[i], &points[i], f->n_epochs, labels[i], sizeof labels[i]);
        label_ptrs[i] = labels[i];
        any_exploded |= count_exploded(&f->series[i], f->n_epochs) > 0;
    }
    plot_legend_box box = {(AREA_LEFT + AREA_RIGHT) / 2.0, 20, FIGURE_WIDTH - 20, LEGEND_FIRST_ROW,
                           LEGEND_ROW_HEIGHT};
    size_t rows = plot_add_legend_labels(layout, &box, label_ptrs, f->n_series, x, y_mid);
    for (size_t i = 0; i < f->n_series; i++) {
        add_band_swatch(layout, x[i], y_mid[i], plot_category_color(i));
        plot_add_segment(layout, x[i] + 2, y_mid[i], x[i] + PLOT_SWATCH_WIDTH - 2, y_mid[i],
                         plot_category_color(i), LINE_WIDTH);
    }
    const legend_key keys[4] = {KEY_TEST, KEY_TRAIN, KEY_BAND, KEY_EXPLODED};
    const char *const key_labels[4] = {"test", "train", "min to max over restarts",
                                       "a restart exploded"};
    box.first_row += (double)rows * LEGEND_ROW_HEIGHT;
    size_t n_keys = any_exploded ? 4 : 3;
    rows = plot_add_legend_labels(layout, &box, key_labels, n_keys, x, y_mid);
    for (size_t i = 0; i < n_keys; i++)
        add_key_swatch(layout, keys[i], x[i], y_mid[i]);
    return box.first_row + (double)(rows - 1) * LEGEND_ROW_HEIGHT;
}

/* ---- The figure ------------------------------------------------------------------------ */

static int series_has_value(const series_points *p, size_t n_epochs) {
    for (size_t e = 0; e < n_epochs; e++)
        if (p->curve[CURVE_TEST].count[e] || p->curve[CURVE_TRAIN].count[e]) return 1;
    return 0;
}

static void free_points(series_points *points, size_t n_series) {
    for (size_t i = 0; i < n_series; i++)
        for (int k = 0; k < 2; k++)
            curve_points_free(&points[i].curve[k]);
}

/* Every series' points, or -1 if memory runs out. */
static int compute_points(const plot_curves_figure *f, series_points *points) {
    memset(points, 0, f->n_series * sizeof *points);
    for (size_t i = 0; i < f->n_series; i++) {
        const plot_curve_series *s = &f->series[i];
        const double *acc[2] = {s->test_acc, s->train_acc};
        for (int k = 0; k < 2; k++) {
            if (curve_points_alloc(&points[i].curve[k], f->n_epochs) != 0) return -1;
            curve_points_compute(&points[i].curve[k], acc[k], s->n_restarts, f->n_epochs);
        }
    }
    return 0;
}

/* Bands first, so that no band covers a line; dashed train lines under solid test lines. */
static void add_curves(plot_layout *layout, const plot_axes *axes, const plot_curves_figure *f,
                       const series_points *points, double *xy) {
    static const char *const band_roles[2] = {"band-test", "band-train"};
    for (size_t i = 0; i < f->n_series; i++)
        for (int k = CURVE_TRAIN; k >= CURVE_TEST; k--)
            add_bands(layout, axes, &points[i].curve[k], f->n_epochs, plot_category_color(i),
                      band_roles[k], xy);
    for (int k = CURVE_TRAIN; k >= CURVE_TEST; k--)
        for (size_t i = 0; i < f->n_series; i++)
            add_mean(layout, axes, &points[i].curve[k], f->n_epochs, (curve_kind)k,
                     plot_category_color(i), xy);
    for (size_t i = 0; i < f->n_series; i++)
        add_exploded(layout, axes, &f->series[i], i, f->n_epochs);
}

static int check_figure(const plot_curves_figure *f, bn_error *err) {
    if (f->n_series > PLOT_N_CATEGORIES)
        return bn_fail(err, "%zu gammas in one figure: at most %d can be told apart by colour",
                       f->n_series, PLOT_N_CATEGORIES);
    if (f->n_series > 0 && !f->series) return bn_fail(err, "learning curves: no series given");
    size_t cells;
    for (size_t i = 0; i < f->n_series; i++)
        if (bn_mul_size(f->series[i].n_restarts, f->n_epochs, &cells) != 0)
            return bn_fail(err, "learning curves: %zu restarts of %zu epochs is too many",
                           f->series[i].n_restarts, f->n_epochs);
    return 0;
}

int plot_curves_layout(const plot_curves_figure *f, plot_layout *layout, plot_axes *axes,
                       bn_error *err) {
    plot_layout_init(layout, FIGURE_WIDTH, LEGEND_FIRST_ROW);
    *axes = (plot_axes){AREA_LEFT, AREA_TOP, AREA_RIGHT, AREA_BOTTOM, 0, 1, 0, 100, 1};
    if (check_figure(f, err) != 0) return -1;
    if (f->n_epochs > 0) axes->x_max = (double)f->n_epochs;
    series_points points[PLOT_N_CATEGORIES];
    size_t n_xy = 0;
    double *xy = NULL;
    int status = compute_points(f, points);
    if (status == 0 &&
        (bn_mul_size(f->n_epochs + 1, 4, &n_xy) != 0 || !(xy = malloc(n_xy * sizeof(double)))))
        status = -1;
    if (status == 0) {
        add_curves(layout, axes, f, points, xy);
        int any_value = 0;
        for (size_t i = 0; i < f->n_series; i++)
            any_value |= series_has_value(&points[i], f->n_epochs);
        if (!any_value) {
            size_t first_item = layout->n_items;
            plot_add_text(layout, (AREA_LEFT + AREA_RIGHT) / 2.0, (AREA_TOP + AREA_BOTTOM) / 2.0,
                          "no epoch done yet", PLOT_TEXT_SCALE, PLOT_ANCHOR_MIDDLE, 0, grey_text);
            plot_tag_items(layout, first_item, "no-data");
        }
        plot_add_axes(layout, axes, "epoch", "accuracy (%)");
        double last_row = add_legend(layout, f, points);
        layout->height = (int)(last_row + PLOT_SWATCH_HEIGHT / 2.0 + BOTTOM_MARGIN);
        plot_add_title(layout, (AREA_LEFT + AREA_RIGHT) / 2.0, TITLE_BASELINE,
                       f->title ? f->title : "", FIGURE_WIDTH - 20);
    }
    free(xy);
    free_points(points, f->n_series);
    if (status != 0 || layout->out_of_memory)
        return bn_fail(err, "out of memory while laying out the learning curves");
    return 0;
}

int plot_curves(const plot_curves_figure *f, const char *png_path, const char *svg_path,
                bn_error *err) {
    plot_layout layout;
    plot_axes axes;
    int status = plot_curves_layout(f, &layout, &axes, err);
    if (status == 0) {
        status = plot_write_pair(&layout, png_path, svg_path, err);
    } else {
        char why[sizeof err->msg];
        memcpy(why, err->msg, sizeof why);
        bn_fail(err, "%s: %s", png_path, why);
    }
    plot_layout_free(&layout);
    return status;
}
