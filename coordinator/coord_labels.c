/*
 * coord_labels.c - OUTDIR/labels.json: what the columns of the labels db mean,
 * written by rank 0 at plan time for the reduce phase (coord_reduce.c) and for
 * users of `export --npy` (labels.npy). Layouts per dataset kind follow the
 * adapters in datasets/ (README, "Datasets"):
 *   celeba  40 binary attributes in list_attr_celeba.txt order, then identity,
 *           partition and bbox x, y, w, h (not labels: kind "none")
 *   ckplus  emotion (class, CK+ codes 0-7), then subject, sequence, frame, role
 *   ffhq    index, category, licence (none of them labels)
 *   folder/archive with a CSV: the CSV header's column names, kind "auto"
 *           (binary when every value is -1, 0 or 1, else class 0..max)
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "coordinator/coord_internal.h"
#include "shared/lm_io.h"

static const char *const celeba_attrs[40] = {
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald",
    "Bangs", "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair",
    "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks",
    "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young"};
static const char *const ckplus_emotions[8] = {"neutral", "anger",     "contempt", "disgust",
                                               "fear",    "happiness", "sadness",  "surprise"};

static void add(cJSON *cols, const char *name, const char *kind)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "name", name);
    cJSON_AddStringToObject(c, "kind", kind);
    cJSON_AddItemToArray(cols, c);
}

int coord_labels_write(const char *outdir, enum ds_kind kind, const char *csv_path, lm_err *err)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *cols = cJSON_AddArrayToObject(j, "columns");
    int rc = 0;
    if (kind == DS_KIND_CELEBA) {
        for (int i = 0; i < 40; i++) {
            add(cols, celeba_attrs[i], "binary");
        }
        const char *rest[] = {"identity", "partition", "bbox_x", "bbox_y", "bbox_w", "bbox_h"};
        for (int i = 0; i < 6; i++) {
            add(cols, rest[i], "none");
        }
    } else if (kind == DS_KIND_CKPLUS) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", "emotion");
        cJSON_AddStringToObject(c, "kind", "class");
        cJSON_AddItemToObject(c, "classes", cJSON_CreateStringArray(ckplus_emotions, 8));
        cJSON_AddItemToArray(cols, c);
        const char *rest[] = {"subject", "sequence", "frame", "role"};
        for (int i = 0; i < 4; i++) {
            add(cols, rest[i], "none");
        }
    } else if (kind == DS_KIND_FFHQ) {
        const char *rest[] = {"index", "category", "licence"};
        for (int i = 0; i < 3; i++) {
            add(cols, rest[i], "none");
        }
    } else if (csv_path != NULL && csv_path[0] != '\0') {
        void *txt = NULL;
        size_t len = 0;
        rc = lm_io_read_file(csv_path, &txt, &len, err);
        if (rc == 0) {
            char *line = txt, *nl = strpbrk(line, "\r\n");
            if (nl != NULL) {
                *nl = '\0';
            }
            char *save = NULL;
            int i = 0;
            for (char *t = strtok_r(line, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
                if (i++ > 0) { /* the first column names the file */
                    while (*t == ' ' || *t == '"') {
                        t++;
                    }
                    size_t l = strlen(t);
                    while (l > 0 && (t[l - 1] == ' ' || t[l - 1] == '"')) {
                        t[--l] = '\0';
                    }
                    add(cols, t, "auto");
                }
            }
        }
        free(txt);
    }
    if (rc == 0 && cJSON_GetArraySize(cols) > 0) {
        char *s = cJSON_Print(j);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/labels.json", outdir);
        rc = s != NULL ? lm_io_write_file_atomic(path, s, strlen(s), err)
                       : lm_err_set(err, -ENOMEM, "out of memory");
        free(s);
    }
    cJSON_Delete(j);
    return rc;
}
