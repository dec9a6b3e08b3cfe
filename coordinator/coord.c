/*
 * coord.c - `latentmill run`: configuration, planning on rank 0, dynamic
 * dispatch with libuv-driven signals/progress/status socket, worker loops,
 * resume from the journal. See coord.h and DESIGN section 3.
 */
#include "coordinator/coord.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mpi.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cjson/cJSON.h>
#include <dirent.h>

#include "coordinator/coord_internal.h"
#include "coordinator/coord_journal.h"
#include "coordinator/coord_sched.h"
#include "datasets/ds_config.h"
#include "datasets/ds_plan.h"
#include "node/node.h"
#include "coordinator/coord_reduce.h"
#include "shared/lm_io.h"
#include "shared/lm_job.h"
#include "shared/lm_log.h"
#include "shared/lm_msg.h"
#include "shared/lm_progress.h"

typedef struct run_cfg {
    char *outdir;
    char *dataset_path;
    const char *dataset_name;
    size_t limit;
    double progress_s;
    size_t min_chunk, max_chunk;
    int backups;
    node_config node;
    coord_reduce_cfg reduce;
    ds_job_config ds;
} run_cfg;

static char *resolve(const char *job_path, const char *p)
{
    if (p[0] == '/') {
        return strdup(p);
    }
    char *copy = strdup(job_path);
    if (copy == NULL) {
        return NULL;
    }
    char *slash = strrchr(copy, '/');
    const char *dir = ".";
    if (slash != NULL) {
        *slash = '\0';
        dir = copy[0] ? copy : "/";
    }
    size_t n = strlen(dir) + strlen(p) + 2;
    char *out = malloc(n);
    if (out != NULL) {
        snprintf(out, n, "%s/%s", dir, p);
    }
    free(copy);
    return out;
}

static void run_cfg_fini(run_cfg *c)
{
    free(c->outdir);
    free(c->dataset_path);
    ds_config_fini(&c->ds);
    memset(c, 0, sizeof *c);
}

