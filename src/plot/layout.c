/* The figure layout shared by the PNG and SVG renderers: the primitive list, dashed and clipped
 * paths, text markup, axes with 1/2/5 ticks, and the viridis colour map. */
#include "plot/plot.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plot/font.h"

const plot_rgb plot_white = {255, 255, 255};
const plot_rgb plot_black = {0, 0, 0};
const plot_rgb plot_red = {228, 26, 28};
const plot_rgb plot_blue = {31, 119, 180};
const plot_rgb plot_not_run_fill = {224, 224, 224};
const plot_rgb plot_not_run_hatch = {150, 150, 150};
const plot_rgb plot_exploded_frame = {60, 60, 60};

/* ---- Layout ---------------------------------------------------------------------------- */

void plot_layout_init(plot_layout *layout, int width, int height) {
    memset(layout, 0, sizeof *layout);
    layout->width = width;
    layout->height = height;
}

void plot_layout_free(plot_layout *layout) {
    free(layout->items);
    free(layout->points);
    free(layout->text);
    memset(layout, 0, sizeof *layout);
}

/* Makes room for `more` elements of `size` bytes after `used`, doubling the capacity. */
static int reserve(plot_layout *layout, void **buffer, size_t *capacity, size_t used, size_t more,
                   size_t size) {
    if (layout->out_of_memory) return -1;
    if (used + more <= *capacity) return 0;
    size_t wanted = *capacity ? *capacity : 64, bytes;
    while (wanted < used + more)
        wanted *= 2;
    void *grown;
    if (bn_mul_size(wanted, size, &bytes) != 0 || !(grown = realloc(*buffer, bytes))) {
        layout->out_of_memory = 1;
        return -1;
    }
    *buffer = grown;
    *capacity = wanted;
    return 0;
}

static plot_item *new_item(plot_layout *layout, plot_item_kind kind, plot_rgb color) {
    if (reserve(layout, (void **)&layout->items, &layout->items_capacity, layout->n_items, 1,
                sizeof(plot_item)) != 0)
        return NULL;
    plot_item *item = &layout->items[layout->n_items++];
    memset(item, 0, sizeof *item);
    item->kind = kind;
    item->color = color;
    return item;
}

/* Copies n points to the layout's point store; returns the index of the first, or SIZE_MAX. */
static size_t store_points(plot_layout *layout, const double *xy, size_t n_points) {
    if (reserve(layout, (void **)&layout->points, &layout->points_capacity, layout->n_points,
                2 * n_points, sizeof(double)) != 0)
        return SIZE_MAX;
    size_t first = layout->n_points / 2;
    memcpy(layout->points + layout->n_points, xy, 2 * n_points * sizeof(double));
    layout->n_points += 2 * n_points;
    return first;
}

void plot_add_rect(plot_layout *layout, double x0, double y0, double x1, double y1, plot_rgb fill,
                   const char *role) {
    plot_item *item = new_item(layout, PLOT_RECT, fill);
    if (!item) return;
    item->role = role;
    item->rect.x0 = fmin(x0, x1);
    item->rect.x1 = fmax(x0, x1);
    item->rect.y0 = fmin(y0, y1);
    item->rect.y1 = fmax(y0, y1);
}

void plot_add_line(plot_layout *layout, const double *xy, size_t n_points, plot_rgb color,
                   double width) {
    if (n_points < 2) return;
    size_t first = store_points(layout, xy, n_points);
    plot_item *item = first == SIZE_MAX ? NULL : new_item(layout, PLOT_LINE, color);
    if (!item) return;
    item->line.first = first;
    item->line.count = n_points;
    item->line.width = width;
}

void plot_add_segment(plot_layout *layout, double x0, double y0, double x1, double y1,
                      plot_rgb color, double width) {
    const double xy[4] = {x0, y0, x1, y1};
    plot_add_line(layout, xy, 2, color, width);
}

static void add_polygon(plot_layout *layout, const double *xy, size_t n_points, plot_rgb fill,
                        double opacity, plot_rgb stroke, double stroke_width) {
    if (n_points < 3) return;
    size_t first = store_points(layout, xy, n_points);
    plot_item *item = first == SIZE_MAX ? NULL : new_item(layout, PLOT_POLYGON, fill);
    if (!item) return;
    item->polygon.first = first;
    item->polygon.count = n_points;
    item->polygon.stroke = stroke;
    item->polygon.stroke_width = stroke_width;
    item->polygon.opacity = opacity;
}

