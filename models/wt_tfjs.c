/*
 * wt_tfjs.c - TF.js weights-manifest loader (see wt_tfjs.h and
 * specs/face-models.md section 2). The manifest is parsed with cJSON; each
 * group's shards are read into one buffer, then entries are decoded in order
 * with every byte range bounds-checked.
 */
#include "models/wt_tfjs.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wt_tfjs {
    char *path;
    int count;
    wt_tensor *t;
};

enum storage { ST_F32, ST_I32, ST_U8, ST_U16, ST_F16 };

static int read_file(const char *path, unsigned char **buf, size_t *len, lm_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return lm_err_set(err, e == ENOENT ? LM_EMISSING : -e, "%s: cannot open: %s", path,
                          strerror(e));
    }
    unsigned char *b = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 1 << 16;
            unsigned char *nb = realloc(b, nc);
            if (!nb) {
                free(b);
                fclose(f);
                return lm_err_set(err, -ENOMEM, "%s: out of memory", path);
            }
            b = nb;
            cap = nc;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            break;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return lm_err_set(err, -EIO, "%s: read error", path);
    }
    *buf = b;
    *len = n;
    return 0;
}

static float half_to_float(uint16_t h)
{
    int s = (h >> 15) & 1, e = (h >> 10) & 31, m = h & 1023;
    float v;
    if (e == 0) {
        v = ldexpf((float)m, -24);
    } else if (e == 31) {
        v = m ? NAN : INFINITY;
    } else {
        v = ldexpf((float)(m | 1024), e - 25);
    }
    return s ? -v : v;
}

/* Decode one entry of `count` elements starting at src. */
static void decode(wt_tensor *t, enum storage st, const unsigned char *src, double scale,
                   double min)
{
    for (size_t k = 0; k < t->count; k++) {
        double v;
        switch (st) {
        case ST_F32: {
            uint32_t u = (uint32_t)src[4 * k] | (uint32_t)src[4 * k + 1] << 8 |
                         (uint32_t)src[4 * k + 2] << 16 | (uint32_t)src[4 * k + 3] << 24;
            if (t->dtype == WT_INT32) {
                t->i[k] = (int32_t)u;
            } else {
                memcpy(&t->f[k], &u, 4);
            }
            continue;
        }
        case ST_I32:
            continue; /* not produced: raw int32 is ST_F32 storage with WT_INT32 dtype */
        case ST_U8:
            v = src[k] * scale + min;
            break;
        case ST_U16:
            v = (double)((uint32_t)src[2 * k] | (uint32_t)src[2 * k + 1] << 8) * scale + min;
            break;
        case ST_F16:
        default:
            v = half_to_float((uint16_t)(src[2 * k] | src[2 * k + 1] << 8));
            break;
        }
        if (t->dtype == WT_INT32) {
            t->i[k] = (int32_t)floor(v + 0.5); /* JS Math.round: halves up */
        } else {
            t->f[k] = (float)v;
        }
    }
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path + 1) : 0;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = 0;
    }
    return d;
}

