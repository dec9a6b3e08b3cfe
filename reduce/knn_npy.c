/*
 * knn_npy.c - minimal .npy reader for descriptor files (lookalike
 * --descriptor, tests, benchmarks). NPY v1/v2 layout as in algorithms.md
 * section 1.3: magic, version, header length, a Python-dict header, data.
 */
#include "reduce/index.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Parse "(a,)" or "(a, b)" after 'shape': into dims; returns ndim or -1. */
static int parse_shape(const char *h, size_t dims[2])
{
    const char *p = strstr(h, "'shape'");
    if (p == NULL || (p = strchr(p, '(')) == NULL) {
        return -1;
    }
    p++;
    int nd = 0;
    for (;;) {
        while (*p == ' ') {
            p++;
        }
        if (*p == ')') {
            break;
        }
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || nd == 2) {
            return -1;
        }
        dims[nd++] = (size_t)v;
        p = end;
        while (*p == ' ') {
            p++;
        }
        if (*p == ',') {
            p++;
        } else if (*p != ')') {
            return -1;
        }
    }
    return nd;
}

int knn_npy_read_f32(const char *path, float **out, size_t *n, int *dim, lm_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        return lm_err_set(err, e == ENOENT ? LM_EMISSING : -e, "%s: cannot open: %s", path,
                          strerror(e));
    }
    int rc = 0;
    char *hdr = NULL;
    void *raw = NULL;
    unsigned char pre[12];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    size_t hl;
    if (pre[6] == 1) {
        hl = (size_t)pre[8] | ((size_t)pre[9] << 8);
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            rc = lm_err_set(err, LM_EFORMAT, "%s: truncated .npy header", path);
            goto done;
        }
        hl = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)pre[10] << 16) |
             ((size_t)pre[11] << 24);
    } else {
        rc = lm_err_set(err, LM_EFORMAT, "%s: unsupported .npy version %d", path, pre[6]);
        goto done;
    }
    if (hl > (1u << 20)) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: .npy header of %zu bytes is implausible", path, hl);
        goto done;
    }
    hdr = malloc(hl + 1);
    if (hdr == NULL || fread(hdr, 1, hl, f) != hl) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: truncated .npy header", path);
        goto done;
    }
    hdr[hl] = '\0';
    int f64;
    if (strstr(hdr, "'<f4'") != NULL) {
        f64 = 0;
    } else if (strstr(hdr, "'<f8'") != NULL) {
        f64 = 1;
    } else {
        rc = lm_err_set(err, LM_EFORMAT, "%s: dtype must be '<f4' or '<f8' (header: %s)", path,
                        hdr);
        goto done;
    }
    if (strstr(hdr, "'fortran_order': True") != NULL) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: Fortran-order arrays are not supported", path);
        goto done;
    }
    size_t dims[2] = {0, 0};
    int nd = parse_shape(hdr, dims);
    if (nd < 1) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: shape must be (dim,) or (n, dim) (header: %s)",
                        path, hdr);
        goto done;
    }
    size_t rows = nd == 1 ? 1 : dims[0], cols = nd == 1 ? dims[0] : dims[1];
    if (cols < 1 || cols > KNN_MAX_DIM || rows > ((size_t)1 << 34) / cols) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: shape (%zu, %zu) out of range", path, rows, cols);
        goto done;
    }
    size_t cnt = rows * cols, es = f64 ? 8 : 4;
    raw = malloc(cnt ? cnt * es : 1);
    float *v = malloc(cnt ? cnt * 4 : 4);
    if (raw == NULL || v == NULL) {
        free(v);
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t got = fread(raw, es, cnt, f);
    if (got != cnt) {
        free(v);
        rc = lm_err_set(err, LM_EFORMAT, "%s: truncated data: %zu of %zu values", path, got, cnt);
        goto done;
    }
    for (size_t i = 0; i < cnt; i++) {
        v[i] = f64 ? (float)((const double *)raw)[i] : ((const float *)raw)[i];
    }
    *out = v;
    *n = rows;
    *dim = (int)cols;
done:
    free(hdr);
    free(raw);
    fclose(f);
    return rc;
}
