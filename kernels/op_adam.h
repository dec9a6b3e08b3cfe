/*
 * op_adam.h - Adam optimiser step over a flat parameter vector (used by the GAN
 * inversion in models/invert.c). Per-element math in kernels/op_adam_math.h.
 *
 * Shapes: p, g, m, v are [n]; m and v are the first and second moments (zero before
 * step t = 1). Gradients are read only; parameters and moments are updated in place.
 */
#ifndef OP_ADAM_H
#define OP_ADAM_H

#include <stdint.h>

typedef struct op_adam_hp {
    float lr;    /* learning rate of this step */
    float beta1; /* 0.9 */
    float beta2; /* 0.999 */
    float eps;   /* 1e-8 */
} op_adam_hp;

/* One step number t (>= 1, counted from 1 per parameter) over n elements. */
void op_adam_step(float *p, const float *g, float *m, float *v, int64_t n, int t,
                  const op_adam_hp *hp);

#endif
