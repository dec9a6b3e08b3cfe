/*
 * invert.h - GAN inversion: images to StyleGAN2 latents by optimisation (NVlabs
 * projector schedule, shared spec "stylegan2.md" section 9), for a batch of images
 * with per-image latents and shared generator weights.
 *
 * Sits in models/, above models/stylegan2 (synthesis forward/backward) and
 * kernels/op_adam, below node/stage_invert.c (the `invert` stage) and cli/cmd_invert.c.
 *
 * What is optimised per image: one w broadcast to all num_ws rows (space w, as NVlabs)
 * or one w per row (space wplus), and, unless disabled, the image's own noise maps
 * (one per modulated conv, fresh N(0,1) at the start, renormalised after every step).
 *
 * Loss per image: mse_weight * mean((G(w) - target)^2) on images in [-1, 1], both
 * box-downsampled to min(R, loss_res) (NVlabs: area downsampling to 256), plus
 * noise_reg * the NVlabs noise regulariser (autocorrelation pyramid of every noise map).
 * No perceptual or identity term exists yet (the face-recognition network has no
 * input-gradient backward); the data term is pixel MSE only.
 *
 * Schedule (t = step / steps): lr_t = lr * min(1, t / lr_rampup) * (1/2 - 1/2 cos(pi *
 * min(1, (1 - t) / lr_rampdown))); w-noise sigma_t = w_std * w_noise * max(0, 1 -
 * t / w_noise_ramp)^2, one N(0, I) draw per image per step added to every row.
 * Adam (beta1, beta2, eps) per image; early stopping per image when the data loss has
 * not improved by a relative min_delta for `patience` steps (0: off), counted from the end
 * of the lr ramp-up.
 *
 * Reproducibility: every random number of an image (noise maps, w-noise) comes from
 * that image's own splitmix64 state (seed passed in), so an image's result does not
 * depend on the other images of its batch beyond float rounding of batched GEMMs.
 * Nothing is allocated inside inv_run.
 */
#ifndef INV_INVERT_H
#define INV_INVERT_H

#include <stddef.h>
#include <stdint.h>

#include "models/stylegan2.h"
#include "shared/lm_err.h"
#include "shared/lm_img.h"

enum inv_space { INV_SPACE_W = 0, INV_SPACE_WPLUS = 1 };

typedef struct inv_params {
    int space;           /* INV_SPACE_W (default) or INV_SPACE_WPLUS */
    int steps;           /* 1000 (NVlabs) */
    float lr;            /* 0.1 initial_learning_rate */
    float lr_rampup;     /* 0.05 */
    float lr_rampdown;   /* 0.25 */
    float w_noise;       /* 0.05 initial_noise_factor */
    float w_noise_ramp;  /* 0.75 noise_ramp_length */
    float noise_reg;     /* 1e5 regularize_noise_weight */
    int optimize_noise;  /* 1: optimise per-image noise maps; 0: the model's noise_const */
    float mse_weight;    /* 1 */
    int loss_res;        /* 256: the loss is computed at min(R, loss_res) */
    int patience;        /* 0: no early stopping */
    float min_delta;     /* relative improvement that resets the patience counter */
    float beta1, beta2, eps; /* 0.9, 0.999, 1e-8 */
} inv_params;

/* NVlabs defaults (space w, 1000 steps, no early stopping). */
void inv_params_default(inv_params *p);
/* Range checks. Errors: LM_ECONFIG naming the field. */
int inv_params_check(const inv_params *p, const sg2_config *cfg, lm_err *err);

/* Learning rate and w-noise factor (without w_std) at step of steps (spec 9 step 4). */
float inv_schedule_lr(const inv_params *p, int step, int steps);
float inv_schedule_wnoise(const inv_params *p, int step, int steps);

/* NVlabs W statistics: `samples` z ~ N(0,1) from splitmix64 `seed`, mapped (psi = 1):
 * w_avg [w_dim] = mean, *w_std = sqrt(sum of squared deviations / samples) (one scalar).
 * Errors: -ENOMEM, LM_ECONFIG. */
int inv_wstats_compute(const sg2_model *m, int samples, uint64_t seed, float *w_avg,
                       float *w_std, lm_err *err);
/* The same, cached next to the model: MODEL.wavg-<samples>.npy, float32 [w_dim + 1]
 * (w_avg then w_std), recomputed when missing, malformed or older than the model,
 * written atomically (temp + rename; several ranks may race, each writes the same
 * values). A read-only model directory only costs the recomputation (logged).
 * *cached is set to 1 when the file was used. */
int inv_wstats_load(const sg2_model *m, const char *model_path, int samples, float *w_avg,
                    float *w_std, int *cached, lm_err *err);

/* Nearest-neighbour initialiser: a bank of K generated samples, each stored as its w
 * [w_dim] followed by a thumbnail descriptor of its image (3 x T x T box-downsampled
 * pixels, T = min(16, R)); an image starts from the w of the bank sample whose thumbnail
 * is nearest (L2). (Pixel thumbnails, not face descriptors.) Bank row stride:
 * inv_bank_stride(). Samples: z ~ N(0,1) from splitmix64 seed, psi = 1, noise const. */
