/*
 * op_fc.h - equalised-learning-rate fully connected layer (StyleGAN2 spec 3.1).
 * y[N, out] = x[N, in] * (W[out, in] * wgain)^T + b[out] * bgain  (no activation).
 */
#ifndef OP_FC_H
#define OP_FC_H

/* x rows have stride ldx (>= in), e.g. one row of a W+ tensor [N, num_ws, w_dim]. */
void op_fc_forward(float *y, const float *x, int ldx, const float *w, const float *b, int N, int in,
                   int out, float wgain, float bgain);

/* dx[N, in] = dy[N, out] * W * wgain, written with row stride ldx (>= in); beta 0
 * overwrites, 1 accumulates (used when several layers feed one W+ row).
 * Weight gradients are not computed (frozen networks). */
void op_fc_backward(float *dx, int ldx, float beta, const float *dy, const float *w, int N, int in,
                    int out, float wgain);

#endif
