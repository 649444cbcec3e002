/* Shards of a grid: --shard's value, the shard files' names, and the union of a folder's run
 * logs. */
#include "grid/shard.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grid/results.h"

/* A whole number in [1, MAX_SHARDS] written plainly (no sign, space or leading zero), so that
 * a K/N read back formats to the same text: the file name is the shard's identity. */
static int parse_shard_number(const char *text, size_t length, size_t *out) {
    if (length == 0 || length > 5 || text[0] == '0') return -1;
    size_t v = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] < '0' || text[i] > '9') return -1;
        v = v * 10 + (size_t)(text[i] - '0');
    }
    if (v > MAX_SHARDS) return -1;
    *out = v;
    return 0;
}

int shard_parse(const char *text, size_t *k, size_t *n, bn_error *err) {
    if (strcmp(text, "auto") == 0) return shard_from_slurm(k, n, err);
    const char *slash = strchr(text, '/');
    if (!slash || parse_shard_number(text, (size_t)(slash - text), k) ||
        parse_shard_number(slash + 1, strlen(slash + 1), n))
        return bn_fail(err, "--shard: '%s' is not K/N (whole numbers, 1 <= K <= N <= %d) or auto",
                       text, MAX_SHARDS);
    if (*k > *n)
        return bn_fail(err, "--shard: '%s': shard %zu of %zu does not exist", text, *k, *n);
    return 0;
}

/* A Slurm variable holding a whole number; -1 naming it if it is unset or not one. */
static int slurm_number(const char *name, long *out, bn_error *err) {
    const char *text = getenv(name);
    if (!text || !*text)
        return bn_fail(err,
                       "--shard auto: %s is not set: run inside a Slurm job array (sbatch "
                       "--array), or give --shard K/N",
                       name);
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (*end != '\0' || errno == ERANGE || v < 0 || v > 100000000)
        return bn_fail(err, "--shard auto: %s='%s' is not a task id or count", name, text);
    *out = v;
    return 0;
}

int shard_from_slurm(size_t *k, size_t *n, bn_error *err) {
    long id, count, min, max;
    if (slurm_number("SLURM_ARRAY_TASK_ID", &id, err) ||
        slurm_number("SLURM_ARRAY_TASK_COUNT", &count, err) ||
        slurm_number("SLURM_ARRAY_TASK_MIN", &min, err) ||
        slurm_number("SLURM_ARRAY_TASK_MAX", &max, err))
        return -1;
    if (count < 1 || count > MAX_SHARDS)
        return bn_fail(err, "--shard auto: SLURM_ARRAY_TASK_COUNT=%ld is not between 1 and %d",
                       count, MAX_SHARDS);
    if (max - min + 1 != count)
        return bn_fail(err,
                       "--shard auto: SLURM_ARRAY_TASK_COUNT=%ld but the ids run from %ld to "
                       "%ld (SLURM_ARRAY_TASK_MIN, _MAX): the array's ids must be contiguous, "
                       "as --array=0-%ld or --array=1-%ld",
                       count, min, max, count - 1, count);
    if (id < min || id > max)
        return bn_fail(err, "--shard auto: SLURM_ARRAY_TASK_ID=%ld is not between %ld and %ld", id,
                       min, max);
    *k = (size_t)(id - min + 1);
    *n = (size_t)count;
    return 0;
}

void shard_log_name(char *buf, size_t capacity, size_t k, size_t n) {
    if (n == 0)
        snprintf(buf, capacity, "runs.csv");
    else
        snprintf(buf, capacity, "runs.%zu-of-%zu.csv", k, n);
}

int shard_parse_log_name(const char *name, size_t *k, size_t *n) {
    size_t a, b;
    char again[64];
    if (sscanf(name, "runs.%zu-of-%zu.csv", &a, &b) != 2 || a < 1 || a > b || b > MAX_SHARDS)
        return -1;
    shard_log_name(again, sizeof again, a, b);
    if (strcmp(again, name) != 0) return -1;
    *k = a;
    *n = b;
    return 0;
}

