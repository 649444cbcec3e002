/* Tests of the figures: a synthetic grid folder is drawn with plot_heatmap_dir, then the PNG is
 * decoded and checked pixel by pixel against the data (exploded cells white in a dark frame,
 * low loss darker than high loss, not-run cells grey, the red line at log10 eta_bar), the SVG
 * is checked to be well-formed XML with one rect per cell whose fill is the PNG's pixel, the
 * legend and colour bar are checked on a finished grid and a one-cell grid, failed writes are
 * shown to leave the previous picture byte-identical, and the theory figure is drawn. */
#include <dirent.h>
#include <math.h>
#include <png.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "cli/cli.h"
#include "grid/identity.h"
#include "plot/font.h"
#include "plot/plot.h"
#include "plot_check.h"

/* ---- The synthetic grid ---------------------------------------------------------------- */

enum { N_GAMMA = 11, N_LR = 13 };

static double gamma_at(size_t i) {
    return 0.1 + 0.4 * (double)i;
}

static double log10_lr_at(size_t j) {
    return -3 + 0.25 * (double)j;
}

/* A smooth stand-in for the theory: eta_bar falls with gamma, as in the paper. */
static double theory_log10_eta(double gamma) {
    return 0.3 - 2 * log10(gamma + 0.3);
}

/* Lowest a little below eta_bar / 2, growing away from it and with gamma. */
static double synthetic_loss(double gamma, double log10_lr) {
    double d = log10_lr - (theory_log10_eta(gamma) - 0.3);
    return 0.05 + 0.3 * d * d + 0.05 * gamma;
}

static int is_exploded(size_t i, size_t j) {
    return log10_lr_at(j) > theory_log10_eta(gamma_at(i));
}

/* Cells left out of cells.csv entirely, and cells listed with restarts_done = 0. */
static int is_missing(size_t i, size_t j) {
    return i == N_GAMMA - 1 && j < 3;
}

static int is_not_run(size_t i, size_t j) {
    return !is_exploded(i, j) && (is_missing(i, j) || (i + 2 * j) % 11 == 5);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK_MSG(f != NULL, "cannot create %s", path);
    if (!f) return;
    fputs(text, f);
    CHECK(fclose(f) == 0);
}

/* cells.csv in reverse order (rows may come in any order), with empty and "nan" fields for
 * cells that have not run or exploded; loss_scale changes the picture for the rewrite test. */
static void write_cells(const char *dir, double loss_scale) {
    static char text[1 << 16];
    size_t used = (size_t)snprintf(text, sizeof text,
                                   "gamma,log10_lr,lr,n_restarts,restarts_done,restarts_exploded,"
                                   "exploded,test_loss_mean,test_loss_std,test_acc_mean\n");
    for (size_t k = N_GAMMA * N_LR; k-- > 0;) {
        size_t i = k % N_GAMMA, j = k / N_GAMMA;
        double g = gamma_at(i), l = log10_lr_at(j);
        if (is_missing(i, j)) continue;
        if (is_not_run(i, j))
            used += (size_t)snprintf(text + used, sizeof text - used, "%g,%g,%g,5,0,0,0,,,\n", g, l,
                                     pow(10, l));
        else if (is_exploded(i, j))
            used += (size_t)snprintf(text + used, sizeof text - used,
                                     "%g,%g,%g,5,5,2,1,nan,nan,nan\n", g, l, pow(10, l));
        else
            used += (size_t)snprintf(text + used, sizeof text - used,
                                     "%g,%g,%g,5,5,0,0,%.9g,0.01,0.9\n", g, l, pow(10, l),
                                     loss_scale * synthetic_loss(g, l));
    }
    write_text(dir, "cells.csv", text);
}

/* theory.csv on a grid four times finer than the cells. */
static void write_theory(const char *dir) {
    static char text[1 << 14];
    size_t used = (size_t)snprintf(text, sizeof text, "gamma,lambda_max,eta_bar,log10_eta_bar\n");
    for (size_t k = 0; k <= 4 * (N_GAMMA - 1); k++) {
        double g = 0.1 + 0.1 * (double)k, e = theory_log10_eta(g);
        used += (size_t)snprintf(text + used, sizeof text - used, "%.12g,%.12g,%.12g,%.12g\n", g,
                                 2 / pow(10, e), pow(10, e), e);
    }
    write_text(dir, "theory.csv", text);
}

static void write_grid(const char *dir) {
    write_cells(dir, 1);
    write_theory(dir);
    write_text(
        dir, "config.json",
        "{\n  \"version\": \"0.1.0\",\n  \"dataset\": \"mnist\",\n  \"arch\": \"fc\",\n"
        "  \"batchnorm\": true,\n  \"hidden\": [1000, 1000, 1000],\n  \"epochs\": 5,\n"
        "  \"n_restarts\": 5,\n  \"title_note\": \"synthetic \\\"test\\\" <grid> & co\"\n}\n");
}

/* ---- Colours --------------------------------------------------------------------------------- */

static double luminance(plot_rgb c) {
    return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
}

static const plot_rgb white = {255, 255, 255};

static int is_red(plot_rgb c) {
    return c.r > 180 && c.g < 90 && c.b < 90;
}

/* The checker itself must reject what is not XML, or passing it would mean nothing. */
static void check_xml_checker(void) {
    char why[200];
    CHECK(xml_well_formed("<?xml version=\"1.0\"?>\n<a x=\"1 &amp; 2\"><b/>t&lt;</a>\n", why));
    const char *bad[] = {"<a><b></a>", "<a x=1/>", "<a>&nbsp;</a>", "<a x=\"<\"/>",
                         "<a/><b/>",   "<a>",      "<a x=\"1/>"};
    for (int i = 0; i < 7; i++)
        CHECK_MSG(!xml_well_formed(bad[i], why), "accepted %s", bad[i]);
}

