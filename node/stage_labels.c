/*
 * stage_labels.c - `labels`: write what the dataset adapter attached to the
 * item (the plan's extra record, datasets/ds_extra.h) into the shard.
 *
 *   labels db  int32 [L]: the item's labels (layout per dataset kind in
 *              the README (Datasets); e.g. CelebA: 40 attributes, identity,
 *              partition, bbox x y w h)
 *   meta       "identity": N (when known), "split": "train"|"val"|"test",
 *              "landmarks": [[x, y], ...] and "landmarks_kind": "celeba5" |
 *              "dlib68" (item image coordinates), plus the adapter's metadata
 *              object (FFHQ licence and checksums, CK+ FACS codes).
 * When the item's bytes were read (another stage needs them) and the dataset
 * publishes the file's MD5 (FFHQ file_md5), the bytes are checked: a mismatch
 * fails the item with both digests in the reason.
 * 68-point dataset landmarks also go to it->lmk for later stages.
 * An item without extra data (a plain folder) passes with nothing written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/ds_extra.h"
#include "datasets/ds_hash.h"
#include "node/internal.h"

int node_labels_process(void *state, node_item *it, lm_batch *batch, lm_err *err)
{
    (void)state;
    if (it->plan.extra == NULL) {
        return 0;
    }
    ds_extra x;
    int rc = ds_extra_decode(&x, it->plan.extra, it->plan.extra_len, err);
    if (rc != 0) {
        return NODE_ITEM_FAILED;
    }
    if (x.nlabels > 0) {
        lm_value v = {LM_DT_I32, 1, it->rank, {(uint32_t)x.nlabels, 1, 1, 1}, x.labels,
                      4 * (size_t)x.nlabels};
        rc = lm_batch_put(batch, LM_DB_LABELS, it->plan.key, &v);
        if (rc != 0) {
            return lm_err_set(err, rc, "cannot record labels");
        }
    }
    if (x.identity >= 0) {
        cJSON_AddNumberToObject(it->meta, "identity", x.identity);
    }
    static const char *const splits[] = {"train", "val", "test"};
    if (x.split < 3) {
        cJSON_AddStringToObject(it->meta, "split", splits[x.split]);
    }
    if (x.npoints == 68 && !it->have_lmk) { /* for later stages (faces keeps these) */
        for (int i = 0; i < 68; i++) {
            it->lmk[i][0] = x.pts[2 * i];
            it->lmk[i][1] = x.pts[2 * i + 1];
        }
        it->have_lmk = 1;
    }
    if (x.npoints > 0) {
        cJSON *arr = cJSON_AddArrayToObject(it->meta, "landmarks");
        for (int i = 0; arr != NULL && i < x.npoints; i++) {
            double p[2] = {x.pts[2 * i], x.pts[2 * i + 1]};
            cJSON_AddItemToArray(arr, cJSON_CreateDoubleArray(p, 2));
        }
        cJSON_AddStringToObject(it->meta, "landmarks_kind",
                                x.lmk_kind == DS_LMK_CELEBA5 ? "celeba5" : "dlib68");
    }
    if (x.json_len > 0) {
        cJSON *o = cJSON_ParseWithLength(x.json, x.json_len);
        if (o == NULL) {
            return lm_err_set(err, NODE_ITEM_FAILED, "item metadata is not valid JSON");
        }
        cJSON *ch = o->child;
        while (ch != NULL) {
            cJSON *next = ch->next;
            cJSON_AddItemToObject(it->meta, ch->string, cJSON_DetachItemViaPointer(o, ch));
            ch = next;
        }
        cJSON_Delete(o);
        const char *md5 = cJSON_GetStringValue(
            cJSON_GetObjectItem(cJSON_GetObjectItem(it->meta, "ffhq"), "file_md5"));
        if (md5 != NULL && it->bytes != NULL) {
            ds_md5 c;
            unsigned char d[16];
            char hex[33];
            ds_md5_init(&c);
            ds_md5_update(&c, it->bytes, it->len);
            ds_md5_final(&c, d);
            ds_hex(d, 16, hex);
            if (strcmp(hex, md5) != 0) {
                return lm_err_set(err, NODE_ITEM_FAILED, "file MD5 %s differs from the "
                                  "dataset's %s (corrupt or modified file)", hex, md5);
            }
            cJSON_AddTrueToObject(it->meta, "md5_ok");
        }
    }
    return 0;
}
