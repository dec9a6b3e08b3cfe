/*
 * faces_prep.h - face-api's image preprocessing, shared by every face network
 * (specs/face-models.md section 3): integer crop of a float box (clip, then
 * floor each of x, y, w, h), zero padding to a square (bottom/right for the
 * detectors, centred for per-face nets), TF legacy bilinear resize
 * (align_corners=false, half_pixel_centers=false, computed in double) and
 * per-channel normalisation (v - mean_c) / div, all in R, G, B order.
 */
#ifndef FACES_PREP_H
#define FACES_PREP_H

#include <stdint.h>

#include "models/wt_tfjs.h"
#include "shared/lm_err.h"

/* Where models are looked for when neither --models nor LATENTMILL_MODELS is set
 * (relative to the working directory; `make models` installs there). */
#define FACES_MODELS_DEFAULT "models/face-api"

/* An integer pixel rectangle. */
typedef struct faces_rect {
    int x, y, w, h;
} faces_rect;

/* Mean RGB of the detector and of the per-face networks (section 3.5). */
extern const float faces_mean_detector[3];
extern const float faces_mean_face[3];

/* face-api's crop of the float box (x, y, w, h) in a W x H image: clip to the
 * image, then floor each of x', y', w', h' separately. Returns 0, or -1 when
 * the crop is empty (face-api drops such faces silently; we report them). */
int faces_rect_crop(faces_rect *out, double x, double y, double w, double h, int W, int H);

/* Build a network input out[S][S][3]: take rows crop->y.. and columns
 * crop->x.. of the RGB8 image rgb [H][W][3] (crop must lie inside), pad it to
 * a square (centred: round(d/2) after, the rest before; else all after), resize
 * to S x S if the square side differs, then (v - mean[c]) / div. */
void faces_prep_input(float *out, int S, const uint8_t *rgb, int W, int H, const faces_rect *crop,
                      int centred, const float mean[3], float div);

/* The models directory: cli_dir if non-empty, else $LATENTMILL_MODELS, else
 * FACES_MODELS_DEFAULT. Never NULL. */
const char *faces_models_dir(const char *cli_dir);

/* Load <dir>/<prefix>-weights_manifest.json (dir from faces_models_dir).
 * OUT *out: free with wt_tfjs_free. Errors: LM_EMISSING (the message names the
 * missing file and says to run `make models`), and those of wt_tfjs_load. */
int faces_weights_load(wt_tfjs **out, const char *models_dir, const char *prefix, lm_err *err);

#endif
