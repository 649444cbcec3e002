/* runs.csv: formatting and parsing a run record, the append-only log and its tolerant reading. */
#include "grid/results.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"

int runs_header(char *buf, size_t capacity, const char *x_name) {
    int n = snprintf(buf, capacity,
                     "%s,log10_lr,lr,restart,seed,exploded,exploded_at,train_loss,test_loss,"
                     "test_acc,seconds\n",
                     x_name);
    return n < 0 || (size_t)n >= capacity ? -1 : n;
}

int run_format(char *buf, size_t capacity, const bn_run_record *r) {
    char exploded_at[48] = "";
    if (r->exploded)
        snprintf(exploded_at, sizeof exploded_at, "%zu:%zu", r->exploded_epoch, r->exploded_step);
    /* %.9g round-trips a float-valued loss; %.12g matches how grid values are parsed. */
    int n = snprintf(buf, capacity, "%.12g,%.12g,%.12g,%zu,%" PRIu64 ",%d,%s,%.9g,%.9g,%.6f,%.3f\n",
                     r->x, r->log10_lr, r->lr, r->restart, r->seed, r->exploded, exploded_at,
                     r->train_loss, r->test_loss, r->test_acc, r->seconds);
    return n < 0 || (size_t)n >= capacity ? -1 : n;
}

/* strtod of one comma-separated field; advances *p past the comma. "nan" parses as NaN. */
static int next_double(const char **p, double *out) {
    char *end;
    *out = strtod(*p, &end);
    if (end == *p || (*end != ',' && *end != '\0')) return -1;
    *p = *end == ',' ? end + 1 : end;
    return 0;
}

static int next_unsigned(const char **p, uint64_t *out) {
    char *end;
    if (**p < '0' || **p > '9') return -1;
    errno = 0;
    unsigned long long v = strtoull(*p, &end, 10);
    if (errno == ERANGE || (*end != ',' && *end != '\0' && *end != ':')) return -1;
    *out = v;
    *p = end;
    return 0;
}

static int expect(const char **p, char c) {
    if (**p != c) return -1;
    (*p)++;
    return 0;
}

static int parse_exploded_at(const char **p, bn_run_record *r) {
    uint64_t epoch = 0, step = 0;
    if (**p == ',') {
        (*p)++;
        return r->exploded ? -1 : 0;
    }
    if (next_unsigned(p, &epoch) || expect(p, ':') || next_unsigned(p, &step) || expect(p, ','))
        return -1;
    r->exploded_epoch = (size_t)epoch;
    r->exploded_step = (size_t)step;
    return r->exploded ? 0 : -1;
}

int run_parse(const char *line, bn_run_record *r) {
    memset(r, 0, sizeof *r);
    const char *p = line;
    uint64_t restart, exploded;
    if (next_double(&p, &r->x) || next_double(&p, &r->log10_lr) || next_double(&p, &r->lr) ||
        next_unsigned(&p, &restart) || expect(&p, ',') || next_unsigned(&p, &r->seed) ||
        expect(&p, ',') || next_unsigned(&p, &exploded) || expect(&p, ',') || exploded > 1)
        return -1;
    r->restart = (size_t)restart;
    r->exploded = (int)exploded;
    if (parse_exploded_at(&p, r) || next_double(&p, &r->train_loss) ||
        next_double(&p, &r->test_loss) || next_double(&p, &r->test_acc) ||
        next_double(&p, &r->seconds) || *p != '\0')
        return -1;
    if (!isfinite(r->x) || !isfinite(r->log10_lr)) return -1;
    return 0;
}

void run_key(char *buf, size_t capacity, double x, double log10_lr, size_t restart) {
    snprintf(buf, capacity, "%.12g|%.12g|%zu", x, log10_lr, restart);
}

static int write_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t n = write(fd, data, length);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += n;
        length -= (size_t)n;
    }
    return 0;
}

