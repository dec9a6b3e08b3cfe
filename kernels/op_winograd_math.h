/*
 * op_winograd_math.h - Winograd F(m x m, 3x3) tile transforms for m = 2 and m = 4 (Lavin &
 * Gray 2016, "Fast Algorithms for Convolutional Neural Networks"). With a = m + 2:
 *   forward   Y  = A^T [(G g G^T) .* (B^T d B)] A       d a x a input tile, Y m x m
 *   adjoint   dd = B [(G g G^T) .* (A dY A^T)] B^T      the input gradient of the same tile
 * F(2x2,3x3), interpolation points 0, 1, -1, inf:
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * F(4x4,3x3), points 0, 1, -1, 2, -2, inf:
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
 *          0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * Every 2-D transform applies its 1-D transform to the columns, then to the rows.
 * Tiles are row-major; k = row * a + column indexes the transformed tile.
 */
#ifndef OP_WINOGRAD_MATH_H
#define OP_WINOGRAD_MATH_H

#include "kernels/lm_hd.h"

/* ---- 1-D transforms: y (stride sy) = T x (stride sx) ---- */

static inline LM_HD void op_wino2_bt1(const float *x, int sx, float *y, int sy)
{
    float x0 = x[0], x1 = x[sx], x2 = x[2 * sx], x3 = x[3 * sx];
    y[0] = x0 - x2;
    y[sy] = x1 + x2;
    y[2 * sy] = x2 - x1;
    y[3 * sy] = x1 - x3;
}

static inline LM_HD void op_wino2_at1(const float *x, int sx, float *y, int sy)
{
    float x0 = x[0], x1 = x[sx], x2 = x[2 * sx], x3 = x[3 * sx];
    y[0] = x0 + x1 + x2;
    y[sy] = x1 - x2 - x3;
}

/* A (4x2): the adjoint of A^T. */
static inline LM_HD void op_wino2_a1(const float *x, int sx, float *y, int sy)
{
    float x0 = x[0], x1 = x[sx];
    y[0] = x0;
    y[sy] = x0 + x1;
    y[2 * sy] = x0 - x1;
    y[3 * sy] = -x1;
}

/* B (4x4): the adjoint of B^T. */
static inline LM_HD void op_wino2_b1(const float *x, int sx, float *y, int sy)
{
    float x0 = x[0], x1 = x[sx], x2 = x[2 * sx], x3 = x[3 * sx];
    y[0] = x0;
    y[sy] = x1 - x2 + x3;
    y[2 * sy] = x1 + x2 - x0;
    y[3 * sy] = -x3;
}

static inline LM_HD void op_wino4_bt1(const float *x, int sx, float *y, int sy)
{
    float x0 = x[0], x1 = x[sx], x2 = x[2 * sx], x3 = x[3 * sx], x4 = x[4 * sx], x5 = x[5 * sx];
    float p = x4 - 4.0f * x2, q = x3 - 4.0f * x1, r = x4 - x2, s = 2.0f * (x3 - x1);
    y[0] = 4.0f * x0 - 5.0f * x2 + x4;
    y[sy] = p + q;
    y[2 * sy] = p - q;
    y[3 * sy] = r + s;
    y[4 * sy] = r - s;
    y[5 * sy] = 4.0f * x1 - 5.0f * x3 + x5;
}

static inline LM_HD void op_wino4_at1(const float *x, int sx, float *y, int sy)
{
    float x0 = x[0], x1 = x[sx], x2 = x[2 * sx], x3 = x[3 * sx], x4 = x[4 * sx], x5 = x[5 * sx];
    float a = x1 + x2, b = x1 - x2, c = x3 + x4, d = x3 - x4;
    y[0] = x0 + a + c;
    y[sy] = b + 2.0f * d;
    y[2 * sy] = a + 4.0f * c;
    y[3 * sy] = b + 8.0f * d + x5;
}

/* A (6x4): the adjoint of A^T. */
static inline LM_HD void op_wino4_a1(const float *x, int sx, float *y, int sy)
{
    float x0 = x[0], x1 = x[sx], x2 = x[2 * sx], x3 = x[3 * sx];
    float e = x0 + x2, o = x1 + x3, e2 = x0 + 4.0f * x2, o2 = 2.0f * x1 + 8.0f * x3;
    y[0] = x0;
    y[sy] = e + o;
    y[2 * sy] = e - o;
    y[3 * sy] = e2 + o2;
    y[4 * sy] = e2 - o2;
    y[5 * sy] = x3;
}

