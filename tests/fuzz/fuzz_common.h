/* What the fuzz targets share: a private temp folder per input for readers that take paths,
 * the input as a C string, and checks that abort, so that libFuzzer saves the input that broke
 * an invariant as it saves one that crashed. */
#ifndef BNTRAIN_FUZZ_COMMON_H
#define BNTRAIN_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/error.h"

enum { FUZZ_PATH_BYTES = 512 };

/* Aborts with file:line and the condition when cond is false. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) fuzz_fail(__FILE__, __LINE__, #cond);                                         \
    } while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *what);

/* Creates a folder of its own under $TMPDIR (else /tmp) into dir; aborts if it cannot. */
void fuzz_dir_create(char dir[FUZZ_PATH_BYTES]);
/* Removes dir and everything in it. */
void fuzz_dir_remove(const char *dir);
/* dir/name into path; aborts if it does not fit. */
void fuzz_join(char path[FUZZ_PATH_BYTES], const char *dir, const char *name);
/* Writes data[0, size) to path, replacing it; aborts on failure. */
void fuzz_write(const char *path, const uint8_t *data, size_t size);

/* The input as a NUL-terminated malloc'd string (a NUL inside ends it early, as for a file
 * read by a C-string reader). */
char *fuzz_text(const uint8_t *data, size_t size);

/* A failed reader's message: one non-empty line that names `names` (the file, the option). */
void fuzz_check_message(const bn_error *err, const char *names);

#endif
