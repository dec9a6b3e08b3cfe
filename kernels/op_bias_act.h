/*
 * op_bias_act.h - channel bias + leaky ReLU / linear + gain + clamp, and its backward.
 * Layout [outer, C, inner]: bias[c] applies to inner contiguous values
 * (CNHW activations: outer 1, inner N*H*W; FC outputs [N, C]: outer N, inner 1).
 */
#ifndef OP_BIAS_ACT_H
#define OP_BIAS_ACT_H

#include <stdint.h>

/* y = clamp(gain * act(x + bias)); y may alias x; bias may be NULL; clamp <= 0: none. */
void op_bias_act_forward(float *y, const float *x, const float *bias, int64_t outer, int C,
                         int64_t inner, int lrelu, float gain, float clamp);

/* dx = dy * dact/dv computed from the forward OUTPUT y; dx may alias dy (overwrite). */
void op_bias_act_backward(float *dx, const float *dy, const float *y, int64_t n, int lrelu,
                          float gain, float clamp);

#endif
