/*
 * cmd_invert.c - `latentmill invert IMAGE -o LATENT.npy --generator G.safetensors`:
 * one image to a StyleGAN2 latent (models/invert.h). Thin driver: parse options,
 * load the generator and its cached w statistics, run the optimiser, write the .npy
 * (and the reconstruction PNG), print the outcome.
 */
#include <errno.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kernels/op_gemm.h"
#include "models/invert.h"
#include "models/stylegan2.h"
#include "shared/lm_img.h"
#include "shared/lm_log.h"
#include "shared/lm_npy.h"

static const char *usage_text =
    "usage: latentmill invert IMAGE -o LATENT.npy --generator G.safetensors [options]\n"
    "\n"
    "Invert one JPEG/PNG image to a StyleGAN2 latent by optimisation (NVlabs projector\n"
    "schedule: Adam, learning-rate ramp-up and cosine ramp-down, decaying noise on w,\n"
    "per-image noise maps with the noise regulariser). The image is centre-cropped to a\n"
    "square and resized to the generator's resolution; the loss is pixel MSE at\n"
    "min(resolution, 256) (no perceptual or identity term in this build).\n"
    "\n"
    "  -o, --out FILE        latent as float32 .npy: [1, w_dim] (w) or [num_ws, w_dim] (wplus)\n"
    "  --generator FILE      converted generator (.safetensors, see `convert_weights.py`)\n"
    "  --png FILE            also write the reconstruction as PNG\n"
    "  --space w|wplus       one w broadcast to all layers (default) or one w per layer\n"
    "  --steps N             optimisation steps (default 1000)\n"
    "  --lr X                peak learning rate (default 0.1)\n"
    "  --noise optimize|model  optimise per-image noise maps from N(0,1) (default) or use\n"
    "                        the generator's fixed noise buffers\n"
    "  --noise-reg X         weight of the noise regulariser (default 1e5)\n"
    "  --mse-weight X        weight of the pixel MSE (default 1)\n"
    "  --patience N          stop when the loss has not improved by --min-delta (relative)\n"
    "                        for N steps (default 0: run all steps)\n"
    "  --min-delta X         (default 0.001)\n"
    "  --init FILE.npy|wavg|nn  start point: a w [w_dim] or [1, w_dim] from a file, w_avg\n"
    "                        (default), or nn: the w of the nearest of --bank-size generated\n"
    "                        samples (16x16 pixel thumbnails, L2; bank cached next to the\n"
    "                        generator as G.safetensors.nnbank-K.npy)\n"
    "  --bank-size K         samples in the nn bank (default 1000)\n"
    "  --w-avg-samples N     mapping samples for w_avg and w_std (default 10000; cached\n"
    "                        next to the generator as G.safetensors.wavg-N.npy)\n"
    "  --seed S              RNG seed of noise maps and w-noise (default 303)\n"
    "  --threads N           OpenMP/BLAS threads (default: all cores)\n"
    "  --json                print the outcome as one JSON line\n"
    "\n"
    "Output line: psnr (dB, reconstruction vs the resized image), mse, noise regulariser,\n"
    "steps used, seconds. Exit status: 0 done, 1 failed, 2 bad usage or unreadable input.\n";

static int need_arg(int i, int argc, const char *opt)
{
    if (i + 1 >= argc) {
        fprintf(stderr, "latentmill invert: %s needs a value\n%s", opt, usage_text);
        return 0;
    }
    return 1;
}