/* ---- the union of a folder's run logs -------------------------------------------------- */

typedef struct {
    char name[64];
    size_t k, n; /* n 0: runs.csv */
} log_file;

static int compare_logs(const void *a, const void *b) {
    const log_file *p = a, *q = b;
    if (p->n != q->n) return p->n < q->n ? -1 : 1;
    return (p->k > q->k) - (p->k < q->k);
}

/* The run logs of dir, runs.csv first then by shard; *logs malloc'd. */
static int list_logs(const char *dir, log_file **logs, size_t *n_logs, bn_error *err) {
    *logs = NULL;
    *n_logs = 0;
    DIR *d = opendir(dir);
    if (!d) return bn_fail(err, "%s: cannot list: %s", dir, strerror(errno));
    size_t capacity = 0;
    struct dirent *entry;
    int status = 0;
    while ((entry = readdir(d)) != NULL) {
        log_file f = {.k = 0, .n = 0};
        size_t length = strlen(entry->d_name);
        if (length >= sizeof f.name || (strcmp(entry->d_name, "runs.csv") != 0 &&
                                        shard_parse_log_name(entry->d_name, &f.k, &f.n)))
            continue;
        memcpy(f.name, entry->d_name, length + 1);
        if (*n_logs == capacity) {
            capacity = capacity ? 2 * capacity : 16;
            log_file *bigger = realloc(*logs, capacity * sizeof *bigger);
            if (!bigger) {
                status = bn_fail(err, "%s: out of memory listing the run logs", dir);
                break;
            }
            *logs = bigger;
        }
        (*logs)[(*n_logs)++] = f;
    }
    closedir(d);
    if (status) {
        free(*logs);
        *logs = NULL;
        *n_logs = 0;
    } else if (*n_logs) {
        qsort(*logs, *n_logs, sizeof **logs, compare_logs);
    }
    return status;
}

int shard_logs_present(const char *dir) {
    log_file *logs;
    size_t n_logs, shards = 0;
    if (list_logs(dir, &logs, &n_logs, NULL)) return -1;
    for (size_t i = 0; i < n_logs; i++)
        shards += logs[i].n > 0;
    free(logs);
    return shards > 0;
}

int shard_check_split(const char *dir, size_t n, bn_error *err) {
    log_file *logs;
    size_t n_logs;
    if (list_logs(dir, &logs, &n_logs, err)) return -1;
    int status = 0;
    for (size_t i = 0; i < n_logs && status == 0; i++)
        if (logs[i].n && logs[i].n != n)
            status = bn_fail(err,
                             "%s holds %s, a shard of a split into %zu, not %zu: a grid is split "
                             "one way; use the same N, or another --out",
                             dir, logs[i].name, logs[i].n, n)
                         ? 1
                         : 0;
    free(logs);
    return status;
}

/* Shard files of one split only: the slices of another N hold other runs. */
static int check_one_split(const char *dir, const log_file *logs, size_t n_logs, size_t *n_shards,
                           bn_error *err) {
    const log_file *first = NULL;
    for (size_t i = 0; i < n_logs; i++) {
        if (logs[i].n == 0) continue;
        if (!first) first = &logs[i];
        if (logs[i].n != first->n)
            return bn_fail(err,
                           "%s holds shards of two splits, %s (%zu shards) and %s (%zu "
                           "shards): a grid is split one way; move one set to another folder",
                           dir, first->name, first->n, logs[i].name, logs[i].n);
    }
    *n_shards = first ? first->n : 0;
    return 0;
}

/* A log of this configuration, or empty. */
static int check_log_identity(const char *path, uint64_t identity, bn_error *err) {
    uint64_t have = 0;
    int state = run_log_identity(path, &have, err);
    if (state < 0) return -1;
    if (state == RUN_LOG_UNIDENTIFIED)
        return bn_fail(err, "%s: no identity line: not a run log of this grid; move it away", path);
    if (state == RUN_LOG_IDENTIFIED && have != identity)
        return bn_fail(err,
                       "%s belongs to configuration %016" PRIx64
                       ", not to config.json's %016" PRIx64
                       ": it comes from another grid; move it to that grid's folder",
                       path, have, identity);
    return 0;
}

