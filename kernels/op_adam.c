/* op_adam.c - Adam step (see op_adam.h): p, g, m, v [n]. */
#include "kernels/op_adam.h"

#include <math.h>

#include "kernels/op_adam_math.h"

void op_adam_step(float *p, const float *g, float *m, float *v, int64_t n, int t,
                  const op_adam_hp *hp)
{
    double bc1 = 1.0 - pow(hp->beta1, t), bc2 = 1.0 - pow(hp->beta2, t);
    float step_size = (float)(hp->lr / bc1);
    float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    float b1 = hp->beta1, b2 = hp->beta2, eps = hp->eps;
#pragma omp parallel for if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        op_adam_update(&p[i], &m[i], &v[i], g[i], b1, b2, step_size, inv_sqrt_bc2, eps);
    }
}
