/*
 * op_upconv2d.c - up-sampling conv forward and input gradient (spec 3.7 A+B, 6.5).
 * Shapes: x, dx [Cin, N, h, w]; y, dy [Cout, N, 2h, 2w]; wup [Cout*9, Cin] (or its
 * packed copies pk, when one chunk covers all Cout);
 * T, dT [oc, N, 2h+1, 2w+1] per chunk of oc output channels.
 * Forward:  cols = wup[chunk] * x;  T[o,n,2p+a,2q+b] += cols[o*9+a*3+b][n,p,q];  y = fir4(T).
 * Backward: dT = fir4^T(dy);  cols[o*9+a*3+b][n,p,q] = dT[o,n,2p+a,2q+b];  dx += wup^T cols.
 */
#include "kernels/op_upconv2d.h"

#include <stdint.h>
#include <string.h>

#include "kernels/op_gemm.h"
#include "kernels/op_gemm_panel.h"
#include "kernels/op_upfirdn2d.h"

void op_upconv2d_weight_prepare(float *wup, const float *w, int Cout, int Cin)
{
    for (int o = 0; o < Cout; o++) {
        for (int i = 0; i < Cin; i++) {
            for (int ab = 0; ab < 9; ab++) {
                wup[((size_t)o * 9 + ab) * Cin + i] = w[((size_t)o * Cin + i) * 9 + ab];
            }
        }
    }
}

/* The packed products stream the whole weight once per 24 columns: past about 64 columns
 * OpenBLAS's blocking is the faster one. */
#define UPCONV_PANEL_MAX_COLS 64

size_t op_upconv2d_pack_size(int Cout, int Cin)
{
    return op_panel_size(Cout * 9, Cin) + op_panel_size(Cin, Cout * 9);
}

void op_upconv2d_weight_pack(float *pk, const float *wup, int Cout, int Cin)
{
    op_panel_pack(pk, wup, Cout * 9, Cin, 0);
    op_panel_pack(pk + op_panel_size(Cout * 9, Cin), wup, Cin, Cout * 9, 1);
}

size_t op_upconv2d_scratch_size(int N, int h, int w, int oc)
{
    size_t tpl = (size_t)(2 * h + 1) * (2 * w + 1);
    return (size_t)oc * N * (9 * (size_t)h * w + 2 * tpl);
}

static int chunk_channels(size_t scratch_floats, int N, int h, int w, int Cout)
{
    size_t oc = scratch_floats / op_upconv2d_scratch_size(N, h, w, 1);
    if (oc < 1) {
        oc = 1;
    }
    return oc > (size_t)Cout ? Cout : (int)oc;
}

void op_upconv2d_forward(float *y, const float *x, const float *wup, const float *pk, int N,
                         int Cin, int Cout, int h, int w, float *scratch, size_t scratch_floats)
{
    int oc = chunk_channels(scratch_floats, N, h, w, Cout);
    int ht = 2 * h + 1, wt = 2 * w + 1;
    size_t hw = (size_t)h * w, nhw = (size_t)N * hw, tpl = (size_t)ht * wt;
    size_t ypl = (size_t)4 * hw;
    for (int o0 = 0; o0 < Cout; o0 += oc) {
        int nc = Cout - o0 < oc ? Cout - o0 : oc;
        float *cols = scratch, *T = cols + (size_t)nc * 9 * nhw, *tmp = T + (size_t)nc * N * tpl;
        if (pk && nc == Cout && nhw <= UPCONV_PANEL_MAX_COLS) {
            op_panel_gemm_mt(pk, Cout * 9, (int)nhw, Cin, x, (int)nhw, cols, (int)nhw);
        } else {
            op_sgemm(0, 0, nc * 9, (int)nhw, Cin, 1.0f, wup + (size_t)o0 * 9 * Cin, Cin, x,
                     (int)nhw, 0.0f, cols, (int)nhw);
        }
#pragma omp parallel for schedule(static) if ((int64_t)nc * 9 * nhw > 65536)
        for (int on = 0; on < nc * N; on++) {
            int o = on / N, n = on % N;
            float *tp = T + (size_t)on * tpl;
            memset(tp, 0, sizeof(float) * tpl);
            for (int ab = 0; ab < 9; ab++) {
                int a = ab / 3, b = ab % 3;
                const float *c = cols + ((size_t)o * 9 + ab) * nhw + (size_t)n * hw;
                for (int p = 0; p < h; p++) {
                    float *tr = tp + (size_t)(2 * p + a) * wt + b;
                    const float *cr = c + (size_t)p * w;
                    for (int q = 0; q < w; q++) {
                        tr[2 * q] += cr[q];
                    }
                }
            }
        }
        op_fir4_forward(y + (size_t)o0 * N * ypl, T, (int64_t)nc * N, ht, wt, tmp);
    }
}

void op_upconv2d_backward(float *dx, const float *dy, const float *wup, const float *pk, int N,
                          int Cin, int Cout, int h, int w, float *scratch, size_t scratch_floats)
{
    int oc = chunk_channels(scratch_floats, N, h, w, Cout);
    int ht = 2 * h + 1, wt = 2 * w + 1;
    size_t hw = (size_t)h * w, nhw = (size_t)N * hw, tpl = (size_t)ht * wt;
    size_t ypl = (size_t)4 * hw;
    for (int o0 = 0; o0 < Cout; o0 += oc) {
        int nc = Cout - o0 < oc ? Cout - o0 : oc;
        float *cols = scratch, *T = cols + (size_t)nc * 9 * nhw, *tmp = T + (size_t)nc * N * tpl;
        op_fir4_backward(T, dy + (size_t)o0 * N * ypl, (int64_t)nc * N, ht, wt, tmp);
#pragma omp parallel for schedule(static) if ((int64_t)nc * 9 * nhw > 65536)
        for (int on = 0; on < nc * N; on++) {
            int o = on / N, n = on % N;
            const float *tp = T + (size_t)on * tpl;
            for (int ab = 0; ab < 9; ab++) {
                int a = ab / 3, b = ab % 3;
                float *c = cols + ((size_t)o * 9 + ab) * nhw + (size_t)n * hw;
                for (int p = 0; p < h; p++) {
                    const float *tr = tp + (size_t)(2 * p + a) * wt + b;
                    float *cr = c + (size_t)p * w;
                    for (int q = 0; q < w; q++) {
                        cr[q] = tr[2 * q];
                    }
                }
            }
        }
        if (pk && nc == Cout && nhw <= UPCONV_PANEL_MAX_COLS) {
            op_panel_gemm_mt(pk + op_panel_size(Cout * 9, Cin), Cin, (int)nhw, Cout * 9, cols,
                             (int)nhw, dx, (int)nhw);
        } else {
            op_sgemm(1, 0, Cin, (int)nhw, nc * 9, 1.0f, wup + (size_t)o0 * 9 * Cin, Cin, cols,
                     (int)nhw, o0 == 0 ? 0.0f : 1.0f, dx, (int)nhw);
        }
    }
}
