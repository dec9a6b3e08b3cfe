/*
 * fdet.c - tiny_face_detector forward and box decoding (fdet.h), following
 * face-api's TinyFaceDetector / TinyYolov2Base (specs/face-models.md s4).
 * Layer shapes for S = 416: conv0 414x414x16, pools to 207, sep1 207x207x32,
 * 104x104x64, 52x52x128, 26x26x256, 13x13x512, pool s1, conv8 13x13x25.
 */
#include "models/fdet.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/tf_nhwc.h"
#include "models/faces_prep.h"
#include "models/wt_tfjs.h"

#define FDET_ANCHORS 5

static const double anchors[FDET_ANCHORS][2] = {{1.603231, 2.094468},
                                                {6.041143, 7.080126},
                                                {2.882459, 3.518061},
                                                {4.266906, 5.178857},
                                                {9.041765, 10.66308}};

typedef struct sep_w {
    float *dw, *pw, *b;
} sep_w;

struct fdet_model {
    wt_tfjs *w;
    float *conv0_f, *conv0_b;
    sep_w sep[5];
    float *conv8_f, *conv8_b;
};

int fdet_model_load(fdet_model **out, const char *models_dir, lm_err *err)
{
    *out = NULL;
    fdet_model *m = calloc(1, sizeof *m);
    if (!m) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    int rc = faces_weights_load(&m->w, models_dir, "tiny_face_detector_model", err);
    if (rc) {
        goto fail;
    }
    rc = wt_tfjs_get(m->w, "conv0/filters", 4, (const int[]){3, 3, 3, 16}, &m->conv0_f, err);
    rc = rc ? rc : wt_tfjs_get(m->w, "conv0/bias", 1, (const int[]){16}, &m->conv0_b, err);
    for (int i = 0; i < 5 && !rc; i++) {
        int cin = 16 << i, cout = 32 << i;
        char n[64];
        snprintf(n, sizeof n, "conv%d/depthwise_filter", i + 1);
        rc = wt_tfjs_get(m->w, n, 4, (const int[]){3, 3, cin, 1}, &m->sep[i].dw, err);
        snprintf(n, sizeof n, "conv%d/pointwise_filter", i + 1);
        rc = rc ? rc : wt_tfjs_get(m->w, n, 4, (const int[]){1, 1, cin, cout}, &m->sep[i].pw, err);
        snprintf(n, sizeof n, "conv%d/bias", i + 1);
        rc = rc ? rc : wt_tfjs_get(m->w, n, 1, (const int[]){cout}, &m->sep[i].b, err);
    }
    rc = rc ? rc
            : wt_tfjs_get(m->w, "conv8/filters", 4, (const int[]){1, 1, 512, 25}, &m->conv8_f, err);
    rc = rc ? rc : wt_tfjs_get(m->w, "conv8/bias", 1, (const int[]){25}, &m->conv8_b, err);
    if (rc) {
        goto fail;
    }
    *out = m;
    return 0;
fail:
    fdet_model_free(m);
    return rc;
}

void fdet_model_free(fdet_model *m)
{
    if (m) {
        wt_tfjs_free(m->w);
        free(m);
    }
}

/* Workspace: A holds conv0's output ((S-2)^2 x 16, the largest activation)
 * and each separable conv's output; B each max-pool output and T the
 * depthwise temp, both at most S^2 x 4 floats (checked for every S multiple of
 * 32 up to 1024: pool outputs shrink 4x in area as channels double); then the
 * conv0 im2col buffer ((S-2)^2 x 27). */
size_t fdet_ws_floats(int S)
{
    size_t s2 = (size_t)S * S;
    return s2 * 16 + 2 * s2 * 4 + s2 * 27;
}

void fdet_forward(const fdet_model *m, float *out, float *ws, const float *in, int S)
{
    size_t s2 = (size_t)S * S;
    float *A = ws, *B = ws + s2 * 16, *T = B + s2 * 4, *col = T + s2 * 4;
    op_tf_geom g;
    op_tf_geom_init(&g, S, S, 3, 3, 3, 1, OP_TF_VALID);
    op_tf_conv2d_forward(A, col, in, m->conv0_f, m->conv0_b, &g, 16, OP_ACT_LEAKY);
    int h = g.OH, c = 16;
    for (int i = 0; i < 5; i++) {
        /* max-pool 2x2 SAME: stride 2 before sep1..sep5, and the last pool
         * (after sep5) has stride 1. */
        op_tf_geom_init(&g, h, h, c, 2, 2, 2, OP_TF_SAME);
        op_tf_maxpool_forward(B, A, &g);
        h = g.OH;
        op_tf_geom_init(&g, h, h, c, 3, 3, 1, OP_TF_SAME);
        op_tf_separable_forward(A, T, B, m->sep[i].dw, m->sep[i].pw, m->sep[i].b, &g, c * 2,
                                OP_ACT_LEAKY);
        c *= 2;
    }
    op_tf_geom_init(&g, h, h, c, 2, 2, 1, OP_TF_SAME);
    op_tf_maxpool_forward(B, A, &g);
    op_tf_geom_init(&g, h, h, c, 1, 1, 1, OP_TF_VALID);
    op_tf_conv2d_forward(out, NULL, B, m->conv8_f, m->conv8_b, &g, 25, OP_ACT_NONE);
}