void plot_add_polygon(plot_layout *layout, const double *xy, size_t n_points, plot_rgb fill,
                      plot_rgb stroke, double stroke_width) {
    add_polygon(layout, xy, n_points, fill, 1, stroke, stroke_width);
}

void plot_add_translucent_polygon(plot_layout *layout, const double *xy, size_t n_points,
                                  plot_rgb fill, double opacity) {
    add_polygon(layout, xy, n_points, fill, opacity, fill, 0);
}

void plot_add_text(plot_layout *layout, double x, double y, const char *markup, double scale,
                   plot_anchor anchor, int vertical, plot_rgb color) {
    size_t length = strlen(markup) + 1;
    if (reserve(layout, (void **)&layout->text, &layout->text_capacity, layout->text_length, length,
                1) != 0)
        return;
    plot_item *item = new_item(layout, PLOT_TEXT, color);
    if (!item) return;
    memcpy(layout->text + layout->text_length, markup, length);
    item->text.offset = layout->text_length;
    layout->text_length += length;
    item->text.x = x;
    item->text.y = y;
    item->text.scale = scale;
    item->text.anchor = anchor;
    item->text.vertical = vertical;
}

void plot_tag_items(plot_layout *layout, size_t first, const char *role) {
    for (size_t i = first; i < layout->n_items; i++)
        layout->items[i].role = role;
}

/* ---- Paths: clipping and dashing ------------------------------------------------------- */

/* Liang-Barsky: the parameter range [t0, t1] of the segment inside the clip rectangle. */
static int clip_segment(const double p[2], const double q[2], const plot_path_style *style,
                        double *t0, double *t1) {
    const double dx = q[0] - p[0], dy = q[1] - p[1];
    const double direction[4] = {-dx, dx, -dy, dy};
    const double room[4] = {p[0] - style->clip_x0, style->clip_x1 - p[0], p[1] - style->clip_y0,
                            style->clip_y1 - p[1]};
    *t0 = 0;
    *t1 = 1;
    for (int k = 0; k < 4; k++) {
        if (direction[k] == 0) {
            if (room[k] < 0) return 0;
            continue;
        }
        double t = room[k] / direction[k];
        if (direction[k] < 0 && t > *t0) *t0 = t;
        if (direction[k] > 0 && t < *t1) *t1 = t;
    }
    return *t0 <= *t1;
}

/* The polyline being collected by plot_add_path. */
typedef struct {
    plot_layout *layout;
    double *xy;
    size_t n, capacity;
    plot_rgb color;
    double width;
} path_builder;

static void path_flush(path_builder *path) {
    plot_add_line(path->layout, path->xy, path->n, path->color, path->width);
    path->n = 0;
}

static void path_point(path_builder *path, double x, double y) {
    if (path->n > 0 && path->xy[2 * path->n - 2] == x && path->xy[2 * path->n - 1] == y) return;
    if (reserve(path->layout, (void **)&path->xy, &path->capacity, 2 * path->n, 2,
                sizeof(double)) != 0)
        return;
    path->xy[2 * path->n] = x;
    path->xy[2 * path->n + 1] = y;
    path->n++;
}

/* Adds the visible piece [ta, tb] of segment p-q. A polyline left open by the previous
 * segment ends at p, so only a piece that starts at p (ta == 0) may continue it. */
static void path_piece(path_builder *path, const double p[2], const double q[2], double ta,
                       double tb) {
    if (ta > 0) path_flush(path);
    if (path->n == 0) path_point(path, p[0] + ta * (q[0] - p[0]), p[1] + ta * (q[1] - p[1]));
    path_point(path, p[0] + tb * (q[0] - p[0]), p[1] + tb * (q[1] - p[1]));
}

/* The visible pieces of segment p-q between parameters t0 and t1 (the part inside the clip
 * rectangle); `arc` is the path length before p, which sets the dash phase. */
static void path_segment(path_builder *path, const double p[2], const double q[2], double t0,
                         double t1, double arc, const plot_path_style *style) {
    const double length = hypot(q[0] - p[0], q[1] - p[1]);
    double last_tb = 0;
    if (style->dash_on <= 0 || length == 0) {
        path_piece(path, p, q, t0, t1);
        last_tb = t1;
    } else {
        /* dash m covers arc lengths [m * period, m * period + dash_on] */
        const double period = style->dash_on + style->dash_off;
        const double s0 = arc + t0 * length, s1 = arc + t1 * length;
        for (double m = floor(s0 / period); m * period < s1; m++) {
            double a = fmax(s0, m * period), b = fmin(s1, m * period + style->dash_on);
            if (a >= b) continue;
            double ta = a == s0 ? t0 : (a - arc) / length, tb = b == s1 ? t1 : (b - arc) / length;
            path_piece(path, p, q, ta, tb);
            last_tb = tb;
        }
    }
    if (last_tb < 1) path_flush(path);
}

