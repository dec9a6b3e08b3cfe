/*
 * wt_safetensors.c - safetensors reader/writer (see wt_safetensors.h).
 * Format reference: huggingface/safetensors README ("Format" section).
 */
#include "models/wt_safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wt_safetensors {
    char *path;
    unsigned char *buf; /* whole file */
    size_t size;
    const unsigned char *data; /* first byte after the header */
    size_t data_size;
    cJSON *json;
    wt_tensor *tensors;
    int n;
    cJSON *meta; /* "__metadata__" object or NULL (owned by json) */
};

static int read_file(const char *path, unsigned char **out, size_t *size, lm_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return lm_err_set(err, -e, "%s: cannot open: %s", path, strerror(e));
    }
    int rc = 0;
    unsigned char *b = NULL;
    if (fseeko(f, 0, SEEK_END) != 0) {
        rc = lm_err_set(err, -errno, "%s: cannot seek: %s", path, strerror(errno));
        goto close_file;
    }
    off_t len = ftello(f);
    if (len < 0 || fseeko(f, 0, SEEK_SET) != 0) {
        rc = lm_err_set(err, -errno, "%s: cannot tell size: %s", path, strerror(errno));
        goto close_file;
    }
    b = malloc(len > 0 ? (size_t)len : 1);
    if (!b) {
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory reading %lld bytes", path, (long long)len);
        goto close_file;
    }
    if (len > 0 && fread(b, 1, (size_t)len, f) != (size_t)len) {
        rc = lm_err_set(err, ferror(f) ? -EIO : LM_EFORMAT, "%s: short read", path);
        free(b);
        b = NULL;
        goto close_file;
    }
    *out = b;
    *size = (size_t)len;
close_file:
    fclose(f);
    return rc;
}

static size_t dtype_size(enum wt_dtype d)
{
    return d == WT_F32 ? 4 : 2;
}

static int parse_dtype(const char *s, enum wt_dtype *d)
{
    if (strcmp(s, "F32") == 0) {
        *d = WT_F32;
    } else if (strcmp(s, "F16") == 0) {
        *d = WT_F16;
    } else if (strcmp(s, "BF16") == 0) {
        *d = WT_BF16;
    } else {
        return -1;
    }
    return 0;
}

/* Parse a JSON number that must be a non-negative integer below 2^53. */
static int json_uint(const cJSON *j, uint64_t *v)
{
    if (!cJSON_IsNumber(j)) {
        return -1;
    }
    double x = j->valuedouble;
    if (!(x >= 0 && x <= 9007199254740992.0) || x != (double)(uint64_t)x) {
        return -1;
    }
    *v = (uint64_t)x;
    return 0;
}

static int parse_tensor(wt_safetensors *st, const cJSON *e, wt_tensor *t, lm_err *err)
{
    const char *p = st->path;
    t->name = e->string;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off)) {
        return lm_err_set(err, LM_EFORMAT,
                          "%s: tensor '%s': header entry needs dtype, shape and data_offsets", p,
                          t->name);
    }
    if (parse_dtype(dt->valuestring, &t->dtype) != 0) {
        return lm_err_set(err, LM_EFORMAT, "%s: tensor '%s': unsupported dtype %s (F32, F16, BF16)",
                          p, t->name, dt->valuestring);
    }
    int nd = cJSON_GetArraySize(sh);
    if (nd > WT_MAX_DIMS) {
        return lm_err_set(err, LM_EFORMAT, "%s: tensor '%s': %d dimensions (max %d)", p, t->name,
                          nd, WT_MAX_DIMS);
    }
    t->ndim = nd;
    uint64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        uint64_t v;
        if (json_uint(cJSON_GetArrayItem(sh, i), &v) != 0 || v > ((uint64_t)1 << 40)) {
            return lm_err_set(err, LM_EFORMAT, "%s: tensor '%s': bad shape entry %d", p, t->name,
                              i);
        }
        t->shape[i] = (int64_t)v;
        if (v != 0 && numel > ((uint64_t)1 << 50) / v) {
            return lm_err_set(err, LM_EFORMAT, "%s: tensor '%s': shape too large", p, t->name);
        }
        numel *= v;
    }
    t->numel = (int64_t)numel;
    uint64_t b, en;
    if (cJSON_GetArraySize(off) != 2 || json_uint(cJSON_GetArrayItem(off, 0), &b) != 0 ||
        json_uint(cJSON_GetArrayItem(off, 1), &en) != 0 || b > en) {
        return lm_err_set(err, LM_EFORMAT, "%s: tensor '%s': bad data_offsets", p, t->name);
    }
    if (en > st->data_size) {
        return lm_err_set(err, LM_EFORMAT,
                          "%s: tensor '%s': data [%llu, %llu) extends beyond the data section "
                          "(%zu bytes; file truncated?)",
                          p, t->name, (unsigned long long)b, (unsigned long long)en, st->data_size);
    }
    if (en - b != numel * dtype_size(t->dtype)) {
        return lm_err_set(err, LM_EFORMAT,
                          "%s: tensor '%s': %llu data bytes but shape and dtype need %llu", p,
                          t->name, (unsigned long long)(en - b),
                          (unsigned long long)(numel * dtype_size(t->dtype)));
    }
    t->begin = b;
    t->end = en;
    return 0;
}

