/*
 * faces.c - face-api's detect -> landmarks -> expression/age -> descriptor
 * chain (faces.h; specs/face-models.md section 11, face-api's
 * DetectFaceLandmarksTasks / extractFaces / FaceLandmarks.align and
 * ComputeFaceDescriptorsTasks' dlib alignment).
 */
#include "models/faces.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "models/fage.h"
#include "shared/lm_log.h"

struct faces_ctx {
    unsigned what;
    fdet_model *det;
    fdet_ssd_model *ssd;
    lmk_model *lmk;
    fexp_model *exp;
    fage_model *age;
    frec_model *rec;
};

int faces_ctx_create(faces_ctx **out, const char *models_dir, unsigned what, lm_err *err)
{
    *out = NULL;
    faces_ctx *fc = calloc(1, sizeof *fc);
    if (!fc) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    fc->what = what;
    int rc = 0;
    if (what & FACES_DETECTOR) {
        rc = fdet_model_load(&fc->det, models_dir, err);
    }
    if (!rc && (what & FACES_SSD)) {
        rc = fdet_ssd_model_load(&fc->ssd, models_dir, err);
    }
    if (!rc && (what & (FACES_LANDMARKS | FACES_LANDMARKS_TINY))) {
        rc = lmk_model_load(&fc->lmk, models_dir, !(what & FACES_LANDMARKS), err);
    }
    if (!rc && (what & FACES_EXPRESSION)) {
        rc = fexp_model_load(&fc->exp, models_dir, err);
    }
    if (!rc && (what & FACES_AGE_GENDER)) {
        rc = fage_model_load(&fc->age, models_dir, err);
    }
    if (!rc && (what & FACES_DESCRIPTOR)) {
        rc = frec_model_load(&fc->rec, models_dir, err);
    }
    if (rc) {
        faces_ctx_free(fc);
        return rc;
    }
    *out = fc;
    return 0;
}

void faces_ctx_free(faces_ctx *fc)
{
    if (!fc) {
        return;
    }
    fdet_model_free(fc->det);
    fdet_ssd_model_free(fc->ssd);
    lmk_model_free(fc->lmk);
    fexp_model_free(fc->exp);
    fage_model_free(fc->age);
    frec_model_free(fc->rec);
    free(fc);
}

/* Keep the boxes with at least one pixel inside the image, as faces. */
static int boxes_to_faces(const fdet_box *boxes, int found, int cap, const lm_image *img,
                          unsigned have, faces_face *faces)
{
    int k = 0, dropped = 0;
    for (int i = 0; i < found && i < cap; i++) {
        faces_rect r;
        if (faces_rect_crop(&r, boxes[i].x, boxes[i].y, boxes[i].w, boxes[i].h, img->w, img->h) !=
            0) {
            dropped++;
            continue;
        }
        faces_face *f = &faces[k++];
        *f = (faces_face){0};
        f->det = boxes[i];
        f->det_crop = r;
        f->have = have;
    }
    if (dropped) {
        lm_log(LM_LOG_WARN, "faces: dropped %d detection(s) lying outside the image", dropped);
    }
    return k + (found > cap ? found - cap : 0);
}

int faces_detect(const faces_ctx *fc, const lm_image *img, int det_size, faces_face *faces, int max,
                 int *n, lm_err *err)
{
    *n = 0;
    if (!fc->det) {
        return lm_err_set(err, LM_ECONFIG, "faces: context created without the detector");
    }
    int S = det_size > 0 ? det_size : FDET_DEFAULT_SIZE;
    int cap = max > 0 ? max : 0, found = 0;
    fdet_box *boxes = malloc((size_t)(cap ? cap : 1) * sizeof *boxes);
    if (!boxes) {
        return lm_err_set(err, -ENOMEM, "faces: out of memory");
    }
    int rc = fdet_detect(fc->det, img->px, img->w, img->h, S, FDET_DEFAULT_SCORE, boxes, cap,
                         &found, err);
    if (!rc) {
        *n = boxes_to_faces(boxes, found, cap, img, FACES_DETECTOR, faces);
    }
    free(boxes);
    return rc;
}

int faces_detect_ssd(const faces_ctx *fc, const lm_image *img, faces_face *faces, int max, int *n,
                     lm_err *err)
{
    *n = 0;
    if (!fc->ssd) {
        return lm_err_set(err, LM_ECONFIG, "faces: context created without the SSD detector");
    }
    int cap = max > 0 ? max : 0, found = 0;
    fdet_box *boxes = malloc((size_t)(cap ? cap : 1) * sizeof *boxes);
    if (!boxes) {
        return lm_err_set(err, -ENOMEM, "faces: out of memory");
    }
    int rc = fdet_ssd_detect(fc->ssd, img->px, img->w, img->h, FDET_SSD_MIN_CONF,
                             FDET_SSD_MAX_RESULTS, boxes, cap, &found, err);
    if (!rc) {
        *n = boxes_to_faces(boxes, found, cap, img, FACES_SSD, faces);
    }
    free(boxes);
    return rc;
}

