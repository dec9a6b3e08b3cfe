/*
 * coord.h - running a job: the map phase (rank 0 plans and dispatches, every
 * other rank works) and the hand-over to reduce. Collective over
 * MPI_COMM_WORLD; called by `latentmill run` after MPI_Init.
 *
 * Output directory layout (DESIGN section 4):
 *   OUTDIR/job.ini                    copy of the job file of the latest run
 *   OUTDIR/plan.bin                   the plan (datasets/ds_plan.h), reused by reruns
 *   OUTDIR/journal.bin                committed chunks (coordinator/coord_journal.h)
 *   OUTDIR/runs/run-NNNN.json         one summary per run (ranks, counts, times)
 *   OUTDIR/shards/runNNNN-rankNNNN/   each rank's LMDB environment
 *   OUTDIR/status.sock                status socket while a run is live
 *   OUTDIR/lock                       held by rank 0 during a run
 */
#ifndef COORD_H
#define COORD_H

#include "shared/lm_err.h"

enum coord_phase { COORD_PHASE_ALL = 0, COORD_PHASE_MAP = 1, COORD_PHASE_REDUCE = 2 };

typedef struct coord_options {
    const char *job_path;
    enum coord_phase phase;
    double progress_s; /* < 0: from the job file (default 2 s); 0 disables */
    int replan;        /* build a new plan even if OUTDIR/plan.bin exists */
} coord_options;

/* Run the job. Collective. Returns 0 when every item is done, LM_ESTOPPED
 * when a signal drained the run (rerun resumes), or a negative code with the
 * message in err (the same on every rank for configuration errors). */
int coord_job_run(const coord_options *opt, lm_err *err);

/* Catch SIGTERM, SIGINT and SIGUSR1 from process start (call before
 * MPI_Init): a signal that arrives while the job is still starting (MPI
 * start-up, planning) makes the run drain at once instead of killing it.
 * The coordinator's event loop takes the signals over later. */
void coord_signals_install(void);

/* Read-only helpers for status, inspect and export. */

/* The output directory named by a job file ([job] out), resolved relative to
 * the job file's directory. OUT *out (free()). */
int coord_job_outdir(const char *job_path, char **out, lm_err *err);

#endif
