/* The machine's limits on memory and threads (resources.h). Each is read from where Linux
 * publishes it; a limit that cannot be read is treated as absent, never as zero. */
#define _GNU_SOURCE
#include "base/resources.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* cgroup v1 writes "no limit" as a huge number (LONG_MAX rounded to a page) */
#define CGROUP_NO_LIMIT (UINT64_C(1) << 62)

static size_t left_of(uint64_t limit, uint64_t used) {
    uint64_t left = limit > used ? limit - used : 0;
    return left > SIZE_MAX ? SIZE_MAX : (size_t)left;
}

/* The first number in the file; -1 if it cannot be read or is not a number ("max"). */
static int read_number(const char *path, uint64_t *value) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int ok = fscanf(f, "%" SCNu64, value) == 1;
    fclose(f);
    return ok ? 0 : -1;
}

static int add_meminfo(bn_memory_limit *limit) {
    FILE *f = fopen("/proc/meminfo", "r");
    uint64_t kib = 0;
    int found = 0;
    char line[256];
    while (f && !found && fgets(line, sizeof line, f))
        found = sscanf(line, "MemAvailable: %" SCNu64 " kB", &kib) == 1;
    if (f) fclose(f);
    if (found) {
        limit->available_bytes = left_of(kib * 1024, 0);
        snprintf(limit->name, sizeof limit->name, "the machine's free memory (MemAvailable)");
    } else {
        long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages <= 0 || page <= 0) return 0;
        limit->available_bytes = left_of((uint64_t)pages * (uint64_t)page, 0);
        snprintf(limit->name, sizeof limit->name, "the machine's free memory");
    }
    limit->address_space = 0;
    return 1;
}

static int add_address_space(bn_memory_limit *limit) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
    uint64_t pages = 0;
    long page = sysconf(_SC_PAGESIZE);
    if (read_number("/proc/self/statm", &pages) != 0 || page <= 0) pages = 0;
    limit->available_bytes = left_of(rl.rlim_cur, pages * (uint64_t)page);
    snprintf(limit->name, sizeof limit->name, "the address-space limit (ulimit -v, RLIMIT_AS)");
    limit->address_space = 1;
    return 1;
}

/* The cgroup path of this process for a controller: "0::/a/b" for v2, "N:memory:/a/b" for v1. */
static int cgroup_path(int v2, char *path, size_t capacity) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return -1;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        const char *rest = NULL;
        if (v2 && strncmp(line, "0::", 3) == 0) rest = line + 3;
        if (!v2 && (rest = strstr(line, ":memory:")) != NULL) rest += strlen(":memory:");
        if (!rest) continue;
        snprintf(path, capacity, "%.*s", (int)strcspn(rest, "\n"), rest);
        found = 1;
    }
    fclose(f);
    return found ? 0 : -1;
}

/* The tightest limit minus usage over the cgroup `dir` and its parents, under root. */
static int add_cgroup(bn_memory_limit *limit, int v2) {
    static const char *const roots[2][2] = {{"/sys/fs/cgroup/memory", NULL},
                                            {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}};
    const char *limit_file = v2 ? "memory.max" : "memory.limit_in_bytes";
    const char *usage_file = v2 ? "memory.current" : "memory.usage_in_bytes";
    char group[2048];
    if (cgroup_path(v2, group, sizeof group) != 0) return 0;
    int found = 0;
    for (int r = 0; r < 2 && roots[v2][r] && !found; r++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s%s", roots[v2][r], strcmp(group, "/") ? group : "");
        size_t root_length = strlen(roots[v2][r]);
        for (;;) {
            char path[4200];
            uint64_t max, used = 0;
            snprintf(path, sizeof path, "%s/%s", dir, limit_file);
            if (read_number(path, &max) == 0 && max < CGROUP_NO_LIMIT) {
                snprintf(path, sizeof path, "%s/%s", dir, usage_file);
                if (read_number(path, &used) != 0) used = 0;
                size_t left = left_of(max, used);
                if (!found || left < limit->available_bytes) {
                    limit->available_bytes = left;
                    snprintf(limit->name, sizeof limit->name, "the cgroup limit (%s/%s)", dir,
                             limit_file);
                }
                found = 1;
            }
            char *slash = strrchr(dir, '/');
            if (!slash || (size_t)(slash - dir) < root_length) break;
            *slash = '\0';
        }
    }
    limit->address_space = 0;
    return found;
}

size_t memory_limits(bn_memory_limit *limits) {
    size_t n = 0;
    n += (size_t)add_meminfo(&limits[n]);
    n += (size_t)add_address_space(&limits[n]);
    n += (size_t)add_cgroup(&limits[n], 1);
    n += (size_t)add_cgroup(&limits[n], 0);
    return n;
}

size_t thread_stack_bytes(void) {
    pthread_attr_t attr;
    size_t bytes = 0;
    if (pthread_getattr_default_np(&attr) == 0) {
        pthread_attr_getstacksize(&attr, &bytes);
        pthread_attr_destroy(&attr);
    }
    return bytes;
}

/* The probe's threads wait here until the last one is started (or starting one failed). */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t released;
    int release;
} start_gate;

static void *wait_at_gate(void *arg) {
    start_gate *gate = arg;
    pthread_mutex_lock(&gate->lock);
    while (!gate->release)
        pthread_cond_wait(&gate->released, &gate->lock);
    pthread_mutex_unlock(&gate->lock);
    return NULL;
}

size_t threads_startable(size_t want, int *error) {
    *error = 0;
    if (want <= 1) return want;
    pthread_t *threads = malloc((want - 1) * sizeof *threads);
    if (!threads) {
        *error = ENOMEM;
        return 1;
    }
    start_gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    size_t started = 0;
    while (started < want - 1) {
        int status = pthread_create(&threads[started], NULL, wait_at_gate, &gate);
        if (status) {
            *error = status;
            break;
        }
        started++;
    }
    pthread_mutex_lock(&gate.lock);
    gate.release = 1;
    pthread_cond_broadcast(&gate.released);
    pthread_mutex_unlock(&gate.lock);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    return started + 1;
}