/* Two records of one run agree if every value but the time taken is the same. */
static int same_values(const bn_run_record *a, const bn_run_record *b) {
    bn_run_record p = *a, q = *b;
    char line_a[512], line_b[512];
    p.seconds = q.seconds = 0.0;
    return run_format(line_a, sizeof line_a, &p) > 0 && run_format(line_b, sizeof line_b, &q) > 0 &&
           strcmp(line_a, line_b) == 0;
}

/* Where each run of the store came from: a log (index + 1; 0: none) and its line. */
typedef struct {
    const char *dir;
    const log_file *logs;
    uint32_t *log_of, *line_of;
} run_sources;

static int add_record(grid_store *store, run_sources *src, size_t log, size_t line,
                      const bn_run_record *r, grid_logs_report *report, bn_error *err) {
    const char *x_name = store->shape.x_name, *name = src->logs[log].name;
    long i = grid_store_index(store, r->x, r->log10_lr, r->restart);
    if (i < 0)
        return bn_fail(err,
                       "%s/%s line %zu: the run %s=%.12g log10_lr=%.12g restart %zu is not in "
                       "this grid",
                       src->dir, name, line, x_name, r->x, r->log10_lr, r->restart);
    if (!store->done[i]) {
        grid_store_add(store, r);
        src->log_of[i] = (uint32_t)(log + 1);
        src->line_of[i] = (uint32_t)line;
        return 0;
    }
    const char *other = src->log_of[i] ? src->logs[src->log_of[i] - 1].name : "(earlier)";
    char where[300];
    snprintf(where, sizeof where,
             "the run %s=%.12g log10_lr=%.12g restart %zu is in %s line %u and in %s line %zu",
             x_name, r->x, r->log10_lr, r->restart, other, src->line_of[i], name, line);
    if (!same_values(&store->runs[i], r))
        return bn_fail(err,
                       "%s: %s with different results: they cannot both be this grid's; "
                       "delete the wrong line",
                       src->dir, where);
    if (report->deduplicated++ == 0)
        snprintf(report->first_duplicate, sizeof report->first_duplicate, "%s", where);
    return 0;
}

static int read_log(const char *dir, uint64_t identity, grid_store *store, run_sources *src,
                    size_t log, grid_logs_report *report, bn_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, src->logs[log].name);
    if (check_log_identity(path, identity, err)) return -1;
    bn_run_record *records;
    size_t *lines, n, torn;
    if (run_log_read_lines(path, &records, &lines, &n, &torn, err)) return -1;
    report->torn_lines += torn;
    int status = 0;
    for (size_t j = 0; j < n && status == 0; j++)
        status = add_record(store, src, log, lines[j], &records[j], report, err);
    free(records);
    free(lines);
    return status;
}

int grid_logs_collect(const char *dir, uint64_t identity, grid_store *store,
                      grid_logs_report *report, bn_error *err) {
    memset(report, 0, sizeof *report);
    const grid_shape *g = &store->shape;
    size_t total = g->n_x * g->n_lr * g->n_restarts;
    log_file *logs;
    size_t n_logs;
    if (list_logs(dir, &logs, &n_logs, err)) return -1;
    run_sources src = {dir, logs, calloc(total ? total : 1, sizeof(uint32_t)),
                       calloc(total ? total : 1, sizeof(uint32_t))};
    int status = src.log_of && src.line_of ? 0 : bn_fail(err, "out of memory for the run logs");
    if (status == 0) status = check_one_split(dir, logs, n_logs, &report->n_shards, err);
    for (size_t i = 0; i < n_logs && status == 0; i++)
        status = read_log(dir, identity, store, &src, i, report, err);
    report->n_logs = n_logs;
    free(src.log_of);
    free(src.line_of);
    free(logs);
    return status;
}