int wt_safetensors_open(wt_safetensors **out, const char *path, lm_err *err)
{
    *out = NULL;
    wt_safetensors *st = calloc(1, sizeof(*st));
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return lm_err_set(err, -ENOMEM, "%s: out of memory", path);
    }
    int rc = read_file(path, &st->buf, &st->size, err);
    if (rc != 0) {
        goto fail;
    }
    if (st->size < 8) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: %zu bytes, too short for a safetensors header", path,
                        st->size);
        goto fail;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) {
        n = (n << 8) | st->buf[i];
    }
    if (n > st->size - 8) {
        rc = lm_err_set(err, LM_EFORMAT,
                        "%s: header length %llu beyond the end of the file (%zu bytes; truncated "
                        "or not safetensors)",
                        path, (unsigned long long)n, st->size);
        goto fail;
    }
    st->data = st->buf + 8 + n;
    st->data_size = st->size - 8 - (size_t)n;
    st->json = cJSON_ParseWithLength((const char *)st->buf + 8, (size_t)n);
    if (!st->json || !cJSON_IsObject(st->json)) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: header is not a JSON object", path);
        goto fail;
    }
    int cnt = cJSON_GetArraySize(st->json);
    st->tensors = calloc(cnt > 0 ? (size_t)cnt : 1, sizeof(wt_tensor));
    if (!st->tensors) {
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, st->json)
    {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(e)) {
                rc = lm_err_set(err, LM_EFORMAT, "%s: __metadata__ is not an object", path);
                goto fail;
            }
            const cJSON *m;
            cJSON_ArrayForEach(m, e)
            {
                if (!cJSON_IsString(m)) {
                    rc = lm_err_set(err, LM_EFORMAT, "%s: __metadata__ value '%s' is not a string",
                                    path, m->string);
                    goto fail;
                }
            }
            st->meta = (cJSON *)e;
            continue;
        }
        rc = parse_tensor(st, e, &st->tensors[st->n], err);
        if (rc != 0) {
            goto fail;
        }
        st->n++;
    }
    *out = st;
    return 0;
fail:
    wt_safetensors_close(st);
    return rc;
}

void wt_safetensors_close(wt_safetensors *st)
{
    if (!st) {
        return;
    }
    cJSON_Delete(st->json);
    free(st->tensors);
    free(st->buf);
    free(st->path);
    free(st);
}

const char *wt_safetensors_path(const wt_safetensors *st)
{
    return st->path;
}

int wt_safetensors_count(const wt_safetensors *st)
{
    return st->n;
}

const wt_tensor *wt_safetensors_at(const wt_safetensors *st, int i)
{
    return (i >= 0 && i < st->n) ? &st->tensors[i] : NULL;
}

const wt_tensor *wt_safetensors_find(const wt_safetensors *st, const char *name)
{
    for (int i = 0; i < st->n; i++) {
        if (strcmp(st->tensors[i].name, name) == 0) {
            return &st->tensors[i];
        }
    }
    return NULL;
}

