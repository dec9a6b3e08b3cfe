/*
 * frec.h - face-api's face_recognition net: a port of dlib's ResNet-34-like
 * dlib_face_recognition_resnet_model_v1 (specs/face-models.md section 8).
 * Input 150 x 150 x 3 (crop padded centred, resized, (v - mean)/255);
 * output the 128-D descriptor, NOT L2-normalised. Same person: Euclidean
 * distance < 0.6 (face-api's FaceMatcher threshold).
 *
 * The forward keeps every activation in a caller-provided workspace, and
 * frec_backward gives the input gradient (for an identity loss).
 */
#ifndef FREC_H
#define FREC_H

#include <stddef.h>
#include <stdint.h>

#include "models/faces_prep.h"
#include "shared/lm_err.h"

#define FREC_SIZE 150
#define FREC_DIM 128
#define FREC_MATCH_THRESHOLD 0.6f

typedef struct frec_model frec_model; /* opaque, immutable after load */

/* Load face_recognition_model (models_dir NULL: LATENTMILL_MODELS, then
 * models/face-api). Errors as fdet_model_load. */
int frec_model_load(frec_model **out, const char *models_dir, lm_err *err);
void frec_model_free(frec_model *m);

/* Raw network: in [150][150][3] normalised -> desc [128]; ws at least
 * frec_ws_floats() floats. The forward leaves every activation backward needs
 * in ws. Thread-safe for distinct ws. */
size_t frec_ws_floats(void);
void frec_forward(const frec_model *m, float desc[FREC_DIM], float *ws, const float *in);

/* Input gradient (weights frozen), e.g. for an identity loss in inversion:
 * given ddesc = dL/ddesc, writes din = dL/din [150][150][3] (gradient w.r.t.
 * the normalised input; multiply by 1/255 for 0..255 pixel values). ws must
 * hold the activations of the frec_forward call on the same input; bws is
 * scratch of frec_backward_ws_floats() floats. ReLU kinks take derivative 0,
 * max-pool routes to the first maximum (TF's conventions). */
size_t frec_backward_ws_floats(void);
void frec_backward(const frec_model *m, float *din, float *bws, const float *ws, const float *in,
                   const float ddesc[FREC_DIM]);

/* Descriptor of the integer crop `crop` of an RGB8 image [H][W][3] (crop inside
 * the image; face-api uses the dlib-style rectangle of faces_dlib_rect).
 * Errors: -ENOMEM. */
int frec_describe(const frec_model *m, float desc[FREC_DIM], const uint8_t *rgb, int W, int H,
                  const faces_rect *crop, lm_err *err);

/* Euclidean distance of two descriptors. */
float frec_distance(const float a[FREC_DIM], const float b[FREC_DIM]);

#endif