int faces_aligned_rect(faces_rect *crop, const double (*lmk)[2], int W, int H)
{
    /* face-api's FaceLandmarks.align(): min-max box of the points (the max
     * starts at 0, as face-api's reduce does), padded by 10 % per side. */
    double minx = INFINITY, miny = INFINITY, maxx = 0, maxy = 0;
    for (int i = 0; i < LMK_POINTS; i++) {
        minx = fmin(minx, lmk[i][0]);
        miny = fmin(miny, lmk[i][1]);
        maxx = fmax(maxx, lmk[i][0]);
        maxy = fmax(maxy, lmk[i][1]);
    }
    double bw = maxx - minx, bh = maxy - miny;
    return faces_rect_crop(crop, minx - 0.1 * bw, miny - 0.1 * bh, 1.2 * bw, 1.2 * bh, W, H);
}

static void mean_pts(double c[2], const double (*lmk)[2], int a, int b)
{
    c[0] = c[1] = 0;
    for (int i = a; i <= b; i++) {
        c[0] += lmk[i][0];
        c[1] += lmk[i][1];
    }
    c[0] /= b - a + 1;
    c[1] /= b - a + 1;
}

int faces_dlib_rect(faces_rect *crop, const double (*lmk)[2], int lmk_crop_w, int lmk_crop_h, int W,
                    int H)
{
    double e1[2], e2[2], m[2];
    mean_pts(e1, lmk, 36, 41);
    mean_pts(e2, lmk, 42, 47);
    mean_pts(m, lmk, 48, 67);
    double d1 = sqrt((m[0] - e1[0]) * (m[0] - e1[0]) + (m[1] - e1[1]) * (m[1] - e1[1]));
    double d2 = sqrt((m[0] - e2[0]) * (m[0] - e2[0]) + (m[1] - e2[1]) * (m[1] - e2[1]));
    double d = (d1 + d2) / 2;
    double size = floor(d / 0.45);
    double cx = (e1[0] + e2[0] + m[0]) / 3, cy = (e1[1] + e2[1] + m[1]) / 3;
    double x = floor(fmax(0, cx - 0.5 * size)), y = floor(fmax(0, cy - 0.43 * size));
    double w = fmin(size, lmk_crop_w + x), h = fmin(size, lmk_crop_h + y);
    return faces_rect_crop(crop, x, y, w, h, W, H);
}

int faces_analyze(const faces_ctx *fc, const lm_image *img, faces_face *f, lm_err *err)
{
    int rc = 0;
    const int W = img->w, H = img->h;
    if (!fc->lmk) {
        return 0; /* nothing else can run without landmarks */
    }
    float rel[2 * LMK_POINTS];
    rc = lmk_detect(fc->lmk, rel, img->px, W, H, &f->det_crop, err);
    if (rc) {
        return rc;
    }
    for (int i = 0; i < LMK_POINTS; i++) {
        f->lmk[i][0] = (rel[2 * i] * (double)f->det_crop.w + f->det.x);
        f->lmk[i][1] = (rel[2 * i + 1] * (double)f->det_crop.h + f->det.y);
    }
    f->have |= (fc->what & FACES_LANDMARKS) ? FACES_LANDMARKS : FACES_LANDMARKS_TINY;
    if (fc->exp || fc->age) {
        if (faces_aligned_rect(&f->aligned_crop, (const double(*)[2])f->lmk, W, H) != 0) {
            return lm_err_set(err, LM_ENOFACE, "faces: landmark box lies outside the image");
        }
        if (fc->exp) {
            rc = fexp_predict(fc->exp, f->expr, img->px, W, H, &f->aligned_crop, err);
            f->have |= rc ? 0 : FACES_EXPRESSION;
        }
        if (!rc && fc->age) {
            fage_result a;
            rc = fage_predict(fc->age, &a, img->px, W, H, &f->aligned_crop, err);
            f->age = a.age;
            f->p_male = a.p_male;
            f->p_female = a.p_female;
            f->have |= rc ? 0 : FACES_AGE_GENDER;
        }
        if (rc) {
            return rc;
        }
    }
    if (fc->rec) {
        if (faces_dlib_rect(&f->dlib_crop, (const double(*)[2])f->lmk, f->det_crop.w, f->det_crop.h,
                            W, H) != 0) {
            return lm_err_set(err, LM_ENOFACE, "faces: descriptor rect lies outside the image");
        }
        rc = frec_describe(fc->rec, f->desc, img->px, W, H, &f->dlib_crop, err);
        f->have |= rc ? 0 : FACES_DESCRIPTOR;
    }
    return rc;
}

int faces_describe(const faces_ctx *fc, const lm_image *img, const double (*lmk)[2],
                   const faces_rect *crop, float desc[FREC_DIM], lm_err *err)
{
    if (!fc->rec) {
        return lm_err_set(err, LM_ECONFIG, "faces: context created without the recognition net");
    }
    faces_rect r;
    if (lmk) {
        if (faces_dlib_rect(&r, lmk, img->w, img->h, img->w, img->h) != 0) {
            return lm_err_set(err, LM_ENOFACE, "faces: descriptor rect lies outside the image");
        }
    } else if (faces_rect_crop(&r, crop->x, crop->y, crop->w, crop->h, img->w, img->h) != 0) {
        return lm_err_set(err, LM_ENOFACE, "faces: crop (%d,%d %dx%d) lies outside the %dx%d image",
                          crop->x, crop->y, crop->w, crop->h, img->w, img->h);
    }
    return frec_describe(fc->rec, desc, img->px, img->w, img->h, &r, err);
}

int faces_largest(const faces_face *faces, int n)
{
    int best = -1;
    double area = -1;
    for (int i = 0; i < n; i++) {
        double a = faces[i].det.w * faces[i].det.h;
        if (a > area) {
            area = a;
            best = i;
        }
    }
    return best;
}
