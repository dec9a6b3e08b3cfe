/*
 * test_tf_ops.c - NHWC kernels (kernels/tf_nhwc.h) against naive double
 * loops written straight from TensorFlow's definitions: conv2d (im2col +
 * sgemm) and depthwise conv with SAME (asymmetric: extra pad bottom/right)
 * and VALID padding and strides 1-2, separable conv, max pooling ignoring
 * padded cells, average pooling, geometry, softmax and greedy NMS; and the
 * backward passes by exact adjoint (dot-product) identities, since these ops
 * are linear (or, for max-pool, a selection): <A x, y> = <x, A^T y> with sums
 * in double, tolerance 1e-5 relative.
 * Tolerance 1e-5 relative to the output's largest magnitude (float32 sums of
 * at most a few hundred terms); a one-pixel padding shift gives O(1) errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/tf_nhwc.h"

static uint64_t rng = 88172645463325252ull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static float *rnd(size_t n)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        p[i] = frand();
    }
    return p;
}

static void compare(const char *what, const float *got, const double *want, size_t n)
{
    double mx = 0, scale = 1e-30;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(want[i]));
    }
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]) / scale;
        if (d > 1e-5 && bad++ < 5) {
            fprintf(stderr, "  %s[%zu]: expected %.7g got %.7g\n", what, i, want[i], got[i]);
        }
        mx = fmax(mx, d);
    }
    fprintf(stderr, "%s: max relative error %.3g over %zu values\n", what, mx, n);
    assert_true(mx <= 1e-5);
}

/* TF padding from first principles. */
static void tf_pad(int in, int k, int s, int same, int *out, int *before)
{
    if (same) {
        *out = (in + s - 1) / s;
        int p = (*out - 1) * s + k - in;
        *before = p > 0 ? p / 2 : 0;
    } else {
        *out = (in - k) / s + 1;
        *before = 0;
    }
}

static void conv_case(int H, int W, int C, int K, int S, int same, int CO)
{
    op_tf_geom g;
    assert_int_equal(op_tf_geom_init(&g, H, W, C, K, K, S, same ? OP_TF_SAME : OP_TF_VALID), 0);
    int OH, OW, pt, pl;
    tf_pad(H, K, S, same, &OH, &pt);
    tf_pad(W, K, S, same, &OW, &pl);
    assert_int_equal(g.OH, OH);
    assert_int_equal(g.OW, OW);
    assert_int_equal(g.pad_top, pt);
    float *in = rnd((size_t)H * W * C), *f = rnd((size_t)K * K * C * CO), *b = rnd((size_t)CO);
    float *dw = rnd((size_t)K * K * C);
    float *out = malloc((size_t)OH * OW * CO * sizeof *out);
    float *outd = malloc((size_t)OH * OW * C * sizeof *outd);
    float *scr = malloc((op_tf_conv2d_scratch(&g) + 1) * sizeof *scr);
    double *ref = calloc((size_t)OH * OW * CO, sizeof *ref);
    double *refd = calloc((size_t)OH * OW * C, sizeof *refd);
    op_tf_conv2d_forward(out, scr, in, f, b, &g, CO, OP_ACT_RELU);
    op_tf_depthwise_forward(outd, in, dw, NULL, &g, OP_ACT_NONE);
    for (int y = 0; y < OH; y++) {
        for (int x = 0; x < OW; x++) {
            for (int o = 0; o < CO; o++) {
                double s = b[o];
                for (int dy = 0; dy < K; dy++) {
                    for (int dx = 0; dx < K; dx++) {
                        int iy = y * S + dy - pt, ix = x * S + dx - pl;
                        if (iy < 0 || ix < 0 || iy >= H || ix >= W) {
                            continue;
                        }
                        for (int i = 0; i < C; i++) {
                            s += (double)in[((size_t)iy * W + ix) * C + i] *
                                 f[(((size_t)dy * K + dx) * C + i) * CO + o];
                        }
                    }
                }
                ref[((size_t)y * OW + x) * CO + o] = s > 0 ? s : 0;
            }
            for (int c = 0; c < C; c++) {
                double s = 0;
                for (int dy = 0; dy < K; dy++) {
                    for (int dx = 0; dx < K; dx++) {
                        int iy = y * S + dy - pt, ix = x * S + dx - pl;
                        if (iy >= 0 && ix >= 0 && iy < H && ix < W) {
                            s += (double)in[((size_t)iy * W + ix) * C + c] *
                                 dw[((size_t)dy * K + dx) * C + c];
                        }
                    }
                }
                refd[((size_t)y * OW + x) * C + c] = s;
            }
        }
    }
    char name[96];
    snprintf(name, sizeof name, "conv %dx%dx%d k%d s%d %s -> %d", H, W, C, K, S,
             same ? "SAME" : "VALID", CO);
    compare(name, out, ref, (size_t)OH * OW * CO);
    snprintf(name, sizeof name, "depthwise %dx%dx%d k%d s%d %s", H, W, C, K, S,
             same ? "SAME" : "VALID");
    compare(name, outd, refd, (size_t)OH * OW * C);
    free(in), free(f), free(b), free(dw), free(out), free(outd), free(scr), free(ref), free(refd);
}

