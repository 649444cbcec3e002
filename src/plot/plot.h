/* Figures: the (gamma, log10 eta) heatmap of test loss with the theory line eta_bar (the
 * paper's Fig. 2), the two-panel theory figure (its Fig. 1) and the learning curves (its
 * Fig. 4).
 *
 * One layout, two renderers: a figure is first laid out as a list of primitives (rectangles,
 * polylines, polygons, text) in pixel coordinates; the PNG rasteriser and the SVG writer both
 * draw that list, so the two files cannot disagree. Pixel (i, j) covers [i, i+1) x [j, j+1);
 * y grows downwards. Text is UTF-8 with two bits of markup: "_{...}" for a subscript and "^{...}"
 * for a superscript, drawn with the compiled-in bitmap font (font.h) in the PNG and as <text>
 * in the SVG. Files are written atomically (base/file.h). */
#ifndef BNTRAIN_PLOT_H
#define BNTRAIN_PLOT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/file.h"
#include "bntrain/error.h"

/* ---- Layout ---------------------------------------------------------------------------- */

typedef struct {
    uint8_t r, g, b;
} plot_rgb;

typedef enum { PLOT_RECT, PLOT_LINE, PLOT_POLYGON, PLOT_TEXT } plot_item_kind;
typedef enum { PLOT_ANCHOR_START, PLOT_ANCHOR_MIDDLE, PLOT_ANCHOR_END } plot_anchor;

typedef struct {
    plot_item_kind kind;
    plot_rgb color;   /* fill of rects and polygons, stroke of lines, ink of text */
    const char *role; /* static string or NULL; the SVG's class, so tests can find e.g. cells */
    union {
        struct {
            double x0, y0, x1, y1; /* drawn with edges rounded to whole pixels */
        } rect;
        struct {
            size_t first, count; /* points in plot_layout.points (x, y pairs) */
            double width;        /* round caps and joins */
        } line;
        struct {
            size_t first, count;
            plot_rgb stroke;
            double stroke_width; /* 0: no outline */
            double opacity;      /* of the fill: 1 opaque, less lets what is below show */
        } polygon;
        struct {
            size_t offset; /* NUL-terminated markup in plot_layout.text */
            double x, y;   /* the anchor point, on the baseline */
            double scale;  /* font pixels to image pixels; the font's capitals are 7 high */
            plot_anchor anchor;
            int vertical; /* 1: reads bottom to top (rotated 90 degrees anticlockwise) */
        } text;
    };
} plot_item;

typedef struct {
    int width, height; /* pixels */
    plot_item *items;  /* drawn in order: later items cover earlier ones */
    size_t n_items, items_capacity;
    double *points;
    size_t n_points, points_capacity; /* doubles used and allocated */
    char *text;
    size_t text_length, text_capacity;
    int out_of_memory; /* set by a failed add; the add functions then do nothing */
} plot_layout;

void plot_layout_init(plot_layout *layout, int width, int height);
void plot_layout_free(plot_layout *layout);

/* The add functions never fail loudly: an allocation failure sets layout->out_of_memory,
 * which the code that builds a figure checks once at the end. */
void plot_add_rect(plot_layout *layout, double x0, double y0, double x1, double y1, plot_rgb fill,
                   const char *role);
void plot_add_line(plot_layout *layout, const double *xy, size_t n_points, plot_rgb color,
                   double width);
void plot_add_segment(plot_layout *layout, double x0, double y0, double x1, double y1,
                      plot_rgb color, double width);
void plot_add_polygon(plot_layout *layout, const double *xy, size_t n_points, plot_rgb fill,
                      plot_rgb stroke, double stroke_width);
void plot_add_text(plot_layout *layout, double x, double y, const char *markup, double scale,
                   plot_anchor anchor, int vertical, plot_rgb color);
/* A filled polygon without outline through which what lies below shows (opacity in (0, 1]):
 * overlapping bands stay readable. */
void plot_add_translucent_polygon(plot_layout *layout, const double *xy, size_t n_points,
                                  plot_rgb fill, double opacity);
/* Gives the items added since item number `first` (layout->n_items before adding them) the
 * role `role`: how a path, which may become several polylines, gets its SVG class. */
void plot_tag_items(plot_layout *layout, size_t first, const char *role);

/* A polyline through data points mapped to pixels, broken where a point is not finite, clipped
 * to the rectangle [clip_x0, clip_x1] x [clip_y0, clip_y1], and dashed if dash_on > 0 (dash and
 * gap lengths in pixels). Dashing and clipping happen here, in the layout, so both renderers
 * draw the same dashes. */
