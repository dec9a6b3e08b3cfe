/*
 * frec.c - face_recognition forward (frec.h), following face-api's
 * faceRecognitionNet (convLayer = conv + bias, then scale weights/biases,
 * then relu; residual and residual_down blocks). Shapes (150 input):
 * conv32_down 72x72x32, maxpool 35x35x32, conv32_1..3, conv64_down 17x17x64,
 * conv64_1..3, conv128_down 8x8x128, conv128_1..2, conv256_down 4x4x256,
 * conv256_1..2, conv256_down_out 2x2x256, mean 256, fc 128 (no bias).
 */
#include "models/frec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/tf_nhwc.h"
#include "models/wt_tfjs.h"

typedef struct cl_w {
    float *f, *b, *mul, *add;
    int k, cin, cout;
} cl_w;

typedef struct res_w {
    cl_w c1, c2;
    int down;
} res_w;

enum { N_RES = 14 };

static const struct {
    const char *name;
    int cin, cout, down;
} res_spec[N_RES] = {
    {"conv32_1", 32, 32, 0},       {"conv32_2", 32, 32, 0},        {"conv32_3", 32, 32, 0},
    {"conv64_down", 32, 64, 1},    {"conv64_1", 64, 64, 0},        {"conv64_2", 64, 64, 0},
    {"conv64_3", 64, 64, 0},       {"conv128_down", 64, 128, 1},   {"conv128_1", 128, 128, 0},
    {"conv128_2", 128, 128, 0},    {"conv256_down", 128, 256, 1},  {"conv256_1", 256, 256, 0},
    {"conv256_2", 256, 256, 0},    {"conv256_down_out", 256, 256, 1},
};

struct frec_model {
    wt_tfjs *w;
    cl_w first;
    res_w res[N_RES];
    float *fc;
};

static int load_cl(wt_tfjs *w, cl_w *c, const char *p, int k, int cin, int cout, lm_err *err)
{
    char n[128];
    c->k = k;
    c->cin = cin;
    c->cout = cout;
    snprintf(n, sizeof n, "%s/conv/filters", p);
    int rc = wt_tfjs_get(w, n, 4, (const int[]){k, k, cin, cout}, &c->f, err);
    snprintf(n, sizeof n, "%s/conv/bias", p);
    rc = rc ? rc : wt_tfjs_get(w, n, 1, (const int[]){cout}, &c->b, err);
    snprintf(n, sizeof n, "%s/scale/weights", p);
    rc = rc ? rc : wt_tfjs_get(w, n, 1, (const int[]){cout}, &c->mul, err);
    snprintf(n, sizeof n, "%s/scale/biases", p);
    rc = rc ? rc : wt_tfjs_get(w, n, 1, (const int[]){cout}, &c->add, err);
    return rc;
}

