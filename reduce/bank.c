/*
 * bank.c - bank_build: labels -> selection -> distributed SVM per direction and
 * space -> unit normals -> conditional projections -> OUTDIR/bank/ (see bank.h).
 *
 * Flow (every rank runs the same steps):
 *   1. gather ids and the used label columns (a few bytes per row) so that every
 *      rank computes the same global selection and split for every task;
 *   2. train every (task, space) job, either one per group of ranks on a split
 *      communicator after moving the job's rows there (tasks mode) or one after
 *      the other across all ranks on the rows where they are (data mode);
 *   3. remaining-set accuracy (score tasks) on the rows where they are;
 *   4. rank 0 projects conditional directions and writes the files.
 */
#include "reduce/bank.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "shared/lm_log.h"

typedef struct task {
    char name[BANK_NAME_LEN];
    int col;          /* label column */
    int cls;          /* class index (CLASS columns), else -1 */
    int8_t *role;     /* N_total roles (enum bank_role) */
    bank_counts cnt;
    char skipped[160];
} task;

typedef struct job {
    int task, space;
    int64_t dim, wl;
    double *w; /* wl: weights (+ bias weight) */
    double C, val_acc, train_acc, rem_acc, obj, seconds;
    int newton, cg, converged, n_path;
    svm_path_point path[64];
} job;

#define JOB_SCALARS 12

static int mpi_ok(int rc, const char *what, lm_err *err)
{
    if (rc != MPI_SUCCESS) {
        return lm_err_set(err, LM_EMPI, "bank: %s failed (MPI error %d)", what, rc);
    }
    return 0;
}

/* The same code on every rank: the most negative one wins (0 if all ok). The
 * message travels from the lowest rank that failed. */
static int agree(int rc, MPI_Comm comm, lm_err *err)
{
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    /* MAXLOC: the failure flag, and among failed ranks the lowest one. */
    int mine[2] = {rc != 0 ? 1 : 0, rank};
    int who[2];
    MPI_Allreduce(mine, who, 1, MPI_2INT, MPI_MAXLOC, comm);
    if (who[0] == 0) {
        return 0;
    }
    int root = who[1];
    char msg[sizeof err->msg];
    int code = rc;
    if (rank == root) {
        snprintf(msg, sizeof msg, "%s", err != NULL ? err->msg : lm_strerror(rc));
    }
    MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, root, comm);
    MPI_Bcast(&code, 1, MPI_INT, root, comm);
    lm_err_set(err, code, "%s", msg);
    return code;
}

void bank_config_init(bank_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->all_attributes = 1;
    cfg->all_emotions = 1;
    cfg->C = 0.0;
    cfg->c_min = 0.0;
    cfg->c_max = 1024.0;
    cfg->c_factor = 2.0;
    cfg->patience = 5;
    cfg->ratio = 0.02;
    cfg->val_split = 0.3;
    cfg->balance = 0;
    cfg->seed = 0;
    cfg->eps = 0.001;
    cfg->bias = 1.0;
    cfg->parallel = BANK_PAR_AUTO;
    cfg->task_mem_mb = 4096.0;
}

static void trim_copy(char *dst, size_t cap, const char *s, size_t len)
{
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }
    if (len >= cap) {
        len = cap - 1;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
}

int bank_conditions_parse(bank_config *cfg, const char *text, lm_err *err)
{
    const char *p = text;
    while (*p != '\0') {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char entry[1024];
        trim_copy(entry, sizeof entry, p, len);
        p += len + (end ? 1 : 0);
        if (entry[0] == '\0') {
            continue;
        }
        if (cfg->n_conditional >= BANK_MAX_CONDITIONAL) {
            return lm_err_set(err, LM_ECONFIG, "bank conditions: more than %d entries",
                              BANK_MAX_CONDITIONAL);
        }
        char *bar = strchr(entry, '|');
        if (bar == NULL) {
            return lm_err_set(err, LM_ECONFIG,
                              "bank conditions: '%s' is not TARGET|COND[,COND...]", entry);
        }
        bank_condition *c = &cfg->conditional[cfg->n_conditional];
        memset(c, 0, sizeof *c);
        trim_copy(c->target, sizeof c->target, entry, (size_t)(bar - entry));
        const char *q = bar + 1;
        while (1) {
            const char *comma = strchr(q, ',');
            size_t l = comma ? (size_t)(comma - q) : strlen(q);
            if (c->n_cond >= BANK_MAX_CONDS) {
                return lm_err_set(err, LM_ECONFIG, "bank conditions: '%s' has more than %d",
                                  entry, BANK_MAX_CONDS);
            }
            trim_copy(c->cond[c->n_cond], BANK_NAME_LEN, q, l);
            if (c->cond[c->n_cond][0] == '\0') {
                return lm_err_set(err, LM_ECONFIG, "bank conditions: empty name in '%s'", entry);
            }
            c->n_cond++;
            if (!comma) {
                break;
            }
            q = comma + 1;
        }
        if (c->target[0] == '\0') {
            return lm_err_set(err, LM_ECONFIG, "bank conditions: empty target in '%s'", entry);
        }
        cfg->n_conditional++;
    }
    return 0;
}

static int in_list(const char (*list)[BANK_NAME_LEN], int n, const char *name)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(list[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

static int mkdir_p(const char *path, lm_err *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0777) != 0 && errno != EEXIST) {
                return lm_err_set(err, -errno, "%s: cannot create directory: %s", tmp,
                                  strerror(errno));
            }
            *p = '/';
        }
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST) {
        return lm_err_set(err, -errno, "%s: cannot create directory: %s", tmp, strerror(errno));
    }
    return 0;
}

/* ---- training one job on a communicator ------------------------------------ */

static int solve(const bank_config *cfg, const svm_problem *tr, const svm_problem *va,
                 MPI_Comm comm, job *jb, lm_err *err)
{
    double t0 = MPI_Wtime();
    svm_params par;
    svm_params_init(&par);
    par.eps = cfg->eps;
    int rc;
    if (cfg->C > 0.0) {
        par.C = cfg->C;
        svm_stats st;
        memset(&st, 0, sizeof st);
        rc = svm_train(tr, &par, comm, jb->w, 0, &st, err);
        int64_t c = 0, t = 0;
        if (rc == 0) {
            rc = svm_count_correct(tr, jb->w, comm, &c, &t, err);
            jb->train_acc = t > 0 ? (double)c / (double)t : 0.0;
        }
        if (rc == 0) {
            rc = svm_count_correct(va, jb->w, comm, &c, &t, err);
            jb->val_acc = t > 0 ? (double)c / (double)t : -1.0;
        }
        jb->C = cfg->C;
        jb->obj = st.obj;
        jb->newton = st.newton_iters;
        jb->cg = st.cg_iters;
        jb->converged = st.converged;
        jb->n_path = 0;
    } else {
        svm_path_params pp;
        svm_path_params_init(&pp);
        pp.c_min = cfg->c_min;
        pp.c_max = cfg->c_max;
        pp.c_factor = cfg->c_factor;
        pp.patience = cfg->patience;
        svm_path_result *res = malloc(sizeof *res);
        if (res == NULL) {
            return lm_err_set(err, -ENOMEM, "bank: out of memory");
        }
        rc = svm_train_path(tr, va, &par, &pp, comm, jb->w, res, err);
        if (rc == 0) {
            jb->C = res->best_C;
            jb->val_acc = res->best_val_acc;
            jb->train_acc = res->best_train_acc;
            jb->obj = res->best_stats.obj;
            jb->newton = res->best_stats.newton_iters;
            jb->cg = res->best_stats.cg_iters;
            jb->converged = res->best_stats.converged;
            jb->n_path = res->n_points;
            memcpy(jb->path, res->points, sizeof(svm_path_point) * (size_t)res->n_points);
        }
        free(res);
    }
    double dt = MPI_Wtime() - t0;
    MPI_Allreduce(&dt, &jb->seconds, 1, MPI_DOUBLE, MPI_MAX, comm);
    return rc;
}

