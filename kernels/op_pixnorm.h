/*
 * op_pixnorm.h - x = z / sqrt(mean_j z_j^2 + 1e-8) per row of z [N, D], and its backward.
 */
#ifndef OP_PIXNORM_H
#define OP_PIXNORM_H

void op_pixnorm_forward(float *x, const float *z, int N, int D);
/* dz = rho*dx - z*rho^3*(sum_j dx_j z_j)/D (overwrites dz). */
void op_pixnorm_backward(float *dz, const float *dx, const float *z, int N, int D);

#endif