int cmd_invert(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return LM_EXIT_OK;
    }
    const char *image = NULL, *out = NULL, *gen = NULL, *png = NULL, *init = NULL;
    inv_params p;
    inv_params_default(&p);
    long samples = 10000, threads = 0, bank_size = 1000;
    uint64_t seed = 303;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define ARG(name) (strcmp(a, name) == 0 && need_arg(i, argc, name) && (++i, 1))
        if (ARG("-o") || (strcmp(a, "--out") == 0 && need_arg(i, argc, a) && (++i, 1))) {
            out = argv[i];
        } else if (ARG("--generator")) {
            gen = argv[i];
        } else if (ARG("--png")) {
            png = argv[i];
        } else if (ARG("--space")) {
            if (strcmp(argv[i], "w") == 0) {
                p.space = INV_SPACE_W;
            } else if (strcmp(argv[i], "wplus") == 0) {
                p.space = INV_SPACE_WPLUS;
            } else {
                fprintf(stderr, "latentmill invert: --space must be w or wplus\n");
                return LM_EXIT_USAGE;
            }
        } else if (ARG("--steps")) {
            p.steps = atoi(argv[i]);
        } else if (ARG("--lr")) {
            p.lr = strtof(argv[i], NULL);
        } else if (ARG("--noise")) {
            if (strcmp(argv[i], "optimize") == 0) {
                p.optimize_noise = 1;
            } else if (strcmp(argv[i], "model") == 0) {
                p.optimize_noise = 0;
            } else {
                fprintf(stderr, "latentmill invert: --noise must be optimize or model\n");
                return LM_EXIT_USAGE;
            }
        } else if (ARG("--noise-reg")) {
            p.noise_reg = strtof(argv[i], NULL);
        } else if (ARG("--mse-weight")) {
            p.mse_weight = strtof(argv[i], NULL);
        } else if (ARG("--patience")) {
            p.patience = atoi(argv[i]);
        } else if (ARG("--min-delta")) {
            p.min_delta = strtof(argv[i], NULL);
        } else if (ARG("--init")) {
            init = argv[i];
        } else if (ARG("--bank-size")) {
            bank_size = atol(argv[i]);
        } else if (ARG("--w-avg-samples")) {
            samples = atol(argv[i]);
        } else if (ARG("--seed")) {
            seed = strtoull(argv[i], NULL, 0);
        } else if (ARG("--threads")) {
            threads = atol(argv[i]);
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "latentmill invert: unknown option %s\n%s", a, usage_text);
            return LM_EXIT_USAGE;
        } else if (image == NULL) {
            image = a;
        } else {
            fprintf(stderr, "latentmill invert: one IMAGE only (got %s and %s)\n", image, a);
            return LM_EXIT_USAGE;
        }
