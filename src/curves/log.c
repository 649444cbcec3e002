/* curves.csv, written and read back. */
#include "curves/log.h"

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

#define IDENTITY_PREFIX "# bntrain curves config "
#define HEADER                                                                                     \
    "gamma,restart,seed,epoch,lr,train_loss,train_acc,test_loss,test_acc,exploded,seconds\n"

int curves_record_format(char *buf, size_t capacity, const curves_record *r) {
    int n = snprintf(buf, capacity, "%.12g,%zu,%" PRIu64 ",%zu,%.12g,%.9g,%.9g,%.9g,%.9g,%d,%.3f\n",
                     r->gamma, r->restart, r->seed, r->epoch, r->lr, r->train_loss, r->train_acc,
                     r->test_loss, r->test_acc, r->exploded, r->seconds);
    return n < 0 || (size_t)n >= capacity ? -1 : n;
}

/* strtod that must consume a field up to the next comma or the end; "nan" allowed. */
static int field_double(const char **p, double *out) {
    char *end;
    *out = strtod(*p, &end);
    if (end == *p || (*end != ',' && *end != '\0')) return -1;
    *p = *end == ',' ? end + 1 : end;
    return 0;
}

static int field_u64(const char **p, uint64_t *out) {
    char *end;
    if (**p < '0' || **p > '9') return -1;
    errno = 0;
    *out = strtoull(*p, &end, 10);
    if (errno || (*end != ',' && *end != '\0')) return -1;
    *p = *end == ',' ? end + 1 : end;
    return 0;
}

int curves_record_parse(const char *line, curves_record *r) {
    const char *p = line;
    uint64_t restart, epoch, exploded;
    if (field_double(&p, &r->gamma) || field_u64(&p, &restart) || field_u64(&p, &r->seed) ||
        field_u64(&p, &epoch) || field_double(&p, &r->lr) || field_double(&p, &r->train_loss) ||
        field_double(&p, &r->train_acc) || field_double(&p, &r->test_loss) ||
        field_double(&p, &r->test_acc) || field_u64(&p, &exploded) ||
        field_double(&p, &r->seconds) || *p != '\0')
        return -1;
    if (epoch == 0 || exploded > 1 || !isfinite(r->gamma) || restart > 1000000) return -1;
    r->restart = (size_t)restart;
    r->epoch = (size_t)epoch;
    r->exploded = (int)exploded;
    return 0;
}

int curves_record_round_trip(const curves_record *r, curves_record *stored) {
    char line[512];
    int n = curves_record_format(line, sizeof line, r);
    if (n < 0) return -1;
    line[n - 1] = '\0';
    return curves_record_parse(line, stored);
}

/* Equal values, NaN equal to NaN. */
static int same_value(double a, double b) {
    return a == b || (isnan(a) && isnan(b));
}

int curves_record_same(const curves_record *a, const curves_record *b) {
    return same_value(a->gamma, b->gamma) && a->restart == b->restart && a->seed == b->seed &&
           a->epoch == b->epoch && same_value(a->lr, b->lr) &&
           same_value(a->train_loss, b->train_loss) && same_value(a->train_acc, b->train_acc) &&
           same_value(a->test_loss, b->test_loss) && same_value(a->test_acc, b->test_acc) &&
           a->exploded == b->exploded;
}

static int identity_text(char *buf, size_t capacity, uint64_t identity) {
    int n = snprintf(buf, capacity, IDENTITY_PREFIX "%016" PRIx64 "\n" HEADER, identity);
    return n < 0 || (size_t)n >= capacity ? -1 : n;
}

/* The first two lines of a log against the expected ones: 0 the same, -1 refused. */
static int check_head(const char *path, const char *text, const char *expected, bn_error *err) {
    size_t head = strlen(expected);
    if (strncmp(text, expected, head) == 0) return 0;
    if (strncmp(text, IDENTITY_PREFIX, strlen(IDENTITY_PREFIX)) == 0)
        return bn_fail(err,
                       "%s belongs to another configuration (its first line: %.*s); use "
                       "another --out, or --force to start afresh",
                       path, (int)strcspn(text, "\n"), text);
    return bn_fail(err,
                   "%s does not start with a curves identity line: not a curves log of "
                   "bntrain; use another --out, or --force to start afresh",
                   path);
}