/* Local train/val problems from rows given by role (rows index into x). */
typedef struct probs {
    int64_t *rows_tr, *rows_va;
    int8_t *y_tr, *y_va;
    svm_problem tr, va;
} probs;

static int probs_build(probs *P, const int8_t *role, int64_t n, const float *x, int64_t dim,
                       double bias)
{
    memset(P, 0, sizeof *P);
    size_t n1 = (size_t)(n > 0 ? n : 1);
    P->rows_tr = malloc(n1 * sizeof(int64_t));
    P->rows_va = malloc(n1 * sizeof(int64_t));
    P->y_tr = malloc(n1);
    P->y_va = malloc(n1);
    if (!P->rows_tr || !P->rows_va || !P->y_tr || !P->y_va) {
        return -ENOMEM;
    }
    int64_t a = 0, b = 0;
    for (int64_t i = 0; i < n; i++) {
        switch (role[i]) {
        case BANK_ROLE_TRAIN_POS: P->rows_tr[a] = i; P->y_tr[a++] = 1; break;
        case BANK_ROLE_TRAIN_NEG: P->rows_tr[a] = i; P->y_tr[a++] = -1; break;
        case BANK_ROLE_VAL_POS: P->rows_va[b] = i; P->y_va[b++] = 1; break;
        case BANK_ROLE_VAL_NEG: P->rows_va[b] = i; P->y_va[b++] = -1; break;
        default: break;
        }
    }
    svm_problem tr = {.n = a, .dim = dim, .x = x, .ldx = dim, .rows = P->rows_tr, .y = P->y_tr,
                      .bias = bias};
    svm_problem va = {.n = b, .dim = dim, .x = x, .ldx = dim, .rows = P->rows_va, .y = P->y_va,
                      .bias = bias};
    P->tr = tr;
    P->va = va;
    return 0;
}

static void probs_free(probs *P)
{
    free(P->rows_tr);
    free(P->rows_va);
    free(P->y_tr);
    free(P->y_va);
}

static int is_selected(int8_t r)
{
    return r >= BANK_ROLE_TRAIN_POS && r <= BANK_ROLE_VAL_NEG;
}

/* Pack a job's scalar results for a broadcast. */
static void job_pack(const job *jb, double *v)
{
    double s[JOB_SCALARS] = {jb->C,      jb->val_acc, jb->train_acc,  jb->obj,
                             jb->seconds, jb->newton, jb->cg,         jb->converged,
                             jb->n_path,  0,          0,              0};
    memcpy(v, s, sizeof s);
    for (int i = 0; i < jb->n_path; i++) {
        double *q = v + JOB_SCALARS + 5 * i;
        q[0] = jb->path[i].C;
        q[1] = jb->path[i].val_acc;
        q[2] = jb->path[i].train_acc;
        q[3] = jb->path[i].obj;
        q[4] = jb->path[i].newton_iters;
    }
}

static void job_unpack(job *jb, const double *v)
{
    jb->C = v[0];
    jb->val_acc = v[1];
    jb->train_acc = v[2];
    jb->obj = v[3];
    jb->seconds = v[4];
    jb->newton = (int)v[5];
    jb->cg = (int)v[6];
    jb->converged = (int)v[7];
    jb->n_path = (int)v[8];
    for (int i = 0; i < jb->n_path; i++) {
        const double *q = v + JOB_SCALARS + 5 * i;
        jb->path[i].C = q[0];
        jb->path[i].val_acc = q[1];
        jb->path[i].train_acc = q[2];
        jb->path[i].obj = q[3];
        jb->path[i].newton_iters = (int)q[4];
    }
}

/* ---- the build ------------------------------------------------------------- */

typedef struct ctx {
    const bank_config *cfg;
    const bank_data *d;
    MPI_Comm comm;
    int rank, size;
    int64_t N, off;    /* global rows, this rank's first global row */
    int64_t *counts;   /* size: rows per rank */
    int64_t *displs;   /* size: first global row per rank */
    uint64_t *ids;     /* N */
    float **colvals;   /* per column: N gathered values (NULL if unused) */
    int n_tasks;
    task *tasks;
    int n_spaces;
    int space_idx[BANK_MAX_SPACES];
    int n_jobs;
    job *jobs;
    const char *mode;
    int groups;
} ctx;

static int gather(ctx *C, lm_err *err)
{
    int P = C->size;
    C->counts = calloc((size_t)P, sizeof(int64_t));
    C->displs = calloc((size_t)P, sizeof(int64_t));
    int rc = 0;
    if (!C->counts || !C->displs) {
        rc = lm_err_set(err, -ENOMEM, "bank: out of memory");
    }
    rc = agree(rc, C->comm, err);
    if (rc != 0) {
        return rc;
    }
    int64_t n = C->d->n;
    rc = mpi_ok(MPI_Allgather(&n, 1, MPI_INT64_T, C->counts, 1, MPI_INT64_T, C->comm),
                "MPI_Allgather", err);
    if (rc != 0) {
        return rc;
    }
    C->N = 0;
    for (int p = 0; p < P; p++) {
        C->displs[p] = C->N;
        C->N += C->counts[p];
    }
    C->off = C->displs[C->rank];
    if (C->N > 2000000000LL) {
        return lm_err_set(err, LM_ETOOBIG, "bank: %lld rows exceed the 2^31 gather limit",
                          (long long)C->N);
    }
    int *ic = malloc(sizeof(int) * (size_t)P), *id = malloc(sizeof(int) * (size_t)P);
    C->ids = malloc(sizeof(uint64_t) * (size_t)(C->N > 0 ? C->N : 1));
    C->colvals = calloc((size_t)(C->d->n_columns > 0 ? C->d->n_columns : 1), sizeof(float *));
    int bad = !ic || !id || !C->ids || !C->colvals;
    for (int c = 0; !bad && c < C->d->n_columns; c++) {
        C->colvals[c] = malloc(sizeof(float) * (size_t)(C->N > 0 ? C->N : 1));
        bad |= C->colvals[c] == NULL;
    }
    rc = agree(bad ? lm_err_set(err, -ENOMEM, "bank: out of memory gathering labels") : 0,
               C->comm, err);
    for (int p = 0; rc == 0 && p < P; p++) {
        ic[p] = (int)C->counts[p];
        id[p] = (int)C->displs[p];
    }
    if (rc == 0) {
        rc = mpi_ok(MPI_Allgatherv(C->d->ids, (int)n, MPI_UINT64_T, C->ids, ic, id, MPI_UINT64_T,
                                   C->comm),
                    "MPI_Allgatherv", err);
    }
    for (int c = 0; rc == 0 && c < C->d->n_columns; c++) {
        rc = mpi_ok(MPI_Allgatherv(C->d->columns[c].values, (int)n, MPI_FLOAT, C->colvals[c], ic,
                                   id, MPI_FLOAT, C->comm),
                    "MPI_Allgatherv", err);
    }
    free(ic);
    free(id);
    return rc;
}