/* Parse one weight entry's metadata; fills t (without data) and storage info. */
static int parse_entry(const cJSON *e, const char *path, int idx, wt_tensor *t, enum storage *st,
                       double *scale, double *min, lm_err *err)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(e, "quantization");
    if (!cJSON_IsString(name) || !cJSON_IsArray(shape) || !cJSON_IsString(dtype)) {
        return lm_err_set(err, LM_EFORMAT,
                          "%s: weight entry %d lacks a string name, array shape or string dtype",
                          path, idx);
    }
    t->name = strdup(name->valuestring);
    if (!t->name) {
        return lm_err_set(err, -ENOMEM, "%s: out of memory", path);
    }
    t->ndim = cJSON_GetArraySize(shape);
    if (t->ndim > WT_TFJS_MAX_DIMS) {
        return lm_err_set(err, LM_EFORMAT, "%s: tensor '%s' has %d dimensions (max %d)", path,
                          t->name, t->ndim, WT_TFJS_MAX_DIMS);
    }
    t->count = 1;
    for (int d = 0; d < t->ndim; d++) {
        const cJSON *v = cJSON_GetArrayItem(shape, d);
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9 ||
            v->valuedouble != floor(v->valuedouble)) {
            return lm_err_set(err, LM_EFORMAT, "%s: tensor '%s': bad shape entry %d", path, t->name,
                              d);
        }
        t->shape[d] = (int)v->valuedouble;
        if (t->shape[d] != 0 && t->count > ((size_t)1 << 34) / (size_t)t->shape[d]) {
            return lm_err_set(err, LM_EFORMAT, "%s: tensor '%s': shape too large", path, t->name);
        }
        t->count *= (size_t)t->shape[d];
    }
    if (strcmp(dtype->valuestring, "float32") == 0) {
        t->dtype = WT_FLOAT32;
    } else if (strcmp(dtype->valuestring, "int32") == 0) {
        t->dtype = WT_INT32;
    } else {
        return lm_err_set(err, LM_EFORMAT, "%s: tensor '%s': unsupported dtype '%s'", path, t->name,
                          dtype->valuestring);
    }
    *st = ST_F32;
    *scale = 1.0;
    *min = 0.0;
    if (q && !cJSON_IsNull(q)) {
        const cJSON *qd = cJSON_GetObjectItemCaseSensitive(q, "dtype");
        const cJSON *qs = cJSON_GetObjectItemCaseSensitive(q, "scale");
        const cJSON *qm = cJSON_GetObjectItemCaseSensitive(q, "min");
        if (!cJSON_IsObject(q) || !cJSON_IsString(qd)) {
            return lm_err_set(err, LM_EFORMAT, "%s: tensor '%s': bad quantization object", path,
                              t->name);
        }
        if (strcmp(qd->valuestring, "float16") == 0) {
            if (t->dtype != WT_FLOAT32) {
                return lm_err_set(err, LM_EFORMAT, "%s: tensor '%s': float16 for an int32 entry",
                                  path, t->name);
            }
            *st = ST_F16;
        } else if (strcmp(qd->valuestring, "uint8") == 0 ||
                   strcmp(qd->valuestring, "uint16") == 0) {
            if (!cJSON_IsNumber(qs) || !cJSON_IsNumber(qm)) {
                return lm_err_set(err, LM_EFORMAT,
                                  "%s: tensor '%s': %s quantization without numeric scale/min",
                                  path, t->name, qd->valuestring);
            }
            *st = qd->valuestring[4] == '8' ? ST_U8 : ST_U16;
            *scale = qs->valuedouble;
            *min = qm->valuedouble;
        } else {
            return lm_err_set(err, LM_EFORMAT, "%s: tensor '%s': unsupported quantization '%s'",
                              path, t->name, qd->valuestring);
        }
    }
    return 0;
}

static size_t storage_bytes(enum storage st)
{
    return st == ST_U8 ? 1 : (st == ST_U16 || st == ST_F16) ? 2 : 4;
}

/* Read one group's shards concatenated into *buf. */
static int read_group(const cJSON *paths, const char *dir, const char *mpath, int g,
                      unsigned char **buf, size_t *len, char *last_file, size_t last_cap,
                      lm_err *err)
{
    int n = cJSON_GetArraySize(paths);
    if (!cJSON_IsArray(paths) || n < 1) {
        return lm_err_set(err, LM_EFORMAT, "%s: group %d has no 'paths' array", mpath, g);
    }
    unsigned char *all = NULL;
    size_t total = 0;
    for (int p = 0; p < n; p++) {
        const cJSON *ps = cJSON_GetArrayItem(paths, p);
        if (!cJSON_IsString(ps) || strchr(ps->valuestring, '/') ||
            strcmp(ps->valuestring, "..") == 0) {
            free(all);
            return lm_err_set(err, LM_EFORMAT, "%s: group %d path %d is not a plain file name",
                              mpath, g, p);
        }
        snprintf(last_file, last_cap, "%s%s", dir, ps->valuestring);
        unsigned char *b;
        size_t l;
        int rc = read_file(last_file, &b, &l, err);
        if (rc) {
            free(all);
            return rc;
        }
        unsigned char *na = realloc(all, total + l + 1);
        if (!na) {
            free(b);
            free(all);
            return lm_err_set(err, -ENOMEM, "%s: out of memory", last_file);
        }
        all = na;
        memcpy(all + total, b, l);
        total += l;
        free(b);
    }
    *buf = all;
    *len = total;
    return 0;
}

