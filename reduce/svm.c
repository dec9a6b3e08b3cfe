/*
 * svm.c - distributed primal truncated-Newton solver for the L2-regularised
 * L2-loss linear SVM (see svm.h for the objective and the reasons).
 *
 * Follows the method described in algorithms.md 6.3 (LIBLINEAR -s 2, line-search
 * truncated Newton with a diagonal preconditioner) and 6.5 (MPI-LIBLINEAR: rows
 * split by instance, allreduce of gradient and Hessian-vector products). Written
 * from the description, not from LIBLINEAR's source.
 *
 * Shapes: local rows n, features dim, wl = dim (+1 with a bias). Vectors of
 * length wl are double and replicated on every rank; per-row scalars (margins
 * z = X~w, X~s) are double and local.
 */
#include "reduce/svm.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "shared/lm_log.h"

/* Preconditioner M = (1 - a) I + a diag(H), a = 0.01 (LIBLINEAR's choice). */
#define SVM_PCG_ALPHA 0.01
/* Sufficient-decrease constant and trial cap of the backtracking line search. */
#define SVM_LS_ETA 0.01
#define SVM_LS_TRIALS 20
/* CG stops when the quadratic model's decrease stalls (LIBLINEAR eps_cg). */
#define SVM_CG_EPS 0.5

typedef struct solver {
    const svm_problem *p;
    MPI_Comm comm;
    double C;
    int64_t n, dim, wl;
    int hb;     /* has bias */
    double B;   /* bias value */
    int nthr;
    double *z;    /* n: x~_i . w */
    double *xs;   /* n: x~_i . s (line search) */
    int64_t *act; /* active rows: y_i z_i < 1 */
    int64_t nact;
    double *acc;  /* nthr x wl thread-local accumulators */
    double *acc2; /* nthr x wl, second accumulator (preconditioner diagonal) */
} solver;

static inline const float *row_ptr(const svm_problem *p, int64_t i)
{
    int64_t r = p->rows != NULL ? p->rows[i] : i;
    return p->x + r * p->ldx;
}

/* The two inner loops of every pass. Built twice (Haswell: AVX2+FMA, and baseline x86-64)
 * and picked at load time by the CPU (GCC function multiversioning), so the
 * binary stays portable without -march=native; the per-row call costs nothing
 * next to a 512- or 9216-element row. Measured on the 2-vCPU dev machine, 200k x
 * 512, one thread: 4.3 s -> see the README (Direction banks) for the figures. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SVM_CLONES __attribute__((target_clones("arch=haswell", "default"), noinline))
#else
#define SVM_CLONES
#endif

/* x_i . v over the first dim entries, double accumulation. */
SVM_CLONES static double dot_fd(const float *x, const double *v, int64_t dim)
{
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < dim; j++) {
        s += (double)x[j] * v[j];
    }
    return s;
}

SVM_CLONES static void axpy_fd(double a, const float *x, double *acc, int64_t dim)
{
#pragma omp simd
    for (int64_t j = 0; j < dim; j++) {
        acc[j] += a * (double)x[j];
    }
}

static int mpi_check(int rc, const char *what, lm_err *err)
{
    if (rc != MPI_SUCCESS) {
        return lm_err_set(err, LM_EMPI, "svm: %s failed (MPI error %d)", what, rc);
    }
    return 0;
}

static int allreduce_sum(double *buf, int64_t len, MPI_Comm comm, lm_err *err)
{
    /* Counts are int in MPI; wl is far below 2^31 for any latent space. */
    return mpi_check(MPI_Allreduce(MPI_IN_PLACE, buf, (int)len, MPI_DOUBLE, MPI_SUM, comm),
                     "MPI_Allreduce", err);
}

/* out[i] = x~_i . v for every local row. */
static void pass_xv(const solver *S, const double *v, double *out)
{
    const svm_problem *p = S->p;
    const double bterm = S->hb ? S->B * v[S->dim] : 0.0;
#pragma omp parallel for schedule(static) num_threads(S->nthr)
    for (int64_t i = 0; i < S->n; i++) {
        out[i] = dot_fd(row_ptr(p, i), v, S->dim) + bterm;
    }
}