/* Tasks from columns and the config's attribute/emotion lists (identical on all
 * ranks: the columns' names and kinds are part of the collective contract). */
static int make_tasks(ctx *C, lm_err *err)
{
    const bank_config *cfg = C->cfg;
    const bank_data *d = C->d;
    int cap = 0;
    for (int c = 0; c < d->n_columns; c++) {
        cap += d->columns[c].kind == BANK_LABEL_CLASS ? d->columns[c].n_classes : 1;
    }
    C->tasks = calloc((size_t)(cap > 0 ? cap : 1), sizeof(task));
    if (C->tasks == NULL) {
        return lm_err_set(err, -ENOMEM, "bank: out of memory");
    }
    for (int c = 0; c < d->n_columns; c++) {
        const bank_column *col = &d->columns[c];
        if (col->kind == BANK_LABEL_CLASS) {
            for (int k = 0; k < col->n_classes; k++) {
                const char *nm = col->class_names[k];
                if (!cfg->all_emotions && !in_list(cfg->emotions, cfg->n_emotions, nm)) {
                    continue;
                }
                task *t = &C->tasks[C->n_tasks++];
                snprintf(t->name, sizeof t->name, "%s", nm);
                t->col = c;
                t->cls = k;
            }
        } else {
            if (!cfg->all_attributes && !in_list(cfg->attributes, cfg->n_attributes, col->name)) {
                continue;
            }
            task *t = &C->tasks[C->n_tasks++];
            snprintf(t->name, sizeof t->name, "%s", col->name);
            t->col = c;
            t->cls = -1;
        }
    }
    /* Every name the config asks for must exist. */
    for (int i = 0; i < cfg->n_attributes; i++) {
        int found = 0;
        for (int c = 0; c < d->n_columns; c++) {
            found |= d->columns[c].kind != BANK_LABEL_CLASS &&
                     strcmp(d->columns[c].name, cfg->attributes[i]) == 0;
        }
        if (!cfg->all_attributes && !found) {
            return lm_err_set(err, LM_ECONFIG, "[bank] attributes: no label column '%s'",
                              cfg->attributes[i]);
        }
    }
    for (int i = 0; i < cfg->n_emotions; i++) {
        int found = 0;
        for (int c = 0; c < d->n_columns; c++) {
            for (int k = 0; d->columns[c].kind == BANK_LABEL_CLASS && k < d->columns[c].n_classes;
                 k++) {
                found |= strcmp(d->columns[c].class_names[k], cfg->emotions[i]) == 0;
            }
        }
        if (!cfg->all_emotions && !found) {
            return lm_err_set(err, LM_ECONFIG, "[bank] emotions: no class '%s'", cfg->emotions[i]);
        }
    }
    for (int i = 0; i < cfg->n_conditional; i++) {
        const bank_condition *bc = &cfg->conditional[i];
        for (int k = -1; k < bc->n_cond; k++) {
            const char *nm = k < 0 ? bc->target : bc->cond[k];
            int found = 0;
            for (int t = 0; t < C->n_tasks; t++) {
                found |= strcmp(C->tasks[t].name, nm) == 0;
            }
            if (!found) {
                return lm_err_set(err, LM_ECONFIG,
                                  "[bank] conditions: '%s' is not a direction of this bank", nm);
            }
        }
    }
    /* Spaces. */
    C->n_spaces = 0;
    if (cfg->n_spaces == 0) {
        for (int s = 0; s < d->n_spaces && s < BANK_MAX_SPACES; s++) {
            C->space_idx[C->n_spaces++] = s;
        }
    } else {
        for (int i = 0; i < cfg->n_spaces; i++) {
            int found = -1;
            for (int s = 0; s < d->n_spaces; s++) {
                if (strcmp(d->spaces[s].name, cfg->spaces[i]) == 0) {
                    found = s;
                }
            }
            if (found < 0) {
                return lm_err_set(err, LM_ECONFIG, "[bank] spaces: no latent space '%s' loaded",
                                  cfg->spaces[i]);
            }
            C->space_idx[C->n_spaces++] = found;
        }
    }
    if (C->n_spaces == 0 || C->n_tasks == 0) {
        return lm_err_set(err, LM_ECONFIG, "bank: nothing to train (%d spaces, %d directions)",
                          C->n_spaces, C->n_tasks);
    }
    /* Selection per task, on the gathered labels (same on every rank). */
    float *tmp = malloc(sizeof(float) * (size_t)(C->N > 0 ? C->N : 1));
    if (tmp == NULL) {
        return lm_err_set(err, -ENOMEM, "bank: out of memory");
    }
    int rc = 0;
    for (int i = 0; rc == 0 && i < C->n_tasks; i++) {
        task *t = &C->tasks[i];
        const bank_column *col = &d->columns[t->col];
        const float *v = C->colvals[t->col];
        t->role = malloc((size_t)(C->N > 0 ? C->N : 1));
        if (t->role == NULL) {
            rc = lm_err_set(err, -ENOMEM, "bank: out of memory");
            break;
        }
        if (col->kind == BANK_LABEL_SCORE) {
            rc = bank_select_scores(v, C->ids, C->N, cfg->ratio, cfg->val_split, cfg->seed,
                                    t->role, &t->cnt, err);
        } else {
            const float *lab = v;
            if (col->kind == BANK_LABEL_CLASS) {
                for (int64_t g = 0; g < C->N; g++) {
                    float x = v[g];
                    int valid = isfinite(x) && x >= 0.0f && x < (float)col->n_classes;
                    tmp[g] = !valid ? 0.0f : ((int)x == t->cls ? 1.0f : -1.0f);
                }
                lab = tmp;
            }
            rc = bank_select_labels(lab, C->ids, C->N, cfg->val_split, cfg->balance, cfg->seed,
                                    t->role, &t->cnt, err);
        }
        if (rc == 0 && (t->cnt.train_pos == 0 || t->cnt.train_neg == 0)) {
            snprintf(t->skipped, sizeof t->skipped,
                     "no %s training rows (%lld valid, %lld dropped)",
                     t->cnt.train_pos == 0 ? "positive" : "negative", (long long)t->cnt.n_valid,
                     (long long)t->cnt.n_dropped);
            lm_log(LM_LOG_WARN, "bank: %s skipped: %s", t->name, t->skipped);
        }
    }
    free(tmp);
    return rc;
}

