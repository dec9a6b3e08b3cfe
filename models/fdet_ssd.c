/*
 * fdet_ssd.c - ssd_mobilenetv1 forward and decoding (fdet_ssd.h), following
 * face-api's SsdMobilenetv1 (mobileNetV1, predictionLayer, outputLayer,
 * nonMaxSuppression). Shapes for the 512 input: Conv2d_0 256x256x32,
 * Conv2d_1 256x256x64, 2-3 128x128x128, 4-5 64x64x256, 6-11 32x32x512
 * (conv11 kept), 12-13 16x16x1024; prediction convs 16x16x256, 8x8x512,
 * 8x8x128, 4x4x256, 4x4x128, 2x2x256, 2x2x64, 1x1x128; box predictors on
 * conv11, conv13, p1, p3, p5, p7 (3 anchors on conv11, 6 elsewhere).
 */
#include "models/fdet_ssd.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/tf_nhwc.h"
#include "models/faces_prep.h"
#include "models/wt_tfjs.h"

#define BN_EPS 0.0010000000474974513

typedef struct pw_w {
    float *f, *off;
    int k, cin, cout;
} pw_w;

typedef struct dw_w {
    float *f, *gamma, *beta, *mean, *var;
    int c;
} dw_w;

typedef struct pred_w {
    float *box_f, *box_b, *cls_f, *cls_b;
    int cin, anchors;
} pred_w;

struct fdet_ssd_model {
    wt_tfjs *w;
    pw_w conv0;
    dw_w dw[14]; /* 1..13 */
    pw_w pw[14]; /* 1..13 */
    pw_w pred[8];
    pred_w box[6];
    float *anchors; /* [5118][4] ymin, xmin, ymax, xmax */
};

static const int bb_cout[14] = {32,  64,  128, 128, 256, 256,  512,
                                512, 512, 512, 512, 512, 1024, 1024};
static const int bb_stride[14] = {2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1};
static const int pred_cout[8] = {256, 512, 128, 256, 128, 256, 64, 128};

static int get(wt_tfjs *w, float **p, lm_err *err, const char *name, int ndim, const int *shape)
{
    return wt_tfjs_get(w, name, ndim, shape, p, err);
}

static int bind_pw(wt_tfjs *w, pw_w *p, const char *prefix, int k, int cin, int cout, lm_err *err)
{
    char n[160];
    p->k = k;
    p->cin = cin;
    p->cout = cout;
    snprintf(n, sizeof n, "%s/weights", prefix);
    int rc = get(w, &p->f, err, n, 4, (const int[]){k, k, cin, cout});
    snprintf(n, sizeof n, "%s/convolution_bn_offset", prefix);
    return rc ? rc : get(w, &p->off, err, n, 1, (const int[]){cout});
}

