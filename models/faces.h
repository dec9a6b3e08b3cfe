/*
 * faces.h - the face pipeline of face-api (specs/face-models.md section 11),
 * in-process: detect (tiny_face_detector, or the SSD) -> 68 landmarks on the detection
 * box -> "aligned rect" from the landmarks for expression and age/gender ->
 * dlib-style rect from eyes and mouth for the 128-D descriptor. Results match
 * face-api 1.7.15 on the same pixels (see tests/unit/test_face_pipeline.c).
 *
 * Used by `latentmill faces`, the engine's `faces` node stage and
 * `lookalike`. A context holds the loaded networks; it is immutable after
 * creation, so one context may serve several threads at once (each call
 * allocates its own scratch).
 *
 *   faces_ctx *fc;
 *   faces_ctx_create(&fc, NULL, FACES_ALL, &err);     // --models / env / default
 *   faces_face f[8]; int n;
 *   faces_detect(fc, &img, 0, f, 8, &n, &err);         // n == 0: no face, not an error
 *   for (i < min(n, 8)) faces_analyze(fc, &img, &f[i], &err);
 *   ... f[i].desc, f[i].expr, f[i].age ...
 *   faces_ctx_free(fc);
 */
#ifndef FACES_H
#define FACES_H

#include <stdint.h>

#include "models/faces_prep.h"
#include "models/fdet.h"
#include "models/fdet_ssd.h"
#include "models/fexp.h"
#include "models/frec.h"
#include "models/lmk.h"
#include "shared/lm_err.h"
#include "shared/lm_img.h"

/* Which networks a context loads (bit set). */
enum {
    FACES_DETECTOR = 1,
    FACES_LANDMARKS = 2,
    FACES_LANDMARKS_TINY = 4,
    FACES_DESCRIPTOR = 8,
    FACES_EXPRESSION = 16,
    FACES_AGE_GENDER = 32,
    FACES_SSD = 64,                 /* the SSD MobileNetV1 detector (slower, finds smaller faces) */
    FACES_ALL = 1 | 2 | 8 | 16 | 32 /* everything face-api's usual chain uses */
};

/* What faces_analyze filled in (bit set, FACES_* values). */
typedef struct faces_face {
    fdet_box det;              /* detection: image pixels + relative box, score */
    faces_rect det_crop;       /* integer crop of the box (landmark net input) */
    double lmk[LMK_POINTS][2]; /* image pixels, face-api's convention: relative
                                * position times the crop size plus the
                                * unclipped box origin (det.x, det.y) */
    faces_rect aligned_crop;   /* from the landmarks, for expression and age */
    float expr[FEXP_N];        /* probabilities, fexp_labels order */
    float age;                 /* years */
    float p_male, p_female;
    faces_rect dlib_crop; /* from eyes and mouth, for the descriptor */
    float desc[FREC_DIM]; /* not normalised; same person: distance < 0.6 */
    unsigned have;        /* FACES_* bits of the fields filled */
} faces_face;

typedef struct faces_ctx faces_ctx; /* opaque */

/* Load the networks in `what` from models_dir (NULL or "": $LATENTMILL_MODELS,
 * then models/face-api). OUT *out (faces_ctx_free). Errors: LM_EMISSING (the
 * message names the missing file and says to run `make models`), LM_EFORMAT,
 * LM_ESHAPE (corrupt/mismatched weights, naming file and tensor), -ENOMEM. */
int faces_ctx_create(faces_ctx **out, const char *models_dir, unsigned what, lm_err *err);
void faces_ctx_free(faces_ctx *fc); /* accepts NULL */

/* Detect faces with the tiny detector: input size det_size (0: 416; a multiple
 * of 32), score threshold 0.5. Writes up to max detections, by descending
 * score, into faces[] (det, det_crop set; have = FACES_DETECTOR) and the
 * number found into *n (may exceed max). A face whose box has no pixel inside
 * the image is dropped with a log line. Zero faces is success. Errors:
 * LM_ECONFIG (no detector loaded, bad det_size), -ENOMEM. */
int faces_detect(const faces_ctx *fc, const lm_image *img, int det_size, faces_face *faces, int max,
                 int *n, lm_err *err);

/* Same with the SSD MobileNetV1 detector (context created with FACES_SSD):
 * input 512, min confidence 0.5, at most 100 faces. Sets have = FACES_SSD.
 * Errors: LM_ECONFIG (SSD not loaded), -ENOMEM. */
int faces_detect_ssd(const faces_ctx *fc, const lm_image *img, faces_face *faces, int max, int *n,
                     lm_err *err);

/* Run every loaded per-face network on one detected face (f->det and
 * f->det_crop set, e.g. by faces_detect): landmarks, then expression and
 * age/gender on the aligned rect, then the descriptor on the dlib rect.
 * Sets f->have. Errors: LM_ENOFACE (a derived rect is empty), -ENOMEM. */
int faces_analyze(const faces_ctx *fc, const lm_image *img, faces_face *f, lm_err *err);

/* Descriptor from 68 landmarks in image pixels (e.g. a dataset's own
 * landmarks; face-api's dlib rect) or from an explicit crop (NULL landmarks;
 * e.g. the whole image for an already aligned face). Errors: LM_ECONFIG (no
 * recognition net), LM_ENOFACE (empty rect), -ENOMEM. */
int faces_describe(const faces_ctx *fc, const lm_image *img, const double (*lmk)[2],
                   const faces_rect *crop, float desc[FREC_DIM], lm_err *err);

/* Geometry helpers (face-api's, section 11). Both return 0, or -1 when the
 * resulting crop is empty. lmk_crop_w/h: size of the crop the landmarks were
 * computed on (face-api bounds the dlib rect by it; pass the image size when
 * the landmarks come from elsewhere). */
int faces_aligned_rect(faces_rect *crop, const double (*lmk)[2], int W, int H);
int faces_dlib_rect(faces_rect *crop, const double (*lmk)[2], int lmk_crop_w, int lmk_crop_h, int W,
                    int H);

/* Index of the face with the largest detection box area (-1 when n <= 0). */
int faces_largest(const faces_face *faces, int n);

#endif