int inv_bank_stride(const sg2_model *m);
int inv_bank_build(const sg2_model *m, int K, uint64_t seed, float *bank, lm_err *err);
/* Cached next to the model as MODEL.nnbank-K.npy [K, stride] (same rules as the w_avg
 * cache). OUT *bank (free()). */
int inv_bank_load(const sg2_model *m, const char *model_path, int K, float **bank, int *cached,
                  lm_err *err);
/* w_out [w_dim] = w of the bank row nearest to target [C, R, R] (in [-1, 1]). Returns the
 * row index. */
int inv_bank_nearest(const sg2_model *m, const float *bank, int K, const float *target,
                     float *w_out);

/* Per-image outcome of inv_run. */
typedef struct inv_result {
    int steps;       /* optimisation steps taken (< params.steps when stopped early) */
    float loss;      /* final total: mse_weight*mse + noise_reg*reg */
    float mse;       /* final pixel MSE at the loss resolution (images in [-1, 1]) */
    float reg;       /* final noise regulariser (before its weight) */
    float psnr;      /* reconstruction (clamped to [-1,1]) vs target at R, peak-to-peak 2 */
    double seconds;  /* wall time of the batch divided by its images */
} inv_result;

typedef struct inv_ctx inv_ctx;

/* Everything for up to `batch` images: generator context, latents, Adam moments, noise
 * maps, gradients, images. KEPT: m outlives the context. OUT *out (inv_ctx_free).
 * Errors: LM_ECONFIG (params), -ENOMEM. */
int inv_ctx_create(inv_ctx **out, const sg2_model *m, const inv_params *p, int batch,
                   lm_err *err);
void inv_ctx_free(inv_ctx *c);
size_t inv_ctx_bytes(const inv_ctx *c);
/* Rows of one latent: 1 (w) or num_ws (wplus). */
int inv_ctx_rows(const inv_ctx *c);
/* Start point and noise scale: w_avg [w_dim] (copied) and w_std. Required before inv_run
 * unless every call passes w_init. */
void inv_ctx_set_wstats(inv_ctx *c, const float *w_avg, float w_std);
/* Optional per-step callback (tests, progress): the data loss (mse_weight*mse) of each of
 * the n images at this step (before its update); images already stopped repeat their
 * last value. */
typedef void (*inv_step_fn)(void *user, int step, int n, const float *loss);
void inv_ctx_set_hook(inv_ctx *c, inv_step_fn fn, void *user);

/* Invert n (1..batch) images. target [n, C, R, R] in [-1, 1] (see inv_target_from_u8);
 * seeds [n] per-image RNG seeds; w_init [n, w_dim] start points or NULL (w_avg).
 * OUT latent [n, rows, w_dim]; recon [n, C, R, R] or NULL (the final image, no w-noise);
 * res [n]. Errors: LM_ECONFIG (n, no w statistics), LM_ENUMERIC (NaN/Inf loss: the
 * message names the image index and step). */
int inv_run(inv_ctx *c, const float *target, int n, const uint64_t *seeds, const float *w_init,
            float *latent, float *recon, inv_result *res, lm_err *err);

/* NVlabs noise regulariser of one [r, r] map (r a power of two >= 4): sum over the
 * levels r, r/2, ..., 8 (one level when r <= 8) of the 2x2-average-pooled map of
 * mean(n * roll_x(n))^2 + mean(n * roll_y(n))^2 (circular shifts by one pixel).
 * Adds weight * d(reg)/dn to g [r, r]; scratch holds 4*r*r floats. Returns reg. */
double inv_noise_reg(const float *n, float *g, int r, float weight, float *scratch);

/* u8 HWC (c = 3) at R x R -> float CHW in [-1, 1]: x = u/127.5 - 1. */
void inv_target_from_u8(float *dst, const uint8_t *hwc, int R, int C);
/* An image of any size -> target [C, R, R] in [-1, 1]: centre crop to a square (NVlabs),
 * antialiased resize to R (lm_img_resize), then inv_target_from_u8. Errors: -ENOMEM. */
int inv_target_from_image(float *dst, const lm_image *im, int R, lm_err *err);
/* float CHW -> u8 HWC: round((x + 1) * 127.5) clamped to 0..255 (= the reference
 * generate script's clamp(x*127.5 + 128) truncation). */
void inv_image_to_u8(uint8_t *hwc, const float *chw, int R, int C);
/* PSNR (dB) of a [-1, 1] image (clamped) against a target, peak-to-peak 2. */
float inv_psnr(const float *img, const float *target, size_t count);

/* A float32 .npy file (any shape up to 4 dims, '<f4' or '<f8' converted, C order).
 * OUT *data (free()), shape[0..*ndim-1]. Errors: -errno, LM_EFORMAT naming the file. */
int inv_npy_read_f32(const char *path, float **data, int64_t shape[4], int *ndim, lm_err *err);

#endif