/* Sum the thread accumulators acc[t*wl + j] into out[j] (fixed order). */
static void reduce_threads(const solver *S, const double *acc, double *out)
{
    const int64_t wl = S->wl;
#pragma omp parallel for schedule(static) num_threads(S->nthr)
    for (int64_t j = 0; j < wl; j++) {
        double s = 0.0;
        for (int t = 0; t < S->nthr; t++) {
            s += acc[(int64_t)t * wl + j];
        }
        out[j] = s;
    }
}

/* Rebuild the active set from z; return the local loss sum_i max(0, 1 - y z)^2. */
static double active_update(solver *S)
{
    const int8_t *y = S->p->y;
    double loss = 0.0;
    int64_t k = 0;
    for (int64_t i = 0; i < S->n; i++) {
        double m = 1.0 - y[i] * S->z[i];
        if (m > 0.0) {
            S->act[k++] = i;
            loss += m * m;
        }
    }
    S->nact = k;
    return loss;
}

/* Local data part of the gradient, gd = -2C sum_{i in I} y_i (1 - y_i z_i) x~_i,
 * and of diag(H) - 1, dg = 2C sum_{i in I} x~_ij^2 (for the preconditioner). */
static void pass_grad(solver *S, double *gd, double *dg)
{
    const svm_problem *p = S->p;
    const int64_t wl = S->wl, dim = S->dim;
    memset(S->acc, 0, sizeof(double) * (size_t)(wl * S->nthr));
    memset(S->acc2, 0, sizeof(double) * (size_t)(wl * S->nthr));
#pragma omp parallel num_threads(S->nthr)
    {
        int t = omp_get_thread_num();
        double *a = S->acc + (int64_t)t * wl;
        double *a2 = S->acc2 + (int64_t)t * wl;
#pragma omp for schedule(static)
        for (int64_t k = 0; k < S->nact; k++) {
            int64_t i = S->act[k];
            const float *x = row_ptr(p, i);
            double c = -2.0 * S->C * p->y[i] * (1.0 - p->y[i] * S->z[i]);
            axpy_fd(c, x, a, dim);
#pragma omp simd
            for (int64_t j = 0; j < dim; j++) {
                a2[j] += (double)x[j] * (double)x[j];
            }
            if (S->hb) {
                a[dim] += c * S->B;
                a2[dim] += S->B * S->B;
            }
        }
    }
    reduce_threads(S, S->acc, gd);
    reduce_threads(S, S->acc2, dg);
    for (int64_t j = 0; j < wl; j++) {
        dg[j] *= 2.0 * S->C;
    }
}

/* Local part of X_I'(X_I d), fused per row: the row is read from memory once. */
static void pass_hv(solver *S, const double *d, double *out)
{
    const svm_problem *p = S->p;
    const int64_t wl = S->wl, dim = S->dim;
    memset(S->acc, 0, sizeof(double) * (size_t)(wl * S->nthr));
#pragma omp parallel num_threads(S->nthr)
    {
        int t = omp_get_thread_num();
        double *a = S->acc + (int64_t)t * wl;
#pragma omp for schedule(static)
        for (int64_t k = 0; k < S->nact; k++) {
            const float *x = row_ptr(p, S->act[k]);
            double v = dot_fd(x, d, dim);
            if (S->hb) {
                v += S->B * d[dim];
                a[dim] += v * S->B;
            }
            axpy_fd(v, x, a, dim);
        }
    }
    reduce_threads(S, S->acc, out);
}

static double dotd(const double *a, const double *b, int64_t n)
{
    double s = 0.0;
    for (int64_t j = 0; j < n; j++) {
        s += a[j] * b[j];
    }
    return s;
}

