/*
 * cmd_submit.c - `latentmill submit JOB.ini`: write the map and reduce sbatch
 * scripts into OUTDIR/slurm/, submit them (sbatch executed directly with an
 * argument vector, never through a shell), print and record the job ids in
 * OUTDIR/slurm/jobs.json, which `latentmill status` reads to show the jobs'
 * Slurm state.
 *
 * The scripts are slurm/map.sbatch and slurm/reduce.sbatch of the source tree:
 * a header of #SBATCH lines made from the options, then the same common body
 * (embedded below; tests/integration/test_slurm_submit.sh checks that it is
 * byte-identical to the templates' body).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/submit.h"
#include "coordinator/coord.h"
#include "shared/lm_io.h"
#include "shared/lm_job.h"

extern char **environ;

static const char *usage_text =
    "usage: latentmill submit JOB.ini [--nodes N] [--ntasks-per-node T] [--gpus-per-task G]\n"
    "                                 [--cpus-per-task C] [--time T] [--partition P]\n"
    "                                 [--account A] [--signal-seconds S] [--mpi TYPE]\n"
    "                                 [--launcher srun|mpirun] [--sbatch-arg ARG]...\n"
    "                                 [--no-reduce] [--force] [--dry-run]\n"
    "\n"
    "Write OUTDIR/slurm/map.sbatch and reduce.sbatch (OUTDIR is the job's [job] out)\n"
    "and submit them with sbatch: the map job runs `latentmill run JOB --phase map` on\n"
    "N nodes x T tasks through srun; the reduce job runs `--phase reduce` once the map\n"
    "job completed successfully (--dependency=afterok, cancelled if the map job fails).\n"
    "Before the time limit (or on preemption) Slurm sends SIGUSR1; the job drains,\n"
    "requeues itself and resumes from the journal. The job ids are printed and kept in\n"
    "OUTDIR/slurm/jobs.json; `latentmill status OUTDIR` shows their Slurm state.\n"
    "\n"
    "  --nodes N            nodes of the map job (default 1)\n"
    "  --ntasks-per-node T  MPI ranks per node (default 1; with more than one rank in\n"
    "                       all, rank 0 coordinates and the others work)\n"
    "  --reduce-nodes N, --reduce-ntasks-per-node T\n"
    "                       shape of the reduce job (default: the map job's)\n"
    "  --gpus-per-task G    GPUs per rank of the map job (default 0: none requested)\n"
    "  --cpus-per-task C    CPUs (OpenMP threads) per rank (default: Slurm's, 1)\n"
    "  --time T             time limit of each job, Slurm format (MM, HH:MM:SS,\n"
    "                       D-HH:MM...; default: the partition's default)\n"
    "  --partition P        partition (default: the cluster's default partition)\n"
    "  --account A          account to charge (default: your default account)\n"
    "  --signal-seconds S   SIGUSR1 this many seconds before the time limit (default\n"
    "                       300; Slurm may send it up to 60 s earlier). Keep it above\n"
    "                       the time a chunk takes ([job] max_chunk items)\n"
    "  --mpi TYPE           srun --mpi plugin (default pmix, which OpenMPI needs;\n"
    "                       `cluster`: the cluster's MpiDefault)\n"
    "  --launcher L         srun (default) or mpirun (OpenMPI's mpirun inside the\n"
    "                       allocation)\n"
    "  --sbatch-arg ARG     one more #SBATCH option for both jobs, e.g.\n"
    "                       --sbatch-arg=--mem=32G (repeatable)\n"
    "  --no-reduce          submit the map job only\n"
    "  --force              submit even when jobs recorded earlier are still queued\n"
    "  --dry-run            write the scripts and print the sbatch commands only\n"
    "\n"
    "Exit status: 0 submitted (or dry run), 1 sbatch missing or failed (its message\n"
    "is shown), 2 bad usage or job file.\n";

/* The body shared by every generated script: slurm/map.sbatch from its
 * "common body" line to the end (byte-identical, checked by a test). */