static int run_cfg_read(run_cfg *c, lm_job *job, lm_err *err)
{
    memset(c, 0, sizeof *c);
    const char *jp = lm_job_path(job);
    const char *s = NULL;
    long v = 0;
    int rc;
    if ((rc = lm_job_get_str(job, "job", "out", NULL, &s, err)) != 0) {
        return rc < 0 ? rc : lm_err_set(err, LM_ECONFIG, "%s: [job] out = DIR is required", jp);
    }
    c->outdir = resolve(jp, s);
    if ((rc = lm_job_get_str(job, "job", "name", "job", &s, err)) < 0) {
        return rc;
    }
    double d = 0;
    if ((rc = lm_job_get_double(job, "job", "progress", 2.0, 0.0, 86400.0, &d, err)) < 0) {
        return rc;
    }
    c->progress_s = d;
    if ((rc = lm_job_get_int(job, "job", "min_chunk", 4, 1, 1 << 20, &v, err)) < 0) {
        return rc;
    }
    c->min_chunk = (size_t)v;
    if ((rc = lm_job_get_int(job, "job", "max_chunk", 1024, 1, 1 << 20, &v, err)) < 0) {
        return rc;
    }
    c->max_chunk = (size_t)v;
    if ((rc = lm_job_get_bool(job, "job", "backups", 1, &c->backups, err)) < 0) {
        return rc;
    }
    if ((rc = ds_config_from_job(&c->ds, job, err)) != 0) {
        return rc;
    }
    c->dataset_path = strdup(c->ds.src.path);
    c->dataset_name = c->ds.src.name;
    c->limit = c->ds.src.limit;
    if (c->outdir == NULL || c->dataset_path == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    if ((rc = node_config_from_job(&c->node, job, err)) != 0) {
        return rc;
    }
    if ((rc = coord_reduce_config(&c->reduce, job, err)) != 0) {
        return rc;
    }
    return lm_job_check_unused(job, err);
}

int coord_job_outdir(const char *job_path, char **out, lm_err *err)
{
    *out = NULL;
    lm_job *job = NULL;
    int rc = lm_job_load(&job, job_path, err);
    if (rc != 0) {
        return rc;
    }
    const char *s = NULL;
    rc = lm_job_get_str(job, "job", "out", NULL, &s, err);
    if (rc == 0) {
        *out = resolve(job_path, s);
    } else if (rc > 0) {
        rc = lm_err_set(err, LM_ECONFIG, "%s: [job] out = DIR is required", job_path);
    }
    lm_job_free(job);
    return rc;
}

/* ---- signals for workers (rank > 0): a flag checked between chunks ---- */

static volatile sig_atomic_t worker_stop;

static void worker_on_signal(int sig)
{
    (void)sig;
    worker_stop = 1;
}

/* ---- the coordinator's state ---- */

typedef struct rank_stats {
    size_t chunks, ok, failed, dup;
    double busy;
} rank_stats;

typedef struct coord {
    run_cfg *cfg;
    int size;
    unsigned run;
    ds_plan *plan;
    coord_sched *sched;
    coord_journal *journal;
    lm_progress prog;
    int stopping;
    int fatal;
    lm_err fatal_err;
    rank_stats *per_rank;
    uv_loop_t loop;
    uv_signal_t sig[3];
    uv_timer_t timer;
    uv_pipe_t server;
    int have_server;
    char sock_path[108];
    node_ctx *local; /* single-process mode: rank 0 also works */
} coord;

typedef struct status_conn {
    uv_pipe_t pipe;
    uv_write_t req;
    char buf[1024];
} status_conn;

static void on_conn_closed(uv_handle_t *h) { free(h->data); }

static void on_status_written(uv_write_t *req, int status)
{
    (void)status;
    status_conn *c = req->data;
    uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

static void on_status_conn(uv_stream_t *server, int status)
{
    coord *co = server->data;
    if (status < 0) {
        return;
    }
    status_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return;
    }
    uv_pipe_init(&co->loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
        uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
        return;
    }
    lm_progress_json(&co->prog, c->buf, sizeof c->buf);
    uv_buf_t b = uv_buf_init(c->buf, (unsigned)strlen(c->buf));
    c->req.data = c;
    if (uv_write(&c->req, (uv_stream_t *)&c->pipe, &b, 1, on_status_written) != 0) {
        uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    coord *co = h->data;
    if (!co->stopping) {
        lm_log(LM_LOG_WARN, "signal %d (%s): draining: no new work, chunks in flight commit, "
               "then exit %d for requeue", signum, strsignal(signum), 3);
        co->stopping = 1;
        co->prog.state = "draining";
    } else {
        lm_log(LM_LOG_WARN, "signal %d again: still draining (SIGKILL aborts; at most the "
               "chunks in flight are lost)", signum);
    }
}

static void on_timer(uv_timer_t *t)
{
    coord *co = t->data;
    lm_progress_print(&co->prog, stderr, 0);
}

void coord_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = worker_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

static int loop_start(coord *co, const char *outdir, lm_err *err)
{
    if (worker_stop) {
        lm_log(LM_LOG_WARN, "a stop signal arrived during start-up: draining at once");
        co->stopping = 1;
        co->prog.state = "draining";
    }
    int rc = uv_loop_init(&co->loop);
    if (rc != 0) {
        return lm_err_set(err, rc, "libuv: %s", uv_strerror(rc));
    }
    const int sigs[3] = {SIGTERM, SIGINT, SIGUSR1};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&co->loop, &co->sig[i]);
        co->sig[i].data = co;
        uv_signal_start(&co->sig[i], on_signal, sigs[i]);
    }
    uv_timer_init(&co->loop, &co->timer);
    co->timer.data = co;
    if (co->cfg->progress_s > 0) {
        uint64_t ms = (uint64_t)(co->cfg->progress_s * 1000.0);
        uv_timer_start(&co->timer, on_timer, ms, ms);
    }
    int n = snprintf(co->sock_path, sizeof co->sock_path, "%s/status.sock", outdir);
    if (n <= 0 || n >= (int)sizeof co->sock_path) {
        lm_log(LM_LOG_WARN, "%s: path too long for a Unix socket; `latentmill status` will "
               "read the journal instead", outdir);
        co->sock_path[0] = '\0';
        return 0;
    }
    unlink(co->sock_path); /* stale from a killed run; the lock guarantees it is ours */
    uv_pipe_init(&co->loop, &co->server, 0);
    co->server.data = co;
    rc = uv_pipe_bind(&co->server, co->sock_path);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&co->server, 16, on_status_conn);
    }
    if (rc != 0) {
        lm_log(LM_LOG_WARN, "%s: status socket: %s", co->sock_path, uv_strerror(rc));
        uv_close((uv_handle_t *)&co->server, NULL);
        co->sock_path[0] = '\0';
    } else {
        co->have_server = 1;
    }
    return 0;
}

