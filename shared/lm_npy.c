/* lm_npy.c - .npy writer (see lm_npy.h). The header is padded to a fixed
 * 128 bytes so the row count can be rewritten in place at close. */
#include "shared/lm_npy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/lm_io.h"

#define NPY_HDR 128

static int write_header(lm_npy_writer *w, lm_err *err)
{
    char dict[NPY_HDR];
    char shape[256] = "";
    size_t l = 0;
    l += (size_t)snprintf(shape + l, sizeof shape - l, "(%llu,", (unsigned long long)w->rows);
    for (int i = 1; i < w->ndim; i++) {
        l += (size_t)snprintf(shape + l, sizeof shape - l, "%s%llu", i > 1 ? ", " : " ",
                              (unsigned long long)w->shape[i]);
    }
    snprintf(shape + l, sizeof shape - l, ")");
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     w->descr, shape);
    if (n < 0 || n > NPY_HDR - 11) {
        return lm_err_set(err, LM_EFORMAT, "%s: npy header too long", w->path);
    }
    unsigned char hdr[NPY_HDR];
    memset(hdr, ' ', sizeof hdr);
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (unsigned char)((NPY_HDR - 10) & 0xff);
    hdr[9] = (unsigned char)((NPY_HDR - 10) >> 8);
    memcpy(hdr + 10, dict, (size_t)n);
    hdr[NPY_HDR - 1] = '\n';
    if (fseek(w->f, 0, SEEK_SET) != 0 || fwrite(hdr, 1, NPY_HDR, w->f) != NPY_HDR) {
        return lm_err_set(err, -errno, "%s: write: %s", w->path, strerror(errno));
    }
    return 0;
}

