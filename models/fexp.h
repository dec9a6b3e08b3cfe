/*
 * fexp.h - face-api's face_expression net (specs/face-models.md section 9):
 * the dense-block extractor of lmk.h (own weights) + fc [256,7] + softmax.
 * Input: crop padded centred, resized to 112, (v - mean)/255 (face-api runs it
 * on the "aligned rect" from the 68 landmarks, see faces.h).
 */
#ifndef FEXP_H
#define FEXP_H

#include <stdint.h>

#include "models/faces_prep.h"
#include "shared/lm_err.h"

#define FEXP_N 7

/* Label order of the probabilities (face-api's). */
extern const char *const fexp_labels[FEXP_N];

typedef struct fexp_model fexp_model; /* opaque, immutable after load */

/* Load face_expression_model. Errors as fdet_model_load. */
int fexp_model_load(fexp_model **out, const char *models_dir, lm_err *err);
void fexp_model_free(fexp_model *m);

/* Raw network: in [112][112][3] -> probs[7]; ws: fexp_ws_floats() floats. */
size_t fexp_ws_floats(void);
void fexp_forward(const fexp_model *m, float probs[FEXP_N], float *ws, const float *in);

/* Probabilities for the integer crop of an RGB8 image. Errors: -ENOMEM. */
int fexp_predict(const fexp_model *m, float probs[FEXP_N], const uint8_t *rgb, int W, int H,
                 const faces_rect *crop, lm_err *err);

#endif