static void loop_stop(coord *co)
{
    for (int i = 0; i < 3; i++) {
        uv_close((uv_handle_t *)&co->sig[i], NULL);
    }
    uv_close((uv_handle_t *)&co->timer, NULL);
    if (co->have_server) {
        uv_close((uv_handle_t *)&co->server, NULL);
        unlink(co->sock_path);
    }
    uv_run(&co->loop, UV_RUN_DEFAULT);
    uv_loop_close(&co->loop);
}

/* A worker's chunk committed: journal it if it is the first copy. */
static int chunk_committed(coord *co, int worker_rank, uint32_t id, uint32_t ok, uint32_t failed,
                           double busy)
{
    rank_stats *st = &co->per_rank[worker_rank];
    st->chunks++;
    st->busy += busy;
    int w = co->size > 1 ? worker_rank - 1 : 0;
    uint32_t count = 0;
    const uint32_t *items = coord_sched_chunk_items(co->sched, id, &count);
    if (!coord_sched_complete(co->sched, id, w)) {
        st->dup++;
        return 0; /* a backup copy lost the race: its records are ignored */
    }
    int rc = coord_journal_append(co->journal, co->run, (uint32_t)worker_rank, items, count,
                                  &co->fatal_err);
    if (rc != 0) {
        co->fatal = rc;
        co->stopping = 1;
        lm_log(LM_LOG_ERROR, "%s", co->fatal_err.msg);
        return rc;
    }
    st->ok += ok;
    st->failed += failed;
    co->prog.done += ok + failed;
    co->prog.failed += failed;
    return 0;
}