static const char *script_body =
    "# ---- common body (latentmill submit writes this same text) ----\n"
    "set -u\n"
    "lm_job=${1:-${LATENTMILL_JOB:-}}\n"
    "lm_bin=${LATENTMILL:-latentmill}\n"
    "lm_launcher=${LATENTMILL_LAUNCHER:-srun}\n"
    "lm_mpi=${LATENTMILL_MPI:-pmix}\n"
    "lm_max_restarts=${LATENTMILL_MAX_RESTARTS:-20}\n"
    "lm_restart=${SLURM_RESTART_COUNT:-0}\n"
    "lm_note() { echo \"latentmill-${lm_phase}[job ${SLURM_JOB_ID:-?}]: $*\" >&2; }\n"
    "if [ -z \"$lm_job\" ]; then\n"
    "    lm_note \"no job file: give it as argument 1 or in LATENTMILL_JOB\"\n"
    "    exit 2\n"
    "fi\n"
    "lm_note \"start $(date -u +%Y-%m-%dT%H:%M:%SZ), restart $lm_restart,\" \\\n"
    "    \"${SLURM_JOB_NUM_NODES:-1} node(s), ${SLURM_NTASKS:-1} task(s), job file $lm_job\"\n"
    "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then\n"
    "    # srun does not inherit --cpus-per-task from sbatch (Slurm >= 22.05).\n"
    "    export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK\n"
    "fi\n"
    "# shellcheck disable=SC2206\n"
    "lm_extra=(${LATENTMILL_RUN_ARGS:-})\n"
    "case $lm_launcher in\n"
    "srun)\n"
    "    lm_cmd=(srun)\n"
    "    [ \"$lm_mpi\" = cluster ] || lm_cmd+=(\"--mpi=$lm_mpi\")\n"
    "    ;;\n"
    "mpirun) lm_cmd=(mpirun) ;;\n"
    "*)\n"
    "    lm_note \"LATENTMILL_LAUNCHER must be srun or mpirun, not '$lm_launcher'\"\n"
    "    exit 2\n"
    "    ;;\n"
    "esac\n"
    "lm_cmd+=(\"$lm_bin\" run \"$lm_job\" --phase \"$lm_phase\" ${lm_extra[@]+\"${lm_extra[@]}\"})\n"
    "# Signals reach the batch shell (--signal=B:USR1@S, scancel, requeue,\n"
    "# preemption); bash runs a trap only between commands, so the step runs in the\n"
    "# background and the shell waits for it.\n"
    "lm_child=\n"
    "lm_caught=\n"
    "lm_term=\n"
    "# shellcheck disable=SC2317 # invoked by the traps\n"
    "lm_forward() {\n"
    "    lm_caught=$1\n"
    "    if [ \"$1\" = USR1 ] && [ \"$lm_phase\" = reduce ]; then\n"
    "        lm_note \"SIGUSR1: the reduce phase cannot checkpoint; it goes on until it ends or the\" \\\n"
    "            \"time limit (rerun the reduce job then)\"\n"
    "        return\n"
    "    fi\n"
    "    [ \"$1\" = USR1 ] || lm_term=$1\n"
    "    lm_note \"SIG$1: forwarding to the step; chunks in flight commit, then exit 3\"\n"
    "    # srun only reports status on a first SIGINT: send the step SIGTERM instead.\n"
    "    [ -n \"$lm_child\" ] && kill -s \"$([ \"$1\" = USR1 ] && echo USR1 || echo TERM)\" \"$lm_child\" 2>/dev/null\n"
    "}\n"
    "trap 'lm_forward USR1' USR1\n"
    "trap 'lm_forward TERM' TERM\n"
    "trap 'lm_forward INT' INT\n"
    "\"${lm_cmd[@]}\" </dev/null &\n"
    "lm_child=$!\n"
    "while :; do\n"
    "    lm_caught=\n"
    "    wait \"$lm_child\"\n"
    "    lm_rc=$?\n"
    "    # wait returns > 128 when a trapped signal interrupts it; the step goes on.\n"
    "    if [ \"$lm_rc\" -gt 128 ] && [ -n \"$lm_caught\" ]; then\n"
    "        continue\n"
    "    fi\n"
    "    break\n"
    "done\n"
    "# The step has ended: a late signal must not kill the shell before it requeues.\n"
    "trap : USR1 TERM INT\n"
    "if [ \"$lm_rc\" = 3 ]; then\n"
    "    if [ -n \"$lm_term\" ]; then\n"
    "        lm_note \"drained after SIG$lm_term (exit 3): not requeueing; Slurm requeues the job\" \\\n"
    "            \"itself when it was preempted or requeued, otherwise resubmit to resume\"\n"
    "    elif [ \"$lm_restart\" -ge \"$lm_max_restarts\" ]; then\n"
    "        lm_note \"drained (exit 3) after $lm_restart restarts (LATENTMILL_MAX_RESTARTS):\" \\\n"
    "            \"not requeueing; resubmit to resume\"\n"
    "    elif trap '' TERM && scontrol requeue \"$SLURM_JOB_ID\"; then\n"
    "        # (TERM ignored, also by scontrol: the requeue itself makes Slurm\n"
    "        # send SIGTERM to every process of the job, scontrol included.)\n"
    "        lm_note \"drained (exit 3): requeued; the next run resumes from the journal\"\n"
    "    else\n"
    "        lm_note \"drained (exit 3) but requeue failed (job not requeueable?); resubmit to resume\"\n"
    "    fi\n"
    "    exit 3\n"
    "fi\n"
    "lm_note \"finished with exit status $lm_rc $(date -u +%Y-%m-%dT%H:%M:%SZ)\"\n"
    "exit \"$lm_rc\"\n";

