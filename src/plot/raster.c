/* The PNG renderer's rasteriser: draws a figure layout into an RGB buffer. Rectangles are
 * filled on whole pixels (crisp cells); lines, polygons and text are anti-aliased by computing
 * each pixel's coverage in a scratch buffer and blending the item's colour in once, so pixels
 * shared by two segments or two glyph pixels are not blended twice. */
#include <math.h>
#include <stdlib.h>

#include "plot/font.h"
#include "plot/plot.h"

typedef struct {
    uint8_t *rgb;
    int width, height;
    float *coverage;    /* one per pixel; zero outside the item being drawn */
    int x0, y0, x1, y1; /* pixels with coverage: [x0, x1) x [y0, y1) */
} canvas;

static void touch_reset(canvas *c) {
    c->x0 = c->width;
    c->y0 = c->height;
    c->x1 = c->y1 = 0;
}

static void touch(canvas *c, int x0, int y0, int x1, int y1) {
    if (x0 < c->x0) c->x0 = x0;
    if (y0 < c->y0) c->y0 = y0;
    if (x1 > c->x1) c->x1 = x1;
    if (y1 > c->y1) c->y1 = y1;
}

/* Clamps to [lo, hi]; NaN (which a bad layout could carry) goes to lo. */
static int clamp_int(double v, int lo, int hi) {
    return v >= hi ? hi : v >= lo ? (int)v : lo;
}

/* Blends color into the covered pixels, at `opacity` where fully covered, and clears the
 * coverage for the next item. */
static void blend_coverage(canvas *c, plot_rgb color, float opacity) {
    const uint8_t ink[3] = {color.r, color.g, color.b};
    for (int y = c->y0; y < c->y1; y++) {
        for (int x = c->x0; x < c->x1; x++) {
            size_t i = (size_t)y * (size_t)c->width + (size_t)x;
            float a = fminf(c->coverage[i], 1.0f) * opacity;
            if (a <= 0) continue;
            for (int k = 0; k < 3; k++) {
                float v = c->rgb[3 * i + k] + (ink[k] - c->rgb[3 * i + k]) * a;
                c->rgb[3 * i + k] = (uint8_t)lrintf(v);
            }
            c->coverage[i] = 0;
        }
    }
    touch_reset(c);
}

static void fill_rect(canvas *c, const plot_item *item) {
    int x0 = clamp_int(round(item->rect.x0), 0, c->width);
    int x1 = clamp_int(round(item->rect.x1), 0, c->width);
    int y0 = clamp_int(round(item->rect.y0), 0, c->height);
    int y1 = clamp_int(round(item->rect.y1), 0, c->height);
    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++) {
            uint8_t *pixel = c->rgb + 3 * ((size_t)y * (size_t)c->width + (size_t)x);
            pixel[0] = item->color.r;
            pixel[1] = item->color.g;
            pixel[2] = item->color.b;
        }
    }
}

/* Coverage of a round-capped segment of the given width: one pixel of linear ramp at its edge,
 * measured from each pixel's centre. Keeps the maximum with what is already there. */
static void cover_segment(canvas *c, const double *p, const double *q, double width) {
    const double reach = width / 2 + 0.5;
    const double dx = q[0] - p[0], dy = q[1] - p[1], length2 = dx * dx + dy * dy;
    int x0 = clamp_int(floor(fmin(p[0], q[0]) - reach), 0, c->width);
    int x1 = clamp_int(ceil(fmax(p[0], q[0]) + reach), 0, c->width);
    int y0 = clamp_int(floor(fmin(p[1], q[1]) - reach), 0, c->height);
    int y1 = clamp_int(ceil(fmax(p[1], q[1]) + reach), 0, c->height);
    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++) {
            double px = x + 0.5 - p[0], py = y + 0.5 - p[1];
            double t = length2 > 0 ? fmin(1, fmax(0, (px * dx + py * dy) / length2)) : 0;
            double a = reach - hypot(px - t * dx, py - t * dy);
            float *cover = &c->coverage[(size_t)y * (size_t)c->width + (size_t)x];
            if (a > *cover) *cover = (float)fmin(a, 1);
        }
    }
    touch(c, x0, y0, x1, y1);
}

