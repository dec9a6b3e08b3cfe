/* cmd_run.c - `latentmill run JOB.ini`: the whole job, or one phase. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "coordinator/coord.h"
#include "shared/lm_log.h"

static const char *usage_text =
    "usage: latentmill run JOB.ini [--phase all|map|reduce] [--progress SECONDS] [--replan]\n"
    "                              [-v|--verbose] [-q|--quiet]\n"
    "\n"
    "Run a job file. Alone it is one process that plans, works and journals; under\n"
    "`mpirun -np N` or `srun` rank 0 plans and hands out chunks, ranks 1..N-1 work,\n"
    "each writing its own LMDB shard under OUTDIR/shards/. A rerun of the same job\n"
    "skips every item already done (any number of ranks), so after a crash, a kill\n"
    "or a Slurm requeue you simply run the same command again.\n"
    "\n"
    "  --phase P        all (default), map (per-item stages only) or reduce only\n"
    "  --progress S     progress line every S seconds on stderr (0: off; default from\n"
    "                   [job] progress, 2 s); `latentmill status OUTDIR` shows the same\n"
    "  --replan         enumerate the dataset again (only for an output dir without a journal)\n"
    "  -v, -q           more (debug) or less (warnings only) logging\n"
    "\n"
    "Signals: SIGTERM, SIGINT and SIGUSR1 drain the run: no new chunks, chunks in flight\n"
    "commit, the journal is written, exit status 3.\n"
    "Exit status: 0 all items done (failed items are recorded data), 1 failure,\n"
    "2 bad job file or usage, 3 drained by a signal (rerun resumes).\n";

int cmd_run(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return LM_EXIT_OK;
    }
    coord_options opt = {NULL, COORD_PHASE_ALL, -1.0, 0};
    enum lm_log_level level = LM_LOG_INFO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--phase") == 0 && i + 1 < argc) {
            const char *p = argv[++i];
            if (strcmp(p, "all") == 0) {
                opt.phase = COORD_PHASE_ALL;
            } else if (strcmp(p, "map") == 0) {
                opt.phase = COORD_PHASE_MAP;
            } else if (strcmp(p, "reduce") == 0) {
                opt.phase = COORD_PHASE_REDUCE;
            } else {
                fprintf(stderr, "latentmill run: --phase must be all, map or reduce, not '%s'\n", p);
                return LM_EXIT_USAGE;
            }
        } else if (strcmp(a, "--progress") == 0 && i + 1 < argc) {
            char *end = NULL;
            opt.progress_s = strtod(argv[++i], &end);
            if (*end != '\0' || opt.progress_s < 0) {
                fprintf(stderr, "latentmill run: --progress needs seconds >= 0\n");
                return LM_EXIT_USAGE;
            }
        } else if (strcmp(a, "--replan") == 0) {
            opt.replan = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            level = LM_LOG_DEBUG;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            level = LM_LOG_WARN;
        } else if (a[0] == '-') {
            fprintf(stderr, "latentmill run: unknown option '%s'\n%s", a, usage_text);
            return LM_EXIT_USAGE;
        } else if (opt.job_path == NULL) {
            opt.job_path = a;
        } else {
            fprintf(stderr, "latentmill run: one job file only\n");
            return LM_EXIT_USAGE;
        }
    }
    if (opt.job_path == NULL) {
        fputs(usage_text, stderr);
        return LM_EXIT_USAGE;
    }
    coord_signals_install();
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    lm_log_set_rank(rank);
    lm_log_set_level(level);
    lm_err err = {0};
    int rc = coord_job_run(&opt, &err);
    int status = LM_EXIT_OK;
    if (rc == LM_ESTOPPED) {
        if (rank == 0) {
            lm_log(LM_LOG_WARN, "%s", lm_err_msg(&err, rc));
        }
        status = LM_EXIT_DRAINED;
    } else if (rc != 0) {
        if (rank == 0) {
            lm_log(LM_LOG_ERROR, "%s", lm_err_msg(&err, rc));
        }
        status = (rc == LM_ECONFIG || rc == -2 /* ENOENT job file */) ? LM_EXIT_USAGE : LM_EXIT_FAIL;
    }
    MPI_Finalize();
    return status;
}
