/* Whether mpirun started this process: the same with and without MPI built in. */
#include <stdlib.h>

#include "cluster/cluster.h"

int cluster_launched(void) {
    /* Open MPI's launcher, and the PMI / PMIx process managers (Slurm's srun, MPICH's hydra) */
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}
