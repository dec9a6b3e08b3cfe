/*
 * op_adam_math.h - one Adam update of one parameter (Kingma & Ba; the exact form of
 * PyTorch's torch.optim.Adam without weight decay or amsgrad):
 *   m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2
 *   p <- p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),  bc_k = 1 - b_k^t (t >= 1)
 * The bias corrections are computed once per step by the caller (op_adam_step).
 */
#ifndef OP_ADAM_MATH_H
#define OP_ADAM_MATH_H

#include <math.h>

#include "kernels/lm_hd.h"

/* step_size = lr / bc1; inv_sqrt_bc2 = 1 / sqrt(bc2). */
static inline LM_HD void op_adam_update(float *p, float *m, float *v, float g, float b1, float b2,
                                        float step_size, float inv_sqrt_bc2, float eps)
{
    float mm = b1 * *m + (1.0f - b1) * g;
    float vv = b2 * *v + (1.0f - b2) * g * g;
    *m = mm;
    *v = vv;
    *p -= step_size * mm / (sqrtf(vv) * inv_sqrt_bc2 + eps);
}

#endif