typedef struct {
    double clip_x0, clip_y0, clip_x1, clip_y1;
    double dash_on, dash_off;
} plot_path_style;
void plot_add_path(plot_layout *layout, const double *x_px, const double *y_px, size_t n,
                   const plot_path_style *style, plot_rgb color, double width);

/* ---- Text ------------------------------------------------------------------------------ */

/* eta-bar: eta followed by a combining macron (U+0304), which both renderers draw over it. */
#define PLOT_ETA_BAR "η\u0304"

typedef enum { PLOT_RUN_NORMAL, PLOT_RUN_SUB, PLOT_RUN_SUPER } plot_run_kind;
typedef struct {
    const char *text; /* not NUL-terminated: `length` bytes */
    size_t length;
    plot_run_kind kind;
} plot_text_run;

/* Splits markup into at most max_runs runs; returns how many. */
size_t plot_text_runs(const char *markup, plot_text_run *runs, size_t max_runs);
/* The scale of a run's glyphs and its baseline offset (pixels, down) for a text of `scale`. */
double plot_run_scale(plot_run_kind kind, double scale);
double plot_run_baseline(plot_run_kind kind, double scale);
/* Width in pixels of the markup drawn at `scale`. */
double plot_text_width(const char *markup, double scale);

/* ---- Axes, ticks, colours -------------------------------------------------------------- */

/* A data rectangle mapped onto a pixel rectangle: x grows rightwards, y upwards. */
typedef struct {
    double left, top, right, bottom; /* pixels */
    double x_min, x_max, y_min, y_max;
    double x_step_min; /* the smallest step between x ticks: 1 for whole numbers; 0: any */
} plot_axes;

double plot_axes_x_px(const plot_axes *axes, double x);
double plot_axes_y_px(const plot_axes *axes, double y);
/* The inverse of plot_axes_y_px: the data y at pixel height y_px (a row's centre is row + 0.5). */
double plot_axes_y_value(const plot_axes *axes, double y_px);

/* Ticks at multiples of 1, 2 or 5 times a power of ten, about `target` of them in [lo, hi];
 * returns how many (at most max_ticks) and the step. */
size_t plot_nice_ticks(double lo, double hi, size_t target, double *ticks, size_t max_ticks,
                       double *step);
/* A tick label with as many decimals as the step needs ("0.5", "-2", "1e+06"). */
void plot_format_tick(double value, double step, char *out, size_t size);

/* The size of tick labels, axis titles and legends (font pixels to image pixels). */
#define PLOT_TEXT_SCALE 2.0

/* Frame, ticks with numeric labels, and axis titles (markup) around axes. */
void plot_add_axes(plot_layout *layout, const plot_axes *axes, const char *x_title,
                   const char *y_title);

/* A title centred on centre_x with its baseline at y, at PLOT_TEXT_SCALE if it fits in `room`
 * pixels, else smaller. */
void plot_add_title(plot_layout *layout, double centre_x, double y, const char *markup,
                    double room);

/* ---- Legends --------------------------------------------------------------------------- */

/* A legend entry is a swatch PLOT_SWATCH_WIDTH wide, drawn by the figure, then its label. */
enum { PLOT_SWATCH_WIDTH = 30, PLOT_SWATCH_HEIGHT = 16, PLOT_SWATCH_GAP = 8, PLOT_ENTRY_GAP = 28 };

/* Where legend rows go: centred on centre_x within [left, right], the first row's middle at
 * first_row, later rows row_height below. */
typedef struct {
    double centre_x, left, right, first_row, row_height;
} plot_legend_box;

/* Lays entries out left to right, wrapping into further rows, and draws their labels; the
 * swatch of entry i goes at swatch_x[i] (its left edge) and swatch_y[i] (its middle), whole
 * pixels both. Returns the number of rows. */
size_t plot_add_legend_labels(plot_layout *layout, const plot_legend_box *box,
                              const char *const *labels, size_t n, double *swatch_x,
                              double *swatch_y);

/* Viridis: a perceptually uniform map from t in [0, 1] (clamped) to colour, dark to light. */
plot_rgb plot_viridis(double t);

/* Colours for up to PLOT_N_CATEGORIES series that stay apart for colour-blind readers: the
 * Okabe-Ito palette, its yellow (faint on white) last. i wraps around. */
#define PLOT_N_CATEGORIES 8
plot_rgb plot_category_color(size_t i);

/* Colours shared by the figures. */
extern const plot_rgb plot_white, plot_black, plot_red, plot_blue, plot_not_run_fill,
    plot_not_run_hatch, plot_exploded_frame;