void plot_add_path(plot_layout *layout, const double *x_px, const double *y_px, size_t n,
                   const plot_path_style *style, plot_rgb color, double width) {
    path_builder path = {layout, NULL, 0, 0, color, width};
    double arc = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        const double p[2] = {x_px[i], y_px[i]}, q[2] = {x_px[i + 1], y_px[i + 1]};
        double t0, t1;
        if (!isfinite(p[0]) || !isfinite(p[1]) || !isfinite(q[0]) || !isfinite(q[1])) {
            path_flush(&path);
            continue;
        }
        if (clip_segment(p, q, style, &t0, &t1))
            path_segment(&path, p, q, t0, t1, arc, style);
        else
            path_flush(&path);
        arc += hypot(q[0] - p[0], q[1] - p[1]);
    }
    path_flush(&path);
    free(path.xy);
}

/* ---- Text ------------------------------------------------------------------------------ */

static void add_run(plot_text_run *runs, size_t *n, size_t max_runs, const char *start,
                    const char *end, plot_run_kind kind) {
    if (end == start || *n >= max_runs) return;
    runs[*n].text = start;
    runs[*n].length = (size_t)(end - start);
    runs[*n].kind = kind;
    (*n)++;
}

size_t plot_text_runs(const char *markup, plot_text_run *runs, size_t max_runs) {
    size_t n = 0;
    const char *start = markup, *p = markup;
    while (*p) {
        const char *close = (p[0] == '_' || p[0] == '^') && p[1] == '{' ? strchr(p + 2, '}') : NULL;
        if (!close) {
            p++;
            continue;
        }
        add_run(runs, &n, max_runs, start, p, PLOT_RUN_NORMAL);
        add_run(runs, &n, max_runs, p + 2, close, p[0] == '_' ? PLOT_RUN_SUB : PLOT_RUN_SUPER);
        start = p = close + 1;
    }
    add_run(runs, &n, max_runs, start, p, PLOT_RUN_NORMAL);
    return n;
}

/* Scripts are three quarters of the size, in half steps so they stay crisp; never below 1. */
double plot_run_scale(plot_run_kind kind, double scale) {
    if (kind == PLOT_RUN_NORMAL) return scale;
    return fmax(1.0, round(scale * 0.75 * 2) / 2);
}

double plot_run_baseline(plot_run_kind kind, double scale) {
    return kind == PLOT_RUN_SUB ? 2.5 * scale : kind == PLOT_RUN_SUPER ? -3.5 * scale : 0;
}

double plot_text_width(const char *markup, double scale) {
    plot_text_run runs[16];
    size_t n = plot_text_runs(markup, runs, 16);
    double width = 0;
    for (size_t i = 0; i < n; i++) {
        double run_scale = plot_run_scale(runs[i].kind, scale);
        /* one blank font column between runs, as between glyphs */
        if (i > 0) width += plot_run_scale(runs[i - 1].kind, scale);
        width += font_text_width(runs[i].text, runs[i].length) * run_scale;
    }
    return width;
}

/* ---- Axes and ticks -------------------------------------------------------------------- */

double plot_axes_x_px(const plot_axes *axes, double x) {
    return axes->left +
           (x - axes->x_min) / (axes->x_max - axes->x_min) * (axes->right - axes->left);
}

double plot_axes_y_px(const plot_axes *axes, double y) {
    return axes->bottom -
           (y - axes->y_min) / (axes->y_max - axes->y_min) * (axes->bottom - axes->top);
}

double plot_axes_y_value(const plot_axes *axes, double y_px) {
    return axes->y_min +
           (axes->bottom - y_px) / (axes->bottom - axes->top) * (axes->y_max - axes->y_min);
}

/* The multiples of step in [lo, hi]; a tolerance of a millionth of a step keeps ticks that sit
 * on the ends. */
