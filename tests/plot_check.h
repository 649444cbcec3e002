/* Helpers of the figure tests: files read whole and folders removed, a decoded PNG's pixels,
 * a small XML well-formedness check for the SVGs and their attributes. */
#ifndef BNTRAIN_TEST_PLOT_CHECK_H
#define BNTRAIN_TEST_PLOT_CHECK_H

#include <dirent.h>
#include <math.h>
#include <png.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plot/plot.h"

/* ---- Files ----------------------------------------------------------------------------- */

static inline char *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t capacity = 1 << 20;
    char *data = malloc(capacity + 1);
    *size = data ? fread(data, 1, capacity, f) : 0;
    fclose(f);
    if (data) data[*size] = '\0';
    return data;
}

static inline int same_bytes(const char *a, size_t na, const char *b, size_t nb) {
    return a && b && na == nb && memcmp(a, b, na) == 0;
}

static inline size_t count_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    size_t n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

static inline void remove_tree(const char *path) {
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char child[1024];
        if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) >= (int)sizeof child) continue;
        struct stat st;
        if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(child);
        else
            unlink(child);
    }
    if (d) closedir(d);
    rmdir(path);
}

/* ---- PNG pixels ------------------------------------------------------------------------ */

typedef struct {
    unsigned width, height;
    uint8_t *rgb;
} image;

static inline int load_png(const char *path, image *im) {
    png_image png;
    memset(&png, 0, sizeof png);
    png.version = PNG_IMAGE_VERSION;
    im->rgb = NULL;
    if (!png_image_begin_read_from_file(&png, path)) return -1;
    png.format = PNG_FORMAT_RGB;
    im->width = png.width;
    im->height = png.height;
    im->rgb = malloc(PNG_IMAGE_SIZE(png));
    if (!im->rgb || !png_image_finish_read(&png, NULL, im->rgb, 0, NULL)) {
        png_image_free(&png);
        free(im->rgb);
        im->rgb = NULL;
        return -1;
    }
    return 0;
}

static inline plot_rgb pixel_at(const image *im, double x, double y) {
    plot_rgb c = {0, 0, 0};
    long ix = (long)floor(x), iy = (long)floor(y);
    if (ix < 0 || iy < 0 || ix >= (long)im->width || iy >= (long)im->height) return c;
    const uint8_t *p = im->rgb + 3 * ((size_t)iy * im->width + (size_t)ix);
    c.r = p[0];
    c.g = p[1];
    c.b = p[2];
    return c;
}

static inline int same_rgb(plot_rgb a, plot_rgb b) {
    return a.r == b.r && a.g == b.g && a.b == b.b;
}

/* ---- A small XML well-formedness check ------------------------------------------------- */

static inline const char *check_entity(const char *p) {
    static const char *const names[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (int i = 0; i < 5; i++)
        if (strncmp(p, names[i], strlen(names[i])) == 0) return p + strlen(names[i]);
    return NULL;
}

static inline int is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == ':' || c == '.';
}

/* Says what is wrong and returns 0. */
static inline int xml_error(char *why, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static inline int xml_error(char *why, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(why, 200, format, args);
    va_end(args);
    return 0;
}

/* Parses attributes up to '>' or '/>'; returns the position after the tag (NULL if malformed),
 * and sets *closed for a self-closing tag. */
static inline const char *xml_attributes(const char *p, int *closed, char *why) {
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == '\t')
            p++;
        if (p[0] == '/' && p[1] == '>') {
            *closed = 1;
            return p + 2;
        }
        if (*p == '>') {
            *closed = 0;
            return p + 1;
        }
        const char *name = p;
        while (is_name_char(*p))
            p++;
        if (p == name || *p++ != '=' || (*p != '"' && *p != '\'')) {
            xml_error(why, "bad attribute near '%.30s'", name);
            return NULL;
        }
        char quote = *p++;
        while (*p && *p != quote) {
            if (*p == '<' || (*p == '&' && !check_entity(p))) {
                xml_error(why, "'<' or a bad entity in an attribute near '%.30s'", name);
                return NULL;
            }
            p = *p == '&' ? check_entity(p) : p + 1;
        }
        if (!*p) {
            xml_error(why, "unterminated attribute '%.30s'", name);
            return NULL;
        }
        p++;
    }
}

/* Tags balanced and properly nested, attributes quoted, entities known, one root element. */
static inline int xml_well_formed(const char *p, char *why) {
    char stack[64][64];
    int depth = 0, roots = 0;
    while (*p) {
        if (*p != '<') {
            if (*p == '&' && !check_entity(p)) return xml_error(why, "bad entity in text");
            if (depth == 0 && *p != '\n' && *p != ' ') return xml_error(why, "text outside root");
            p++;
            continue;
        }
        if (p[1] == '?') {
            p = strstr(p, "?>");
            if (!p) return xml_error(why, "unterminated <?");
            p += 2;
            continue;
        }
        int closing = p[1] == '/';
        const char *name = p + 1 + closing, *end = name;
        while (is_name_char(*end))
            end++;
        size_t length = (size_t)(end - name);
        if (length == 0 || length >= 64) return xml_error(why, "bad tag name");
        if (closing) {
            if (depth == 0 || strncmp(stack[depth - 1], name, length) != 0 ||
                stack[depth - 1][length] != '\0' || *end != '>')
                return xml_error(why, "unbalanced </%.*s>", (int)length, name);
            depth--;
            p = end + 1;
            continue;
        }
        int closed;
        if (!(p = xml_attributes(end, &closed, why))) return 0;
        if (depth == 0) roots++;
        if (!closed) {
            if (depth == 64) return xml_error(why, "nested too deep");
            memcpy(stack[depth], name, length);
            stack[depth++][length] = '\0';
        }
    }
    if (depth != 0 || roots != 1) return xml_error(why, "%d open tags, %d roots", depth, roots);
    return 1;
}

/* The value of attribute `name` in the tag starting at tag (up to its '>'). */
static inline int attribute(const char *tag, const char *name, char *value, size_t size) {
    const char *end = strchr(tag, '>');
    char needle[64];
    snprintf(needle, sizeof needle, " %s=\"", name);
    const char *p = strstr(tag, needle);
    if (!p || !end || p > end) return -1;
    p += strlen(needle);
    size_t n = strcspn(p, "\"");
    if (n >= size) return -1;
    memcpy(value, p, n);
    value[n] = '\0';
    return 0;
}

static inline double number_attribute(const char *tag, const char *name) {
    char value[64];
    return attribute(tag, name, value, sizeof value) == 0 ? atof(value) : NAN;
}
#endif
