/*
 * lmk.c - dense-block feature extractor and the 68-point landmark nets
 * (lmk.h), following face-api's denseBlock4/denseBlock3 and
 * FaceLandmark68Net(Base). Shapes (full): 112x112x3 -> dense0 56x56x32 ->
 * dense1 28x28x64 -> dense2 14x14x128 -> dense3 7x7x256 -> avgpool 7x7 s2
 * VALID -> 256 -> fc 136. Tiny: 3 blocks of 3 convs, 14x14x128 -> avgpool
 * 14x14 s2 -> 128 -> fc 136. Additions keep face-api's association order
 * (out1 + (out2 + (out3 + out4))) so float rounding matches.
 */
#include "models/lmk.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/tf_nhwc.h"

static int bind_sep(wt_tfjs *w, lmk_sep *s, const char *p, int cin, int cout, lm_err *err)
{
    char n[128];
    snprintf(n, sizeof n, "%s/depthwise_filter", p);
    int rc = wt_tfjs_get(w, n, 4, (const int[]){3, 3, cin, 1}, &s->dw, err);
    snprintf(n, sizeof n, "%s/pointwise_filter", p);
    rc = rc ? rc : wt_tfjs_get(w, n, 4, (const int[]){1, 1, cin, cout}, &s->pw, err);
    snprintf(n, sizeof n, "%s/bias", p);
    rc = rc ? rc : wt_tfjs_get(w, n, 1, (const int[]){cout}, &s->b, err);
    return rc;
}

int lmk_extractor_bind(lmk_extractor *x, wt_tfjs *w, int tiny, lm_err *err)
{
    x->n_blocks = tiny ? 3 : 4;
    x->n_convs = tiny ? 3 : 4;
    x->out_ch = 32 << (x->n_blocks - 1);
    int rc = 0;
    for (int b = 0; b < x->n_blocks && !rc; b++) {
        int cin = b ? 16 << b : 3, cout = 32 << b;
        char p[64];
        lmk_block *blk = &x->block[b];
        if (b == 0) {
            rc = wt_tfjs_get(w, "dense0/conv0/filters", 4, (const int[]){3, 3, 3, 32},
                             &blk->conv0_f, err);
            rc = rc ? rc
                    : wt_tfjs_get(w, "dense0/conv0/bias", 1, (const int[]){32}, &blk->conv0_b, err);
        } else {
            snprintf(p, sizeof p, "dense%d/conv0", b);
            rc = bind_sep(w, &blk->conv[0], p, cin, cout, err);
        }
        for (int k = 1; k < x->n_convs && !rc; k++) {
            snprintf(p, sizeof p, "dense%d/conv%d", b, k);
            rc = bind_sep(w, &blk->conv[k], p, cout, cout, err);
        }
    }
    return rc;
}

/* Buffers: x (block input/output), out1..out4, a sum temp, a depthwise temp,
 * im2col for dense0 conv0 (56*56*27); every activation <= 56*56*32. */
#define LMK_ACT ((size_t)56 * 56 * 32)

size_t lmk_extractor_ws_floats(void)
{
    return 8 * LMK_ACT + (size_t)56 * 56 * 27;
}

static void sep(float *out, float *tmp, const float *in, const lmk_sep *s, int h, int cin, int cout,
                int stride, enum op_act act)
{
    op_tf_geom g;
    op_tf_geom_init(&g, h, h, cin, 3, 3, stride, OP_TF_SAME);
    op_tf_separable_forward(out, tmp, in, s->dw, s->pw, s->b, &g, cout, act);
}