static int64_t space_dim(const bank_space *s)
{
    return (int64_t)s->num_ws * s->w_dim;
}

/* Data mode: job after job across all ranks, rows where they are. */
static int run_data(ctx *C, lm_err *err)
{
    int rc = 0;
    for (int j = 0; rc == 0 && j < C->n_jobs; j++) {
        job *jb = &C->jobs[j];
        const task *t = &C->tasks[jb->task];
        if (t->skipped[0] != '\0') {
            continue;
        }
        const bank_space *sp = &C->d->spaces[jb->space];
        probs P;
        rc = probs_build(&P, t->role + C->off, C->d->n, sp->x, jb->dim, C->cfg->bias);
        rc = agree(rc != 0 ? lm_err_set(err, rc, "bank: out of memory") : 0, C->comm, err);
        if (rc == 0) {
            rc = solve(C->cfg, &P.tr, &P.va, C->comm, jb, err);
        }
        probs_free(&P);
        if (rc == 0 && C->rank == 0) {
            lm_log(LM_LOG_INFO, "bank: %s/%s C=%g val %.4f train %.4f (%d Newton, %.2f s)",
                   sp->name, t->name, jb->C, jb->val_acc, jb->train_acc, jb->newton, jb->seconds);
        }
    }
    return rc;
}

/* Tasks mode: G groups; round r trains jobs r*G .. r*G+G-1, job r*G+g on group g
 * (world ranks g, g+G, g+2G, ...). A job's selected rows, in global order, go to
 * its group's members round-robin. */
static int run_tasks(ctx *C, lm_err *err)
{
    const int P = C->size, G = C->groups, me = C->rank;
    const int my_g = me % G, my_m = me / G;
    MPI_Comm gcomm;
    int rc = mpi_ok(MPI_Comm_split(C->comm, my_g, me, &gcomm), "MPI_Comm_split", err);
    if (rc != 0) {
        return rc;
    }
    int *sc = calloc((size_t)P, sizeof(int)), *sd = calloc((size_t)P, sizeof(int));
    int *rcn = calloc((size_t)P, sizeof(int)), *rd = calloc((size_t)P, sizeof(int));
    int *sc8 = calloc((size_t)P, sizeof(int)), *sd8 = calloc((size_t)P, sizeof(int));
    int *rc8 = calloc((size_t)P, sizeof(int)), *rd8 = calloc((size_t)P, sizeof(int));
    rc = agree((!sc || !sd || !rcn || !rd || !sc8 || !sd8 || !rc8 || !rd8)
                   ? lm_err_set(err, -ENOMEM, "bank: out of memory")
                   : 0,
               C->comm, err);
    const int rounds = (C->n_jobs + G - 1) / G;
    const int pack_len = JOB_SCALARS + 5 * 64;
    double *pack = malloc(sizeof(double) * (size_t)pack_len);
    for (int r = 0; rc == 0 && r < rounds; r++) {
        /* Send side: for each destination rank q, rows of the job of q's group. */
        size_t send_rows = 0;
        for (int q = 0; q < P; q++) {
            int j = r * G + q % G;
            sc8[q] = 0;
            if (j >= C->n_jobs || C->tasks[C->jobs[j].task].skipped[0] != '\0') {
                continue;
            }
            const task *t = &C->tasks[C->jobs[j].task];
            const int g = q % G, S = (P - g + G - 1) / G;
            int64_t k = 0; /* ordinal of selected rows before this rank */
            for (int64_t x = 0; x < C->off; x++) {
                k += is_selected(t->role[x]);
            }
            for (int64_t i = 0; i < C->d->n; i++) {
                if (is_selected(t->role[C->off + i])) {
                    sc8[q] += (k % S) == q / G;
                    k++;
                }
            }
            send_rows += (size_t)sc8[q];
        }
        /* Receive side: my group's job; rows of each source rank p. */
        int my_j = r * G + my_g;
        int active = my_j < C->n_jobs && C->tasks[C->jobs[my_j].task].skipped[0] == '\0';
        const int S_me = (P - my_g + G - 1) / G;
        int64_t recv_rows = 0;
        for (int p = 0; p < P; p++) {
            rc8[p] = 0;
        }
        if (active) {
            const task *t = &C->tasks[C->jobs[my_j].task];
            int64_t k = 0;
            for (int p = 0; p < P; p++) {
                for (int64_t x = C->displs[p]; x < C->displs[p] + C->counts[p]; x++) {
                    if (is_selected(t->role[x])) {
                        rc8[p] += (k % S_me) == my_m;
                        k++;
                    }
                }
                recv_rows += rc8[p];
            }
        }
        /* Buffers (float counts must fit in int: checked via task_mem_mb). */
        int64_t my_dim = active ? C->jobs[my_j].dim : 0;
        size_t send_floats = 0;
        for (int q = 0; q < P; q++) {
            int j = r * G + q % G;
            if (sc8[q] > 0) {
                send_floats += (size_t)sc8[q] * (size_t)C->jobs[j].dim;
            }
        }
        float *sx = malloc(sizeof(float) * (send_floats > 0 ? send_floats : 1));
        int8_t *s8 = malloc(send_rows > 0 ? send_rows : 1);
        float *rx = malloc(sizeof(float) * (size_t)(recv_rows * my_dim > 0 ? recv_rows * my_dim : 1));
        int8_t *r8 = malloc((size_t)(recv_rows > 0 ? recv_rows : 1));
        rc = agree((!sx || !s8 || !rx || !r8) ? lm_err_set(err, -ENOMEM,
                                                           "bank: out of memory moving rows")
                                              : 0,
                   C->comm, err);
        if (rc == 0) {
            size_t fo = 0, bo = 0;
            for (int q = 0; q < P; q++) {
                int j = r * G + q % G;
                sd[q] = (int)fo;
                sd8[q] = (int)bo;
                sc[q] = 0;
                if (sc8[q] == 0) {
                    continue;
                }
                const job *jb = &C->jobs[j];
                const task *t = &C->tasks[jb->task];
                const float *X = C->d->spaces[jb->space].x;
                const int g = q % G, S = (P - g + G - 1) / G;
                int64_t k = 0;
                for (int64_t x = 0; x < C->off; x++) {
                    k += is_selected(t->role[x]);
                }
                for (int64_t i = 0; i < C->d->n; i++) {
                    int8_t ro = t->role[C->off + i];
                    if (!is_selected(ro)) {
                        continue;
                    }
                    if ((k % S) == q / G) {
                        memcpy(sx + fo, X + i * jb->dim, sizeof(float) * (size_t)jb->dim);
                        fo += (size_t)jb->dim;
                        s8[bo++] = ro;
                    }
                    k++;
                }
                sc[q] = (int)(fo - (size_t)sd[q]);
            }
            int64_t ro = 0, ro8 = 0;
            for (int p = 0; p < P; p++) {
                rcn[p] = (int)(rc8[p] * my_dim);
                rd[p] = (int)ro;
                rd8[p] = (int)ro8;
                ro += rcn[p];
                ro8 += rc8[p];
            }
            rc = mpi_ok(MPI_Alltoallv(sx, sc, sd, MPI_FLOAT, rx, rcn, rd, MPI_FLOAT, C->comm),
                        "MPI_Alltoallv", err);
            if (rc == 0) {
                rc = mpi_ok(MPI_Alltoallv(s8, sc8, sd8, MPI_INT8_T, r8, rc8, rd8, MPI_INT8_T,
                                          C->comm),
                            "MPI_Alltoallv", err);
            }
        }
        free(sx);
        free(s8);
        /* Train my group's job on the group communicator. */
        int lrc = 0;
        if (rc == 0 && active) {
            job *jb = &C->jobs[my_j];
            probs Pp;
            lrc = probs_build(&Pp, r8, recv_rows, rx, my_dim, C->cfg->bias);
            lrc = agree(lrc != 0 ? lm_err_set(err, lrc, "bank: out of memory") : 0, gcomm, err);
            if (lrc == 0) {
                lrc = solve(C->cfg, &Pp.tr, &Pp.va, gcomm, jb, err);
            }
            probs_free(&Pp);
            if (lrc == 0 && my_m == 0) {
                lm_log(LM_LOG_INFO, "bank: %s/%s C=%g val %.4f train %.4f (%d Newton, %.2f s, "
                                    "group %d of %d ranks)",
                       C->d->spaces[jb->space].name, C->tasks[jb->task].name, jb->C, jb->val_acc,
                       jb->train_acc, jb->newton, jb->seconds, my_g, S_me);
            }
        }
        free(rx);
        free(r8);
        if (rc == 0) {
            rc = agree(lrc, C->comm, err);
        }
        /* Results from each group's first rank (world rank g) to everyone. */
        for (int g = 0; rc == 0 && g < G; g++) {
            int j = r * G + g;
            if (j >= C->n_jobs || C->tasks[C->jobs[j].task].skipped[0] != '\0') {
                continue;
            }
            job *jb = &C->jobs[j];
            if (me == g) {
                job_pack(jb, pack);
            }
            rc = mpi_ok(MPI_Bcast(jb->w, (int)jb->wl, MPI_DOUBLE, g, C->comm), "MPI_Bcast", err);
            if (rc == 0) {
                rc = mpi_ok(MPI_Bcast(pack, pack_len, MPI_DOUBLE, g, C->comm), "MPI_Bcast", err);
            }
            if (rc == 0 && me != g) {
                job_unpack(jb, pack);
            }
        }
    }
    free(pack);
    free(sc);
    free(sd);
    free(rcn);
    free(rd);
    free(sc8);
    free(sd8);
    free(rc8);
    free(rd8);
    MPI_Comm_free(&gcomm);
    return rc;
}

