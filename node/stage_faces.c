/*
 * stage_faces.c - the `faces` node stage: face-api's chain (models/faces.h) on
 * the decoded image. Detects every face, keeps the largest (meta records how
 * many there were), and writes
 *   embed   f32 [128]  the face descriptor (unnormalised; Euclidean < 0.6 = same person)
 *   scores  f32 [10]   7 expression probabilities in face-api's order (neutral,
 *                      happy, sad, angry, fearful, disgusted, surprised), age in
 *                      years, P(male), P(female)
 * and the box, detector score and 68 landmarks to meta; the landmarks are also
 * left on the item for a following align stage. No face is an item failure
 * with reason "no face found" (the job goes on).
 */
#include <stdlib.h>
#include <string.h>

#include "models/faces.h"
#include "node/internal.h"

#define MAX_FACES 16

typedef struct faces_state {
    faces_ctx *fc;
    int det_size;
} faces_state;

static int faces_create(void **state, const node_config *cfg, lm_err *err)
{
    faces_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return lm_err_set(err, -12, "out of memory");
    }
    int rc = faces_ctx_create(&s->fc, cfg->models[0] ? cfg->models : NULL, FACES_ALL, err);
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->det_size = cfg->det_size;
    *state = s;
    return 0;
}

static void faces_destroy(void *state)
{
    faces_state *s = state;
    if (s != NULL) {
        faces_ctx_free(s->fc);
        free(s);
    }
}

static int faces_process(void *state, node_item *it, lm_batch *batch, lm_err *err)
{
    faces_state *s = state;
    if (it->img.px == NULL) {
        return lm_err_set(err, NODE_ITEM_FAILED, "faces needs a decoded image (put decode first)");
    }
    faces_face f[MAX_FACES];
    int n = 0;
    int rc = faces_detect(s->fc, &it->img, s->det_size, f, MAX_FACES, &n, err);
    if (rc != 0) {
        return rc == -12 ? rc : NODE_ITEM_FAILED;
    }
    cJSON_AddNumberToObject(it->meta, "faces", n);
    if (n == 0) {
        return lm_err_set(err, NODE_ITEM_FAILED, "no face found");
    }
    int k = faces_largest(f, n < MAX_FACES ? n : MAX_FACES);
    rc = faces_analyze(s->fc, &it->img, &f[k], err);
    if (rc != 0) {
        return rc == -12 ? rc : NODE_ITEM_FAILED;
    }
    lm_value v = {LM_DT_F32, 1, it->rank, {FREC_DIM, 1, 1, 1}, f[k].desc, sizeof f[k].desc};
    if ((rc = lm_batch_put(batch, LM_DB_EMBED, it->plan.key, &v)) != 0) {
        return lm_err_set(err, rc, "cannot record the descriptor");
    }
    float sc[FEXP_N + 3];
    memcpy(sc, f[k].expr, sizeof f[k].expr);
    sc[FEXP_N] = f[k].age;
    sc[FEXP_N + 1] = f[k].p_male;
    sc[FEXP_N + 2] = f[k].p_female;
    lm_value vs = {LM_DT_F32, 1, it->rank, {FEXP_N + 3, 1, 1, 1}, sc, sizeof sc};
    if ((rc = lm_batch_put(batch, LM_DB_SCORES, it->plan.key, &vs)) != 0) {
        return lm_err_set(err, rc, "cannot record the scores");
    }
    cJSON *box = cJSON_AddArrayToObject(it->meta, "face_box");
    cJSON_AddItemToArray(box, cJSON_CreateNumber(f[k].det.x));
    cJSON_AddItemToArray(box, cJSON_CreateNumber(f[k].det.y));
    cJSON_AddItemToArray(box, cJSON_CreateNumber(f[k].det.w));
    cJSON_AddItemToArray(box, cJSON_CreateNumber(f[k].det.h));
    cJSON_AddNumberToObject(it->meta, "face_score", f[k].det.score);
    if (!it->have_lmk) {
        memcpy(it->lmk, f[k].lmk, sizeof it->lmk);
        it->have_lmk = 1;
    }
    cJSON *lm = cJSON_AddArrayToObject(it->meta, "landmarks68");
    for (int i = 0; i < LMK_POINTS; i++) {
        cJSON_AddItemToArray(lm, cJSON_CreateNumber((double)(float)f[k].lmk[i][0]));
        cJSON_AddItemToArray(lm, cJSON_CreateNumber((double)(float)f[k].lmk[i][1]));
    }
    return 0;
}

/* faces_ctx is immutable after creation and each call allocates its own
 * scratch, so several items may run at once. */
const node_stage_ops node_stage_faces = {"faces", 1, 1, faces_create, faces_process,
                                         faces_destroy};
