/* Tests for the run log of a grid (grid/results.h) and the identity of a configuration
 * (grid/identity.h): the runs.csv header, a record formatted and parsed back (exploded runs with
 * NaN losses too), malformed lines refused, run_key's rounding, and the log on disk: open,
 * append (the record handed back as stored), read, a torn last line dropped, counted and cut
 * off, a malformed complete line reported with its file and line, the identity line written,
 * checked and required, a run recorded twice refused with both lines. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */

#include "check.h"
#include "grid/identity.h"
#include "grid/results.h"

#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <unistd.h>

static bn_run_record finished_run(void) {
    bn_run_record r = {0};
    r.x = 0.5;
    r.log10_lr = -1.25;
    r.lr = pow(10.0, -1.25);
    r.restart = 2;
    r.seed = 18446744073709551557ULL; /* a seed needs all 64 bits */
    r.train_loss = (float)0.123456789;
    r.test_loss = (float)0.25;
    r.test_acc = 0.9731;
    r.seconds = 12.5;
    return r;
}

static bn_run_record exploded_run(void) {
    bn_run_record r = finished_run();
    r.restart = 0;
    r.exploded = 1;
    r.exploded_epoch = 3;
    r.exploded_step = 17;
    r.train_loss = r.test_loss = r.test_acc = r.seconds = NAN;
    return r;
}

static void test_header(void) {
    char buf[256];
    int n = runs_header(buf, sizeof buf, "gamma");
    const char *expected = "gamma,log10_lr,lr,restart,seed,exploded,exploded_at,train_loss,"
                           "test_loss,test_acc,seconds\n";
    CHECK(n == (int)strlen(expected) && strcmp(buf, expected) == 0);
    CHECK(runs_header(buf, sizeof buf, "sigma_w2") > 0 &&
          strncmp(buf, "sigma_w2,log10_lr,", 18) == 0);
    CHECK(runs_header(buf, 20, "gamma") == -1);
}

static void test_round_trip(void) {
    char line[512];
    bn_run_record r = finished_run(), back;
    int n = run_format(line, sizeof line, &r);
    CHECK_MSG(n > 0 && strcmp(line, "0.5,-1.25,0.056234132519,2,18446744073709551557,0,,"
                                    "0.123456791,0.25,0.973100,12.500\n") == 0,
              "%s", line);
    CHECK(run_format(line, (size_t)n, &r) == -1); /* no room for the NUL */
    line[n - 1] = '\0';                           /* run_parse takes the line without newline */
    CHECK(run_parse(line, &back) == 0);
    CHECK(back.x == r.x && back.log10_lr == r.log10_lr && back.restart == r.restart);
    CHECK_CLOSE(back.lr, r.lr, 1e-11); /* %.12g: lr is recomputed from log10_lr where it matters */
    CHECK(back.seed == r.seed && back.exploded == 0);
    CHECK(back.exploded_epoch == 0 && back.exploded_step == 0);
    /* %.9g brings a float-valued loss back to the same float */
    CHECK((float)back.train_loss == (float)r.train_loss && back.test_loss == r.test_loss);
    CHECK(back.test_acc == r.test_acc && back.seconds == r.seconds);

    r = exploded_run();
    n = run_format(line, sizeof line, &r);
    CHECK_MSG(n > 0 && strstr(line, ",1,3:17,nan,nan,nan,nan\n") != NULL, "%s", line);
    line[n - 1] = '\0';
    CHECK(run_parse(line, &back) == 0);
    CHECK(back.exploded == 1 && back.exploded_epoch == 3 && back.exploded_step == 17);
    CHECK(isnan(back.train_loss) && isnan(back.test_loss) && isnan(back.test_acc) &&
          isnan(back.seconds));
    CHECK(back.x == r.x && back.restart == 0 && back.seed == r.seed);
}