/* ---- Heatmap checks -------------------------------------------------------------------- */

static plot_rgb cell_pixel(const image *im, const plot_axes *axes, size_t i, size_t j) {
    return pixel_at(im, plot_axes_x_px(axes, gamma_at(i)), plot_axes_y_px(axes, log10_lr_at(j)));
}

/* The centre row of the topmost run of red pixels in the column at x (the solid eta_bar line
 * lies above the dashed eta_bar / 2), or NaN if there is none. */
static double red_line_row(const image *im, const plot_axes *axes, double x) {
    long first = -1, last = -1;
    for (long y = (long)axes->top; y < (long)axes->bottom; y++) {
        if (is_red(pixel_at(im, x, y))) {
            if (first < 0) first = y;
            last = y;
        } else if (first >= 0) {
            break;
        }
    }
    return first < 0 ? NAN : (first + last) / 2.0 + 0.5;
}

/* An exploded cell is white inside a dark frame one pixel in from its edges: it must not
 * read as empty page, nor as a not-run cell (grey), nor as a loss (viridis is never grey). */
static void check_exploded_cell(const image *im, const plot_axes *axes, size_t i, size_t j) {
    CHECK_MSG(same_rgb(cell_pixel(im, axes, i, j), white), "exploded cell is not white");
    double x = plot_axes_x_px(axes, gamma_at(i)), y = plot_axes_y_px(axes, log10_lr_at(j));
    double left = round(plot_axes_x_px(axes, gamma_at(i) - 0.2));
    double right = round(plot_axes_x_px(axes, gamma_at(i) + 0.2));
    double top = round(plot_axes_y_px(axes, log10_lr_at(j) + 0.125));
    double bottom = round(plot_axes_y_px(axes, log10_lr_at(j) - 0.125));
    const double frame_xy[4][2] = {
        {left + 1.5, y}, {right - 1.5, y}, {x, top + 1.5}, {x, bottom - 1.5}};
    for (int k = 0; k < 4; k++) {
        plot_rgb c = pixel_at(im, frame_xy[k][0], frame_xy[k][1]);
        CHECK_MSG(same_rgb(c, plot_exploded_frame), "exploded cell's frame pixel %d,%d,%d", c.r,
                  c.g, c.b);
    }
    /* the pixels outside the frame stay white, so neighbouring exploded cells stay apart */
    CHECK(same_rgb(pixel_at(im, left + 0.5, y), white));
    CHECK(same_rgb(pixel_at(im, right - 0.5, y), white));
}

static void check_cells(const image *im, const plot_axes *axes) {
    /* top right: far above eta_bar */
    check_exploded_cell(im, axes, N_GAMMA - 1, N_LR - 1);
    check_exploded_cell(im, axes, N_GAMMA - 2, N_LR - 1);
    size_t low_i = 0, low_j = 0, high_i = 0, high_j = 0;
    double low = INFINITY, high = -INFINITY;
    for (size_t i = 0; i < N_GAMMA; i++)
        for (size_t j = 0; j < N_LR; j++) {
            if (is_exploded(i, j) || is_not_run(i, j)) continue;
            double loss = synthetic_loss(gamma_at(i), log10_lr_at(j));
            if (loss < low) low = loss, low_i = i, low_j = j;
            if (loss > high) high = loss, high_i = i, high_j = j;
        }
    double dark = luminance(cell_pixel(im, axes, low_i, low_j));
    double light = luminance(cell_pixel(im, axes, high_i, high_j));
    CHECK_MSG(dark + 50 < light, "low loss luminance %.0f, high loss %.0f", dark, light);
    /* a listed-but-not-run cell and a missing one: grey, not the white of exploded cells */
    const size_t not_run[2][2] = {{5, 0}, {N_GAMMA - 1, 0}};
    for (int k = 0; k < 2; k++) {
        CHECK(is_not_run(not_run[k][0], not_run[k][1]));
        plot_rgb c = cell_pixel(im, axes, not_run[k][0], not_run[k][1]);
        CHECK_MSG(c.r == c.g && c.g == c.b && c.r < 250 && c.r > 100, "not-run cell pixel %d,%d,%d",
                  c.r, c.g, c.b);
    }
}

static void check_red_line(const image *im, const plot_axes *axes) {
    const double pixel = (axes->y_max - axes->y_min) / (axes->bottom - axes->top);
    const double gammas[] = {1.3, 2.1, 2.9, 3.7};
    for (int k = 0; k < 4; k++) {
        double row = red_line_row(im, axes, plot_axes_x_px(axes, gammas[k]));
        double measured = plot_axes_y_value(axes, row), expected = theory_log10_eta(gammas[k]);
        CHECK_MSG(fabs(measured - expected) <= 2 * pixel,
                  "gamma %.1f: red line at log10 eta %.4f, theory %.4f (%.1f px off)", gammas[k],
                  measured, expected, (measured - expected) / pixel);
    }
}

/* Does the line y = f(x) in pixels pass within 4 px of the box x in [x0, x1], y in [y0, y1]?
 * The theory lines are monotone in gamma, so their ends over the box bound them. */
