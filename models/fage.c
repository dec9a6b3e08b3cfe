/*
 * fage.c - age_gender forward (fage.h), following face-api's AgeGenderNet /
 * TinyXception. Shapes: conv_in 56x56x32, reduction_block_0 28x28x64,
 * reduction_block_1 14x14x128, main_block_0/1 14x14x128, exit reduction
 * 7x7x256, exit separable_conv 7x7x512, avgpool 7x7 s2 -> 512, fc/age 1,
 * fc/gender 2 (softmax; index 0 male).
 */
#include "models/fage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/tf_nhwc.h"
#include "models/wt_tfjs.h"

typedef struct sep_w {
    float *dw, *pw, *b;
} sep_w;

typedef struct red_w {
    sep_w s0, s1;
    float *exp_f, *exp_b;
} red_w;

struct fage_model {
    wt_tfjs *w;
    float *in_f, *in_b;
    red_w red[3]; /* entry 0, entry 1, exit */
    sep_w mid[2][3];
    sep_w exit_sep;
    float *age_w, *age_b, *gen_w, *gen_b;
};

static int bind_sep(wt_tfjs *w, sep_w *s, const char *p, int cin, int cout, lm_err *err)
{
    char n[160];
    snprintf(n, sizeof n, "%s/depthwise_filter", p);
    int rc = wt_tfjs_get(w, n, 4, (const int[]){3, 3, cin, 1}, &s->dw, err);
    snprintf(n, sizeof n, "%s/pointwise_filter", p);
    rc = rc ? rc : wt_tfjs_get(w, n, 4, (const int[]){1, 1, cin, cout}, &s->pw, err);
    snprintf(n, sizeof n, "%s/bias", p);
    rc = rc ? rc : wt_tfjs_get(w, n, 1, (const int[]){cout}, &s->b, err);
    return rc;
}

static int bind_red(wt_tfjs *w, red_w *r, const char *p, int cin, int cout, lm_err *err)
{
    char n[160];
    snprintf(n, sizeof n, "%s/separable_conv0", p);
    int rc = bind_sep(w, &r->s0, n, cin, cout, err);
    snprintf(n, sizeof n, "%s/separable_conv1", p);
    rc = rc ? rc : bind_sep(w, &r->s1, n, cout, cout, err);
    snprintf(n, sizeof n, "%s/expansion_conv/filters", p);
    rc = rc ? rc : wt_tfjs_get(w, n, 4, (const int[]){1, 1, cin, cout}, &r->exp_f, err);
    snprintf(n, sizeof n, "%s/expansion_conv/bias", p);
    rc = rc ? rc : wt_tfjs_get(w, n, 1, (const int[]){cout}, &r->exp_b, err);
    return rc;
}

