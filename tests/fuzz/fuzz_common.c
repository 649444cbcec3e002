/* Helpers of the fuzz targets (fuzz_common.h). */
#define _XOPEN_SOURCE 700
#include "fuzz_common.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void fuzz_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
    abort();
}

void fuzz_dir_create(char dir[FUZZ_PATH_BYTES]) {
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(dir, FUZZ_PATH_BYTES, "%s/bntrain-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FUZZ_CHECK(n > 0 && n < FUZZ_PATH_BYTES);
    FUZZ_CHECK(mkdtemp(dir) != NULL);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    return remove(path);
}

void fuzz_dir_remove(const char *dir) {
    FUZZ_CHECK(nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) == 0);
}

void fuzz_join(char path[FUZZ_PATH_BYTES], const char *dir, const char *name) {
    int n = snprintf(path, FUZZ_PATH_BYTES, "%s/%s", dir, name);
    FUZZ_CHECK(n > 0 && n < FUZZ_PATH_BYTES);
}

void fuzz_write(const char *path, const uint8_t *data, size_t size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0);
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        FUZZ_CHECK(n > 0);
        data += n;
        size -= (size_t)n;
    }
    FUZZ_CHECK(close(fd) == 0);
}

char *fuzz_text(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

void fuzz_check_message(const bn_error *err, const char *names) {
    size_t length = strnlen(err->msg, sizeof err->msg);
    FUZZ_CHECK(length > 0 && length < sizeof err->msg);
    FUZZ_CHECK(strchr(err->msg, '\n') == NULL);
    FUZZ_CHECK(strstr(err->msg, names) != NULL);
}
