/*
 * fdet_ssd.h - face-api's ssd_mobilenetv1 face detector (MobileNetV1
 * backbone + SSD box predictors, specs/face-models.md section 5). Slower than
 * the tiny detector (fdet.h) but finds smaller faces. Input: whole image
 * padded bottom/right, resized to 512, v/127.5 - 1; 5118 anchors; score =
 * sigmoid(face logit) > min_conf; greedy NMS at IoU 0.5; boxes clipped to the
 * padded square (so inside the top/left image edges).
 */
#ifndef FDET_SSD_H
#define FDET_SSD_H

#include <stdint.h>

#include "models/fdet.h"
#include "shared/lm_err.h"

#define FDET_SSD_SIZE 512
#define FDET_SSD_ANCHORS 5118
#define FDET_SSD_MIN_CONF 0.5f
#define FDET_SSD_MAX_RESULTS 100

typedef struct fdet_ssd_model fdet_ssd_model; /* opaque, immutable after load */

/* Load ssd_mobilenetv1_model. Errors as fdet_model_load. */
int fdet_ssd_model_load(fdet_ssd_model **out, const char *models_dir, lm_err *err);
void fdet_ssd_model_free(fdet_ssd_model *m);

/* Raw network: in [512][512][3] normalised -> box encodings [5118][4]
 * (ty, tx, th, tw) and class logits [5118][3]; ws: fdet_ssd_ws_floats(). */
size_t fdet_ssd_ws_floats(void);
void fdet_ssd_forward(const fdet_ssd_model *m, float *enc, float *logits, float *ws,
                      const float *in);

/* Detect faces in an RGB8 image: min_conf (default 0.5), at most max_results
 * (default 100) after NMS. Writes up to max_boxes detections by descending
 * score and the number found into *n_found. Zero faces is success.
 * Errors: -ENOMEM. */
int fdet_ssd_detect(const fdet_ssd_model *m, const uint8_t *rgb, int W, int H, float min_conf,
                    int max_results, fdet_box *boxes, int max_boxes, int *n_found, lm_err *err);

#endif