/* Validate inputs collectively; fills global l, n_pos, n_neg. */
static int check_problem(const svm_problem *p, MPI_Comm comm, int64_t *npos, int64_t *nneg,
                         lm_err *err)
{
    int64_t v[4] = {0, 0, 0, 0}; /* bad labels, pos, neg, bad layout */
    if (p->n < 0 || p->dim <= 0 || (p->n > 0 && (p->x == NULL || p->y == NULL)) ||
        p->ldx < p->dim) {
        v[3] = 1;
    }
    for (int64_t i = 0; v[3] == 0 && i < p->n; i++) {
        if (p->y[i] == 1) {
            v[1]++;
        } else if (p->y[i] == -1) {
            v[2]++;
        } else {
            v[0]++;
        }
    }
    int64_t dmm[2] = {p->dim, -p->dim};
    int rc = mpi_check(MPI_Allreduce(MPI_IN_PLACE, v, 4, MPI_INT64_T, MPI_SUM, comm),
                       "MPI_Allreduce", err);
    if (rc == 0) {
        rc = mpi_check(MPI_Allreduce(MPI_IN_PLACE, dmm, 2, MPI_INT64_T, MPI_MAX, comm),
                       "MPI_Allreduce", err);
    }
    if (rc != 0) {
        return rc;
    }
    if (v[3] != 0 || dmm[0] != -dmm[1]) {
        return lm_err_set(err, LM_ECONFIG,
                          "svm: bad problem layout (n < 0, dim <= 0, ldx < dim, NULL data, or "
                          "dim differs across ranks: %lld vs %lld)",
                          (long long)dmm[0], (long long)-dmm[1]);
    }
    if (v[0] != 0) {
        return lm_err_set(err, LM_ECONFIG, "svm: %lld labels are not +1/-1", (long long)v[0]);
    }
    if (v[1] + v[2] == 0) {
        return lm_err_set(err, LM_ECONFIG, "svm: no training rows on any rank");
    }
    *npos = v[1];
    *nneg = v[2];
    return 0;
}

static void solver_free(solver *S)
{
    free(S->z);
    free(S->xs);
    free(S->act);
    free(S->acc);
    free(S->acc2);
}

static int solver_init(solver *S, const svm_problem *p, double C, MPI_Comm comm, lm_err *err)
{
    memset(S, 0, sizeof *S);
    S->p = p;
    S->comm = comm;
    S->C = C;
    S->n = p->n;
    S->dim = p->dim;
    S->hb = p->bias > 0.0;
    S->B = p->bias;
    S->wl = svm_wlen(p);
    /* Threads only pay off on large passes: on a small problem the fork/join of
     * two regions per CG step costs more than the work (and much more when
     * another process holds the second core). About 2M elements per thread. */
    int64_t work = S->n * S->wl / (1 << 21);
    int maxt = omp_get_max_threads();
    S->nthr = work < 1 ? 1 : (work < maxt ? (int)work : maxt);
    size_t n1 = (size_t)(S->n > 0 ? S->n : 1);
    S->z = calloc(n1, sizeof(double));
    S->xs = calloc(n1, sizeof(double));
    S->act = malloc(n1 * sizeof(int64_t));
    S->acc = malloc(sizeof(double) * (size_t)(S->wl * S->nthr));
    S->acc2 = malloc(sizeof(double) * (size_t)(S->wl * S->nthr));
    int bad = S->z == NULL || S->xs == NULL || S->act == NULL || S->acc == NULL || S->acc2 == NULL;
    int any = bad;
    int rc = mpi_check(MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm), "MPI_Allreduce", err);
    if (rc == 0 && any) {
        rc = lm_err_set(err, -ENOMEM, "svm: out of memory for %lld rows x %lld features",
                        (long long)S->n, (long long)S->wl);
    }
    if (rc != 0) {
        solver_free(S);
    }
    return rc;
}

void svm_params_init(svm_params *p)
{
    p->C = 1.0;
    p->eps = 0.01;
    p->max_newton = 1000;
    p->verbose = 0;
}

