/* Fuzz target of the curves.csv reader and opener (src/curves/log.c): the input is a curves
 * log, read as `bntrain curves` reads it when it resumes (curves_log_read, with the identity
 * its first line names, or another), then opened for appending (curves_log_open, which cuts a
 * torn last line). Checked: a failure returns nothing and says one line naming the file;
 * records have a 1-based epoch, an exploded flag of 0 or 1, no (gamma, restart, epoch) twice,
 * and format back to a line that parses to the same line; an opened log ends with a newline
 * and still reads to the same records. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "curves/log.h"
#include "fuzz_common.h"

enum { LINE_BYTES = 2048 };

static void check_round_trip(const curves_record *r) {
    char line[LINE_BYTES], again[LINE_BYTES];
    int n = curves_record_format(line, sizeof line, r);
    FUZZ_CHECK(n > 0 && line[n - 1] == '\n');
    curves_record parsed;
    FUZZ_CHECK(curves_record_round_trip(r, &parsed) == 0);
    int m = curves_record_format(again, sizeof again, &parsed);
    FUZZ_CHECK(m == n && strcmp(line, again) == 0);
}

static void check_records(const curves_record *records, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const curves_record *r = &records[i];
        FUZZ_CHECK(r->epoch >= 1 && (r->exploded == 0 || r->exploded == 1));
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(records[j].gamma != r->gamma || records[j].restart != r->restart ||
                       records[j].epoch != r->epoch);
        check_round_trip(r);
    }
}

/* The number of records, or -1 if the log is refused. */
static long read_log(const char *path, uint64_t identity) {
    curves_record *records;
    size_t n;
    bn_error err;
    if (curves_log_read(path, identity, &records, &n, &err) != 0) {
        FUZZ_CHECK(records == NULL && n == 0);
        fuzz_check_message(&err, path);
        return -1;
    }
    check_records(records, n);
    free(records);
    return (long)n;
}

static void open_log(const char *path, uint64_t identity, long n_records) {
    curves_log log;
    bn_error err;
    if (curves_log_open(&log, path, identity, 0, &err) != 0) {
        fuzz_check_message(&err, path);
        return;
    }
    curves_log_close(&log);
    char *text;
    size_t length;
    FUZZ_CHECK(read_file(path, &text, &length, &err) == 0);
    FUZZ_CHECK(length > 0 && text[length - 1] == '\n');
    free(text);
    /* a log that read before reads the same after (a torn last line was never a record) */
    if (n_records >= 0) FUZZ_CHECK(read_log(path, identity) == n_records);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char dir[FUZZ_PATH_BYTES], path[FUZZ_PATH_BYTES];
    fuzz_dir_create(dir);
    fuzz_join(path, dir, "curves.csv");
    fuzz_write(path, data, size);
    char *text = fuzz_text(data, size);
    uint64_t identity = 0x0123456789abcdefULL;
    sscanf(text, "# bntrain curves config %16" SCNx64, &identity);
    free(text);
    open_log(path, identity, read_log(path, identity));
    fuzz_dir_remove(dir);
    return 0;
}
