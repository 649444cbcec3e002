/* Work spread over the ranks of an MPI job (`mpirun -n R bntrain grid ...`): rank 0 hands out
 * work items one at a time, in the order it holds them, and receives each result; ranks 1 ..
 * R-1 do the work, each with its own threads. Items and results are fixed-size blocks of bytes
 * that the caller defines (every rank runs the same binary, so the same layout).
 *
 * MPI is initialised only when the process was launched by mpirun (cluster_launched): a plain
 * `bntrain grid` never touches it. Built without MPI (BNTRAIN_MPI=OFF, cluster/no_mpi.c) every
 * process is a single process, as before MPI existed. */
#ifndef BNTRAIN_CLUSTER_H
#define BNTRAIN_CLUSTER_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>

#include "bntrain/error.h"

typedef struct {
    int active;           /* MPI initialised: rank and size below describe the job */
    int rank, size;       /* 0 and 1 for a single process */
    int workers_left;     /* rank 0: workers that have not yet said they are done */
    int abandoned;        /* rank 0: stopped by a signal while workers may be gone */
    int drained;          /* worker: rank 0 has no more items */
    pthread_mutex_t lock; /* worker: one thread at a time talks to rank 0 */
} bn_cluster;

/* Whether mpirun (Open MPI, or a PMI / PMIx launcher) started this process. */
int cluster_launched(void);
/* This process's rank as the launcher's environment says it, before MPI is initialised (0 when
 * not launched): so that only rank 0 prints what every rank would find, a usage error. */
int cluster_launched_rank(void);
/* A rank > 0 that found a usage error, which rank 0 finds too and prints, waits for the
 * launcher to stop it (at most CLUSTER_QUIET_EXIT_WAIT_SECONDS): leaving first would make
 * mpirun end the job, rank 0 with it, possibly before rank 0's message is out. */
#define CLUSTER_QUIET_EXIT_WAIT_SECONDS 10
void cluster_wait_for_rank0_exit(void);

/* Initialises MPI when launched by mpirun and built with MPI; else a single process
 * (c->active 0). Returns 0, or -1 with err filled. */
int cluster_start(bn_cluster *c, bn_error *err);

/* Ends the job's use of MPI. A worker first says it is done (no more results will come). Rank
 * 0 first answers the workers still asking for items (there are none left) until each has said
 * it is done, printing any failure they send; after a stop signal it leaves at once, since a
 * worker may be gone (mpirun ends the job then). */
void cluster_end(bn_cluster *c);

/* Where rank 0 puts what the workers send. */
typedef struct {
    size_t item_bytes, result_bytes;
    /* a result: returns nonzero to hand out no more items (a failure) */
    int (*on_result)(void *ctx, const void *result);
    /* a worker that cannot go on: err says "rank R: " and its line saying why */
    void (*on_failure)(void *ctx, const bn_error *err);
    void *ctx;
    /* nonzero: every result is answered (cluster_exchange_result) with on_result's return, once
     * on_result has returned, so that a worker knows the result is on disk before it goes on */
    int acknowledge;
} bn_cluster_sink;

/* Rank 0: hands items[0 .. n_items-1] to the workers as they ask, one per request, and gives
 * every result to the sink, until every worker is done (or *stop is set: then it returns at
 * once, with c->abandoned set). A failure stops the handing out; the workers finish their
 * runs in flight. Returns 0, or -1 (err filled) out of memory or on a message this binary
 * does not expect (then c->abandoned is set); MPI errors end the job (MPI_ERRORS_ARE_FATAL). */
int cluster_serve(bn_cluster *c, const void *items, size_t n_items, const bn_cluster_sink *sink,
                  volatile sig_atomic_t *stop, bn_error *err);

/* Worker, from any of its threads: the next item into `item`; 1 if there is one, 0 once rank 0
 * has no more (then for every later call too). */
int cluster_next_item(bn_cluster *c, void *item, size_t item_bytes);
/* Worker: a finished item's result, and a failure that stops this worker (one line). */
void cluster_send_result(bn_cluster *c, const void *result, size_t result_bytes);
/* Worker, to a sink that acknowledges: sends a result and waits for rank 0's answer (on_result's
 * return: 0 go on, nonzero stop). */
int cluster_exchange_result(bn_cluster *c, const void *result, size_t result_bytes);
void cluster_send_failure(bn_cluster *c, const char *message);
/* Worker, at its end: if a stop signal (signo, 0: none) reached this rank, a failure saying so,
 * so that rank 0 does not take the runs it abandoned for done (mpirun forwards a signal to
 * every rank, but one can be sent to a worker alone) and the job ends non-zero. */
void cluster_report_stop(bn_cluster *c, int signo);

#endif
