/* Tests of the learning-curve figure (plot_curves, the paper's Fig. 4): for a hand-made input
 * the means, bands, dots and exploded crosses sit at the pixels the data says, in the layout
 * and in the SVG; the PNG shows a band's translucent tint; NaN (a restart still running, one
 * exploded, a gamma not started) is left out of the means and counted in the legend; degenerate
 * inputs (one epoch, one restart, nothing done, a thousand epochs, eight gammas) draw; a failed
 * write names its file and leaves neither file. Also the scan-row polygon coverage against a
 * sample-by-sample count, and translucent polygons blending over each other. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "plot/plot.h"
#include "plot_check.h"

/* ---- The hand-made input --------------------------------------------------------------- */

enum { N_EPOCHS = 4 };

/* gamma 0.1: three restarts, the second stopped after two epochs (still running), the third
 * after three; the third recorded no train accuracy. */
static const double test_0[3 * N_EPOCHS] = {0.2, 0.4, 0.6, 0.8, 0.3, 0.5,
                                            NAN, NAN, 0.1, 0.3, 0.5, NAN};
static const double train_0[3 * N_EPOCHS] = {0.25, 0.5, 0.75, 1.0, 0.35, 0.55,
                                             NAN,  NAN, NAN,  NAN, NAN,  NAN};
/* gamma 1: two restarts, the second exploded in epoch 2; no train accuracy at all. */
static const double test_1[2 * N_EPOCHS] = {0.1, 0.15, 0.2, 0.25, 0.12, NAN, NAN, NAN};
static const size_t exploded_1[2] = {0, 2};

/* Expected, in %: mean, least, greatest per epoch. */
static const double test_0_mean[N_EPOCHS] = {20, 40, 55, 80};
static const double test_0_lo[N_EPOCHS] = {10, 30, 50, 80};
static const double test_0_hi[N_EPOCHS] = {30, 50, 60, 80};
static const double train_0_mean[N_EPOCHS] = {30, 52.5, 75, 100};
static const double test_1_mean[N_EPOCHS] = {11, 15, 20, 25};

static plot_curves_figure hand_made(plot_curve_series *series) {
    series[0] = (plot_curve_series){0.1, 3, train_0, test_0, NULL};
    series[1] = (plot_curve_series){1, 2, NULL, test_1, exploded_1};
    return (plot_curves_figure){"hand-made: \"VGG16\" <test> & co", N_EPOCHS, series, 2};
}

/* ---- Finding items --------------------------------------------------------------------- */

static int same_role(const plot_item *item, const char *role) {
    return item->role && strcmp(item->role, role) == 0;
}

/* Items of `role` whose colour is `color`; returns how many, the first max in out. */
static size_t find_items(const plot_layout *layout, const char *role, plot_rgb color,
                         const plot_item **out, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < layout->n_items; i++) {
        const plot_item *item = &layout->items[i];
        if (!same_role(item, role) || !same_rgb(item->color, color)) continue;
        if (n < max) out[n] = item;
        n++;
    }
    return n;
}

static size_t count_role(const plot_layout *layout, const char *role) {
    size_t n = 0;
    for (size_t i = 0; i < layout->n_items; i++)
        n += same_role(&layout->items[i], role);
    return n;
}

static const double *item_points(const plot_layout *layout, const plot_item *item, size_t *count) {
    size_t first = item->kind == PLOT_LINE ? item->line.first : item->polygon.first;
    *count = item->kind == PLOT_LINE ? item->line.count : item->polygon.count;
    return layout->points + 2 * first;
}

/* Does polyline or polygon point k sit at (epoch, percent) on the axes? */
static int point_at(const double *xy, size_t k, const plot_axes *axes, double epoch,
                    double percent) {
    return fabs(xy[2 * k] - plot_axes_x_px(axes, epoch)) < 1e-9 &&
           fabs(xy[2 * k + 1] - plot_axes_y_px(axes, percent)) < 1e-9;
}