void svm_path_params_init(svm_path_params *p)
{
    p->c_min = 0.0;
    p->c_max = 1024.0;
    p->c_factor = 2.0;
    p->patience = 5;
}

int64_t svm_wlen(const svm_problem *prob)
{
    return prob->dim + (prob->bias > 0.0 ? 1 : 0);
}

/* f, gradient g and preconditioner diagonal at the current w (z must hold X~w). */
static int eval_fgd(solver *S, const double *w, double *f, double *g, double *dg, lm_err *err)
{
    double loss = active_update(S);
    pass_grad(S, g, dg);
    /* One allreduce for the loss, gradient and diagonal: [g (wl) | dg (wl) | loss]. */
    int64_t wl = S->wl;
    double *pack = malloc(sizeof(double) * (size_t)(2 * wl + 1));
    if (pack == NULL) {
        return lm_err_set(err, -ENOMEM, "svm: out of memory");
    }
    memcpy(pack, g, sizeof(double) * (size_t)wl);
    memcpy(pack + wl, dg, sizeof(double) * (size_t)wl);
    pack[2 * wl] = loss;
    int rc = allreduce_sum(pack, 2 * wl + 1, S->comm, err);
    if (rc == 0) {
        for (int64_t j = 0; j < wl; j++) {
            g[j] = w[j] + pack[j];
            dg[j] = 1.0 + pack[wl + j];
        }
        *f = 0.5 * dotd(w, w, wl) + S->C * pack[2 * wl];
    }
    free(pack);
    return rc;
}

