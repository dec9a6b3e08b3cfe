/*
 * stages.c - the built-in image stages and the stage registry.
 *
 *   noop    nothing (measures engine overhead; no bytes are read)
 *   decode  bytes -> 8-bit RGB (shared/lm_img: JPEG, PNG, gray, alpha, 16-bit)
 *   resize  antialiased resize to [node] resolution (square); stores the pixels
 *           (u8 [res x res x 3]) in the pixels db and their FNV-1a checksum in meta
 *
 *   labels  the dataset's labels, identity and landmarks (node/stage_labels.c)
 *
 * Stages of other modules (faces, align, invert) are defined in their own
 * node/stage_<name>.c, declared in node/internal.h and listed in module_stages
 * below: one line each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/internal.h"
#include "node/node.h"

typedef struct image_state {
    node_config cfg;
} image_state;

static int image_create(void **state, const node_config *cfg, lm_err *err)
{
    image_state *s = malloc(sizeof *s);
    if (s == NULL) {
        return lm_err_set(err, -12, "out of memory");
    }
    s->cfg = *cfg;
    *state = s;
    return 0;
}

static void image_destroy(void *state) { free(state); }

static int noop_process(void *state, node_item *it, lm_batch *batch, lm_err *err)
{
    (void)state;
    (void)it;
    (void)batch;
    (void)err;
    return 0;
}

static int decode_process(void *state, node_item *it, lm_batch *batch, lm_err *err)
{
    image_state *s = state;
    (void)batch;
    if (it->bytes == NULL && it->len == 0) {
        return lm_err_set(err, NODE_ITEM_FAILED, "no bytes to decode");
    }
    int rc = lm_img_decode(&it->img, it->bytes, it->len, it->plan.key, s->cfg.max_pixels, err);
    if (rc == -12) {
        return rc; /* out of memory is environmental */
    }
    if (rc != 0) {
        return NODE_ITEM_FAILED;
    }
    cJSON_AddNumberToObject(it->meta, "width", it->img.w);
    cJSON_AddNumberToObject(it->meta, "height", it->img.h);
    return 0;
}

static int resize_process(void *state, node_item *it, lm_batch *batch, lm_err *err)
{
    image_state *s = state;
    if (it->img.px == NULL) {
        return lm_err_set(err, NODE_ITEM_FAILED, "resize needs a decoded image (put decode first)");
    }
    int r = s->cfg.resolution;
    int rc = lm_img_resize(&it->out, &it->img, r, r, err);
    if (rc != 0) {
        return rc;
    }
    size_t bytes = (size_t)r * r * 3;
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)lm_fnv1a64(it->out.px, bytes));
    cJSON_AddStringToObject(it->meta, "pixels_fnv1a64", hex);
    if (s->cfg.keep_pixels) {
        lm_value v = {LM_DT_U8, 3, it->rank, {(uint32_t)r, (uint32_t)r, 3, 1}, it->out.px, bytes};
        rc = lm_batch_put(batch, LM_DB_PIXELS, it->plan.key, &v);
        if (rc != 0) {
            return lm_err_set(err, rc, "cannot record pixels");
        }
    }
    return 0;
}

static const node_stage_ops stage_table[] = {
    {"noop", 0, 1, NULL, noop_process, NULL},
    {"decode", 1, 1, image_create, decode_process, image_destroy},
    {"resize", 1, 1, image_create, resize_process, image_destroy},
    {"labels", 0, 1, NULL, node_labels_process, NULL},
    {"invert", 1, 0, node_invert_create, node_invert_process, node_invert_destroy},
};

static const node_stage_ops *const module_stages[] = {
    &node_stage_faces,
    &node_stage_align,
};

static const node_batch_ops batch_table[] = {
    {"invert", node_invert_group_size, node_invert_process_many},
};

const node_batch_ops *node_batch_find(const char *name)
{
    for (size_t i = 0; i < sizeof batch_table / sizeof batch_table[0]; i++) {
        if (strcmp(batch_table[i].name, name) == 0) {
            return &batch_table[i];
        }
    }
    return NULL;
}

const node_stage_ops *node_stage_find(const char *name)
{
    for (size_t i = 0; i < sizeof stage_table / sizeof stage_table[0]; i++) {
        if (strcmp(stage_table[i].name, name) == 0) {
            return &stage_table[i];
        }
    }
    for (size_t i = 0; i < sizeof module_stages / sizeof module_stages[0]; i++) {
        if (strcmp(module_stages[i]->name, name) == 0) {
            return module_stages[i];
        }
    }
    return NULL;
}

const char *node_stage_names(void)
{
    /* Built from the table so a new stage needs one line, above. */
    static char names[256];
    if (names[0] == '\0') {
        for (size_t i = 0; i < sizeof stage_table / sizeof stage_table[0]; i++) {
            size_t l = strlen(names);
            snprintf(names + l, sizeof names - l, "%s%s", i ? ", " : "", stage_table[i].name);
        }
        for (size_t i = 0; i < sizeof module_stages / sizeof module_stages[0]; i++) {
            size_t l = strlen(names);
            snprintf(names + l, sizeof names - l, ", %s", module_stages[i]->name);
        }
    }
    return names;
}
