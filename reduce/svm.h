/*
 * svm.h - distributed L2-regularised L2-loss linear SVM (reduce phase).
 *
 * Objective (LIBLINEAR -s 1 / -s 2, "L2R_L2LOSS_SVC"), over the l training rows
 * of ALL ranks of a communicator, labels y_i in {-1,+1}:
 *
 *     f(w) = 1/2 w'w + C * sum_i max(0, 1 - y_i w'x~_i)^2
 *
 * with x~_i = [x_i, B] when a bias B > 0 is set (LIBLINEAR -B B: an appended
 * constant feature whose weight is regularised like the others).
 *
 * Solver: the PRIMAL truncated Newton method of LIBLINEAR -s 2 (>= 2.40, line
 * search variant; spec algorithms.md section 6.3), not the dual coordinate
 * descent of -s 1. Why: it is the method MPI-LIBLINEAR distributes (section 6.5).
 * Rows are split by instance; every rank keeps the full w and runs the same
 * iterations; per Newton step the only communication is an MPI_Allreduce of the
 * gradient and of one Hessian-vector product per CG step (dim+1 doubles each) and
 * of a few scalars. The result therefore does not depend on how rows are spread
 * over ranks (up to the order of floating-point sums), which dual CD cannot
 * offer (it is sequential over rows and randomised). -s 1 and -s 2 solve the
 * same problem, so the model matches either.
 *
 * Compute: the data stay float32 as given (no copy); every pass over the rows is
 * an OpenMP loop with double accumulation. The Hessian-vector product
 * X_I'(D X_I s) is fused row by row (dot product, then axpy of the same row while
 * it is in cache), so it reads the active rows from memory once instead of the
 * twice two BLAS gemv calls would; the line search reuses X s, as LIBLINEAR does.
 * Threads: one per ~2M elements of a pass (n * dim), at most OMP_NUM_THREADS, so
 * small problems (and the many small ones of the C path) stay single-threaded.
 * Under mpirun with several ranks per node set OMP_NUM_THREADS = cores / ranks.
 *
 * All functions taking an MPI_Comm are COLLECTIVE over it: every rank calls them
 * with the same parameters (its own rows), and they succeed on all ranks or fail
 * on all. A rank may hold zero rows.
 */
#ifndef SVM_H
#define SVM_H

#include <mpi.h>
#include <stdint.h>

#include "shared/lm_err.h"

/* A rank's rows of one problem. IN: everything is borrowed for the call. */
typedef struct svm_problem {
    int64_t n;            /* rows on this rank (>= 0) */
    int64_t dim;          /* features (same on every rank), without the bias */
    const float *x;       /* row r of the data is x + r * ldx (float32, row-major) */
    int64_t ldx;          /* row stride in floats (>= dim) */
    const int64_t *rows;  /* n row numbers into x, or NULL for rows 0..n-1 */
    const int8_t *y;      /* n labels, +1 or -1 */
    double bias;          /* B > 0: appended constant feature (-B B); <= 0: no bias */
} svm_problem;

/* Solver settings; svm_params_init() fills LIBLINEAR's -s 2 defaults. */
typedef struct svm_params {
    double C;        /* cost (> 0) */
    double eps;      /* -e: stop when |grad f| <= eps * max(min(#pos,#neg),1)/l * |grad f(0)| */
    int max_newton;  /* Newton iterations cap (LIBLINEAR: 1000) */
    int verbose;     /* 1: one DEBUG log line per Newton iteration */
} svm_params;

/* Global statistics of a solve (identical on every rank). */
typedef struct svm_stats {
    double obj;         /* f(w) at the end */
    double gnorm;       /* |grad f(w)| at the end */
    double gnorm0;      /* |grad f(0)| */
    int newton_iters;
    int cg_iters;       /* total CG steps (= Hessian-vector products) */
    int64_t n_pos, n_neg;
    int converged;      /* 1: gradient test met; 0: stopped by a cap or line-search failure */
} svm_stats;

void svm_params_init(svm_params *p);

/* Length of w for a problem: dim + 1 with a bias, else dim. */
int64_t svm_wlen(const svm_problem *prob);

/* Train. w (svm_wlen doubles, OUT; identical on all ranks on return) is also the
 * starting point when warm != 0 (a warm start, as LIBLINEAR's -C path does), else
 * it starts from 0. stats may be NULL. Errors: LM_ECONFIG (C <= 0, bad label,
 * dims differ across ranks, no rows anywhere), -ENOMEM, LM_ENUMERIC (NaN/Inf in
 * the data or the iterates), LM_EMPI. Collective over comm. */
int svm_train(const svm_problem *prob, const svm_params *par, MPI_Comm comm, double *w, int warm,
              svm_stats *stats, lm_err *err);

/* f(w) (the objective above) over all ranks' rows. Collective. */
int svm_objective(const svm_problem *prob, double C, const double *w, MPI_Comm comm, double *out,
                  lm_err *err);

/* Number of rows (over all ranks) with sign(w'x~) == y (0 counts as -1, as
 * LIBLINEAR's predict does), and the total row count. Collective. */
int svm_count_correct(const svm_problem *prob, const double *w, MPI_Comm comm, int64_t *correct,
                      int64_t *total, lm_err *err);

/* Model selection over a geometric path of C values, warm-started from one C to
 * the next (LIBLINEAR's -C for -s 2). */
typedef struct svm_path_params {
    double c_min;      /* first C; <= 0: LIBLINEAR's start, 2^floor(log2(1/(2 l max x~'x~))) */
    double c_max;      /* last C (LIBLINEAR: 1024) */
    double c_factor;   /* ratio of consecutive C (LIBLINEAR: 2) */
    int patience;      /* stop after this many C values without a better validation accuracy
                        * (0: walk the whole path) */
} svm_path_params;

typedef struct svm_path_point {
    double C;
    double val_acc;
    double train_acc;
    double obj;
    int newton_iters;
} svm_path_point;

typedef struct svm_path_result {
    double best_C;
    double best_val_acc;
    double best_train_acc;
    int n_points;
    svm_path_point points[64]; /* the C values tried, in order (at most 64) */
    svm_stats best_stats;
} svm_path_result;

void svm_path_params_init(svm_path_params *p);

/* Train on `train` for every C of the path and keep the w with the best
 * validation accuracy on `val` (ties: the smaller C, the more regularised).
 * par->C is ignored. w_best (svm_wlen doubles) is OUT. val may have zero rows on
 * every rank; then the training accuracy decides. Errors: as svm_train.
 * Collective over comm. */
int svm_train_path(const svm_problem *train, const svm_problem *val, const svm_params *par,
                   const svm_path_params *pp, MPI_Comm comm, double *w_best,
                   svm_path_result *res, lm_err *err);

#endif
