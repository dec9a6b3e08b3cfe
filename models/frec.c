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

#define FREC_ACT_A0 ((size_t)72 * 72 * 32)

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
    {"conv32_1", 32, 32, 0},    {"conv32_2", 32, 32, 0},           {"conv32_3", 32, 32, 0},
    {"conv64_down", 32, 64, 1}, {"conv64_1", 64, 64, 0},           {"conv64_2", 64, 64, 0},
    {"conv64_3", 64, 64, 0},    {"conv128_down", 64, 128, 1},      {"conv128_1", 128, 128, 0},
    {"conv128_2", 128, 128, 0}, {"conv256_down", 128, 256, 1},     {"conv256_1", 256, 256, 0},
    {"conv256_2", 256, 256, 0}, {"conv256_down_out", 256, 256, 1},
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

/* Activation sizes (fixed by the 150x150 input), llm.c style: the forward
 * keeps every activation backward needs in the first frec_cache_floats()
 * floats of its workspace:
 *   a0 conv32_down output (after relu) 72x72x32, p0 max-pool output 35x35x32,
 *   per residual block: t1 (conv1 output after relu) and the block output,
 *   then the 256-D mean. The rest of the workspace is scratch. */
typedef struct frec_plan {
    int h_in[N_RES], h_mid[N_RES], h_out[N_RES];
    size_t off_t1[N_RES], off_out[N_RES], off_mean, cache;
} frec_plan;

static void plan(frec_plan *p)
{
    size_t off = (size_t)72 * 72 * 32 + (size_t)35 * 35 * 32;
    int h = 35;
    for (int i = 0; i < N_RES; i++) {
        int co = res_spec[i].cout;
        p->h_in[i] = h;
        p->h_mid[i] = res_spec[i].down ? (h - 3) / 2 + 1 : h;
        p->h_out[i] = res_spec[i].down ? h / 2 : h;
        p->off_t1[i] = off;
        off += (size_t)p->h_mid[i] * p->h_mid[i] * co;
        p->off_out[i] = off;
        off += (size_t)p->h_out[i] * p->h_out[i] * co;
        h = p->h_out[i];
    }
    p->off_mean = off;
    p->cache = off + 256;
}

#define FREC_ACT ((size_t)72 * 72 * 32)
#define FREC_COL ((size_t)72 * 72 * 7 * 7 * 3)

size_t frec_ws_floats(void)
{
    frec_plan p;
    plan(&p);
    return p.cache + 2 * FREC_ACT + FREC_COL;
}

/* conv + bias, then scale (mul, add), then optional relu. */
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

/* One residual block: x [h][h][cin] -> out [h'][h'][cout]; t1 keeps conv1's
 * output; U, T, col scratch. */
static void residual(float *out, float *t1, float *U, float *T, float *col, const float *x,
                     const res_w *r, int h)
{
    int oh, ow, h2, w2;
    if (!r->down) {
        conv_layer(t1, col, x, &r->c1, h, h, 1, OP_TF_SAME, 1, &oh, &ow);
        conv_layer(U, col, t1, &r->c2, oh, ow, 1, OP_TF_SAME, 0, &h2, &w2);
        op_tf_add_forward(out, U, x, (size_t)h2 * w2 * r->c2.cout, OP_ACT_RELU);
        return;
    }
    conv_layer(t1, col, x, &r->c1, h, h, 2, OP_TF_VALID, 1, &oh, &ow);
    conv_layer(U, col, t1, &r->c2, oh, ow, 1, OP_TF_SAME, 0, &h2, &w2);
    /* b = avgpool 2x2 s2 VALID of x, channel-padded with zeros to cout. */
    op_tf_geom g;
    op_tf_geom_init(&g, h, h, r->c1.cin, 2, 2, 2, OP_TF_VALID);
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
}

void frec_forward(const frec_model *m, float desc[FREC_DIM], float *ws, const float *in)
{
    frec_plan p;
    plan(&p);
    float *a0 = ws, *p0 = ws + FREC_ACT_A0;
    float *U = ws + p.cache, *T = U + FREC_ACT, *col = T + FREC_ACT;
    int oh, ow;
    conv_layer(a0, col, in, &m->first, FREC_SIZE, FREC_SIZE, 2, OP_TF_VALID, 1, &oh, &ow);
    op_tf_geom g;
    op_tf_geom_init(&g, oh, ow, 32, 3, 3, 2, OP_TF_VALID);
    op_tf_maxpool_forward(p0, a0, &g);
    const float *cur = p0;
    for (int i = 0; i < N_RES; i++) {
        float *out = ws + p.off_out[i];
        residual(out, ws + p.off_t1[i], U, T, col, cur, &m->res[i], p.h_in[i]);
        cur = out;
    }
    int h = p.h_out[N_RES - 1];
    float *mean = ws + p.off_mean;
    op_tf_geom_init(&g, h, h, 256, h, h, 1, OP_TF_VALID);
    op_tf_avgpool_forward(mean, cur, &g);
    op_tf_dense_forward(desc, mean, m->fc, NULL, 256, FREC_DIM, OP_ACT_NONE);
}