static void local_tick(void *user)
{
    coord *co = user;
    uv_run(&co->loop, UV_RUN_NOWAIT);
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Single process: rank 0 plans, works and journals. */
static int coord_loop_local(coord *co)
{
    node_set_tick(co->local, local_tick, co);
    while (!co->stopping) {
        uv_run(&co->loop, UV_RUN_NOWAIT);
        if (co->stopping) {
            break;
        }
        coord_chunk c;
        int r = coord_sched_next(co->sched, 0, lm_now(), &c);
        if (r == COORD_NEXT_FINISHED) {
            break;
        }
        if (r != COORD_NEXT_CHUNK) {
            co->fatal = r < 0 ? r : LM_EINTERNAL;
            lm_err_set(&co->fatal_err, co->fatal, "scheduler stalled");
            break;
        }
        node_chunk_stats st;
        lm_err e = {0};
        int rc = node_process_chunk(co->local, c.index, c.count, &st, &e);
        if (rc != 0) {
            co->fatal = rc;
            co->fatal_err = e;
            lm_log(LM_LOG_ERROR, "chunk %u failed, nothing of it was written: %s", c.id,
                   lm_err_msg(&e, rc));
            break;
        }
        if (chunk_committed(co, 0, c.id, st.ok, st.failed, st.seconds) != 0) {
            break;
        }
    }
    return co->fatal;
}

/* Several ranks: rank 0 only coordinates; ranks 1..N-1 work. */
static int coord_loop_mpi(coord *co)
{
    int nworkers = co->size - 1;
    int active = nworkers;
    int *waiting = calloc((size_t)co->size, sizeof *waiting);
    int *retired = calloc((size_t)co->size, sizeof *retired);
    int nretired = 0;
    lm_work w = {0};
    if (waiting == NULL || retired == NULL) {
        free(waiting);
        free(retired);
        return lm_err_set(&co->fatal_err, -ENOMEM, "out of memory");
    }
    long backoff = 50;
    while (active > 0) {
        uv_run(&co->loop, UV_RUN_NOWAIT);
        int src = -1;
        lm_report rep;
        lm_err e = {0};
        int got = lm_msg_poll_request(&src, &rep, &e);
        if (got < 0) {
            co->fatal = got;
            co->fatal_err = e;
            break;
        }
        int changed = 0;
        if (got) {
            backoff = 50;
            if (rep.flags & LM_REPORT_HAS_CHUNK) {
                changed = 1;
                if (rep.flags & LM_REPORT_CHUNK_FAILED) {
                    lm_log(LM_LOG_ERROR, "rank %d: chunk %u failed and was given back: %s", src,
                           rep.chunk_id, rep.reason);
                    coord_sched_retire(co->sched, src - 1);
                    retired[src] = 1;
                    nretired++;
                } else {
                    chunk_committed(co, src, rep.chunk_id, rep.items_ok, rep.items_failed,
                                    rep.busy_seconds);
                }
            }
            if (rep.flags & LM_REPORT_STOPPING) {
                retired[src] = 1;
            }
            waiting[src] = 1;
        } else {
            sleep_us(backoff);
            backoff = backoff < 2000 ? backoff * 2 : 2000;
        }
        if (nretired == nworkers && !co->stopping) {
            co->fatal = LM_ESTORE;
            lm_err_set(&co->fatal_err, LM_ESTORE, "every worker rank failed a chunk (see the "
                       "errors above); stopping");
            co->stopping = 1;
        }
        if (!got && !changed && !co->stopping && coord_sched_outstanding(co->sched) > 0) {
            /* Fall through: waiting workers may get a backup chunk below. */
        }
        for (int r = 1; r < co->size; r++) {
            if (!waiting[r]) {
                continue;
            }
            coord_chunk c;
            int next = (co->stopping || retired[r]) ? COORD_NEXT_FINISHED
                                                    : coord_sched_next(co->sched, r - 1, lm_now(), &c);
            if (next == COORD_NEXT_CHUNK) {
                w.chunk_id = c.id;
                w.count = c.count;
                w.index = (uint32_t *)c.index;
                if (lm_msg_send_work(r, &w, &e) != 0) {
                    co->fatal = LM_EMPI;
                    co->fatal_err = e;
                }
                waiting[r] = 0;
            } else if (next == COORD_NEXT_FINISHED) {
                lm_msg_send_done(r, &e);
                waiting[r] = 0;
                active--;
            }
        }
    }
    free(waiting);
    free(retired);
    return co->fatal;
}

static int worker_loop(node_ctx *n, int rank, lm_err *err)
{
    lm_report rep;
    memset(&rep, 0, sizeof rep);
    rep.chunk_id = LM_MSG_NO_CHUNK;
    lm_work w = {0};
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        if (worker_stop) {
            rep.flags |= LM_REPORT_STOPPING;
        }
        rc = lm_msg_send_request(&rep, err);
        if (rc != 0) {
            break;
        }
        int tag = lm_msg_recv_work(&w, &cap, err);
        if (tag == LM_TAG_DONE) {
            break;
        }
        if (tag != LM_TAG_WORK) {
            rc = tag;
            break;
        }
        node_chunk_stats st;
        lm_err e = {0};
        memset(&rep, 0, sizeof rep);
        rep.chunk_id = w.chunk_id;
        rep.flags = LM_REPORT_HAS_CHUNK;
        int prc = node_process_chunk(n, w.index, w.count, &st, &e);
        if (prc != 0) {
            rep.flags |= LM_REPORT_CHUNK_FAILED;
            snprintf(rep.reason, sizeof rep.reason, "%s", lm_err_msg(&e, prc));
            lm_log(LM_LOG_ERROR, "chunk %u: %s", w.chunk_id, lm_err_msg(&e, prc));
        } else {
            rep.items_ok = st.ok;
            rep.items_failed = st.failed;
            rep.busy_seconds = st.seconds;
        }
    }
    (void)rank;
    free(w.index);
    return rc;
}

