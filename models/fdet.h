/*
 * fdet.h - face-api's tiny_face_detector (Tiny-YOLOv2 with separable convs,
 * specs/face-models.md section 4): whole image -> padded (bottom/right) and
 * resized to S x S (S a multiple of 32, default 416) -> 13x13x25 grid for
 * S = 416 -> boxes decoded with 5 anchors, score = sigmoid(objectness) >
 * threshold, greedy NMS at IoU 0.4. Boxes are not clipped to the image.
 */
#ifndef FDET_H
#define FDET_H

#include <stddef.h>
#include <stdint.h>

#include "shared/lm_err.h"

#define FDET_DEFAULT_SIZE 416
#define FDET_DEFAULT_SCORE 0.5f
#define FDET_IOU 0.4f

/* One detection: box in image pixels and relative to the image, and score. */
typedef struct fdet_box {
    double x, y, w, h;
    double rx, ry, rw, rh;
    double score;
} fdet_box;

typedef struct fdet_model fdet_model; /* opaque, immutable after load */

/* Load tiny_face_detector_model from models_dir (NULL: LATENTMILL_MODELS, then
 * models/face-api). OUT *out: free with fdet_model_free. Errors: LM_EMISSING
 * (file missing; message says which and to run `make models`), LM_EFORMAT,
 * LM_ESHAPE (bad manifest/shard; message names file and tensor), -ENOMEM. */
int fdet_model_load(fdet_model **out, const char *models_dir, lm_err *err);
void fdet_model_free(fdet_model *m);

/* Raw network. in [S][S][3] normalised; out [S/32][S/32][25]; ws at least
 * fdet_ws_floats(S) floats. Thread-safe for distinct ws. */
size_t fdet_ws_floats(int S);
void fdet_forward(const fdet_model *m, float *out, float *ws, const float *in, int S);

/* Detect faces in an RGB8 image rgb [H][W][3]: S = input size (multiple of
 * 32, 32..1024), score_thresh (face-api default 0.5). Writes up to max_boxes
 * detections in descending score into boxes and the number found (may exceed
 * max_boxes) into *n_found. Zero faces is success. Errors: LM_ECONFIG (bad S),
 * -ENOMEM. */
int fdet_detect(const fdet_model *m, const uint8_t *rgb, int W, int H, int S, float score_thresh,
                fdet_box *boxes, int max_boxes, int *n_found, lm_err *err);

#endif