#undef ARG
    }
    if (image == NULL || out == NULL || gen == NULL) {
        fprintf(stderr, "latentmill invert: IMAGE, -o and --generator are required\n%s",
                usage_text);
        return LM_EXIT_USAGE;
    }
    if (samples < 1 || threads < 0) {
        fprintf(stderr, "latentmill invert: --w-avg-samples must be >= 1, --threads >= 0\n");
        return LM_EXIT_USAGE;
    }
    if (threads > 0) {
        omp_set_num_threads((int)threads);
        op_blas_set_threads((int)threads);
    }
    lm_err err = {0};
    int rc, status = LM_EXIT_FAIL;
    sg2_model *m = NULL;
    inv_ctx *ic = NULL;
    lm_image im = {0};
    float *target = NULL, *latent = NULL, *recon = NULL, *w_avg = NULL, *w0 = NULL;
    uint8_t *u8 = NULL;
    if ((rc = lm_img_load(&im, image, 0, &err)) != 0) {
        fprintf(stderr, "latentmill invert: %s\n", lm_err_msg(&err, rc));
        return LM_EXIT_USAGE;
    }
    if ((rc = sg2_model_load(&m, gen, &err)) != 0) {
        fprintf(stderr, "latentmill invert: %s\n", lm_err_msg(&err, rc));
        status = rc == LM_ECONFIG || rc == LM_ESHAPE ? LM_EXIT_USAGE : LM_EXIT_FAIL;
        goto out;
    }
    const sg2_config *cfg = sg2_model_config(m);
    int R = cfg->img_resolution, C = cfg->img_channels, Wd = cfg->w_dim;
    if ((rc = inv_ctx_create(&ic, m, &p, 1, &err)) != 0) {
        fprintf(stderr, "latentmill invert: %s\n", lm_err_msg(&err, rc));
        status = rc == LM_ECONFIG ? LM_EXIT_USAGE : LM_EXIT_FAIL;
        goto out;
    }
    int rows = inv_ctx_rows(ic);
    size_t per = (size_t)C * R * R;
    target = malloc(sizeof(float) * per);
    recon = malloc(sizeof(float) * per);
    latent = malloc(sizeof(float) * (size_t)rows * Wd);
    w_avg = malloc(sizeof(float) * Wd);
    u8 = malloc(per);
    if (!target || !recon || !latent || !w_avg || !u8) {
        fprintf(stderr, "latentmill invert: out of memory\n");
        goto out;
    }
    if ((rc = inv_target_from_image(target, &im, R, &err)) != 0) {
        fprintf(stderr, "latentmill invert: %s: %s\n", image, lm_err_msg(&err, rc));
        goto out;
    }
    float w_std = 0;
    int cached = 0;
    if ((rc = inv_wstats_load(m, gen, (int)samples, w_avg, &w_std, &cached, &err)) != 0) {
        fprintf(stderr, "latentmill invert: w statistics: %s\n", lm_err_msg(&err, rc));
        goto out;
    }
    lm_log(LM_LOG_INFO, "w_avg from %ld samples (%s), w_std %.4g", samples,
           cached ? "cached" : "computed", (double)w_std);
    inv_ctx_set_wstats(ic, w_avg, w_std);
    float *bank = NULL;
    int nn_row = -1;
    if (init != NULL && strcmp(init, "wavg") == 0) {
        init = NULL;
    }
    if (init != NULL && strcmp(init, "nn") == 0) {
        if (bank_size < 1) {
            fprintf(stderr, "latentmill invert: --bank-size must be >= 1\n");
            status = LM_EXIT_USAGE;
            goto out;
        }
        if ((rc = inv_bank_load(m, gen, (int)bank_size, &bank, &cached, &err)) != 0) {
            fprintf(stderr, "latentmill invert: nn bank: %s\n", lm_err_msg(&err, rc));
            goto out;
        }
        w0 = malloc(sizeof(float) * Wd);
        if (w0 == NULL) {
            free(bank);
            goto out;
        }
        nn_row = inv_bank_nearest(m, bank, (int)bank_size, target, w0);
        free(bank);
        lm_log(LM_LOG_INFO, "nn init: bank sample %d of %ld (%s)", nn_row, bank_size,
               cached ? "cached" : "built");
    } else if (init != NULL) {
        int64_t shape[4];
        int nd = 0;
        if ((rc = inv_npy_read_f32(init, &w0, shape, &nd, &err)) != 0) {
            fprintf(stderr, "latentmill invert: --init: %s\n", lm_err_msg(&err, rc));
            status = LM_EXIT_USAGE;
            goto out;
        }
        int64_t cnt = 1;
        for (int d = 0; d < nd; d++) {
            cnt *= shape[d];
        }
        if (cnt != Wd) {
            fprintf(stderr, "latentmill invert: --init %s has %lld values, expected w_dim %d\n",
                    init, (long long)cnt, Wd);
            status = LM_EXIT_USAGE;
            goto out;
        }
    }
    inv_result res;
    if ((rc = inv_run(ic, target, 1, &seed, w0, latent, recon, &res, &err)) != 0) {
        fprintf(stderr, "latentmill invert: %s\n", lm_err_msg(&err, rc));
        goto out;
    }
    uint64_t shape[2] = {(uint64_t)rows, (uint64_t)Wd};
    if ((rc = lm_npy_save(out, "<f4", 4, shape, 2, latent, &err)) != 0) {
        fprintf(stderr, "latentmill invert: %s\n", lm_err_msg(&err, rc));
        goto out;
    }
    if (png != NULL) {
        inv_image_to_u8(u8, recon, R, C);
        lm_image ri = {R, R, 3, u8};
        if ((rc = lm_img_save_png(png, &ri, &err)) != 0) {
            fprintf(stderr, "latentmill invert: %s\n", lm_err_msg(&err, rc));
            goto out;
        }
    }
    if (json) {
        printf("{\"image\":\"%s\",\"latent\":\"%s\",\"space\":\"%s\",\"shape\":[%d,%d],"
               "\"psnr\":%.4f,\"mse\":%.6g,\"noise_reg\":%.6g,\"loss\":%.6g,\"steps\":%d,"
               "\"seconds\":%.3f}\n",
               image, out, p.space == INV_SPACE_W ? "w" : "wplus", rows, Wd, (double)res.psnr,
               (double)res.mse, (double)res.reg, (double)res.loss, res.steps, res.seconds);
    } else {
        printf("%s: psnr %.2f dB, mse %.4g, noise_reg %.3g, %d steps, %.2f s -> %s [%d x %d]\n",
               image, (double)res.psnr, (double)res.mse, (double)res.reg, res.steps, res.seconds,
               out, rows, Wd);
    }
    status = LM_EXIT_OK;
out:
    lm_img_fini(&im);
    free(target);
    free(recon);
    free(latent);
    free(w_avg);
    free(w0);
    free(u8);
    inv_ctx_free(ic);
    sg2_model_free(m);
    return status;
}
