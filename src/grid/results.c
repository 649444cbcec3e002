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
#include "grid/identity.h"

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



/* Reads up to capacity - 1 bytes from the start of fd into buf, NUL-terminated. */
static int read_start(int fd, char *buf, size_t capacity, size_t *length) {
    ssize_t n = pread(fd, buf, capacity - 1, 0);
    if (n < 0) return -1;
    buf[n] = '\0';
    *length = (size_t)n;
    return 0;
}

/* Newlines among the first length bytes of text, NUL bytes included, counting up to at_most. */
static size_t count_newlines(const char *text, size_t length, size_t at_most) {
    size_t n = 0;
    for (size_t i = 0; i < length && n < at_most; i++)
        n += text[i] == '\n';
    return n;
}

/* Enough of a log's start for its two header lines and a first record (at most 512 bytes). */
enum { LOG_START_BYTES = 2048 };

/* The identity of a log from its first length bytes (see run_log_identity): a log without a
 * complete record is empty, whatever its header says (a kill as it was created, or an older
 * header alone), so that it can be started again; one with records names its configuration or
 * not. A start that fills LOG_START_BYTES without a record is not a log bntrain left empty (its
 * lines are shorter): it is never taken for empty, since an empty log is started again. */
static int identity_of(const char *start, size_t length, uint64_t *identity) {
    char line[128] = "";
    size_t n = strcspn(start, "\n");
    if (n < sizeof line) memcpy(line, start, n);
    int identified = identity_parse(line, identity) == 0;
    size_t header_lines = identified ? 2 : 1;
    if (length < LOG_START_BYTES - 1 &&
        count_newlines(start, length, header_lines + 1) <= header_lines)
        return RUN_LOG_EMPTY;
    return identified ? RUN_LOG_IDENTIFIED : RUN_LOG_UNIDENTIFIED;
}

int run_log_identity(const char *path, uint64_t *identity, bn_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return RUN_LOG_EMPTY;
        return bn_fail(err, "%s: cannot open: %s", path, strerror(errno));
    }
    char start[LOG_START_BYTES];
    size_t length;
    int status = read_start(fd, start, sizeof start, &length);
    close(fd);
    if (status) return bn_fail(err, "%s: cannot read: %s", path, strerror(errno));
    return identity_of(start, length, identity);
}

/* The two header lines of a log: its identity, then the CSV header. */
static int log_header(char *buf, size_t capacity, const char *x_name, uint64_t identity) {
    int a = identity_line(buf, capacity, identity);
    int b = a < 0 ? -1 : runs_header(buf + a, capacity - (size_t)a, x_name);
    return b < 0 ? -1 : a + b;
}

/* Checks an existing log's header against the expected one. A log without a record (see
 * identity_of) is started again: *rewrite. */
static int check_header(int fd, const char *path, uint64_t want, int *rewrite, bn_error *err) {
    char start[LOG_START_BYTES];
    size_t length;
    uint64_t have = 0;
    if (read_start(fd, start, sizeof start, &length))
        return bn_fail(err, "%s: cannot read: %s", path, strerror(errno));
    int state = identity_of(start, length, &have);
    *rewrite = state == RUN_LOG_EMPTY;
    if (state == RUN_LOG_UNIDENTIFIED)
        return bn_fail(err,
                       "%s: no identity line: written by an older bntrain or not a run log; "
                       "use --force to start afresh",
                       path);
    if (state == RUN_LOG_IDENTIFIED && have != want)
        return bn_fail(err,
                       "%s: belongs to configuration %016" PRIx64 ", not to this grid's "
                       "%016" PRIx64 "; use another --out, or --force to start afresh",
                       path, have, want);
    return 0;
}

int run_log_open(bn_run_log *log, const char *path, const char *x_name, uint64_t identity,
                 int fresh, size_t *torn_bytes, bn_error *err) {
    memset(log, 0, sizeof *log);
    log->fd = -1;
    *torn_bytes = 0;
    snprintf(log->path, sizeof log->path, "%s", path);
    char header[512];
    int header_length = log_header(header, sizeof header, x_name, identity);
    if (header_length < 0) return bn_fail(err, "%s: header too long", path);
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | (fresh ? O_TRUNC : 0), 0644);
    if (fd < 0) return bn_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    off_t prefix = 0;
    int rewrite = 0;
    if (fstat(fd, &st) || file_complete_prefix(fd, st.st_size, &prefix)) {
        close(fd);
        return bn_fail(err, "%s: cannot read: %s", path, strerror(errno));
    }
    if (check_header(fd, path, identity, &rewrite, err)) {
        close(fd);
        return -1;
    }
    if (rewrite) prefix = 0;
    if (prefix < st.st_size) {
        /* A kill mid-write left a partial record: cut it so that appends start clean. */
        if (ftruncate(fd, prefix) || fsync(fd)) {
            close(fd);
            return bn_fail(err, "%s: cannot drop the torn last line: %s", path, strerror(errno));
        }
        *torn_bytes = rewrite ? 0 : (size_t)(st.st_size - prefix);
    }
    if (prefix == 0 && (file_write_all(fd, header, (size_t)header_length) || fsync(fd))) {
        close(fd);
        return bn_fail(err, "%s: cannot write: %s", path, strerror(errno));
    }
    log->fd = fd;
    return 0;
}

