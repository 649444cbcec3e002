/* Whether mpirun started this process, and as which rank: the same with and without MPI built
 * in. */
#include <stdlib.h>
#include <unistd.h>

#include "cluster/cluster.h"

int cluster_launched(void) {
    /* Open MPI's launcher, and the PMI / PMIx process managers (Slurm's srun, MPICH's hydra) */
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

int cluster_launched_rank(void) {
    static const char *const names[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *value = getenv(names[i]);
        if (value) return atoi(value);
    }
    return 0;
}

void cluster_wait_for_rank0_exit(void) {
    /* mpirun (Open MPI, MPICH's hydra) stops the other ranks once rank 0 exits non-zero, with
     * SIGTERM, whose default action ends this sleep and the process; a launcher that lets the
     * others run on (srun by default) gets this rank's status after the wait. */
    unsigned left = CLUSTER_QUIET_EXIT_WAIT_SECONDS;
    while (left > 0) left = sleep(left);
}