static int line_near_box(const plot_axes *axes, double shift, double x0, double y0, double x1,
                         double y1) {
    double g0 =
        axes->x_min + (x0 - axes->left) / (axes->right - axes->left) * (axes->x_max - axes->x_min);
    double g1 =
        axes->x_min + (x1 - axes->left) / (axes->right - axes->left) * (axes->x_max - axes->x_min);
    double a = plot_axes_y_px(axes, theory_log10_eta(g0) + shift);
    double b = plot_axes_y_px(axes, theory_log10_eta(g1) + shift);
    return fmin(a, b) - 4 < y1 && fmax(a, b) + 4 > y0;
}

/* Each cell rect of the SVG covers PNG pixels of its fill: its centre and the four pixels just
 * inside its corners (inside the frame of an exploded cell), so both its colour and its place
 * must agree. Cells that a theory line crosses (checked above) and hatched not-run cells are
 * left out. */
static void check_svg_cells(const char *svg, const image *im, const plot_axes *axes) {
    size_t n_cells = 0, n_compared = 0;
    char not_run_fill[8];
    snprintf(not_run_fill, sizeof not_run_fill, "#%02x%02x%02x", plot_not_run_fill.r,
             plot_not_run_fill.g, plot_not_run_fill.b);
    for (const char *tag = strstr(svg, "<rect class=\"cell\""); tag;
         tag = strstr(tag + 1, "<rect class=\"cell\"")) {
        n_cells++;
        char fill[16] = "";
        attribute(tag, "fill", fill, sizeof fill);
        double x0 = number_attribute(tag, "x"), y0 = number_attribute(tag, "y");
        double x1 = x0 + number_attribute(tag, "width"), y1 = y0 + number_attribute(tag, "height");
        /* the rect spans its cell: halfway to the neighbouring gamma and log10 eta values */
        double g = axes->x_min + ((x0 + x1) / 2 - axes->left) / (axes->right - axes->left) *
                                     (axes->x_max - axes->x_min);
        double l = plot_axes_y_value(axes, (y0 + y1) / 2);
        double cell_g = 0.1 + 0.4 * round((g - 0.1) / 0.4), cell_l = 0.25 * round(l / 0.25);
        CHECK_MSG(fabs(x0 - round(plot_axes_x_px(axes, cell_g - 0.2))) < 0.5 &&
                      fabs(x1 - round(plot_axes_x_px(axes, cell_g + 0.2))) < 0.5 &&
                      fabs(y1 - round(plot_axes_y_px(axes, cell_l - 0.125))) < 0.5 &&
                      fabs(y0 - round(plot_axes_y_px(axes, cell_l + 0.125))) < 0.5,
                  "rect %.0f..%.0f x %.0f..%.0f is not the cell of gamma %.1f, log10 eta %.2f", x0,
                  x1, y0, y1, cell_g, cell_l);
        if (strcmp(fill, not_run_fill) == 0 || line_near_box(axes, 0, x0, y0, x1, y1) ||
            line_near_box(axes, -log10(2), x0, y0, x1, y1))
            continue;
        const double inset = strcmp(fill, "#ffffff") == 0 ? 3 : 1;
        const double xs[5] = {(x0 + x1) / 2, x0 + inset, x1 - inset, x0 + inset, x1 - inset};
        const double ys[5] = {(y0 + y1) / 2, y0 + inset, y0 + inset, y1 - inset, y1 - inset};
        for (int k = 0; k < 5; k++) {
            plot_rgb c = pixel_at(im, xs[k], ys[k]);
            char seen[8];
            snprintf(seen, sizeof seen, "#%02x%02x%02x", c.r, c.g, c.b);
            CHECK_MSG(strcmp(seen, fill) == 0, "cell pixel (%.0f, %.0f): SVG fill %s, PNG %s",
                      xs[k], ys[k], fill, seen);
        }
        n_compared++;
    }
    CHECK_MSG(n_cells == N_GAMMA * N_LR, "%zu cell rects in the SVG", n_cells);
    CHECK_MSG(n_compared > N_GAMMA * N_LR / 2, "only %zu cells compared", n_compared);
}

/* The SVG draws the frames of exploded cells where the PNG does: four rects per exploded cell
 * and four for the legend's swatch, each over PNG pixels of its colour (where no theory line
 * crosses it). */
static void check_svg_frames(const char *svg, const image *im, const plot_axes *axes) {
    size_t n_exploded = 0, n_frames = 0, n_compared = 0;
    for (size_t i = 0; i < N_GAMMA; i++)
        for (size_t j = 0; j < N_LR; j++)
            n_exploded += is_exploded(i, j);
    const char *needle = "<rect class=\"exploded-frame\"";
    for (const char *tag = strstr(svg, needle); tag; tag = strstr(tag + 1, needle)) {
        n_frames++;
        char fill[16] = "", seen[8];
        attribute(tag, "fill", fill, sizeof fill);
        double x0 = number_attribute(tag, "x"), y0 = number_attribute(tag, "y");
        double x1 = x0 + number_attribute(tag, "width"), y1 = y0 + number_attribute(tag, "height");
        CHECK_MSG(fmin(x1 - x0, y1 - y0) == 1, "frame rect %.0fx%.0f", x1 - x0, y1 - y0);
        if (y1 <= axes->bottom && (line_near_box(axes, 0, x0, y0, x1, y1) ||
                                   line_near_box(axes, -log10(2), x0, y0, x1, y1)))
            continue;
        plot_rgb c = pixel_at(im, (x0 + x1) / 2, (y0 + y1) / 2);
        snprintf(seen, sizeof seen, "#%02x%02x%02x", c.r, c.g, c.b);
        CHECK_MSG(strcmp(seen, fill) == 0, "frame (%.0f, %.0f): SVG fill %s, PNG %s", x0, y0, fill,
                  seen);
        n_compared++;
    }
    CHECK_MSG(n_frames == 4 * n_exploded + 4, "%zu frame rects for %zu exploded cells", n_frames,
              n_exploded);
    CHECK_MSG(n_compared > 2 * n_exploded, "only %zu frame rects compared", n_compared);
}

