/*
 * fage.h - face-api's age_gender net, a "TinyXception" with 2 middle blocks
 * (specs/face-models.md section 10). Input: crop padded centred, resized to
 * 112, (v - mean)/255 (face-api runs it on the landmark "aligned rect").
 * Output: age in years (raw regression) and P(male), P(female).
 */
#ifndef FAGE_H
#define FAGE_H

#include <stddef.h>
#include <stdint.h>

#include "models/faces_prep.h"
#include "shared/lm_err.h"

#define FAGE_SIZE 112

typedef struct fage_result {
    float age; /* years */
    float p_male, p_female;
} fage_result;

typedef struct fage_model fage_model; /* opaque, immutable after load */

/* Load age_gender_model. Errors as fdet_model_load. */
int fage_model_load(fage_model **out, const char *models_dir, lm_err *err);
void fage_model_free(fage_model *m);

/* Raw network: in [112][112][3]; ws: fage_ws_floats() floats. */
size_t fage_ws_floats(void);
void fage_forward(const fage_model *m, fage_result *r, float *ws, const float *in);

/* Age and gender for the integer crop of an RGB8 image. Errors: -ENOMEM. */
int fage_predict(const fage_model *m, fage_result *r, const uint8_t *rgb, int W, int H,
                 const faces_rect *crop, lm_err *err);

#endif