int curves_log_open(curves_log *log, const char *path, uint64_t identity, int fresh,
                    bn_error *err) {
    log->fd = -1;
    snprintf(log->path, sizeof log->path, "%s", path);
    char head[512];
    int head_length = identity_text(head, sizeof head, identity);
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | (fresh ? O_TRUNC : 0), 0644);
    if (fd < 0) return bn_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    off_t prefix = 0;
    char start[512] = "";
    if (fstat(fd, &st) || file_complete_prefix(fd, st.st_size, &prefix) ||
        pread(fd, start, sizeof start - 1, 0) < 0) {
        close(fd);
        return bn_fail(err, "%s: cannot read: %s", path, strerror(errno));
    }
    if (prefix > 0 && check_head(path, start, head, err)) {
        close(fd);
        return -1;
    }
    if (prefix < (off_t)head_length) prefix = 0; /* cut inside the head: write it again */
    if ((prefix < st.st_size && (ftruncate(fd, prefix) || fsync(fd))) ||
        (prefix == 0 && (file_write_all(fd, head, (size_t)head_length) || fsync(fd)))) {
        close(fd);
        return bn_fail(err, "%s: cannot write: %s", path, strerror(errno));
    }
    log->fd = fd;
    return 0;
}

int curves_log_append(curves_log *log, const curves_record *r, curves_record *stored,
                      bn_error *err) {
    char line[512];
    int n = curves_record_format(line, sizeof line, r);
    if (n < 0) return bn_fail(err, "%s: record too long", log->path);
    if (file_append_record(log->fd, line, (size_t)n, log->path, err)) return -1;
    line[n - 1] = '\0';
    if (curves_record_parse(line, stored))
        return bn_fail(err, "%s: a record does not read back", log->path);
    return 0;
}

void curves_log_close(curves_log *log) {
    if (log->fd >= 0) close(log->fd);
    log->fd = -1;
}

/* Whether records[0, n) already holds r's (gamma, restart, epoch). */
static long find_key(const curves_record *records, size_t n, const curves_record *r) {
    for (size_t i = 0; i < n; i++)
        if (records[i].gamma == r->gamma && records[i].restart == r->restart &&
            records[i].epoch == r->epoch)
            return (long)i;
    return -1;
}

static int parse_lines(const char *path, char *text, curves_record **records, size_t *n,
                       bn_error *err) {
    size_t line_number = 2, capacity = 0;
    char *line = strchr(strchr(text, '\n') + 1, '\n') + 1;
    for (char *end; (end = strchr(line, '\n')) != NULL; line = end + 1) {
        *end = '\0';
        line_number++;
        curves_record r;
        if (curves_record_parse(line, &r))
            return bn_fail(err, "%s: line %zu is not a curves record", path, line_number);
        if (find_key(*records, *n, &r) >= 0)
            return bn_fail(err,
                           "%s: line %zu: gamma %g, restart %zu, epoch %zu is recorded "
                           "twice",
                           path, line_number, r.gamma, r.restart, r.epoch);
        if (*n == capacity) {
            capacity = capacity ? 2 * capacity : 256;
            curves_record *grown = realloc(*records, capacity * sizeof *grown);
            if (!grown) return bn_fail(err, "out of memory reading %s", path);
            *records = grown;
        }
        (*records)[(*n)++] = r;
    }
    return 0;
}

int curves_log_read(const char *path, uint64_t identity, curves_record **records, size_t *n,
                    bn_error *err) {
    *records = NULL;
    *n = 0;
    char *text;
    size_t length;
    if (access(path, F_OK) != 0) return 0;
    if (read_file(path, &text, &length, err)) return -1;
    char head[512];
    identity_text(head, sizeof head, identity);
    int status = 0;
    if (length >= strlen(head)) {
        status = check_head(path, text, head, err);
        if (status == 0) status = parse_lines(path, text, records, n, err);
    }
    free(text);
    if (status) {
        free(*records);
        *records = NULL;
        *n = 0;
    }
    return status;
}