/* Remaining-set accuracy of score tasks, on the rows where they are. */
static int remaining_accuracy(ctx *C, lm_err *err)
{
    int rc = 0;
    for (int j = 0; rc == 0 && j < C->n_jobs; j++) {
        job *jb = &C->jobs[j];
        const task *t = &C->tasks[jb->task];
        jb->rem_acc = -1.0;
        if (t->skipped[0] != '\0' || t->cnt.rem_pos + t->cnt.rem_neg == 0) {
            continue;
        }
        int64_t n = C->d->n, m = 0;
        int64_t *rows = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
        int8_t *y = malloc((size_t)(n > 0 ? n : 1));
        rc = agree((!rows || !y) ? lm_err_set(err, -ENOMEM, "bank: out of memory") : 0, C->comm,
                   err);
        for (int64_t i = 0; rc == 0 && i < n; i++) {
            int8_t ro = t->role[C->off + i];
            if (ro == BANK_ROLE_REM_POS || ro == BANK_ROLE_REM_NEG) {
                rows[m] = i;
                y[m++] = ro == BANK_ROLE_REM_POS ? 1 : -1;
            }
        }
        if (rc == 0) {
            svm_problem p = {.n = m, .dim = jb->dim, .x = C->d->spaces[jb->space].x,
                             .ldx = jb->dim, .rows = rows, .y = y, .bias = C->cfg->bias};
            int64_t c = 0, tot = 0;
            rc = svm_count_correct(&p, jb->w, C->comm, &c, &tot, err);
            jb->rem_acc = tot > 0 ? (double)c / (double)tot : -1.0;
        }
        free(rows);
        free(y);
    }
    return rc;
}

/* ---- output (rank 0) -------------------------------------------------------- */

typedef struct outdir {
    int n;
    int cap;
    char (*space)[BANK_NAME_LEN];
    char (*name)[3 * BANK_NAME_LEN + BANK_MAX_CONDS * BANK_NAME_LEN];
    float **vec;
    int64_t *dim;
} outvecs;

static int out_add(outvecs *o, const char *space, const char *name, const double *v, int64_t dim)
{
    if (o->n == o->cap) {
        int nc = o->cap ? 2 * o->cap : 32;
        void *a = realloc(o->space, sizeof(*o->space) * (size_t)nc);
        if (a) {
            o->space = a;
        }
        void *b = realloc(o->name, sizeof(*o->name) * (size_t)nc);
        if (b) {
            o->name = b;
        }
        void *c = realloc(o->vec, sizeof(float *) * (size_t)nc);
        if (c) {
            o->vec = c;
        }
        void *d = realloc(o->dim, sizeof(int64_t) * (size_t)nc);
        if (d) {
            o->dim = d;
        }
        if (!a || !b || !c || !d) {
            return -ENOMEM;
        }
        o->cap = nc;
    }
    float *f = malloc(sizeof(float) * (size_t)dim);
    if (f == NULL) {
        return -ENOMEM;
    }
    for (int64_t j = 0; j < dim; j++) {
        f[j] = (float)v[j];
    }
    snprintf(o->space[o->n], sizeof o->space[0], "%s", space);
    snprintf(o->name[o->n], sizeof o->name[0], "%s", name);
    o->vec[o->n] = f;
    o->dim[o->n] = dim;
    o->n++;
    return 0;
}

