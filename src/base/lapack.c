/* LAPACK loaded with dlopen on first use (why: base/lapack.h). */
#include "base/lapack.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* Written once, under pthread_once, then only read: the process's one LAPACK. */
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static lapack_functions loaded;
static char load_failure[512];

static int try_library(const char *name) {
    void *handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!handle) return -1;
    lapack_functions f = {name, NULL, NULL};
    /* POSIX allows the object-to-function pointer cast dlsym needs; ISO C does not. */
    *(void **)&f.dsyevd = dlsym(handle, "dsyevd_");
    *(void **)&f.dstev = dlsym(handle, "dstev_");
    if (!f.dsyevd || !f.dstev) {
        dlclose(handle);
        return -1;
    }
    loaded = f; /* the handle stays open for the life of the process */
    return 0;
}

static void load(void) {
    const char *chosen = getenv("BNTRAIN_LAPACK");
    if (chosen && *chosen) {
        if (try_library(chosen))
            snprintf(load_failure, sizeof load_failure,
                     "BNTRAIN_LAPACK=%s: cannot load it, or it lacks dsyevd_/dstev_ (%s)", chosen,
                     dlerror() ? "see dlopen" : "no symbol");
        return;
    }
    static const char *const candidates[] = {"liblapack.so.3", "libopenblas.so.0", "liblapack.so"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++)
        if (try_library(candidates[i]) == 0) return;
    snprintf(load_failure, sizeof load_failure,
             "LAPACK not found (tried liblapack.so.3, libopenblas.so.0, liblapack.so; install "
             "libopenblas0 or liblapack3, or set BNTRAIN_LAPACK to a library with dsyevd_)");
}

const lapack_functions *lapack_load(bn_error *err) {
    pthread_once(&load_once, load);
    if (loaded.dsyevd) return &loaded;
    bn_fail(err, "%s", load_failure);
    return NULL;
}
