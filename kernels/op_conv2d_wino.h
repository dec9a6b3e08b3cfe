/*
 * op_conv2d_wino.h - 3x3 stride-1 pad-1 correlation via Winograd F(2x2, 3x3), CNHW layout
 * (x [Cin, N, H, W] -> y [Cout, N, H, W], H and W even): 16 batched GEMMs on transformed
 * tiles instead of one im2col GEMM, 2.25x fewer multiply-adds. The input gradient reuses
 * the forward's transformed weights (flip = index permutation, channel transpose), and
 * its output tiles do not overlap, so no col2im accumulation is needed.
 */
#ifndef OP_CONV2D_WINO_H
#define OP_CONV2D_WINO_H

#include <stddef.h>

/* U[k][o][i] = (G w[o,i] G^T)[k], k < 16; U: 16*Cout*Cin floats; w [Cout, Cin, 3, 3]. */
void op_conv2d_wino_weight_prepare(float *U, const float *w, int Cout, int Cin);

/* Minimum scratch (floats): one tile's transforms. More = bigger GEMMs. */
size_t op_conv2d_wino_scratch_min(int Cin, int Cout);

void op_conv2d_wino_forward(float *y, const float *x, const float *U, int N, int Cin, int Cout,
                            int H, int W, float *scratch, size_t scratch_floats);

/* dx = conv^T(dy) (overwrite). */
void op_conv2d_wino_backward(float *dx, const float *dy, const float *U, int N, int Cin, int Cout,
                             int H, int W, float *scratch, size_t scratch_floats);

#endif
