/*
 * lm_img.h - image loading, resizing and saving: the one module every stage
 * that touches pixels goes through.
 *
 * Decoding: JPEG with libjpeg-turbo (TurboJPEG API, accurate integer DCT and
 * fancy up-sampling, i.e. the same pixels as `djpeg`), PNG with libspng.
 * Whatever the input (grayscale, gray+alpha, RGBA, palette, 16-bit), the result
 * is 8-bit RGB, H x W x 3, row-major; alpha is dropped (not composited), as
 * TF.js's fromPixels(.., 3) does. The image size is read from the header and
 * checked against max_pixels before any pixel buffer is allocated, which
 * stops decompression bombs.
 */
#ifndef LM_IMG_H
#define LM_IMG_H

#include <stddef.h>
#include <stdint.h>

#include "shared/lm_err.h"

/* Default pixel limit: 64 Mpx (an 8k x 8k photo); FFHQ in-the-wild is < 20 Mpx. */
#define LM_IMG_MAX_PIXELS_DEFAULT ((int64_t)64 * 1024 * 1024)

typedef struct lm_image {
    int w, h, c;  /* c is 3 for decoded images */
    uint8_t *px;  /* h * w * c bytes, owned; free with lm_img_fini */
} lm_image;

enum lm_img_format { LM_IMG_UNKNOWN = 0, LM_IMG_JPEG, LM_IMG_PNG };

/* Sniff the format from the first bytes (magic numbers, not the file name). */
enum lm_img_format lm_img_sniff(const void *buf, size_t len);

/* Decode an in-memory JPEG or PNG. name is used in messages only. OUT *out
 * (lm_img_fini). Errors: LM_EFORMAT (not an image / corrupt / truncated, the
 * message says which), LM_ETOOBIG (w*h > max_pixels or a zero dimension),
 * -ENOMEM. max_pixels <= 0 means LM_IMG_MAX_PIXELS_DEFAULT. */
int lm_img_decode(lm_image *out, const void *buf, size_t len, const char *name,
                  int64_t max_pixels, lm_err *err);
/* Read a file and decode it. Errors as lm_img_decode, plus -errno. */
int lm_img_load(lm_image *out, const char *path, int64_t max_pixels, lm_err *err);
void lm_img_fini(lm_image *im); /* accepts NULL and zeroed structs */

/* Antialiased resize to w x h (separable triangle filter whose support grows
 * with the down-scaling factor, as PIL's BILINEAR does). OUT *out. */
int lm_img_resize(lm_image *out, const lm_image *in, int w, int h, lm_err *err);

/* Write an 8-bit RGB (c=3) or gray (c=1) PNG. Errors: -errno, LM_EFORMAT. */
int lm_img_save_png(const char *path, const lm_image *im, lm_err *err);
/* Encode to a PNG in memory. OUT *png (free()). */
int lm_img_encode_png(void **png, size_t *len, const lm_image *im, lm_err *err);

/* 64-bit FNV-1a of a byte span (pixel checksums in the store). */
uint64_t lm_fnv1a64(const void *data, size_t len);

#endif