int svm_train(const svm_problem *prob, const svm_params *par, MPI_Comm comm, double *w, int warm,
              svm_stats *stats, lm_err *err)
{
    int64_t npos = 0, nneg = 0;
    int rc = check_problem(prob, comm, &npos, &nneg, err);
    if (rc != 0) {
        return rc;
    }
    if (!(par->C > 0.0) || !isfinite(par->C) || !(par->eps > 0.0)) {
        return lm_err_set(err, LM_ECONFIG, "svm: C (%g) and eps (%g) must be positive", par->C,
                          par->eps);
    }
    solver S;
    rc = solver_init(&S, prob, par->C, comm, err);
    if (rc != 0) {
        return rc;
    }
    const int64_t wl = S.wl;
    double *vec = malloc(sizeof(double) * (size_t)(8 * wl));
    int bad = vec == NULL, any = 0;
    rc = mpi_check(MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm), "MPI_Allreduce", err);
    if (rc == 0 && any) {
        rc = lm_err_set(err, -ENOMEM, "svm: out of memory");
    }
    if (rc != 0) {
        free(vec);
        solver_free(&S);
        return rc;
    }
    double *g = vec, *dg = vec + wl, *s = vec + 2 * wl, *r = vec + 3 * wl, *d = vec + 4 * wl;
    double *Hd = vec + 5 * wl, *zc = vec + 6 * wl, *M = vec + 7 * wl;
    svm_stats st;
    memset(&st, 0, sizeof st);
    st.n_pos = npos;
    st.n_neg = nneg;
    double f = 0.0;

    /* |grad f(0)| for the relative stopping rule (LIBLINEAR computes it even on a
     * warm start). At w = 0 every row is active. */
    memset(s, 0, sizeof(double) * (size_t)wl);
    memset(S.z, 0, sizeof(double) * (size_t)(S.n > 0 ? S.n : 1));
    rc = eval_fgd(&S, s, &f, g, dg, err);
    if (rc != 0) {
        goto done;
    }
    st.gnorm0 = sqrt(dotd(g, g, wl));
    if (!warm) {
        memset(w, 0, sizeof(double) * (size_t)wl);
    } else {
        pass_xv(&S, w, S.z);
        rc = eval_fgd(&S, w, &f, g, dg, err);
        if (rc != 0) {
            goto done;
        }
    }
    double gnorm = sqrt(dotd(g, g, wl));
    const int64_t l = npos + nneg;
    const double eps_p =
        par->eps * (double)(npos < nneg ? (npos > 1 ? npos : 1) : (nneg > 1 ? nneg : 1)) /
        (double)l;
    if (!isfinite(f) || !isfinite(gnorm) || !isfinite(st.gnorm0)) {
        rc = lm_err_set(err, LM_ENUMERIC, "svm: NaN or Inf in the training rows (objective %g, |grad f(0)| %g)", f, st.gnorm0);
        goto done;
    }
    if (gnorm <= eps_p * st.gnorm0) {
        st.converged = 1;
    }
    const int max_cg = (int)(wl > 5 ? wl : 5);
    for (int iter = 1; !st.converged && iter <= par->max_newton; iter++) {
        /* Preconditioned CG on H s = -g, H = I + 2C X_I'X_I (matrix-free). */
        for (int64_t j = 0; j < wl; j++) {
            M[j] = (1.0 - SVM_PCG_ALPHA) + SVM_PCG_ALPHA * dg[j];
            s[j] = 0.0;
            r[j] = -g[j];
            zc[j] = r[j] / M[j];
            d[j] = zc[j];
        }
        double zTr = dotd(zc, r, wl);
        double cgtol = fmin(SVM_CG_EPS, sqrt(sqrt(zTr)));
        double Q = 0.0;
        int cg = 0;
        while (cg < max_cg) {
            cg++;
            rc = 0;
            pass_hv(&S, d, Hd);
            rc = allreduce_sum(Hd, wl, comm, err);
            if (rc != 0) {
                goto done;
            }
            for (int64_t j = 0; j < wl; j++) {
                Hd[j] = d[j] + 2.0 * S.C * Hd[j];
            }
            double dHd = dotd(d, Hd, wl);
            if (dHd <= 1e-16) {
                break;
            }
            double alpha = zTr / dHd;
            for (int64_t j = 0; j < wl; j++) {
                s[j] += alpha * d[j];
                r[j] -= alpha * Hd[j];
            }
            /* Q(s) = g's + s'Hs/2 = (g's - r's)/2 since r = -g - Hs. */
            double newQ = -0.5 * (dotd(s, r, wl) - dotd(s, g, wl));
            double Qdiff = newQ - Q;
            if (newQ <= 0.0 && Qdiff <= 0.0) {
                if (cg * Qdiff >= cgtol * newQ) {
                    break;
                }
            } else {
                lm_log(LM_LOG_DEBUG, "svm: quadratic model not decreasing in CG step %d", cg);
                break;
            }
            Q = newQ;
            for (int64_t j = 0; j < wl; j++) {
                zc[j] = r[j] / M[j];
            }
            double zTr_new = dotd(zc, r, wl);
            double beta = zTr_new / zTr;
            for (int64_t j = 0; j < wl; j++) {
                d[j] = zc[j] + beta * d[j];
            }
            zTr = zTr_new;
        }
        st.cg_iters += cg;

        /* Backtracking line search along s using X~s once: f(w + a s) is a function
         * of z + a X~s and three inner products. */
        pass_xv(&S, s, S.xs);
        const double wTw = dotd(w, w, wl), wTs = dotd(w, s, wl), sTs = dotd(s, s, wl);
        const double gTs = dotd(g, s, wl);
        const int8_t *y = prob->y;
        double step = 1.0, fnew = f;
        int ok = 0;
        for (int t = 0; t < SVM_LS_TRIALS; t++) {
            double loss = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : loss) num_threads(S.nthr)
            for (int64_t i = 0; i < S.n; i++) {
                double m = 1.0 - y[i] * (S.z[i] + step * S.xs[i]);
                if (m > 0.0) {
                    loss += m * m;
                }
            }
            rc = allreduce_sum(&loss, 1, comm, err);
            if (rc != 0) {
                goto done;
            }
            fnew = 0.5 * (wTw + 2.0 * step * wTs + step * step * sTs) + S.C * loss;
            if (fnew - f <= SVM_LS_ETA * step * gTs) {
                ok = 1;
                break;
            }
            step *= 0.5;
        }
        if (!ok) {
            lm_log(LM_LOG_WARN, "svm: line search failed at Newton iteration %d (C=%g)", iter,
                   S.C);
            st.newton_iters = iter;
            break;
        }
        for (int64_t j = 0; j < wl; j++) {
            w[j] += step * s[j];
        }
        for (int64_t i = 0; i < S.n; i++) {
            S.z[i] += step * S.xs[i];
        }
        double fold = f;
        rc = eval_fgd(&S, w, &f, g, dg, err);
        if (rc != 0) {
            goto done;
        }
        gnorm = sqrt(dotd(g, g, wl));
        st.newton_iters = iter;
        if (par->verbose) {
            lm_log(LM_LOG_DEBUG, "svm: iter %d f %.10e |g| %.3e CG %d step %.3g active %lld", iter,
                   f, gnorm, cg, step, (long long)S.nact);
        }
        if (!isfinite(f) || !isfinite(gnorm)) {
            rc = lm_err_set(err, LM_ENUMERIC, "svm: objective became %g at iteration %d", f, iter);
            goto done;
        }
        if (gnorm <= eps_p * st.gnorm0) {
            st.converged = 1;
            break;
        }
        if (fabs(fold - f) <= 1e-12 * fabs(f)) {
            lm_log(LM_LOG_DEBUG, "svm: objective change below 1e-12 relative, stopping");
            break;
        }
    }
    if (!st.converged && st.newton_iters >= par->max_newton) {
        lm_log(LM_LOG_WARN, "svm: reached %d Newton iterations (C=%g)", par->max_newton, S.C);
    }
    st.obj = f;
    st.gnorm = gnorm;
    if (stats != NULL) {
        *stats = st;
    }