static void cover_polyline(canvas *c, const double *xy, size_t n, int closed, double width) {
    for (size_t i = 0; i + 1 < n; i++)
        cover_segment(c, &xy[2 * i], &xy[2 * i + 2], width);
    if (closed && n > 2) cover_segment(c, &xy[2 * n - 2], xy, width);
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The x where the polygon's edges cross the horizontal line at y, sorted: by the even-odd
 * rule, [crossings[0], crossings[1]), [crossings[2], crossings[3]), ... are inside. */
static size_t polygon_crossings(const double *xy, size_t n, double y, double *crossings) {
    size_t n_crossings = 0;
    for (size_t i = 0, j = n - 1; i < n; j = i++) {
        double xi = xy[2 * i], yi = xy[2 * i + 1], xj = xy[2 * j], yj = xy[2 * j + 1];
        if ((yi > y) != (yj > y)) crossings[n_crossings++] = xi + (y - yi) / (yj - yi) * (xj - xi);
    }
    qsort(crossings, n_crossings, sizeof(double), compare_doubles);
    return n_crossings;
}

/* Adds 1/16 to each pixel of row y for each of its four samples at x + (s + 0.5) / 4 that
 * falls in [from, to). */
static void cover_samples(canvas *c, int y, double from, double to) {
    float *row = c->coverage + (size_t)y * (size_t)c->width;
    for (int x = clamp_int(floor(from), 0, c->width); x < c->width && x < to; x++)
        for (int s = 0; s < 4; s++) {
            double sample = x + (s + 0.5) / 4;
            if (sample >= from && sample < to) row[x] += 1 / 16.0f;
        }
}

/* Polygon coverage from a 4x4 grid of samples per pixel, found a sample row at a time from
 * where the edges cross it, so that a band of thousands of vertices costs its edges times its
 * rows, not times its pixels. Returns -1 if it cannot allocate its crossings. */
static int cover_polygon(canvas *c, const double *xy, size_t n) {
    double left = xy[0], right = xy[0], top = xy[1], bottom = xy[1];
    for (size_t i = 1; i < n; i++) {
        left = fmin(left, xy[2 * i]);
        right = fmax(right, xy[2 * i]);
        top = fmin(top, xy[2 * i + 1]);
        bottom = fmax(bottom, xy[2 * i + 1]);
    }
    int x0 = clamp_int(floor(left), 0, c->width), x1 = clamp_int(ceil(right), 0, c->width);
    int y0 = clamp_int(floor(top), 0, c->height), y1 = clamp_int(ceil(bottom), 0, c->height);
    double *crossings = malloc(n * sizeof(double));
    if (!crossings) return -1;
    for (int y = y0; y < y1; y++)
        for (int s = 0; s < 4; s++) {
            size_t n_crossings = polygon_crossings(xy, n, y + (s + 0.5) / 4, crossings);
            for (size_t k = 0; k + 1 < n_crossings; k += 2)
                cover_samples(c, y, crossings[k], crossings[k + 1]);
        }
    free(crossings);
    touch(c, x0, y0, x1, y1);
    return 0;
}

/* Adds the area of the rectangle that falls on each pixel: exact anti-aliasing for glyph
 * pixels at any scale and position. */
static void cover_area(canvas *c, double x0, double y0, double x1, double y1) {
    int ix0 = clamp_int(floor(x0), 0, c->width), ix1 = clamp_int(ceil(x1), 0, c->width);
    int iy0 = clamp_int(floor(y0), 0, c->height), iy1 = clamp_int(ceil(y1), 0, c->height);
    for (int y = iy0; y < iy1; y++) {
        double h = fmin(y1, y + 1) - fmax(y0, y);
        for (int x = ix0; x < ix1; x++) {
            double w = fmin(x1, x + 1) - fmax(x0, x);
            c->coverage[(size_t)y * (size_t)c->width + (size_t)x] += (float)(w * h);
        }
    }
    touch(c, ix0, iy0, ix1, iy1);
}

/* Where text starts and how it runs: u along the text, v down across it. */
typedef struct {
    double x, y; /* the start of the baseline on the page */
    int vertical;
} text_frame;

static void cover_font_pixel(canvas *c, const text_frame *frame, double u0, double v0,
                             double size) {
    if (frame->vertical)
        cover_area(c, frame->x + v0, frame->y - u0 - size, frame->x + v0 + size, frame->y - u0);
    else
        cover_area(c, frame->x + u0, frame->y + v0, frame->x + u0 + size, frame->y + v0 + size);
}

/* Covers the glyphs of one run starting at pen (pixels along the baseline). */
static void cover_run(canvas *c, const text_frame *frame, const plot_text_run *run, double pen,
                      double scale) {
    const double run_scale = plot_run_scale(run->kind, scale);
    const double baseline = plot_run_baseline(run->kind, scale);
    font_cursor cursor;
    font_glyph glyph;
    int x;
    font_cursor_init(&cursor, run->text, run->length);
    while (font_cursor_next(&cursor, &glyph, &x))
        for (int row = 0; row < FONT_ROWS; row++)
            for (int col = 0; col < glyph.width; col++)
                if (glyph.rows[row] >> col & 1)
                    cover_font_pixel(c, frame, pen + (x + col) * run_scale,
                                     baseline + (row - FONT_ASCENT) * run_scale, run_scale);
}

static void cover_text(canvas *c, const plot_layout *layout, const plot_item *item) {
    const char *markup = layout->text + item->text.offset;
    const double scale = item->text.scale, width = plot_text_width(markup, scale);
    const double shift = item->text.anchor == PLOT_ANCHOR_MIDDLE ? width / 2
                         : item->text.anchor == PLOT_ANCHOR_END  ? width
                                                                 : 0;
    /* start on a whole pixel so that glyphs at whole scales come out crisp */
    text_frame frame = {round(item->text.vertical ? item->text.x : item->text.x - shift),
                        round(item->text.vertical ? item->text.y + shift : item->text.y),
                        item->text.vertical};
    plot_text_run runs[16];
    size_t n = plot_text_runs(markup, runs, 16);
    double pen = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) pen += plot_run_scale(runs[i - 1].kind, scale);
        cover_run(c, &frame, &runs[i], pen, scale);
        pen += font_text_width(runs[i].text, runs[i].length) * plot_run_scale(runs[i].kind, scale);
    }
}