static int lock_outdir(const char *outdir, int *fd, lm_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/lock", outdir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) {
        return lm_err_set(err, -errno, "%s: %s", path, strerror(errno));
    }
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        close(*fd);
        *fd = -1;
        return lm_err_set(err, LM_ECONFIG, "%s: another run of this job is active (lock held)",
                          outdir);
    }
    return 0;
}

static unsigned next_run_number(const char *outdir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/runs", outdir);
    DIR *d = opendir(path);
    unsigned next = 1;
    if (d == NULL) {
        return next;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        unsigned n = 0;
        if (sscanf(e->d_name, "run-%u.json", &n) == 1 && n >= next) {
            next = n + 1;
        }
    }
    closedir(d);
    return next;
}

static int write_run_json(coord *co, const char *outdir, const char *state, double seconds,
                          lm_err *err)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "run", co->run);
    cJSON_AddStringToObject(j, "state", state);
    cJSON_AddNumberToObject(j, "ranks", co->size);
    cJSON_AddNumberToObject(j, "total", (double)co->prog.total);
    cJSON_AddNumberToObject(j, "done_before", (double)co->prog.done_before);
    cJSON_AddNumberToObject(j, "done", (double)co->prog.done);
    cJSON_AddNumberToObject(j, "failed", (double)co->prog.failed);
    cJSON_AddNumberToObject(j, "seconds", seconds);
    cJSON_AddNumberToObject(j, "started_unix", (double)time(NULL) - seconds);
    cJSON *ranks = cJSON_AddArrayToObject(j, "per_rank");
    for (int r = 0; r < co->size && co->per_rank != NULL; r++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "rank", r);
        cJSON_AddNumberToObject(o, "chunks", (double)co->per_rank[r].chunks);
        cJSON_AddNumberToObject(o, "ok", (double)co->per_rank[r].ok);
        cJSON_AddNumberToObject(o, "failed", (double)co->per_rank[r].failed);
        cJSON_AddNumberToObject(o, "duplicate_chunks", (double)co->per_rank[r].dup);
        cJSON_AddNumberToObject(o, "busy_seconds", co->per_rank[r].busy);
        cJSON_AddItemToArray(ranks, o);
    }
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    if (txt == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/runs/run-%04u.json", outdir, co->run);
    int rc = lm_io_write_file_atomic(path, txt, strlen(txt), err);
    free(txt);
    return rc;
}