done:
    free(vec);
    solver_free(&S);
    return rc;
}

int svm_objective(const svm_problem *prob, double C, const double *w, MPI_Comm comm, double *out,
                  lm_err *err)
{
    int64_t npos, nneg;
    int rc = check_problem(prob, comm, &npos, &nneg, err);
    if (rc != 0) {
        return rc;
    }
    solver S;
    rc = solver_init(&S, prob, C, comm, err);
    if (rc != 0) {
        return rc;
    }
    pass_xv(&S, w, S.z);
    double loss = active_update(&S);
    rc = allreduce_sum(&loss, 1, comm, err);
    if (rc == 0) {
        *out = 0.5 * dotd(w, w, S.wl) + C * loss;
    }
    solver_free(&S);
    return rc;
}

int svm_count_correct(const svm_problem *prob, const double *w, MPI_Comm comm, int64_t *correct,
                      int64_t *total, lm_err *err)
{
    int64_t v[2] = {0, prob->n};
    double *z = malloc(sizeof(double) * (size_t)(prob->n > 0 ? prob->n : 1));
    int bad = z == NULL, any = 0;
    int rc = mpi_check(MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm), "MPI_Allreduce", err);
    if (rc == 0 && any) {
        rc = lm_err_set(err, -ENOMEM, "svm: out of memory");
    }
    if (rc == 0 && prob->n > 0) {
        solver S;
        memset(&S, 0, sizeof S);
        S.p = prob;
        S.n = prob->n;
        S.dim = prob->dim;
        S.hb = prob->bias > 0.0;
        S.B = prob->bias;
        S.wl = svm_wlen(prob);
        int64_t work = S.n * S.wl / (1 << 21);
        S.nthr = work < 1 ? 1 : (work < omp_get_max_threads() ? (int)work : omp_get_max_threads());
        pass_xv(&S, w, z);
        for (int64_t i = 0; i < prob->n; i++) {
            int pred = z[i] > 0.0 ? 1 : -1;
            v[0] += pred == prob->y[i];
        }
    }
    if (rc == 0) {
        rc = mpi_check(MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_INT64_T, MPI_SUM, comm),
                       "MPI_Allreduce", err);
    }
    free(z);
    if (rc == 0) {
        *correct = v[0];
        *total = v[1];
    }
    return rc;
}

