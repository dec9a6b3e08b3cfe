/*
 * ds_align.h - face alignment by the FFHQ recipe (NVlabs download_ffhq.py
 * recreate_aligned_images; spec "datasets.md" section 4), ported to C with the
 * Pillow/NumPy/SciPy semantics it relies on: Pillow's Lanczos resize (22-bit
 * fixed point), its QUAD transform with bilinear sampling (truncation, black
 * outside), NumPy's reflect padding, SciPy's gaussian_filter (reflect, radius
 * int(4 sigma + 0.5)) and round-half-to-even.
 *
 * Landmarks: 68 dlib-order points (eyes = means of 36-41 / 42-47, mouth corners
 * 48 and 54) or the 5 CelebA points (left eye, right eye, nose, left mouth,
 * right mouth: eyes and mouth corners taken directly). Coordinates are pixel
 * indices (a landmark at (x, y) is the centre of pixel (x, y)), as dlib and the
 * datasets give them.
 *
 * Steps: oriented quad from the anchors (x = eye_to_eye - rot90(eye_to_mouth),
 * scaled to max(2 |eye_to_eye|, 1.8 |eye_to_mouth|), c = eye_avg + 0.1
 * eye_to_mouth), shrink by floor(qsize / output * 0.5) when > 1, crop with a
 * border of max(rint(0.1 qsize), 3), reflect-pad by at least rint(0.3 qsize)
 * with the blur/median fade when the quad leaves the image, QUAD transform to
 * transform_size, Lanczos down to output_size.
 */
#ifndef DS_ALIGN_H
#define DS_ALIGN_H

#include "shared/lm_err.h"
#include "shared/lm_img.h"

typedef struct ds_align_opts {
    int output_size;    /* 1024 in FFHQ */
    int transform_size; /* 4096 in FFHQ; 0: 4 x output_size */
    int enable_padding; /* 1 in FFHQ */
} ds_align_opts;

typedef struct ds_align_info {
    double quad[8];  /* the oriented crop in input coordinates (TL, BL, BR, TR) */
    double qsize;
    int shrink;      /* the shrink factor used (1: none) */
    int padded;      /* the padding branch ran */
} ds_align_info;

/* Quad from landmarks (npts 68 or 5). LM_EFORMAT for another count or a
 * degenerate face (eyes and mouth coincide). */
int ds_align_quad(const float *pts, int npts, double quad[8], double *qsize, lm_err *err);

/* Align in (8-bit RGB) into *out (output_size square, lm_img_fini). out_pts
 * (may be NULL) receives the npts landmarks mapped into output pixel indices. */
int ds_align_image(lm_image *out, const lm_image *in, const float *pts, int npts,
                   const ds_align_opts *o, float *out_pts, ds_align_info *info, lm_err *err);

/* Pillow's Lanczos ("ANTIALIAS") resize of an RGB image. */
int ds_resize_lanczos(lm_image *out, const lm_image *in, int w, int h, lm_err *err);

#endif
