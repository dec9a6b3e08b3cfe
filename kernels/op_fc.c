/*
 * op_fc.c - fully connected forward/backward through op_sgemm.
 * Shapes: x [N, in], W [out, in], b [out], y [N, out].
 */
#include "kernels/op_fc.h"

#include "kernels/op_gemm.h"

void op_fc_forward(float *y, const float *x, int ldx, const float *w, const float *b, int N, int in,
                   int out, float wgain, float bgain)
{
    op_sgemm(0, 1, N, out, in, wgain, x, ldx, w, in, 0.0f, y, out);
    if (b) {
        for (int n = 0; n < N; n++) {
            for (int o = 0; o < out; o++) {
                y[(size_t)n * out + o] += b[o] * bgain;
            }
        }
    }
}

/* Shapes: dy [N, out], W [out, in], dx [N, in] (row stride ldx). */
void op_fc_backward(float *dx, int ldx, float beta, const float *dy, const float *w, int N, int in,
                    int out, float wgain)
{
    op_sgemm(0, 0, N, in, out, wgain, dy, out, w, in, beta, dx, ldx);
}