/* Length of the complete-lines prefix of the file (up to and including its last newline). */
static int complete_prefix(int fd, off_t size, off_t *prefix) {
    char buf[4096];
    off_t end = size;
    while (end > 0) {
        size_t chunk = end > (off_t)sizeof buf ? sizeof buf : (size_t)end;
        if (pread(fd, buf, chunk, end - (off_t)chunk) != (ssize_t)chunk) return -1;
        for (size_t i = chunk; i-- > 0;)
            if (buf[i] == '\n') {
                *prefix = end - (off_t)chunk + (off_t)i + 1;
                return 0;
            }
        end -= (off_t)chunk;
    }
    *prefix = 0;
    return 0;
}

int run_log_open(bn_run_log *log, const char *path, const char *x_name, int fresh,
                 size_t *torn_bytes, bn_error *err) {
    memset(log, 0, sizeof *log);
    log->fd = -1;
    *torn_bytes = 0;
    snprintf(log->path, sizeof log->path, "%s", path);
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | (fresh ? O_TRUNC : 0), 0644);
    if (fd < 0) return bn_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    off_t prefix = 0;
    if (fstat(fd, &st) || complete_prefix(fd, st.st_size, &prefix)) {
        close(fd);
        return bn_fail(err, "%s: cannot read: %s", path, strerror(errno));
    }
    if (prefix < st.st_size) {
        /* A kill mid-write left a partial record: cut it so that appends start clean. */
        if (ftruncate(fd, prefix) || fsync(fd)) {
            close(fd);
            return bn_fail(err, "%s: cannot drop the torn last line: %s", path, strerror(errno));
        }
        *torn_bytes = (size_t)(st.st_size - prefix);
    }
    if (prefix == 0) {
        char header[256];
        int n = runs_header(header, sizeof header, x_name);
        if (n < 0 || write_all(fd, header, (size_t)n) || fsync(fd)) {
            close(fd);
            return bn_fail(err, "%s: cannot write: %s", path, strerror(errno));
        }
    }
    log->fd = fd;
    return 0;
}

int run_log_append(bn_run_log *log, const bn_run_record *r, bn_error *err) {
    char line[512];
    int n = run_format(line, sizeof line, r);
    if (n < 0) return bn_fail(err, "%s: record too long", log->path);
    /* One write of the whole line: a kill can tear it, but never interleave two records. */
    if (write_all(log->fd, line, (size_t)n) || fsync(log->fd))
        return bn_fail(err, "%s: cannot append: %s", log->path, strerror(errno));
    return 0;
}

void run_log_close(bn_run_log *log) {
    if (log->fd >= 0) close(log->fd);
    log->fd = -1;
}

/* Counts the lines; each complete line (ending in a newline) after the header is parsed. */
static int parse_records(const char *path, char *text, size_t length, bn_run_record *records,
                         size_t *n, size_t *torn, bn_error *err) {
    size_t line_no = 0;
    char *p = text, *end = text + length;
    *n = 0;
    while (p < end) {
        char *newline = memchr(p, '\n', (size_t)(end - p));
        line_no++;
        if (!newline) {
            (*torn)++;
            break;
        }
        *newline = '\0';
        if (line_no > 1 && *p != '\0') {
            if (run_parse(p, &records[*n]))
                return bn_fail(err, "%s: line %zu is not a valid run record", path, line_no);
            (*n)++;
        }
        p = newline + 1;
    }
    return 0;
}

int run_log_read(const char *path, bn_run_record **records, size_t *n, size_t *torn,
                 bn_error *err) {
    *records = NULL;
    *n = 0;
    *torn = 0;
    if (access(path, F_OK) != 0) return 0;
    char *text;
    size_t length;
    if (read_file(path, &text, &length, err)) return -1;
    size_t lines = 1;
    for (size_t i = 0; i < length; i++)
        lines += text[i] == '\n';
    bn_run_record *r = malloc(lines * sizeof *r);
    if (!r) {
        free(text);
        return bn_fail(err, "%s: out of memory", path);
    }
    int status = parse_records(path, text, length, r, n, torn, err);
    free(text);
    if (status) {
        free(r);
        *n = 0;
        return -1;
    }
    *records = r;
    return 0;
}