static void out_free(outvecs *o)
{
    for (int i = 0; i < o->n; i++) {
        free(o->vec[i]);
    }
    free(o->space);
    free(o->name);
    free(o->vec);
    free(o->dim);
}

static int write_file_atomic(const char *path, const void *a, size_t na, const void *b, size_t nb,
                             const void *c, size_t nc, lm_err *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) {
        return lm_err_set(err, -errno, "%s: cannot create: %s", tmp, strerror(errno));
    }
    int ok = fwrite(a, 1, na, f) == na && (nb == 0 || fwrite(b, 1, nb, f) == nb) &&
             (nc == 0 || fwrite(c, 1, nc, f) == nc);
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok || rename(tmp, path) != 0) {
        e = e ? e : errno;
        remove(tmp);
        return lm_err_set(err, -(e ? e : EIO), "%s: write failed: %s", path,
                          strerror(e ? e : EIO));
    }
    return 0;
}

static int write_safetensors(const char *path, const outvecs *o, lm_err *err)
{
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "latentmill-bank");
    cJSON_AddStringToObject(meta, "manifest", "manifest.json");
    size_t off = 0;
    for (int i = 0; i < o->n; i++) {
        char key[4 * BANK_NAME_LEN + BANK_MAX_CONDS * BANK_NAME_LEN];
        snprintf(key, sizeof key, "%s/%s", o->space[i], o->name[i]);
        cJSON *t = cJSON_AddObjectToObject(h, key);
        cJSON_AddStringToObject(t, "dtype", "F32");
        double shape[2] = {1, (double)o->dim[i]};
        cJSON_AddItemToObject(t, "shape", cJSON_CreateDoubleArray(shape, 2));
        double offs[2] = {(double)off, (double)(off + sizeof(float) * (size_t)o->dim[i])};
        cJSON_AddItemToObject(t, "data_offsets", cJSON_CreateDoubleArray(offs, 2));
        off += sizeof(float) * (size_t)o->dim[i];
    }
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (js == NULL) {
        return lm_err_set(err, -ENOMEM, "%s: out of memory", path);
    }
    size_t jl = strlen(js);
    size_t padded = (jl + 7) / 8 * 8;
    char *hdr = malloc(8 + padded);
    char *data = malloc(off > 0 ? off : 1);
    int rc = 0;
    if (hdr == NULL || data == NULL) {
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory", path);
    } else {
        uint64_t L = padded;
        for (int b = 0; b < 8; b++) {
            hdr[b] = (char)((L >> (8 * b)) & 0xff);
        }
        memcpy(hdr + 8, js, jl);
        memset(hdr + 8 + jl, ' ', padded - jl);
        size_t p = 0;
        for (int i = 0; i < o->n; i++) {
            memcpy(data + p, o->vec[i], sizeof(float) * (size_t)o->dim[i]);
            p += sizeof(float) * (size_t)o->dim[i];
        }
        rc = write_file_atomic(path, hdr, 8 + padded, data, off, NULL, 0, err);
    }
    free(hdr);
    free(data);
    cJSON_free(js);
    return rc;
}

static const char *kind_name(const bank_column *c)
{
    return c->kind == BANK_LABEL_BINARY ? "binary" : c->kind == BANK_LABEL_CLASS ? "class" : "score";
}

static cJSON *counts_json(const bank_counts *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "valid", (double)c->n_valid);
    cJSON_AddNumberToObject(o, "dropped", (double)c->n_dropped);
    cJSON_AddNumberToObject(o, "train_pos", (double)c->train_pos);
    cJSON_AddNumberToObject(o, "train_neg", (double)c->train_neg);
    cJSON_AddNumberToObject(o, "val_pos", (double)c->val_pos);
    cJSON_AddNumberToObject(o, "val_neg", (double)c->val_neg);
    cJSON_AddNumberToObject(o, "remaining_pos", (double)c->rem_pos);
    cJSON_AddNumberToObject(o, "remaining_neg", (double)c->rem_neg);
    return o;
}

/* Unit normal of a job (weights without the bias weight). */
static int job_normal(const job *jb, double *out)
{
    double s = 0.0;
    for (int64_t j = 0; j < jb->dim; j++) {
        s += jb->w[j] * jb->w[j];
    }
    s = sqrt(s);
    if (!(s > 0.0)) {
        return LM_ENUMERIC;
    }
    for (int64_t j = 0; j < jb->dim; j++) {
        out[j] = jb->w[j] / s;
    }
    return 0;
}

static job *find_job(ctx *C, int space, const char *name)
{
    for (int j = 0; j < C->n_jobs; j++) {
        if (C->jobs[j].space == space && strcmp(C->tasks[C->jobs[j].task].name, name) == 0) {
            return &C->jobs[j];
        }
    }
    return NULL;
}

