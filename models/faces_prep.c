/*
 * faces_prep.c - face-api preprocessing (faces_prep.h). The padded square is
 * never materialised: pixels are read through a function that returns 0 for
 * the padding, so a 2333-pixel-tall photo costs no extra memory.
 */
#include "models/faces_prep.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

const float faces_mean_detector[3] = {117.001f, 114.697f, 97.404f};
const float faces_mean_face[3] = {122.782f, 117.001f, 104.298f};

int faces_rect_crop(faces_rect *out, double x, double y, double w, double h, int W, int H)
{
    double cx = x > 0 ? x : 0, cy = y > 0 ? y : 0;
    double cw = x + w - cx, ch = y + h - cy;
    if (cw > W - cx) {
        cw = W - cx;
    }
    if (ch > H - cy) {
        ch = H - cy;
    }
    cx = floor(cx);
    cy = floor(cy);
    cw = floor(cw);
    ch = floor(ch);
    out->x = (int)cx;
    out->y = (int)cy;
    out->w = cw > 0 ? (int)cw : 0;
    out->h = ch > 0 ? (int)ch : 0;
    if (out->w <= 0 || out->h <= 0 || out->x >= W || out->y >= H) {
        return -1;
    }
    return 0;
}

typedef struct padded {
    const uint8_t *rgb;
    int W;
    const faces_rect *crop;
    int off_y, off_x; /* where the crop sits in the square */
} padded;

static double px(const padded *p, int y, int x, int c)
{
    y -= p->off_y;
    x -= p->off_x;
    if (y < 0 || x < 0 || y >= p->crop->h || x >= p->crop->w) {
        return 0.0;
    }
    return p->rgb[((size_t)(p->crop->y + y) * p->W + (p->crop->x + x)) * 3 + c];
}

void faces_prep_input(float *out, int S, const uint8_t *rgb, int W, int H, const faces_rect *crop,
                      int centred, const float mean[3], float div)
{
    (void)H;
    int h = crop->h, w = crop->w;
    int side = h > w ? h : w, d = h > w ? h - w : w - h;
    padded p = {rgb, W, crop, 0, 0};
    if (centred) {
        int after = (d + 1) / 2; /* JS Math.round(d / 2), halves up */
        int before = d - after;
        if (h < w) {
            p.off_y = before;
        } else {
            p.off_x = before;
        }
    }
    double ratio = (double)side / (double)S;
#pragma omp parallel for schedule(static) if ((size_t)S * S > 100000)
    for (int r = 0; r < S; r++) {
        double fy = side == S ? r : r * ratio;
        int y0 = (int)floor(fy), y1 = (int)ceil(fy);
        if (y1 > side - 1) {
            y1 = side - 1;
        }
        double ty = fy - y0;
        for (int cc = 0; cc < S; cc++) {
            double fx = side == S ? cc : cc * ratio;
            int x0 = (int)floor(fx), x1 = (int)ceil(fx);
            if (x1 > side - 1) {
                x1 = side - 1;
            }
            double tx = fx - x0;
            float *o = out + ((size_t)r * S + cc) * 3;
            for (int c = 0; c < 3; c++) {
                double tl = px(&p, y0, x0, c), tr = px(&p, y0, x1, c);
                double bl = px(&p, y1, x0, c), br = px(&p, y1, x1, c);
                double top = tl + (tr - tl) * tx, bot = bl + (br - bl) * tx;
                float v = (float)(top + (bot - top) * ty);
                o[c] = (v - mean[c]) / div;
            }
        }
    }
}

const char *faces_models_dir(const char *cli_dir)
{
    if (cli_dir && *cli_dir) {
        return cli_dir;
    }
    const char *env = getenv("LATENTMILL_MODELS");
    if (env && *env) {
        return env;
    }
    return FACES_MODELS_DEFAULT;
}

int faces_weights_load(wt_tfjs **out, const char *models_dir, const char *prefix, lm_err *err)
{
    char path[4096];
    const char *dir = faces_models_dir(models_dir);
    *out = NULL;
    snprintf(path, sizeof path, "%s/%s-weights_manifest.json", dir, prefix);
    struct stat st;
    if (stat(path, &st) != 0) {
        return lm_err_set(err, LM_EMISSING,
                          "face model file %s is missing (models directory from --models, "
                          "$LATENTMILL_MODELS or the default " FACES_MODELS_DEFAULT
                          "); install the face-api weights with `make models` "
                          "(or tools/fetch_models.sh DIR)",
                          path);
    }
    int rc = wt_tfjs_load(out, path, err);
    if (rc == LM_EMISSING) {
        lm_err_prefix(err, "face model incomplete (run `make models` to reinstall): ");
    }
    return rc;
}
