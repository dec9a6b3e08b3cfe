/*
 * op_upfirdn2d.h - separable FIR resampling of StyleGAN2 with the [1,3,3,1] filter.
 * Planes are independent [h, w] images (any leading layout: CNHW, NCHW, ...).
 */
#ifndef OP_UPFIRDN2D_H
#define OP_UPFIRDN2D_H

#include <stdint.h>

/* Skip-image 2x up-sampling: x [planes, h, w] -> y [planes, 2h, 2w].
 * tmp: planes*h*2w floats. */
void op_upsample2d_forward(float *y, const float *x, int64_t planes, int h, int w, float *tmp);
/* Adjoint: dy [planes, 2h, 2w] -> dx [planes, h, w] (overwrite). tmp: planes*h*2w floats. */
void op_upsample2d_backward(float *dx, const float *dy, int64_t planes, int h, int w, float *tmp);

/* 4x4 FIR (taps [1,3,3,1]/4 per axis) with padding 1, valid:
 * t [planes, ht, wt] -> y [planes, ht-1, wt-1]. tmp: planes*ht*(wt-1) floats. */
void op_fir4_forward(float *y, const float *t, int64_t planes, int ht, int wt, float *tmp);
/* Adjoint: dy [planes, ht-1, wt-1] -> dt [planes, ht, wt] (overwrite).
 * tmp: planes*(ht-1)*wt floats. */
void op_fir4_backward(float *dt, const float *dy, int64_t planes, int ht, int wt, float *tmp);

#endif
