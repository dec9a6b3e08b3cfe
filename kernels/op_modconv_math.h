/*
 * op_modconv_math.h - per-element math of StyleGAN2's weight (de)modulation
 * (spec 3.6 steps 2-5, 6.2, 6.3).
 */
#ifndef OP_MODCONV_MATH_H
#define OP_MODCONV_MATH_H

#include <math.h>

#include "kernels/lm_hd.h"

#define OP_DEMOD_EPS 1e-8f

/* d = (sum_i s_i^2 Q[o,i] + eps)^(-1/2). */
static inline LM_HD float op_demod_coef(float sumsq)
{
    return 1.0f / sqrtf(sumsq + OP_DEMOD_EPS);
}

/* Un-demodulated conv output recovered from the pre-activation v:
 * v = d*c + ns*noise + bias  =>  c = (v - bias - ns*noise) / d. */
static inline LM_HD float op_modconv_c_from_v(float v, float bias, float ns_noise, float d)
{
    return (v - bias - ns_noise) / d;
}

#endif
