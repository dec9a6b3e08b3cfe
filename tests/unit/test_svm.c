/*
 * test_svm.c - reduce/svm: the distributed primal Newton solver on one rank.
 *
 * Synthetic latents with a planted direction u (labels = sign of a noisy
 * projection): the recovered normal must have cosine >= 0.99 with u at a
 * realistic size; the solution must be a minimiser (small gradient, no
 * perturbation lowers f); the C path must select by validation; bad inputs fail
 * with LM_ECONFIG. The match against Debian's liblinear-train is
 * tests/integration/test_svm_liblinear.sh.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mpi.h>

#include "reduce/bank.h"
#include "reduce/svm.h"

typedef struct synth {
    int64_t n, dim;
    float *x, *u, *s;
    int8_t *y;
} synth;

static void synth_make(synth *d, int64_t n, int64_t dim, double noise, uint64_t seed)
{
    d->n = n;
    d->dim = dim;
    d->x = malloc(sizeof(float) * (size_t)(n * dim));
    d->u = malloc(sizeof(float) * (size_t)dim);
    d->s = malloc(sizeof(float) * (size_t)n);
    d->y = malloc((size_t)n);
    assert_non_null(d->x);
    bank_synth_dirs(seed, 1, dim, d->u);
    bank_synth_rows(seed, 0, n, dim, d->x);
    bank_synth_scores(seed, d->x, 0, n, dim, d->u, 1, noise, d->s);
    for (int64_t i = 0; i < n; i++) {
        d->y[i] = d->s[i] > 0 ? 1 : -1;
    }
}

static void synth_free(synth *d)
{
    free(d->x);
    free(d->u);
    free(d->s);
    free(d->y);
}

static double cosine_wu(const double *w, const float *u, int64_t dim)
{
    double a = 0, b = 0, c = 0;
    for (int64_t j = 0; j < dim; j++) {
        a += w[j] * u[j];
        b += w[j] * w[j];
        c += (double)u[j] * u[j];
    }
    return a / sqrt(b * c);
}

static svm_problem problem_of(const synth *d, int64_t first, int64_t n)
{
    svm_problem p = {.n = n, .dim = d->dim, .x = d->x + first * d->dim, .ldx = d->dim,
                     .rows = NULL, .y = d->y + first, .bias = 1.0};
    return p;
}

/* 512-D, 20k rows, label noise 0.3 (about 10 % of labels flipped near the
 * boundary): cosine with the planted direction >= 0.99. */
static void test_planted_direction(void **state)
{
    (void)state;
    synth d;
    synth_make(&d, 20000, 512, 0.3, 11);
    svm_problem p = problem_of(&d, 0, d.n);
    svm_params par;
    svm_params_init(&par);
    par.C = 1.0;
    double *w = calloc(513, sizeof(double));
    svm_stats st;
    lm_err e = {0};
    int rc = svm_train(&p, &par, MPI_COMM_SELF, w, 0, &st, &e);
    if (rc != 0) {
        fail_msg("svm_train: %s", e.msg);
    }
    double cs = cosine_wu(w, d.u, d.dim);
    printf("planted 512x20000: cosine %.6f obj %.6f newton %d cg %d |g|/|g0| %.2e\n", cs, st.obj,
           st.newton_iters, st.cg_iters, st.gnorm / st.gnorm0);
    assert_true(st.converged);
    assert_true(cs >= 0.99);
    int64_t c = 0, t = 0;
    assert_int_equal(svm_count_correct(&p, w, MPI_COMM_SELF, &c, &t, &e), 0);
    printf("train accuracy %.4f\n", (double)c / (double)t);
    assert_int_equal(t, d.n);
    assert_true((double)c / (double)t > 0.85);
    free(w);
    synth_free(&d);
}

/* The solution is a minimiser: a tight eps gives |grad| <= 1e-4 |grad(0)| and
 * random perturbations of w (relative 1e-3) never lower the objective. */