static void test_malformed(void) {
    const char *bad[] = {
        "",
        "0.5,-1.25,0.05,2,7,0,,0.1,0.2,0.9",                      /* a field short */
        "0.5,-1.25,0.05,2,7,0,,0.1,0.2,0.9,1,2",                  /* a field too many */
        "0.5,-1.25,0.05,2,7,0,,0.1,0.2,0.9,1x",                   /* junk after a number */
        "0.5,-1.25,0.05,-2,7,0,,0.1,0.2,0.9,1",                   /* a negative restart */
        "0.5,-1.25,0.05,2,7,2,,0.1,0.2,0.9,1",                    /* exploded is 0 or 1 */
        "0.5,-1.25,0.05,2,7,1,,nan,nan,nan,nan",                  /* exploded, but not when */
        "0.5,-1.25,0.05,2,7,0,3:17,0.1,0.2,0.9,1",                /* when, but not exploded */
        "0.5,-1.25,0.05,2,7,1,3,nan,nan,nan,nan",                 /* epoch without step */
        "nan,-1.25,0.05,2,7,0,,0.1,0.2,0.9,1",                    /* x must be a number */
        "0.5,inf,0.05,2,7,0,,0.1,0.2,0.9,1",                      /* and log10_lr too */
        "0.5,-1.25,0.05,2,99999999999999999999,0,,0.1,0.2,0.9,1", /* seed beyond 64 bits */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        bn_run_record r;
        CHECK_MSG(run_parse(bad[i], &r) == -1, "accepted: '%s'", bad[i]);
    }
}

/* 12 significant digits: values that differ only in the last bits of a double (0.1 + 0.2 and
 * 0.3, a log10_lr from a loop) are one grid point. */
static void test_run_key(void) {
    char a[128], b[128];
    run_key(a, sizeof a, 0.1 + 0.2, -2.0 + 1e-14, 1);
    run_key(b, sizeof b, 0.3, -2.0, 1);
    CHECK_MSG(strcmp(a, b) == 0 && strcmp(a, "0.3|-2|1") == 0, "'%s' vs '%s'", a, b);
    run_key(b, sizeof b, 0.3, -2.0, 2);
    CHECK(strcmp(a, b) != 0);
    run_key(b, sizeof b, 0.300000000001, -2.0, 1);
    CHECK(strcmp(a, b) != 0);
}

