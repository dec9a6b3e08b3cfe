/*
 * knn_npy.c - descriptor files (lookalike --descriptor, tests, benchmarks):
 * the shared .npy reader (shared/lm_npy.h) plus the index's shape rules.
 */
#include "reduce/index.h"
#include "shared/lm_npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int knn_npy_read_f32(const char *path, float **out, size_t *n, int *dim, lm_err *err)
{
    uint64_t shape[4];
    int nd = 0;
    int rc = lm_npy_load_f32(path, out, shape, &nd, err);
    if (rc == -ENOENT) {
        return lm_err_set(err, LM_EMISSING, "%s: cannot open: %s", path, strerror(ENOENT));
    }
    if (rc != 0) {
        return rc;
    }
    size_t rows = nd == 1 ? 1 : (size_t)shape[0], cols = nd >= 1 ? (size_t)shape[nd - 1] : 0;
    if (nd < 1 || nd > 2) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: shape must be (dim,) or (n, dim), found %d-D", path,
                        nd);
    } else if (cols < 1 || cols > KNN_MAX_DIM || rows > ((size_t)1 << 34) / cols) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: shape (%zu, %zu) out of range", path, rows, cols);
    }
    if (rc != 0) {
        free(*out);
        *out = NULL;
        return rc;
    }
    *n = rows;
    *dim = (int)cols;
    return 0;
}
