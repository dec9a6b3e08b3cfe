/*
 * reduce.c - the reduce phase driver (see reduce.h). The tasks themselves
 * (reduce/svm + bank, reduce/index) register here as they land.
 */
#include "reduce/reduce.h"

#include <mpi.h>

#include "shared/lm_log.h"

int reduce_config_read(lm_job *job, lm_err *err)
{
    (void)job;
    (void)err;
    return 0;
}

int reduce_run(lm_job *job, const char *outdir, lm_err *err)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int n = reduce_config_read(job, err);
    if (n < 0) {
        return n;
    }
    if (n == 0 && rank == 0) {
        lm_log(LM_LOG_INFO, "reduce: nothing configured for %s (no [bank] or [index] section)",
               outdir);
    }
    return 0;
}