int fage_model_load(fage_model **out, const char *models_dir, lm_err *err)
{
    *out = NULL;
    fage_model *m = calloc(1, sizeof *m);
    if (!m) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    wt_tfjs *w = NULL;
    int rc = faces_weights_load(&m->w, models_dir, "age_gender_model", err);
    w = m->w;
    rc = rc ? rc
            : wt_tfjs_get(w, "entry_flow/conv_in/filters", 4, (const int[]){3, 3, 3, 32}, &m->in_f,
                          err);
    rc = rc ? rc : wt_tfjs_get(w, "entry_flow/conv_in/bias", 1, (const int[]){32}, &m->in_b, err);
    rc = rc ? rc : bind_red(w, &m->red[0], "entry_flow/reduction_block_0", 32, 64, err);
    rc = rc ? rc : bind_red(w, &m->red[1], "entry_flow/reduction_block_1", 64, 128, err);
    for (int b = 0; b < 2; b++) {
        for (int k = 0; k < 3; k++) {
            char p[128];
            snprintf(p, sizeof p, "middle_flow/main_block_%d/separable_conv%d", b, k);
            rc = rc ? rc : bind_sep(w, &m->mid[b][k], p, 128, 128, err);
        }
    }
    rc = rc ? rc : bind_red(w, &m->red[2], "exit_flow/reduction_block", 128, 256, err);
    rc = rc ? rc : bind_sep(w, &m->exit_sep, "exit_flow/separable_conv", 256, 512, err);
    rc = rc ? rc : wt_tfjs_get(w, "fc/age/weights", 2, (const int[]){512, 1}, &m->age_w, err);
    rc = rc ? rc : wt_tfjs_get(w, "fc/age/bias", 1, (const int[]){1}, &m->age_b, err);
    rc = rc ? rc : wt_tfjs_get(w, "fc/gender/weights", 2, (const int[]){512, 2}, &m->gen_w, err);
    rc = rc ? rc : wt_tfjs_get(w, "fc/gender/bias", 1, (const int[]){2}, &m->gen_b, err);
    if (rc) {
        fage_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void fage_model_free(fage_model *m)
{
    if (m) {
        wt_tfjs_free(m->w);
        free(m);
    }
}

/* Every activation <= 56*56*64 floats. */
#define FAGE_ACT ((size_t)56 * 56 * 64)

size_t fage_ws_floats(void)
{
    return 6 * FAGE_ACT + (size_t)56 * 56 * 27;
}

static void sep(float *out, float *tmp, const float *in, const sep_w *s, int h, int cin, int cout,
                enum op_act act)
{
    op_tf_geom g;
    op_tf_geom_init(&g, h, h, cin, 3, 3, 1, OP_TF_SAME);
    op_tf_separable_forward(out, tmp, in, s->dw, s->pw, s->b, &g, cout, act);
}

/* out = maxpool3x3s2(sep1(relu(sep0(act_in ? relu(x) : x)))) + conv1x1s2(x).
 * x [h][h][cin] -> out [h/2][h/2][cout]; A, B, T scratch. */
static void reduction(float *out, float *A, float *B, float *T, const float *x, const red_w *r,
                      int *h, int cin, int cout, int act_in)
{
    size_t n_in = (size_t)*h * *h * cin;
    const float *t0 = x;
    if (act_in) {
        memcpy(A, x, n_in * sizeof *A);
        op_tf_act_forward(A, n_in, OP_ACT_RELU);
        t0 = A;
    }
    sep(B, T, t0, &r->s0, *h, cin, cout, OP_ACT_RELU);
    sep(A, T, B, &r->s1, *h, cout, cout, OP_ACT_NONE);
    op_tf_geom g;
    op_tf_geom_init(&g, *h, *h, cout, 3, 3, 2, OP_TF_SAME);
    op_tf_maxpool_forward(B, A, &g);
    op_tf_geom ge;
    op_tf_geom_init(&ge, *h, *h, cin, 1, 1, 2, OP_TF_SAME);
    op_tf_conv2d_forward(A, T, x, r->exp_f, r->exp_b, &ge, cout, OP_ACT_NONE);
    op_tf_add_forward(out, B, A, (size_t)g.OH * g.OW * cout, OP_ACT_NONE);
    *h = g.OH;
}

void fage_forward(const fage_model *m, fage_result *r, float *ws, const float *in)
{
    float *X = ws, *Y = ws + FAGE_ACT, *A = ws + 2 * FAGE_ACT, *B = ws + 3 * FAGE_ACT;
    float *T = ws + 4 * FAGE_ACT, *col = ws + 5 * FAGE_ACT;
    op_tf_geom g;
    op_tf_geom_init(&g, FAGE_SIZE, FAGE_SIZE, 3, 3, 3, 2, OP_TF_SAME);
    op_tf_conv2d_forward(X, col, in, m->in_f, m->in_b, &g, 32, OP_ACT_RELU);
    int h = g.OH;
    reduction(Y, A, B, T, X, &m->red[0], &h, 32, 64, 0);
    reduction(X, A, B, T, Y, &m->red[1], &h, 64, 128, 1);
    size_t n = (size_t)h * h * 128;
    for (int b = 0; b < 2; b++) {
        memcpy(A, X, n * sizeof *A);
        op_tf_act_forward(A, n, OP_ACT_RELU);
        sep(B, T, A, &m->mid[b][0], h, 128, 128, OP_ACT_RELU);
        sep(A, T, B, &m->mid[b][1], h, 128, 128, OP_ACT_RELU);
        sep(B, T, A, &m->mid[b][2], h, 128, 128, OP_ACT_NONE);
        op_tf_add_forward(X, B, X, n, OP_ACT_NONE);
    }
    reduction(Y, A, B, T, X, &m->red[2], &h, 128, 256, 1);
    sep(X, T, Y, &m->exit_sep, h, 256, 512, OP_ACT_RELU);
    float p[512], age, logits[2], prob[2];
    op_tf_geom_init(&g, h, h, 512, h, h, 2, OP_TF_VALID);
    op_tf_avgpool_forward(p, X, &g);
    op_tf_dense_forward(&age, p, m->age_w, m->age_b, 512, 1, OP_ACT_NONE);
    op_tf_dense_forward(logits, p, m->gen_w, m->gen_b, 512, 2, OP_ACT_NONE);
    op_softmax_forward(prob, logits, 2);
    r->age = age;
    r->p_male = prob[0];
    r->p_female = prob[1];
}

int fage_predict(const fage_model *m, fage_result *r, const uint8_t *rgb, int W, int H,
                 const faces_rect *crop, lm_err *err)
{
    float *in = malloc((size_t)FAGE_SIZE * FAGE_SIZE * 3 * sizeof *in);
    float *ws = malloc(fage_ws_floats() * sizeof *ws);
    if (!in || !ws) {
        free(in);
        free(ws);
        return lm_err_set(err, -ENOMEM, "age/gender: out of memory");
    }
    faces_prep_input(in, FAGE_SIZE, rgb, W, H, crop, 1, faces_mean_face, 255.0f);
    fage_forward(m, r, ws, in);
    free(in);
    free(ws);
    return 0;
}
