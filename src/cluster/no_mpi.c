/* The cluster without MPI (BNTRAIN_MPI=OFF): every process is a single process, so nothing is
 * ever handed out; the worker side is never reached. */
#include "cluster/cluster.h"

#include <string.h>

int cluster_start(bn_cluster *c, bn_error *err) {
    memset(c, 0, sizeof *c);
    c->size = 1;
    return 0;
}

void cluster_end(bn_cluster *c) {}

int cluster_serve(bn_cluster *c, const void *items, size_t n_items, const bn_cluster_sink *sink,
                  volatile sig_atomic_t *stop, bn_error *err) {
    return 0;
}

int cluster_next_item(bn_cluster *c, void *item, size_t item_bytes) {
    return 0;
}

void cluster_send_result(bn_cluster *c, const void *result, size_t result_bytes) {}

int cluster_exchange_result(bn_cluster *c, const void *result, size_t result_bytes) {
    return 1;
}

void cluster_send_failure(bn_cluster *c, const char *message) {}

void cluster_report_stop(bn_cluster *c, int signo) {}