static int write_outputs(ctx *C, const char *outdir, double total_s, lm_err *err)
{
    const bank_config *cfg = C->cfg;
    char path[4096];
    snprintf(path, sizeof path, "%s/bank", outdir);
    int rc = mkdir_p(path, err);
    if (rc != 0) {
        return rc;
    }
    outvecs ov;
    memset(&ov, 0, sizeof ov);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "latentmill-bank");
    cJSON_AddNumberToObject(root, "version", 1);
    char ts[64];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    cJSON_AddStringToObject(root, "created", ts);
    cJSON_AddNumberToObject(root, "ranks", C->size);
    cJSON_AddStringToObject(root, "parallel", C->mode);
    cJSON_AddNumberToObject(root, "groups", C->groups);
    cJSON_AddStringToObject(root, "solver",
                            "L2-regularised L2-loss linear SVM (LIBLINEAR -s 1/-s 2 objective), "
                            "primal truncated Newton, distributed by rows");
    cJSON_AddNumberToObject(root, "bias", cfg->bias);
    cJSON_AddNumberToObject(root, "eps", cfg->eps);
    cJSON_AddStringToObject(root, "C_mode", cfg->C > 0.0 ? "fixed" : "validation");
    cJSON_AddNumberToObject(root, "ratio", cfg->ratio);
    cJSON_AddNumberToObject(root, "val_split", cfg->val_split);
    cJSON_AddBoolToObject(root, "balance", cfg->balance);
    cJSON_AddNumberToObject(root, "seed", (double)cfg->seed);
    cJSON_AddNumberToObject(root, "rows", (double)C->N);
    cJSON_AddNumberToObject(root, "seconds", total_s);
    cJSON *spaces = cJSON_AddArrayToObject(root, "spaces");
    for (int s = 0; s < C->n_spaces; s++) {
        const bank_space *sp = &C->d->spaces[C->space_idx[s]];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", sp->name);
        cJSON_AddNumberToObject(o, "num_ws", sp->num_ws);
        cJSON_AddNumberToObject(o, "w_dim", sp->w_dim);
        cJSON_AddNumberToObject(o, "dim", (double)space_dim(sp));
        cJSON_AddItemToArray(spaces, o);
    }
    cJSON *dirs = cJSON_AddArrayToObject(root, "directions");
    int64_t maxdim = 1;
    for (int s = 0; s < C->n_spaces; s++) {
        int64_t dd = space_dim(&C->d->spaces[C->space_idx[s]]);
        maxdim = dd > maxdim ? dd : maxdim;
    }
    double *nv = malloc(sizeof(double) * (size_t)maxdim);
    double *cv = malloc(sizeof(double) * (size_t)(maxdim * BANK_MAX_CONDS));
    if (nv == NULL || cv == NULL) {
        rc = lm_err_set(err, -ENOMEM, "bank: out of memory");
    }
    for (int s = 0; rc == 0 && s < C->n_spaces; s++) {
        const bank_space *sp = &C->d->spaces[C->space_idx[s]];
        snprintf(path, sizeof path, "%s/bank/%s", outdir, sp->name);
        rc = mkdir_p(path, err);
    }
    for (int j = 0; rc == 0 && j < C->n_jobs; j++) {
        const job *jb = &C->jobs[j];
        const task *t = &C->tasks[jb->task];
        const bank_space *sp = &C->d->spaces[jb->space];
        const bank_column *col = &C->d->columns[t->col];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "space", sp->name);
        cJSON_AddStringToObject(o, "kind", kind_name(col));
        cJSON_AddStringToObject(o, "column", col->name);
        cJSON_AddItemToObject(o, "counts", counts_json(&t->cnt));
        cJSON_AddItemToArray(dirs, o);
        if (t->skipped[0] != '\0') {
            cJSON_AddStringToObject(o, "skipped", t->skipped);
            continue;
        }
        if (job_normal(jb, nv) != 0) {
            cJSON_AddStringToObject(o, "skipped", "zero normal (no separation found)");
            continue;
        }
        char rel[512];
        snprintf(rel, sizeof rel, "%s/%s.npy", sp->name, t->name);
        snprintf(path, sizeof path, "%s/bank/%s", outdir, rel);
        rc = out_add(&ov, sp->name, t->name, nv, jb->dim);
        if (rc != 0) {
            rc = lm_err_set(err, rc, "bank: out of memory");
            break;
        }
        rc = bank_npy_save(path, ov.vec[ov.n - 1], 1, jb->dim, err);
        int64_t npos = t->cnt.train_pos + t->cnt.val_pos, nneg = t->cnt.train_neg + t->cnt.val_neg;
        cJSON_AddStringToObject(o, "file", rel);
        double shape[2] = {1, (double)jb->dim};
        cJSON_AddItemToObject(o, "shape", cJSON_CreateDoubleArray(shape, 2));
        cJSON_AddStringToObject(o, "dtype", "float32");
        cJSON_AddNumberToObject(o, "num_ws", sp->num_ws);
        cJSON_AddNumberToObject(o, "w_dim", sp->w_dim);
        cJSON_AddNumberToObject(o, "positive_fraction",
                                npos + nneg > 0 ? (double)npos / (double)(npos + nneg) : 0.0);
        cJSON_AddNumberToObject(o, "C", jb->C);
        cJSON_AddNumberToObject(o, "val_accuracy", jb->val_acc);
        cJSON_AddNumberToObject(o, "train_accuracy", jb->train_acc);
        if (jb->rem_acc >= 0.0) {
            cJSON_AddNumberToObject(o, "remaining_accuracy", jb->rem_acc);
        }
        cJSON_AddNumberToObject(o, "objective", jb->obj);
        cJSON_AddNumberToObject(o, "bias_weight", jb->wl > jb->dim ? jb->w[jb->dim] : 0.0);
        cJSON_AddNumberToObject(o, "newton_iters", jb->newton);
        cJSON_AddNumberToObject(o, "cg_iters", jb->cg);
        cJSON_AddBoolToObject(o, "converged", jb->converged);
        cJSON_AddNumberToObject(o, "seconds", jb->seconds);
        cJSON *pth = cJSON_AddArrayToObject(o, "C_path");
        for (int i = 0; i < jb->n_path; i++) {
            cJSON *q = cJSON_CreateObject();
            cJSON_AddNumberToObject(q, "C", jb->path[i].C);
            cJSON_AddNumberToObject(q, "val_accuracy", jb->path[i].val_acc);
            cJSON_AddNumberToObject(q, "train_accuracy", jb->path[i].train_acc);
            cJSON_AddNumberToObject(q, "newton_iters", jb->path[i].newton_iters);
            cJSON_AddItemToArray(pth, q);
        }
        cJSON_AddItemToObject(o, "conditions", cJSON_CreateArray());
    }
    /* Conditional directions. */
    for (int i = 0; rc == 0 && i < cfg->n_conditional; i++) {
        const bank_condition *bc = &cfg->conditional[i];
        for (int s = 0; rc == 0 && s < C->n_spaces; s++) {
            int si = C->space_idx[s];
            const bank_space *sp = &C->d->spaces[si];
            char name[sizeof ov.name[0]];
            int ln = snprintf(name, sizeof name, "%s_c", bc->target);
            for (int k = 0; k < bc->n_cond; k++) {
                ln += snprintf(name + ln, sizeof name - (size_t)ln, "_%s", bc->cond[k]);
            }
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", name);
            cJSON_AddStringToObject(o, "space", sp->name);
            cJSON_AddStringToObject(o, "kind", "conditional");
            cJSON_AddStringToObject(o, "base", bc->target);
            cJSON *ca = cJSON_AddArrayToObject(o, "conditions");
            cJSON_AddItemToArray(dirs, o);
            job *tj = find_job(C, si, bc->target);
            const char *why = NULL;
            if (tj == NULL || C->tasks[tj->task].skipped[0] != '\0' || job_normal(tj, nv) != 0) {
                why = "base direction was not trained";
            }
            int64_t dim = space_dim(sp);
            for (int k = 0; why == NULL && k < bc->n_cond; k++) {
                cJSON_AddItemToArray(ca, cJSON_CreateString(bc->cond[k]));
                job *cj = find_job(C, si, bc->cond[k]);
                if (cj == NULL || C->tasks[cj->task].skipped[0] != '\0' ||
                    job_normal(cj, cv + (int64_t)k * dim) != 0) {
                    why = "a condition direction was not trained";
                }
            }
            if (why != NULL) {
                cJSON_AddStringToObject(o, "skipped", why);
                continue;
            }
            double *base = malloc(sizeof(double) * (size_t)dim);
            if (base == NULL) {
                rc = lm_err_set(err, -ENOMEM, "bank: out of memory");
                break;
            }
            memcpy(base, nv, sizeof(double) * (size_t)dim);
            lm_err pe = {0};
            if (bank_project(base, cv, bc->n_cond, dim, nv, &pe) != 0) {
                cJSON_AddStringToObject(o, "skipped", pe.msg);
                free(base);
                continue;
            }
            double mx = 0.0, cb = 0.0;
            for (int k = 0; k < bc->n_cond; k++) {
                double dt = 0.0;
                for (int64_t jj = 0; jj < dim; jj++) {
                    dt += nv[jj] * cv[(int64_t)k * dim + jj];
                }
                mx = fmax(mx, fabs(dt));
            }
            for (int64_t jj = 0; jj < dim; jj++) {
                cb += nv[jj] * base[jj];
            }
            free(base);
            char rel[1024];
            snprintf(rel, sizeof rel, "%s/%s.npy", sp->name, name);
            snprintf(path, sizeof path, "%s/bank/%s", outdir, rel);
            rc = out_add(&ov, sp->name, name, nv, dim);
            if (rc != 0) {
                rc = lm_err_set(err, rc, "bank: out of memory");
                break;
            }
            rc = bank_npy_save(path, ov.vec[ov.n - 1], 1, dim, err);
            cJSON_AddStringToObject(o, "file", rel);
            double shape[2] = {1, (double)dim};
            cJSON_AddItemToObject(o, "shape", cJSON_CreateDoubleArray(shape, 2));
            cJSON_AddStringToObject(o, "dtype", "float32");
            cJSON_AddNumberToObject(o, "num_ws", sp->num_ws);
            cJSON_AddNumberToObject(o, "w_dim", sp->w_dim);
            cJSON_AddNumberToObject(o, "max_abs_cos_conditions", mx);
            cJSON_AddNumberToObject(o, "cos_with_base", cb);
        }
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/bank/bank.safetensors", outdir);
        rc = write_safetensors(path, &ov, err);
    }
    if (rc == 0) {
        char *js = cJSON_Print(root);
        if (js == NULL) {
            rc = lm_err_set(err, -ENOMEM, "bank: out of memory");
        } else {
            snprintf(path, sizeof path, "%s/bank/manifest.json", outdir);
            rc = write_file_atomic(path, js, strlen(js), "\n", 1, NULL, 0, err);
            cJSON_free(js);
        }
    }
    cJSON_Delete(root);
    free(nv);
    free(cv);
    out_free(&ov);
    return rc;
}