/* The mean of a curve as one polyline through the expected points. */
static void check_mean_line(const plot_layout *layout, const plot_axes *axes, const char *role,
                            size_t series, const double *mean) {
    const plot_item *items[4];
    size_t n = find_items(layout, role, plot_category_color(series), items, 4), count = 0;
    CHECK_MSG(n == 1, "%zu %s polylines of series %zu", n, role, series);
    const double *xy = n == 1 ? item_points(layout, items[0], &count) : NULL;
    CHECK_MSG(count == N_EPOCHS, "%s of series %zu: %zu points", role, series, count);
    for (size_t k = 0; xy && k < count && k < N_EPOCHS; k++)
        CHECK_MSG(point_at(xy, k, axes, (double)(k + 1), mean[k]),
                  "%s of series %zu, epoch %zu: (%g, %g), the mean is %g%%", role, series, k + 1,
                  xy[2 * k], xy[2 * k + 1], mean[k]);
}

/* ---- The hand-made figure -------------------------------------------------------------- */

static void check_layout(void) {
    plot_curve_series series[2];
    plot_curves_figure figure = hand_made(series);
    plot_layout layout;
    plot_axes axes;
    bn_error err = {""};
    CHECK_MSG(plot_curves_layout(&figure, &layout, &axes, &err) == 0, "%s", err.msg);
    CHECK(axes.x_min == 0 && axes.x_max == N_EPOCHS && axes.y_min == 0 && axes.y_max == 100);

    check_mean_line(&layout, &axes, "mean-test", 0, test_0_mean);
    check_mean_line(&layout, &axes, "mean-test", 1, test_1_mean);

    /* the band: the greatest values left to right, then the least back */
    const plot_item *items[64];
    size_t count = 0;
    size_t n = find_items(&layout, "band-test", plot_category_color(0), items, 64);
    const double *xy = n == 1 ? item_points(&layout, items[0], &count) : NULL;
    CHECK_MSG(n == 1 && count == 2 * N_EPOCHS, "%zu test bands of %zu points", n, count);
    for (size_t k = 0; xy && count == 2 * N_EPOCHS && k < N_EPOCHS; k++) {
        CHECK_MSG(point_at(xy, k, &axes, (double)(k + 1), test_0_hi[k]), "band top, epoch %zu",
                  k + 1);
        CHECK_MSG(point_at(xy, 2 * N_EPOCHS - 1 - k, &axes, (double)(k + 1), test_0_lo[k]),
                  "band bottom, epoch %zu", k + 1);
    }
    CHECK(n == 1 && items[0]->polygon.opacity > 0 && items[0]->polygon.opacity < 1);

    /* train: dashed, so several polylines, each no longer than a dash, all on the mean */
    n = find_items(&layout, "mean-train", plot_category_color(0), items, 64);
    CHECK_MSG(n >= 4 && n <= 64, "%zu train dashes", n);
    for (size_t i = 0; i < n && i < 64; i++) {
        xy = item_points(&layout, items[i], &count);
        double length = 0;
        for (size_t k = 0; k + 1 < count; k++)
            length += hypot(xy[2 * k + 2] - xy[2 * k], xy[2 * k + 3] - xy[2 * k + 1]);
        double epoch = axes.x_min + (xy[0] - axes.left) / (axes.right - axes.left) * N_EPOCHS;
        size_t e = (size_t)floor(epoch);
        double t = epoch - (double)e;
        double expected = e >= 1 && e < N_EPOCHS
                              ? train_0_mean[e - 1] + t * (train_0_mean[e] - train_0_mean[e - 1])
                              : train_0_mean[N_EPOCHS - 1];
        CHECK_MSG(length <= 8 + 1e-9, "a dash %g pixels long", length);
        CHECK_MSG(fabs(plot_axes_y_value(&axes, xy[1]) - expected) < 1e-6,
                  "a train dash starts at %g%%, the mean there is %g%%",
                  plot_axes_y_value(&axes, xy[1]), expected);
    }
    CHECK(find_items(&layout, "mean-train", plot_category_color(1), items, 64) == 0);
    CHECK(count_role(&layout, "band-train") == 1); /* gamma 1 has no train accuracy */
    CHECK(count_role(&layout, "point-test") == 0 && count_role(&layout, "point-train") == 0);
    CHECK(count_role(&layout, "no-data") == 0);

    /* one cross (two strokes) at epoch 2, in gamma 1's colour */
    n = find_items(&layout, "exploded-marker", plot_category_color(1), items, 64);
    CHECK_MSG(n == 2 && count_role(&layout, "exploded-marker") == 2, "%zu cross strokes", n);
    for (size_t i = 0; i < n && i < 64; i++) {
        xy = item_points(&layout, items[i], &count);
        CHECK(count == 2 && fabs((xy[0] + xy[2]) / 2 - plot_axes_x_px(&axes, 2)) < 1e-9);
        CHECK(xy[1] < axes.bottom && xy[3] < axes.bottom);
    }
    plot_layout_free(&layout);
}