static void test_conv(void **s)
{
    (void)s;
    conv_case(9, 7, 3, 3, 2, 1, 5); /* SAME stride 2: pad 0 top, 1 bottom on odd/even sizes */
    conv_case(8, 8, 4, 3, 2, 1, 6);
    conv_case(11, 10, 3, 7, 2, 0, 4); /* VALID 7x7 stride 2 (recognition's first layer) */
    conv_case(6, 5, 8, 1, 1, 0, 3);   /* pointwise fast path */
    conv_case(7, 7, 4, 1, 2, 1, 5);   /* 1x1 stride 2 SAME (age/gender expansion) */
    conv_case(5, 6, 2, 3, 1, 1, 3);
}

static void test_geom(void **s)
{
    (void)s;
    op_tf_geom g;
    op_tf_geom_init(&g, 112, 112, 3, 3, 3, 2, OP_TF_SAME);
    assert_int_equal(g.OH, 56);
    assert_int_equal(g.pad_top, 0); /* P = 1 goes to the bottom */
    op_tf_geom_init(&g, 13, 13, 1, 2, 2, 1, OP_TF_SAME);
    assert_int_equal(g.OH, 13);
    assert_int_equal(g.pad_top, 0);
    assert_int_equal(op_tf_geom_init(&g, 2, 2, 1, 3, 3, 1, OP_TF_VALID), -1);
}

static void test_separable(void **s)
{
    (void)s;
    const int H = 6, W = 5, C = 4, CO = 3;
    op_tf_geom g;
    op_tf_geom_init(&g, H, W, C, 3, 3, 1, OP_TF_SAME);
    float *in = rnd((size_t)H * W * C), *dw = rnd(9 * C), *pw = rnd((size_t)C * CO), *b = rnd(CO);
    float *t = malloc((size_t)H * W * C * sizeof *t), *o = malloc((size_t)H * W * CO * sizeof *o);
    float *d = malloc((size_t)H * W * C * sizeof *d);
    double *ref = calloc((size_t)H * W * CO, sizeof *ref);
    op_tf_separable_forward(o, t, in, dw, pw, b, &g, CO, OP_ACT_LEAKY);
    op_tf_depthwise_forward(d, in, dw, NULL, &g, OP_ACT_NONE);
    for (int p = 0; p < H * W; p++) {
        for (int k = 0; k < CO; k++) {
            double v = b[k];
            for (int c = 0; c < C; c++) {
                v += (double)d[p * C + c] * pw[c * CO + k];
            }
            ref[p * CO + k] = v >= 0 ? v : 0.1 * v;
        }
    }
    compare("separable + leaky", o, ref, (size_t)H * W * CO);
    free(in), free(dw), free(pw), free(b), free(t), free(o), free(d), free(ref);
}

