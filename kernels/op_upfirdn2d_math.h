/*
 * op_upfirdn2d_math.h - per-element math of StyleGAN2's FIR resampling with the
 * [1,3,3,1] filter (spec 3.4, 3.5, 3.7 B, 6.5, 6.6). The stored 4x4 filter sums to 1;
 * 2x up-sampling multiplies it by up^2 = 4, i.e. per-axis taps [1,3,3,1]/4.
 * All functions work along one axis of a line of length n with element stride s;
 * out-of-range samples are zero.
 */
#ifndef OP_UPFIRDN2D_MATH_H
#define OP_UPFIRDN2D_MATH_H

#include "kernels/lm_hd.h"

static inline LM_HD float op_fir_tap(int a)
{
    return (a == 0 || a == 3) ? 0.25f : 0.75f;
}

/* 2x up-sampling (zero insertion, pad 2 before / 1 after, filter):
 * out[2j] = .25 x[j-1] + .75 x[j];  out[2j+1] = .75 x[j] + .25 x[j+1]. k in [0, 2n). */
static inline LM_HD float op_up2_at(const float *x, int n, int s, int k)
{
    int j = k >> 1;
    int o = (k & 1) ? j + 1 : j - 1;
    float v = 0.75f * x[j * s];
    if (o >= 0 && o < n) {
        v += 0.25f * x[o * s];
    }
    return v;
}

/* Adjoint of op_up2_at: dx[j] = .75 (d[2j] + d[2j+1]) + .25 (d[2j-1] + d[2j+2]),
 * d of length 2n. */
static inline LM_HD float op_up2_adj_at(const float *d, int n, int s, int j)
{
    float v = 0.75f * (d[(2 * j) * s] + d[(2 * j + 1) * s]);
    if (2 * j - 1 >= 0) {
        v += 0.25f * d[(2 * j - 1) * s];
    }
    if (2 * j + 2 < 2 * n) {
        v += 0.25f * d[(2 * j + 2) * s];
    }
    return v;
}

/* 4-tap filter with padding 1, valid: out[y] = sum_a h[a] t[y + a - 1], t of length n,
 * y in [0, n - 1) (the transposed-conv output (2h+1) -> 2h). */
static inline LM_HD float op_fir4_at(const float *t, int n, int s, int y)
{
    float v = 0.0f;
    for (int a = 0; a < 4; a++) {
        int i = y + a - 1;
        if (i >= 0 && i < n) {
            v += op_fir_tap(a) * t[i * s];
        }
    }
    return v;
}

/* Adjoint of op_fir4_at: dt[i] = sum_a h[a] d[i - a + 1], d of length n - 1, i in [0, n). */
static inline LM_HD float op_fir4_adj_at(const float *d, int n, int s, int i)
{
    float v = 0.0f;
    for (int a = 0; a < 4; a++) {
        int y = i - a + 1;
        if (y >= 0 && y < n - 1) {
            v += op_fir_tap(a) * d[y * s];
        }
    }
    return v;
}

#endif