static void append_bytes(const char *path, const char *text) {
    FILE *f = fopen(path, "ab");
    CHECK_MSG(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot append to %s", path);
}

static long file_size(const char *path) {
    struct stat info;
    return stat(path, &info) == 0 ? (long)info.st_size : -1;
}

/* The identity depends on the result keys only, on every one of them, and round-trips. */
static void test_identity(void) {
    const char *json = "{\n  \"version\": \"1.0\",\n  \"dataset\": \"mnist\",\n"
                       "  \"epochs\": 5,\n  \"title_note\": \"a\"\n}\n";
    const char *other_version = "{\n  \"version\": \"2.0\",\n  \"dataset\": \"mnist\",\n"
                                "  \"epochs\": 5,\n  \"title_note\": \"b\"\n}\n";
    const char *other_epochs = "{\n  \"version\": \"1.0\",\n  \"dataset\": \"mnist\",\n"
                               "  \"epochs\": 3,\n  \"title_note\": \"a\"\n}\n";
    uint64_t id = config_identity(json), back = 0;
    CHECK(id == config_identity(other_version));
    CHECK(id != config_identity(other_epochs));
    char line[64];
    int n = identity_line(line, sizeof line, id);
    CHECK_MSG(n == 39 && strncmp(line, "# bntrain grid config ", 22) == 0, "%s", line);
    CHECK(identity_parse(line, &back) == 0 && back == id);
    CHECK(identity_parse("gamma,log10_lr,lr", &back) == -1);
    CHECK(identity_parse("# bntrain grid config 0123", &back) == -1);
    CHECK(identity_line(line, 20, id) == -1);
}

/* A config.json of one grid with `lines` between train_subset and seed. */
static void config_with(char *json, size_t size, const char *lines) {
    snprintf(json, size,
             "{\n  \"dataset\": \"mnist\",\n  \"train_subset\": 0,\n%s  \"seed\": 1\n}\n", lines);
}

/* A config.json from before "augment" and "lr_schedule" means no augmentation and a constant
 * rate: it keeps its identity beside today's text of the same grid, and reads as those values;
 * any other value is another grid. */
static void test_identity_of_older_grids(void) {
    char old[200], now[200], augmented[200], cosine[200], value[40];
    config_with(old, sizeof old, "");
    config_with(now, sizeof now, "  \"augment\": false,\n  \"lr_schedule\": \"constant\",\n");
    config_with(augmented, sizeof augmented,
                "  \"augment\": true,\n  \"lr_schedule\": \"constant\",\n");
    config_with(cosine, sizeof cosine, "  \"augment\": false,\n  \"lr_schedule\": \"cosine\",\n");
    CHECK(config_identity(old) == config_identity(now));
    CHECK(config_identity(augmented) != config_identity(now));
    CHECK(config_identity(cosine) != config_identity(now));
    CHECK(config_identity(cosine) != config_identity(augmented));
    CHECK(config_json_value(old, "augment", value, sizeof value) == 0 &&
          strcmp(value, "false") == 0);
    CHECK(config_json_value(old, "lr_schedule", value, sizeof value) == 0 &&
          strcmp(value, "\"constant\"") == 0);
    CHECK(config_json_value(cosine, "lr_schedule", value, sizeof value) == 0 &&
          strcmp(value, "\"cosine\"") == 0);
    CHECK(config_json_value(old, "epochs", value, sizeof value) == -1);
}

static void test_log(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/runs.csv", dir);
    bn_run_log log;
    bn_error err = {""};
    size_t torn = 99, n = 99;
    bn_run_record *records = NULL;

    CHECK(run_log_read(path, &records, &n, &torn, &err) == 0); /* missing: no records */
    CHECK(records == NULL && n == 0 && torn == 0);

    const uint64_t identity = 0xfeedULL;
    CHECK_MSG(run_log_open(&log, path, "gamma", identity, 1, &torn, &err) == 0, "%s", err.msg);
    CHECK(torn == 0);
    bn_run_record first = finished_run(), second = exploded_run(), stored;
    first.test_loss = 0.1234567891234; /* more digits than runs.csv keeps */
    CHECK_MSG(run_log_append(&log, &first, &stored, &err) == 0, "%s", err.msg);
    CHECK(stored.test_loss == 0.123456789 && stored.seed == first.seed);
    CHECK_MSG(run_log_append(&log, &second, &stored, &err) == 0, "%s", err.msg);
    run_log_close(&log);
    CHECK(run_log_read(path, &records, &n, &torn, &err) == 0 && n == 2 && torn == 0);
    if (n == 2) {
        CHECK(records[0].seed == first.seed && records[0].restart == 2 && !records[0].exploded);
        CHECK(records[0].test_loss == 0.123456789); /* what append handed back */
        CHECK(records[1].exploded && isnan(records[1].test_loss));
    }
    free(records);

    /* a kill in the middle of a write: the partial record is dropped and counted */
    const char *partial = "0.5,-1.25,0.0562,1,42,0,,0.1";
    long complete = file_size(path);
    append_bytes(path, partial);
    CHECK(run_log_read(path, &records, &n, &torn, &err) == 0 && n == 2 && torn == 1);
    free(records);
    /* reopening cuts it off, so that the next record starts on a line of its own */
    CHECK_MSG(run_log_open(&log, path, "gamma", identity, 0, &torn, &err) == 0, "%s", err.msg);
    CHECK(torn == strlen(partial) && file_size(path) == complete);
    bn_run_record third = first;
    third.restart = 1;
    CHECK(run_log_append(&log, &third, &stored, &err) == 0);
    run_log_close(&log);
    CHECK(run_log_read(path, &records, &n, &torn, &err) == 0 && n == 3 && torn == 0);
    free(records);

    /* a full disk in the middle of a record (a file size limit lets part of the line in): the
     * append fails naming the file, and the part written is cut, so the log holds complete
     * records only, the same as before */
    long before = file_size(path);
    struct rlimit saved;
    bn_run_record fourth = first;
    fourth.restart = 0;
    CHECK(run_log_open(&log, path, "gamma", identity, 0, &torn, &err) == 0);
    CHECK(check_limit_file_size((rlim_t)before + 10, &saved) == 0);
    err.msg[0] = '\0';
    int appended = run_log_append(&log, &fourth, &stored, &err);
    CHECK(setrlimit(RLIMIT_FSIZE, &saved) == 0);
    run_log_close(&log);
    CHECK(appended == -1);
    CHECK_MSG(strstr(err.msg, path) && strstr(err.msg, "cannot append: File too large"), "%s",
              err.msg);
    CHECK_MSG(file_size(path) == before, "%ld bytes, %ld before the append", file_size(path),
              before);
    CHECK(run_log_read(path, &records, &n, &torn, &err) == 0 && n == 3 && torn == 0);
    free(records);

    /* the log of another configuration is refused, named, and left alone */
    uint64_t found = 0;
    CHECK(run_log_identity(path, &found, &err) == RUN_LOG_IDENTIFIED && found == identity);
    err.msg[0] = '\0';
    CHECK(run_log_open(&log, path, "gamma", identity + 1, 0, &torn, &err) == -1);
    CHECK_MSG(strstr(err.msg, "000000000000feed") && strstr(err.msg, "000000000000feee"), "%s",
              err.msg);
    CHECK(file_size(path) > complete);

    /* a run recorded twice is refused, with its two lines (identity and header: lines 1, 2) */
    char line[512];
    run_format(line, sizeof line, &first);
    append_bytes(path, line);
    err.msg[0] = '\0';
    CHECK(run_log_read(path, &records, &n, &torn, &err) == -1 && records == NULL);
    CHECK_MSG(strstr(err.msg, "gamma=0.5 log10_lr=-1.25 restart 2 is recorded twice, on lines 3 "
                              "and 6"),
              "%s", err.msg);
    CHECK(run_log_open(&log, path, "gamma", identity, 1, &torn, &err) == 0);
    CHECK(run_log_append(&log, &first, &stored, &err) == 0);
    CHECK(run_log_append(&log, &third, &stored, &err) == 0);
    CHECK(run_log_append(&log, &second, &stored, &err) == 0);
    run_log_close(&log);

    /* a damaged complete line is an error naming the file and the line */
    append_bytes(path, "0.5,-1.25,garbage\n");
    err.msg[0] = '\0';
    CHECK(run_log_read(path, &records, &n, &torn, &err) == -1 && records == NULL && n == 0);
    CHECK_MSG(strstr(err.msg, path) && strstr(err.msg, "line 6 is not a valid run record"), "%s",
              err.msg);

    /* fresh truncates: a new log has the identity line and the header alone */
    CHECK(run_log_open(&log, path, "sigma_w2", identity, 1, &torn, &err) == 0);
    run_log_close(&log);
    CHECK(run_log_read(path, &records, &n, &torn, &err) == 0 && n == 0 && torn == 0);
    free(records);
    char header[256];
    CHECK(file_size(path) == 39 + runs_header(header, sizeof header, "sigma_w2"));

    /* a log cut inside its header (a kill as it was created) is started again */
    FILE *cut = fopen(path, "wb");
    CHECK(cut && fputs("# bntrain grid config 000000000000feed\nsigma_w2,log1", cut) >= 0 &&
          fclose(cut) == 0);
    CHECK(run_log_open(&log, path, "sigma_w2", identity, 0, &torn, &err) == 0 && torn == 0);
    run_log_close(&log);
    CHECK(file_size(path) == 39 + runs_header(header, sizeof header, "sigma_w2"));

    /* a log of another configuration without a record holds nothing to mix: started again */
    CHECK(run_log_open(&log, path, "sigma_w2", identity + 1, 0, &torn, &err) == 0);
    run_log_close(&log);
    CHECK(run_log_identity(path, &found, &err) == RUN_LOG_EMPTY);
    CHECK(run_log_open(&log, path, "sigma_w2", identity, 0, &torn, &err) == 0);
    run_log_close(&log);

    /* an older bntrain's header alone is started again; with a record it is refused by both */
    cut = fopen(path, "wb");
    CHECK(cut && fputs(header, cut) >= 0 && fclose(cut) == 0);
    CHECK(run_log_identity(path, &found, &err) == RUN_LOG_EMPTY);
    CHECK(run_log_open(&log, path, "sigma_w2", identity, 0, &torn, &err) == 0);
    run_log_close(&log);
    CHECK(file_size(path) == 39 + (long)strlen(header));
    cut = fopen(path, "wb");
    CHECK(cut && fputs(header, cut) >= 0 && fputs(line, cut) >= 0 && fclose(cut) == 0);
    CHECK(run_log_identity(path, &found, &err) == RUN_LOG_UNIDENTIFIED);
    err.msg[0] = '\0';
    CHECK(run_log_open(&log, path, "sigma_w2", identity, 0, &torn, &err) == -1);
    CHECK_MSG(strstr(err.msg, "no identity line"), "%s", err.msg);
    CHECK(run_log_read(path, &records, &n, &torn, &err) == -1);
    CHECK_MSG(strstr(err.msg, "no identity line"), "%s", err.msg);

    /* A log whose first 2 KB hold a NUL byte, or no complete record (a header line longer than
     * that), is not taken for empty: reopening it kept its header and cut its records (found
     * by fuzzing, tests/fuzz/corpus/fuzz_runs_csv/nul_in_header). */
    static const char nul_header[] = "gamma,log10_lr,lr,\0restart\n";
    char long_header[3000];
    memset(long_header, 'x', sizeof long_header - 1);
    long_header[sizeof long_header - 2] = '\n';
    long_header[sizeof long_header - 1] = '\0';
    for (int k = 0; k < 2; k++) {
        const char *odd = k == 0 ? nul_header : long_header;
        size_t odd_length = k == 0 ? sizeof nul_header - 1 : strlen(long_header);
        cut = fopen(path, "wb");
        CHECK(cut && fputs("# bntrain grid config 000000000000feed\n", cut) >= 0 &&
              fwrite(odd, 1, odd_length, cut) == odd_length && fputs(line, cut) >= 0 &&
              fclose(cut) == 0);
        long odd_size = file_size(path);
        CHECK(run_log_read(path, &records, &n, &torn, &err) == 0 && n == 1);
        free(records);
        CHECK(run_log_identity(path, &found, &err) == RUN_LOG_IDENTIFIED && found == identity);
        CHECK(run_log_open(&log, path, "gamma", identity, 0, &torn, &err) == 0);
        run_log_close(&log);
        CHECK_MSG(file_size(path) == odd_size, "%s header: %ld bytes, were %ld",
                  k == 0 ? "NUL" : "long", file_size(path), odd_size);
    }

    snprintf(path, sizeof path, "%s/no-such-folder/runs.csv", dir);
    err.msg[0] = '\0';
    CHECK(run_log_identity(path, &found, &err) == RUN_LOG_EMPTY);
    CHECK(run_log_open(&log, path, "gamma", identity, 1, &torn, &err) == -1);
    CHECK_MSG(strstr(err.msg, path) && strstr(err.msg, "cannot open"), "%s", err.msg);
}

static int remove_entry(const char *path, const struct stat *info, int flag, struct FTW *ftw) {
    (void)info, (void)flag, (void)ftw;
    return remove(path);
}

int main(void) {
    char dir[] = "/tmp/bntrain-test-results-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_header();
    test_round_trip();
    test_malformed();
    test_run_key();
    test_identity();
    test_identity_of_older_grids();
    test_log(dir);
    CHECK(nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) == 0);
    return check_summary("test_results");
}
