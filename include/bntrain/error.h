/* Error reporting: library functions return 0 on success, -1 on failure, and fill a
 * bn_error with one line that names the file or option and what is wrong. Only main()
 * and the cmd_* functions print it and choose the exit status. */
#ifndef BNTRAIN_ERROR_H
#define BNTRAIN_ERROR_H

#include <stddef.h>

typedef struct {
    char msg[512];
} bn_error;

/* Formats the message into err (if err is not NULL) and returns -1, so that a failing
 * function can `return bn_fail(err, "%s: truncated", path);`. */
int bn_fail(bn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* a * b into *out; returns 0, or -1 if the product overflows size_t. Use it on every size
 * that comes from a file or the command line before it reaches malloc. */
int bn_mul_size(size_t a, size_t b, size_t *out);

#endif