static void check_heatmap(const char *dir) {
    char path[1024], why[200] = "";
    image im;
    snprintf(path, sizeof path, "%s/heatmap.png", dir);
    CHECK_MSG(load_png(path, &im) == 0, "cannot decode %s", path);
    if (!im.rgb) return;
    CHECK(im.width == 900 && im.height == 700);
    plot_grid grid;
    plot_layout layout;
    plot_axes axes;
    bn_error err = {""};
    CHECK_MSG(plot_grid_read(dir, &grid, &err) == 0, "%s", err.msg);
    CHECK(grid.n_x == N_GAMMA && grid.n_y == N_LR && grid.n_theory == 41);
    CHECK(strcmp(grid.x_name, "gamma") == 0 && strcmp(grid.dataset, "mnist") == 0);
    CHECK(grid.epochs == 5 && grid.n_restarts == 5 && grid.batchnorm == 1);
    CHECK_MSG(plot_heatmap_layout(&grid, 0, &layout, &axes, &err) == 0, "%s", err.msg);
    check_cells(&im, &axes);
    check_red_line(&im, &axes);
    size_t size;
    snprintf(path, sizeof path, "%s/heatmap.svg", dir);
    char *svg = read_all(path, &size);
    CHECK_MSG(svg != NULL, "cannot read %s", path);
    if (svg) {
        CHECK_MSG(xml_well_formed(svg, why), "%s: not well-formed: %s", path, why);
        CHECK(strstr(svg, "&quot;test&quot; &lt;grid&gt; &amp; co") != NULL);
        CHECK(strstr(svg, "MNIST, FC + BN: test loss after 5 epochs, mean of 5 restarts"));
        check_svg_cells(svg, &im, &axes);
        check_svg_frames(svg, &im, &axes);
        CHECK(strstr(svg, "measured boundary") == NULL);
        CHECK(strstr(svg, "not run yet") != NULL); /* some cells have not run */
    }
    free(svg);
    plot_layout_free(&layout);
    plot_grid_free(&grid);
    free(im.rgb);
}

/* boundary.csv adds diamonds (white inside, black outline) and a legend entry. */
static void check_boundary(const char *dir) {
    write_text(dir, "boundary.csv",
               "gamma,log10_lr_emp,log10_eta_bar,distance_decades\n"
               "2.1,-0.625,-0.46,-0.16\n2.5,nan,-0.59,nan\n");
    bn_error err = {""};
    CHECK_MSG(plot_heatmap_dir(dir, 0, &err) == 0, "%s", err.msg);
    char path[1024];
    image im;
    snprintf(path, sizeof path, "%s/heatmap.png", dir);
    if (load_png(path, &im) != 0) {
        CHECK_MSG(0, "cannot decode %s", path);
        return;
    }
    plot_grid grid;
    plot_layout layout;
    plot_axes axes;
    CHECK(plot_grid_read(dir, &grid, &err) == 0 && grid.n_boundary == 1 && grid.has_boundary);
    CHECK(plot_heatmap_layout(&grid, 0, &layout, &axes, &err) == 0);
    double x = plot_axes_x_px(&axes, 2.1), y = plot_axes_y_px(&axes, -0.625);
    CHECK(same_rgb(pixel_at(&im, x, y), white));
    double darkest = 255;
    for (int dy = -9; dy <= 9; dy++)
        darkest = fmin(darkest, luminance(pixel_at(&im, x, y + dy)));
    CHECK_MSG(darkest < 60, "no dark outline around the marker (darkest %.0f)", darkest);
    size_t size;
    snprintf(path, sizeof path, "%s/heatmap.svg", dir);
    char *svg = read_all(path, &size);
    CHECK(svg && strstr(svg, "measured boundary") && strstr(svg, "<polygon"));
    free(svg);
    plot_layout_free(&layout);
    plot_grid_free(&grid);
    free(im.rgb);
}

/* A log colour scale still puts low losses darker. */
static void check_log_scale(const char *dir) {
    bn_error err = {""};
    CHECK_MSG(plot_heatmap_dir(dir, 1, &err) == 0, "%s", err.msg);
    char path[1024];
    image im;
    snprintf(path, sizeof path, "%s/heatmap.png", dir);
    CHECK(load_png(path, &im) == 0);
    plot_grid grid;
    plot_layout layout;
    plot_axes axes;
    CHECK(plot_grid_read(dir, &grid, &err) == 0);
    CHECK(plot_heatmap_layout(&grid, 1, &layout, &axes, &err) == 0);
    if (im.rgb) check_cells(&im, &axes);
    plot_layout_free(&layout);
    plot_grid_free(&grid);
    free(im.rgb);
}

/* ---- The legend and the colour bar of small grids ------------------------------------- */

