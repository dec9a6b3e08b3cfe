/*
 * tf_batchnorm.c - inference batch norm in TF.js's formula (tf_nhwc.h):
 * offset + (x - mean) * scale / sqrt(var + eps), evaluated in double per
 * element like TF.js's CPU kernel, then the activation. Shape: x [n_pix][C].
 */
#include "kernels/tf_nhwc.h"

#include <math.h>

#include "kernels/tf_act_math.h"

void op_tf_batchnorm_forward(float *x, size_t n_pix, int C, const float *mean, const float *var,
                             const float *offset, const float *scale, double eps, enum op_act act)
{
#pragma omp parallel for schedule(static) if (n_pix * (size_t)C > OP_TF_PAR_MIN)
    for (size_t p = 0; p < n_pix; p++) {
        float *v = x + p * (size_t)C;
        for (int c = 0; c < C; c++) {
            double y = offset[c] + ((double)v[c] - mean[c]) * scale[c] / sqrt((double)var[c] + eps);
            v[c] = op_act_apply((float)y, act);
        }
    }
}
