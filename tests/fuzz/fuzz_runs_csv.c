/* Fuzz target of the runs.csv readers (src/grid/results.c): the input is a grid's run log,
 * read as `bntrain grid` reads it when it resumes: its identity (run_log_identity), its
 * records (run_log_read), then opened for appending (run_log_open, which cuts a torn last line
 * and writes the header of a log without records). Checked: a failure returns nothing and says
 * one line naming the file; records hold finite keys, no run twice, and format back to a line
 * that parses to the same line; an opened log ends with a newline and keeps its identity and
 * every record. */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "fuzz_common.h"
#include "grid/results.h"

/* Longer than any formatted record: a %.6f of 1e308 is about 320 characters. */
enum { LINE_BYTES = 2048 };

/* format(parse(format(r))) == format(r): what run_log_append relies on to store a record as
 * the file holds it. */
static void check_round_trip(const bn_run_record *r) {
    char line[LINE_BYTES], again[LINE_BYTES];
    int n = run_format(line, sizeof line, r);
    FUZZ_CHECK(n > 0 && line[n - 1] == '\n');
    line[n - 1] = '\0';
    bn_run_record parsed;
    FUZZ_CHECK(run_parse(line, &parsed) == 0);
    int m = run_format(again, sizeof again, &parsed);
    FUZZ_CHECK(m == n);
    again[m - 1] = '\0';
    FUZZ_CHECK(strcmp(line, again) == 0);
}

static void check_records(const bn_run_record *records, size_t n, size_t torn) {
    FUZZ_CHECK(torn <= 1);
    for (size_t i = 0; i < n; i++) {
        const bn_run_record *r = &records[i];
        FUZZ_CHECK(isfinite(r->x) && isfinite(r->log10_lr));
        FUZZ_CHECK(r->exploded == 0 || r->exploded == 1);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(records[j].x != r->x || records[j].log10_lr != r->log10_lr ||
                       records[j].restart != r->restart);
        check_round_trip(r);
    }
}

/* The number of records, or -1 if the log does not read. */
static long read_log(const char *path) {
    bn_run_record *records;
    size_t n, torn;
    bn_error err;
    if (run_log_read(path, &records, &n, &torn, &err) != 0) {
        FUZZ_CHECK(records == NULL && n == 0);
        fuzz_check_message(&err, path);
        return -1;
    }
    FUZZ_CHECK(records != NULL || n == 0);
    check_records(records, n, torn);
    free(records);
    return (long)n;
}

/* Opens the log as a resumed grid of the identity it names would, then checks what it left:
 * complete lines, the same identity, and every record that read before (n_records). */
static void open_log(const char *path, int state, uint64_t identity, long n_records) {
    bn_run_log log;
    size_t torn_bytes;
    bn_error err;
    if (run_log_open(&log, path, "gamma", identity, 0, &torn_bytes, &err) != 0) {
        FUZZ_CHECK(state == RUN_LOG_UNIDENTIFIED);
        fuzz_check_message(&err, path);
        return;
    }
    run_log_close(&log);
    char *text;
    size_t length;
    FUZZ_CHECK(read_file(path, &text, &length, &err) == 0);
    FUZZ_CHECK(length > 0 && text[length - 1] == '\n');
    free(text);
    uint64_t after = 0;
    int state_after = run_log_identity(path, &after, &err);
    FUZZ_CHECK(state_after == RUN_LOG_EMPTY || state_after == RUN_LOG_IDENTIFIED);
    if (state == RUN_LOG_IDENTIFIED) FUZZ_CHECK(state_after == state && after == identity);
    if (n_records >= 0) FUZZ_CHECK(read_log(path) == n_records);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char dir[FUZZ_PATH_BYTES], path[FUZZ_PATH_BYTES];
    fuzz_dir_create(dir);
    fuzz_join(path, dir, "runs.csv");
    fuzz_write(path, data, size);
    uint64_t identity = 0;
    bn_error err;
    int state = run_log_identity(path, &identity, &err);
    FUZZ_CHECK(state == RUN_LOG_EMPTY || state == RUN_LOG_IDENTIFIED ||
               state == RUN_LOG_UNIDENTIFIED);
    open_log(path, state, identity, read_log(path));
    fuzz_dir_remove(dir);
    return 0;
}
