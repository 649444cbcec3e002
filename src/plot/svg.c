/* SVG output: the same layout as the PNG, one element per primitive. Rectangles use the edges
 * the rasteriser rounds to, text becomes <text> with <tspan>s for sub- and superscripts, and all
 * text is escaped (and invalid UTF-8 replaced) so the file is well-formed XML. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "plot/font.h"
#include "plot/plot.h"

typedef struct {
    char *data;
    size_t length, capacity;
    int failed;
} svg_buffer;

static void svg_append(svg_buffer *b, const char *bytes, size_t n) {
    if (b->failed) return;
    if (b->length + n + 1 > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 1 << 16;
        while (capacity < b->length + n + 1)
            capacity *= 2;
        char *grown = realloc(b->data, capacity);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->length, bytes, n);
    b->length += n;
}

static void svg_puts(svg_buffer *b, const char *text) {
    svg_append(b, text, strlen(text));
}

static void svg_printf(svg_buffer *b, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static void svg_printf(svg_buffer *b, const char *format, ...) {
    char line[256];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (n < 0 || (size_t)n >= sizeof line) {
        b->failed = 1;
        return;
    }
    svg_append(b, line, (size_t)n);
}

/* Numbers with at most two decimals and no trailing zeros: "12", "12.5", "12.25". */
static void svg_number(svg_buffer *b, double v) {
    char text[64];
    snprintf(text, sizeof text, "%.2f", isfinite(v) ? v : 0);
    char *end = text + strlen(text);
    while (end[-1] == '0')
        end--;
    if (end[-1] == '.') end--;
    *end = '\0';
    svg_puts(b, strcmp(text, "-0") == 0 ? "0" : text);
}

static void svg_color(svg_buffer *b, plot_rgb c) {
    svg_printf(b, "#%02x%02x%02x", c.r, c.g, c.b);
}

static void svg_text(svg_buffer *b, const char *text, size_t n) {
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        size_t length = font_utf8_length(text + i, n - i);
        const char *entity = s[i] == '&'    ? "&amp;"
                             : s[i] == '<'  ? "&lt;"
                             : s[i] == '>'  ? "&gt;"
                             : s[i] == '"'  ? "&quot;"
                             : s[i] == '\'' ? "&apos;"
                                            : NULL;
        if (entity)
            svg_puts(b, entity);
        else if (length == 0 || (s[i] < 0x20 && s[i] != '\t')) /* not allowed in XML */
            svg_puts(b, "?");
        else
            svg_append(b, text + i, length);
        i += length ? length : 1;
    }
}

static void svg_points(svg_buffer *b, const double *xy, size_t n) {
    svg_puts(b, " points=\"");
    for (size_t i = 0; i < n; i++) {
        if (i > 0) svg_puts(b, " ");
        svg_number(b, xy[2 * i]);
        svg_puts(b, ",");
        svg_number(b, xy[2 * i + 1]);
    }
    svg_puts(b, "\"");
}

/* The element's opening, with the item's role as its class. */
static void svg_open(svg_buffer *b, const char *element, const plot_item *item) {
    svg_printf(b, "<%s", element);
    if (item->role) svg_printf(b, " class=\"%s\"", item->role);
}

static void svg_rect(svg_buffer *b, const plot_item *item) {
    /* the rasteriser fills whole pixels between rounded edges; say exactly that */
    double x0 = round(item->rect.x0), y0 = round(item->rect.y0);
    svg_open(b, "rect", item);
    svg_puts(b, " x=\"");
    svg_number(b, x0);
    svg_puts(b, "\" y=\"");
    svg_number(b, y0);
    svg_puts(b, "\" width=\"");
    svg_number(b, round(item->rect.x1) - x0);
    svg_puts(b, "\" height=\"");
    svg_number(b, round(item->rect.y1) - y0);
    svg_puts(b, "\" fill=\"");
    svg_color(b, item->color);
    svg_puts(b, "\"/>\n");
}

static void svg_line(svg_buffer *b, const plot_layout *layout, const plot_item *item) {
    svg_open(b, "polyline", item);
    svg_points(b, layout->points + 2 * item->line.first, item->line.count);
    svg_puts(b, " fill=\"none\" stroke=\"");
    svg_color(b, item->color);
    svg_puts(b, "\" stroke-width=\"");
    svg_number(b, item->line.width);
    svg_puts(b, "\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/>\n");
}

static void svg_polygon(svg_buffer *b, const plot_layout *layout, const plot_item *item) {
    svg_open(b, "polygon", item);
    svg_points(b, layout->points + 2 * item->polygon.first, item->polygon.count);
    svg_puts(b, " fill=\"");
    svg_color(b, item->color);
    if (item->polygon.opacity < 1) {
        svg_puts(b, "\" fill-opacity=\"");
        svg_number(b, item->polygon.opacity);
    }
    if (item->polygon.stroke_width > 0) {
        svg_puts(b, "\" stroke=\"");
        svg_color(b, item->polygon.stroke);
        svg_puts(b, "\" stroke-width=\"");
        svg_number(b, item->polygon.stroke_width);
        svg_puts(b, "\" stroke-linejoin=\"round");
    }
    svg_puts(b, "\"/>\n");
}

/* The SVG font size that gives the capital height of the bitmap font (7 font pixels): sans
 * serif capitals are about 0.72 em. */
static double svg_font_size(double scale) {
    return 7 * scale / 0.72;
}

