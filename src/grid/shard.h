/* A grid split into N shards for a cluster's job array (`bntrain grid --shard K/N`): the
 * names of a shard's files, --shard's value (K/N, or from Slurm's environment), and reading
 * every run log of a folder (runs.csv and runs.K-of-N.csv) into one store, refusing logs of
 * another configuration or of another split and runs recorded twice with other values. */
#ifndef BNTRAIN_GRID_SHARD_H
#define BNTRAIN_GRID_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "bntrain/error.h"
#include "grid/store.h"

/* At most this many shards: a Slurm array rarely has more, and a grid holds 10^7 runs. */
enum { MAX_SHARDS = 10000 };

/* "K/N" (1 <= K <= N <= MAX_SHARDS), or "auto": K and N from the Slurm job array this process
 * is a task of (see shard_from_slurm). -1 with err naming --shard or the variable. */
int shard_parse(const char *text, size_t *k, size_t *n, bn_error *err);

/* K and N from SLURM_ARRAY_TASK_ID, _COUNT, _MIN and _MAX: the task ids must be contiguous
 * (MAX - MIN + 1 == COUNT), and K = ID - MIN + 1, so --array=0-2 and --array=1-3 both give
 * shards 1..3 of 3. getenv is the caller's environment; -1 naming the variable at fault. */
int shard_from_slurm(size_t *k, size_t *n, bn_error *err);

/* The run log of shard K of N, "runs.K-of-N.csv"; "runs.csv" when n is 0 (no shards). */
void shard_log_name(char *buf, size_t capacity, size_t k, size_t n);
/* 0 and K, N if name is a shard's run log as shard_log_name writes it; -1 otherwise. */
int shard_parse_log_name(const char *name, size_t *k, size_t *n);

/* Whether DIR holds a shard's run log (1), none (0), or cannot be listed (-1). */
int shard_logs_present(const char *dir);

/* 0 if DIR holds no shard log of a split other than N shards; 1 naming one if it does (a
 * merge would refuse the folder); -1 if DIR cannot be listed. */
int shard_check_split(const char *dir, size_t n, bn_error *err);

/* What grid_logs_collect read. */
typedef struct {
    size_t n_logs;             /* run logs read (runs.csv and shard files) */
    size_t n_shards;           /* N of the shard files; 0 if there are none */
    size_t deduplicated;       /* runs found in two logs with the same values, counted once */
    size_t torn_lines;         /* torn last lines skipped */
    char first_duplicate[400]; /* where the first of those was, for a note */
} grid_logs_report;

/* Adds to store every run of DIR/runs.csv and of every DIR/runs.K-of-N.csv. Refused (-1,
 * err naming the files): a log of another configuration than `identity` or without an
 * identity line, shard files of different N, a run outside the grid, and a run in two logs
 * with different values (naming both files and lines). The same run with the same values in
 * two logs (a shard rerun by hand, say) is counted once and reported. */
int grid_logs_collect(const char *dir, uint64_t identity, grid_store *store,
                      grid_logs_report *report, bn_error *err);

#endif
