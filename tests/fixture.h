/* Reader for the PyTorch reference fixtures written by tests/make_fixtures.py. Format, all
 * little-endian: "BNFX", u32 version (1), u32 record count, then per record u32 name length,
 * the name bytes, u32 ndim, u32 dims[ndim], float32 data[prod(dims)]. The whole file is read
 * and every length is checked against the bytes that remain, so a truncated or corrupt fixture
 * is an error with a message, never a wild read or a huge allocation. */
#ifndef BNTRAIN_TEST_FIXTURE_H
#define BNTRAIN_TEST_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bntrain/error.h"

#define FIXTURE_VERSION 1u
#define FIXTURE_MAX_NAME 255u
#define FIXTURE_MAX_DIMS 8u
/* Fixtures are committed and small; anything larger is not one of ours. */
#define FIXTURE_MAX_BYTES (64u << 20)

typedef struct {
    char name[FIXTURE_MAX_NAME + 1];
    uint32_t ndim;
    uint32_t dims[FIXTURE_MAX_DIMS];
    size_t count; /* product of dims (1 for ndim 0) */
    float *data;
} fixture_tensor;

typedef struct {
    size_t n_tensors;
    fixture_tensor *tensors; /* in file order */
} fixture;

/* A cursor over the file's bytes; every take checks that enough bytes remain. */
typedef struct {
    const unsigned char *bytes;
    size_t size, pos;
} fixture_cursor;

static inline int fixture_take_u32(fixture_cursor *c, uint32_t *value) {
    if (c->size - c->pos < 4) return -1;
    const unsigned char *b = c->bytes + c->pos;
    /* Assembled byte by byte: the format is little-endian whatever the host is. */
    *value = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    c->pos += 4;
    return 0;
}

static inline void fixture_free(fixture *fx) {
    for (size_t i = 0; i < fx->n_tensors; i++)
        free(fx->tensors[i].data);
    free(fx->tensors);
    memset(fx, 0, sizeof *fx);
}

static inline const fixture_tensor *fixture_get(const fixture *fx, const char *name) {
    for (size_t i = 0; i < fx->n_tensors; i++)
        if (strcmp(fx->tensors[i].name, name) == 0) return &fx->tensors[i];
    return NULL;
}

/* Name, dims and data of one record; fills t (t->data allocated) or returns -1 with err. */
static inline int fixture_parse_record(fixture_cursor *c, fixture_tensor *t, const char *path,
                                       size_t index, bn_error *err) {
    uint32_t name_len, value = 0;
    if (fixture_take_u32(c, &name_len) || name_len == 0 || name_len > FIXTURE_MAX_NAME ||
        c->size - c->pos < name_len)
        return bn_fail(err, "%s: record %zu: bad or truncated name", path, index);
    for (uint32_t i = 0; i < name_len; i++) {
        unsigned char ch = c->bytes[c->pos + i];
        if (ch < 0x21 || ch > 0x7e)
            return bn_fail(err, "%s: record %zu: name is not printable ASCII", path, index);
        t->name[i] = (char)ch;
    }
    t->name[name_len] = '\0';
    c->pos += name_len;
    if (fixture_take_u32(c, &t->ndim) || t->ndim > FIXTURE_MAX_DIMS)
        return bn_fail(err, "%s: %s: bad or truncated ndim", path, t->name);
    t->count = 1;
    for (uint32_t d = 0; d < t->ndim; d++) {
        if (fixture_take_u32(c, &value) || bn_mul_size(t->count, value, &t->count))
            return bn_fail(err, "%s: %s: bad or truncated dims", path, t->name);
        t->dims[d] = value;
    }
    /* The data must fit in what is left of the file: checked before anything is allocated. */
    if (t->count > (c->size - c->pos) / 4)
        return bn_fail(err, "%s: %s: %zu floats but only %zu bytes left", path, t->name, t->count,
                       c->size - c->pos);
    t->data = malloc(t->count ? t->count * sizeof(float) : 1);
    if (!t->data) return bn_fail(err, "%s: %s: out of memory", path, t->name);
    for (size_t i = 0; i < t->count; i++) {
        fixture_take_u32(c, &value);
        memcpy(&t->data[i], &value, sizeof value);
    }
    return 0;
}

static inline int fixture_parse(fixture *fx, const unsigned char *bytes, size_t size,
                                const char *path, bn_error *err) {
    fixture_cursor c = {bytes, size, 0};
    uint32_t version, n_records;
    if (size < 4 || memcmp(bytes, "BNFX", 4) != 0)
        return bn_fail(err, "%s: not a fixture (no BNFX magic)", path);
    c.pos = 4;
    if (fixture_take_u32(&c, &version) || version != FIXTURE_VERSION)
        return bn_fail(err, "%s: unsupported fixture version", path);
    /* Each record takes at least 9 bytes, which bounds the count before the allocation. */
    if (fixture_take_u32(&c, &n_records) || n_records == 0 || n_records > (size - c.pos) / 9)
        return bn_fail(err, "%s: bad record count", path);
    fx->tensors = calloc(n_records, sizeof *fx->tensors);
    if (!fx->tensors) return bn_fail(err, "%s: out of memory", path);
    for (uint32_t i = 0; i < n_records; i++) {
        fixture_tensor *t = &fx->tensors[i];
        fx->n_tensors = i + 1; /* so that fixture_free releases a partly parsed record */
        if (fixture_parse_record(&c, t, path, i, err)) return -1;
        if (fixture_get(fx, t->name) != t)
            return bn_fail(err, "%s: duplicate record %s", path, t->name);
    }
    if (c.pos != size)
        return bn_fail(err, "%s: %zu trailing bytes after the last record", path, size - c.pos);
    return 0;
}

/* The size of an open regular file, or -1. */
static inline long fixture_file_size(FILE *f) {
    if (fseek(f, 0, SEEK_END) != 0) return -1;
    long size = ftell(f);
    if (fseek(f, 0, SEEK_SET) != 0) return -1;
    return size;
}

/* Reads the whole fixture at path; on failure fx is empty and err says why. */
static inline int fixture_load(fixture *fx, const char *path, bn_error *err) {
    memset(fx, 0, sizeof *fx);
    FILE *f = fopen(path, "rb");
    if (!f) return bn_fail(err, "%s: cannot open (fixtures are committed in tests/fixtures)", path);
    long size = fixture_file_size(f);
    unsigned char *bytes = NULL;
    int status;
    if (size < 0)
        status = bn_fail(err, "%s: cannot determine the size", path);
    else if ((unsigned long)size > FIXTURE_MAX_BYTES)
        status = bn_fail(err, "%s: %ld bytes, larger than any fixture", path, size);
    else if (!(bytes = malloc((size_t)size + 1)))
        status = bn_fail(err, "%s: out of memory", path);
    else if (fread(bytes, 1, (size_t)size, f) != (size_t)size)
        status = bn_fail(err, "%s: read error or truncated", path);
    else
        status = fixture_parse(fx, bytes, (size_t)size, path, err);
    fclose(f);
    free(bytes);
    if (status) fixture_free(fx);
    return status;
}

#endif
