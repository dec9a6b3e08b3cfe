/*
 * op_upfirdn2d.c - FIR up-sampling and the up-conv's 4x4 filter, forward then adjoint,
 * separable (rows first, then columns). Math in op_upfirdn2d_math.h.
 * Reference: NVlabs stylegan2-ada-pytorch torch_utils/ops/upfirdn2d.py semantics,
 * restated in the spec sections 3.5, 3.7 B, 6.5, 6.6.
 */
#include "kernels/op_upfirdn2d.h"

#include "kernels/op_upfirdn2d_math.h"

/* x [planes, h, w] -> tmp [planes, h, 2w] -> y [planes, 2h, 2w]. */
void op_upsample2d_forward(float *y, const float *x, int64_t planes, int h, int w, float *tmp)
{
    int W2 = 2 * w;
#pragma omp parallel for schedule(static) if (planes * h * w > 16384)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * h * w;
        float *tp = tmp + p * h * W2, *yp = y + p * 2 * h * W2;
        for (int r = 0; r < h; r++) {
            for (int k = 0; k < W2; k++) {
                tp[r * W2 + k] = op_up2_at(xp + r * w, w, 1, k);
            }
        }
        for (int k = 0; k < 2 * h; k++) {
            for (int c = 0; c < W2; c++) {
                yp[k * W2 + c] = op_up2_at(tp + c, h, W2, k);
            }
        }
    }
}

/* dy [planes, 2h, 2w] -> tmp [planes, h, 2w] -> dx [planes, h, w]. */
void op_upsample2d_backward(float *dx, const float *dy, int64_t planes, int h, int w, float *tmp)
{
    int W2 = 2 * w;
#pragma omp parallel for schedule(static) if (planes * h * w > 16384)
    for (int64_t p = 0; p < planes; p++) {
        const float *dp = dy + p * 2 * h * W2;
        float *tp = tmp + p * h * W2, *xp = dx + p * h * w;
        for (int j = 0; j < h; j++) {
            for (int c = 0; c < W2; c++) {
                tp[j * W2 + c] = op_up2_adj_at(dp + c, h, W2, j);
            }
        }
        for (int r = 0; r < h; r++) {
            for (int j = 0; j < w; j++) {
                xp[r * w + j] = op_up2_adj_at(tp + r * W2, w, 1, j);
            }
        }
    }
}

/* t [planes, ht, wt] -> tmp [planes, ht, wt-1] -> y [planes, ht-1, wt-1]. */
void op_fir4_forward(float *y, const float *t, int64_t planes, int ht, int wt, float *tmp)
{
    int wo = wt - 1, ho = ht - 1;
#pragma omp parallel for schedule(static) if (planes * ht * wt > 16384)
    for (int64_t p = 0; p < planes; p++) {
        const float *tp = t + p * ht * wt;
        float *mp = tmp + p * ht * wo, *yp = y + p * ho * wo;
        for (int r = 0; r < ht; r++) {
            const float *row = tp + r * wt;
            float *mr = mp + r * wo;
            mr[0] = op_fir4_at(row, wt, 1, 0);
            for (int x = 1; x < wo - 2; x++) {
                /* Interior: all four taps in range. */
                mr[x] =
                    0.25f * row[x - 1] + 0.75f * row[x] + 0.75f * row[x + 1] + 0.25f * row[x + 2];
            }
            for (int x = wo - 2 > 1 ? wo - 2 : 1; x < wo; x++) {
                mr[x] = op_fir4_at(row, wt, 1, x);
            }
        }
        for (int r = 0; r < ho; r++) {
            float *yr = yp + r * wo;
            if (r >= 1 && r + 2 < ht) {
                const float *m0 = mp + (r - 1) * wo, *m1 = m0 + wo, *m2 = m1 + wo, *m3 = m2 + wo;
                for (int x = 0; x < wo; x++) {
                    yr[x] = 0.25f * m0[x] + 0.75f * m1[x] + 0.75f * m2[x] + 0.25f * m3[x];
                }
            } else {
                for (int x = 0; x < wo; x++) {
                    yr[x] = op_fir4_at(mp + x, ht, wo, r);
                }
            }
        }
    }
}

/* dy [planes, ht-1, wt-1] -> tmp [planes, ht-1, wt] -> dt [planes, ht, wt]. */
void op_fir4_backward(float *dt, const float *dy, int64_t planes, int ht, int wt, float *tmp)
{
    int wo = wt - 1, ho = ht - 1;
#pragma omp parallel for schedule(static) if (planes * ht * wt > 16384)
    for (int64_t p = 0; p < planes; p++) {
        const float *dp = dy + p * ho * wo;
        float *mp = tmp + p * ho * wt, *tp = dt + p * ht * wt;
        for (int r = 0; r < ho; r++) {
            const float *row = dp + r * wo;
            float *mr = mp + r * wt;
            /* Border columns, then the interior (all four taps in range) as a plain loop
             * that vectorises. */
            int i1 = wo - 1 > 2 ? wo - 1 : 2;
            for (int i = 0; i < 2 && i < wt; i++) {
                mr[i] = op_fir4_adj_at(row, wt, 1, i);
            }
            for (int i = 2; i < i1; i++) {
                mr[i] =
                    0.25f * row[i + 1] + 0.75f * row[i] + 0.75f * row[i - 1] + 0.25f * row[i - 2];
            }
            for (int i = i1; i < wt; i++) {
                mr[i] = op_fir4_adj_at(row, wt, 1, i);
            }
        }
        for (int i = 0; i < ht; i++) {
            float *tr = tp + i * wt;
            if (i >= 2 && i + 1 < ho) {
                const float *m0 = mp + (i + 1) * wt, *m1 = mp + i * wt, *m2 = mp + (i - 1) * wt,
                            *m3 = mp + (i - 2) * wt;
                for (int x = 0; x < wt; x++) {
                    tr[x] = 0.25f * m0[x] + 0.75f * m1[x] + 0.75f * m2[x] + 0.25f * m3[x];
                }
            } else {
                for (int x = 0; x < wt; x++) {
                    tr[x] = op_fir4_adj_at(mp + x, ht, wt, i);
                }
            }
        }
    }
}
