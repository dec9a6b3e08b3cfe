/*
 * lm_npy.h - NumPy .npy files (format version 1.0), written with a header
 * numpy.load reads directly. Little-endian, C order.
 */
#ifndef LM_NPY_H
#define LM_NPY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shared/lm_err.h"

/* descr: "<f4", "|u1", "<i4", "<f8". */
typedef struct lm_npy_writer {
    FILE *f;
    char *path, *tmp;
    const char *descr;
    int ndim;
    uint64_t shape[8];   /* shape[0] is fixed up at close (rows written) */
    uint64_t rows;
    size_t row_bytes;
} lm_npy_writer;

/* Start a file whose rows have shape row_shape[0..row_ndim-1] of elem_size-byte
 * elements. Written to a temp file and renamed at close (atomic). */
int lm_npy_open(lm_npy_writer *w, const char *path, const char *descr, size_t elem_size,
                const uint64_t *row_shape, int row_ndim, lm_err *err);
int lm_npy_append(lm_npy_writer *w, const void *row, lm_err *err);
/* Fix the row count in the header, fsync, rename. */
int lm_npy_close(lm_npy_writer *w, lm_err *err);
/* Drop an unfinished file. */
void lm_npy_abort(lm_npy_writer *w);

/* One-shot: write a whole array. */
int lm_npy_save(const char *path, const char *descr, size_t elem_size, const uint64_t *shape,
                int ndim, const void *data, lm_err *err);

/* Read a little-endian '<f4' or '<f8' C-order array of at most 4 dimensions
 * (NPY versions 1-3) as float32. OUT *data (free()), shape[0..*ndim-1].
 * Errors: -errno (cannot open), LM_EFORMAT naming the file and what is wrong
 * (magic, version, header, dtype, Fortran order, shape, truncated data),
 * -ENOMEM. */
int lm_npy_load_f32(const char *path, float **data, uint64_t shape[4], int *ndim, lm_err *err);

#endif