/* ---- Rendering ------------------------------------------------------------------------- */

/* Draws the layout into rgb (width * height * 3 bytes, rows top to bottom), which the caller
 * has filled with the background. Returns -1 only if it cannot allocate its scratch buffer. */
int plot_rasterize(const plot_layout *layout, uint8_t *rgb);

/* Write the layout as PNG or SVG, atomically; on failure the previous file is untouched and
 * err names the file and the problem. */
int plot_write_png(const plot_layout *layout, const char *path, bn_error *err);
int plot_write_svg(const plot_layout *layout, const char *path, bn_error *err);
/* The first half of those writes: the file's content in a temp file beside path (out), not
 * yet in place; atomic_file_commit puts it there, atomic_file_abort drops it. */
int plot_prepare_png(const plot_layout *layout, const char *path, atomic_file *out, bn_error *err);
int plot_prepare_svg(const plot_layout *layout, const char *path, atomic_file *out, bn_error *err);
/* Writes png_path and svg_path, both prepared before either replaces its old version: a
 * failed write leaves the old pair. */
int plot_write_pair(const plot_layout *layout, const char *png_path, const char *svg_path,
                    bn_error *err);
/* plot_write_pair to png_path and its SVG twin (".svg" in place of ".png", or appended). */
int plot_write_figure(const plot_layout *layout, const char *png_path, bn_error *err);

/* ---- The heatmap of a grid run --------------------------------------------------------- */

typedef enum { PLOT_CELL_NOT_RUN, PLOT_CELL_EXPLODED, PLOT_CELL_DONE } plot_cell_state;

typedef struct {
    plot_cell_state state;
    double test_loss_mean; /* finite when state is PLOT_CELL_DONE */
} plot_cell;

/* What a grid folder holds, as the heatmap needs it. */
typedef struct {
    char x_name[64];  /* first column of cells.csv: "gamma", or "sigma_w2" for vanilla */
    size_t n_x, n_y;  /* distinct x and log10_lr values */
    double *x;        /* n_x, ascending */
    double *log10_lr; /* n_y, ascending */
    plot_cell *cells; /* cells[iy * n_x + ix]; absent rows are PLOT_CELL_NOT_RUN */
    size_t n_theory;  /* rows of theory.csv with a finite x; 0 if the file is absent */
    double *theory_x, *theory_log10_eta_bar; /* the latter NaN where undefined */
    size_t n_boundary; /* rows of boundary.csv with a finite measured boundary */
    double *boundary_x, *boundary_log10_lr;
    int has_boundary; /* boundary.csv exists (the legend then shows the marker) */
    char dataset[64], arch[64], title_note[256]; /* from config.json; "" if absent */
    char loss[16];                               /* "mse" or "ce" from config.json; "" if absent */
    double epochs, n_restarts;                   /* NaN if absent */
    int batchnorm;                               /* 1, 0, or -1 if absent */
} plot_grid;

/* Reads DIR/cells.csv (required), DIR/theory.csv, DIR/boundary.csv and DIR/config.json
 * (optional). A torn last line (no newline, wrong field count) is dropped. */
int plot_grid_read(const char *dir, plot_grid *grid, bn_error *err);
void plot_grid_free(plot_grid *grid);

/* Lays out the heatmap; axes receives the mapping of the cell area, so callers (and tests) can
 * convert between pixels and (x, log10 eta). log_color_scale: colour by log10 of the loss. */
int plot_heatmap_layout(const plot_grid *grid, int log_color_scale, plot_layout *layout,
                        plot_axes *axes, bn_error *err);

/* Re-renders DIR/heatmap.png and DIR/heatmap.svg from the files of a grid folder. */
int plot_heatmap_dir(const char *dir, int log_color_scale, bn_error *err);

/* ---- The theory figure ----------------------------------------------------------------- */

/* Two panels against gamma: the lambda_max bound (left) and log10 eta_bar (right), BatchNorm in
 * red and vanilla in blue. Either network's arrays may be NULL; non-finite values leave gaps.
 * Writes png_path and its SVG twin. */
int plot_theory_figure(const char *png_path, const char *title, const double *gamma, size_t n,
                       const double *lambda_bn, const double *lambda_vanilla,
                       const double *log10_eta_bn, const double *log10_eta_vanilla, bn_error *err);

/* ---- The learning curves --------------------------------------------------------------- */