int frec_model_load(frec_model **out, const char *models_dir, lm_err *err)
{
    *out = NULL;
    frec_model *m = calloc(1, sizeof *m);
    if (!m) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    int rc = faces_weights_load(&m->w, models_dir, "face_recognition_model", err);
    rc = rc ? rc : load_cl(m->w, &m->first, "conv32_down", 7, 3, 32, err);
    for (int i = 0; i < N_RES && !rc; i++) {
        char p[128];
        m->res[i].down = res_spec[i].down;
        snprintf(p, sizeof p, "%s/conv1", res_spec[i].name);
        rc = load_cl(m->w, &m->res[i].c1, p, 3, res_spec[i].cin, res_spec[i].cout, err);
        snprintf(p, sizeof p, "%s/conv2", res_spec[i].name);
        rc = rc ? rc : load_cl(m->w, &m->res[i].c2, p, 3, res_spec[i].cout, res_spec[i].cout, err);
    }
    rc = rc ? rc : wt_tfjs_get(m->w, "fc", 2, (const int[]){256, 128}, &m->fc, err);
    if (rc) {
        frec_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void frec_model_free(frec_model *m)
{
    if (m) {
        wt_tfjs_free(m->w);
        free(m);
    }
}

/* Workspace: A/B/T activation buffers (<= 72*72*32 floats each) and an
 * im2col buffer (<= 72*72*7*7*3 floats, the first layer). */
#define FREC_ACT ((size_t)72 * 72 * 32)
#define FREC_COL ((size_t)72 * 72 * 7 * 7 * 3)

size_t frec_ws_floats(void)
{
    return 4 * FREC_ACT + FREC_COL;
}

/* conv + bias, then scale (mul, add), then optional relu. Returns out size. */
static void conv_layer(float *out, float *col, const float *in, const cl_w *c, int H, int W,
                       int stride, enum op_tf_pad pad, int relu, int *OH, int *OW)
{
    op_tf_geom g;
    op_tf_geom_init(&g, H, W, c->cin, c->k, c->k, stride, pad);
    op_tf_conv2d_forward(out, col, in, c->f, c->b, &g, c->cout, OP_ACT_NONE);
    op_tf_affine_forward(out, (size_t)g.OH * g.OW, c->cout, c->mul, c->add,
                         relu ? OP_ACT_RELU : OP_ACT_NONE);
    *OH = g.OH;
    *OW = g.OW;
}

/* x [h][h][cin] -> out [h'][h'][cout]; T, U scratch activations. */
static void residual(float *out, float *T, float *U, float *col, const float *x, const res_w *r,
                     int *h)
{
    int oh, ow, h2, w2;
    if (!r->down) {
        conv_layer(T, col, x, &r->c1, *h, *h, 1, OP_TF_SAME, 1, &oh, &ow);
        conv_layer(U, col, T, &r->c2, oh, ow, 1, OP_TF_SAME, 0, &h2, &w2);
        op_tf_add_forward(out, U, x, (size_t)h2 * w2 * r->c2.cout, OP_ACT_RELU);
        return;
    }
    conv_layer(T, col, x, &r->c1, *h, *h, 2, OP_TF_VALID, 1, &oh, &ow);
    conv_layer(U, col, T, &r->c2, oh, ow, 1, OP_TF_SAME, 0, &h2, &w2);
    /* b = avgpool 2x2 s2 VALID of x, channel-padded with zeros to cout. */
    op_tf_geom g;
    op_tf_geom_init(&g, *h, *h, r->c1.cin, 2, 2, 2, OP_TF_VALID);
    op_tf_avgpool_forward(T, x, &g);
    const int hb = g.OH, cin = r->c1.cin, cout = r->c2.cout;
    /* a may be one smaller than b: zero row at the bottom, column at the right. */
    for (int y = 0; y < hb; y++) {
        for (int xx = 0; xx < hb; xx++) {
            float *o = out + ((size_t)y * hb + xx) * cout;
            const float *b = T + ((size_t)y * hb + xx) * cin;
            int in_a = y < h2 && xx < w2;
            const float *a = U + ((size_t)y * w2 + xx) * cout;
            for (int c = 0; c < cout; c++) {
                float av = in_a ? a[c] : 0.0f, bv = c < cin ? b[c] : 0.0f;
                float s = av + bv;
                o[c] = s > 0.0f ? s : 0.0f;
            }
        }
    }
    *h = hb;
}

void frec_forward(const frec_model *m, float desc[FREC_DIM], float *ws, const float *in)
{
    float *A = ws, *B = ws + FREC_ACT, *T = ws + 2 * FREC_ACT, *U = ws + 3 * FREC_ACT;
    float *col = ws + 4 * FREC_ACT;
    int oh, ow;
    conv_layer(A, col, in, &m->first, FREC_SIZE, FREC_SIZE, 2, OP_TF_VALID, 1, &oh, &ow);
    op_tf_geom g;
    op_tf_geom_init(&g, oh, ow, 32, 3, 3, 2, OP_TF_VALID);
    op_tf_maxpool_forward(B, A, &g);
    int h = g.OH;
    float *cur = B, *nxt = A;
    for (int i = 0; i < N_RES; i++) {
        residual(nxt, T, U, col, cur, &m->res[i], &h);
        float *t = cur;
        cur = nxt;
        nxt = t;
    }
    float mean[256];
    op_tf_geom_init(&g, h, h, 256, h, h, 1, OP_TF_VALID);
    op_tf_avgpool_forward(mean, cur, &g);
    op_tf_dense_forward(desc, mean, m->fc, NULL, 256, FREC_DIM, OP_ACT_NONE);
}

int frec_describe(const frec_model *m, float desc[FREC_DIM], const uint8_t *rgb, int W, int H,
                  const faces_rect *crop, lm_err *err)
{
    float *in = malloc((size_t)FREC_SIZE * FREC_SIZE * 3 * sizeof *in);
    float *ws = malloc(frec_ws_floats() * sizeof *ws);
    if (!in || !ws) {
        free(in);
        free(ws);
        return lm_err_set(err, -ENOMEM, "face recognition: out of memory");
    }
    faces_prep_input(in, FREC_SIZE, rgb, W, H, crop, 1, faces_mean_face, 255.0f);
    frec_forward(m, desc, ws, in);
    free(in);
    free(ws);
    return 0;
}

float frec_distance(const float a[FREC_DIM], const float b[FREC_DIM])
{
    double s = 0.0;
    for (int i = 0; i < FREC_DIM; i++) {
        double d = (double)a[i] - b[i];
        s += d * d;
    }
    return (float)sqrt(s);
}
