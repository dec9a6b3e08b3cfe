/*
 * op_upconv2d.h - StyleGAN2's 2x up-sampling 3x3 convolution (spec 3.7, 6.5), CNHW:
 * x [Cin, N, h, w] -> y [Cout, N, 2h, 2w]. A stride-2 transposed convolution
 * WITHOUT kernel flip (output (2h+1) x (2w+1)), then the 4x4 FIR [1,3,3,1]/4 per axis
 * with padding 1. The batch is one GEMM with the prepared weight wup [Cout*9, Cin];
 * output channels are processed in chunks sized by the scratch.
 */
#ifndef OP_UPCONV2D_H
#define OP_UPCONV2D_H

#include <stddef.h>

/* wup[(o*9 + a*3 + b)*Cin + i] = w[o, i, a, b]; w [Cout, Cin, 3, 3]. */
void op_upconv2d_weight_prepare(float *wup, const float *w, int Cout, int Cin);

/* Optional packed copies of wup and wup^T for op_panel_gemm (op_gemm_panel.h), faster
 * than OpenBLAS when N*h*w is small (batch-1 layers on 4x4 and 8x8 inputs: 16 and 64
 * GEMM columns); used when all output channels fit one scratch chunk and N*h*w <= 64. */
size_t op_upconv2d_pack_size(int Cout, int Cin);
void op_upconv2d_weight_pack(float *pk, const float *wup, int Cout, int Cin);

/* Scratch (floats) needed per chunk of `oc` output channels. */
size_t op_upconv2d_scratch_size(int N, int h, int w, int oc);

/* y = upconv(x) (overwrite). scratch >= op_upconv2d_scratch_size(N, h, w, 1); pk from
 * op_upconv2d_weight_pack or NULL. */
void op_upconv2d_forward(float *y, const float *x, const float *wup, const float *pk, int N,
                         int Cin, int Cout, int h, int w, float *scratch, size_t scratch_floats);

/* dx = upconv^T(dy) (overwrite): input gradient only. */
void op_upconv2d_backward(float *dx, const float *dy, const float *wup, const float *pk, int N,
                          int Cin, int Cout, int h, int w, float *scratch, size_t scratch_floats);

#endif
