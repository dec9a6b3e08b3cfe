/* cmd_status.c - `latentmill status OUTDIR|JOB.ini`: live progress from the
 * status socket, or the journal's totals when no run is live. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/submit.h"
#include "coordinator/coord.h"
#include "coordinator/coord_results.h"
#include "shared/lm_io.h"

static const char *usage_text =
    "usage: latentmill status OUTDIR|JOB.ini [--json]\n"
    "\n"
    "Progress of a job. While a run is live, rank 0 answers on OUTDIR/status.sock with\n"
    "the numbers of its progress line (phase, done/total, items/s, ETA, failures);\n"
    "otherwise the totals are read from the journal and the last run's summary.\n"
    "  --json   print the JSON object instead of a line\n"
    "Jobs submitted with `latentmill submit` are listed first with their Slurm state\n"
    "(scontrol show job), e.g. \"slurm: map job 12 RUNNING, restarts 1\" (not with --json).\n"
    "Exit status: 0 (running or not), 2 not a latentmill output directory.\n";

static int query_socket(const char *outdir, char *buf, size_t cap)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/status.sock", outdir);
    if (n <= 0 || n >= (int)sizeof sa.sun_path) {
        return -ENAMETOOLONG;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    return got > 0 ? 0 : -EIO;
}

int cmd_status(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return LM_EXIT_OK;
    }
    const char *target = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (argv[i][0] == '-' || target != NULL) {
            fputs(usage_text, stderr);
            return LM_EXIT_USAGE;
        } else {
            target = argv[i];
        }
    }
    if (target == NULL) {
        fputs(usage_text, stderr);
        return LM_EXIT_USAGE;
    }
    lm_err err = {0};
    char *outdir = NULL;
    struct stat st;
    if (stat(target, &st) == 0 && S_ISREG(st.st_mode)) {
        if (coord_job_outdir(target, &outdir, &err) != 0) {
            fprintf(stderr, "latentmill status: %s\n", err.msg);
            return LM_EXIT_USAGE;
        }
        target = outdir;
    }
    int slurm_jobs = json ? 0 : submit_status_print(target, stdout);
    char buf[2048];
    if (query_socket(target, buf, sizeof buf) == 0) {
        cJSON *j = cJSON_Parse(buf);
        if (json || j == NULL) {
            fputs(buf, stdout);
        } else {
            const char *phase = cJSON_GetStringValue(cJSON_GetObjectItem(j, "phase"));
            printf("running: %s run %.0f, %s: %.0f/%.0f done, %.0f failed, %.1f items/s, ETA %.0fs, "
                   "%.0f ranks\n",
                   target, cJSON_GetNumberValue(cJSON_GetObjectItem(j, "run")),
                   phase != NULL ? phase : "?", cJSON_GetNumberValue(cJSON_GetObjectItem(j, "done")),
                   cJSON_GetNumberValue(cJSON_GetObjectItem(j, "total")),
                   cJSON_GetNumberValue(cJSON_GetObjectItem(j, "failed")),
                   cJSON_GetNumberValue(cJSON_GetObjectItem(j, "items_per_s")),
                   cJSON_GetNumberValue(cJSON_GetObjectItem(j, "eta_s")),
                   cJSON_GetNumberValue(cJSON_GetObjectItem(j, "ranks")));
        }
        cJSON_Delete(j);
        free(outdir);
        return LM_EXIT_OK;
    }
    coord_results *res = NULL;
    if (coord_results_open(&res, target, &err) != 0) {
        if (slurm_jobs > 0) { /* submitted, the map job has not started yet */
            printf("not started: %s: no run yet\n", target);
            free(outdir);
            return LM_EXIT_OK;
        }
        fprintf(stderr, "latentmill status: %s\n", err.msg);
        free(outdir);
        return LM_EXIT_USAGE;
    }
    size_t total = coord_results_total(res), done = 0;
    for (size_t i = 0; i < total; i++) {
        done += coord_results_done(res, i)->run != UINT32_MAX;
    }
    coord_results_close(res);
    if (json) {
        printf("{\"state\":\"not running\",\"total\":%zu,\"done\":%zu}\n", total, done);
    } else {
        printf("not running: %s: %zu/%zu items done%s\n", target, done, total,
               done < total ? " (rerun the job to resume)" : "");
    }
    free(outdir);
    return LM_EXIT_OK;
}
