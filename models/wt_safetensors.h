/*
 * wt_safetensors.h - reader and writer of .safetensors weight files.
 *
 * Sits under models/: network loaders (models/stylegan2.c, ...) open a file,
 * look tensors up by name and copy them into their own parameter blocks.
 * Format (huggingface safetensors): 8-byte little-endian header length n, n bytes
 * of UTF-8 JSON mapping each tensor name to {"dtype", "shape", "data_offsets"}
 * (offsets relative to the first byte after the header) plus an optional
 * "__metadata__" object of string -> string; then the raw little-endian data.
 * Every offset, length and shape is validated against the file size on open,
 * so a truncated or corrupt file fails with LM_EFORMAT naming file and tensor.
 * Dtypes F32, F16 and BF16 are read (converted to float32 on read).
 */
#ifndef WT_SAFETENSORS_H
#define WT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "shared/lm_err.h"

#define WT_MAX_DIMS 8

enum wt_dtype { WT_F32 = 0, WT_F16 = 1, WT_BF16 = 2 };

/* One tensor entry of an open file (read-only view). */
typedef struct wt_tensor {
    const char *name;
    enum wt_dtype dtype;
    int ndim; /* 0 for a scalar (shape []) */
    int64_t shape[WT_MAX_DIMS];
    int64_t numel;       /* product of shape (1 for a scalar) */
    uint64_t begin, end; /* byte offsets relative to the data section */
} wt_tensor;

typedef struct wt_safetensors wt_safetensors; /* opaque */

/* Open and validate `path`; the whole file is read into memory.
 * OUT *out: free with wt_safetensors_close.
 * Errors: -errno (open/read), -ENOMEM, LM_EFORMAT (bad header length, JSON,
 * dtype, shape, offsets outside the data section or not matching the shape). */
int wt_safetensors_open(wt_safetensors **out, const char *path, lm_err *err);

/* Free; accepts NULL. */
void wt_safetensors_close(wt_safetensors *st);

/* The file path given to open (for messages). */
const char *wt_safetensors_path(const wt_safetensors *st);

int wt_safetensors_count(const wt_safetensors *st);
const wt_tensor *wt_safetensors_at(const wt_safetensors *st, int i);
/* NULL when absent. */
const wt_tensor *wt_safetensors_find(const wt_safetensors *st, const char *name);

/* Value of a "__metadata__" key, NULL when absent. Valid until close. */
const char *wt_safetensors_meta(const wt_safetensors *st, const char *key);

/* Copy tensor `t` converted to float32 into dst (t->numel values). */
void wt_safetensors_read_f32(const wt_safetensors *st, const wt_tensor *t, float *dst);

/* Find `name`, check its shape equals shape[0..ndim) (ndim 0: scalar), copy as float32.
 * Errors: LM_ESHAPE (missing tensor or other shape; the message names file, tensor,
 * expected and found shapes). */
int wt_safetensors_get_f32(const wt_safetensors *st, const char *name, int ndim,
                           const int64_t *shape, float *dst, lm_err *err);

/* A tensor to write: float32 data, C order. */
typedef struct wt_tensor_out {
    const char *name;
    int ndim;
    int64_t shape[WT_MAX_DIMS];
    const float *data;
} wt_tensor_out;

/* Write an F32 safetensors file (header padded with spaces to 8-byte alignment).
 * meta_kv: n_meta pairs {key0, value0, key1, value1, ...} for "__metadata__" (may be NULL).
 * The file is written to path + ".tmp" and renamed, so a crash leaves no half file.
 * Errors: -errno, -ENOMEM, LM_ECONFIG (duplicate or empty tensor name). */
int wt_safetensors_save(const char *path, const wt_tensor_out *t, int n, const char *const *meta_kv,
                        int n_meta, lm_err *err);

#endif
