/*
 * op_bias_act_math.h - per-element math of bias + activation + gain + clamp
 * (StyleGAN2's bias_act, spec section 3.2 / 6.1), shared by CPU and CUDA.
 */
#ifndef OP_BIAS_ACT_MATH_H
#define OP_BIAS_ACT_MATH_H

#include "kernels/lm_hd.h"

#define OP_LRELU_SLOPE 0.2f

/* y = clamp(gain * phi(v)), phi = lrelu(0.2) when lrelu != 0 else identity;
 * clamp <= 0 means no clamp. */
static inline LM_HD float op_bias_act_f(float v, int lrelu, float gain, float clamp)
{
    float y = (lrelu && v < 0.0f) ? v * OP_LRELU_SLOPE : v;
    y *= gain;
    if (clamp > 0.0f) {
        y = y > clamp ? clamp : (y < -clamp ? -clamp : y);
    }
    return y;
}

/* d y / d v evaluated from the OUTPUT y (v and y share their sign because gain > 0):
 * zero where the clamp was active (|y| at the clamp value). */
static inline LM_HD float op_bias_act_dydv(float y, int lrelu, float gain, float clamp)
{
    if (clamp > 0.0f && (y >= clamp || y <= -clamp)) {
        return 0.0f;
    }
    return (lrelu && y < 0.0f) ? gain * OP_LRELU_SLOPE : gain;
}

/* Recover the pre-activation v from an unclamped output y. */
static inline LM_HD float op_bias_act_inv(float y, int lrelu, float gain)
{
    return ((lrelu && y < 0.0f) ? y / OP_LRELU_SLOPE : y) / gain;
}

#endif
