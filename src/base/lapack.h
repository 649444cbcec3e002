/* LAPACK, loaded on first use rather than linked. Only the probe's Kronecker factors (dsyevd)
 * and the Fisher's Lanczos (dstev) need it. Linked, a threaded OpenBLAS (Debian's default
 * provider of liblapack.so.3) started a thread of its own in every bntrain process as the
 * library loaded and reserved 128 MiB of address space for it: a task more against RLIMIT_NPROC
 * in every grid, and under `ulimit -v` that thread spun forever in OpenBLAS's allocator and the
 * process never exited (tests/test_limits.sh). Loaded here, training never has it. */
#ifndef BNTRAIN_BASE_LAPACK_H
#define BNTRAIN_BASE_LAPACK_H

#include <stddef.h>

#include "bntrain/error.h"

/* Fortran calling convention; the hidden lengths of the one-character arguments are passed,
 * as gfortran expects. */
typedef void lapack_dsyevd_fn(const char *jobz, const char *uplo, const int *n, double *a,
                              const int *lda, double *w, double *work, const int *lwork, int *iwork,
                              const int *liwork, int *info, size_t jobz_len, size_t uplo_len);
typedef void lapack_dstev_fn(const char *jobz, const int *n, double *d, double *e, double *z,
                             const int *ldz, double *work, int *info, size_t jobz_len);

typedef struct {
    const char *library; /* the file name it was loaded from */
    lapack_dsyevd_fn *dsyevd;
    lapack_dstev_fn *dstev;
} lapack_functions;

/* The functions, loaded once per process (thread-safe): $BNTRAIN_LAPACK if set, else
 * liblapack.so.3, libopenblas.so.0, liblapack.so in turn. NULL with err naming what was
 * tried if none has both. */
const lapack_functions *lapack_load(bn_error *err);

#endif