/* Draws cells.csv (after the header line) in a fresh folder under root; returns the SVG. */
static char *draw_grid(const char *root, const char *name, const char *cells, int log_scale,
                       image *im) {
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    CHECK(mkdir(dir, 0755) == 0);
    snprintf(path, sizeof path,
             "gamma,log10_lr,lr,n_restarts,restarts_done,restarts_exploded,exploded,"
             "test_loss_mean,test_loss_std,test_acc_mean\n%s",
             cells);
    write_text(dir, "cells.csv", path);
    bn_error err = {""};
    CHECK_MSG(plot_heatmap_dir(dir, log_scale, &err) == 0, "%s: %s", name, err.msg);
    snprintf(path, sizeof path, "%s/heatmap.png", dir);
    CHECK_MSG(load_png(path, im) == 0, "cannot decode %s", path);
    snprintf(path, sizeof path, "%s/heatmap.svg", dir);
    size_t size;
    return read_all(path, &size);
}

/* A finished grid has no cell to explain as "not run yet". */
static void check_finished_legend(const char *root) {
    image im;
    char *svg = draw_grid(root, "finished",
                          "1,-2,0.01,1,1,0,0,0.3,0,0.9\n2,-2,0.01,1,1,0,0,0.2,0,0.9\n"
                          "1,-1,0.1,1,1,1,1,nan,nan,nan\n2,-1,0.1,1,1,0,0,0.1,0,0.9\n",
                          0, &im);
    CHECK(svg && strstr(svg, "exploded (any restart)") != NULL);
    CHECK_MSG(svg && strstr(svg, "not run yet") == NULL, "a finished grid's legend has not run");
    CHECK(svg && strstr(svg, "cells run") == NULL);
    free(svg);
    free(im.rgb);
}

/* One cell not run yet: "0 of 1 cell run", and the legend explains the hatching. */
static void check_one_cell_not_run(const char *root) {
    image im;
    char *svg = draw_grid(root, "one-cell-not-run", "1,-2,0.01,1,0,0,0,,,\n", 0, &im);
    CHECK_MSG(svg && strstr(svg, "0 of 1 cell run"), "no \"0 of 1 cell run\" in the subtitle");
    CHECK(svg && strstr(svg, "not run yet") != NULL);
    free(svg);
    free(im.rgb);
}

/* The colour bar's tick labels: the unrotated texts right of the cell area. */
static size_t bar_tick_values(const char *svg, double *values, size_t max) {
    size_t n = 0;
    for (const char *tag = strstr(svg, "<text "); tag && n < max; tag = strstr(tag + 1, "<text ")) {
        const char *end = strchr(tag, '>'), *label = strstr(tag, "<tspan>");
        const char *rotated = strstr(tag, "transform");
        if (!end || !label || number_attribute(tag, "x") < 700 || (rotated && rotated < end))
            continue;
        char *after;
        values[n] = strtod(label + strlen("<tspan>"), &after);
        if (after != label + strlen("<tspan>")) n++;
    }
    return n;
}

/* A one-cell grid (or one whose losses are all equal) has a colour range of zero width: it is
 * widened about the value, which gets the colour of the bar's middle and ticks either side. */
static void check_one_cell(const char *root) {
    static const struct {
        const char *name, *cells;
        double loss;
        int log_scale;
    } cases[] = {
        {"one-cell", "1,-2,0.01,1,1,0,0,0.2345,0,0.9\n", 0.2345, 0},
        {"one-cell-log", "1,-2,0.01,1,1,0,0,0.2345,0,0.9\n", 0.2345, 1},
        {"one-cell-zero", "1,-2,0.01,1,1,0,0,0,0,1\n", 0, 0},
        {"equal-cells", "1,-2,0.01,1,1,0,0,7,0,0.1\n2,-2,0.01,1,1,0,0,7,0,0.1\n", 7, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        image im;
        char *svg = draw_grid(root, cases[k].name, cases[k].cells, cases[k].log_scale, &im);
        double ticks[40];
        size_t n = svg ? bar_tick_values(svg, ticks, 40) : 0;
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < n; i++)
            lo = fmin(lo, ticks[i]), hi = fmax(hi, ticks[i]);
        CHECK_MSG(n >= 3 && n <= 12 && lo < cases[k].loss && cases[k].loss < hi,
                  "%s: %zu colour bar ticks from %g to %g, the loss is %g", cases[k].name, n, lo,
                  hi, cases[k].loss);
        plot_rgb c = pixel_at(&im, 390, 317), middle = plot_viridis(0.5);
        CHECK_MSG(im.rgb && same_rgb(c, middle), "%s: cell %d,%d,%d, mid-bar %d,%d,%d",
                  cases[k].name, c.r, c.g, c.b, middle.r, middle.g, middle.b);
        free(svg);
        free(im.rgb);
    }
}

/* ---- Failures leave the previous picture ----------------------------------------------- */

