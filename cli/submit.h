/*
 * submit.h - what `latentmill status` borrows from `latentmill submit`: the
 * Slurm state of the jobs recorded in OUTDIR/slurm/jobs.json.
 */
#ifndef LM_CLI_SUBMIT_H
#define LM_CLI_SUBMIT_H

#include <stdio.h>

/* When OUTDIR/slurm/jobs.json exists, print one line per recorded Slurm job
 * ("slurm: map job 12 RUNNING, restarts 1") to f, asking `scontrol show job`
 * (run directly, no shell). Returns the number of jobs printed, 0 when
 * nothing was submitted, negative when jobs.json is unreadable (a warning is
 * printed on stderr). */
int submit_status_print(const char *outdir, FILE *f);

#endif
