/*
 * op_bias_act.c - bias + activation forward/backward (math in op_bias_act_math.h).
 * Shapes: x, y [outer, C, inner]; bias [C].
 */
#include "kernels/op_bias_act.h"

#include "kernels/op_bias_act_math.h"

void op_bias_act_forward(float *y, const float *x, const float *bias, int64_t outer, int C,
                         int64_t inner, int lrelu, float gain, float clamp)
{
    int64_t rows = outer * C;
#pragma omp parallel for schedule(static) if (rows * inner > 32768)
    for (int64_t r = 0; r < rows; r++) {
        float b = bias ? bias[r % C] : 0.0f;
        const float *xr = x + r * inner;
        float *yr = y + r * inner;
        for (int64_t i = 0; i < inner; i++) {
            yr[i] = op_bias_act_f(xr[i] + b, lrelu, gain, clamp);
        }
    }
}

/* Shapes: dy, y, dx [n]. */
void op_bias_act_backward(float *dx, const float *dy, const float *y, int64_t n, int lrelu,
                          float gain, float clamp)
{
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t i = 0; i < n; i++) {
        dx[i] = dy[i] * op_bias_act_dydv(y[i], lrelu, gain, clamp);
    }
}