void lmk_extractor_forward(const lmk_extractor *x, float *feat, float *ws, const float *in)
{
    float *X = ws, *o1 = ws + LMK_ACT, *o2 = ws + 2 * LMK_ACT, *o3 = ws + 3 * LMK_ACT;
    float *o4 = ws + 4 * LMK_ACT, *s = ws + 5 * LMK_ACT, *t = ws + 6 * LMK_ACT;
    float *col = ws + 8 * LMK_ACT;
    const float *cur = in;
    int h = LMK_SIZE, c = 3;
    for (int b = 0; b < x->n_blocks; b++) {
        const lmk_block *blk = &x->block[b];
        int co = 32 << b;
        op_tf_geom g;
        op_tf_geom_init(&g, h, h, c, 3, 3, 2, OP_TF_SAME);
        if (b == 0) {
            op_tf_conv2d_forward(o1, col, cur, blk->conv0_f, blk->conv0_b, &g, co, OP_ACT_RELU);
        } else {
            op_tf_separable_forward(o1, t, cur, blk->conv[0].dw, blk->conv[0].pw, blk->conv[0].b,
                                    &g, co, OP_ACT_RELU);
        }
        h = g.OH;
        size_t n = (size_t)h * h * co;
        sep(o2, t, o1, &blk->conv[1], h, co, co, 1, OP_ACT_NONE);
        op_tf_add_forward(s, o1, o2, n, OP_ACT_RELU); /* in3 */
        sep(o3, t, s, &blk->conv[2], h, co, co, 1, OP_ACT_NONE);
        if (x->n_convs == 4) {
            op_tf_add_forward(s, o2, o3, n, OP_ACT_NONE);
            op_tf_add_forward(s, o1, s, n, OP_ACT_RELU); /* in4 = relu(out1 + (out2 + out3)) */
            sep(o4, t, s, &blk->conv[3], h, co, co, 1, OP_ACT_NONE);
            op_tf_add_forward(s, o3, o4, n, OP_ACT_NONE);
            op_tf_add_forward(s, o2, s, n, OP_ACT_NONE);
        } else {
            op_tf_add_forward(s, o2, o3, n, OP_ACT_NONE);
        }
        op_tf_add_forward(X, o1, s, n, OP_ACT_RELU);
        cur = X;
        c = co;
    }
    op_tf_geom g;
    op_tf_geom_init(&g, h, h, c, h, h, 2, OP_TF_VALID);
    op_tf_avgpool_forward(feat, cur, &g);
}

struct lmk_model {
    wt_tfjs *w;
    lmk_extractor x;
    float *fc_w, *fc_b;
};

int lmk_model_load(lmk_model **out, const char *models_dir, int tiny, lm_err *err)
{
    *out = NULL;
    lmk_model *m = calloc(1, sizeof *m);
    if (!m) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    int rc = faces_weights_load(
        &m->w, models_dir, tiny ? "face_landmark_68_tiny_model" : "face_landmark_68_model", err);
    rc = rc ? rc : lmk_extractor_bind(&m->x, m->w, tiny, err);
    rc = rc ? rc
            : wt_tfjs_get(m->w, "fc/weights", 2, (const int[]){m->x.out_ch, 136}, &m->fc_w, err);
    rc = rc ? rc : wt_tfjs_get(m->w, "fc/bias", 1, (const int[]){136}, &m->fc_b, err);
    if (rc) {
        lmk_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void lmk_model_free(lmk_model *m)
{
    if (m) {
        wt_tfjs_free(m->w);
        free(m);
    }
}

void lmk_forward(const lmk_model *m, float out[2 * LMK_POINTS], float *ws, const float *in)
{
    float feat[256];
    lmk_extractor_forward(&m->x, feat, ws, in);
    op_tf_dense_forward(out, feat, m->fc_w, m->fc_b, m->x.out_ch, 2 * LMK_POINTS, OP_ACT_NONE);
}

int lmk_detect(const lmk_model *m, float rel[2 * LMK_POINTS], const uint8_t *rgb, int W, int H,
               const faces_rect *crop, lm_err *err)
{
    float *in = malloc((size_t)LMK_SIZE * LMK_SIZE * 3 * sizeof *in);
    float *ws = malloc(lmk_extractor_ws_floats() * sizeof *ws);
    if (!in || !ws) {
        free(in);
        free(ws);
        return lm_err_set(err, -ENOMEM, "landmarks: out of memory");
    }
    faces_prep_input(in, LMK_SIZE, rgb, W, H, crop, 1, faces_mean_face, 255.0f);
    float o[2 * LMK_POINTS];
    lmk_forward(m, o, ws, in);
    /* face-api's postProcess, in float32 like its tensors: the padding is
     * estimated continuously from the scaled crop size. */
    double sc = (double)LMK_SIZE / (crop->w > crop->h ? crop->w : crop->h);
    double wd = crop->w * sc, hd = crop->h * sc;
    float ws_ = (float)wd, hs_ = (float)hd;
    float padx = crop->w < crop->h ? (float)(fabs(wd - hd) / 2) : 0.0f;
    float pady = crop->h < crop->w ? (float)(fabs(wd - hd) / 2) : 0.0f;
    for (int i = 0; i < LMK_POINTS; i++) {
        rel[2 * i] = (o[2 * i] * (float)LMK_SIZE - padx) / ws_;
        rel[2 * i + 1] = (o[2 * i + 1] * (float)LMK_SIZE - pady) / hs_;
    }
    free(in);
    free(ws);
    return 0;
}
