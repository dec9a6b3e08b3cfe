/*
 * op_conv2d.c - correlation forward (im2col + GEMM) and input gradient (GEMM + col2im),
 * CNHW layout. Shapes: x, dx [Cin, N, H, W]; y, dy [Cout, N, H, W]; w [Cout, Cin, k, k].
 * Columns: col[(i*k + a)*k + b][(row - r0)*W + q] = x[i, row, q + b - pad] with
 * row = n*H + p shifted by a - pad inside its own image (zero outside).
 */
#include "kernels/op_conv2d.h"

#include <stdint.h>
#include <string.h>

#include "kernels/op_gemm.h"

size_t op_conv2d_scratch_min(int Cin, int W, int k)
{
    return (size_t)Cin * k * k * W;
}

static int chunk_rows(size_t scratch_floats, int Cin, int W, int k, int total)
{
    size_t per = op_conv2d_scratch_min(Cin, W, k);
    size_t r = scratch_floats / per;
    if (r < 1) {
        r = 1;
    }
    return r > (size_t)total ? total : (int)r;
}

void op_conv2d_forward(float *y, const float *x, const float *w, int N, int Cin, int Cout, int H,
                       int W, int k, float *scratch, size_t scratch_floats)
{
    int pad = (k - 1) / 2, NH = N * H, kk = k * k;
    size_t plane = (size_t)NH * W;
    int rows = chunk_rows(scratch_floats, Cin, W, k, NH);
    for (int r0 = 0; r0 < NH; r0 += rows) {
        int nr = NH - r0 < rows ? NH - r0 : rows;
        int ncol = nr * W;
#pragma omp parallel for schedule(static) if ((int64_t)Cin * kk * ncol > 65536)
        for (int ik = 0; ik < Cin * kk; ik++) {
            int i = ik / kk, a = (ik / k) % k, b = ik % k;
            float *col = scratch + (size_t)ik * ncol;
            for (int rr = 0; rr < nr; rr++) {
                int row = r0 + rr, p = row % H + a - pad;
                float *c = col + (size_t)rr * W;
                if (p < 0 || p >= H) {
                    memset(c, 0, sizeof(float) * W);
                    continue;
                }
                const float *xr = x + (size_t)i * plane + (size_t)(row - row % H + p) * W;
                int q0 = pad - b > 0 ? pad - b : 0, q1 = W + pad - b < W ? W + pad - b : W;
                for (int q = 0; q < q0; q++) {
                    c[q] = 0.0f;
                }
                for (int q = q0; q < q1; q++) {
                    c[q] = xr[q + b - pad];
                }
                for (int q = q1; q < W; q++) {
                    c[q] = 0.0f;
                }
            }
        }
        op_sgemm(0, 0, Cout, ncol, Cin * kk, 1.0f, w, Cin * kk, scratch, ncol, 0.0f,
                 y + (size_t)r0 * W, (int)plane);
    }
}

void op_conv2d_backward(float *dx, const float *dy, const float *w, int N, int Cin, int Cout, int H,
                        int W, int k, float *scratch, size_t scratch_floats)
{
    int pad = (k - 1) / 2, NH = N * H, kk = k * k;
    size_t plane = (size_t)NH * W;
    int rows = chunk_rows(scratch_floats, Cin, W, k, NH);
    memset(dx, 0, sizeof(float) * plane * Cin);
    for (int r0 = 0; r0 < NH; r0 += rows) {
        int nr = NH - r0 < rows ? NH - r0 : rows;
        int ncol = nr * W;
        /* col[Cin*k*k, ncol] = W^T dy[:, chunk] */
        op_sgemm(1, 0, Cin * kk, ncol, Cout, 1.0f, w, Cin * kk, dy + (size_t)r0 * W, (int)plane,
                 0.0f, scratch, ncol);
        /* col2im: each input channel owns its plane, so threads never collide; the
         * order of additions per element is fixed (a, b ascending) -> deterministic. */
#pragma omp parallel for schedule(static) if ((int64_t)Cin * kk * ncol > 65536)
        for (int i = 0; i < Cin; i++) {
            for (int a = 0; a < k; a++) {
                for (int b = 0; b < k; b++) {
                    const float *col = scratch + ((size_t)(i * k + a) * k + b) * ncol;
                    for (int rr = 0; rr < nr; rr++) {
                        int row = r0 + rr, p = row % H + a - pad;
                        if (p < 0 || p >= H) {
                            continue;
                        }
                        float *xr = dx + (size_t)i * plane + (size_t)(row - row % H + p) * W;
                        const float *c = col + (size_t)rr * W;
                        int q0 = pad - b > 0 ? pad - b : 0, q1 = W + pad - b < W ? W + pad - b : W;
                        for (int q = q0; q < q1; q++) {
                            xr[q + b - pad] += c[q];
                        }
                    }
                }
            }
        }
    }
}
