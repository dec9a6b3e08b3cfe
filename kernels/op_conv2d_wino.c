/*
 * op_conv2d_wino.c - Winograd F(2x2,3x3) correlation forward and input gradient (see
 * op_conv2d_wino.h; transforms in op_winograd_math.h).
 * Shapes: x, dx [Cin, N, H, W]; y, dy [Cout, N, H, W]; U [16, Cout, Cin];
 * per chunk of Tc tiles: V [16, Cs, Tc] (transformed input tiles), M [16, Cd, Tc] (products)
 * with Cs/Cd = Cin/Cout forward and Cout/Cin backward.
 */
#include "kernels/op_conv2d_wino.h"

#include <stdint.h>
#include <string.h>

#include "kernels/op_gemm.h"
#include "kernels/op_winograd_math.h"

void op_conv2d_wino_weight_prepare(float *U, const float *w, int Cout, int Cin)
{
    size_t plane = (size_t)Cout * Cin;
    for (int o = 0; o < Cout; o++) {
        for (int i = 0; i < Cin; i++) {
            float u[16];
            op_wino_weight(w + ((size_t)o * Cin + i) * 9, u);
            for (int k = 0; k < 16; k++) {
                U[k * plane + (size_t)o * Cin + i] = u[k];
            }
        }
    }
}

size_t op_conv2d_wino_scratch_min(int Cin, int Cout)
{
    return (size_t)16 * (Cin + Cout);
}

/* y[Cd] = correlation of x[Cs] with the kernel whose transforms are U (forward: U[k] is
 * [Cd, Cs]) or, when flip != 0, the flipped channel-transposed kernel (U[flip(k)]^T). */
static void wino_run(float *y, const float *x, const float *U, int flip, int N, int Cs, int Cd,
                     int H, int W, float *scratch, size_t scratch_floats)
{
    int th = H / 2, tw = W / 2;
    int64_t T = (int64_t)N * th * tw, plane = (int64_t)N * H * W;
    int64_t Tc = (int64_t)(scratch_floats / op_conv2d_wino_scratch_min(Cs, Cd));
    if (Tc < 1) {
        Tc = 1;
    }
    if (Tc > T) {
        Tc = T;
    }
    for (int64_t t0 = 0; t0 < T; t0 += Tc) {
        int64_t nt = T - t0 < Tc ? T - t0 : Tc;
        float *V = scratch, *M = scratch + 16 * (size_t)Cs * nt;
        /* Input transform: V[k][c][t]. */
#pragma omp parallel for schedule(static) if ((int64_t)Cs * nt > 4096)
        for (int c = 0; c < Cs; c++) {
            const float *xc = x + c * plane;
            for (int64_t t = 0; t < nt; t++) {
                int64_t tt = t0 + t;
                int n = (int)(tt / ((int64_t)th * tw));
                int r = (int)(tt % ((int64_t)th * tw));
                int py = 2 * (r / tw) - 1, px = 2 * (r % tw) - 1;
                const float *xn = xc + (int64_t)n * H * W;
                float d[16], v[16];
                if (py >= 0 && py + 3 < H && px >= 0 && px + 3 < W) {
                    for (int a = 0; a < 4; a++) {
                        memcpy(d + 4 * a, xn + (int64_t)(py + a) * W + px, 4 * sizeof(float));
                    }
                } else {
                    for (int a = 0; a < 4; a++) {
                        for (int b = 0; b < 4; b++) {
                            int yy = py + a, xx = px + b;
                            d[4 * a + b] = (yy >= 0 && yy < H && xx >= 0 && xx < W)
                                               ? xn[(int64_t)yy * W + xx]
                                               : 0.0f;
                        }
                    }
                }
                op_wino_input(d, v);
                for (int k = 0; k < 16; k++) {
                    V[((size_t)k * Cs + c) * nt + t] = v[k];
                }
            }
        }
        /* 16 GEMMs: M[k] [Cd, nt] = U'[k] [Cd, Cs] * V[k] [Cs, nt]. */
        size_t up = (size_t)Cs * Cd;
        for (int k = 0; k < 16; k++) {
            if (flip) {
                op_sgemm(1, 0, Cd, (int)nt, Cs, 1.0f, U + (size_t)op_wino_flip(k) * up, Cd,
                         V + (size_t)k * Cs * nt, (int)nt, 0.0f, M + (size_t)k * Cd * nt, (int)nt);
            } else {
                op_sgemm(0, 0, Cd, (int)nt, Cs, 1.0f, U + (size_t)k * up, Cs,
                         V + (size_t)k * Cs * nt, (int)nt, 0.0f, M + (size_t)k * Cd * nt, (int)nt);
            }
        }
        /* Output transform: each tile writes its own 2x2 block. */
#pragma omp parallel for schedule(static) if ((int64_t)Cd * nt > 4096)
        for (int o = 0; o < Cd; o++) {
            float *yo = y + o * plane;
            for (int64_t t = 0; t < nt; t++) {
                int64_t tt = t0 + t;
                int n = (int)(tt / ((int64_t)th * tw));
                int r = (int)(tt % ((int64_t)th * tw));
                int py = 2 * (r / tw), px = 2 * (r % tw);
                float m[16], out[4];
                for (int k = 0; k < 16; k++) {
                    m[k] = M[((size_t)k * Cd + o) * nt + t];
                }
                op_wino_output(m, out);
                float *yp = yo + (int64_t)n * H * W + (int64_t)py * W + px;
                yp[0] = out[0];
                yp[1] = out[1];
                yp[W] = out[2];
                yp[W + 1] = out[3];
            }
        }
    }
}

void op_conv2d_wino_forward(float *y, const float *x, const float *U, int N, int Cin, int Cout,
                            int H, int W, float *scratch, size_t scratch_floats)
{
    wino_run(y, x, U, 0, N, Cin, Cout, H, W, scratch, scratch_floats);
}

void op_conv2d_wino_backward(float *dx, const float *dy, const float *U, int N, int Cin, int Cout,
                             int H, int W, float *scratch, size_t scratch_floats)
{
    wino_run(dx, dy, U, 1, N, Cout, Cin, H, W, scratch, scratch_floats);
}
