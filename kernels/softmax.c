/*
 * softmax.c - softmax over a short vector (expression and gender heads).
 * Shape: x [n] -> out [n]; the max is subtracted first for stability.
 */
#include "kernels/tf_nhwc.h"

#include <math.h>

void op_softmax_forward(float *out, const float *x, int n)
{
    float mx = x[0];
    for (int i = 1; i < n; i++) {
        mx = x[i] > mx ? x[i] : mx;
    }
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        out[i] = expf(x[i] - mx);
        sum += out[i];
    }
    for (int i = 0; i < n; i++) {
        out[i] = (float)(out[i] / sum);
    }
}