static size_t ticks_at_step(double lo, double hi, double step, double *ticks, size_t max_ticks) {
    size_t n = 0;
    for (double k = ceil(lo / step - 1e-6); k * step <= hi + step * 1e-6 && n < max_ticks; k++)
        ticks[n++] = k * step;
    return n;
}

size_t plot_nice_ticks(double lo, double hi, size_t target, double *ticks, size_t max_ticks,
                       double *step) {
    if (!(hi > lo) || target == 0) {
        *step = 1;
        if (max_ticks == 0 || !isfinite(lo)) return 0;
        ticks[0] = lo;
        return 1;
    }
    double raw = (hi - lo) / (double)target, magnitude = pow(10, floor(log10(raw)));
    double ratio = raw / magnitude;
    *step = magnitude * (ratio < 1.5 ? 1 : ratio < 3.5 ? 2 : ratio < 7.5 ? 5 : 10);
    return ticks_at_step(lo, hi, *step, ticks, max_ticks);
}

void plot_format_tick(double value, double step, char *out, size_t size) {
    if (fabs(value) < fabs(step) * 1e-6) value = 0; /* no "-0" */
    if (fabs(value) >= 1e5 || (step > 0 && step < 1e-4)) {
        snprintf(out, size, "%g", value);
        return;
    }
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(out, size, "%.*f", decimals, value);
}

/* Sizes of the axes furniture, in pixels and font scales. */
enum { TICK_LENGTH = 6, TICK_GAP = 5 };
#define LABEL_SCALE PLOT_TEXT_SCALE

static void add_x_ticks(plot_layout *layout, const plot_axes *axes) {
    double ticks[32], step;
    size_t target = (size_t)fmax(2, (axes->right - axes->left) / 100);
    size_t n = plot_nice_ticks(axes->x_min, axes->x_max, target, ticks, 32, &step);
    if (step < axes->x_step_min) {
        step = axes->x_step_min;
        n = ticks_at_step(axes->x_min, axes->x_max, step, ticks, 32);
    }
    for (size_t i = 0; i < n; i++) {
        double x = floor(plot_axes_x_px(axes, ticks[i]));
        char label[32];
        plot_add_rect(layout, x, axes->bottom, x + 1, axes->bottom + TICK_LENGTH, plot_black, NULL);
        plot_format_tick(ticks[i], step, label, sizeof label);
        plot_add_text(layout, x + 0.5, axes->bottom + TICK_LENGTH + TICK_GAP + 7 * LABEL_SCALE,
                      label, LABEL_SCALE, PLOT_ANCHOR_MIDDLE, 0, plot_black);
    }
}

/* Returns the width of the widest label, which places the y axis title. */
static double add_y_ticks(plot_layout *layout, const plot_axes *axes) {
    double ticks[32], step, widest = 0;
    size_t target = (size_t)fmax(2, round((axes->bottom - axes->top) / 70));
    size_t n = plot_nice_ticks(axes->y_min, axes->y_max, target, ticks, 32, &step);
    for (size_t i = 0; i < n; i++) {
        double y = floor(plot_axes_y_px(axes, ticks[i]));
        char label[32];
        plot_add_rect(layout, axes->left - TICK_LENGTH, y, axes->left, y + 1, plot_black, NULL);
        plot_format_tick(ticks[i], step, label, sizeof label);
        plot_add_text(layout, axes->left - TICK_LENGTH - TICK_GAP, y + 0.5 + 3.5 * LABEL_SCALE,
                      label, LABEL_SCALE, PLOT_ANCHOR_END, 0, plot_black);
        widest = fmax(widest, plot_text_width(label, LABEL_SCALE));
    }
    return widest;
}

void plot_add_axes(plot_layout *layout, const plot_axes *axes, const char *x_title,
                   const char *y_title) {
    const double l = axes->left, t = axes->top, r = axes->right, b = axes->bottom;
    /* the frame sits just outside the plot area, so it never covers data */
    plot_add_rect(layout, l - 1, t - 1, r + 1, t, plot_black, NULL);
    plot_add_rect(layout, l - 1, b, r + 1, b + 1, plot_black, NULL);
    plot_add_rect(layout, l - 1, t, l, b, plot_black, NULL);
    plot_add_rect(layout, r, t, r + 1, b, plot_black, NULL);
    add_x_ticks(layout, axes);
    double widest = add_y_ticks(layout, axes);
    plot_add_text(layout, (l + r) / 2, b + TICK_LENGTH + TICK_GAP + 7 * LABEL_SCALE + 36, x_title,
                  LABEL_SCALE, PLOT_ANCHOR_MIDDLE, 0, plot_black);
    plot_add_text(layout, l - TICK_LENGTH - TICK_GAP - widest - 12 - 3 * LABEL_SCALE, (t + b) / 2,
                  y_title, LABEL_SCALE, PLOT_ANCHOR_MIDDLE, 1, plot_black);
}