/* One gamma's restarts: accuracy per epoch. */
typedef struct {
    double gamma;      /* the legend's label: "γ = 0.1" */
    size_t n_restarts; /* rows of the arrays below */
    /* [restart * n_epochs + epoch - 1], in [0, 1]; NaN: not run yet, or the run exploded before
     * that epoch. NULL: nothing recorded. */
    const double *train_acc;
    const double *test_acc;
    /* n_restarts entries, or NULL if none exploded: the epoch (1-based) in which the restart
     * exploded, 0 if it did not (bn_run_result's exploded_epoch). */
    const size_t *exploded_epoch;
} plot_curve_series;

/* Train and test accuracy against epoch for several gammas (the paper's Fig. 4). */
typedef struct {
    const char *title; /* e.g. "VGG16 (width x1/8) on CIFAR-10: 10000 images, batch 128" */
    size_t n_epochs;   /* the x axis runs from 0 to n_epochs */
    const plot_curve_series *series;
    size_t n_series; /* 0 to PLOT_N_CATEGORIES */
} plot_curves_figure;

/* Lays the figure out: per gamma one colour, the mean over the restarts that have a value at
 * an epoch drawn solid for test and dashed for train accuracy (in %), a translucent band from
 * the least to the greatest restart behind each mean, a dot where a mean has no neighbour to
 * join, a cross above the x axis at each epoch in which a restart exploded, and a legend that
 * says how many restarts each gamma's points cover. axes receives the mapping of the plot area
 * (x: epoch, y: accuracy in %). */
int plot_curves_layout(const plot_curves_figure *figure, plot_layout *layout, plot_axes *axes,
                       bn_error *err);

/* Writes png_path and svg_path from one layout, both or neither (plot_write_pair). */
int plot_curves(const plot_curves_figure *figure, const char *png_path, const char *svg_path,
                bn_error *err);

/* ---- The lambda figure (lambda_figure.c) ----------------------------------------------- */

#define PLOT_LAMBDA_MAX_POINTS 64

/* What `probe --lambda` measured in one folder. */
typedef struct {
    double gamma, momentum;          /* config.json */
    double lambda_max, lambda_bound; /* probe.csv rows at `all`; the bound NaN if absent */
    int batchnorm;
} plot_lambda_point;

/* 0 and the point if DIR/probe.csv has `all,lambda_max`; 1 if it has none (a probe without
 * --lambda); -1 with err if a file cannot be read. */
int plot_lambda_read(const char *dir, plot_lambda_point *point, bn_error *err);
/* log10 lambda_max against gamma: the n points measured (sorted here by gamma), the theory's
 * bound and, if grid is not NULL, 2(1 + mu)/eta of its measured boundary; png_path and its
 * SVG twin. */
int plot_lambda_figure(plot_lambda_point *points, size_t n, const plot_grid *grid,
                       const char *png_path, bn_error *err);

/* A number at the top level of a JSON object's text (config.json), NaN if absent. */
double plot_json_number(const char *json, const char *key);

/* ---- The probe figure ------------------------------------------------------------------ */

/* The quantities of a probe folder the figure draws (probe_figure.c lists them). */
#define PLOT_PROBE_PANELS 6

/* One quantity of one folder: its rows, by layer (1-based), in file order. */
typedef struct {
    size_t n;
    size_t *layer;
    double *value, *spread; /* spread NaN where probe.csv has none */
} plot_probe_curve;

typedef struct {
    char label[160]; /* "BN: DIRNAME" / "vanilla: DIRNAME" (config.json), else the folder */
    plot_probe_curve curve[PLOT_PROBE_PANELS];
} plot_probe_series;

/* Calls ROW for every row of DIR/probe.csv (layer 0 for the `all` rows), after checking the
 * header and each row's form; a torn last line is dropped. ROW returns nonzero when out of
 * memory. 0, or -1 with err naming the file (and line). */
typedef int (*plot_probe_row_fn)(void *ctx, size_t layer, const char *quantity, double value,
                                 double spread);
int plot_probe_rows(const char *dir, plot_probe_row_fn row, void *ctx, bn_error *err);
/* Reads DIR/probe.csv (and config.json for the label); a torn last line is dropped. */
int plot_probe_read(const char *dir, plot_probe_series *series, bn_error *err);
void plot_probe_free(plot_probe_series *series);
/* Lays out one panel per quantity against the layer, a colour per series (at most
 * PLOT_N_CATEGORIES), error bars for the channel spread, log10 where a panel spans more than
 * two decades. */
int plot_probe_layout(const plot_probe_series *series, size_t n_series, const char *title,
                      plot_layout *layout, bn_error *err);
/* Reads the folders and writes png_path and its SVG twin. */
int plot_probe_figure(const char *const *dirs, size_t n_dirs, const char *png_path,
                      bn_error *err);

#endif