static void check_failures(const char *root, const char *dir) {
    char path[1024], png_path[1024], svg_path[1024];
    bn_error err = {""};
    snprintf(path, sizeof path, "%s/no-such-folder", root);
    CHECK(plot_heatmap_dir(path, 0, &err) == -1);
    CHECK_MSG(strstr(err.msg, "cells.csv") != NULL, "message: %s", err.msg);

    /* a folder whose parent is a regular file cannot hold a picture */
    snprintf(path, sizeof path, "%s/regular-file", root);
    write_text(root, "regular-file", "not a folder\n");
    snprintf(png_path, sizeof png_path, "%s/regular-file/figure.png", root);
    plot_layout layout;
    plot_layout_init(&layout, 10, 10);
    err.msg[0] = '\0';
    CHECK(plot_write_figure(&layout, png_path, &err) == -1);
    CHECK_MSG(strstr(err.msg, "figure.png") != NULL, "message: %s", err.msg);
    plot_layout_free(&layout);

    snprintf(png_path, sizeof png_path, "%s/heatmap.png", dir);
    snprintf(svg_path, sizeof svg_path, "%s/heatmap.svg", dir);
    size_t png_size, svg_size, size;
    char *png_before = read_all(png_path, &png_size), *svg_before = read_all(svg_path, &svg_size);
    CHECK(png_before && svg_before);
    write_cells(dir, 2); /* the next picture would differ */

    if (geteuid() != 0) {
        chmod(dir, 0555);
        err.msg[0] = '\0';
        CHECK(plot_heatmap_dir(dir, 0, &err) == -1);
        CHECK_MSG(strstr(err.msg, "heatmap.png") != NULL, "message: %s", err.msg);
        chmod(dir, 0755);
    } else {
        printf("test_plot: running as root, which ignores folder permissions: the read-only "
               "folder case is skipped (the file-size limit below still fails a write)\n");
    }

    /* a full disk, simulated by a file size limit below the PNG's size */
    struct rlimit saved, small;
    CHECK(getrlimit(RLIMIT_FSIZE, &saved) == 0);
    small = saved;
    small.rlim_cur = 2000;
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
    err.msg[0] = '\0';
    int status = plot_heatmap_dir(dir, 0, &err);
    CHECK(setrlimit(RLIMIT_FSIZE, &saved) == 0);
    CHECK(status == -1);
    CHECK_MSG(strstr(err.msg, "heatmap.png") != NULL, "message: %s", err.msg);
    printf("test_plot: a failed write says: %s\n", err.msg);

    char *png_after = read_all(png_path, &size);
    CHECK_MSG(same_bytes(png_before, png_size, png_after, size), "heatmap.png changed");
    free(png_after);
    char *svg_after = read_all(svg_path, &size);
    CHECK_MSG(same_bytes(svg_before, svg_size, svg_after, size), "heatmap.svg changed");
    free(svg_after);
    CHECK_MSG(count_temp_files(dir) == 0, "temporary files left in %s", dir);

    /* room for the PNG but not for the SVG: the pair stays the old one, not a new PNG beside
     * an old SVG (the PNG was once put in place before the SVG was written) */
    CHECK(png_size < svg_size);
    small.rlim_cur = (png_size + svg_size) / 2;
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
    err.msg[0] = '\0';
    status = plot_heatmap_dir(dir, 0, &err);
    CHECK(setrlimit(RLIMIT_FSIZE, &saved) == 0);
    CHECK(status == -1);
    CHECK_MSG(strstr(err.msg, "heatmap.svg") != NULL, "message: %s", err.msg);
    png_after = read_all(png_path, &size);
    CHECK_MSG(same_bytes(png_before, png_size, png_after, size),
              "heatmap.png replaced though heatmap.svg could not be");
    free(png_after);
    svg_after = read_all(svg_path, &size);
    CHECK_MSG(same_bytes(svg_before, svg_size, svg_after, size), "heatmap.svg changed");
    free(svg_after);
    CHECK_MSG(count_temp_files(dir) == 0, "temporary files left in %s", dir);

    /* and with room again the new picture replaces the old one */
    CHECK(plot_heatmap_dir(dir, 0, &err) == 0);
    png_after = read_all(png_path, &size);
    CHECK(png_after && !same_bytes(png_before, png_size, png_after, size));
    free(png_after);
    free(png_before);
    free(svg_before);
}

/* ---- The command ---------------------------------------------------------------------- */

/* Puts line before the content of DIR/name. */
static void prefix_file(const char *dir, const char *name, const char *line) {
    char path[1024];
    size_t size;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *old = read_all(path, &size);
    CHECK(old != NULL);
    if (!old) return;
    char *text = malloc(strlen(line) + size + 1);
    CHECK(text != NULL);
    if (text) {
        snprintf(text, strlen(line) + size + 1, "%s%s", line, old);
        write_text(dir, name, text);
    }
    free(text);
    free(old);
}

/* plot reads only files that carry config.json's identity line: the synthetic folder gets it
 * after a first refusal, and a theory.csv of another grid is refused. */
static void check_command_identity(char *dir) {
    char *plot[] = {"plot", dir, NULL};
    CHECK(cmd_plot(2, plot) == EXIT_RUNTIME); /* written without identity lines */
    uint64_t identity;
    bn_error err;
    char line[64], other[64];
    CHECK_MSG(grid_folder_identity(dir, &identity, &err) == 0, "%s", err.msg);
    identity_line(line, sizeof line, identity);
    identity_line(other, sizeof other, identity + 1);
    prefix_file(dir, "cells.csv", line);
    prefix_file(dir, "theory.csv", other);
    CHECK(grid_check_identities(dir, identity, &err) == -1);
    CHECK_MSG(strstr(err.msg, "theory.csv: belongs to configuration") != NULL, "%s", err.msg);
    CHECK(cmd_plot(2, plot) == EXIT_RUNTIME);
    write_theory(dir);
    prefix_file(dir, "theory.csv", line);
    CHECK_MSG(grid_check_identities(dir, identity, &err) == 0, "%s", err.msg);
}