static void test_pool(void **s)
{
    (void)s;
    /* All-negative input: a max-pool that counted padding as 0 would return 0. */
    const int H = 5, W = 5, C = 2;
    float in[50], out[50];
    double ref[50];
    for (int i = 0; i < 50; i++) {
        in[i] = -1.0f - (float)i;
    }
    op_tf_geom g;
    op_tf_geom_init(&g, H, W, C, 2, 2, 2, OP_TF_SAME);
    assert_int_equal(g.OH, 3);
    op_tf_maxpool_forward(out, in, &g);
    for (int y = 0; y < 3; y++) {
        for (int x = 0; x < 3; x++) {
            for (int c = 0; c < C; c++) {
                double m = -DBL_MAX;
                for (int dy = 0; dy < 2; dy++) {
                    for (int dx = 0; dx < 2; dx++) {
                        int iy = 2 * y + dy, ix = 2 * x + dx;
                        if (iy < H && ix < W) {
                            m = fmax(m, in[(iy * W + ix) * C + c]);
                        }
                    }
                }
                ref[(y * 3 + x) * C + c] = m;
            }
        }
    }
    compare("maxpool 2x2 s2 SAME", out, ref, 18);
    op_tf_geom_init(&g, H, W, C, 3, 3, 2, OP_TF_VALID);
    op_tf_avgpool_forward(out, in, &g);
    for (int y = 0; y < 2; y++) {
        for (int x = 0; x < 2; x++) {
            for (int c = 0; c < C; c++) {
                double m = 0;
                for (int dy = 0; dy < 3; dy++) {
                    for (int dx = 0; dx < 3; dx++) {
                        m += in[((2 * y + dy) * W + 2 * x + dx) * C + c];
                    }
                }
                ref[(y * 2 + x) * C + c] = m / 9;
            }
        }
    }
    compare("avgpool 3x3 s2 VALID", out, ref, 8);
}

static void test_softmax_nms(void **s)
{
    (void)s;
    float x[3] = {1000.0f, 1001.0f, 999.0f}, p[3];
    op_softmax_forward(p, x, 3);
    double e = exp(1.0), z = 1 + e + exp(-1.0);
    double ref[3] = {1 / z, e / z, exp(-1.0) / z};
    compare("softmax (large logits)", p, ref, 3);
    /* Box 1 overlaps box 0 with IoU 0.81 (dropped at 0.4), box 2 is apart. */
    float boxes[12] = {0, 0, 10, 10, 1, 1, 10, 10, 20, 20, 30, 30};
    float scores[3] = {0.6f, 0.9f, 0.7f};
    int keep[3], scr[3];
    int n = op_nms_forward(keep, scr, boxes, scores, 3, 0.4f, 3);
    assert_int_equal(n, 2);
    assert_int_equal(keep[0], 1);
    assert_int_equal(keep[1], 2);
    assert_int_equal(op_nms_forward(keep, scr, boxes, scores, 3, 0.9f, 3), 3);
    assert_int_equal(op_nms_forward(keep, scr, boxes, scores, 3, 0.9f, 1), 1);
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        s += (double)a[i] * b[i];
    }
    return s;
}

static void adjoint_eq(const char *what, double lhs, double rhs)
{
    double rel = fabs(lhs - rhs) / fmax(fabs(lhs), 1e-30);
    fprintf(stderr, "%s: <Ax,y> %.9g <x,A'y> %.9g (rel %.2g)\n", what, lhs, rhs, rel);
    assert_true(rel <= 1e-5);
}

static void conv_adjoint(int H, int W, int C, int K, int S, int same, int CO)
{
    op_tf_geom g;
    op_tf_geom_init(&g, H, W, C, K, K, S, same ? OP_TF_SAME : OP_TF_VALID);
    size_t ni = (size_t)H * W * C, no = (size_t)g.OH * g.OW * CO, nf = (size_t)K * K * C * CO;
    float *x = rnd(ni), *f = rnd(nf), *y = rnd(no), *df_dir = rnd(nf);
    float *out = malloc(no * sizeof *out), *dx = malloc(ni * sizeof *dx);
    float *df = calloc(nf, sizeof *df), *db = calloc((size_t)CO, sizeof *db);
    float *scr =
        malloc((op_tf_conv2d_backward_scratch(&g) + op_tf_conv2d_scratch(&g) + 1) * sizeof *scr);
    op_tf_conv2d_backward(dx, df, db, scr, y, x, f, &g, CO);
    op_tf_conv2d_forward(out, scr, x, f, NULL, &g, CO, OP_ACT_NONE);
    char name[96];
    snprintf(name, sizeof name, "conv %dx%dx%d k%d s%d %s -> %d: din", H, W, C, K, S,
             same ? "SAME" : "VALID", CO);
    adjoint_eq(name, dot(out, y, no), dot(x, dx, ni));
    op_tf_conv2d_forward(out, scr, x, df_dir, NULL, &g, CO, OP_ACT_NONE);
    snprintf(name, sizeof name, "conv k%d s%d %s: dfilt", K, S, same ? "SAME" : "VALID");
    adjoint_eq(name, dot(out, y, no), dot(df_dir, df, nf));
    double sy = 0;
    for (size_t i = 0; i < no; i++) {
        sy += y[i] * (double)1.0;
    }
    double sb = 0;
    for (int c = 0; c < CO; c++) {
        sb += db[c];
    }
    adjoint_eq("conv dbias (sum of dout)", sy, sb);
    free(x), free(f), free(y), free(df_dir), free(out), free(dx), free(df), free(db), free(scr);
}

