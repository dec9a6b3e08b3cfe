/*
 * tf_act_math.h - per-element activations of the face-api networks, shared by
 * CPU loops and CUDA twins (LM_HD). leaky uses face-api's own formula
 * relu(x - 0.1x) + 0.1x so results round like TF.js.
 */
#ifndef TF_ACT_MATH_H
#define TF_ACT_MATH_H

#include <math.h>

#include "kernels/lm_hd.h"
#include "kernels/tf_nhwc.h"

static inline LM_HD float op_relu(float x)
{
    return x > 0.0f ? x : 0.0f;
}

static inline LM_HD float op_relu6(float x)
{
    return x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f;
}

static inline LM_HD float op_leaky(float x)
{
    float a = 0.1f * x;
    return op_relu(x - a) + a;
}

static inline LM_HD float op_sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* Derivative of an activation expressed through its output y (valid because
 * every activation here is monotonic and keeps the sign of its input). At the
 * kinks (x = 0, 6) the derivative is taken as 0, like TF's ReluGrad. */
static inline LM_HD float op_act_grad(float y, enum op_act act)
{
    switch (act) {
    case OP_ACT_RELU:
        return y > 0.0f ? 1.0f : 0.0f;
    case OP_ACT_LEAKY:
        return y > 0.0f ? 1.0f : 0.1f;
    case OP_ACT_RELU6:
        return (y > 0.0f && y < 6.0f) ? 1.0f : 0.0f;
    default:
        return 1.0f;
    }
}

static inline LM_HD float op_act_apply(float x, enum op_act act)
{
    switch (act) {
    case OP_ACT_RELU:
        return op_relu(x);
    case OP_ACT_LEAKY:
        return op_leaky(x);
    case OP_ACT_RELU6:
        return op_relu6(x);
    default:
        return x;
    }
}

#endif
