/* Error message formatting and overflow-checked size arithmetic. */
#include "bntrain/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

int bn_fail(bn_error *err, const char *fmt, ...) {
    if (err) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, args);
        va_end(args);
    }
    return -1;
}

int bn_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}