static void test_backward(void **s)
{
    (void)s;
    conv_adjoint(9, 7, 3, 3, 2, 1, 5);
    conv_adjoint(11, 11, 3, 7, 2, 0, 4);
    conv_adjoint(8, 8, 4, 3, 2, 0, 6);
    conv_adjoint(6, 5, 8, 1, 1, 0, 3);
    conv_adjoint(7, 7, 4, 1, 2, 1, 5);
    conv_adjoint(5, 6, 2, 3, 1, 1, 3);
    /* avg-pool 2x2 s2 VALID on an odd size, and a global mean. */
    op_tf_geom g;
    op_tf_geom_init(&g, 7, 7, 3, 2, 2, 2, OP_TF_VALID);
    float *x = rnd(147), *y = rnd(147), *out = malloc(147 * sizeof *out), *dx = malloc(147 * 4);
    op_tf_avgpool_forward(out, x, &g);
    op_tf_avgpool_backward(dx, y, &g);
    adjoint_eq("avgpool 2x2 s2 VALID", dot(out, y, (size_t)g.OH * g.OW * 3), dot(x, dx, 147));
    op_tf_geom_init(&g, 7, 7, 3, 7, 7, 1, OP_TF_VALID);
    op_tf_avgpool_forward(out, x, &g);
    op_tf_avgpool_backward(dx, y, &g);
    adjoint_eq("global mean", dot(out, y, 3), dot(x, dx, 147));
    /* max-pool: the linearisation is a selection. Distinct values 8 apart,
     * a step below 1 on a 1/1024 grid so every sum and difference is exact. */
    float *base = malloc(147 * sizeof *base), *xp = malloc(147 * sizeof *xp);
    for (int i = 0; i < 147; i++) {
        base[i] = (float)(8 * ((i * 37) % 147));
        x[i] = roundf(x[i] * 1024.0f) / 1024.0f;
    }
    op_tf_geom_init(&g, 7, 7, 3, 3, 3, 2, OP_TF_VALID);
    size_t no = (size_t)g.OH * g.OW * 3;
    float *o0 = malloc(no * sizeof *o0);
    op_tf_maxpool_forward(o0, base, &g);
    for (int i = 0; i < 147; i++) {
        xp[i] = base[i] + x[i];
    }
    op_tf_maxpool_forward(out, xp, &g);
    for (size_t i = 0; i < no; i++) {
        out[i] = out[i] - o0[i];
    }
    op_tf_maxpool_backward(dx, y, base, &g);
    adjoint_eq("maxpool 3x3 s2 VALID", dot(out, y, no), dot(x, dx, 147));
    /* dense */
    float *w = rnd(12), *dw = calloc(12, sizeof *dw), *wd = rnd(12), yd[3], dxd[4], db[3] = {0};
    op_tf_dense_forward(out, x, w, NULL, 4, 3, OP_ACT_NONE);
    op_tf_dense_backward(dxd, dw, db, y, x, w, 4, 3);
    adjoint_eq("dense dx", dot(out, y, 3), dot(x, dxd, 4));
    op_tf_dense_forward(yd, x, wd, NULL, 4, 3, OP_ACT_NONE);
    adjoint_eq("dense dw", dot(yd, y, 3), dot(wd, dw, 12));
    free(x), free(y), free(out), free(dx), free(base), free(xp), free(o0), free(w), free(dw),
        free(wd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geom),        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_separable),   cmocka_unit_test(test_pool),
        cmocka_unit_test(test_softmax_nms), cmocka_unit_test(test_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
