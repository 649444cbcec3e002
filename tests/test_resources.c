/* The resource checks' parts: the trainer size computed without allocating against a trainer
 * made, the thread probe, and the memory limits read (RLIMIT_AS set here). End to end in
 * tests/test_limits.sh. */
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include "base/resources.h"
#include "bntrain/model.h"
#include "bntrain/train.h"
#include "check.h"

static void test_plan_bytes(void) {
    static const size_t shapes[2][3] = {{1, 28, 28}, {3, 32, 32}};
    static const size_t batches[] = {1, 64, 128};
    for (int s = 0; s < 2; s++)
        for (int arch = ARCH_FC; arch <= ARCH_CNN; arch++)
            for (int bn = 0; bn <= 1; bn++)
                for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
                    bn_model_spec spec;
                    model_spec_paper(&spec, (bn_arch)arch, shapes[s][0], shapes[s][1], shapes[s][2],
                                     bn);
                    bn_error err;
                    size_t planned = 0, n_train = 1000 + b;
                    bn_trainer t;
                    CHECK(trainer_plan_bytes(&spec, batches[b], n_train, &planned, &err) == 0);
                    CHECK(trainer_create(&t, &spec, batches[b], n_train, &err) == 0);
                    CHECK_MSG(planned == trainer_bytes(&t), "planned %zu, made %zu", planned,
                              trainer_bytes(&t));
                    trainer_free(&t);
                }
    bn_model_spec tiny;
    model_spec_paper(&tiny, ARCH_CNN, 1, 2, 2, 1); /* no room for a 3x3 kernel */
    bn_error err;
    size_t bytes;
    CHECK(trainer_plan_bytes(&tiny, 64, 100, &bytes, &err) == -1);
}

static void test_threads_startable(void) {
    int error = -1;
    CHECK(threads_startable(1, &error) == 1 && error == 0);
    CHECK(threads_startable(5, &error) == 5 && error == 0);
    CHECK(thread_stack_bytes() > 0);
}

#if defined(__SANITIZE_ADDRESS__)
static void test_address_space_limit(void) {
    printf("test_resources: RLIMIT_AS not set under AddressSanitizer (it reserves terabytes)\n");
}
#else
static const bn_memory_limit *address_space_limit(const bn_memory_limit *limits, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (limits[i].address_space) return &limits[i];
    return NULL;
}

static void test_address_space_limit(void) {
    bn_memory_limit limits[MEMORY_LIMITS_MAX];
    size_t n = memory_limits(limits);
    struct rlimit old;
    CHECK(getrlimit(RLIMIT_AS, &old) == 0);
    if (old.rlim_cur != RLIM_INFINITY) {
        printf("test_resources: RLIMIT_AS already set, not changed\n");
        return;
    }
    const bn_memory_limit *as = address_space_limit(limits, n);
    CHECK(as == NULL);
    /* 16 GiB: far above what this process maps, below any rlimit a runner would set */
    struct rlimit set = {.rlim_cur = (rlim_t)16 << 30, .rlim_max = old.rlim_max};
    CHECK(setrlimit(RLIMIT_AS, &set) == 0);
    n = memory_limits(limits);
    as = address_space_limit(limits, n);
    CHECK(as != NULL);
    CHECK(as && as->available_bytes < (size_t)16 << 30 &&
          as->available_bytes > ((size_t)16 << 30) - ((size_t)1 << 30));
    CHECK(as && strstr(as->name, "ulimit -v") != NULL);
    CHECK(setrlimit(RLIMIT_AS, &old) == 0);
}
#endif

static void test_memory_limits(void) {
    bn_memory_limit limits[MEMORY_LIMITS_MAX];
    size_t n = memory_limits(limits);
    CHECK(n >= 1 && n <= MEMORY_LIMITS_MAX);
    CHECK(n >= 1 && limits[0].available_bytes > 0 && !limits[0].address_space);
    CHECK(n >= 1 && strstr(limits[0].name, "free memory") != NULL);
    test_address_space_limit();
}

int main(void) {
    test_plan_bytes();
    test_threads_startable();
    test_memory_limits();
    return check_summary("test_resources");
}