int svm_train_path(const svm_problem *train, const svm_problem *val, const svm_params *par,
                   const svm_path_params *pp, MPI_Comm comm, double *w_best,
                   svm_path_result *res, lm_err *err)
{
    const int64_t wl = svm_wlen(train);
    if (!(pp->c_max > 0.0) || !(pp->c_factor > 1.0)) {
        return lm_err_set(err, LM_ECONFIG, "svm: C path needs c_max > 0 and factor > 1 (%g, %g)",
                          pp->c_max, pp->c_factor);
    }
    /* Start C (LIBLINEAR's rule for L2-loss SVC): below it the model hardly moves. */
    double c0 = pp->c_min;
    if (!(c0 > 0.0)) {
        double mx[2] = {0.0, (double)train->n}; /* max x~'x~, l */
        for (int64_t i = 0; i < train->n; i++) {
            const float *x = row_ptr(train, i);
            double q = train->bias > 0.0 ? train->bias * train->bias : 0.0;
            for (int64_t j = 0; j < train->dim; j++) {
                q += (double)x[j] * x[j];
            }
            mx[0] = q > mx[0] ? q : mx[0];
        }
        double lsum = mx[1];
        int rc = mpi_check(MPI_Allreduce(MPI_IN_PLACE, mx, 1, MPI_DOUBLE, MPI_MAX, comm),
                           "MPI_Allreduce", err);
        if (rc == 0) {
            rc = mpi_check(MPI_Allreduce(MPI_IN_PLACE, &lsum, 1, MPI_DOUBLE, MPI_SUM, comm),
                           "MPI_Allreduce", err);
        }
        if (rc != 0) {
            return rc;
        }
        if (lsum < 1.0 || !(mx[0] > 0.0)) {
            c0 = pp->c_max;
        } else {
            c0 = pow(2.0, floor(log2(1.0 / (2.0 * lsum * mx[0]))));
        }
    }
    double *w = calloc((size_t)wl, sizeof(double));
    if (w == NULL) {
        return lm_err_set(err, -ENOMEM, "svm: out of memory");
    }
    memset(res, 0, sizeof *res);
    res->best_val_acc = -1.0;
    svm_params p = *par;
    int rc = 0, since = 0;
    int64_t vt = 0, vc = 0;
    for (double C = c0; C <= pp->c_max * (1.0 + 1e-12) && res->n_points < 64; C *= pp->c_factor) {
        p.C = C;
        svm_stats st;
        rc = svm_train(train, &p, comm, w, res->n_points > 0, &st, err);
        if (rc != 0) {
            break;
        }
        int64_t tc = 0, tt = 0;
        rc = svm_count_correct(train, w, comm, &tc, &tt, err);
        if (rc == 0) {
            rc = svm_count_correct(val, w, comm, &vc, &vt, err);
        }
        if (rc != 0) {
            break;
        }
        double tacc = tt > 0 ? (double)tc / (double)tt : 0.0;
        double vacc = vt > 0 ? (double)vc / (double)vt : tacc;
        svm_path_point *pt = &res->points[res->n_points++];
        pt->C = C;
        pt->val_acc = vacc;
        pt->train_acc = tacc;
        pt->obj = st.obj;
        pt->newton_iters = st.newton_iters;
        lm_log(LM_LOG_DEBUG, "svm: C=%g val %.4f train %.4f newton %d cg %d", C, vacc, tacc,
               st.newton_iters, st.cg_iters);
        if (vacc > res->best_val_acc + 1e-12) {
            res->best_val_acc = vacc;
            res->best_train_acc = tacc;
            res->best_C = C;
            res->best_stats = st;
            memcpy(w_best, w, sizeof(double) * (size_t)wl);
            since = 0;
        } else {
            since++;
        }
        if ((pp->patience > 0 && since >= pp->patience) || res->best_val_acc >= 1.0) {
            break;
        }
    }
    free(w);
    return rc;
}