const char *wt_safetensors_meta(const wt_safetensors *st, const char *key)
{
    if (!st->meta) {
        return NULL;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(st->meta, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {
            /* Subnormal: renormalise. */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void wt_safetensors_read_f32(const wt_safetensors *st, const wt_tensor *t, float *dst)
{
    const unsigned char *s = st->data + t->begin;
    for (int64_t i = 0; i < t->numel; i++) {
        if (t->dtype == WT_F32) {
            uint32_t b = (uint32_t)s[4 * i] | (uint32_t)s[4 * i + 1] << 8 |
                         (uint32_t)s[4 * i + 2] << 16 | (uint32_t)s[4 * i + 3] << 24;
            memcpy(&dst[i], &b, 4);
        } else {
            uint16_t h = (uint16_t)(s[2 * i] | s[2 * i + 1] << 8);
            if (t->dtype == WT_F16) {
                dst[i] = half_to_float(h);
            } else {
                uint32_t b = (uint32_t)h << 16;
                memcpy(&dst[i], &b, 4);
            }
        }
    }
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++) {
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    }
    if (k < cap) {
        snprintf(buf + k, cap - k, "]");
    }
}

int wt_safetensors_get_f32(const wt_safetensors *st, const char *name, int ndim,
                           const int64_t *shape, float *dst, lm_err *err)
{
    const wt_tensor *t = wt_safetensors_find(st, name);
    char want[160], got[160];
    shape_str(want, sizeof want, ndim, shape);
    if (!t) {
        return lm_err_set(err, LM_ESHAPE, "%s: tensor '%s' %s missing", st->path, name, want);
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) {
        same = t->shape[i] == shape[i];
    }
    if (!same) {
        shape_str(got, sizeof got, t->ndim, t->shape);
        return lm_err_set(err, LM_ESHAPE, "%s: tensor '%s' has shape %s, expected %s", st->path,
                          name, got, want);
    }
    wt_safetensors_read_f32(st, t, dst);
    return 0;
}

int wt_safetensors_save(const char *path, const wt_tensor_out *t, int n, const char *const *meta_kv,
                        int n_meta, lm_err *err)
{
    int rc = 0;
    char *hdr = NULL, *tmp = NULL;
    FILE *f = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root) {
        return lm_err_set(err, -ENOMEM, "%s: out of memory", path);
    }
    if (n_meta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; m && i < n_meta; i++) {
            cJSON_AddStringToObject(m, meta_kv[2 * i], meta_kv[2 * i + 1]);
        }
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        if (!t[i].name || !t[i].name[0] || cJSON_GetObjectItemCaseSensitive(root, t[i].name)) {
            rc = lm_err_set(err, LM_ECONFIG, "%s: empty or duplicate tensor name '%s'", path,
                            t[i].name ? t[i].name : "");
            goto done;
        }
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        uint64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d]));
            numel *= (uint64_t)t[i].shape[d];
        }
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        off += numel * 4;
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
    }
    hdr = cJSON_PrintUnformatted(root);
    tmp = malloc(strlen(path) + 8);
    if (!hdr || !tmp) {
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory", path);
        goto done;
    }
    sprintf(tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) {
        rc = lm_err_set(err, -errno, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    size_t hl = strlen(hdr), padded = (8 + hl + 7) / 8 * 8 - 8;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) {
        len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    }
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hl, f) == hl;
    for (size_t i = hl; ok && i < padded; i++) {
        ok = fputc(' ', f) != EOF;
    }
    for (int i = 0; ok && i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            numel *= t[i].shape[d];
        }
        /* float32 little-endian: the host order on every platform we build for. */
        ok = fwrite(t[i].data, 4, (size_t)numel, f) == (size_t)numel;
    }
    if (fclose(f) != 0) {
        ok = 0;
    }
    f = NULL;
    if (!ok) {
        rc = lm_err_set(err, -EIO, "%s: write failed", tmp);
        remove(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        rc = lm_err_set(err, -errno, "%s: cannot rename from %s: %s", path, tmp, strerror(errno));
        remove(tmp);
    }
done:
    if (f) {
        fclose(f);
        remove(tmp);
    }
    free(tmp);
    free(hdr);
    cJSON_Delete(root);
    return rc;
}