static void test_minimiser(void **state)
{
    (void)state;
    synth d;
    synth_make(&d, 3000, 64, 1.0, 5);
    svm_problem p = problem_of(&d, 0, d.n);
    svm_params par;
    svm_params_init(&par);
    par.C = 0.5;
    par.eps = 1e-4;
    double w[65], w2[65];
    svm_stats st;
    lm_err e = {0};
    assert_int_equal(svm_train(&p, &par, MPI_COMM_SELF, w, 0, &st, &e), 0);
    printf("minimiser: f %.10f |g| %.3e |g0| %.3e newton %d\n", st.obj, st.gnorm, st.gnorm0,
           st.newton_iters);
    assert_true(st.gnorm <= 1e-4 * st.gnorm0 * 1.0001);
    double f0 = 0;
    assert_int_equal(svm_objective(&p, par.C, w, MPI_COMM_SELF, &f0, &e), 0);
    assert_true(fabs(f0 - st.obj) <= 1e-9 * fabs(f0));
    uint64_t r = 12345;
    int worse = 0;
    for (int t = 0; t < 20; t++) {
        for (int j = 0; j < 65; j++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            double u = ((double)(r >> 11) / 9007199254740992.0) - 0.5;
            w2[j] = w[j] * (1.0 + 2e-3 * u) + 1e-4 * u;
        }
        double f1 = 0;
        assert_int_equal(svm_objective(&p, par.C, w2, MPI_COMM_SELF, &f1, &e), 0);
        if (f1 < f0 - 1e-9 * f0) {
            printf("perturbation %d lowers f: %.12f < %.12f\n", t, f1, f0);
            worse++;
        }
    }
    assert_int_equal(worse, 0);
    synth_free(&d);
}

/* A warm start from the solution converges at once to the same point. */
static void test_warm_start(void **state)
{
    (void)state;
    synth d;
    synth_make(&d, 2000, 32, 0.5, 9);
    svm_problem p = problem_of(&d, 0, d.n);
    svm_params par;
    svm_params_init(&par);
    par.C = 2.0;
    par.eps = 1e-3;
    double w[33], w2[33];
    svm_stats a, b;
    assert_int_equal(svm_train(&p, &par, MPI_COMM_SELF, w, 0, &a, NULL), 0);
    memcpy(w2, w, sizeof w);
    assert_int_equal(svm_train(&p, &par, MPI_COMM_SELF, w2, 1, &b, NULL), 0);
    printf("cold newton %d, warm newton %d\n", a.newton_iters, b.newton_iters);
    assert_true(b.newton_iters <= 1);
    assert_true(fabs(a.obj - b.obj) <= 1e-6 * a.obj);
    synth_free(&d);
}

/* Model selection over C: high-dimensional, few rows (the W+ situation). The
 * path must try several C values, pick the best validation accuracy, and that
 * accuracy must be well above chance. */
static void test_c_path(void **state)
{
    (void)state;
    synth d;
    synth_make(&d, 1400, 256, 0.5, 21);
    svm_problem tr = problem_of(&d, 0, 1000), va = problem_of(&d, 1000, 400);
    svm_params par;
    svm_params_init(&par);
    svm_path_params pp;
    svm_path_params_init(&pp);
    pp.c_factor = 4.0;
    pp.patience = 3;
    double w[257];
    svm_path_result res;
    lm_err e = {0};
    int rc = svm_train_path(&tr, &va, &par, &pp, MPI_COMM_SELF, w, &res, &e);
    if (rc != 0) {
        fail_msg("path: %s", e.msg);
    }
    double best = 0;
    for (int i = 0; i < res.n_points; i++) {
        printf("  C=%-10g val %.4f train %.4f newton %d\n", res.points[i].C,
               res.points[i].val_acc, res.points[i].train_acc, res.points[i].newton_iters);
        best = fmax(best, res.points[i].val_acc);
    }
    printf("best C %g val %.4f\n", res.best_C, res.best_val_acc);
    assert_true(res.n_points >= 4);
    assert_true(res.best_val_acc == best);
    assert_true(res.best_val_acc > 0.7);
    int64_t c, t;
    assert_int_equal(svm_count_correct(&va, w, MPI_COMM_SELF, &c, &t, &e), 0);
    assert_true(fabs((double)c / (double)t - res.best_val_acc) < 1e-12);
    synth_free(&d);
}

static void test_bad_input(void **state)
{
    (void)state;
    float x[4] = {1, 2, 3, 4};
    int8_t y[2] = {1, 0};
    svm_problem p = {.n = 2, .dim = 2, .x = x, .ldx = 2, .y = y, .bias = 1};
    svm_params par;
    svm_params_init(&par);
    double w[3];
    lm_err e = {0};
    assert_int_equal(svm_train(&p, &par, MPI_COMM_SELF, w, 0, NULL, &e), LM_ECONFIG);
    printf("bad label: %s\n", e.msg);
    y[1] = -1;
    par.C = -1;
    assert_int_equal(svm_train(&p, &par, MPI_COMM_SELF, w, 0, NULL, &e), LM_ECONFIG);
    par.C = 1;
    x[3] = NAN;
    assert_int_equal(svm_train(&p, &par, MPI_COMM_SELF, w, 0, NULL, &e), LM_ENUMERIC);
    printf("nan: %s\n", e.msg);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planted_direction), cmocka_unit_test(test_minimiser),
        cmocka_unit_test(test_warm_start),        cmocka_unit_test(test_c_path),
        cmocka_unit_test(test_bad_input),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    MPI_Finalize();
    return rc;
}
