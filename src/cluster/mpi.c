/* The cluster over MPI (see cluster.h). The protocol, all on MPI_COMM_WORLD, worker <-> rank 0:
 *   worker: REQUEST (empty)    rank 0: ITEM (item_bytes) or NONE (empty: no more items)
 *   worker: RESULT (result_bytes), FAILURE (one line of text), DONE (empty, its last message)
 *   rank 0, to each RESULT when the sink acknowledges: ACK (one int, on_result's return)
 * A worker has at most one request outstanding (its threads take turns), so rank 0 answers
 * requests as they come and needs no state per worker beyond the count still working.
 *
 * MPI errors are left to MPI's default handler, MPI_ERRORS_ARE_FATAL: it ends the whole job
 * with MPI's own message, which is what a lost rank must do (only rank 0 writes files, and
 * runs.csv survives a kill at any moment). */
#include "cluster/cluster.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TAG_REQUEST = 1, TAG_ITEM, TAG_NONE, TAG_RESULT, TAG_FAILURE, TAG_DONE, TAG_ACK };
enum { FAILURE_BYTES = 512 };

/* Rank 0 waits for messages by probing and sleeping this long between probes: a blocking
 * receive spins a core at 100% in Open MPI, and rank 0 shares its node with workers. A request
 * waits at most this long, against runs that last a second or more. */
#define POLL_NANOSECONDS 1000000L

int cluster_start(bn_cluster *c, bn_error *err) {
    memset(c, 0, sizeof *c);
    c->size = 1;
    if (!cluster_launched()) return 0;
    int provided = 0;
    /* SERIALIZED: a worker's threads talk to rank 0 one at a time, under c->lock */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        return bn_fail(err, "MPI: cannot initialise");
    if (provided < MPI_THREAD_SERIALIZED) {
        MPI_Finalize();
        return bn_fail(err, "MPI: this MPI library does not allow calls from several threads "
                            "(MPI_THREAD_SERIALIZED)");
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    pthread_mutex_init(&c->lock, NULL);
    c->active = 1;
    c->workers_left = c->size - 1;
    return 0;
}

/* A NULL sink (cluster_end): no items, results dropped, failures printed. */
int cluster_serve(bn_cluster *c, const void *items, size_t n_items, const bn_cluster_sink *sink,
                  volatile sig_atomic_t *stop, bn_error *err) {
    size_t result_bytes = sink ? sink->result_bytes : 0, item_bytes = sink ? sink->item_bytes : 0;
    size_t capacity = result_bytes > FAILURE_BYTES ? result_bytes : FAILURE_BYTES, next = 0;
    unsigned char *message = malloc(capacity);
    if (!message) return bn_fail(err, "out of memory");
    int handing = 1;
    while (c->workers_left > 0) {
        if (stop && *stop) {
            c->abandoned = 1;
            break;
        }
        int arrived = 0, bytes = 0;
        MPI_Status status;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &arrived, &status);
        if (!arrived) {
            nanosleep(&(struct timespec){0, POLL_NANOSECONDS}, NULL);
            continue;
        }
        MPI_Get_count(&status, MPI_BYTE, &bytes);
        int rank = status.MPI_SOURCE, tag = status.MPI_TAG;
        if (bytes < 0 || (size_t)bytes > capacity ||
            (tag == TAG_RESULT && sink && (size_t)bytes != result_bytes)) {
            free(message);
            c->abandoned = 1; /* the workers cannot be told apart from a broken peer */
            return bn_fail(err,
                           "MPI: rank %d sent a message of %d bytes (tag %d) that this bntrain "
                           "does not expect: do all ranks run the same bntrain?",
                           rank, bytes, tag);
        }
        MPI_Recv(message, bytes, MPI_BYTE, rank, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (tag == TAG_REQUEST && handing && next < n_items) {
            MPI_Send((const unsigned char *)items + next * item_bytes, (int)item_bytes, MPI_BYTE,
                     rank, TAG_ITEM, MPI_COMM_WORLD);
            next++;
        } else if (tag == TAG_REQUEST) {
            MPI_Send(NULL, 0, MPI_BYTE, rank, TAG_NONE, MPI_COMM_WORLD);
        } else if (tag == TAG_RESULT && sink) {
            int answer = sink->on_result(sink->ctx, message) != 0;
            if (answer) handing = 0;
            if (sink->acknowledge) MPI_Send(&answer, 1, MPI_INT, rank, TAG_ACK, MPI_COMM_WORLD);
        } else if (tag == TAG_FAILURE) {
            message[bytes ? bytes - 1 : 0] = '\0';
            bn_error failure;
            bn_fail(&failure, "rank %d: %s", rank, (const char *)message);
            if (sink)
                sink->on_failure(sink->ctx, &failure);
            else
                fprintf(stderr, "bntrain: %s\n", failure.msg);
            handing = 0;
        } else if (tag == TAG_DONE) {
            c->workers_left--;
        }
    }
    free(message);
    return 0;
}

void cluster_end(bn_cluster *c) {
    if (!c->active) return;
    /* after a stop a worker may be gone, and MPI_Finalize would wait for it forever */
    if (c->abandoned) return;
    bn_error err;
    if (c->rank == 0 && cluster_serve(c, NULL, 0, NULL, NULL, &err))
        fprintf(stderr, "bntrain: %s\n", err.msg);
    if (c->rank != 0) {
        MPI_Send(NULL, 0, MPI_BYTE, 0, TAG_DONE, MPI_COMM_WORLD);
        pthread_mutex_destroy(&c->lock);
    }
    MPI_Finalize();
    c->active = 0;
}

int cluster_next_item(bn_cluster *c, void *item, size_t item_bytes) {
    pthread_mutex_lock(&c->lock);
    int got = 0;
    if (!c->drained) {
        MPI_Status status;
        MPI_Send(NULL, 0, MPI_BYTE, 0, TAG_REQUEST, MPI_COMM_WORLD);
        MPI_Recv(item, (int)item_bytes, MPI_BYTE, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &status);
        got = status.MPI_TAG == TAG_ITEM;
        c->drained = !got;
    }
    pthread_mutex_unlock(&c->lock);
    return got;
}

static void send_to_rank0(bn_cluster *c, const void *data, size_t bytes, int tag) {
    pthread_mutex_lock(&c->lock);
    MPI_Send(data, (int)bytes, MPI_BYTE, 0, tag, MPI_COMM_WORLD);
    pthread_mutex_unlock(&c->lock);
}

void cluster_send_result(bn_cluster *c, const void *result, size_t result_bytes) {
    send_to_rank0(c, result, result_bytes, TAG_RESULT);
}

int cluster_exchange_result(bn_cluster *c, const void *result, size_t result_bytes) {
    int answer = 1;
    pthread_mutex_lock(&c->lock);
    MPI_Send(result, (int)result_bytes, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
    MPI_Recv(&answer, 1, MPI_INT, 0, TAG_ACK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    pthread_mutex_unlock(&c->lock);
    return answer;
}

void cluster_send_failure(bn_cluster *c, const char *message) {
    char line[FAILURE_BYTES];
    snprintf(line, sizeof line, "%s", message);
    send_to_rank0(c, line, strlen(line) + 1, TAG_FAILURE);
}

void cluster_report_stop(bn_cluster *c, int signo) {
    if (!signo) return;
    char line[FAILURE_BYTES];
    snprintf(line, sizeof line,
             "stopped by signal %d; the runs it held are unfinished, and a rerun resumes them",
             signo);
    cluster_send_failure(c, line);
}
