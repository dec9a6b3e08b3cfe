/*
 * reduce.h - the reduce phase: everything that runs over the whole dataset's
 * records after the map phase (direction banks, embedding indexes). Collective
 * over MPI_COMM_WORLD.
 *
 * reduce_config_read() validates the reduce sections of a job file at start-up
 * (so a typo fails before hours of map work); reduce_run() runs them.
 */
#ifndef REDUCE_H
#define REDUCE_H

#include "shared/lm_err.h"
#include "shared/lm_job.h"

/* Read and validate every reduce section present in the job. Returns the
 * number of reduce tasks configured (>= 0) or a negative code. */
int reduce_config_read(lm_job *job, lm_err *err);

/* Run the configured reduce tasks over OUTDIR's shards. Collective. */
int reduce_run(lm_job *job, const char *outdir, lm_err *err);

#endif
