/*
 * op_modconv_math.h - per-element math of StyleGAN2's weight (de)modulation
 * (spec 3.6 steps 2-5, 6.2, 6.3).
 */
#ifndef OP_MODCONV_MATH_H
#define OP_MODCONV_MATH_H

#include <math.h>

#include "kernels/lm_hd.h"
#include "kernels/op_bias_act_math.h"

#define OP_DEMOD_EPS 1e-8f

/* d = (sum_i s_i^2 Q[o,i] + eps)^(-1/2). */
static inline LM_HD float op_demod_coef(float sumsq)
{
    return 1.0f / sqrtf(sumsq + OP_DEMOD_EPS);
}

/* Conv epilogue (spec 3.6 step 5): y = act(d*c + ns*noise + bias) * gain, clamped.
 * ns_noise = 0 without noise (adding +0 leaves d*c unchanged). */
static inline LM_HD float op_modconv_out_f(float c, float d, float ns_noise, float bias, float gain,
                                           float clamp)
{
    return op_bias_act_f(c * d + ns_noise + bias, 1, gain, clamp);
}

/* Un-demodulated conv output recovered from the pre-activation v:
 * v = d*c + ns*noise + bias  =>  c = (v - bias - ns*noise) / d. */
static inline LM_HD float op_modconv_c_from_v(float v, float bias, float ns_noise, float d)
{
    return (v - bias - ns_noise) / d;
}

#endif