size_t frec_backward_ws_floats(void)
{
    return 4 * FREC_ACT + 2 * FREC_COL;
}

/* Backward of conv_layer for the input only: dy (gradient of the layer
 * output y) -> dx. dy is modified (turned into the conv output gradient). */
static void conv_layer_backward(float *dx, float *dy, const float *y, const cl_w *c, int H, int W,
                                int stride, enum op_tf_pad pad, int relu, float *scratch)
{
    op_tf_geom g;
    op_tf_geom_init(&g, H, W, c->cin, c->k, c->k, stride, pad);
    op_tf_affine_backward(dy, dy, y, (size_t)g.OH * g.OW, c->cout, c->mul,
                          relu ? OP_ACT_RELU : OP_ACT_NONE);
    op_tf_conv2d_backward(dx, NULL, NULL, scratch, dy, NULL, c->f, &g, c->cout);
}

/* Block backward: dout (gradient of the block output, modified) -> dx
 * (overwritten); G1, G2 scratch activations. */
static void residual_backward(float *dx, float *dout, float *G1, float *G2, float *scratch,
                              const float *out, const float *t1, const res_w *r, int h_in,
                              int h_mid, int h_out)
{
    const int cin = r->c1.cin, cout = r->c2.cout;
    const size_t n_out = (size_t)h_out * h_out * cout;
    op_tf_act_backward(dout, dout, out, n_out, OP_ACT_RELU);
    /* Main path: gradient of conv2's output a = dout restricted to a's area. */
    for (int y = 0; y < h_mid; y++) {
        for (int x = 0; x < h_mid; x++) {
            memcpy(G1 + ((size_t)y * h_mid + x) * cout, dout + ((size_t)y * h_out + x) * cout,
                   (size_t)cout * sizeof *G1);
        }
    }
    /* conv2's output y2 is linear (no relu): pass y = NULL-free dummy via act NONE. */
    op_tf_geom g2;
    op_tf_geom_init(&g2, h_mid, h_mid, cout, 3, 3, 1, OP_TF_SAME);
    op_tf_affine_backward(G1, G1, G1, (size_t)h_mid * h_mid, cout, r->c2.mul, OP_ACT_NONE);
    op_tf_conv2d_backward(G2, NULL, NULL, scratch, G1, NULL, r->c2.f, &g2, cout);
    conv_layer_backward(dx, G2, t1, &r->c1, h_in, h_in, r->down ? 2 : 1,
                        r->down ? OP_TF_VALID : OP_TF_SAME, 1, scratch);
    /* Shortcut. */
    if (!r->down) {
        for (size_t i = 0; i < n_out; i++) {
            dx[i] += dout[i];
        }
        return;
    }
    for (int y = 0; y < h_out; y++) {
        for (int x = 0; x < h_out; x++) {
            memcpy(G1 + ((size_t)y * h_out + x) * cin, dout + ((size_t)y * h_out + x) * cout,
                   (size_t)cin * sizeof *G1);
        }
    }
    op_tf_geom gp;
    op_tf_geom_init(&gp, h_in, h_in, cin, 2, 2, 2, OP_TF_VALID);
    op_tf_avgpool_backward(G2, G1, &gp);
    const size_t n_in = (size_t)h_in * h_in * cin;
    for (size_t i = 0; i < n_in; i++) {
        dx[i] += G2[i];
    }
}

void frec_backward(const frec_model *m, float *din, float *bws, const float *ws, const float *in,
                   const float ddesc[FREC_DIM])
{
    (void)in;
    frec_plan p;
    plan(&p);
    float *gA = bws, *gB = bws + FREC_ACT, *G1 = bws + 2 * FREC_ACT, *G2 = bws + 3 * FREC_ACT;
    float *scratch = bws + 4 * FREC_ACT;
    float dmean[256];
    op_tf_dense_backward(dmean, NULL, NULL, ddesc, NULL, m->fc, 256, FREC_DIM);
    int h = p.h_out[N_RES - 1];
    op_tf_geom g;
    op_tf_geom_init(&g, h, h, 256, h, h, 1, OP_TF_VALID);
    op_tf_avgpool_backward(gA, dmean, &g);
    for (int i = N_RES - 1; i >= 0; i--) {
        residual_backward(gB, gA, G1, G2, scratch, ws + p.off_out[i], ws + p.off_t1[i], &m->res[i],
                          p.h_in[i], p.h_mid[i], p.h_out[i]);
        float *t = gA;
        gA = gB;
        gB = t;
    }
    /* gA: gradient of p0 (max-pool output). */
    op_tf_geom_init(&g, 72, 72, 32, 3, 3, 2, OP_TF_VALID);
    op_tf_maxpool_backward(gB, gA, ws, &g);
    conv_layer_backward(din, gB, ws, &m->first, FREC_SIZE, FREC_SIZE, 2, OP_TF_VALID, 1, scratch);
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
