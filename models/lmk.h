/*
 * lmk.h - face-api's face_landmark_68 and face_landmark_68_tiny nets
 * (specs/face-models.md sections 6-7), and the dense-block feature extractor
 * they share with face_expression (fexp.h).
 *
 * Input: the face crop padded centred to a square, resized to 112, (v -
 * mean)/255. Output: 68 points (iBUG-300W order) relative to the crop
 * (x / crop width, y / crop height; may lie outside [0,1]).
 */
#ifndef LMK_H
#define LMK_H

#include <stddef.h>
#include <stdint.h>

#include "models/faces_prep.h"
#include "models/wt_tfjs.h"
#include "shared/lm_err.h"

#define LMK_SIZE 112
#define LMK_POINTS 68

/* ---- dense-block feature extractor (4 blocks -> 256, or 3 -> 128) ---- */
typedef struct lmk_sep {
    float *dw, *pw, *b;
} lmk_sep;

typedef struct lmk_block {
    float *conv0_f, *conv0_b; /* first block: plain conv */
    lmk_sep conv[4];          /* conv[0] separable for other blocks, conv[1..n-1] */
} lmk_block;

typedef struct lmk_extractor {
    int n_blocks; /* 4 (full) or 3 (tiny) */
    int n_convs;  /* convs per block: 4 (full) or 3 (tiny) */
    int out_ch;   /* 256 or 128 */
    lmk_block block[4];
} lmk_extractor;

/* Bind the extractor's weights `denseB/convK/...` from w (pointers into w).
 * tiny selects 3 blocks of 3 convs. Errors: LM_ESHAPE (names the tensor). */
int lmk_extractor_bind(lmk_extractor *x, wt_tfjs *w, int tiny, lm_err *err);

/* in [112][112][3] -> feat [out_ch] (after the final average pool); ws at
 * least lmk_extractor_ws_floats() floats. */
size_t lmk_extractor_ws_floats(void);
void lmk_extractor_forward(const lmk_extractor *x, float *feat, float *ws, const float *in);

/* ---- landmark net ---- */
typedef struct lmk_model lmk_model; /* opaque, immutable after load */

/* Load face_landmark_68_model (tiny = 0) or face_landmark_68_tiny_model.
 * models_dir as fdet_model_load. Errors as fdet_model_load. */
int lmk_model_load(lmk_model **out, const char *models_dir, int tiny, lm_err *err);
void lmk_model_free(lmk_model *m);

/* Raw network: in [112][112][3] -> out[136] (x0,y0,x1,y1,... relative to the
 * padded 112 square). ws: lmk_extractor_ws_floats() floats. */
void lmk_forward(const lmk_model *m, float out[2 * LMK_POINTS], float *ws, const float *in);

/* Landmarks of the integer crop of an RGB8 image [H][W][3]: rel[136] relative
 * to the crop, computed as face-api does (continuous padding estimate).
 * Errors: -ENOMEM. */
int lmk_detect(const lmk_model *m, float rel[2 * LMK_POINTS], const uint8_t *rgb, int W, int H,
               const faces_rect *crop, lm_err *err);

#endif
