/* PNG output: rasterise the layout and encode it with libpng, errors caught with setjmp. */
#include <errno.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "plot/plot.h"

typedef struct {
    char message[200];
} png_failure;

/* libpng calls this instead of printing and aborting; we keep the message and errno (set by
 * a failed fwrite, e.g. ENOSPC) and jump back to encode_png. */
static void on_png_error(png_structp png, png_const_charp message) {
    png_failure *failure = png_get_error_ptr(png);
    if (errno)
        snprintf(failure->message, sizeof failure->message, "%s (%s)", message, strerror(errno));
    else
        snprintf(failure->message, sizeof failure->message, "%s", message);
    png_longjmp(png, 1);
}

/* Warnings (e.g. about ancillary chunks) do not spoil the picture. */
static void on_png_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static int encode_png(FILE *file, const uint8_t *rgb, int width, int height, png_failure *failure) {
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, failure, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(failure->message, sizeof failure->message, "out of memory in libpng");
        return -1;
    }
    /* png and info are not changed after setjmp, so they need not be volatile */
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    errno = 0;
    png_init_io(png, file);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, rgb + (size_t)y * (size_t)width * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int plot_prepare_png(const plot_layout *layout, const char *path, atomic_file *out, bn_error *err) {
    if (layout->width <= 0 || layout->height <= 0 || layout->width > 20000 ||
        layout->height > 20000)
        return bn_fail(err, "%s: bad image size %dx%d", path, layout->width, layout->height);
    size_t bytes = (size_t)layout->width * (size_t)layout->height * 3;
    uint8_t *rgb = malloc(bytes);
    if (!rgb)
        return bn_fail(err, "%s: out of memory for a %dx%d image", path, layout->width,
                       layout->height);
    memset(rgb, 255, bytes); /* white background */
    if (plot_rasterize(layout, rgb) != 0) {
        free(rgb);
        return bn_fail(err, "%s: out of memory while drawing", path);
    }
    if (atomic_file_open(out, path, err) != 0) {
        free(rgb);
        return -1;
    }
    png_failure failure = {""};
    int status = encode_png(out->file, rgb, layout->width, layout->height, &failure);
    free(rgb);
    if (status != 0) {
        atomic_file_abort(out);
        return bn_fail(err, "%s: %s", path, failure.message);
    }
    return 0;
}

int plot_write_png(const plot_layout *layout, const char *path, bn_error *err) {
    atomic_file out;
    if (plot_prepare_png(layout, path, &out, err) != 0) return -1;
    return atomic_file_commit(&out, err);
}
