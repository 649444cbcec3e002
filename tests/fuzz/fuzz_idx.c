/* Fuzz target of the IDX reader (src/data/data.c): the input is one file, read both as an
 * images file and as a labels file, raw or gzip as the reader detects. Checked: a failure
 * leaves nothing behind and says one line naming the file; a success returns sizes the header
 * allows, every label below 10, and for a raw file exactly the bytes the header declares. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bntrain/data.h"
#include "fuzz_common.h"

enum { IMAGES_HEADER_BYTES = 16, LABELS_HEADER_BYTES = 8, MAX_SIDE = 1024 };

static int is_gzip(const uint8_t *data, size_t size) {
    return size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

/* Reads every byte: ASan catches a buffer smaller than the sizes the reader returned. */
static void touch_all(const uint8_t *bytes, size_t n) {
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < n; i++)
        sink ^= bytes[i];
    (void)sink;
}

static void read_images(const char *path, const uint8_t *data, size_t size) {
    uint8_t *pixels;
    size_t n, rows, cols;
    bn_error err;
    if (idx_read_images(path, &pixels, &n, &rows, &cols, &err) != 0) {
        FUZZ_CHECK(pixels == NULL && n == 0 && rows == 0 && cols == 0);
        fuzz_check_message(&err, path);
        return;
    }
    FUZZ_CHECK(pixels != NULL && n > 0);
    FUZZ_CHECK(rows >= 1 && rows <= MAX_SIDE && cols >= 1 && cols <= MAX_SIDE);
    if (!is_gzip(data, size)) FUZZ_CHECK(size == IMAGES_HEADER_BYTES + n * rows * cols);
    touch_all(pixels, n * rows * cols);
    free(pixels);
}

static void read_labels(const char *path, const uint8_t *data, size_t size) {
    uint8_t *labels;
    size_t n;
    bn_error err;
    if (idx_read_labels(path, &labels, &n, &err) != 0) {
        FUZZ_CHECK(labels == NULL && n == 0);
        fuzz_check_message(&err, path);
        return;
    }
    FUZZ_CHECK(labels != NULL && n > 0);
    if (!is_gzip(data, size)) FUZZ_CHECK(size == LABELS_HEADER_BYTES + n);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(labels[i] < 10);
    free(labels);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char dir[FUZZ_PATH_BYTES], path[FUZZ_PATH_BYTES];
    fuzz_dir_create(dir);
    fuzz_join(path, dir, "input-idx3-ubyte");
    fuzz_write(path, data, size);
    read_images(path, data, size);
    read_labels(path, data, size);
    fuzz_dir_remove(dir);
    return 0;
}