static double sigm(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

int fdet_detect(const fdet_model *m, const uint8_t *rgb, int W, int H, int S, float score_thresh,
                fdet_box *boxes, int max_boxes, int *n_found, lm_err *err)
{
    *n_found = 0;
    if (S < 32 || S > 1024 || S % 32 != 0) {
        return lm_err_set(err, LM_ECONFIG,
                          "tiny face detector input size %d: must be a multiple of 32 in 32..1024",
                          S);
    }
    const int n = S / 32, ncand_max = n * n * FDET_ANCHORS;
    float *in = malloc((size_t)S * S * 3 * sizeof *in);
    float *ws = malloc(fdet_ws_floats(S) * sizeof *ws);
    float *grid = malloc((size_t)n * n * 25 * sizeof *grid);
    fdet_box *cand = malloc((size_t)ncand_max * sizeof *cand);
    float *nb = malloc((size_t)ncand_max * 4 * sizeof *nb);
    float *sc = malloc((size_t)ncand_max * sizeof *sc);
    int *keep = malloc((size_t)ncand_max * 2 * sizeof *keep);
    int rc = 0;
    if (!in || !ws || !grid || !cand || !nb || !sc || !keep) {
        rc = lm_err_set(err, -ENOMEM, "tiny face detector: out of memory for input size %d", S);
        goto done;
    }
    faces_rect whole = {0, 0, W, H};
    faces_prep_input(in, S, rgb, W, H, &whole, 0, faces_mean_detector, 255.0f);
    fdet_forward(m, grid, ws, in, S);

    /* Undo the bottom/right padding: the image occupies Wr x Hr of the S x S
     * input (JS Math.round). */
    double r = (double)S / (W > H ? W : H);
    double Wr = floor(W * r + 0.5), Hr = floor(H * r + 0.5);
    double cfx = S / Wr, cfy = S / Hr;
    int nc = 0;
    for (int row = 0; row < n; row++) {
        for (int col = 0; col < n; col++) {
            const float *cell = grid + ((size_t)row * n + col) * 25;
            for (int a = 0; a < FDET_ANCHORS; a++) {
                const float *t = cell + a * 5;
                double score = sigm(t[4]);
                if (!(score > score_thresh)) {
                    continue;
                }
                double cx = (col + sigm(t[0])) / n * cfx, cy = (row + sigm(t[1])) / n * cfy;
                double bw = exp(t[2]) * anchors[a][0] / n * cfx;
                double bh = exp(t[3]) * anchors[a][1] / n * cfy;
                fdet_box *b = &cand[nc];
                b->rx = cx - bw / 2;
                b->ry = cy - bh / 2;
                b->rw = bw;
                b->rh = bh;
                b->score = score;
                /* face-api runs NMS on the relative boxes scaled by S. */
                nb[4 * nc + 0] = (float)(b->rx * S);
                nb[4 * nc + 1] = (float)(b->ry * S);
                nb[4 * nc + 2] = (float)((b->rx + bw) * S);
                nb[4 * nc + 3] = (float)((b->ry + bh) * S);
                sc[nc] = (float)score;
                nc++;
            }
        }
    }
    int nk = op_nms_forward(keep, keep + ncand_max, nb, sc, nc, FDET_IOU, ncand_max);
    for (int k = 0; k < nk && k < max_boxes; k++) {
        fdet_box b = cand[keep[k]];
        b.x = b.rx * W;
        b.y = b.ry * H;
        b.w = b.rw * W;
        b.h = b.rh * H;
        boxes[k] = b;
    }
    *n_found = nk;
done:
    free(in);
    free(ws);
    free(grid);
    free(cand);
    free(nb);
    free(sc);
    free(keep);
    return rc;
}
