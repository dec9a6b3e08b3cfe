/*
 * op_conv2d.h - stride-1 "same" 2-D correlation (k odd, zero padding (k-1)/2) in the
 * channel-major batch layout CNHW: x [Cin, N, H, W], y [Cout, N, H, W], so that the
 * whole batch is one GEMM against the shared weight W [Cout, Cin, k, k]
 * (im2col + op_sgemm). The column buffer is processed in chunks of image rows so
 * the scratch stays bounded at any resolution.
 */
#ifndef OP_CONV2D_H
#define OP_CONV2D_H

#include <stddef.h>

/* Minimum scratch (floats) for forward and backward: one image row of columns. */
size_t op_conv2d_scratch_min(int Cin, int W, int k);

/* y = conv(x, w) (overwrite). scratch: >= op_conv2d_scratch_min floats (more = bigger GEMMs). */
void op_conv2d_forward(float *y, const float *x, const float *w, int N, int Cin, int Cout, int H,
                       int W, int k, float *scratch, size_t scratch_floats);

/* dx = conv^T(dy) (overwrite): the input gradient. No weight gradient. */
void op_conv2d_backward(float *dx, const float *dy, const float *w, int N, int Cin, int Cout, int H,
                        int W, int k, float *scratch, size_t scratch_floats);

#endif
