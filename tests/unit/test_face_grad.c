/*
 * test_face_grad.c - input gradient of the face recognition net
 * (frec_backward) against central finite differences of the forward, on a
 * real face (astronaut.png, the golden descriptor crop), loss
 * L = sum(desc * R) with a fixed random R: 6 random directions over all
 * 67 500 inputs and 24 single inputs (the 18 largest gradients and 6 spread
 * over the image).
 *
 * Why statistical tolerances: the net is piecewise linear (ReLU, max-pool)
 * with so many units near their kinks that one-sided differences of the
 * float32 forward disagree by several percent at every step size (measured:
 * e.g. 0.0088 vs 0.0071 at step 1.6e-3), so no single finite difference is
 * exact. Each op's backward is checked exactly by adjoint identities in
 * test_tf_ops.c; here the composition must agree with FD in direction
 * (cosine >= 0.99 for both sets) and within 10 % for >= 80 % of the checks.
 * A missed shortcut, a wrong pooling route or a transposed filter gives
 * cosines far below that.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "models/frec.h"
#include "tests/unit/face_golden.h"

#define N_IN (FREC_SIZE * FREC_SIZE * 3)

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static double loss(const frec_model *m, float *ws, const float *x, const float *R)
{
    float d[FREC_DIM];
    frec_forward(m, d, ws, x);
    double s = 0;
    for (int i = 0; i < FREC_DIM; i++) {
        s += (double)d[i] * R[i];
    }
    return s;
}

static double cosine(const double *a, const double *b, int n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

static void test_input_gradient(void **state)
{
    (void)state;
    frec_model *m = NULL;
    lm_err e = {0};
    assert_int_equal(frec_model_load(&m, NULL, &e), 0);
    fg_case c;
    assert_int_equal(fg_case_load(&c, "astronaut", "astronaut.png"), 0);
    faces_rect r = {171, 71, 106, 106}; /* golden descriptor crop */
    float *x = malloc(N_IN * sizeof *x), *xp = malloc(N_IN * sizeof *xp);
    float *g = malloc(N_IN * sizeof *g), *v = malloc(N_IN * sizeof *v);
    float *ws = malloc(frec_ws_floats() * sizeof *ws);
    float *bws = malloc(frec_backward_ws_floats() * sizeof *bws);
    faces_prep_input(x, FREC_SIZE, c.rgb, c.W, c.H, &r, 1, faces_mean_face, 255.0f);
    float R[FREC_DIM], desc[FREC_DIM];
    for (int i = 0; i < FREC_DIM; i++) {
        R[i] = frand();
    }
    frec_forward(m, desc, ws, x);
    frec_backward(m, g, bws, ws, x, R);
    enum { ND = 6, NI = 24 };
    double an[ND + NI], fd[ND + NI];
    const double h = 2e-3;
    for (int t = 0; t < ND; t++) {
        an[t] = 0;
        for (int i = 0; i < N_IN; i++) {
            v[i] = frand() * 0.1f;
            an[t] += (double)g[i] * v[i];
        }
        for (int i = 0; i < N_IN; i++) {
            xp[i] = x[i] + (float)h * v[i];
        }
        double lp = loss(m, ws, xp, R);
        for (int i = 0; i < N_IN; i++) {
            xp[i] = x[i] - (float)h * v[i];
        }
        fd[t] = (lp - loss(m, ws, xp, R)) / (2 * h);
    }
    /* Single inputs: the 18 largest gradients, then 6 spread over the image. */
    float *ga = malloc(N_IN * sizeof *ga);
    for (int i = 0; i < N_IN; i++) {
        ga[i] = fabsf(g[i]);
    }
    for (int t = 0; t < NI; t++) {
        int idx = 0;
        if (t < 18) {
            for (int i = 0; i < N_IN; i++) {
                idx = ga[i] > ga[idx] ? i : idx;
            }
            ga[idx] = -1;
        } else {
            idx = (int)((t - 17) * (N_IN / 7.0)) + 1;
        }
        memcpy(xp, x, N_IN * sizeof *xp);
        xp[idx] = x[idx] + (float)h;
        double lp = loss(m, ws, xp, R);
        xp[idx] = x[idx] - (float)h;
        an[ND + t] = g[idx];
        fd[ND + t] = (lp - loss(m, ws, xp, R)) / (2 * h);
    }
    int close = 0;
    for (int t = 0; t < ND + NI; t++) {
        double rel = fabs(fd[t] - an[t]) / fmax(fabs(fd[t]), 1e-12);
        close += rel <= 0.1;
        fprintf(stderr, "%s %2d: analytic %+.6f finite-difference %+.6f (rel %.2g)\n",
                t < ND ? "direction" : "input", t, an[t], fd[t], rel);
    }
    double cd = cosine(an, fd, ND), ci = cosine(an + ND, fd + ND, NI);
    fprintf(stderr,
            "cosine(analytic, FD): directions %.5f, inputs %.5f (need >= 0.99); "
            "%d of %d within 10%% (need >= 80%%)\n",
            cd, ci, close, ND + NI);
    assert_true(cd >= 0.99 && ci >= 0.99);
    assert_true(close * 10 >= (ND + NI) * 8);
    free(x), free(xp), free(g), free(v), free(ws), free(bws), free(ga);
    fg_case_fini(&c);
    frec_model_free(m);
}

int main(void)
{
    fg_require_models();
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_input_gradient)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
