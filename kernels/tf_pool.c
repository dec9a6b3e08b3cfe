/*
 * tf_pool.c - NHWC max and average pooling with TensorFlow padding
 * (tf_nhwc.h). Shapes: in [H][W][C], out [OH][OW][C]. Padded cells are
 * ignored by both (TF semantics: -inf for max, excluded from the mean).
 * Backward: max routes to the first maximum of each window, average spreads
 * evenly over the window's in-image cells.
 */
#include "kernels/tf_nhwc.h"

#include <float.h>
#include <string.h>

void op_tf_maxpool_forward(float *out, const float *in, const op_tf_geom *g)
{
    const int C = g->C;
#pragma omp parallel for schedule(static) if ((size_t)g->OH * g->OW * C * g->KH * g->KW >          \
                                              OP_TF_PAR_MIN)
    for (int oy = 0; oy < g->OH; oy++) {
        for (int ox = 0; ox < g->OW; ox++) {
            float *o = out + ((size_t)oy * g->OW + ox) * C;
            for (int c = 0; c < C; c++) {
                o[c] = -FLT_MAX;
            }
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
                    for (int c = 0; c < C; c++) {
                        o[c] = x[c] > o[c] ? x[c] : o[c];
                    }
                }
            }
        }
    }
}

void op_tf_maxpool_backward(float *din, const float *dout, const float *in, const op_tf_geom *g)
{
    const int C = g->C;
    memset(din, 0, (size_t)g->H * g->W * C * sizeof *din);
    for (int oy = 0; oy < g->OH; oy++) {
        for (int ox = 0; ox < g->OW; ox++) {
            const float *go = dout + ((size_t)oy * g->OW + ox) * C;
            for (int c = 0; c < C; c++) {
                float best = -FLT_MAX;
                size_t arg = (size_t)-1;
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
                        size_t k = ((size_t)iy * g->W + ix) * C + c;
                        if (arg == (size_t)-1 || in[k] > best) {
                            best = in[k];
                            arg = k;
                        }
                    }
                }
                if (arg != (size_t)-1) {
                    din[arg] += go[c];
                }
            }
        }
    }
}

void op_tf_avgpool_forward(float *out, const float *in, const op_tf_geom *g)
{
    const int C = g->C;
#pragma omp parallel for schedule(static) if ((size_t)g->OH * g->OW * C * g->KH * g->KW >          \
                                              OP_TF_PAR_MIN)
    for (int oy = 0; oy < g->OH; oy++) {
        for (int ox = 0; ox < g->OW; ox++) {
            float *o = out + ((size_t)oy * g->OW + ox) * C;
            int n = 0;
            for (int c = 0; c < C; c++) {
                o[c] = 0.0f;
            }
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
                    for (int c = 0; c < C; c++) {
                        o[c] += x[c];
                    }
                    n++;
                }
            }
            for (int c = 0; c < C; c++) {
                o[c] = n ? o[c] / (float)n : 0.0f;
            }
        }
    }
}

void op_tf_avgpool_backward(float *din, const float *dout, const op_tf_geom *g)
{
    const int C = g->C;
    memset(din, 0, (size_t)g->H * g->W * C * sizeof *din);
    for (int oy = 0; oy < g->OH; oy++) {
        for (int ox = 0; ox < g->OW; ox++) {
            int y0 = oy * g->stride - g->pad_top, x0 = ox * g->stride - g->pad_left;
            int ya = y0 < 0 ? 0 : y0, xa = x0 < 0 ? 0 : x0;
            int yb = y0 + g->KH > g->H ? g->H : y0 + g->KH,
                xb = x0 + g->KW > g->W ? g->W : x0 + g->KW;
            int n = (yb - ya) * (xb - xa);
            if (n <= 0) {
                continue;
            }
            const float *go = dout + ((size_t)oy * g->OW + ox) * C;
            for (int iy = ya; iy < yb; iy++) {
                for (int ix = xa; ix < xb; ix++) {
                    float *d = din + ((size_t)iy * g->W + ix) * C;
                    for (int c = 0; c < C; c++) {
                        d[c] += go[c] / (float)n;
                    }
                }
            }
        }
    }
}
