/* Bounded text building. */
#include "base/text.h"

#include <stdarg.h>
#include <stdio.h>

int text_append(char *buf, size_t capacity, size_t *used, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(buf + *used, capacity - *used, fmt, args);
    va_end(args);
    if (n < 0 || (size_t)n >= capacity - *used) return -1;
    *used += (size_t)n;
    return 0;
}

int text_append_json_list(char *buf, size_t capacity, size_t *used, const char *key,
                          const double *values, size_t n) {
    if (text_append(buf, capacity, used, "  \"%s\": [", key)) return -1;
    for (size_t i = 0; i < n; i++)
        if (text_append(buf, capacity, used, "%s%.12g", i ? ", " : "", values[i])) return -1;
    return text_append(buf, capacity, used, "],\n");
}

int text_append_json_string(char *buf, size_t capacity, size_t *used, const char *value) {
    if (text_append(buf, capacity, used, "\"")) return -1;
    for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
        int bad;
        if (*c == '"' || *c == '\\')
            bad = text_append(buf, capacity, used, "\\%c", *c);
        else if (*c < 0x20)
            bad = text_append(buf, capacity, used, "\\u%04x", *c);
        else
            bad = text_append(buf, capacity, used, "%c", *c);
        if (bad) return -1;
    }
    return text_append(buf, capacity, used, "\"");
}
