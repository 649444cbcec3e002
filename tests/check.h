/* Minimal test helpers: every CHECK counts, a failure prints file:line and the values, and
 * the exit status is the verdict: 0 passed, 1 failed, 77 skipped (see check_skip). */
#ifndef BNTRAIN_TEST_CHECK_H
#define BNTRAIN_TEST_CHECK_H

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

static int check_passed, check_failed, check_skipped;

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (cond) {                                                                           \
            check_passed++;                                                                   \
        } else {                                                                              \
            check_failed++;                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);          \
        }                                                                                     \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                  \
    do {                                                                                      \
        if (cond) {                                                                           \
            check_passed++;                                                                   \
        } else {                                                                              \
            check_failed++;                                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
        }                                                                                     \
    } while (0)

/* |a - b| <= tol * max(1, |b|)-style closeness with a message that shows both values. */
#define CHECK_CLOSE(a, b, tol)                                                                \
    do {                                                                                      \
        double check_a_ = (double)(a), check_b_ = (double)(b);                                \
        double check_scale_ = fabs(check_b_) > 1.0 ? fabs(check_b_) : 1.0;                    \
        CHECK_MSG(fabs(check_a_ - check_b_) <= (tol) * check_scale_, "%.9g vs %.9g (tol %g)", \
                  check_a_, check_b_, (double)(tol));                                         \
    } while (0)

/* Skipping. A suite cannot claim a pass for checks that did not run because the data they
 * exist to check is absent (the shared MNIST or CIFAR-10, a slow check turned off): it calls
 * check_skip, which says on stderr which checks did not run and why, and check_summary then
 * returns 77, which ctest reports as skipped (SKIP_RETURN_CODE in CMakeLists.txt). The rule:
 * any failure exits 1; else any skipped part exits 77, whatever else passed (the summary line
 * says how many checks did run); else 0 if some check ran. An extra that a machine may lack by
 * design (Fashion-MNIST from a Debian package) prints a note instead and leaves the verdict. */
static inline void check_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void check_skip(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    check_skipped++;
    fputs("SKIP: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
}

/* Prints the summary line and returns the exit status for main(), by the rule above. */
static inline int check_summary(const char *suite) {
    printf("%s: %d passed, %d failed", suite, check_passed, check_failed);
    if (check_skipped > 0)
        printf(", %d part%s skipped for want of data (exit 77 unless a check failed)",
               check_skipped, check_skipped > 1 ? "s" : "");
    putchar('\n');
    if (check_failed > 0) return 1;
    if (check_skipped > 0) return 77;
    return check_passed > 0 ? 0 : 1;
}

/* The repository's root, where the committed fixtures (tests/fixtures) and the bundled sample
 * (data/mnist-sample) live: $BNTRAIN_SOURCE_DIR, which ctest sets, else the root CMake compiled
 * into every test (BNTRAIN_TEST_SOURCE_DIR), so that a test binary run by hand from build/ or
 * anywhere else finds them. */
static inline const char *check_source_dir(void) {
    const char *dir = getenv("BNTRAIN_SOURCE_DIR");
    return dir && *dir ? dir : BNTRAIN_TEST_SOURCE_DIR;
}

/* The bntrain binary the command-line checks run: $BNTRAIN_BINARY, which ctest sets, else the
 * one CMake built beside the test. */
static inline const char *check_binary(void) {
    const char *binary = getenv("BNTRAIN_BINARY");
    return binary && *binary ? binary : BNTRAIN_TEST_BINARY;
}

/* Data for tests comes from $BNTRAIN_DATA, else $BNTRAIN_SHARED_DATA, else ../shared/data
 * (which CMakeLists.txt passes as $BNTRAIN_SHARED_DATA_DEFAULT). */
static inline const char *check_shared_data(void) {
    const char *const names[] = {"BNTRAIN_DATA", "BNTRAIN_SHARED_DATA",
                                 "BNTRAIN_SHARED_DATA_DEFAULT"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *dir = getenv(names[i]);
        if (dir && *dir) return dir;
    }
    return NULL;
}

/* The shared data folder if it holds the folder name ("mnist", "cifar10"), else NULL. */
static inline const char *check_shared_data_with(const char *name) {
    const char *dir = check_shared_data();
    char path[4096];
    struct stat info;
    if (!dir || snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return NULL;
    return stat(path, &info) == 0 && S_ISDIR(info.st_mode) ? dir : NULL;
}

/* A full disk, simulated: writes past bytes fail with EFBIG (SIGXFSZ ignored rather than
 * fatal) until setrlimit(RLIMIT_FSIZE, saved) gives the room back. Returns 0 or -1. */
static inline int check_limit_file_size(rlim_t bytes, struct rlimit *saved) {
    if (getrlimit(RLIMIT_FSIZE, saved) != 0) return -1;
    struct rlimit limited = *saved;
    limited.rlim_cur = bytes;
    signal(SIGXFSZ, SIG_IGN);
    return setrlimit(RLIMIT_FSIZE, &limited);
}

#endif
