/*
 * op_pixnorm.c - pixel (second-moment) norm forward/backward; sums in double.
 * Shapes: z, x, dx, dz [N, D].
 */
#include "kernels/op_pixnorm.h"

#include <stddef.h>

#include "kernels/op_pixnorm_math.h"

void op_pixnorm_forward(float *x, const float *z, int N, int D)
{
    for (int n = 0; n < N; n++) {
        const float *zr = z + (size_t)n * D;
        double ss = 0.0;
        for (int j = 0; j < D; j++) {
            ss += (double)zr[j] * zr[j];
        }
        double rho = op_pixnorm_rho(ss, D);
        for (int j = 0; j < D; j++) {
            x[(size_t)n * D + j] = (float)(zr[j] * rho);
        }
    }
}

void op_pixnorm_backward(float *dz, const float *dx, const float *z, int N, int D)
{
    for (int n = 0; n < N; n++) {
        const float *zr = z + (size_t)n * D, *gr = dx + (size_t)n * D;
        double ss = 0.0, dot = 0.0;
        for (int j = 0; j < D; j++) {
            ss += (double)zr[j] * zr[j];
            dot += (double)gr[j] * zr[j];
        }
        double rho = op_pixnorm_rho(ss, D);
        double k = rho * rho * rho * dot / D;
        for (int j = 0; j < D; j++) {
            dz[(size_t)n * D + j] = (float)(rho * gr[j] - zr[j] * k);
        }
    }
}
