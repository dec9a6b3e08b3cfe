/*
 * stylegan2.h - the StyleGAN2 generator (NVlabs stylegan2-ada-pytorch, config-f / skip
 * architecture, any resolution 4..1024 and any channel widths), forward and backward
 * on the CPU reference kernels. Specification: docs of issue 4 (shared spec
 * "stylegan2.md"), sections 2-8; tensor names are the reference state_dict keys.
 *
 * Sits in models/, above kernels/ (op_conv2d, op_upconv2d, op_upfirdn2d, op_modconv,
 * op_bias_act, op_fc, op_pixnorm) and below node/ (inversion).
 *
 * Objects:
 *   sg2_model  immutable weights of one generator (one parameter block with named
 *              views), loaded from .safetensors or random-initialised. Thread-safe
 *              to share between contexts.
 *   sg2_ctx    activations, backward caches and scratch for up to `batch` images,
 *              sized once at creation (llm.c / ggml arena style). Nothing is
 *              allocated by the forward or backward calls. One thread of control
 *              per context (the calls themselves use OpenMP inside).
 *
 * Internally activations are channel-major (C, N, H, W) so the shared-weight
 * convolution of the non-fused modulated conv is one GEMM for the whole batch.
 * The public tensors are in the usual layouts: z [N, z_dim], w [N, w_dim],
 * ws [N, num_ws, w_dim], img [N, img_channels, R, R], noise maps [N, r, r].
 * Weights are frozen: backward computes gradients w.r.t. ws, noise maps and z only.
 */
#ifndef SG2_STYLEGAN2_H
#define SG2_STYLEGAN2_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shared/lm_err.h"

/* Generator constructor arguments (spec section 2). */
typedef struct sg2_config {
    int z_dim; /* 512 in official nets */
    int c_dim; /* must be 0 (conditional nets unsupported) */
    int w_dim;
    int img_resolution;   /* R, power of two, 4..1024 (larger is accepted but untested) */
    int img_channels;     /* 3 */
    int mapping_layers;   /* 8 (ADA "auto": 2) */
    int mapping_features; /* hidden width, default w_dim */
    float mapping_lr_mul; /* 0.01 */
    int channel_base;     /* 32768 config-f, 16384 paper256 */
    int channel_max;      /* 512 */
    float conv_clamp;     /* <= 0: none (ADA-trained nets: 256) */
    int num_ws;           /* derived: 2*log2(R) - 2 (filled by sg2_config_check) */
} sg2_config;

/* Config-f at resolution R with z = w = 512 and 8 mapping layers (spec defaults). */
void sg2_config_default(sg2_config *cfg, int img_resolution);

/* Parse the reference's `generator_kwargs` JSON (as stored in __metadata__) over the
 * spec defaults, then sg2_config_check. Errors: LM_ECONFIG (bad JSON, unsupported
 * option: c_dim > 0, architecture other than skip, non-[1,3,3,1] filter, no noise). */
int sg2_config_from_json(sg2_config *cfg, const char *json, lm_err *err);

/* Validate ranges and fill num_ws. Errors: LM_ECONFIG naming the field. */
int sg2_config_check(sg2_config *cfg, lm_err *err);

/* Channels of block r: min(channel_base / r, channel_max). */
int sg2_config_channels(const sg2_config *cfg, int res);

/* The generator_kwargs JSON of cfg (all fields explicit). OUT: free() it. NULL on ENOMEM. */
char *sg2_config_to_json(const sg2_config *cfg);

typedef struct sg2_model sg2_model;

/* Load a converted checkpoint (spec 8.1): config from __metadata__.generator_kwargs,
 * every tensor name, shape and dtype validated against it (missing, unexpected or
 * mis-shaped tensors and non-standard resample filters are errors).
 * OUT *out: free with sg2_model_free.
 * Errors: -errno, -ENOMEM, LM_EFORMAT (corrupt or truncated file), LM_ECONFIG (metadata),
 * LM_ESHAPE (names/shapes); the message names the file and the tensor. */
int sg2_model_load(sg2_model **out, const char *path, lm_err *err);

/* A generator with the reference's random initialisation (spec 7) drawn from `seed`:
 * conv/affine/torgb weights, const and noise maps N(0,1), mapping weights N(0,1)/lr_mul,
 * affine biases 1, other biases, noise strengths and w_avg 0.
 * Errors: LM_ECONFIG, -ENOMEM. */
int sg2_model_create_random(sg2_model **out, const sg2_config *cfg, uint64_t seed, lm_err *err);

/* Write the model as .safetensors in the reference layout (F32, all state_dict names
 * including resample_filter buffers, __metadata__.generator_kwargs, num_ws, format).
 * Errors: -errno, -ENOMEM. */
int sg2_model_save(const sg2_model *m, const char *path, lm_err *err);

/* sg2_model_create_random + sg2_model_save: a random-init generator file for tests,
 * benchmarks and `latentmill synth generator`. Errors as the two calls. */
int sg2_model_save_random(const char *path, const sg2_config *cfg, uint64_t seed, lm_err *err);

/* Free; accepts NULL. */
void sg2_model_free(sg2_model *m);

const sg2_config *sg2_model_config(const sg2_model *m);
/* Number of stored float values (parameters and buffers, without resample filters). */
size_t sg2_model_numel(const sg2_model *m);

/* Noise inputs: one per modulated conv layer (num_ws - 1 of them), in forward order
 * b4.conv1, b8.conv0, b8.conv1, ... Returns the map side r and sets *name (static
 * storage inside the model) to the layer name, e.g. "synthesis.b8.conv0". */
