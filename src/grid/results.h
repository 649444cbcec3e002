/* The append-only run log of a grid (runs.csv). Every record ends with a newline and is
 * fsync'd before the next one starts, so a kill -9 leaves at most one torn last line, which
 * readers drop. Whole-file writes (cells.csv, config.json) go through base/file.h. */
#ifndef BNTRAIN_RESULTS_H
#define BNTRAIN_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/error.h"

typedef struct {
    double x; /* gamma, or sigma_w^2 for a vanilla sigma_w^2 sweep */
    double log10_lr, lr;
    size_t restart;
    uint64_t seed;
    int exploded;
    size_t exploded_epoch, exploded_step;            /* 0 if not exploded */
    double train_loss, test_loss, test_acc, seconds; /* NaN when exploded */
} bn_run_record;

/* runs.csv header for an x column named x_name ("gamma" or "sigma_w2"). */
int runs_header(char *buf, size_t capacity, const char *x_name);
/* One record as a CSV line with its newline; returns the length or -1 if it does not fit. */
int run_format(char *buf, size_t capacity, const bn_run_record *r);
/* Parses one line (without newline); returns 0 or -1. */
int run_parse(const char *line, bn_run_record *r);
/* The key that identifies a run in a grid: x and log10_lr at 12 significant digits, restart. */
void run_key(char *buf, size_t capacity, double x, double log10_lr, size_t restart);

typedef struct {
    int fd;
    char path[4096];
} bn_run_log;

/* Opens (creating if needed, truncating if fresh) the run log. A torn last line (no final
 * newline) is cut off the file, and reported through *torn_bytes. The header is written to
 * a new or empty file. */
int run_log_open(bn_run_log *log, const char *path, const char *x_name, int fresh,
                 size_t *torn_bytes, bn_error *err);
/* Appends one record with a single write, then fsync. */
int run_log_append(bn_run_log *log, const bn_run_record *r, bn_error *err);
void run_log_close(bn_run_log *log);

/* Reads every complete record; a torn last line is skipped (counted in *torn). A malformed
 * complete line is an error naming the file and line. *records is malloc'd. A missing file
 * reads as zero records. */
int run_log_read(const char *path, bn_run_record **records, size_t *n, size_t *torn, bn_error *err);

#endif
