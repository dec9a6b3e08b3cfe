/*
 * fexp.c - face_expression forward (fexp.h), following face-api's
 * FaceExpressionNet: 112x112x3 -> dense0..dense3 -> avgpool 7x7 s2 -> 256 ->
 * fc 7 -> softmax.
 */
#include "models/fexp.h"

#include <errno.h>
#include <stdlib.h>

#include "kernels/tf_nhwc.h"
#include "models/lmk.h"

const char *const fexp_labels[FEXP_N] = {"neutral", "happy",     "sad",      "angry",
                                         "fearful", "disgusted", "surprised"};

struct fexp_model {
    wt_tfjs *w;
    lmk_extractor x;
    float *fc_w, *fc_b;
};

int fexp_model_load(fexp_model **out, const char *models_dir, lm_err *err)
{
    *out = NULL;
    fexp_model *m = calloc(1, sizeof *m);
    if (!m) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    int rc = faces_weights_load(&m->w, models_dir, "face_expression_model", err);
    rc = rc ? rc : lmk_extractor_bind(&m->x, m->w, 0, err);
    rc = rc ? rc : wt_tfjs_get(m->w, "fc/weights", 2, (const int[]){256, FEXP_N}, &m->fc_w, err);
    rc = rc ? rc : wt_tfjs_get(m->w, "fc/bias", 1, (const int[]){FEXP_N}, &m->fc_b, err);
    if (rc) {
        fexp_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void fexp_model_free(fexp_model *m)
{
    if (m) {
        wt_tfjs_free(m->w);
        free(m);
    }
}

size_t fexp_ws_floats(void)
{
    return lmk_extractor_ws_floats();
}

void fexp_forward(const fexp_model *m, float probs[FEXP_N], float *ws, const float *in)
{
    float feat[256], logits[FEXP_N];
    lmk_extractor_forward(&m->x, feat, ws, in);
    op_tf_dense_forward(logits, feat, m->fc_w, m->fc_b, 256, FEXP_N, OP_ACT_NONE);
    op_softmax_forward(probs, logits, FEXP_N);
}

int fexp_predict(const fexp_model *m, float probs[FEXP_N], const uint8_t *rgb, int W, int H,
                 const faces_rect *crop, lm_err *err)
{
    float *in = malloc((size_t)LMK_SIZE * LMK_SIZE * 3 * sizeof *in);
    float *ws = malloc(fexp_ws_floats() * sizeof *ws);
    if (!in || !ws) {
        free(in);
        free(ws);
        return lm_err_set(err, -ENOMEM, "expression: out of memory");
    }
    faces_prep_input(in, LMK_SIZE, rgb, W, H, crop, 1, faces_mean_face, 255.0f);
    fexp_forward(m, probs, ws, in);
    free(in);
    free(ws);
    return 0;
}
