/*
 * stage_align.c - `align`: the FFHQ alignment recipe (datasets/ds_align.h) from
 * the landmarks the dataset adapter attached to the item (FFHQ JSON and CK+
 * landmark files: 68 points; CelebA: 5 points), to [node] resolution with a
 * transform size of 4 x resolution (FFHQ: 1024 from 4096) and the recipe's
 * padding and blur. Images that are already aligned (CelebA img_align_celeba,
 * FFHQ images1024x1024 and thumbnails) pass through a resize: the centred
 * square (CelebA: rows 20..197 of 178x218) with Pillow's Lanczos filter.
 *
 * Writes the aligned pixels (u8 [res x res x 3]) to the pixels db (unless
 * [node] keep_pixels = false) and their FNV-1a checksum plus
 *   "align": {"mode": "ffhq" | "resize", "quad": [8 numbers, input coords],
 *             "shrink": s, "padded": 0|1, "landmarks": [[x, y], ...] in output
 *             pixel coordinates}
 * to meta. Put it after decode (and labels); use it instead of resize. Without
 * dataset landmarks it uses the 68 the faces stage found (it->lmk); an item
 * with neither fails with that reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/ds_align.h"
#include "datasets/ds_extra.h"
#include "node/internal.h"

typedef struct align_state {
    node_config cfg;
} align_state;

static int align_create(void **state, const node_config *cfg, lm_err *err)
{
    align_state *s = malloc(sizeof *s);
    if (s == NULL) {
        return lm_err_set(err, -12, "out of memory");
    }
    s->cfg = *cfg;
    *state = s;
    return 0;
}

static void align_destroy(void *state) { free(state); }

static int align_process(void *state, node_item *it, lm_batch *batch, lm_err *err)
{
    align_state *s = state;
    int R = s->cfg.resolution;
    if (it->img.px == NULL) {
        return lm_err_set(err, NODE_ITEM_FAILED, "align needs a decoded image (put decode first)");
    }
    ds_extra x;
    if (it->plan.extra == NULL ||
        ds_extra_decode(&x, it->plan.extra, it->plan.extra_len, NULL) != 0) {
        ds_extra_init(&x);
    }
    if (x.npoints == 0 && it->have_lmk) { /* no dataset landmarks: the faces stage's */
        x.npoints = 68;
        x.lmk_kind = DS_LMK_DLIB68;
        x.flags = 0;
        for (int i = 0; i < 68; i++) {
            x.pts[2 * i] = (float)it->lmk[i][0];
            x.pts[2 * i + 1] = (float)it->lmk[i][1];
        }
    }
    if (x.npoints == 0) {
        return lm_err_set(err, NODE_ITEM_FAILED, "no landmarks for alignment (the dataset gives "
                          "none for this item; put the faces stage before align)");
    }
    float opts[2 * DS_MAX_POINTS];
    cJSON *a = cJSON_AddObjectToObject(it->meta, "align");
    int rc;
    if (x.flags & DS_X_ALIGNED) {
        /* Already aligned: the centred square, resized. */
        int side = it->img.w < it->img.h ? it->img.w : it->img.h;
        int x0 = (it->img.w - side) / 2, y0 = (it->img.h - side) / 2;
        lm_image sq = {side, side, 3, malloc((size_t)side * side * 3)};
        if (sq.px == NULL) {
            return lm_err_set(err, -12, "out of memory");
        }
        for (int y = 0; y < side; y++) {
            memcpy(sq.px + (size_t)y * side * 3, it->img.px + ((size_t)(y + y0) * it->img.w + x0) * 3,
                   (size_t)side * 3);
        }
        rc = ds_resize_lanczos(&it->out, &sq, R, R, err);
        lm_img_fini(&sq);
        if (rc != 0) {
            return rc == -12 ? rc : NODE_ITEM_FAILED;
        }
        for (int i = 0; i < x.npoints; i++) {
            opts[2 * i] = (float)((x.pts[2 * i] - x0 + 0.5) * R / side - 0.5);
            opts[2 * i + 1] = (float)((x.pts[2 * i + 1] - y0 + 0.5) * R / side - 0.5);
        }
        cJSON_AddStringToObject(a, "mode", "resize");
    } else {
        ds_align_opts o = {R, 4 * R, 1};
        ds_align_info info;
        rc = ds_align_image(&it->out, &it->img, x.pts, x.npoints, &o, opts, &info, err);
        if (rc != 0) {
            return rc == -12 ? rc : NODE_ITEM_FAILED;
        }
        cJSON_AddStringToObject(a, "mode", "ffhq");
        cJSON_AddItemToObject(a, "quad", cJSON_CreateDoubleArray(info.quad, 8));
        cJSON_AddNumberToObject(a, "shrink", info.shrink);
        cJSON_AddNumberToObject(a, "padded", info.padded);
    }
    cJSON *arr = cJSON_AddArrayToObject(a, "landmarks");
    for (int i = 0; arr != NULL && i < x.npoints; i++) {
        double p[2] = {opts[2 * i], opts[2 * i + 1]};
        cJSON_AddItemToArray(arr, cJSON_CreateDoubleArray(p, 2));
    }
    size_t bytes = (size_t)R * R * 3;
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)lm_fnv1a64(it->out.px, bytes));
    cJSON_AddStringToObject(it->meta, "pixels_fnv1a64", hex);
    if (s->cfg.keep_pixels) {
        lm_value v = {LM_DT_U8, 3, it->rank, {(uint32_t)R, (uint32_t)R, 3, 1}, it->out.px, bytes};
        rc = lm_batch_put(batch, LM_DB_PIXELS, it->plan.key, &v);
        if (rc != 0) {
            return lm_err_set(err, rc, "cannot record pixels");
        }
    }
    return 0;
}

const node_stage_ops node_stage_align = {"align", 1, 1, align_create, align_process,
                                         align_destroy};