static void check_command(char *dir) {
    check_command_identity(dir);
    char *help[] = {"plot", "--help", NULL};
    CHECK(cmd_plot(2, help) == 0);
    char *bad_scale[] = {"plot", dir, "--color-scale", "viridis", NULL};
    CHECK(cmd_plot(4, bad_scale) == EXIT_USAGE);
    char *unknown[] = {"plot", "--bogus", dir, NULL};
    CHECK(cmd_plot(3, unknown) == EXIT_USAGE);
    char *no_dir[] = {"plot", NULL};
    CHECK(cmd_plot(1, no_dir) == EXIT_USAGE);
    char *two_dirs[] = {"plot", dir, dir, NULL};
    CHECK(cmd_plot(3, two_dirs) == EXIT_USAGE);
    char *missing[] = {"plot", "/nonexistent/bntrain-grid", NULL};
    CHECK(cmd_plot(2, missing) == EXIT_RUNTIME);
    char *log_scale[] = {"plot", "--color-scale", "log", dir, NULL};
    CHECK(cmd_plot(4, log_scale) == 0);
}

/* ---- Reading tolerantly ---------------------------------------------------------------- */

static void check_reading(const char *root) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/tolerant", root);
    CHECK(mkdir(dir, 0755) == 0);
    plot_grid grid;
    bn_error err = {""};
    /* no theory, no config, a torn last line: still a figure */
    write_text(dir, "cells.csv",
               "sigma_w2,log10_lr,lr,n_restarts,restarts_done,restarts_exploded,exploded,"
               "test_loss_mean,test_loss_std,test_acc_mean\n"
               "1,-2,0.01,1,1,0,0,0.3,0,0.9\n2,-2,0.01,1,1,0,0,0.2,0,0.9\n"
               "1,-1,0.1,1,1,1,1,nan,nan,nan\n2,-1,0.1,1,1,0,0,0.1");
    CHECK_MSG(plot_grid_read(dir, &grid, &err) == 0, "%s", err.msg);
    CHECK(grid.n_x == 2 && grid.n_y == 2 && grid.n_theory == 0 && grid.batchnorm == -1);
    CHECK(grid.cells[3].state == PLOT_CELL_NOT_RUN); /* the torn line */
    CHECK(grid.cells[2].state == PLOT_CELL_EXPLODED && grid.cells[1].state == PLOT_CELL_DONE);
    plot_grid_free(&grid);
    CHECK_MSG(plot_heatmap_dir(dir, 1, &err) == 0, "%s", err.msg);
    char path[1100];
    size_t size;
    snprintf(path, sizeof path, "%s/heatmap.svg", dir);
    char *svg = read_all(path, &size);
    CHECK(svg && strstr(svg, "σ") && strstr(svg, "not run yet"));
    free(svg);

    /* a malformed line in the middle is an error that names the file and line */
    write_text(dir, "cells.csv",
               "gamma,log10_lr,restarts_done,exploded,test_loss_mean\n1,-2,1,0,0.3\n1,-1\n"
               "2,-2,1,0,0.3\n");
    CHECK(plot_grid_read(dir, &grid, &err) == -1);
    CHECK_MSG(strstr(err.msg, "cells.csv:3") != NULL, "message: %s", err.msg);

    /* two rows for one cell: an error naming both, never one row silently covering the other */
    write_text(dir, "cells.csv",
               "gamma,log10_lr,restarts_done,exploded,test_loss_mean\n1,-2,1,0,0.3\n"
               "2,-2,1,0,0.3\n1,-2,0,0,nan\n");
    CHECK(plot_grid_read(dir, &grid, &err) == -1);
    CHECK_MSG(strstr(err.msg, "cells.csv:4") && strstr(err.msg, "line 2"), "message: %s", err.msg);

    /* a malformed config.json costs only the title */
    write_text(dir, "cells.csv",
               "gamma,log10_lr,restarts_done,exploded,test_loss_mean\n"
               "1,-2,1,0,0.3\n");
    write_text(dir, "config.json", "{\"dataset\": \"mnist\", ");
    CHECK_MSG(plot_grid_read(dir, &grid, &err) == 0, "%s", err.msg);
    CHECK(strstr(grid.title_note, "malformed") != NULL);
    plot_grid_free(&grid);
}

/* ---- Pieces ---------------------------------------------------------------------------- */

static void check_ticks_and_font(void) {
    double ticks[32], step;
    size_t n = plot_nice_ticks(-3.125, 0.125, 7, ticks, 32, &step);
    CHECK(n == 7 && step == 0.5 && ticks[0] == -3 && ticks[6] == 0);
    n = plot_nice_ticks(-0.1, 4.3, 5, ticks, 32, &step);
    CHECK(n == 5 && step == 1 && ticks[4] == 4);
    char label[32];
    plot_format_tick(-1e-17, 0.5, label, sizeof label);
    CHECK(strcmp(label, "0.0") == 0);
    plot_format_tick(0.05, 0.01, label, sizeof label);
    CHECK(strcmp(label, "0.05") == 0);

    font_cursor cursor;
    font_glyph glyph, question;
    int x;
    font_cursor_init(&cursor, "?", 1);
    CHECK(font_cursor_next(&cursor, &question, &x) == 1);
    for (int c = 33; c < 127; c++) {
        char text[2] = {(char)c, 0};
        font_cursor_init(&cursor, text, 1);
        CHECK_MSG(font_cursor_next(&cursor, &glyph, &x) && glyph.width > 0, "glyph %c", c);
    }
    const char *greek = "γηλμσ";
    font_cursor_init(&cursor, greek, strlen(greek));
    int n_greek = 0;
    while (font_cursor_next(&cursor, &glyph, &x))
        n_greek += glyph.width > 0 && memcmp(glyph.rows, question.rows, sizeof glyph.rows) != 0;
    CHECK(n_greek == 5);
    CHECK(font_text_width("ab", 2) == font_text_width("a", 1) + 1 + font_text_width("b", 1));

    /* a dashed path clipped to x in [10, 90]: dashes 10 on, 5 off from x = 0 leave [15, 25],
     * ..., [75, 85]; the one across the vertex at x = 50 stays one polyline */
    plot_layout layout;
    plot_layout_init(&layout, 100, 100);
    const double xs[3] = {0, 50, 100}, ys[3] = {50, 50, 50};
    const plot_path_style style = {10, 0, 90, 100, 10, 5};
    plot_add_path(&layout, xs, ys, 3, &style, plot_red, 1);
    double drawn = 0;
    for (size_t i = 0; i < layout.n_items; i++) {
        const double *p = layout.points + 2 * layout.items[i].line.first;
        size_t count = layout.items[i].line.count;
        CHECK(p[0] >= 10 && p[2 * count - 2] <= 90);
        drawn += p[2 * count - 2] - p[0];
    }
    CHECK_MSG(layout.n_items == 5 && fabs(drawn - 50) < 1e-9, "%zu dashes, length %g",
              layout.n_items, drawn);
    plot_layout_free(&layout);
}

