/* Minimal test helpers: every CHECK counts, a failure prints file:line and the values, and
 * the exit status is the verdict (non-zero if anything failed). */
#ifndef BNTRAIN_TEST_CHECK_H
#define BNTRAIN_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_passed, check_failed;

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

/* Prints the summary line and returns the exit status for main(). */
static inline int check_summary(const char *suite) {
    printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
    return check_failed == 0 && check_passed > 0 ? 0 : 1;
}

/* Data for tests comes from ../shared/data (or $BNTRAIN_DATA). Missing data is said loudly. */
static inline const char *check_shared_data(void) {
    const char *dir = getenv("BNTRAIN_DATA");
    if (!dir || !*dir) dir = getenv("BNTRAIN_SHARED_DATA");
    return dir;
}

#endif