typedef struct submit_opts {
    const char *job;
    long nodes, ntasks_per_node, gpus_per_task, cpus_per_task, signal_s;
    long reduce_nodes, reduce_ntasks_per_node; /* 0: as the map job */
    const char *time_limit, *partition, *account, *mpi, *launcher;
    const char **extra;
    size_t nextra;
    int dry_run, no_reduce, force;
} submit_opts;

/* ---- running Slurm's commands: posix_spawnp with an argument vector ---- */

typedef struct proc_result {
    int status; /* exit status, or 128 + signal */
    char *out;  /* stdout, NUL-terminated */
    char *err;  /* stderr, NUL-terminated */
} proc_result;

static void proc_result_free(proc_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

static int buf_append(char **buf, size_t *len, size_t *cap, const char *src, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap * 2 : 4096;
        while (c < *len + n + 1) {
            c *= 2;
        }
        char *p = realloc(*buf, c);
        if (p == NULL) {
            return -ENOMEM;
        }
        *buf = p;
        *cap = c;
    }
    memcpy(*buf + *len, src, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* Run argv[0] (looked up on PATH) with stdin from /dev/null, capturing stdout
 * and stderr. 0 when it ran (its status in r->status), -errno when it could
 * not be started (ENOENT: not on PATH). */
static int proc_run(char *const argv[], proc_result *r, lm_err *err)
{
    memset(r, 0, sizeof *r);
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) != 0) {
        return lm_err_set(err, -errno, "pipe: %s", strerror(errno));
    }
    if (pipe2(pe, O_CLOEXEC) != 0) {
        int e = errno;
        close(po[0]);
        close(po[1]);
        return lm_err_set(err, -e, "pipe: %s", strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(po[1]);
    close(pe[1]);
    if (rc != 0) {
        close(po[0]);
        close(pe[0]);
        if (rc == ENOENT) {
            return lm_err_set(err, -rc, "%s: command not found on PATH (is Slurm installed, or "
                              "its module loaded?)", argv[0]);
        }
        return lm_err_set(err, -rc, "%s: cannot run it: %s", argv[0], strerror(rc));
    }
    char *bufs[2] = {NULL, NULL};
    size_t lens[2] = {0, 0}, caps[2] = {0, 0};
    struct pollfd pf[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2, oom = 0;
    while (open_fds > 0) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || pf[i].revents == 0) {
                continue;
            }
            char chunk[4096];
            ssize_t n = read(pf[i].fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
            } else if (lens[i] < ((size_t)1 << 20)) {
                oom |= buf_append(&bufs[i], &lens[i], &caps[i], chunk, (size_t)n) != 0;
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        if (pf[i].fd >= 0) {
            close(pf[i].fd);
        }
        if (bufs[i] == NULL) {
            bufs[i] = calloc(1, 1);
            oom |= bufs[i] == NULL;
        }
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    r->out = bufs[0];
    r->err = bufs[1];
    if (oom) {
        proc_result_free(r);
        return lm_err_set(err, -ENOMEM, "%s: out of memory reading its output", argv[0]);
    }
    return 0;
}

/* ---- the Slurm state of one job: `scontrol show job -o ID` ---- */

typedef struct job_state {
    char state[32], reason[128], exit_code[32];
    int restarts;
} job_state;

/* Copy the value of " KEY=" from a one-line scontrol record. */
static void field_get(const char *line, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    size_t kl = strlen(key);
    for (const char *p = line; (p = strstr(p, key)) != NULL; p += kl) {
        if ((p == line || p[-1] == ' ' || p[-1] == '\n') && p[kl] == '=') {
            p += kl + 1;
            size_t n = strcspn(p, " \n");
            n = n < cap - 1 ? n : cap - 1;
            memcpy(out, p, n);
            out[n] = '\0';
            return;
        }
    }
}

/* 0 and *js filled, or -ENOENT when slurmctld does not know the job (message
 * in err), or another negative code when scontrol cannot run. */
static int job_state_query(const char *id, job_state *js, lm_err *err)
{
    memset(js, 0, sizeof *js);
    char *argv[] = {"scontrol", "show", "job", "-o", (char *)id, NULL};
    proc_result r;
    int rc = proc_run(argv, &r, err);
    if (rc != 0) {
        return rc;
    }
    if (r.status != 0 || strstr(r.out, "JobState=") == NULL) {
        const char *e = r.err[0] ? r.err : r.out;
        lm_err_set(err, -ENOENT, "%.*s", (int)strcspn(e, "\n"), e);
        proc_result_free(&r);
        return -ENOENT;
    }
    char restarts[16];
    field_get(r.out, "JobState", js->state, sizeof js->state);
    field_get(r.out, "Reason", js->reason, sizeof js->reason);
    field_get(r.out, "ExitCode", js->exit_code, sizeof js->exit_code);
    field_get(r.out, "Restarts", restarts, sizeof restarts);
    js->restarts = atoi(restarts);
    proc_result_free(&r);
    return 0;
}

static int state_is_live(const char *s)
{
    static const char *const live[] = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD",
                                       "REQUEUE_FED", "SUSPENDED", "CONFIGURING", "COMPLETING",
                                       "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD",
                                       "STOPPED", NULL};
    for (int i = 0; live[i] != NULL; i++) {
        if (strcmp(s, live[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- OUTDIR/slurm/jobs.json ---- */

static int jobs_json_load(const char *outdir, cJSON **out, lm_err *err)
{
    *out = NULL;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/slurm/jobs.json", outdir);
    void *buf = NULL;
    size_t len = 0;
    int rc = lm_io_read_file(path, &buf, &len, err);
    if (rc == -ENOENT) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    *out = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (*out == NULL) {
        return lm_err_set(err, LM_EFORMAT, "%s: not valid JSON", path);
    }
    return 1;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int submit_status_print(const char *outdir, FILE *f)
{
    lm_err err = {0};
    cJSON *root = NULL;
    int rc = jobs_json_load(outdir, &root, &err);
    if (rc <= 0) {
        if (rc < 0) {
            fprintf(stderr, "latentmill status: warning: %s\n", err.msg);
        }
        return rc;
    }
    static const char *const phases[] = {"map", "reduce"};
    int n = 0;
    for (int i = 0; i < 2; i++) {
        const char *id = json_str(cJSON_GetObjectItemCaseSensitive(root, phases[i]), "id");
        if (id == NULL) {
            continue;
        }
        job_state js;
        n++;
        if (job_state_query(id, &js, &err) != 0) {
            fprintf(f, "slurm: %s job %s: unknown to Slurm now (%s)\n", phases[i], id, err.msg);
            continue;
        }
        fprintf(f, "slurm: %s job %s %s", phases[i], id, js.state);
        if (js.reason[0] && strcmp(js.reason, "None") != 0 && strcmp(js.state, "RUNNING") != 0 &&
            strcmp(js.state, "COMPLETED") != 0 && strcmp(js.reason, "NonZeroExitCode") != 0) {
            fprintf(f, " (%s)", js.reason);
        }
        if (!state_is_live(js.state) && js.exit_code[0] &&
            !(strcmp(js.state, "CANCELLED") == 0 && strcmp(js.exit_code, "0:0") == 0)) {
            fprintf(f, ", exit %s", js.exit_code);
        }
        if (js.restarts > 0) {
            fprintf(f, ", restarts %d", js.restarts);
        }
        fputc('\n', f);
    }
    cJSON_Delete(root);
    return n;
}

/* ---- writing the scripts ---- */

/* Characters a value may have on an #SBATCH line (no quoting exists there). */
static int value_ok(const char *s)
{
    if (s == NULL || *s == '\0') {
        return 0;
    }
    for (const char *p = s; *p; p++) {
        if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.,:+=@/-", *p) ==
            NULL) {
            return 0;
        }
    }
    return 1;
}

/* A path that can sit on an #SBATCH line and in a Slurm filename pattern. */
static int path_ok(const char *s)
{
    return strpbrk(s, " \t\n\r'\"\\%$`") == NULL;
}

/* Single-quoted for the shell ('it'\''s'). */
static void sh_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            fputs("'\\''", f);
        } else {
            fputc(*p, f);
        }
    }
    fputc('\'', f);
}

/* Seconds of a Slurm time limit, or -1 when it is not one of Slurm's forms
 * (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) or is UNLIMITED. */
static long time_seconds(const char *t)
{
    long days = -1;
    const char *p = t;
    const char *dash = strchr(t, '-');
    if (dash != NULL) {
        char *end = NULL;
        days = strtol(t, &end, 10);
        if (end != dash || days < 0 || *t < '0' || *t > '9') {
            return -1;
        }
        p = dash + 1;
    }
    long parts[3] = {0, 0, 0};
    int n = 0;
    for (;;) {
        char *end = NULL;
        if (n == 3 || *p < '0' || *p > '9') {
            return -1;
        }
        parts[n++] = strtol(p, &end, 10);
        if (*end == '\0') {
            break;
        }
        if (*end != ':') {
            return -1;
        }
        p = end + 1;
    }
    if (days >= 0) { /* D-HH[:MM[:SS]] */
        return days * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2];
    }
    switch (n) {
    case 1: /* MM */
        return parts[0] * 60;
    case 2: /* MM:SS */
        return parts[0] * 60 + parts[1];
    default: /* HH:MM:SS */
        return parts[0] * 3600 + parts[1] * 60 + parts[2];
    }
}

static int script_write(const char *path, const submit_opts *o, const char *phase,
                        const char *job_abs, const char *outdir, const char *bin,
                        const char *name, lm_err *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        return lm_err_set(err, -errno, "out of memory");
    }
    int map = strcmp(phase, "map") == 0;
    char stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(f, "#!/bin/bash\n"
               "# %s.sbatch - the %s phase of %s, written by `latentmill submit` at %s.\n"
               "# Resubmit by hand with: sbatch%s %s\n"
               "# The body below is slurm/%s.sbatch's; see there or docs for what it does.\n",
            phase, phase, job_abs, stamp, map ? "" : " --dependency=afterok:<map job id>", path,
            phase);
    fprintf(f, "#SBATCH --job-name=lm-%s-%s\n", phase, name);
    long nodes = !map && o->reduce_nodes > 0 ? o->reduce_nodes : o->nodes;
    long tasks = !map && o->reduce_ntasks_per_node > 0 ? o->reduce_ntasks_per_node
                                                       : o->ntasks_per_node;
    fprintf(f, "#SBATCH --nodes=%ld\n#SBATCH --ntasks-per-node=%ld\n", nodes, tasks);
    if (map && o->gpus_per_task > 0) {
        fprintf(f, "#SBATCH --gpus-per-task=%ld\n", o->gpus_per_task);
    }
    if (o->cpus_per_task > 0) {
        fprintf(f, "#SBATCH --cpus-per-task=%ld\n", o->cpus_per_task);
    }
    if (o->time_limit != NULL) {
        fprintf(f, "#SBATCH --time=%s\n", o->time_limit);
    }
    if (o->partition != NULL) {
        fprintf(f, "#SBATCH --partition=%s\n", o->partition);
    }
    if (o->account != NULL) {
        fprintf(f, "#SBATCH --account=%s\n", o->account);
    }
    fprintf(f, "#SBATCH --requeue\n#SBATCH --signal=B:USR1@%ld\n#SBATCH --open-mode=append\n",
            o->signal_s);
    if (!map) {
        fprintf(f, "#SBATCH --kill-on-invalid-dep=yes\n");
    }
    fprintf(f, "#SBATCH --output=%s/slurm/%s-%%j.out\n#SBATCH --chdir=%s/slurm\n", outdir, phase,
            outdir);
    for (size_t i = 0; i < o->nextra; i++) {
        fprintf(f, "#SBATCH %s\n", o->extra[i]);
    }
    fprintf(f, "lm_phase=%s\n[ $# -gt 0 ] || set -- ", phase);
    sh_quote(f, job_abs);
    fputs("\nLATENTMILL=", f);
    sh_quote(f, bin);
    fprintf(f, "\nLATENTMILL_LAUNCHER=%s\nLATENTMILL_MPI=%s\n", o->launcher, o->mpi);
    fputs(script_body, f);
    if (fclose(f) != 0) {
        free(text);
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    int rc = lm_io_write_file_atomic(path, text, len, err);
    free(text);
    if (rc == 0 && chmod(path, 0755) != 0) {
        rc = lm_err_set(err, -errno, "%s: chmod: %s", path, strerror(errno));
    }
    return rc;
}

/* ---- options ---- */

static int opt_long(const char *name, const char *v, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi) {
        fprintf(stderr, "latentmill submit: %s needs an integer in %ld..%ld, not '%s'\n", name, lo,
                hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int opt_value(const char *name, const char *v, const char **out)
{
    if (!value_ok(v)) {
        fprintf(stderr, "latentmill submit: %s '%s': only letters, digits and _.,:+=@/- are "
                "allowed\n", name, v);
        return -1;
    }
    *out = v;
    return 0;
}

/* --name VALUE or --name=VALUE at argv[*i]; NULL when argv[*i] is not --name. */
static const char *opt_arg(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) {
        return NULL;
    }
    if (argv[*i][n] == '=') {
        return argv[*i] + n + 1;
    }
    if (argv[*i][n] != '\0') {
        return NULL;
    }
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

static int parse_args(int argc, char **argv, submit_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0, bad = 0;
        if ((v = opt_arg(argc, argv, &i, "--nodes", &missing)) != NULL) {
            bad = opt_long("--nodes", v, 1, 100000, &o->nodes);
        } else if ((v = opt_arg(argc, argv, &i, "--reduce-nodes", &missing)) != NULL) {
            bad = opt_long("--reduce-nodes", v, 1, 100000, &o->reduce_nodes);
        } else if ((v = opt_arg(argc, argv, &i, "--reduce-ntasks-per-node", &missing)) != NULL) {
            bad = opt_long("--reduce-ntasks-per-node", v, 1, 100000, &o->reduce_ntasks_per_node);
        } else if ((v = opt_arg(argc, argv, &i, "--ntasks-per-node", &missing)) != NULL) {
            bad = opt_long("--ntasks-per-node", v, 1, 100000, &o->ntasks_per_node);
        } else if ((v = opt_arg(argc, argv, &i, "--gpus-per-task", &missing)) != NULL) {
            bad = opt_long("--gpus-per-task", v, 0, 1024, &o->gpus_per_task);
        } else if ((v = opt_arg(argc, argv, &i, "--cpus-per-task", &missing)) != NULL) {
            bad = opt_long("--cpus-per-task", v, 1, 100000, &o->cpus_per_task);
        } else if ((v = opt_arg(argc, argv, &i, "--signal-seconds", &missing)) != NULL) {
            bad = opt_long("--signal-seconds", v, 1, 65535, &o->signal_s);
        } else if ((v = opt_arg(argc, argv, &i, "--time", &missing)) != NULL) {
            bad = opt_value("--time", v, &o->time_limit);
            if (!bad && time_seconds(v) < 0 && strcmp(v, "UNLIMITED") != 0 &&
                strcmp(v, "INFINITE") != 0) {
                fprintf(stderr, "latentmill submit: --time '%s' is not a Slurm time (MM, MM:SS, "
                        "HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS)\n", v);
                bad = -1;
            }
        } else if ((v = opt_arg(argc, argv, &i, "--partition", &missing)) != NULL) {
            bad = opt_value("--partition", v, &o->partition);
        } else if ((v = opt_arg(argc, argv, &i, "--account", &missing)) != NULL) {
            bad = opt_value("--account", v, &o->account);
        } else if ((v = opt_arg(argc, argv, &i, "--mpi", &missing)) != NULL) {
            bad = opt_value("--mpi", v, &o->mpi);
        } else if ((v = opt_arg(argc, argv, &i, "--launcher", &missing)) != NULL) {
            if (strcmp(v, "srun") != 0 && strcmp(v, "mpirun") != 0) {
                fprintf(stderr, "latentmill submit: --launcher must be srun or mpirun\n");
                bad = -1;
            }
            o->launcher = v;
        } else if ((v = opt_arg(argc, argv, &i, "--sbatch-arg", &missing)) != NULL) {
            if (v[0] != '-' || strpbrk(v, "\n\r") != NULL) {
                fprintf(stderr, "latentmill submit: --sbatch-arg needs one sbatch option "
                        "starting with '-', e.g. --sbatch-arg=--mem=16G\n");
                bad = -1;
            } else {
                o->extra[o->nextra++] = v;
            }
        } else if (missing) {
            fprintf(stderr, "latentmill submit: %s needs a value\n", a);
            return -1;
        } else if (strcmp(a, "--dry-run") == 0) {
            o->dry_run = 1;
        } else if (strcmp(a, "--no-reduce") == 0) {
            o->no_reduce = 1;
        } else if (strcmp(a, "--force") == 0) {
            o->force = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "latentmill submit: unknown option '%s'\n", a);
            return -1;
        } else if (o->job == NULL) {
            o->job = a;
        } else {
            fprintf(stderr, "latentmill submit: one job file only\n");
            return -1;
        }
        if (missing) {
            fprintf(stderr, "latentmill submit: %s needs a value\n", a);
            return -1;
        }
        if (bad) {
            return -1;
        }
    }
    if (o->job == NULL) {
        fprintf(stderr, "latentmill submit: no job file given\n");
        return -1;
    }
    return 0;
}

/* ---- submit ---- */

static void print_argv(FILE *f, char *const argv[])
{
    for (int i = 0; argv[i] != NULL; i++) {
        if (i > 0) {
            fputc(' ', f);
        }
        if (value_ok(argv[i])) {
            fputs(argv[i], f);
        } else {
            sh_quote(f, argv[i]);
        }
    }
    fputc('\n', f);
}

/* Run sbatch --parsable ...; *id gets the job id (malloc). */
static int sbatch_run(char *const argv[], char **id, lm_err *err)
{
    *id = NULL;
    proc_result r;
    int rc = proc_run(argv, &r, err);
    if (rc != 0) {
        return rc;
    }
    /* --parsable prints "ID" or "ID;CLUSTER". */
    size_t n = strspn(r.out, "0123456789");
    if (r.status != 0 || n == 0 || (r.out[n] != '\0' && r.out[n] != '\n' && r.out[n] != ';')) {
        /* Show what sbatch said: its stderr, else its stdout. */
        const char *said = r.err[0] ? r.err : r.out[0] ? r.out : "(no output)";
        size_t sl = strlen(said);
        while (sl > 0 && said[sl - 1] == '\n') {
            sl--;
        }
        rc = lm_err_set(err, LM_EINTERNAL, "sbatch failed (exit %d): %.*s", r.status,
                        (int)(sl > 900 ? 900 : sl), said);
        proc_result_free(&r);
        return rc;
    }
    *id = strndup(r.out, n);
    if (r.err[0] != '\0') {
        fputs(r.err, stderr); /* sbatch warnings */
    }
    proc_result_free(&r);
    return *id == NULL ? lm_err_set(err, -ENOMEM, "out of memory") : 0;
}

static cJSON *job_entry(const char *id, const char *script, char *const argv[])
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "script", script);
    cJSON *a = cJSON_AddArrayToObject(o, "sbatch");
    for (int i = 0; argv[i] != NULL; i++) {
        cJSON_AddItemToArray(a, cJSON_CreateString(argv[i]));
    }
    return o;
}

static int jobs_json_write(const char *outdir, const char *job_abs, const char *map_id,
                           const char *map_script, char *const map_argv[], const char *red_id,
                           const char *red_script, char *const red_argv[], lm_err *err)
{
    cJSON *root = cJSON_CreateObject();
    char stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(root, "job", job_abs);
    cJSON_AddStringToObject(root, "outdir", outdir);
    cJSON_AddStringToObject(root, "submitted", stamp);
    cJSON_AddItemToObject(root, "map", job_entry(map_id, map_script, map_argv));
    if (red_id != NULL) {
        cJSON_AddItemToObject(root, "reduce", job_entry(red_id, red_script, red_argv));
    }
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (txt == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/slurm/jobs.json", outdir);
    size_t len = strlen(txt);
    txt[len] = '\n'; /* replaces the NUL; written without it */
    int rc = lm_io_write_file_atomic(path, txt, len + 1, err);
    free(txt);
    return rc;
}

/* Refuse a second submission while jobs of an earlier one are still queued or
 * running: both would take the job's lock and one would fail. */
static int check_earlier(const char *outdir)
{
    lm_err err = {0};
    cJSON *root = NULL;
    if (jobs_json_load(outdir, &root, &err) <= 0) {
        return 0;
    }
    static const char *const phases[] = {"map", "reduce"};
    int live = 0;
    for (int i = 0; i < 2; i++) {
        const char *id = json_str(cJSON_GetObjectItemCaseSensitive(root, phases[i]), "id");
        job_state js;
        if (id != NULL && job_state_query(id, &js, &err) == 0 && state_is_live(js.state)) {
            fprintf(stderr, "latentmill submit: the %s job %s submitted earlier is %s; wait for "
                    "it, scancel it, or use --force\n", phases[i], id, js.state);
            live = 1;
        }
    }
    cJSON_Delete(root);
    return live;
}

static char *abs_path(const char *p)
{
    if (p[0] == '/') {
        return strdup(p);
    }
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL) {
        return NULL;
    }
    char *out = NULL;
    return asprintf(&out, "%s/%s", cwd, p) < 0 ? NULL : out;
}

int cmd_submit(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return LM_EXIT_OK;
    }
    const char **extra = calloc((size_t)argc, sizeof *extra);
    if (extra == NULL) {
        return LM_EXIT_FAIL;
    }
    submit_opts o = {.nodes = 1, .ntasks_per_node = 1, .signal_s = 300, .mpi = "pmix",
                     .launcher = "srun", .extra = extra};
    int status = LM_EXIT_USAGE;
    char *job_abs = NULL, *outdir_rel = NULL, *outdir = NULL, *ds_abs = NULL;
    char *map_id = NULL, *red_id = NULL;
    lm_job *job = NULL;
    lm_err err = {0};
    if (parse_args(argc, argv, &o) != 0) {
        fputs("(latentmill submit --help lists the options)\n", stderr);
        goto out;
    }
    long limit = o.time_limit != NULL ? time_seconds(o.time_limit) : -1;
    if (limit > 0 && o.signal_s >= limit) {
        fprintf(stderr, "latentmill submit: warning: --signal-seconds %ld is not below the time "
                "limit (%lds): the job is told to stop as soon as it starts\n", o.signal_s, limit);
    }
    /* The job file: absolute (the scripts run elsewhere), parsed for errors. */
    char real[PATH_MAX];
    if (realpath(o.job, real) == NULL) {
        fprintf(stderr, "latentmill submit: %s: %s\n", o.job, strerror(errno));
        goto out;
    }
    job_abs = strdup(real);
    const char *name = "job", *ds = NULL;
    if (job_abs == NULL || lm_job_load(&job, job_abs, &err) != 0 ||
        lm_job_get_str(job, "job", "name", "job", &name, &err) < 0 ||
        lm_job_get_str(job, "dataset", "path", NULL, &ds, &err) < 0 ||
        coord_job_outdir(job_abs, &outdir_rel, &err) != 0) {
        fprintf(stderr, "latentmill submit: %s\n", err.msg[0] ? err.msg : "out of memory");
        goto out;
    }
    if (!value_ok(name)) {
        name = "job";
    }
    outdir = abs_path(outdir_rel);
    if (ds != NULL) {
        if (ds[0] == '/') {
            ds_abs = strdup(ds);
        } else {
            char *slash = strrchr(job_abs, '/');
            if (asprintf(&ds_abs, "%.*s/%s", (int)(slash - job_abs), job_abs, ds) < 0) {
                ds_abs = NULL;
            }
        }
    }
    if (outdir == NULL || (ds != NULL && ds_abs == NULL)) {
        fprintf(stderr, "latentmill submit: out of memory\n");
        status = LM_EXIT_FAIL;
        goto out;
    }
    struct stat st;
    if (ds_abs == NULL) {
        fprintf(stderr, "latentmill submit: %s: [dataset] path is required\n", job_abs);
        goto out;
    }
    if (stat(ds_abs, &st) != 0) {
        fprintf(stderr, "latentmill submit: %s: dataset %s: %s (the map job would fail)\n",
                job_abs, ds_abs, strerror(errno));
        goto out;
    }
    char bin[PATH_MAX];
    ssize_t bl = readlink("/proc/self/exe", bin, sizeof bin - 1);
    if (bl <= 0) {
        strcpy(bin, "latentmill");
        bl = (ssize_t)strlen(bin);
    }
    bin[bl] = '\0';
    if (!path_ok(outdir) || !path_ok(job_abs) || !path_ok(bin)) {
        fprintf(stderr, "latentmill submit: %s: the job file, the output directory (%s) and the "
                "binary (%s) must have no spaces, quotes, '%%', '$' or backslashes: Slurm's "
                "#SBATCH lines and file patterns cannot hold them\n", job_abs, outdir, bin);
        goto out;
    }
    status = LM_EXIT_FAIL;
    char sdir[PATH_MAX], map_script[PATH_MAX], red_script[PATH_MAX];
    if (snprintf(sdir, sizeof sdir, "%s/slurm", outdir) >= (int)sizeof sdir - 16) {
        fprintf(stderr, "latentmill submit: %s: path too long\n", outdir);
        goto out;
    }
    if (snprintf(map_script, sizeof map_script, "%s/map.sbatch", sdir) < 0 ||
        snprintf(red_script, sizeof red_script, "%s/reduce.sbatch", sdir) < 0) {
        goto out;
    }
    if (lm_io_mkdirs(sdir, &err) != 0 ||
        script_write(map_script, &o, "map", job_abs, outdir, bin, name, &err) != 0 ||
        (!o.no_reduce &&
         script_write(red_script, &o, "reduce", job_abs, outdir, bin, name, &err) != 0)) {
        fprintf(stderr, "latentmill submit: %s\n", err.msg);
        goto out;
    }
    char dep[64];
    char *map_argv[] = {"sbatch", "--parsable", map_script, NULL};
    char *red_argv[] = {"sbatch", "--parsable", dep, red_script, NULL};
    if (o.dry_run) {
        snprintf(dep, sizeof dep, "--dependency=afterok:<map job id>");
        printf("wrote %s%s%s\n", map_script, o.no_reduce ? "" : " and ",
               o.no_reduce ? "" : red_script);
        print_argv(stdout, map_argv);
        if (!o.no_reduce) {
            print_argv(stdout, red_argv);
        }
        status = LM_EXIT_OK;
        goto out;
    }
    if (!o.force && check_earlier(outdir)) {
        status = LM_EXIT_USAGE;
        goto out;
    }
    if (sbatch_run(map_argv, &map_id, &err) != 0) {
        fprintf(stderr, "latentmill submit: map job not submitted: %s\n", err.msg);
        goto out;
    }
    printf("map job %s: %s\n", map_id, map_script);
    if (!o.no_reduce) {
        snprintf(dep, sizeof dep, "--dependency=afterok:%s", map_id);
        if (sbatch_run(red_argv, &red_id, &err) != 0) {
            fprintf(stderr, "latentmill submit: reduce job not submitted: %s\n(the map job %s "
                    "is queued; submit the reduce job by hand: sbatch %s %s)\n", err.msg, map_id,
                    dep, red_script);
        } else {
            printf("reduce job %s (after map job %s succeeds): %s\n", red_id, map_id, red_script);
        }
    }
    if (jobs_json_write(outdir, job_abs, map_id, map_script, map_argv, red_id, red_script,
                        red_argv, &err) != 0) {
        fprintf(stderr, "latentmill submit: %s (the jobs are submitted; `latentmill status` "
                "will not show them)\n", err.msg);
        goto out;
    }
    status = o.no_reduce || red_id != NULL ? LM_EXIT_OK : LM_EXIT_FAIL;
out:
    free(map_id);
    free(red_id);
    free(ds_abs);
    free(outdir);
    free(outdir_rel);
    free(job_abs);
    lm_job_free(job);
    free(extra);
    return status;
}
