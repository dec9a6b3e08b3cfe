/*
 * wt_tfjs.h - loader for TensorFlow.js weights manifests (face-api models).
 *
 * Reads `<prefix>-weights_manifest.json` (a JSON array of groups, each with
 * `paths` and `weights`) and the group's shard files concatenated in order,
 * decodes every entry to float32 (or int32) - raw little-endian float32/int32,
 * uint8/uint16 dequantised as q*scale+min in double then stored as float32,
 * float16 widened - and serves tensors by name with a shape check. Format:
 * specs/face-models.md section 2 (TF.js `decodeWeights`).
 *
 * Sits under models/: the face networks (fdet_, lmk_, frec_, fexp_, fage_)
 * load their parameters through it.
 */
#ifndef WT_TFJS_H
#define WT_TFJS_H

#include <stddef.h>
#include <stdint.h>

#include "shared/lm_err.h"

#define WT_TFJS_MAX_DIMS 8

enum wt_dtype { WT_FLOAT32 = 0, WT_INT32 = 1 };

/* One decoded entry. `f` is set for float32 entries, `i` for int32 ones. */
typedef struct wt_tensor {
    char *name;
    int ndim; /* 0 for a scalar */
    int shape[WT_TFJS_MAX_DIMS];
    size_t count; /* product of shape (1 for a scalar) */
    enum wt_dtype dtype;
    float *f;
    int32_t *i;
} wt_tensor;

typedef struct wt_tfjs wt_tfjs; /* opaque: all tensors of one manifest */

/* Load a manifest and its shards (paths relative to the manifest's directory).
 * OUT *out: free with wt_tfjs_free. Errors: -errno / LM_EMISSING (a file cannot
 * be opened; the message names it), LM_EFORMAT (not JSON, bad entry, unknown
 * dtype, shard shorter or longer than the entries need; the message names the
 * file, entry and byte offset), -ENOMEM. */
int wt_tfjs_load(wt_tfjs **out, const char *manifest_path, lm_err *err);

/* Free everything; accepts NULL. */
void wt_tfjs_free(wt_tfjs *w);

/* Number of entries, and entry i (0 <= i < count) in manifest order. */
int wt_tfjs_count(const wt_tfjs *w);
const wt_tensor *wt_tfjs_at(const wt_tfjs *w, int i);

/* Find a float32 tensor by name and check its shape (ndim, shape[0..ndim-1]).
 * OUT *data points into w (valid until wt_tfjs_free; the caller may modify the
 * values in place, e.g. to fold a batch norm). Errors: LM_ESHAPE (name missing,
 * wrong dtype or shape; the message names manifest, tensor, expected and found
 * shape). */
int wt_tfjs_get(wt_tfjs *w, const char *name, int ndim, const int *shape, float **data,
                lm_err *err);

/* Path of the manifest this was loaded from (for messages). */
const char *wt_tfjs_path(const wt_tfjs *w);

#endif