static void check_theory_figure(const char *root) {
    enum { N = 81 };
    double gamma[N], lambda_bn[N], lambda_vanilla[N], eta_bn[N], eta_vanilla[N];
    for (size_t i = 0; i < N; i++) {
        gamma[i] = 0.1 + 0.05 * (double)i;
        lambda_bn[i] = 180 * gamma[i] * gamma[i] + 20;
        lambda_vanilla[i] = 2600;
        eta_bn[i] = log10(2 / lambda_bn[i]);
        eta_vanilla[i] = log10(2 / lambda_vanilla[i]);
    }
    eta_vanilla[40] = NAN; /* a gap, not a failure */
    char path[1024], why[200] = "";
    snprintf(path, sizeof path, "%s/theory.png", root);
    bn_error err = {""};
    CHECK_MSG(plot_theory_figure(path, "theory: FC, σ_{w}^{2} = 2", gamma, N, lambda_bn,
                                 lambda_vanilla, eta_bn, eta_vanilla, &err) == 0,
              "%s", err.msg);
    image im;
    CHECK_MSG(load_png(path, &im) == 0, "cannot decode %s", path);
    size_t red = 0, blue = 0;
    for (size_t i = 0; im.rgb && i < (size_t)im.width * im.height; i++) {
        const uint8_t *p = im.rgb + 3 * i;
        red += p[0] > 200 && p[1] < 60 && p[2] < 60;
        blue += p[0] < 60 && p[1] > 100 && p[1] < 140 && p[2] > 160;
    }
    CHECK_MSG(red > 300 && blue > 300, "%zu red and %zu blue pixels", red, blue);
    free(im.rgb);
    size_t size;
    snprintf(path, sizeof path, "%s/theory.svg", root);
    char *svg = read_all(path, &size);
    CHECK(svg && xml_well_formed(svg, why) && strstr(svg, "BatchNorm") && strstr(svg, "#1f77b4"));
    free(svg);
}

/* plot_lambda_read takes the `all` rows of probe.csv through the probe reader: the values,
 * a probe without --lambda (1), a torn last line dropped, a wrong header refused by name. */
static void check_lambda_read(const char *root) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/lambda", root);
    CHECK(mkdir(dir, 0755) == 0);
    write_text(dir, "config.json", "{\"gamma\": 0.5, \"momentum\": 0.9, \"batchnorm\": true}\n");
    write_text(dir, "probe.csv",
               "layer,quantity,value,spread\n1,lambda_max,99,\nall,lambda_max,12.5,\n"
               "all,lambda_bound,3.25,\n");
    plot_lambda_point point;
    bn_error err = {""};
    CHECK_MSG(plot_lambda_read(dir, &point, &err) == 0, "%s", err.msg);
    CHECK_CLOSE(point.lambda_max, 12.5, 0);
    CHECK_CLOSE(point.lambda_bound, 3.25, 0);
    CHECK_CLOSE(point.gamma, 0.5, 0);
    CHECK_CLOSE(point.momentum, 0.9, 0);
    CHECK(point.batchnorm == 1);
    write_text(dir, "probe.csv", "layer,quantity,value,spread\nall,grad_norm,1,\nall,lambda_max,7");
    CHECK(plot_lambda_read(dir, &point, &err) == 1); /* the torn row is not a measurement */
    write_text(dir, "probe.csv", "layer,value\nall,lambda_max,7,\n");
    CHECK(plot_lambda_read(dir, &point, &err) == -1);
    CHECK_MSG(strstr(err.msg, "probe.csv") && strstr(err.msg, "not a probe.csv"), "%s", err.msg);
}

int main(void) {
    char root[] = "/tmp/bntrain_test_plot_XXXXXX";
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    char dir[256];
    snprintf(dir, sizeof dir, "%s/grid", root);
    CHECK(mkdir(dir, 0755) == 0);
    write_grid(dir);
    bn_error err = {""};
    CHECK_MSG(plot_heatmap_dir(dir, 0, &err) == 0, "%s", err.msg);
    check_xml_checker();
    check_heatmap(dir);
    check_failures(root, dir);
    check_log_scale(dir);
    check_command(dir);
    check_boundary(dir);
    check_reading(root);
    check_finished_legend(root);
    check_one_cell(root);
    check_one_cell_not_run(root);
    check_ticks_and_font();
    check_theory_figure(root);
    check_lambda_read(root);
    if (getenv("BNTRAIN_KEEP_FIGURES"))
        printf("test_plot: figures kept in %s\n", root);
    else
        remove_tree(root);
    return check_summary("test_plot");
}
