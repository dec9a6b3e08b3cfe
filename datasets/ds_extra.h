/*
 * ds_extra.h - the per-item `extra` record of the plan: labels, identity,
 * landmarks and metadata an adapter found for the item, so later stages
 * (labels, align, reduce) never read a label file again.
 *
 * Record layout (little-endian; a fixed 20-byte head, then arrays):
 *   offset 0   char[4]  magic "LMX1"
 *          4   u16      L, number of int32 labels
 *          6   u16      P, number of landmark points (0, 5 or 68)
 *          8   i32      identity (CelebA identity, CK+ subject number; -1: none)
 *         12   u8       landmark kind (enum ds_lmk_kind)
 *         13   u8       split (0 train, 1 validation, 2 test, 255 unknown)
 *         14   u8       flags (DS_X_ALIGNED: the image is already aligned)
 *         15   u8       reserved (0)
 *         16   u32      J, bytes of metadata JSON
 *         20   i32[L]   labels (meaning per dataset kind, the README (Datasets))
 *   20 + 4L    f32[P*2] landmarks x0 y0 x1 y1 ... in the item image's pixel
 *                       coordinates, as the dataset gives them
 *   20+4L+8P   u8[J]    metadata JSON object (UTF-8, no NUL), e.g. FFHQ licence
 *                       and checksums, CK+ FACS codes
 */
#ifndef DS_EXTRA_H
#define DS_EXTRA_H

#include <stddef.h>
#include <stdint.h>

#include "shared/lm_err.h"

#define DS_EXTRA_MAGIC "LMX1"
#define DS_EXTRA_HEAD 20
#define DS_MAX_LABELS 64
#define DS_MAX_POINTS 68

enum ds_lmk_kind {
    DS_LMK_NONE = 0,
    DS_LMK_CELEBA5 = 1, /* left eye, right eye, nose, left mouth, right mouth (image left first) */
    DS_LMK_DLIB68 = 2   /* the 68-point iBUG/dlib order */
};

enum { DS_X_ALIGNED = 1 };
enum { DS_SPLIT_NONE = 255 };

typedef struct ds_extra {
    int nlabels;
    int32_t labels[DS_MAX_LABELS];
    int32_t identity;
    int lmk_kind;
    int npoints;
    float pts[DS_MAX_POINTS * 2];
    int split;
    int flags;
    const char *json; /* borrowed; NULL or json_len bytes */
    size_t json_len;
} ds_extra;

/* An empty record: no labels, identity -1, no landmarks, split unknown. */
void ds_extra_init(ds_extra *x);
/* Encoded size of x. */
size_t ds_extra_size(const ds_extra *x);
/* Encode into buf (ds_extra_size bytes). */
void ds_extra_encode(const ds_extra *x, void *buf);
/* Decode; x->json points into buf. LM_EFORMAT when buf is not a record. */
int ds_extra_decode(ds_extra *x, const void *buf, size_t len, lm_err *err);

#endif
