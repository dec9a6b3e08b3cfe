/*
 * op_winograd_math.h - Winograd F(2x2, 3x3) transforms (Lavin & Gray 2016, "Fast
 * Algorithms for Convolutional Neural Networks"): Y = A^T [(G g G^T) .* (B^T d B)] A for a
 * 4x4 input tile d, 3x3 kernel g and 2x2 output tile Y, with
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 * Flipping g in both axes permutes the rows of G g G^T: G J = P G with P = (3 1 2 0),
 * which lets the input gradient reuse the forward's transformed weights.
 */
#ifndef OP_WINOGRAD_MATH_H
#define OP_WINOGRAD_MATH_H

#include "kernels/lm_hd.h"

/* v = B^T d B; d and v 4x4 row-major. */
static inline LM_HD void op_wino_input(const float d[16], float v[16])
{
    float t[16];
    for (int c = 0; c < 4; c++) {
        t[0 * 4 + c] = d[0 * 4 + c] - d[2 * 4 + c];
        t[1 * 4 + c] = d[1 * 4 + c] + d[2 * 4 + c];
        t[2 * 4 + c] = d[2 * 4 + c] - d[1 * 4 + c];
        t[3 * 4 + c] = d[1 * 4 + c] - d[3 * 4 + c];
    }
    for (int r = 0; r < 4; r++) {
        const float *tr = t + r * 4;
        v[r * 4 + 0] = tr[0] - tr[2];
        v[r * 4 + 1] = tr[1] + tr[2];
        v[r * 4 + 2] = tr[2] - tr[1];
        v[r * 4 + 3] = tr[1] - tr[3];
    }
}

/* y = A^T m A; m 4x4, y 2x2 row-major. */
static inline LM_HD void op_wino_output(const float m[16], float y[4])
{
    float s[8];
    for (int c = 0; c < 4; c++) {
        s[0 * 4 + c] = m[0 * 4 + c] + m[1 * 4 + c] + m[2 * 4 + c];
        s[1 * 4 + c] = m[1 * 4 + c] - m[2 * 4 + c] - m[3 * 4 + c];
    }
    for (int r = 0; r < 2; r++) {
        const float *sr = s + r * 4;
        y[r * 2 + 0] = sr[0] + sr[1] + sr[2];
        y[r * 2 + 1] = sr[1] - sr[2] - sr[3];
    }
}

/* u = G g G^T; g 3x3, u 4x4 row-major (computed in double, stored as float). */
static inline LM_HD void op_wino_weight(const float g[9], float u[16])
{
    double t[12];
    for (int c = 0; c < 3; c++) {
        double g0 = g[c], g1 = g[3 + c], g2 = g[6 + c];
        t[0 * 3 + c] = g0;
        t[1 * 3 + c] = 0.5 * (g0 + g1 + g2);
        t[2 * 3 + c] = 0.5 * (g0 - g1 + g2);
        t[3 * 3 + c] = g2;
    }
    for (int r = 0; r < 4; r++) {
        double g0 = t[r * 3], g1 = t[r * 3 + 1], g2 = t[r * 3 + 2];
        u[r * 4 + 0] = (float)g0;
        u[r * 4 + 1] = (float)(0.5 * (g0 + g1 + g2));
        u[r * 4 + 2] = (float)(0.5 * (g0 - g1 + g2));
        u[r * 4 + 3] = (float)g2;
    }
}

/* Index of the transformed-weight entry used by the spatially flipped kernel. */
static inline LM_HD int op_wino_flip(int k)
{
    static const int p[4] = {3, 1, 2, 0};
    return p[k >> 2] * 4 + p[k & 3];
}

#endif