static int draw_item(canvas *c, const plot_layout *layout, const plot_item *item) {
    switch (item->kind) {
    case PLOT_RECT:
        fill_rect(c, item);
        break;
    case PLOT_LINE:
        cover_polyline(c, layout->points + 2 * item->line.first, item->line.count, 0,
                       item->line.width);
        blend_coverage(c, item->color, 1);
        break;
    case PLOT_POLYGON: {
        const double *xy = layout->points + 2 * item->polygon.first;
        if (cover_polygon(c, xy, item->polygon.count) != 0) return -1;
        blend_coverage(c, item->color, (float)item->polygon.opacity);
        if (item->polygon.stroke_width > 0) {
            cover_polyline(c, xy, item->polygon.count, 1, item->polygon.stroke_width);
            blend_coverage(c, item->polygon.stroke, 1);
        }
        break;
    }
    case PLOT_TEXT:
        cover_text(c, layout, item);
        blend_coverage(c, item->color, 1);
        break;
    }
    return 0;
}

int plot_rasterize(const plot_layout *layout, uint8_t *rgb) {
    canvas c = {rgb, layout->width, layout->height, NULL, 0, 0, 0, 0};
    c.coverage = calloc((size_t)layout->width * (size_t)layout->height, sizeof(float));
    if (!c.coverage) return -1;
    touch_reset(&c);
    int status = 0;
    for (size_t i = 0; status == 0 && i < layout->n_items; i++)
        status = draw_item(&c, layout, &layout->items[i]);
    free(c.coverage);
    return status;
}
