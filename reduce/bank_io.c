/*
 * bank_io.c - the bank's files: NPY v1.0 arrays (numpy's format, as InterFaceGAN
 * saves boundaries; written by shared/lm_npy, read here) and the `bank show`
 * table printed from manifest.json.
 *
 * NPY layout: "\x93NUMPY", version 1.0, uint16 LE header length H, an ASCII
 * Python dict padded with spaces and ended by '\n' so that 10 + H is a multiple
 * of 64, then little-endian C-order data (algorithms.md section 1.3).
 */
#include "reduce/bank.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "shared/lm_npy.h"

int bank_npy_save(const char *path, const float *data, int64_t rows, int64_t cols, lm_err *err)
{
    /* The shared writer: temp file, fsync, rename (a crash never leaves half a file). */
    const uint64_t shape[2] = {(uint64_t)rows, (uint64_t)cols};
    return lm_npy_save(path, "<f4", sizeof(float), shape, 2, data, err);
}

int bank_npy_load(const char *path, float **data, int64_t *rows, int64_t *cols, lm_err *err)
{
    uint64_t shape[4];
    int nd = 0;
    int rc = lm_npy_load_f32(path, data, shape, &nd, err);
    if (rc == 0 && (nd != 2 || shape[0] == 0 || shape[1] == 0)) {
        free(*data);
        *data = NULL;
        return lm_err_set(err, LM_EFORMAT, "%s: expected a non-empty 2-D array, found %d-D", path,
                          nd);
    }
    if (rc == 0) {
        *rows = (int64_t)shape[0];
        *cols = (int64_t)shape[1];
    }
    return rc;
}

static char *read_all(const char *path, lm_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        lm_err_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (len + 1 < cap) {
            break;
        }
        char *nb = realloc(buf, cap * 2);
        if (nb == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (buf == NULL) {
        lm_err_set(err, -ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1.0;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

int bank_show(const char *outdir, FILE *out, lm_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/bank/manifest.json", outdir);
    char *text = read_all(path, err);
    if (text == NULL) {
        return err != NULL ? err->code : -EIO;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *dirs = root ? cJSON_GetObjectItemCaseSensitive(root, "directions") : NULL;
    if (!cJSON_IsArray(dirs)) {
        cJSON_Delete(root);
        return lm_err_set(err, LM_EFORMAT, "%s: not a bank manifest (no \"directions\" array)",
                          path);
    }
    fprintf(out, "bank %s: %d directions, %d ranks, built %s (%s mode)\n", path,
            cJSON_GetArraySize(dirs), (int)jnum(root, "ranks"), jstr(root, "created"),
            jstr(root, "parallel"));
    fprintf(out, "%-6s %-34s %-6s %7s %7s %7s %7s %6s %9s %7s %7s %7s %8s\n", "space", "name",
            "kind", "train+", "train-", "val+", "val-", "pos%", "C", "val_acc", "rem_acc",
            "trn_acc", "seconds");
    const cJSON *d;
    cJSON_ArrayForEach(d, dirs)
    {
        const char *skipped = jstr(d, "skipped");
        const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(d, "counts");
        if (skipped[0] != '\0') {
            fprintf(out, "%-6s %-34s skipped: %s\n", jstr(d, "space"), jstr(d, "name"), skipped);
            continue;
        }
        char acc_rem[16] = "-";
        if (jnum(d, "remaining_accuracy") >= 0.0) {
            snprintf(acc_rem, sizeof acc_rem, "%.4f", jnum(d, "remaining_accuracy"));
        }
        if (strcmp(jstr(d, "kind"), "conditional") == 0) {
            fprintf(out, "%-6s %-34s %-6s  (max |cos| with conditions %.1e, cos with base %.4f)\n",
                    jstr(d, "space"), jstr(d, "name"), "cond", jnum(d, "max_abs_cos_conditions"),
                    jnum(d, "cos_with_base"));
            continue;
        }
        double tp = jnum(cnt, "train_pos"), tn = jnum(cnt, "train_neg");
        double vp = jnum(cnt, "val_pos"), vn = jnum(cnt, "val_neg");
        double pos = tp + vp + tn + vn > 0 ? 100.0 * (tp + vp) / (tp + vp + tn + vn) : 0.0;
        fprintf(out, "%-6s %-34s %-6s %7.0f %7.0f %7.0f %7.0f %6.1f %9.3g %7.4f %7s %7.4f %8.2f\n",
                jstr(d, "space"), jstr(d, "name"), jstr(d, "kind"), tp, tn, vp, vn, pos,
                jnum(d, "C"), jnum(d, "val_accuracy"), acc_rem, jnum(d, "train_accuracy"),
                jnum(d, "seconds"));
    }
    cJSON_Delete(root);
    return 0;
}
