/* curves.csv: the append-only log of a `bntrain curves` folder, one line per run and epoch.
 * Its first line is the identity of the folder's configuration ("# bntrain curves config
 * <16 hex digits>"), its second the CSV header. A record is one write and an fsync, so a kill
 * leaves at most a torn last line, which opening the log cuts off. */
#ifndef BNTRAIN_CURVES_LOG_H
#define BNTRAIN_CURVES_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/error.h"

typedef struct {
    double gamma;
    size_t restart;
    uint64_t seed;
    size_t epoch;                                      /* 1-based */
    double lr;                                         /* the learning rate of that epoch */
    double train_loss, train_acc, test_loss, test_acc; /* NaN where the run exploded */
    int exploded; /* the run's loss or parameters became non-finite in this epoch: its last */
    double seconds;
} curves_record;

/* One record as a CSV line with its newline; the length, or -1 if it does not fit. */
int curves_record_format(char *buf, size_t capacity, const curves_record *r);
/* Parses one line (without newline); 0 or -1. */
int curves_record_parse(const char *line, curves_record *r);
/* The record as the file would hold it (formatted, then parsed back); 0 or -1. */
int curves_record_round_trip(const curves_record *r, curves_record *stored);
/* Whether two records say the same, all but the seconds (a resumed run's retrained epoch must
 * give the bits the log holds). */
int curves_record_same(const curves_record *a, const curves_record *b);

typedef struct {
    int fd;
    char path[4200];
} curves_log;

/* Opens DIR/curves.csv for appending, creating it (identity line and header) if it holds no
 * line; cuts a torn last line off. A log of another configuration, or without an identity
 * line, is refused (naming the file) and left alone. */
int curves_log_open(curves_log *log, const char *path, uint64_t identity, int fresh, bn_error *err);
/* Appends one record (one write, then fsync); *stored is the record as the file holds it. */
int curves_log_append(curves_log *log, const curves_record *r, curves_record *stored,
                      bn_error *err);
void curves_log_close(curves_log *log);
/* Every complete record (a torn last line skipped); *records is malloc'd. A missing file
 * reads as none; a malformed line or the same (gamma, restart, epoch) twice is an error
 * naming the file and the line. identity: the log must be that configuration's. */
int curves_log_read(const char *path, uint64_t identity, curves_record **records, size_t *n,
                    bn_error *err);

#endif