void plot_add_title(plot_layout *layout, double centre_x, double y, const char *markup,
                    double room) {
    double scale = plot_text_width(markup, PLOT_TEXT_SCALE) <= room ? PLOT_TEXT_SCALE : 1.5;
    plot_add_text(layout, centre_x, y, markup, scale, PLOT_ANCHOR_MIDDLE, 0, plot_black);
}

/* ---- Legends --------------------------------------------------------------------------- */

size_t plot_add_legend_labels(plot_layout *layout, const plot_legend_box *box,
                              const char *const *labels, size_t n, double *swatch_x,
                              double *swatch_y) {
    const double room = box->right - box->left;
    size_t n_rows = 0;
    for (size_t first = 0; first < n; n_rows++) {
        double y_mid = round(box->first_row + (double)n_rows * box->row_height);
        size_t last = first;
        double row_width = -PLOT_ENTRY_GAP;
        do {
            row_width += PLOT_ENTRY_GAP + PLOT_SWATCH_WIDTH + PLOT_SWATCH_GAP +
                         plot_text_width(labels[last], PLOT_TEXT_SCALE);
            last++;
        } while (last < n && row_width + PLOT_ENTRY_GAP + PLOT_SWATCH_WIDTH + PLOT_SWATCH_GAP +
                                     plot_text_width(labels[last], PLOT_TEXT_SCALE) <=
                                 room);
        double x = fmax(box->left, fmin(box->centre_x - row_width / 2, box->right - row_width));
        for (size_t i = first; i < last; i++) {
            swatch_x[i] = round(x);
            swatch_y[i] = y_mid;
            plot_add_text(layout, swatch_x[i] + PLOT_SWATCH_WIDTH + PLOT_SWATCH_GAP,
                          y_mid + 3.5 * PLOT_TEXT_SCALE, labels[i], PLOT_TEXT_SCALE,
                          PLOT_ANCHOR_START, 0, plot_black);
            x += PLOT_SWATCH_WIDTH + PLOT_SWATCH_GAP + plot_text_width(labels[i], PLOT_TEXT_SCALE) +
                 PLOT_ENTRY_GAP;
        }
        first = last;
    }
    return n_rows;
}

/* ---- Colour ---------------------------------------------------------------------------- */

/* Degree-7 least-squares fit to viridis (van der Walt and Smith, CC0), sampled every eighth of
 * its 256 entries; the largest error is 2.2/255 in any channel, invisible next to a table. */
static const double viridis_coefficients[3][8] = {
    {0.262888272, 0.954924489, -12.6462544, 66.1855684, -192.078576, 293.444705, -215.370522,
     60.2413944},
    {0.00513504114, 1.4721972, -0.963292089, 1.1665492, -5.43813952, 14.9169975, -16.2570078,
     6.00392861},
    {0.326496316, 1.86305475, -6.95932508, 21.7129955, -59.3343913, 105.037779, -98.6230863,
     36.1164222},
};

static uint8_t viridis_channel(const double *c, double t) {
    double v = c[7];
    for (int k = 6; k >= 0; k--)
        v = v * t + c[k];
    return (uint8_t)lround(fmin(1, fmax(0, v)) * 255);
}

plot_rgb plot_viridis(double t) {
    t = isnan(t) ? 0 : fmin(1, fmax(0, t));
    plot_rgb color = {viridis_channel(viridis_coefficients[0], t),
                      viridis_channel(viridis_coefficients[1], t),
                      viridis_channel(viridis_coefficients[2], t)};
    return color;
}

/* Okabe and Ito, "Color Universal Design" (2008): blue, vermillion, bluish green, reddish
 * purple, orange, sky blue, black, yellow. */
plot_rgb plot_category_color(size_t i) {
    static const plot_rgb palette[PLOT_N_CATEGORIES] = {
        {0, 114, 178}, {213, 94, 0},   {0, 158, 115}, {204, 121, 167},
        {230, 159, 0}, {86, 180, 233}, {0, 0, 0},     {240, 228, 66},
    };
    return palette[i % PLOT_N_CATEGORIES];
}
