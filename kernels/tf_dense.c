/*
 * tf_dense.c - fully connected layer, element-wise add and activation for the
 * NHWC face networks (tf_nhwc.h), and the per-channel affine. Dense: x [in], w [in][out], b [out],
 * y [out].
 */
#include "kernels/tf_nhwc.h"

#include "kernels/op_gemm.h"
#include "kernels/tf_act_math.h"

void op_tf_dense_forward(float *y, const float *x, const float *w, const float *b, int n_in,
                         int n_out, enum op_act act)
{
    op_sgemm(0, 0, 1, n_out, n_in, 1.0f, x, n_in, w, n_out, 0.0f, y, n_out);
    for (int o = 0; o < n_out; o++) {
        y[o] = op_act_apply(b ? y[o] + b[o] : y[o], act);
    }
}

void op_tf_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, int n_in, int n_out)
{
    if (dx) {
        op_sgemm(0, 1, 1, n_in, n_out, 1.0f, dy, n_out, w, n_out, 0.0f, dx, n_in);
    }
    if (dw) {
        op_sgemm(1, 0, n_in, n_out, 1, 1.0f, x, n_in, dy, n_out, 1.0f, dw, n_out);
    }
    if (db) {
        for (int o = 0; o < n_out; o++) {
            db[o] += dy[o];
        }
    }
}

void op_tf_add_forward(float *out, const float *a, const float *b, size_t n, enum op_act act)
{
#pragma omp parallel for schedule(static) if (n > OP_TF_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        out[i] = op_act_apply(a[i] + b[i], act);
    }
}

void op_tf_act_forward(float *x, size_t n, enum op_act act)
{
    if (act == OP_ACT_NONE) {
        return;
    }
#pragma omp parallel for schedule(static) if (n > OP_TF_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        x[i] = op_act_apply(x[i], act);
    }
}

void op_tf_act_backward(float *dx, const float *dy, const float *y, size_t n, enum op_act act)
{
#pragma omp parallel for schedule(static) if (n > OP_TF_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        dx[i] = dy[i] * op_act_grad(y[i], act);
    }
}

void op_tf_affine_forward(float *x, size_t n_pix, int C, const float *mul, const float *add,
                          enum op_act act)
{
#pragma omp parallel for schedule(static) if (n_pix * (size_t)C > OP_TF_PAR_MIN)
    for (size_t p = 0; p < n_pix; p++) {
        float *v = x + p * (size_t)C;
        for (int c = 0; c < C; c++) {
            v[c] = op_act_apply(v[c] * mul[c] + add[c], act);
        }
    }
}

void op_tf_affine_backward(float *dx, const float *dy, const float *y, size_t n_pix, int C,
                           const float *mul, enum op_act act)
{
#pragma omp parallel for schedule(static) if (n_pix * (size_t)C > OP_TF_PAR_MIN)
    for (size_t p = 0; p < n_pix; p++) {
        for (int c = 0; c < C; c++) {
            size_t k = p * (size_t)C + c;
            dx[k] = dy[k] * op_act_grad(y[k], act) * mul[c];
        }
    }
}
