/* Whether mpirun started this process, and as which rank: the same with and without MPI built
 * in. */
#include <stdlib.h>

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
