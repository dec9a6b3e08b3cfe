/*
 * ds_synth.h - miniature datasets in the exact native layouts of CelebA, FFHQ
 * and CK+ (and a folder with a CSV of labels), for tests, benchmarks and the
 * demo. Images are procedural face-like drawings whose 68 landmarks are known
 * by construction: a canonical 68-point face (dlib order; eye centres at
 * (-0.5, 0) and (0.5, 0), mouth corners at (-0.4, 1) and (0.4, 1)) mapped
 * into the image by a similarity transform; each pixel is shaded by mapping
 * its index back into the canonical frame, so a landmark at (x, y) lies at
 * the centre of pixel (x, y).
 *
 * Layouts written (OUTDIR is created):
 *   celeba: Img/img_align_celeba/NNNNNN.jpg (178x218) or Img/img_align_celeba.zip
 *           (--zip), Img/img_celeba/NNNNNN.jpg (in the wild), Anno/ with
 *           list_attr_celeba.txt, identity_CelebA.txt, list_bbox_celeba.txt,
 *           list_landmarks_align_celeba.txt, list_landmarks_celeba.txt, and
 *           Eval/list_eval_partition.txt, all CRLF with the exact paddings.
 *   ffhq:   images1024x1024/GGGGG/NNNNN.png (side --res), thumbnails128x128/
 *           (side res/8, at least 8), in-the-wild-images/, LICENSE.txt in each,
 *           ffhq-dataset-v2.json with real sizes and MD5s; --zip adds
 *           ffhq-RxR.zip in the StyleGAN2-ADA layout (stored, dataset.json).
 *   ckplus: cohn-kanade-images/Sxxx/yyy/Sxxx_yyy_nnnnnnnn.png (640x490 grey, one
 *           640x480 RGB sequence), Landmarks/, FACS/, Emotion/ (some sequences
 *           unlabelled, one empty Emotion dir, one orphan landmark file);
 *           --zip packs the four trees into the distribution's four zips.
 *   folder: images/<a|b>/img_NNNNN.jpg (or images.zip) and labels.csv.
 */
#ifndef DS_SYNTH_H
#define DS_SYNTH_H

#include <stdint.h>

#include "shared/lm_err.h"
#include "shared/lm_img.h"

typedef struct ds_synth_opts {
    int n;         /* images (ckplus: sequences) */
    uint64_t seed;
    int zip;       /* write the archive form */
    int res;       /* ffhq aligned side (default 64) */
    int tiny;      /* celeba: 8x8 placeholder images (planning benchmarks) */
} ds_synth_opts;

/* The canonical 68-point face (dlib order), x/y interleaved. */
void ds_synth_template(float pts[136]);

/* Similarity placing the canonical face: image = c + s * R(theta) * canonical. */
typedef struct ds_synth_pose {
    double cx, cy, s, theta;
    double mouth_open; /* 0..0.15 canonical units (expressions) */
} ds_synth_pose;

/* The 68 landmarks of a pose in image coordinates. */
void ds_synth_landmarks(const ds_synth_pose *pose, float pts[136]);

/* Draw a face at pose into im (allocated w x h x 3; gray: R = G = B).
 * palette seeds the colours (e.g. the identity). */
int ds_synth_face(lm_image *im, int w, int h, const ds_synth_pose *pose, uint64_t palette,
                  lm_err *err);

int ds_synth_celeba(const char *outdir, const ds_synth_opts *o, lm_err *err);
int ds_synth_ffhq(const char *outdir, const ds_synth_opts *o, lm_err *err);
int ds_synth_ckplus(const char *outdir, const ds_synth_opts *o, lm_err *err);
int ds_synth_folder(const char *outdir, const ds_synth_opts *o, lm_err *err);

/* Encode RGB pixels as JPEG (quality 95). OUT *jpg (free()). */
int ds_synth_jpeg(void **jpg, size_t *len, const lm_image *im, lm_err *err);

#endif