int lm_npy_open(lm_npy_writer *w, const char *path, const char *descr, size_t elem_size,
                const uint64_t *row_shape, int row_ndim, lm_err *err)
{
    memset(w, 0, sizeof *w);
    if (row_ndim < 0 || row_ndim > 7) {
        return lm_err_set(err, LM_EFORMAT, "%s: too many dimensions", path);
    }
    w->path = strdup(path);
    size_t tl = strlen(path) + 16;
    w->tmp = malloc(tl);
    if (w->path == NULL || w->tmp == NULL) {
        lm_npy_abort(w);
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    snprintf(w->tmp, tl, "%s.tmp", path);
    w->descr = descr;
    w->ndim = row_ndim + 1;
    w->row_bytes = elem_size;
    for (int i = 0; i < row_ndim; i++) {
        w->shape[i + 1] = row_shape[i];
        w->row_bytes *= row_shape[i];
    }
    w->f = fopen(w->tmp, "wb");
    if (w->f == NULL) {
        int rc = lm_err_set(err, -errno, "%s: %s", w->tmp, strerror(errno));
        lm_npy_abort(w);
        return rc;
    }
    int rc = write_header(w, err);
    if (rc != 0) {
        lm_npy_abort(w);
    }
    return rc;
}

int lm_npy_append(lm_npy_writer *w, const void *row, lm_err *err)
{
    if (w->row_bytes > 0 && fwrite(row, 1, w->row_bytes, w->f) != w->row_bytes) {
        return lm_err_set(err, -errno, "%s: write: %s", w->path, strerror(errno));
    }
    w->rows++;
    return 0;
}

int lm_npy_close(lm_npy_writer *w, lm_err *err)
{
    int rc = write_header(w, err);
    if (rc == 0 && (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)) {
        rc = lm_err_set(err, -errno, "%s: %s", w->path, strerror(errno));
    }
    if (fclose(w->f) != 0 && rc == 0) {
        rc = lm_err_set(err, -errno, "%s: %s", w->path, strerror(errno));
    }
    w->f = NULL;
    if (rc == 0 && rename(w->tmp, w->path) != 0) {
        rc = lm_err_set(err, -errno, "%s: rename: %s", w->path, strerror(errno));
    }
    if (rc != 0) {
        unlink(w->tmp);
    }
    free(w->path);
    free(w->tmp);
    w->path = w->tmp = NULL;
    return rc;
}

void lm_npy_abort(lm_npy_writer *w)
{
    if (w->f != NULL) {
        fclose(w->f);
        w->f = NULL;
    }
    if (w->tmp != NULL) {
        unlink(w->tmp);
    }
    free(w->path);
    free(w->tmp);
    w->path = w->tmp = NULL;
}

int lm_npy_save(const char *path, const char *descr, size_t elem_size, const uint64_t *shape,
                int ndim, const void *data, lm_err *err)
{
    lm_npy_writer w;
    if (ndim < 1) {
        return lm_err_set(err, LM_EFORMAT, "%s: npy needs at least one dimension", path);
    }
    int rc = lm_npy_open(&w, path, descr, elem_size, shape + 1, ndim - 1, err);
    if (rc != 0) {
        return rc;
    }
    const unsigned char *p = data;
    for (uint64_t i = 0; i < shape[0] && rc == 0; i++) {
        rc = lm_npy_append(&w, p + i * w.row_bytes, err);
    }
    if (rc != 0) {
        lm_npy_abort(&w);
        return rc;
    }
    return lm_npy_close(&w, err);
}

int lm_npy_load_f32(const char *path, float **data, uint64_t shape[4], int *ndim, lm_err *err)
{
    *data = NULL;
    *ndim = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return lm_err_set(err, -errno, "%s: cannot open: %s", path, strerror(errno));
    }
    int rc = 0;
    char *hdr = NULL;
    unsigned char pre[12];
    size_t hl = 0;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: not a .npy file (bad magic)", path);
        goto out;
    }
    if (pre[6] == 1) {
        hl = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            rc = lm_err_set(err, LM_EFORMAT, "%s: truncated .npy header", path);
            goto out;
        }
        hl = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else {
        rc = lm_err_set(err, LM_EFORMAT, "%s: unsupported .npy version %d", path, pre[6]);
        goto out;
    }
    if (hl > ((size_t)1 << 20) || (hdr = calloc(1, hl + 1)) == NULL || fread(hdr, 1, hl, f) != hl) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: bad or truncated .npy header (%zu bytes)", path, hl);
        goto out;
    }
    int f8 = 0;
    if (strstr(hdr, "'<f8'") != NULL) {
        f8 = 1;
    } else if (strstr(hdr, "'<f4'") == NULL) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: dtype must be '<f4' or '<f8' (header: %s)", path,
                        hdr);
        goto out;
    }
    if (strstr(hdr, "'fortran_order': True") != NULL) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: Fortran-order arrays are not supported", path);
        goto out;
    }
    const char *sp = strstr(hdr, "'shape':");
    const char *q = sp != NULL ? strchr(sp, '(') : NULL;
    if (q == NULL) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: no shape in the .npy header", path);
        goto out;
    }
    uint64_t count = 1;
    for (q++;;) {
        while (*q == ' ' || *q == ',') {
            q++;
        }
        if (*q == ')') {
            break;
        }
        char *end = NULL;
        unsigned long long v = strtoull(q, &end, 10);
        if (end == q || *ndim == 4 || v > ((uint64_t)1 << 32)) {
            rc = lm_err_set(err, LM_EFORMAT, "%s: bad shape (at most 4 dimensions): %s", path, hdr);
            goto out;
        }
        shape[(*ndim)++] = v;
        count *= v;
        q = end;
    }
    if (count > ((uint64_t)1 << 32)) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: %llu elements is more than supported", path,
                        (unsigned long long)count);
        goto out;
    }
    float *d = malloc(count ? (size_t)count * sizeof(float) : sizeof(float));
    if (d == NULL) {
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    size_t got = 0;
    if (f8) {
        double x;
        while (got < count && fread(&x, 8, 1, f) == 1) {
            d[got++] = (float)x;
        }
    } else {
        got = fread(d, sizeof(float), (size_t)count, f);
    }
    if (got != count) {
        free(d);
        rc = lm_err_set(err, LM_EFORMAT, "%s: truncated data: %zu of %llu values", path, got,
                        (unsigned long long)count);
        goto out;
    }
    *data = d;
out:
    free(hdr);
    fclose(f);
    return rc;
}