int run_log_append(bn_run_log *log, const bn_run_record *r, bn_run_record *stored, bn_error *err) {
    char line[512];
    int n = run_format(line, sizeof line, r);
    if (n < 0) return bn_fail(err, "%s: record too long", log->path);
    if (file_append_record(log->fd, line, (size_t)n, log->path, err)) return -1;
    line[n - 1] = '\0';
    if (run_parse(line, stored)) return bn_fail(err, "%s: a record does not parse back", log->path);
    return 0;
}

void run_log_close(bn_run_log *log) {
    if (log->fd >= 0) close(log->fd);
    log->fd = -1;
}

/* Each complete line after the two header lines is parsed; line[i] is record i's line. */
static int parse_records(const char *path, char *text, size_t length, bn_run_record *records,
                         size_t *line, size_t *n, size_t *torn, bn_error *err) {
    size_t line_no = 0;
    char *p = text, *end = text + length;
    uint64_t identity;
    *n = 0;
    while (p < end) {
        char *newline = memchr(p, '\n', (size_t)(end - p));
        line_no++;
        if (!newline) {
            (*torn)++;
            break;
        }
        *newline = '\0';
        if (line_no == 1 && identity_parse(p, &identity))
            return bn_fail(err,
                           "%s: no identity line: written by an older bntrain or not a run "
                           "log",
                           path);
        if (line_no > 2 && *p != '\0') {
            if (run_parse(p, &records[*n]))
                return bn_fail(err, "%s: line %zu is not a valid run record", path, line_no);
            line[(*n)++] = line_no;
        }
        p = newline + 1;
    }
    return 0;
}

typedef struct {
    double x, log10_lr;
    size_t restart, line;
} run_place;

static int compare_places(const void *a, const void *b) {
    const run_place *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    if (p->log10_lr != q->log10_lr) return p->log10_lr < q->log10_lr ? -1 : 1;
    if (p->restart != q->restart) return p->restart < q->restart ? -1 : 1;
    return (p->line > q->line) - (p->line < q->line);
}

/* A run recorded twice is an error naming it and its first two lines. */
static int refuse_duplicates(const char *path, const char *text, const bn_run_record *records,
                             const size_t *line, size_t n, bn_error *err) {
    run_place *places = malloc((n ? n : 1) * sizeof *places);
    if (!places) return bn_fail(err, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++)
        places[i] = (run_place){records[i].x, records[i].log10_lr, records[i].restart, line[i]};
    qsort(places, n, sizeof *places, compare_places);
    int status = 0;
    for (size_t i = 1; i < n && status == 0; i++) {
        const run_place *a = &places[i - 1], *b = &places[i];
        if (a->x != b->x || a->log10_lr != b->log10_lr || a->restart != b->restart) continue;
        /* parse_records ended each line with a NUL: the header is the second line, and its
         * first column names x */
        const char *header = text + strlen(text) + 1;
        int x_name_length = (int)strcspn(header, ",");
        status =
            bn_fail(err,
                    "%s: the run %.*s=%.12g log10_lr=%.12g restart %zu is recorded twice, "
                    "on lines %zu and %zu; a run is recorded once, so the file was edited "
                    "or joined with another: keep one of the lines, or use --force to "
                    "start afresh",
                    path, x_name_length, header, a->x, a->log10_lr, a->restart, a->line, b->line);
    }
    free(places);
    return status;
}

int run_log_read(const char *path, bn_run_record **records, size_t *n, size_t *torn,
                 bn_error *err) {
    size_t *lines;
    int status = run_log_read_lines(path, records, &lines, n, torn, err);
    free(lines);
    return status;
}

int run_log_read_lines(const char *path, bn_run_record **records, size_t **lines, size_t *n,
                       size_t *torn, bn_error *err) {
    *records = NULL;
    *lines = NULL;
    *n = 0;
    *torn = 0;
    if (access(path, F_OK) != 0) return 0;
    char *text;
    size_t length;
    if (read_file(path, &text, &length, err)) return -1;
    size_t count = 1;
    for (size_t i = 0; i < length; i++)
        count += text[i] == '\n';
    bn_run_record *r = malloc(count * sizeof *r);
    size_t *line = malloc(count * sizeof *line);
    if (!r || !line) {
        free(text);
        free(r);
        free(line);
        return bn_fail(err, "%s: out of memory", path);
    }
    int status = parse_records(path, text, length, r, line, n, torn, err);
    if (status == 0) status = refuse_duplicates(path, text, r, line, *n, err);
    free(text);
    if (status) {
        free(r);
        free(line);
        *n = 0;
        return -1;
    }
    *records = r;
    *lines = line;
    return 0;
}
