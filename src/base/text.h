/* Text built into a fixed buffer (config.json, messages): printf-style appends that never
 * write past the buffer and say when the text did not fit. */
#ifndef BNTRAIN_BASE_TEXT_H
#define BNTRAIN_BASE_TEXT_H

#include <stddef.h>

/* Appends printf output at buf + *used, moving *used; -1 (nothing counted) if it did not fit. */
int text_append(char *buf, size_t capacity, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A config.json line `  "key": [v0, v1, ...],` with each value as %.12g. */
int text_append_json_list(char *buf, size_t capacity, size_t *used, const char *key,
                          const double *values, size_t n);
/* value as a JSON string literal, quotes included: quotes, backslashes and control characters
 * escaped (a title note is the user's free text and must not break config.json). */
int text_append_json_string(char *buf, size_t capacity, size_t *used, const char *value);

#endif
