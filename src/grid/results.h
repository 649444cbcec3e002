/* The append-only run log of a grid (runs.csv). Its first line is the identity of the grid's
 * configuration (grid/identity.h), its second the CSV header. Every record ends with a newline
 * and is fsync'd before the next one starts, so a kill -9 leaves at most one torn last line,
 * which readers drop. Whole-file writes (cells.csv, config.json) go through base/file.h. */
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

/* What a run log holds: no complete record (RUN_LOG_EMPTY: missing, empty, or its header
 * alone, as a kill while it was created leaves it), records of the configuration its first
 * line names (RUN_LOG_IDENTIFIED, *identity set), or records under no identity line
 * (RUN_LOG_UNIDENTIFIED: written before identity lines existed, or not a run log). -1 on a
 * read error. */
enum { RUN_LOG_EMPTY, RUN_LOG_IDENTIFIED, RUN_LOG_UNIDENTIFIED };
int run_log_identity(const char *path, uint64_t *identity, bn_error *err);

/* Opens (creating if needed, truncating if fresh) the run log of the configuration `identity`.
 * A torn last line (no final newline) is cut off the file, and reported through *torn_bytes.
 * The identity line and the header are written to a file without a record; a file whose
 * records belong to another configuration, or to none, is refused and left alone. */
int run_log_open(bn_run_log *log, const char *path, const char *x_name, uint64_t identity,
                 int fresh, size_t *torn_bytes, bn_error *err);
/* Appends one record with a single write, then fsync. *stored is the record as the file holds
 * it (parsed back from the line written), so that summaries never depend on whether a run was
 * trained in this process or read back from the file. */
int run_log_append(bn_run_log *log, const bn_run_record *r, bn_run_record *stored,
                   bn_error *err);
void run_log_close(bn_run_log *log);

/* Reads every complete record after the identity line and the header; a torn last line is
 * skipped (counted in *torn). A malformed complete line, or a run recorded twice (the same x,
 * log10_lr and restart: which one to trust cannot be known), is an error naming the file and
 * the lines. *records is malloc'd. A missing file reads as zero records. */
int run_log_read(const char *path, bn_run_record **records, size_t *n, size_t *torn, bn_error *err);
/* The same, with (*lines)[i] the line number of record i (malloc'd too). */
int run_log_read_lines(const char *path, bn_run_record **records, size_t **lines, size_t *n,
                       size_t *torn, bn_error *err);

#endif