static void svg_text_item(svg_buffer *b, const plot_layout *layout, const plot_item *item) {
    static const char *const anchors[] = {"start", "middle", "end"};
    const double scale = item->text.scale;
    svg_open(b, "text", item);
    svg_puts(b, " xml:space=\"preserve\" x=\"");
    svg_number(b, item->text.x);
    svg_puts(b, "\" y=\"");
    svg_number(b, item->text.y);
    svg_printf(b, "\" text-anchor=\"%s\" fill=\"", anchors[item->text.anchor]);
    svg_color(b, item->color);
    svg_puts(b, "\" font-size=\"");
    svg_number(b, svg_font_size(scale));
    if (item->text.vertical) {
        svg_puts(b, "\" transform=\"rotate(-90 ");
        svg_number(b, item->text.x);
        svg_puts(b, " ");
        svg_number(b, item->text.y);
        svg_puts(b, ")");
    }
    svg_puts(b, "\">");
    plot_text_run runs[16];
    size_t n = plot_text_runs(layout->text + item->text.offset, runs, 16);
    double baseline = 0;
    for (size_t i = 0; i < n; i++) {
        double run_baseline = plot_run_baseline(runs[i].kind, scale);
        svg_puts(b, "<tspan");
        if (run_baseline != baseline) {
            svg_puts(b, " dy=\"");
            svg_number(b, run_baseline - baseline);
            svg_puts(b, "\"");
            baseline = run_baseline;
        }
        if (runs[i].kind != PLOT_RUN_NORMAL) {
            svg_puts(b, " font-size=\"");
            svg_number(b, svg_font_size(plot_run_scale(runs[i].kind, scale)));
            svg_puts(b, "\"");
        }
        svg_puts(b, ">");
        svg_text(b, runs[i].text, runs[i].length);
        svg_puts(b, "</tspan>");
    }
    svg_puts(b, "</text>\n");
}

static void svg_document(svg_buffer *b, const plot_layout *layout) {
    svg_printf(b,
               "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\"\n",
               layout->width, layout->height, layout->width, layout->height);
    svg_printf(b, "     font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n");
    svg_printf(b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
               layout->width, layout->height);
    for (size_t i = 0; i < layout->n_items; i++) {
        const plot_item *item = &layout->items[i];
        switch (item->kind) {
        case PLOT_RECT:
            svg_rect(b, item);
            break;
        case PLOT_LINE:
            svg_line(b, layout, item);
            break;
        case PLOT_POLYGON:
            svg_polygon(b, layout, item);
            break;
        case PLOT_TEXT:
            svg_text_item(b, layout, item);
            break;
        }
    }
    svg_puts(b, "</svg>\n");
}

int plot_prepare_svg(const plot_layout *layout, const char *path, atomic_file *out, bn_error *err) {
    svg_buffer b = {NULL, 0, 0, 0};
    svg_document(&b, layout);
    if (b.failed) {
        free(b.data);
        return bn_fail(err, "%s: out of memory while writing SVG", path);
    }
    int status = atomic_file_open(out, path, err);
    if (status == 0 && fwrite(b.data, 1, b.length, out->file) != b.length) {
        status = bn_fail(err, "%s: cannot write: %s", path, strerror(errno));
        atomic_file_abort(out);
    }
    free(b.data);
    return status;
}

int plot_write_svg(const plot_layout *layout, const char *path, bn_error *err) {
    atomic_file out;
    if (plot_prepare_svg(layout, path, &out, err) != 0) return -1;
    return atomic_file_commit(&out, err);
}

/* Hands a prepared file's buffered bytes to the kernel, where a full disk shows (ENOSPC, or
 * EFBIG past a file size limit); on failure the temp file is dropped. */
static int flush_prepared(atomic_file *out, bn_error *err) {
    errno = 0;
    if (fflush(out->file) == 0 && !ferror(out->file)) return 0;
    int cause = errno;
    atomic_file_abort(out);
    return bn_fail(err, "%s: cannot write: %s", out->path, cause ? strerror(cause) : "write error");
}

/* Both files are written and flushed before either replaces its old version, so a full disk
 * leaves the old pair, not a new PNG beside an old SVG; only a failure of the SVG's final
 * fsync or rename, after the PNG's, can still part them. */
int plot_write_pair(const plot_layout *layout, const char *png_path, const char *svg_path,
                    bn_error *err) {
    atomic_file png, svg;
    if (plot_prepare_png(layout, png_path, &png, err) != 0) return -1;
    if (plot_prepare_svg(layout, svg_path, &svg, err) != 0 || flush_prepared(&svg, err) != 0) {
        atomic_file_abort(&png);
        return -1;
    }
    if (flush_prepared(&png, err) != 0 || atomic_file_commit(&png, err) != 0) {
        atomic_file_abort(&svg);
        return -1;
    }
    return atomic_file_commit(&svg, err);
}

int plot_write_figure(const plot_layout *layout, const char *png_path, bn_error *err) {
    size_t length = strlen(png_path);
    int replace = length >= 4 && strcmp(png_path + length - 4, ".png") == 0;
    char *svg_path = malloc(length + 5);
    if (!svg_path) return bn_fail(err, "%s: out of memory", png_path);
    memcpy(svg_path, png_path, length + 1);
    strcpy(svg_path + (replace ? length - 4 : length), ".svg");
    int status = plot_write_pair(layout, png_path, svg_path, err);
    free(svg_path);
    return status;
}
