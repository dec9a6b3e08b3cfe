/*
 * cmd_faces.c - `latentmill faces IMAGE...`: face-api's detector, landmarks,
 * descriptor, expression and age/gender on each image (models/faces.h).
 * Thin driver: parse options, load the networks once, print per image.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "datasets/ds_align.h"
#include "models/faces.h"
#include "shared/lm_img.h"
#include "shared/lm_log.h"

#define MAX_FACES 256

static const char *usage_text =
    "usage: latentmill faces IMAGE... [--json] [--models DIR] [--detector tiny|ssd] [--size N]\n"
    "                        [--max-pixels N] [--align OUT.png]\n"
    "\n"
    "Find every face in each JPEG/PNG image with face-api's pretrained networks\n"
    "(@vladmandic/face-api 1.7.15 weights, run in C; results match face-api.js on the\n"
    "same pixels): detection box and score (tiny_face_detector), 68 landmarks,\n"
    "7 expression probabilities, age and gender, and the 128-D face descriptor\n"
    "(two faces are the same person when their descriptors are < 0.6 apart).\n"
    "An image without a face is a normal result (\"0 faces\"), not an error.\n"
    "\n"
    "  --json          one JSON object per image and line (file, width, height,\n"
    "                  faces[]: score, box, landmarks, expressions, age, gender,\n"
    "                  gender_probability, descriptor); default: a short text summary\n"
    "  --models DIR    face-api model directory (default: $LATENTMILL_MODELS, else\n"
    "                  models/face-api; install with `make models`)\n"
    "  --detector D    tiny (default: tiny_face_detector, fast) or ssd (SSD\n"
    "                  MobileNetV1, face-api's default: slower, finds smaller faces)\n"
    "  --size N        tiny detector input size, a multiple of 32 (default 416;\n"
    "                  larger finds smaller faces, slower)\n"
    "  --max-pixels N  refuse larger images (default 67108864)\n"
    "  --align OUT.png write the FFHQ-style aligned crop of the largest face (the\n"
    "                  FFHQ recipe on its 68 detected landmarks; one image only)\n"
    "  --align-size N  side of the aligned crop (default 256; FFHQ uses 1024)\n"
    "\n"
    "Exit status: 0 every image processed (with or without faces), 1 models missing\n"
    "or broken, or --align found no face to align, 2 bad usage or an image that\n"
    "cannot be read (the others are still processed).\n";

static cJSON *rect_json(double x, double y, double w, double h)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "x", x);
    cJSON_AddNumberToObject(o, "y", y);
    cJSON_AddNumberToObject(o, "width", w);
    cJSON_AddNumberToObject(o, "height", h);
    return o;
}

static cJSON *face_json(const faces_face *f)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "score", f->det.score);
    cJSON_AddItemToObject(o, "box", rect_json(f->det.x, f->det.y, f->det.w, f->det.h));
    if (f->have & (FACES_LANDMARKS | FACES_LANDMARKS_TINY)) {
        cJSON *l = cJSON_AddArrayToObject(o, "landmarks");
        for (int i = 0; i < LMK_POINTS; i++) {
            cJSON_AddItemToArray(l, cJSON_CreateDoubleArray(f->lmk[i], 2));
        }
    }
    if (f->have & FACES_EXPRESSION) {
        cJSON *e = cJSON_AddObjectToObject(o, "expressions");
        for (int i = 0; i < FEXP_N; i++) {
            cJSON_AddNumberToObject(e, fexp_labels[i], f->expr[i]);
        }
    }
    if (f->have & FACES_AGE_GENDER) {
        int male = f->p_male > 0.5f;
        cJSON_AddNumberToObject(o, "age", f->age);
        cJSON_AddStringToObject(o, "gender", male ? "male" : "female");
        cJSON_AddNumberToObject(o, "gender_probability", male ? f->p_male : f->p_female);
    }
    if (f->have & FACES_DESCRIPTOR) {
        cJSON_AddItemToObject(o, "descriptor", cJSON_CreateFloatArray(f->desc, FREC_DIM));
    }
    return o;
}

static void print_text(const char *path, const lm_image *im, const faces_face *f, int n, int shown)
{
    printf("%s: %dx%d, %d face%s\n", path, im->w, im->h, n, n == 1 ? "" : "s");
    for (int i = 0; i < shown; i++) {
        printf("  face %d: score %.3f box x %.1f y %.1f w %.1f h %.1f", i, f[i].det.score,
               f[i].det.x, f[i].det.y, f[i].det.w, f[i].det.h);
        if (f[i].have & FACES_AGE_GENDER) {
            int male = f[i].p_male > 0.5f;
            printf(", age %.1f, %s (%.2f)", f[i].age, male ? "male" : "female",
                   male ? f[i].p_male : f[i].p_female);
        }
        if (f[i].have & FACES_EXPRESSION) {
            int best = 0;
            for (int k = 1; k < FEXP_N; k++) {
                best = f[i].expr[k] > f[i].expr[best] ? k : best;
            }
            printf(", %s (%.2f)", fexp_labels[best], f[i].expr[best]);
        }
        printf("\n");
        if (f[i].have & FACES_LANDMARKS) {
            printf("    eyes (%.1f, %.1f) (%.1f, %.1f), nose tip (%.1f, %.1f)\n",
                   (f[i].lmk[36][0] + f[i].lmk[39][0]) / 2, (f[i].lmk[36][1] + f[i].lmk[39][1]) / 2,
                   (f[i].lmk[42][0] + f[i].lmk[45][0]) / 2, (f[i].lmk[42][1] + f[i].lmk[45][1]) / 2,
                   f[i].lmk[30][0], f[i].lmk[30][1]);
        }
        if (f[i].have & FACES_DESCRIPTOR) {
            printf("    descriptor [%.4f %.4f %.4f %.4f ... ] (128-D)\n", f[i].desc[0],
                   f[i].desc[1], f[i].desc[2], f[i].desc[3]);
        }
    }
}

int cmd_faces(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return LM_EXIT_OK;
    }
    const char *models = NULL;
    int json = 0, size = FDET_DEFAULT_SIZE, nimg = 0, ssd = 0, align_size = 256;
    const char *align_out = NULL;
    long long max_pixels = 0;
    char **images = calloc((size_t)argc, sizeof *images);
    if (!images) {
        return LM_EXIT_FAIL;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--models") == 0 && i + 1 < argc) {
            models = argv[++i];
        } else if (strcmp(a, "--detector") == 0 && i + 1 < argc) {
            const char *d = argv[++i];
            if (strcmp(d, "tiny") != 0 && strcmp(d, "ssd") != 0) {
                fprintf(stderr, "latentmill faces: --detector must be tiny or ssd, not '%s'\n", d);
                free(images);
                return LM_EXIT_USAGE;
            }
            ssd = d[0] == 's';
        } else if (strcmp(a, "--size") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 32 || v > 1024 || v % 32) {
                fprintf(stderr, "latentmill faces: --size must be a multiple of 32 in 32..1024\n");
                free(images);
                return LM_EXIT_USAGE;
            }
            size = (int)v;
        } else if (strcmp(a, "--max-pixels") == 0 && i + 1 < argc) {
            char *end;
            max_pixels = strtoll(argv[++i], &end, 10);
            if (*end || max_pixels <= 0) {
                fprintf(stderr, "latentmill faces: --max-pixels needs a positive number\n");
                free(images);
                return LM_EXIT_USAGE;
            }
        } else if (strcmp(a, "--align") == 0 && i + 1 < argc) {
            align_out = argv[++i];
        } else if (strcmp(a, "--align-size") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 16 || v > 4096) {
                fprintf(stderr, "latentmill faces: --align-size must be in 16..4096\n");
                free(images);
                return LM_EXIT_USAGE;
            }
            align_size = (int)v;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "latentmill faces: unknown option '%s' (see --help)\n", a);
            free(images);
            return LM_EXIT_USAGE;
        } else {
            images[nimg++] = argv[i];
        }
    }
    if (nimg == 0) {
        fputs(usage_text, stderr);
        free(images);
        return LM_EXIT_USAGE;
    }
    if (align_out != NULL && nimg != 1) {
        fprintf(stderr, "latentmill faces: --align writes one crop: give exactly one image\n");
        free(images);
        return LM_EXIT_USAGE;
    }
    lm_err err = {0};
    faces_ctx *fc = NULL;
    unsigned what = ssd ? (FACES_ALL & ~FACES_DETECTOR) | FACES_SSD : FACES_ALL;
    if (faces_ctx_create(&fc, models, what, &err) != 0) {
        fprintf(stderr, "latentmill faces: %s\n", err.msg);
        free(images);
        return LM_EXIT_FAIL;
    }
    faces_face *f = malloc(MAX_FACES * sizeof *f);
    int status = f ? LM_EXIT_OK : LM_EXIT_FAIL;
    for (int k = 0; k < nimg && f; k++) {
        lm_image im = {0};
        lm_err e = {0};
        int n = 0, rc = lm_img_load(&im, images[k], max_pixels, &e);
        if (!rc) {
            rc = ssd ? faces_detect_ssd(fc, &im, f, MAX_FACES, &n, &e)
                     : faces_detect(fc, &im, size, f, MAX_FACES, &n, &e);
        }
        int shown = n < MAX_FACES ? n : MAX_FACES;
        for (int i = 0; !rc && i < shown; i++) {
            lm_err fe = {0};
            if (faces_analyze(fc, &im, &f[i], &fe) != 0) {
                lm_log(LM_LOG_WARN, "%s: face %d: %s", images[k], i, fe.msg);
            }
        }
        if (rc) {
            fprintf(stderr, "latentmill faces: %s\n", e.msg);
            status = rc == -ENOMEM ? LM_EXIT_FAIL : LM_EXIT_USAGE;
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "file", images[k]);
                cJSON_AddStringToObject(o, "error", e.msg);
                char *s = cJSON_PrintUnformatted(o);
                printf("%s\n", s);
                free(s);
                cJSON_Delete(o);
            }
        } else if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "file", images[k]);
            cJSON_AddNumberToObject(o, "width", im.w);
            cJSON_AddNumberToObject(o, "height", im.h);
            cJSON_AddNumberToObject(o, "face_count", n);
            cJSON *arr = cJSON_AddArrayToObject(o, "faces");
            for (int i = 0; i < shown; i++) {
                cJSON_AddItemToArray(arr, face_json(&f[i]));
            }
            char *s = cJSON_PrintUnformatted(o);
            printf("%s\n", s);
            free(s);
            cJSON_Delete(o);
        } else {
            print_text(images[k], &im, f, n, shown);
        }
        if (!rc && align_out != NULL) {
            int big = faces_largest(f, shown);
            lm_err ae = {0};
            if (big < 0 || !(f[big].have & FACES_LANDMARKS)) {
                fprintf(stderr, "latentmill faces: %s: no face to align; %s not written\n",
                        images[k], align_out);
                status = LM_EXIT_FAIL;
            } else {
                float pts[2 * LMK_POINTS];
                for (int p = 0; p < LMK_POINTS; p++) {
                    pts[2 * p] = (float)f[big].lmk[p][0];
                    pts[2 * p + 1] = (float)f[big].lmk[p][1];
                }
                ds_align_opts ao = {align_size, 0, 1};
                lm_image al = {0};
                if (ds_align_image(&al, &im, pts, LMK_POINTS, &ao, NULL, NULL, &ae) != 0 ||
                    lm_img_save_png(align_out, &al, &ae) != 0) {
                    fprintf(stderr, "latentmill faces: %s: align: %s\n", images[k], ae.msg);
                    status = LM_EXIT_FAIL;
                } else if (!json) {
                    printf("aligned %dx%d crop of the largest face: %s\n", al.w, al.h, align_out);
                }
                lm_img_fini(&al);
            }
        }
        fflush(stdout);
        lm_img_fini(&im);
    }
    free(f);
    faces_ctx_free(fc);
    free(images);
    return status;
}
