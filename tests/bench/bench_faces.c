/*
 * bench_faces.c - milliseconds per call of each face network (models/), for
 * tests/bench/bench_faces.sh: detectors (tiny, SSD) on a 640x480 image, landmarks,
 * descriptor, expression and age/gender on the first detected face's crop.
 *   bench_faces IMAGE ITER [OUT640x480.png]
 * Prints one JSON line (same keys as tools/faceapi_ref/golden.js --bench).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "models/faces.h"
#include "models/fage.h"
#include "models/fdet_ssd.h"
#include "shared/lm_img.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_faces IMAGE ITER [OUT640x480.png]\n");
        return 2;
    }
    int n = atoi(argv[2]);
    lm_err e = {0};
    lm_image src = {0}, im = {0};
    faces_ctx *fc = NULL;
    fdet_model *det = NULL;
    lmk_model *lmk = NULL;
    frec_model *rec = NULL;
    fexp_model *exp = NULL;
    fage_model *age = NULL;
    fdet_ssd_model *ssd = NULL;
    if (lm_img_load(&src, argv[1], 0, &e) || lm_img_resize(&im, &src, 640, 480, &e) ||
        (argc > 3 && lm_img_save_png(argv[3], &im, &e)) ||
        faces_ctx_create(&fc, NULL, FACES_DETECTOR, &e) || fdet_model_load(&det, NULL, &e) ||
        lmk_model_load(&lmk, NULL, 0, &e) || frec_model_load(&rec, NULL, &e) ||
        fexp_model_load(&exp, NULL, &e) || fage_model_load(&age, NULL, &e) ||
        fdet_ssd_model_load(&ssd, NULL, &e)) {
        fprintf(stderr, "bench_faces: %s\n", e.msg);
        return 1;
    }
    faces_face f;
    int nf = 0;
    if (faces_detect(fc, &im, 0, &f, 1, &nf, &e) || nf < 1) {
        fprintf(stderr, "bench_faces: no face in %s\n", argv[1]);
        return 1;
    }
    const faces_rect *r = &f.det_crop;
    float rel[136], desc[128], probs[7];
    fage_result ag;
    fdet_box boxes[8];
    int nb;
    double t[6];
    for (int k = 0; k < 6; k++) {
        for (int i = -1; i < n; i++) { /* i = -1: warm-up */
            if (i == 0) {
                t[k] = now_ms();
            }
            switch (k) {
            case 0:
                fdet_detect(det, im.px, im.w, im.h, 416, 0.5f, boxes, 8, &nb, &e);
                break;
            case 1:
                lmk_detect(lmk, rel, im.px, im.w, im.h, r, &e);
                break;
            case 2:
                frec_describe(rec, desc, im.px, im.w, im.h, r, &e);
                break;
            case 3:
                fexp_predict(exp, probs, im.px, im.w, im.h, r, &e);
                break;
            case 4:
                fage_predict(age, &ag, im.px, im.w, im.h, r, &e);
                break;
            default:
                fdet_ssd_detect(ssd, im.px, im.w, im.h, 0.5f, 100, boxes, 8, &nb, &e);
                break;
            }
        }
        t[k] = (now_ms() - t[k]) / n;
    }
    printf(
        "{\"image\":\"640x480\",\"iterations\":%d,\"detector_ms\":%.3f,\"landmarks_ms\":%.3f,"
        "\"descriptor_ms\":%.3f,\"expression_ms\":%.3f,\"age_gender_ms\":%.3f,\"ssd_ms\":%.3f}\n",
        n, t[0], t[1], t[2], t[3], t[4], t[5]);
    faces_ctx_free(fc);
    fdet_model_free(det);
    lmk_model_free(lmk);
    frec_model_free(rec);
    fexp_model_free(exp);
    fage_model_free(age);
    fdet_ssd_model_free(ssd);
    lm_img_fini(&src);
    lm_img_fini(&im);
    return 0;
}
