/*
 * op_pixnorm_math.h - second-moment normalisation (StyleGAN2 spec 3.3, 6.9).
 */
#ifndef OP_PIXNORM_MATH_H
#define OP_PIXNORM_MATH_H

#include <math.h>

#include "kernels/lm_hd.h"

#define OP_PIXNORM_EPS 1e-8

/* rho = (mean z^2 + eps)^(-1/2) from the sum of squares over D entries. */
static inline LM_HD double op_pixnorm_rho(double sumsq, int D)
{
    return 1.0 / sqrt(sumsq / D + OP_PIXNORM_EPS);
}

#endif