int fdet_ssd_model_load(fdet_ssd_model **out, const char *models_dir, lm_err *err)
{
    *out = NULL;
    fdet_ssd_model *m = calloc(1, sizeof *m);
    if (!m) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    int rc = faces_weights_load(&m->w, models_dir, "ssd_mobilenetv1_model", err);
    rc = rc ? rc : bind_pw(m->w, &m->conv0, "MobilenetV1/Conv2d_0_pointwise", 3, 3, 32, err);
    for (int i = 1; i < 14 && !rc; i++) {
        char p[128], n[160];
        int c = bb_cout[i - 1];
        dw_w *d = &m->dw[i];
        d->c = c;
        snprintf(p, sizeof p, "MobilenetV1/Conv2d_%d_depthwise", i);
        snprintf(n, sizeof n, "%s/depthwise_weights", p);
        rc = get(m->w, &d->f, err, n, 4, (const int[]){3, 3, c, 1});
        const char *bn[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
        float **dst[4] = {&d->gamma, &d->beta, &d->mean, &d->var};
        for (int k = 0; k < 4 && !rc; k++) {
            snprintf(n, sizeof n, "%s/BatchNorm/%s", p, bn[k]);
            rc = get(m->w, dst[k], err, n, 1, (const int[]){c});
        }
        snprintf(p, sizeof p, "MobilenetV1/Conv2d_%d_pointwise", i);
        rc = rc ? rc : bind_pw(m->w, &m->pw[i], p, 1, c, bb_cout[i], err);
    }
    int cin = 1024;
    for (int j = 0; j < 8 && !rc; j++) {
        char p[128];
        snprintf(p, sizeof p, "Prediction/Conv2d_%d_pointwise", j);
        rc = bind_pw(m->w, &m->pred[j], p, j % 2 ? 3 : 1, cin, pred_cout[j], err);
        cin = pred_cout[j];
    }
    const int box_cin[6] = {512, 1024, 512, 256, 256, 128};
    for (int k = 0; k < 6 && !rc; k++) {
        char n[160];
        pred_w *b = &m->box[k];
        b->cin = box_cin[k];
        b->anchors = k ? 6 : 3;
        snprintf(n, sizeof n, "Prediction/BoxPredictor_%d/BoxEncodingPredictor/weights", k);
        rc = get(m->w, &b->box_f, err, n, 4, (const int[]){1, 1, b->cin, 4 * b->anchors});
        snprintf(n, sizeof n, "Prediction/BoxPredictor_%d/BoxEncodingPredictor/biases", k);
        rc = rc ? rc : get(m->w, &b->box_b, err, n, 1, (const int[]){4 * b->anchors});
        snprintf(n, sizeof n, "Prediction/BoxPredictor_%d/ClassPredictor/weights", k);
        rc = rc ? rc : get(m->w, &b->cls_f, err, n, 4, (const int[]){1, 1, b->cin, 3 * b->anchors});
        snprintf(n, sizeof n, "Prediction/BoxPredictor_%d/ClassPredictor/biases", k);
        rc = rc ? rc : get(m->w, &b->cls_b, err, n, 1, (const int[]){3 * b->anchors});
    }
    rc = rc ? rc
            : get(m->w, &m->anchors, err, "Output/extra_dim", 3,
                  (const int[]){1, FDET_SSD_ANCHORS, 4});
    if (rc) {
        fdet_ssd_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void fdet_ssd_model_free(fdet_ssd_model *m)
{
    if (m) {
        wt_tfjs_free(m->w);
        free(m);
    }
}

#define SSD_ACT ((size_t)256 * 256 * 64)

size_t fdet_ssd_ws_floats(void)
{
    /* A, B ping-pong; conv11 and conv13 kept; prediction features p1..p7;
     * im2col for Conv2d_0 (256*256*27) and the 3x3 prediction convs. */
    return 2 * SSD_ACT + (size_t)32 * 32 * 512 + (size_t)16 * 16 * 1024 +
           ((size_t)8 * 8 * 512 + 4 * 4 * 256 + 2 * 2 * 256 + 1 * 1 * 128) + (size_t)256 * 256 * 27;
}

/* conv (SAME, stride s) + offset, relu6: face-api's pointwiseConvLayer. */
static void pw_layer(float *out, float *col, const float *in, const pw_w *p, int h, int s, int *oh)
{
    op_tf_geom g;
    op_tf_geom_init(&g, h, h, p->cin, p->k, p->k, s, OP_TF_SAME);
    op_tf_conv2d_forward(out, col, in, p->f, p->off, &g, p->cout, OP_ACT_RELU6);
    *oh = g.OH;
}

/* Box predictor on a feature map: appends (y, x, anchor) rows. */
static void predict(float *enc, float *logits, float *col, const float *x, int h, const pred_w *b)
{
    op_tf_geom g;
    op_tf_geom_init(&g, h, h, b->cin, 1, 1, 1, OP_TF_SAME);
    op_tf_conv2d_forward(enc, col, x, b->box_f, b->box_b, &g, 4 * b->anchors, OP_ACT_NONE);
    op_tf_conv2d_forward(logits, col, x, b->cls_f, b->cls_b, &g, 3 * b->anchors, OP_ACT_NONE);
}

void fdet_ssd_forward(const fdet_ssd_model *m, float *enc, float *logits, float *ws,
                      const float *in)
{
    float *A = ws, *B = A + SSD_ACT, *c11 = B + SSD_ACT, *c13 = c11 + (size_t)32 * 32 * 512;
    float *p1 = c13 + (size_t)16 * 16 * 1024, *p3 = p1 + 8 * 8 * 512, *p5 = p3 + 4 * 4 * 256;
    float *p7 = p5 + 2 * 2 * 256, *col = p7 + 128;
    int h;
    pw_layer(A, col, in, &m->conv0, FDET_SSD_SIZE, 2, &h);
    for (int i = 1; i < 14; i++) {
        const dw_w *d = &m->dw[i];
        op_tf_geom g;
        op_tf_geom_init(&g, h, h, d->c, 3, 3, bb_stride[i], OP_TF_SAME);
        op_tf_depthwise_forward(B, A, d->f, NULL, &g, OP_ACT_NONE);
        h = g.OH;
        op_tf_batchnorm_forward(B, (size_t)h * h, d->c, d->mean, d->var, d->beta, d->gamma, BN_EPS,
                                OP_ACT_RELU6);
        float *dst = i == 11 ? c11 : i == 13 ? c13 : A;
        pw_layer(dst, col, B, &m->pw[i], h, 1, &h);
        if (dst != A) {
            memcpy(A, dst, (size_t)h * h * m->pw[i].cout * sizeof *A);
        }
    }
    /* Extra feature layers on conv13. */
    float *keep[8] = {NULL, p1, NULL, p3, NULL, p5, NULL, p7};
    const float *x = c13;
    int hp = 16;
    for (int j = 0; j < 8; j++) {
        float *dst = keep[j] ? keep[j] : (x == A ? B : A);
        pw_layer(dst, col, x, &m->pred[j], hp, j % 2 ? 2 : 1, &hp);
        x = dst;
    }
    const float *feat[6] = {c11, c13, p1, p3, p5, p7};
    const int fh[6] = {32, 16, 8, 4, 2, 1};
    size_t row = 0;
    for (int k = 0; k < 6; k++) {
        predict(enc + row * 4, logits + row * 3, col, feat[k], fh[k], &m->box[k]);
        row += (size_t)fh[k] * fh[k] * m->box[k].anchors;
    }
}

int fdet_ssd_detect(const fdet_ssd_model *m, const uint8_t *rgb, int W, int H, float min_conf,
                    int max_results, fdet_box *boxes, int max_boxes, int *n_found, lm_err *err)
{
    *n_found = 0;
    const int S = FDET_SSD_SIZE, NA = FDET_SSD_ANCHORS;
    float *in = malloc((size_t)S * S * 3 * sizeof *in);
    float *ws = malloc(fdet_ssd_ws_floats() * sizeof *ws);
    float *enc = malloc((size_t)NA * 4 * sizeof *enc), *lg = malloc((size_t)NA * 3 * sizeof *lg);
    float *dec = malloc((size_t)NA * 4 * sizeof *dec), *sc = malloc((size_t)NA * sizeof *sc);
    float *cb = malloc((size_t)NA * 4 * sizeof *cb), *cs = malloc((size_t)NA * sizeof *cs);
    int *ci = malloc((size_t)NA * sizeof *ci), *keep = malloc((size_t)NA * 2 * sizeof *keep);
    int rc = 0;
    if (!in || !ws || !enc || !lg || !dec || !sc || !cb || !cs || !ci || !keep) {
        rc = lm_err_set(err, -ENOMEM, "SSD face detector: out of memory");
        goto done;
    }
    faces_rect whole = {0, 0, W, H};
    const float zero[3] = {0, 0, 0};
    faces_prep_input(in, S, rgb, W, H, &whole, 0, zero, 127.5f);
    for (size_t i = 0; i < (size_t)S * S * 3; i++) {
        in[i] -= 1.0f; /* face-api: x / 127.5 - 1 */
    }
    fdet_ssd_forward(m, enc, lg, ws, in);
    /* Decode in float32 with face-api's operation order (decodeBoxesLayer). */
    int nc = 0;
    for (int a = 0; a < NA; a++) {
        const float *an = m->anchors + 4 * (size_t)a, *t = enc + 4 * (size_t)a;
        float s = (float)(1.0 / (1.0 + exp(-(double)lg[3 * (size_t)a + 1])));
        if (!(s > min_conf)) {
            continue;
        }
        float ha = an[2] - an[0], wa = an[3] - an[1];
        float cya = an[0] + ha / 2.0f, cxa = an[1] + wa / 2.0f;
        float hh = (float)exp((double)(t[2] / 5.0f)) * ha / 2.0f;
        float cy = t[0] / 10.0f * ha + cya;
        float hw = (float)exp((double)(t[3] / 5.0f)) * wa / 2.0f;
        float cx = t[1] / 10.0f * wa + cxa;
        float *b = cb + 4 * (size_t)nc;
        b[0] = cy - hh;
        b[1] = cx - hw;
        b[2] = cy + hh;
        b[3] = cx + hw;
        cs[nc] = s;
        ci[nc] = a;
        nc++;
    }
    int maxr = max_results > 0 ? max_results : FDET_SSD_MAX_RESULTS;
    int nk = op_nms_forward(keep, keep + NA, cb, cs, nc, 0.5f, maxr);
    double r = (double)S / (W > H ? W : H);
    double Wr = floor(W * r + 0.5), Hr = floor(H * r + 0.5);
    double padx = S / Wr, pady = S / Hr;
    for (int k = 0; k < nk && k < max_boxes; k++) {
        const float *b = cb + 4 * (size_t)keep[k];
        double top = fmax(0.0, b[0]) * pady, bottom = fmin(1.0, b[2]) * pady;
        double left = fmax(0.0, b[1]) * padx, right = fmin(1.0, b[3]) * padx;
        fdet_box *o = &boxes[k];
        o->rx = left;
        o->ry = top;
        o->rw = right - left;
        o->rh = bottom - top;
        o->x = o->rx * W;
        o->y = o->ry * H;
        o->w = o->rw * W;
        o->h = o->rh * H;
        o->score = cs[keep[k]];
    }
    *n_found = nk;
done:
    free(in), free(ws), free(enc), free(lg), free(dec), free(sc), free(cb), free(cs), free(ci);
    free(keep);
    return rc;
}