/* Rank 0's set-up: out dir, lock, plan (reuse or build), journal replay. */
static int setup_rank0(coord *co, run_cfg *cfg, lm_job *job, const coord_options *opt,
                       int *lockfd, uint32_t **todo, size_t *ntodo, lm_err *err)
{
    int rc = lm_io_mkdirs(cfg->outdir, err);
    if (rc != 0) {
        return rc;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/runs", cfg->outdir);
    if ((rc = lm_io_mkdirs(path, err)) != 0) {
        return rc;
    }
    snprintf(path, sizeof path, "%s/shards", cfg->outdir);
    if ((rc = lm_io_mkdirs(path, err)) != 0) {
        return rc;
    }
    if ((rc = lock_outdir(cfg->outdir, lockfd, err)) != 0) {
        return rc;
    }
    /* Keep a copy of the job next to its results. */
    void *jtxt = NULL;
    size_t jlen = 0;
    if (lm_io_read_file(lm_job_path(job), &jtxt, &jlen, NULL) == 0) {
        snprintf(path, sizeof path, "%s/job.ini", cfg->outdir);
        rc = lm_io_write_file_atomic(path, jtxt, jlen, err);
        free(jtxt);
        if (rc != 0) {
            return rc;
        }
    }
    char plan_path[PATH_MAX];
    snprintf(plan_path, sizeof plan_path, "%s/plan.bin", cfg->outdir);
    snprintf(path, sizeof path, "%s/journal.bin", cfg->outdir);
    struct stat st;
    int have_plan = stat(plan_path, &st) == 0 && !opt->replan;
    if (opt->replan && stat(path, &st) == 0 && st.st_size > 0) {
        return lm_err_set(err, LM_ECONFIG, "%s: --replan would orphan the journal of earlier "
                          "runs; use a new [job] out directory", cfg->outdir);
    }
    double t0 = lm_now();
    if (have_plan) {
        rc = ds_plan_load(&co->plan, plan_path, err);
        if (rc != 0) {
            return rc;
        }
        char real[PATH_MAX];
        if (realpath(cfg->dataset_path, real) != NULL &&
            strcmp(real, ds_plan_root(co->plan)) != 0) {
            return lm_err_set(err, LM_ECONFIG, "%s holds a plan for %s, but the job's dataset "
                              "is %s; use a new [job] out directory", cfg->outdir,
                              ds_plan_root(co->plan), real);
        }
        lm_log(LM_LOG_INFO, "plan: reusing %s (%zu items)", plan_path, ds_plan_count(co->plan));
    } else {
        rc = ds_plan_build(&co->plan, &cfg->ds.src, err);
        if (rc == 0) {
            rc = ds_plan_save(co->plan, plan_path, err);
        }
        if (rc != 0) {
            return rc;
        }
        lm_log(LM_LOG_INFO, "plan: %zu items from %s in %.2fs", ds_plan_count(co->plan),
               ds_plan_root(co->plan), lm_now() - t0);
    }
    rc = coord_labels_write(cfg->outdir, ds_plan_dataset_kind(co->plan), cfg->ds.src.labels, err);
    if (rc != 0) {
        return rc;
    }
    size_t n = ds_plan_count(co->plan);
    coord_done *done = malloc((n ? n : 1) * sizeof *done);
    *todo = malloc((n ? n : 1) * sizeof **todo);
    if (done == NULL || *todo == NULL) {
        free(done);
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    uint32_t max_run = 0;
    rc = coord_journal_replay(path, n, done, &max_run, err);
    if (rc != 0) {
        free(done);
        return rc;
    }
    *ntodo = 0;
    for (size_t i = 0; i < n; i++) {
        if (done[i].run == UINT32_MAX) {
            (*todo)[(*ntodo)++] = (uint32_t)i;
        }
    }
    free(done);
    co->run = next_run_number(cfg->outdir);
    if (co->run <= max_run) {
        co->run = max_run + 1;
    }
    rc = coord_journal_open(&co->journal, path, err);
    return rc;
}

/* Broadcast an int status and, on failure, rank 0's message to every rank. */
static int bcast_status(int rc, lm_err *err)
{
    int buf[1] = {rc};
    MPI_Bcast(buf, 1, MPI_INT, 0, MPI_COMM_WORLD);
    char msg[sizeof err->msg];
    memset(msg, 0, sizeof msg);
    if (buf[0] != 0 && err != NULL) {
        memcpy(msg, err->msg, sizeof msg);
    }
    if (buf[0] != 0) {
        MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, 0, MPI_COMM_WORLD);
        if (err != NULL) {
            err->code = buf[0];
            memcpy(err->msg, msg, sizeof msg);
        }
    }
    return buf[0];
}

static int map_phase(lm_job *job, run_cfg *cfg, const coord_options *opt, int rank, int size,
                     lm_err *err)
{
    coord co;
    memset(&co, 0, sizeof co);
    co.cfg = cfg;
    co.size = size;
    int lockfd = -1;
    uint32_t *todo = NULL;
    size_t ntodo = 0;
    int rc = 0;
    void *plan_buf = NULL;
    size_t plan_len = 0;
    if (rank == 0) {
        rc = setup_rank0(&co, cfg, job, opt, &lockfd, &todo, &ntodo, err);
        if (rc == 0) {
            rc = ds_plan_serialize(co.plan, &plan_buf, &plan_len, err);
        }
    }
    rc = bcast_status(rc, err);
    if (rc != 0) {
        goto out;
    }
    /* Every rank gets the plan and the run number from rank 0. */
    unsigned long long meta[2] = {plan_len, co.run};
    MPI_Bcast(meta, 2, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
    if (rank != 0) {
        plan_len = (size_t)meta[0];
        co.run = (unsigned)meta[1];
        plan_buf = malloc(plan_len);
        if (plan_buf == NULL) {
            rc = lm_err_set(err, -ENOMEM, "out of memory for the plan");
            MPI_Abort(MPI_COMM_WORLD, 1); /* cannot take part in the broadcast */
        }
    }
    for (size_t off = 0; off < plan_len; off += (size_t)1 << 30) {
        size_t n = plan_len - off < ((size_t)1 << 30) ? plan_len - off : (size_t)1 << 30;
        MPI_Bcast((char *)plan_buf + off, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
    if (rank != 0) {
        rc = ds_plan_deserialize(&co.plan, plan_buf, plan_len, "plan (broadcast)", err);
        plan_buf = NULL;
    } else {
        free(plan_buf);
        plan_buf = NULL;
    }
    /* Share each machine's cores among the ranks that work on it (rank 0 only
     * coordinates when there are others): oversubscribed OpenMP teams spin
     * against each other and run many times slower. Collective. */
    int auto_threads = 1;
    {
        MPI_Comm local;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local);
        int lsize = 1, has_coord = rank == 0 && size > 1;
        MPI_Comm_size(local, &lsize);
        MPI_Allreduce(MPI_IN_PLACE, &has_coord, 1, MPI_INT, MPI_MAX, local);
        MPI_Comm_free(&local);
        int workers = lsize - has_coord;
        int cores = omp_get_num_procs();
        auto_threads = workers > 0 && cores / workers > 1 ? cores / workers : 1;
    }
    /* Workers (every rank when alone, ranks > 0 otherwise) open their shard. */
    node_ctx *node = NULL;
    int works = size == 1 || rank > 0;
    if (rc == 0 && works) {
        char shard[PATH_MAX];
        snprintf(shard, sizeof shard, "%s/shards/run%04u-rank%04d", cfg->outdir, co.run, rank);
        node_config ncfg = cfg->node;
        if (ncfg.threads == 0) {
            ncfg.threads = auto_threads;
        }
        if (ncfg.item_threads == 0) {
            /* Alone, use the machine's cores for items; under MPI the ranks
             * already share the cores. */
            ncfg.item_threads = size == 1 ? omp_get_num_procs() : 1;
        }
        rc = node_create(&node, &ncfg, co.plan, shard, (uint32_t)rank, err);
    }
    /* All ranks agree before any work is handed out. */
    int all_ok = rc == 0;
    MPI_Allreduce(MPI_IN_PLACE, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (!all_ok) {
        if (rc == 0) {
            rc = lm_err_set(err, LM_EINTERNAL, "another rank failed to start (see its log)");
        }
        node_free(node);
        goto out;
    }
    if (rank != 0) {
        coord_signals_install();
        rc = worker_loop(node, rank, err);
        node_free(node);
        int final = bcast_status(rc, err);
        rc = final != 0 ? final : rc;
        goto out;
    }
    /* Rank 0. */
    co.per_rank = calloc((size_t)size, sizeof *co.per_rank);
    rc = co.per_rank == NULL ? -ENOMEM : coord_sched_create(&co.sched, todo, ntodo,
                                                            size > 1 ? size - 1 : 1,
                                                            &(coord_sched_config){cfg->min_chunk, cfg->max_chunk, cfg->backups});
    if (rc != 0) {
        lm_err_set(err, rc, "out of memory");
    }
    co.prog.phase = "map";
    co.prog.state = "running";
    co.prog.total = ds_plan_count(co.plan);
    co.prog.done_before = co.prog.total - ntodo;
    co.prog.ranks = size;
    co.prog.run = co.run;
    co.prog.t_start = lm_now();
    if (opt->progress_s >= 0) {
        cfg->progress_s = opt->progress_s;
    }
    if (rc == 0) {
        rc = loop_start(&co, cfg->outdir, err);
    }
    if (rc == 0) {
        lm_log(LM_LOG_INFO, "run %u: %zu of %zu items to do (%zu done earlier), %d rank%s",
               co.run, ntodo, co.prog.total, co.prog.done_before, size, size > 1 ? "s" : "");
        write_run_json(&co, cfg->outdir, "running", 0.0, NULL);
        co.local = node;
        rc = size == 1 ? coord_loop_local(&co) : coord_loop_mpi(&co);
        if (rc != 0 && err != NULL) {
            *err = co.fatal_err;
        }
        double secs = lm_now() - co.prog.t_start;
        int finished = coord_sched_done_items(co.sched) == coord_sched_total_items(co.sched);
        co.prog.state = rc != 0 ? "failed" : finished ? "done" : "drained";
        if (cfg->progress_s > 0) {
            lm_progress_print(&co.prog, stderr, 1);
        }
        lm_err werr = {0};
        if (write_run_json(&co, cfg->outdir, co.prog.state, secs, &werr) != 0) {
            lm_log(LM_LOG_WARN, "%s", werr.msg);
        }
        lm_log(LM_LOG_INFO, "map %s: %zu/%zu items done (%zu failed) this run in %.2fs, "
               "%.1f items/s, %d rank%s", co.prog.state, co.prog.done, ntodo, co.prog.failed,
               secs, secs > 0 ? co.prog.done / secs : 0.0, size, size > 1 ? "s" : "");
        if (rc == 0 && !finished) {
            rc = lm_err_set(err, LM_ESTOPPED, "stopped by a signal with %zu items left; rerun "
                            "the same command to resume", ntodo - co.prog.done);
        }
        loop_stop(&co);
    }
    node_free(node);
    if (size > 1) {
        rc = bcast_status(rc, err);
    }
out:
    free(plan_buf);
    free(todo);
    free(co.per_rank);
    coord_sched_free(co.sched);
    coord_journal_close(co.journal);
    ds_plan_free(co.plan);
    if (lockfd >= 0) {
        close(lockfd);
    }
    return rc;
}

int coord_job_run(const coord_options *opt, lm_err *err)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* Rank 0 reads the job file and broadcasts its text, so the job file need
     * not be on a filesystem every node sees. */
    void *txt = NULL;
    size_t len = 0;
    int rc = 0;
    if (rank == 0) {
        rc = lm_io_read_file(opt->job_path, &txt, &len, err);
    }
    rc = bcast_status(rc, err);
    if (rc != 0) {
        return rc;
    }
    unsigned long long l = len;
    MPI_Bcast(&l, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
    if (rank != 0) {
        txt = calloc(1, (size_t)l + 1);
        if (txt == NULL) {
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    MPI_Bcast(txt, (int)l, MPI_BYTE, 0, MPI_COMM_WORLD);
    lm_job *job = NULL;
    rc = memchr(txt, '\0', (size_t)l) != NULL
             ? lm_err_set(err, LM_ECONFIG, "%s: not a text file", opt->job_path)
             : lm_job_parse(&job, txt, opt->job_path, err);
    free(txt);
    if (rc != 0) {
        return rc;
    }
    run_cfg cfg;
    rc = run_cfg_read(&cfg, job, err);
    if (rc == 0 && opt->phase != COORD_PHASE_REDUCE) {
        rc = map_phase(job, &cfg, opt, rank, size, err);
    }
    if (rc == 0 && opt->phase != COORD_PHASE_MAP) {
        rc = coord_reduce_run(&cfg.reduce, cfg.outdir, err);
        int ok = rc == 0;
        MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
        if (rc == 0 && !ok) {
            rc = lm_err_set(err, LM_EINTERNAL, "reduce failed on another rank (see its log)");
        }
    }
    run_cfg_fini(&cfg);
    lm_job_free(job);
    return rc;
}