/* The SVG's polyline points as numbers. */
static size_t svg_points(const char *tag, double *xy, size_t max) {
    char value[4096];
    if (attribute(tag, "points", value, sizeof value) != 0) return 0;
    size_t n = 0;
    for (char *p = value, *end; n < max; p = end) {
        xy[n] = strtod(p, &end);
        if (end == p) break;
        n++;
        if (*end == ',' || *end == ' ') end++;
    }
    return n / 2;
}

static size_t count_in(const char *text, const char *needle) {
    size_t n = 0;
    for (const char *p = text ? strstr(text, needle) : NULL; p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void check_files(const char *root) {
    plot_curve_series series[2];
    plot_curves_figure figure = hand_made(series);
    char png_path[512], svg_path[512], why[200] = "";
    snprintf(png_path, sizeof png_path, "%s/curves.png", root);
    snprintf(svg_path, sizeof svg_path, "%s/curves.svg", root);
    bn_error err = {""};
    CHECK_MSG(plot_curves(&figure, png_path, svg_path, &err) == 0, "%s", err.msg);

    size_t size;
    char *svg = read_all(svg_path, &size);
    CHECK_MSG(svg && xml_well_formed(svg, why), "curves.svg: %s", why);
    CHECK(count_in(svg, "class=\"mean-test\"") == 2);
    CHECK(count_in(svg, "class=\"band-test\"") == 2 && count_in(svg, "class=\"band-train\"") == 1);
    CHECK(count_in(svg, "class=\"exploded-marker\"") == 2);
    CHECK(count_in(svg, "fill-opacity=\"") == count_in(svg, "class=\"band-") + 3);
    CHECK_MSG(count_in(svg, "γ = 0.1 (1-3 runs)") == 1, "no legend entry for gamma 0.1");
    CHECK_MSG(count_in(svg, "γ = 1 (1-2 runs, 1 exploded)") == 1, "no legend entry for gamma 1");
    CHECK(count_in(svg, ">test<") == 1 && count_in(svg, ">train<") == 1);
    CHECK(count_in(svg, "a restart exploded") == 1);
    CHECK(count_in(svg, "hand-made: &quot;VGG16&quot; &lt;test&gt; &amp; co") == 1);
    CHECK(count_in(svg, ">epoch<") == 1 && count_in(svg, ">accuracy (%)<") == 1);

    /* gamma 0.1's test mean, as the SVG says it */
    plot_layout layout;
    plot_axes axes;
    CHECK(plot_curves_layout(&figure, &layout, &axes, &err) == 0);
    const char *tag = svg ? strstr(svg, "<polyline class=\"mean-test\"") : NULL;
    double xy[16];
    char stroke[16] = "";
    CHECK(tag && attribute(tag, "stroke", stroke, sizeof stroke) == 0);
    CHECK_MSG(strcmp(stroke, "#0072b2") == 0, "gamma 0.1 is drawn in %s", stroke);
    size_t n = tag ? svg_points(tag, xy, 16) : 0;
    CHECK_MSG(n == N_EPOCHS, "%zu points in the SVG's test mean", n);
    for (size_t k = 0; k < n && k < N_EPOCHS; k++)
        CHECK_MSG(fabs(xy[2 * k] - plot_axes_x_px(&axes, (double)(k + 1))) < 0.006 &&
                      fabs(xy[2 * k + 1] - plot_axes_y_px(&axes, test_0_mean[k])) < 0.006,
                  "SVG point %zu at (%g, %g)", k, xy[2 * k], xy[2 * k + 1]);

    /* the PNG: as large as the SVG says, the line in its colour, the band a light tint of it */
    image im;
    CHECK_MSG(load_png(png_path, &im) == 0, "cannot decode %s", png_path);
    CHECK(svg && im.rgb && im.width == (unsigned)number_attribute(strstr(svg, "<svg"), "width") &&
          im.height == (unsigned)number_attribute(strstr(svg, "<svg"), "height") &&
          (int)im.height == layout.height);
    plot_rgb blue = plot_category_color(0);
    plot_rgb on_line = pixel_at(&im, plot_axes_x_px(&axes, 1.5), plot_axes_y_px(&axes, 30));
    CHECK_MSG(im.rgb && on_line.r < 60 && on_line.b > on_line.g && on_line.g < 140,
              "the test mean at epoch 1.5 is %d,%d,%d", on_line.r, on_line.g, on_line.b);
    /* at epoch 1.5 the test band runs from 20% to 40%: 24% is inside, far from every line */
    plot_rgb in_band = pixel_at(&im, plot_axes_x_px(&axes, 1.5), plot_axes_y_px(&axes, 24));
    const double opacity = 0.22;
    const double expected[3] = {255 + (blue.r - 255) * opacity, 255 + (blue.g - 255) * opacity,
                                255 + (blue.b - 255) * opacity};
    CHECK_MSG(im.rgb && fabs(in_band.r - expected[0]) <= 1 && fabs(in_band.g - expected[1]) <= 1 &&
                  fabs(in_band.b - expected[2]) <= 1,
              "the band is %d,%d,%d, expected %.0f,%.0f,%.0f", in_band.r, in_band.g, in_band.b,
              expected[0], expected[1], expected[2]);
    plot_rgb outside = pixel_at(&im, plot_axes_x_px(&axes, 1.5), plot_axes_y_px(&axes, 70));
    CHECK(im.rgb && same_rgb(outside, plot_white));
    free(im.rgb);
    plot_layout_free(&layout);
    free(svg);
    CHECK_MSG(count_temp_files(root) == 0, "temporary files left in %s", root);
}

/* ---- NaN and degenerate inputs --------------------------------------------------------- */

/* Lays out the figure and writes it under root as NAME.png and NAME.svg; returns the SVG. */
static char *draw(const char *root, const char *name, const plot_curves_figure *figure,
                  plot_layout *layout, plot_axes *axes) {
    char png_path[512], svg_path[512], why[200] = "";
    snprintf(png_path, sizeof png_path, "%s/%s.png", root, name);
    snprintf(svg_path, sizeof svg_path, "%s/%s.svg", root, name);
    bn_error err = {""};
    CHECK_MSG(plot_curves_layout(figure, layout, axes, &err) == 0, "%s: %s", name, err.msg);
    CHECK_MSG(plot_curves(figure, png_path, svg_path, &err) == 0, "%s: %s", name, err.msg);
    image im;
    CHECK_MSG(load_png(png_path, &im) == 0, "%s: cannot decode the PNG", name);
    free(im.rgb);
    size_t size;
    char *svg = read_all(svg_path, &size);
    CHECK_MSG(svg && xml_well_formed(svg, why), "%s.svg: %s", name, why);
    return svg;
}

/* Lone points (their neighbours NaN) become dots at the mean; infinities count as missing. */
static void check_gaps(const char *root) {
    const double test[2 * 6] = {0.5, NAN, 0.7, NAN, 0.8, INFINITY, 0.3, NAN, NAN, NAN, 0.6, 0.9};
    const plot_curve_series series = {0.5, 2, test, test, NULL};
    const plot_curves_figure figure = {"gaps", 6, &series, 1};
    plot_layout layout;
    plot_axes axes;
    char *svg = draw(root, "gaps", &figure, &layout, &axes);
    const plot_item *items[4];
    size_t count;
    /* epoch 1: mean 40 (a dot); epoch 3: 70 alone too; epochs 5 and 6: 70 and 90, a line */
    size_t n = find_items(&layout, "point-test", plot_category_color(0), items, 4);
    CHECK_MSG(n == 2, "%zu test dots", n);
    const double dot_epoch[2] = {1, 3}, dot_mean[2] = {40, 70};
    for (size_t i = 0; i < n && i < 2; i++) {
        const double *xy = item_points(&layout, items[i], &count);
        double cx = 0, cy = 0;
        for (size_t k = 0; k < count; k++)
            cx += xy[2 * k] / (double)count, cy += xy[2 * k + 1] / (double)count;
        CHECK_MSG(fabs(cx - plot_axes_x_px(&axes, dot_epoch[i])) < 1e-9 &&
                      fabs(cy - plot_axes_y_px(&axes, dot_mean[i])) < 1e-9,
                  "dot %zu at (%g, %g)", i, cx, cy);
        CHECK(!same_rgb(items[i]->color, plot_white)); /* test dots are filled */
    }
    n = find_items(&layout, "point-train", plot_white, items, 4);
    CHECK_MSG(n == 2, "%zu hollow train dots", n);
    n = find_items(&layout, "mean-test", plot_category_color(0), items, 4);
    const double *xy = n == 1 ? item_points(&layout, items[0], &count) : NULL;
    CHECK_MSG(xy && count == 2 && point_at(xy, 0, &axes, 5, 70) && point_at(xy, 1, &axes, 6, 90),
              "%zu test lines", n);
    CHECK(svg && count_in(svg, "γ = 0.5 (1-2 runs)") == 1);
    plot_layout_free(&layout);
    free(svg);
}

/* Nothing done: "no epoch done yet" in the plot area, "no epoch done" in the legend. */
static void check_nothing_done(const char *root) {
    double nothing[3 * 50];
    for (size_t i = 0; i < 3 * 50; i++)
        nothing[i] = NAN;
    const plot_curve_series series[2] = {{0.1, 3, nothing, nothing, NULL},
                                         {1, 3, NULL, NULL, NULL}};
    const plot_curves_figure figure = {"nothing yet", 50, series, 2};
    plot_layout layout;
    plot_axes axes;
    char *svg = draw(root, "nothing", &figure, &layout, &axes);
    CHECK(count_role(&layout, "no-data") == 1);
    CHECK(svg && count_in(svg, "no epoch done yet") == 1);
    CHECK(svg && count_in(svg, "γ = 0.1 (no epoch done)") == 1);
    CHECK(count_role(&layout, "mean-test") == 0 && count_role(&layout, "band-test") == 0);
    plot_layout_free(&layout);
    free(svg);

    /* one gamma with data and one without: the figure shows the first, no "yet" */
    double some[3 * 50];
    for (size_t i = 0; i < 3 * 50; i++)
        some[i] = 0.1 + 0.8 * (double)(i % 50) / 50;
    const plot_curve_series mixed[2] = {{0.1, 3, some, some, NULL}, {1, 3, nothing, nothing, NULL}};
    const plot_curves_figure half = {"half done", 50, mixed, 2};
    svg = draw(root, "half", &half, &layout, &axes);
    CHECK(count_role(&layout, "no-data") == 0);
    CHECK(svg && count_in(svg, "γ = 1 (no epoch done)") == 1 &&
          count_in(svg, "γ = 0.1 (3 runs)") == 1);
    const plot_item *items[2];
    CHECK(find_items(&layout, "mean-test", plot_category_color(1), items, 2) == 0);
    CHECK(find_items(&layout, "mean-test", plot_category_color(0), items, 2) == 1);
    CHECK(count_role(&layout, "band-test") == 0); /* identical restarts: no band */
    plot_layout_free(&layout);
    free(svg);

    const plot_curves_figure empty = {NULL, 0, NULL, 0};
    svg = draw(root, "empty", &empty, &layout, &axes);
    CHECK(count_role(&layout, "no-data") == 1 && axes.x_max == 1);
    plot_layout_free(&layout);
    free(svg);
}

/* x tick labels of a figure: texts centred just below the plot area. */
static size_t x_tick_labels(const char *svg, const plot_axes *axes, char labels[][16], size_t max) {
    size_t n = 0;
    for (const char *tag = strstr(svg, "<text "); tag && n < max; tag = strstr(tag + 1, "<text ")) {
        double y = number_attribute(tag, "y");
        const char *label = strstr(tag, "<tspan>");
        char anchor[16];
        if (!(y > axes->bottom && y < axes->bottom + 40) || !label ||
            attribute(tag, "text-anchor", anchor, sizeof anchor) != 0 ||
            strcmp(anchor, "middle") != 0)
            continue;
        label += strlen("<tspan>");
        size_t length = strcspn(label, "<");
        snprintf(labels[n++], 16, "%.*s", (int)(length < 15 ? length : 15), label);
    }
    return n;
}

static void check_one_epoch(const char *root) {
    const double test[1] = {0.42}, train[1] = {0.5};
    const size_t exploded[1] = {0};
    const plot_curve_series series = {0.1, 1, train, test, exploded};
    const plot_curves_figure figure = {"one epoch, one restart", 1, &series, 1};
    plot_layout layout;
    plot_axes axes;
    char *svg = draw(root, "one", &figure, &layout, &axes);
    char labels[32][16];
    size_t n = svg ? x_tick_labels(svg, &axes, labels, 32) : 0;
    CHECK_MSG(n == 2 && strcmp(labels[0], "0") == 0 && strcmp(labels[1], "1") == 0,
              "%zu x ticks, the first %s: epochs are whole", n, n ? labels[0] : "-");
    CHECK(count_role(&layout, "point-test") == 1 && count_role(&layout, "point-train") == 1);
    CHECK(count_role(&layout, "band-test") == 0 && count_role(&layout, "exploded-marker") == 0);
    CHECK(svg && count_in(svg, "γ = 0.1 (1 run)") == 1);
    CHECK(svg && count_in(svg, "a restart exploded") == 0);
    plot_layout_free(&layout);
    free(svg);
}

/* Eight gammas, five restarts, a thousand epochs; crosses for exploded restarts, one per
 * epoch however many exploded in it, none for an epoch past the axis. */
static void check_large(const char *root) {
    enum { E = 1000, R = 5, G = PLOT_N_CATEGORIES };
    double *acc = malloc((size_t)G * R * E * sizeof(double));
    CHECK(acc != NULL);
    if (!acc) return;
    plot_curve_series series[G + 1];
    static const size_t exploded[R] = {0, 300, 300, 0, E + 1};
    for (size_t g = 0; g < G; g++) {
        for (size_t i = 0; i < (size_t)R * E; i++) {
            double epoch = (double)(i % E + 1);
            acc[g * R * E + i] =
                (0.9 - 0.08 * (double)g) * (1 - exp(-epoch / 50)) + 0.01 * (double)(i / E);
        }
        series[g] = (plot_curve_series){0.1 * (double)(g + 1), R, acc + g * R * E, acc + g * R * E,
                                        g == 2 ? exploded : NULL};
    }
    const plot_curves_figure figure = {"a thousand epochs", E, series, G};
    plot_layout layout;
    plot_axes axes;
    char *svg = draw(root, "large", &figure, &layout, &axes);
    CHECK(count_role(&layout, "mean-test") == G && count_role(&layout, "band-test") == G);
    CHECK(count_role(&layout, "exploded-marker") == 2);
    CHECK(svg && count_in(svg, "runs, 3 exploded") == 0 && count_in(svg, "runs, 2 exploded") == 1);
    char labels[32][16];
    size_t n = svg ? x_tick_labels(svg, &axes, labels, 32) : 0;
    CHECK_MSG(n >= 5 && n <= 11 && strcmp(labels[n - 1], "1000") == 0, "%zu x ticks", n);
    plot_layout_free(&layout);
    free(svg);

    /* a ninth gamma has no colour of its own: an error, before any file is made */
    series[G] = series[0];
    const plot_curves_figure nine = {"nine", E, series, G + 1};
    char png_path[512], svg_path[512];
    snprintf(png_path, sizeof png_path, "%s/nine.png", root);
    snprintf(svg_path, sizeof svg_path, "%s/nine.svg", root);
    bn_error err = {""};
    CHECK(plot_curves(&nine, png_path, svg_path, &err) == -1);
    CHECK_MSG(strstr(err.msg, "nine.png") && strstr(err.msg, "at most 8"), "message: %s", err.msg);
    CHECK(access(png_path, F_OK) != 0 && access(svg_path, F_OK) != 0);

    /* restarts times epochs past size_t: refused, never allocated */
    const plot_curve_series huge = {1, SIZE_MAX / 2, NULL, NULL, NULL};
    const plot_curves_figure too_many = {"huge", 4, &huge, 1};
    err.msg[0] = '\0';
    CHECK(plot_curves(&too_many, png_path, svg_path, &err) == -1);
    CHECK_MSG(strstr(err.msg, "too many") != NULL, "message: %s", err.msg);
    free(acc);
}

/* ---- Failed writes --------------------------------------------------------------------- */

static void check_failed_writes(const char *root) {
    plot_curve_series series[2];
    plot_curves_figure figure = hand_made(series);
    char file[256], png_path[512], svg_path[512];
    snprintf(file, sizeof file, "%s/regular-file", root);
    FILE *f = fopen(file, "w");
    CHECK(f && fputs("not a folder\n", f) >= 0 && fclose(f) == 0);
    bn_error err = {""};

    /* the PNG's folder cannot be made: no file at all */
    snprintf(png_path, sizeof png_path, "%s/curves.png", file);
    snprintf(svg_path, sizeof svg_path, "%s/failed-png.svg", root);
    CHECK(plot_curves(&figure, png_path, svg_path, &err) == -1);
    CHECK_MSG(strstr(err.msg, "regular-file/curves.png") != NULL, "message: %s", err.msg);
    CHECK_MSG(access(svg_path, F_OK) != 0, "the SVG was written though the PNG was not");

    /* the SVG's: the PNG is not put in place either */
    snprintf(png_path, sizeof png_path, "%s/failed-svg.png", root);
    snprintf(svg_path, sizeof svg_path, "%s/curves.svg", file);
    err.msg[0] = '\0';
    CHECK(plot_curves(&figure, png_path, svg_path, &err) == -1);
    CHECK_MSG(strstr(err.msg, "regular-file/curves.svg") != NULL, "message: %s", err.msg);
    CHECK_MSG(access(png_path, F_OK) != 0, "the PNG was written though the SVG was not");

    /* a folder without write permission (root ignores it, so only for other users) */
    char locked[256];
    snprintf(locked, sizeof locked, "%s/locked", root);
    CHECK(mkdir(locked, 0555) == 0);
    snprintf(png_path, sizeof png_path, "%s/curves.png", locked);
    snprintf(svg_path, sizeof svg_path, "%s/curves.svg", locked);
    if (geteuid() != 0) {
        err.msg[0] = '\0';
        CHECK(plot_curves(&figure, png_path, svg_path, &err) == -1);
        CHECK_MSG(strstr(err.msg, "locked/curves.png") != NULL, "message: %s", err.msg);
    } else {
        printf("test_curves_figure: running as root, which ignores folder permissions: the "
               "read-only folder case is skipped (a file for a folder still fails)\n");
    }
    chmod(locked, 0755);
    CHECK_MSG(count_temp_files(root) == 0 && count_temp_files(locked) == 0,
              "temporary files left behind");
}

/* ---- Polygons -------------------------------------------------------------------------- */

/* Even-odd rule, one sample at a time: what the scan rows must reproduce. */
static int inside(const double *xy, size_t n, double x, double y) {
    int in = 0;
    for (size_t i = 0, j = n - 1; i < n; j = i++) {
        double xi = xy[2 * i], yi = xy[2 * i + 1], xj = xy[2 * j], yj = xy[2 * j + 1];
        if ((yi > y) != (yj > y) && x < xi + (y - yi) / (yj - yi) * (xj - xi)) in = !in;
    }
    return in;
}

static void check_polygons(void) {
    /* a self-crossing star with vertices off the pixel grid, partly outside the image */
    enum { W = 40, H = 30, N = 7 };
    double star[2 * N];
    for (int k = 0; k < N; k++) {
        double angle = 3 * k * 2 * M_PI / N;
        star[2 * k] = 18.3 + 22 * cos(angle);
        star[2 * k + 1] = 14.7 + 17 * sin(angle);
    }
    plot_layout layout;
    plot_layout_init(&layout, W, H);
    plot_add_polygon(&layout, star, N, plot_black, plot_black, 0);
    uint8_t rgb[W * H * 3];
    memset(rgb, 255, sizeof rgb);
    CHECK(plot_rasterize(&layout, rgb) == 0);
    size_t wrong = 0, inked = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int hits = 0;
            for (int s = 0; s < 16; s++)
                hits += inside(star, N, x + (s % 4 + 0.5) / 4, y + (s / 4 + 0.5) / 4);
            float a = fminf(hits / 16.0f, 1.0f);
            uint8_t expected = (uint8_t)lrintf(255 + (0 - 255) * a);
            wrong += rgb[3 * (y * W + x)] != expected;
            inked += expected < 255;
        }
    CHECK_MSG(wrong == 0 && inked > 200, "%zu of %d pixels differ from a sample count", wrong,
              W * H);
    plot_layout_free(&layout);

    /* two translucent squares: each tints what is below, where they overlap twice */
    plot_layout_init(&layout, 30, 10);
    const double a[8] = {0, 0, 20, 0, 20, 10, 0, 10}, b[8] = {10, 0, 30, 0, 30, 10, 10, 10};
    plot_add_translucent_polygon(&layout, a, 4, plot_black, 0.5);
    plot_add_translucent_polygon(&layout, b, 4, plot_black, 0.5);
    uint8_t small[30 * 10 * 3];
    memset(small, 255, sizeof small);
    CHECK(plot_rasterize(&layout, small) == 0);
    const size_t row = 5 * 30 * 3;
    CHECK_MSG(small[row + 3 * 5] == 128 && small[row + 3 * 15] == 64 && small[row + 3 * 25] == 128,
              "translucent squares: %d %d %d", small[row + 3 * 5], small[row + 3 * 15],
              small[row + 3 * 25]);
    plot_layout_free(&layout);
}

int main(void) {
    char root[] = "/tmp/bntrain_test_curves_XXXXXX";
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    check_layout();
    check_files(root);
    check_gaps(root);
    check_nothing_done(root);
    check_one_epoch(root);
    check_large(root);
    check_failed_writes(root);
    check_polygons();
    if (getenv("BNTRAIN_KEEP_FIGURES"))
        printf("test_curves_figure: figures kept in %s\n", root);
    else
        remove_tree(root);
    return check_summary("test_curves_figure");
}