int sg2_model_num_noise(const sg2_model *m);
int sg2_model_noise_res(const sg2_model *m, int i, const char **name);
/* Multiply-adds of one synthesis forward per image (convolutions and GEMMs). */
double sg2_model_synthesis_macs(const sg2_model *m);

enum sg2_noise_mode {
    SG2_NOISE_CONST = 0,  /* the model's noise_const buffers (projector, tests) */
    SG2_NOISE_RANDOM = 1, /* fresh N(0,1) maps per image from the caller's RNG */
    SG2_NOISE_NONE = 2,   /* no noise */
    SG2_NOISE_USER = 3    /* per-image maps the caller wrote into sg2_ctx_noise() */
};

typedef struct sg2_ctx sg2_ctx;

/* Arena for up to `batch` images (activations kept for backward, scratch).
 * KEPT: m must outlive the context. OUT *out: free with sg2_ctx_free.
 * Errors: LM_ECONFIG (batch < 1), -ENOMEM (the message gives the size). */
int sg2_ctx_create(sg2_ctx **out, const sg2_model *m, int batch, lm_err *err);
void sg2_ctx_free(sg2_ctx *ctx);
/* Bytes held by the arena. */
size_t sg2_ctx_bytes(const sg2_ctx *ctx);

/* Per-image noise buffer of noise input i, [batch, r, r]: written by the caller for
 * SG2_NOISE_USER, filled by forward for SG2_NOISE_RANDOM. */
float *sg2_ctx_noise(sg2_ctx *ctx, int i);

/* Mapping: z [n, z_dim] -> w [n, w_dim] (no truncation). Keeps what
 * sg2_mapping_backward needs. Errors: LM_ECONFIG (n outside 1..batch). */
int sg2_mapping_forward(sg2_ctx *ctx, const float *z, int n, float *w, lm_err *err);
/* dz [n, z_dim] from dw [n, w_dim] for the last sg2_mapping_forward.
 * Errors: LM_ECONFIG (no mapping forward yet). */
int sg2_mapping_backward(sg2_ctx *ctx, const float *dw, float *dz, lm_err *err);

/* ws[n, j, :] = w[n, :] for every row j. */
void sg2_ws_broadcast(float *ws, const float *w, int n, int num_ws, int w_dim);
/* Truncation around mapping.w_avg: rows j < cutoff (all if cutoff <= 0) become
 * w_avg + psi*(ws - w_avg). In place. */
void sg2_ws_truncate(const sg2_model *m, float *ws, int n, float psi, int cutoff);
/* Gradient of a broadcast (and truncated with psi/cutoff) w from dws:
 * dw[n] = sum_j f_j dws[n, j] with f_j = psi for truncated rows, else 1. */
void sg2_ws_grad_to_w(float *dw, const float *dws, int n, int num_ws, int w_dim, float psi,
                      int cutoff);

/* Synthesis: ws [n, num_ws, w_dim] -> img [n, img_channels, R, R] (NCHW).
 * rng: state for SG2_NOISE_RANDOM (advanced; may be NULL for other modes).
 * Errors: LM_ECONFIG (n outside 1..batch, RANDOM without rng). */
int sg2_synthesis_forward(sg2_ctx *ctx, const float *ws, int n, enum sg2_noise_mode mode,
                          uint64_t *rng, float *img, lm_err *err);

/* Backward of the last sg2_synthesis_forward for dimg = dLoss/dimg [n, C, R, R]:
 * dws [n, num_ws, w_dim] (overwritten), dnoise[i] [n, r, r] per image (overwritten;
 * dnoise or any dnoise[i] may be NULL to skip). For SG2_NOISE_CONST the gradient of the
 * shared buffer is the sum over the batch. Errors: LM_ECONFIG (no forward yet). */
int sg2_synthesis_backward(sg2_ctx *ctx, const float *dimg, float *dws, float *const *dnoise,
                           lm_err *err);

/* Per-layer timing of sg2_synthesis_forward/backward, for finding where the time goes.
 * Off by default; on, it costs two clock reads per layer and op. sg2_ctx_profile(ctx, 1)
 * turns it on and zeroes the sums (0: off). sg2_ctx_profile_report writes, per layer,
 * the milliseconds per call of its convolution (conv1: the fused Winograd conv; conv0:
 * the up-sampling conv; torgb: the 1x1 modulated conv) and of the rest of the layer,
 * forward and backward, averaged over the calls since profiling was turned on; the
 * forward's affines and demodulation of all layers are one row. Errors: -ENOMEM. */
int sg2_ctx_profile(sg2_ctx *ctx, int on, lm_err *err);
void sg2_ctx_profile_report(const sg2_ctx *ctx, FILE *f);

/* Copy an intermediate of the last forward to out in the reference layout, by name:
 * "mapping.fc<l>" [n, features]; "synthesis.b<r>.conv0|conv1|torgb" [n, C, r, r] (layer
 * outputs), "synthesis.b<r>.<layer>.styles" [n, Cin] (the affine output; for torgb before
 * its 1/sqrt(Cin) weight gain), "synthesis.b<r>.x" and ".img" (block outputs). Returns the number
 * of floats written, or LM_EMISSING for an unknown name. */
int64_t sg2_ctx_activation(const sg2_ctx *ctx, const char *name, float *out);

/* Deterministic RNG (splitmix64 state passed by pointer): a standard normal sample. */
float sg2_rng_normal(uint64_t *state);

#endif
