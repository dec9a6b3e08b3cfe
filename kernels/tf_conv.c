/*
 * tf_conv.c - NHWC conv2d with TensorFlow SAME/VALID padding (tf_nhwc.h).
 *
 * Shapes: in [H][W][C], filt [KH][KW][C][Cout] (HWIO), bias [Cout],
 * out [OH][OW][Cout]. im2col turns each output pixel into a row of
 * KH*KW*C values in (dy, dx, c) order - exactly the row order of the HWIO
 * filter seen as a [KH*KW*C][Cout] matrix - so the conv is one row-major
 * op_sgemm: out[OH*OW][Cout] = cols[OH*OW][K] * filt[K][Cout].
 * Backward: dcols = dout * filt^T, scattered back (col2im) into din;
 * dfilt += cols^T * dout; dbias += column sums of dout.
 */
#include "kernels/tf_nhwc.h"

#include <string.h>

#include "kernels/op_gemm.h"
#include "kernels/tf_act_math.h"

int op_tf_geom_init(op_tf_geom *g, int H, int W, int C, int KH, int KW, int stride,
                    enum op_tf_pad pad)
{
    memset(g, 0, sizeof *g);
    if (H <= 0 || W <= 0 || C <= 0 || KH <= 0 || KW <= 0 || stride <= 0) {
        return -1;
    }
    g->H = H;
    g->W = W;
    g->C = C;
    g->KH = KH;
    g->KW = KW;
    g->stride = stride;
    if (pad == OP_TF_SAME) {
        g->OH = (H + stride - 1) / stride;
        g->OW = (W + stride - 1) / stride;
        int ph = (g->OH - 1) * stride + KH - H, pw = (g->OW - 1) * stride + KW - W;
        g->pad_top = ph > 0 ? ph / 2 : 0;
        g->pad_left = pw > 0 ? pw / 2 : 0;
    } else {
        if (H < KH || W < KW) {
            return -1;
        }
        g->OH = (H - KH + stride) / stride;
        g->OW = (W - KW + stride) / stride;
    }
    return 0;
}

static int is_pointwise(const op_tf_geom *g)
{
    return g->KH == 1 && g->KW == 1 && g->stride == 1 && g->pad_top == 0 && g->pad_left == 0;
}

size_t op_tf_conv2d_scratch(const op_tf_geom *g)
{
    if (is_pointwise(g)) {
        return 0;
    }
    return (size_t)g->OH * g->OW * g->KH * g->KW * g->C;
}

static void im2col(float *cols, const float *in, const op_tf_geom *g)
{
    const int C = g->C, KH = g->KH, KW = g->KW;
    const size_t K = (size_t)KH * KW * C;
#pragma omp parallel for schedule(static) if ((size_t)g->OH * g->OW * K > OP_TF_PAR_MIN)
    for (int oy = 0; oy < g->OH; oy++) {
        for (int ox = 0; ox < g->OW; ox++) {
            float *row = cols + ((size_t)oy * g->OW + ox) * K;
            for (int dy = 0; dy < KH; dy++) {
                int iy = oy * g->stride + dy - g->pad_top;
                for (int dx = 0; dx < KW; dx++) {
                    int ix = ox * g->stride + dx - g->pad_left;
                    float *dst = row + ((size_t)dy * KW + dx) * C;
                    if (iy < 0 || iy >= g->H || ix < 0 || ix >= g->W) {
                        memset(dst, 0, (size_t)C * sizeof *dst);
                    } else {
                        memcpy(dst, in + ((size_t)iy * g->W + ix) * C, (size_t)C * sizeof *dst);
                    }
                }
            }
        }
    }
}

void op_tf_conv2d_forward(float *out, float *scratch, const float *in, const float *filt,
                          const float *bias, const op_tf_geom *g, int cout, enum op_act act)
{
    const int M = g->OH * g->OW, K = g->KH * g->KW * g->C;
    const float *a = in;
    if (!is_pointwise(g)) {
        im2col(scratch, in, g);
        a = scratch;
    }
    op_sgemm(0, 0, M, cout, K, 1.0f, a, K, filt, cout, 0.0f, out, cout);
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

size_t op_tf_conv2d_backward_scratch(const op_tf_geom *g)
{
    return 2 * (size_t)g->OH * g->OW * g->KH * g->KW * g->C;
}

/* Scatter-add the rows of dcols back to the input positions they were read
 * from (the adjoint of im2col). Serial: windows overlap, and these layers are
 * small. */
static void col2im(float *din, const float *dcols, const op_tf_geom *g)
{
    const int C = g->C, KH = g->KH, KW = g->KW;
    const size_t K = (size_t)KH * KW * C;
    memset(din, 0, (size_t)g->H * g->W * C * sizeof *din);
    for (int oy = 0; oy < g->OH; oy++) {
        for (int ox = 0; ox < g->OW; ox++) {
            const float *row = dcols + ((size_t)oy * g->OW + ox) * K;
            for (int dy = 0; dy < KH; dy++) {
                int iy = oy * g->stride + dy - g->pad_top;
                if (iy < 0 || iy >= g->H) {
                    continue;
                }
                for (int dx = 0; dx < KW; dx++) {
                    int ix = ox * g->stride + dx - g->pad_left;
                    if (ix < 0 || ix >= g->W) {
                        continue;
                    }
                    const float *src = row + ((size_t)dy * KW + dx) * C;
                    float *dst = din + ((size_t)iy * g->W + ix) * C;
                    for (int c = 0; c < C; c++) {
                        dst[c] += src[c];
                    }
                }
            }
        }
    }
}

void op_tf_conv2d_backward(float *din, float *dfilt, float *dbias, float *scratch,
                           const float *dout, const float *in, const float *filt,
                           const op_tf_geom *g, int cout)
{
    const int M = g->OH * g->OW, K = g->KH * g->KW * g->C;
    if (dbias) {
        for (int m = 0; m < M; m++) {
            for (int c = 0; c < cout; c++) {
                dbias[c] += dout[(size_t)m * cout + c];
            }
        }
    }
    if (dfilt) {
        const float *cols = in;
        if (!is_pointwise(g)) {
            im2col(scratch, in, g);
            cols = scratch;
        }
        op_sgemm(1, 0, K, cout, M, 1.0f, cols, K, dout, cout, 1.0f, dfilt, cout);
    }
    if (din) {
        if (is_pointwise(g)) {
            op_sgemm(0, 1, M, K, cout, 1.0f, dout, cout, filt, cout, 0.0f, din, K);
            return;
        }
        float *dcols = scratch + (size_t)M * K;
        op_sgemm(0, 1, M, K, cout, 1.0f, dout, cout, filt, cout, 0.0f, dcols, K);
        col2im(din, dcols, g);
    }
}
