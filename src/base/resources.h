/* What the machine lets this process take, read before any work so that a run that cannot fit
 * is refused with numbers instead of failing halfway: the memory limits and how many threads
 * can be started. */
#ifndef BNTRAIN_RESOURCES_H
#define BNTRAIN_RESOURCES_H

#include <stddef.h>

typedef struct {
    char name[4400];        /* which limit: "MemAvailable (/proc/meminfo)", "ulimit -v", ... */
    size_t available_bytes; /* what is left of it: the limit minus what is in use now */
    int address_space;      /* counts reserved address space (thread stacks), not only pages
                               in use */
} bn_memory_limit;

enum { MEMORY_LIMITS_MAX = 4 };

/* Fills limits (MEMORY_LIMITS_MAX entries) with each limit that applies to this process: the
 * memory the kernel can still give, RLIMIT_AS, a cgroup's memory limit (v2 memory.max, or v1
 * memory.limit_in_bytes, the tightest of the cgroup and its parents). Returns how many. */
size_t memory_limits(bn_memory_limit *limits);

/* Address space a new thread reserves for its stack (the pthread default). */
size_t thread_stack_bytes(void);

/* How many threads, the calling one included, can run at once, up to want: starts want - 1
 * threads that wait until the last is started, then ends them. When fewer could be started,
 * *error holds the errno of the failure (else 0). */
size_t threads_startable(size_t want, int *error);

#endif
