/*
 * tf_depthwise.c - NHWC depthwise conv (channel multiplier 1) and the
 * separable conv built on it (tf_nhwc.h).
 *
 * Shapes: in [H][W][C], dw [KH][KW][C], out [OH][OW][C]; separable adds a
 * pointwise pw [C][Cout] + bias [Cout] via op_sgemm.
 */
#include "kernels/tf_nhwc.h"

#include <string.h>

#include "kernels/op_gemm.h"
#include "kernels/tf_act_math.h"

void op_tf_depthwise_forward(float *out, const float *in, const float *filt, const float *bias,
                             const op_tf_geom *g, enum op_act act)
{
    const int C = g->C;
#pragma omp parallel for schedule(static) if ((size_t)g->OH * g->OW * C * g->KH * g->KW >          \
                                              OP_TF_PAR_MIN)
    for (int oy = 0; oy < g->OH; oy++) {
        for (int ox = 0; ox < g->OW; ox++) {
            float *o = out + ((size_t)oy * g->OW + ox) * C;
            memset(o, 0, (size_t)C * sizeof *o);
            for (int dy = 0; dy < g->KH; dy++) {
                int iy = oy * g->stride + dy - g->pad_top;
                if (iy < 0 || iy >= g->H) {
                    continue;
                }
                for (int dx = 0; dx < g->KW; dx++) {
                    int ix = ox * g->stride + dx - g->pad_left;
                    if (ix < 0 || ix >= g->W) {
                        continue;
                    }
                    const float *x = in + ((size_t)iy * g->W + ix) * C;
                    const float *f = filt + ((size_t)dy * g->KW + dx) * C;
                    for (int c = 0; c < C; c++) {
                        o[c] += x[c] * f[c];
                    }
                }
            }
            if (bias || act != OP_ACT_NONE) {
                for (int c = 0; c < C; c++) {
                    o[c] = op_act_apply(bias ? o[c] + bias[c] : o[c], act);
                }
            }
        }
    }
}

void op_tf_separable_forward(float *out, float *tmp, const float *in, const float *dw,
                             const float *pw, const float *bias, const op_tf_geom *g, int cout,
                             enum op_act act)
{
    const int M = g->OH * g->OW;
    op_tf_depthwise_forward(tmp, in, dw, NULL, g, OP_ACT_NONE);
    op_sgemm(0, 0, M, cout, g->C, 1.0f, tmp, g->C, pw, cout, 0.0f, out, cout);
    if (!bias && act == OP_ACT_NONE) {
        return;
    }
#pragma omp parallel for schedule(static) if ((size_t)M * cout > OP_TF_PAR_MIN)
    for (int m = 0; m < M; m++) {
        float *o = out + (size_t)m * cout;
        for (int c = 0; c < cout; c++) {
            o[c] = op_act_apply(bias ? o[c] + bias[c] : o[c], act);
        }
    }
}