/* B (6x6): the adjoint of B^T. */
static inline LM_HD void op_wino4_b1(const float *x, int sx, float *y, int sy)
{
    float x0 = x[0], x1 = x[sx], x2 = x[2 * sx], x3 = x[3 * sx], x4 = x[4 * sx], x5 = x[5 * sx];
    y[0] = 4.0f * x0;
    y[sy] = 4.0f * (x2 - x1) + 2.0f * (x4 - x3) + 4.0f * x5;
    y[2 * sy] = -5.0f * x0 - 4.0f * (x1 + x2) - (x3 + x4);
    y[3 * sy] = x1 - x2 + 2.0f * (x3 - x4) - 5.0f * x5;
    y[4 * sy] = x0 + x1 + x2 + x3 + x4;
    y[5 * sy] = x5;
}

/* ---- 2-D transforms: in is n x n row-major, out is p x p row-major ---- */

#define OP_WINO_2D(name, fn, n, p)                                                                 \
    static inline LM_HD void name(const float *in, float *out)                                     \
    {                                                                                              \
        float t_[(p) * (n)];                                                                       \
        _Pragma("GCC unroll 6") for (int c_ = 0; c_ < (n); c_++)                                   \
        {                                                                                          \
            fn(in + c_, (n), t_ + c_, (n));                                                        \
        }                                                                                          \
        _Pragma("GCC unroll 6") for (int r_ = 0; r_ < (p); r_++)                                   \
        {                                                                                          \
            fn(t_ + r_ * (n), 1, out + r_ * (p), 1);                                               \
        }                                                                                          \
    }

OP_WINO_2D(op_wino2_input, op_wino2_bt1, 4, 4)   /* v = B^T d B */
OP_WINO_2D(op_wino2_output, op_wino2_at1, 4, 2)  /* y = A^T m A */
OP_WINO_2D(op_wino2_grad_in, op_wino2_a1, 2, 4)  /* w = A dy A^T */
OP_WINO_2D(op_wino2_grad_out, op_wino2_b1, 4, 4) /* dd = B m B^T */
OP_WINO_2D(op_wino4_input, op_wino4_bt1, 6, 6)
OP_WINO_2D(op_wino4_output, op_wino4_at1, 6, 4)
OP_WINO_2D(op_wino4_grad_in, op_wino4_a1, 4, 6)
OP_WINO_2D(op_wino4_grad_out, op_wino4_b1, 6, 6)

/* u = G g G^T for m = 2 (u 4x4) or m = 4 (u 6x6); g 3x3 row-major. Computed in double. */
static inline LM_HD void op_wino_weight(const float g[9], int m, float *u)
{
    double t[18];
    int a = m + 2;
    for (int pass = 0; pass < 2; pass++) {
        for (int j = 0; j < (pass ? a : 3); j++) {
            /* pass 0: column j of g -> column j of t (a x 3); pass 1: row j of t -> row j of u */
            double g0, g1, g2;
            if (pass == 0) {
                g0 = g[j];
                g1 = g[3 + j];
                g2 = g[6 + j];
            } else {
                g0 = t[j * 3];
                g1 = t[j * 3 + 1];
                g2 = t[j * 3 + 2];
            }
            double r[6];
            if (m == 2) {
                r[0] = g0;
                r[1] = 0.5 * (g0 + g1 + g2);
                r[2] = 0.5 * (g0 - g1 + g2);
                r[3] = g2;
            } else {
                r[0] = g0 / 4.0;
                r[1] = -(g0 + g1 + g2) / 6.0;
                r[2] = -(g0 - g1 + g2) / 6.0;
                r[3] = (g0 + 2.0 * g1 + 4.0 * g2) / 24.0;
                r[4] = (g0 - 2.0 * g1 + 4.0 * g2) / 24.0;
                r[5] = g2;
            }
            for (int i = 0; i < a; i++) {
                if (pass == 0) {
                    t[i * 3 + j] = r[i];
                } else {
                    u[j * a + i] = (float)r[i];
                }
            }
        }
    }
}

#endif