static void ctx_free(ctx *C)
{
    free(C->counts);
    free(C->displs);
    free(C->ids);
    if (C->colvals != NULL) {
        for (int c = 0; c < C->d->n_columns; c++) {
            free(C->colvals[c]);
        }
    }
    free(C->colvals);
    for (int t = 0; C->tasks != NULL && t < C->n_tasks; t++) {
        free(C->tasks[t].role);
    }
    free(C->tasks);
    for (int j = 0; C->jobs != NULL && j < C->n_jobs; j++) {
        free(C->jobs[j].w);
    }
    free(C->jobs);
}

int bank_build(const bank_config *cfg, const bank_data *local, MPI_Comm comm, const char *outdir,
               lm_err *err)
{
    double t0 = MPI_Wtime();
    ctx C;
    memset(&C, 0, sizeof C);
    C.cfg = cfg;
    C.d = local;
    C.comm = comm;
    MPI_Comm_rank(comm, &C.rank);
    MPI_Comm_size(comm, &C.size);
    int rc = 0;
    if (local->n < 0 || (local->n > 0 && local->ids == NULL) || local->n_spaces < 0 ||
        local->n_spaces > BANK_MAX_SPACES) {
        rc = lm_err_set(err, LM_ECONFIG, "bank: bad bank_data (n %lld, %d spaces)",
                        (long long)local->n, local->n_spaces);
    }
    rc = agree(rc, comm, err);
    if (rc == 0) {
        rc = gather(&C, err);
    }
    if (rc == 0) {
        rc = agree(make_tasks(&C, err), comm, err);
    }
    if (rc == 0) {
        C.n_jobs = C.n_tasks * C.n_spaces;
        C.jobs = calloc((size_t)C.n_jobs, sizeof(job));
        int bad = C.jobs == NULL;
        for (int j = 0; !bad && j < C.n_jobs; j++) {
            job *jb = &C.jobs[j];
            jb->space = C.space_idx[j / C.n_tasks];
            jb->task = j % C.n_tasks;
            jb->dim = space_dim(&local->spaces[jb->space]);
            jb->wl = jb->dim + (cfg->bias > 0.0 ? 1 : 0);
            jb->w = calloc((size_t)jb->wl, sizeof(double));
            jb->rem_acc = -1.0;
            bad |= jb->w == NULL;
        }
        rc = agree(bad ? lm_err_set(err, -ENOMEM, "bank: out of memory") : 0, comm, err);
    }
    if (rc == 0) {
        /* Choose the level of parallelism: tasks when several jobs exist and one
         * job's rows fit the budget (and the float counts of the exchange fit). */
        double maxbytes = 0.0;
        for (int j = 0; j < C.n_jobs; j++) {
            const task *t = &C.tasks[C.jobs[j].task];
            double rows = (double)(t->cnt.train_pos + t->cnt.train_neg + t->cnt.val_pos +
                                   t->cnt.val_neg);
            maxbytes = fmax(maxbytes, rows * (double)C.jobs[j].dim * 4.0);
        }
        int fits = maxbytes <= cfg->task_mem_mb * 1048576.0 && maxbytes / 4.0 < 2.0e9;
        int tasks_mode = cfg->parallel == BANK_PAR_TASKS ||
                         (cfg->parallel == BANK_PAR_AUTO && C.n_jobs >= 2 && C.size >= 2 && fits);
        if (tasks_mode && maxbytes / 4.0 >= 2.0e9) {
            tasks_mode = 0;
            lm_log(LM_LOG_WARN, "bank: parallel = tasks refused: a direction has %.3g floats",
                   maxbytes / 4.0);
        }
        C.groups = tasks_mode ? (C.n_jobs < C.size ? C.n_jobs : C.size) : 1;
        C.mode = tasks_mode ? "tasks" : "data";
        if (C.rank == 0) {
            lm_log(LM_LOG_INFO,
                   "bank: %d directions x %d spaces on %lld rows, %d ranks, %s mode (%d groups, "
                   "largest direction %.1f MB)",
                   C.n_tasks, C.n_spaces, (long long)C.N, C.size, C.mode, C.groups,
                   maxbytes / 1048576.0);
        }
        rc = tasks_mode ? run_tasks(&C, err) : run_data(&C, err);
        rc = agree(rc, comm, err);
    }
    if (rc == 0) {
        rc = agree(remaining_accuracy(&C, err), comm, err);
    }
    if (rc == 0) {
        int wrc = 0;
        if (C.rank == 0) {
            wrc = write_outputs(&C, outdir, MPI_Wtime() - t0, err);
        }
        rc = agree(wrc, comm, err);
    }
    ctx_free(&C);
    return rc;
}