int wt_tfjs_load(wt_tfjs **out, const char *manifest_path, lm_err *err)
{
    *out = NULL;
    unsigned char *text = NULL, *buf = NULL;
    size_t tlen = 0;
    cJSON *root = NULL;
    char *dir = NULL;
    char shard[4096] = "";
    wt_tfjs *w = calloc(1, sizeof *w);
    int rc;
    if (!w || !(w->path = strdup(manifest_path)) || !(dir = dir_of(manifest_path))) {
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory", manifest_path);
        goto fail;
    }
    rc = read_file(manifest_path, &text, &tlen, err);
    if (rc) {
        goto fail;
    }
    root = cJSON_ParseWithLength((const char *)text, tlen);
    if (!root || !cJSON_IsArray(root)) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: not a TF.js weights manifest (%s)", manifest_path,
                        root ? "top level is not a JSON array" : "not valid JSON");
        goto fail;
    }
    int total = 0;
    const cJSON *grp;
    cJSON_ArrayForEach(grp, root)
    {
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(grp, "weights");
        if (!cJSON_IsArray(ws)) {
            rc = lm_err_set(err, LM_EFORMAT, "%s: a group has no 'weights' array", manifest_path);
            goto fail;
        }
        total += cJSON_GetArraySize(ws);
    }
    w->t = calloc(total ? (size_t)total : 1, sizeof *w->t);
    if (!w->t) {
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory", manifest_path);
        goto fail;
    }
    int g = 0;
    cJSON_ArrayForEach(grp, root)
    {
        size_t len = 0, off = 0;
        rc = read_group(cJSON_GetObjectItemCaseSensitive(grp, "paths"), dir, manifest_path, g, &buf,
                        &len, shard, sizeof shard, err);
        if (rc) {
            goto fail;
        }
        const cJSON *e;
        int idx = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(grp, "weights"))
        {
            wt_tensor *t = &w->t[w->count];
            enum storage st = ST_F32;
            double scale = 1.0, min = 0.0;
            w->count++;
            rc = parse_entry(e, manifest_path, idx, t, &st, &scale, &min, err);
            if (rc) {
                goto fail;
            }
            size_t need = t->count * storage_bytes(st);
            if (need > len - off) {
                rc = lm_err_set(err, LM_EFORMAT,
                                "%s: shard data too short: tensor '%s' needs bytes %zu..%zu but "
                                "group %d has %zu bytes (truncated file?)",
                                shard, t->name, off, off + need, g, len);
                goto fail;
            }
            if (t->dtype == WT_INT32) {
                t->i = malloc(t->count ? t->count * 4 : 4);
            } else {
                t->f = malloc(t->count ? t->count * 4 : 4);
            }
            if (!t->i && !t->f) {
                rc = lm_err_set(err, -ENOMEM, "%s: out of memory for '%s'", manifest_path, t->name);
                goto fail;
            }
            decode(t, st, buf + off, scale, min);
            off += need;
            idx++;
        }
        if (off != len) {
            rc = lm_err_set(err, LM_EFORMAT,
                            "%s: %zu trailing bytes after the last tensor of group %d "
                            "(entries use %zu of %zu bytes)",
                            shard, len - off, g, off, len);
            goto fail;
        }
        free(buf);
        buf = NULL;
        g++;
    }
    cJSON_Delete(root);
    free(text);
    free(dir);
    *out = w;
    return 0;
fail:
    cJSON_Delete(root);
    free(text);
    free(buf);
    free(dir);
    wt_tfjs_free(w);
    return rc;
}

void wt_tfjs_free(wt_tfjs *w)
{
    if (!w) {
        return;
    }
    for (int k = 0; k < w->count; k++) {
        free(w->t[k].name);
        free(w->t[k].f);
        free(w->t[k].i);
    }
    free(w->t);
    free(w->path);
    free(w);
}

int wt_tfjs_count(const wt_tfjs *w)
{
    return w->count;
}

const wt_tensor *wt_tfjs_at(const wt_tfjs *w, int i)
{
    return (i >= 0 && i < w->count) ? &w->t[i] : NULL;
}

const char *wt_tfjs_path(const wt_tfjs *w)
{
    return w->path;
}

static void fmt_shape(char *s, size_t cap, int ndim, const int *shape)
{
    size_t n = (size_t)snprintf(s, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++) {
        n += (size_t)snprintf(s + n, cap - n, d ? ",%d" : "%d", shape[d]);
    }
    if (n < cap) {
        snprintf(s + n, cap - n, "]");
    }
}

int wt_tfjs_get(wt_tfjs *w, const char *name, int ndim, const int *shape, float **data, lm_err *err)
{
    *data = NULL;
    for (int k = 0; k < w->count; k++) {
        wt_tensor *t = &w->t[k];
        if (strcmp(t->name, name) != 0) {
            continue;
        }
        int ok = t->dtype == WT_FLOAT32 && t->ndim == ndim;
        for (int d = 0; ok && d < ndim; d++) {
            ok = t->shape[d] == shape[d];
        }
        if (!ok) {
            char want[128], got[128];
            fmt_shape(want, sizeof want, ndim, shape);
            fmt_shape(got, sizeof got, t->ndim, t->shape);
            return lm_err_set(err, LM_ESHAPE, "%s: tensor '%s': expected float32 %s, found %s %s",
                              w->path, name, want, t->dtype == WT_FLOAT32 ? "float32" : "int32",
                              got);
        }
        *data = t->f;
        return 0;
    }
    return lm_err_set(err, LM_ESHAPE, "%s: tensor '%s' missing from the manifest", w->path, name);
}
